"""buildpacks.py: detection, the decisions that skip installers, caches. Installs that
need the network (pip, npm, bundle with packages) are never run here: tests send no
traffic off the machine. The real installs run in the guest (test/host/agent.test.ts)."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

import guesttest
from guesttest import TempApp, need_root

import buildpacks
from buildpacks import BuildError


class Tree:
    def __init__(self, files):
        self.app = TempApp()
        self.dir = os.path.join(self.app.dir, "release")
        os.mkdir(self.dir)
        for name, data in files.items():
            path = os.path.join(self.dir, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(data)
        if guesttest.IS_ROOT:
            for root, dirs, names in os.walk(self.dir):
                for n in dirs + names + ["."]:
                    os.lchown(os.path.join(root, n), self.app.user().pw_uid, self.app.user().pw_gid)
        self.lines = []
        self.ctx = buildpacks.Ctx(self.dir, 3, self.app.user(), {"GREETING": "hi"}, self.lines.append,
                                  os.path.join(self.app.dir, "cache"))


class BuildpacksTest(unittest.TestCase):
    def tree(self, files):
        t = Tree(files)
        self.addCleanup(t.app.cleanup)
        return t

    def test_detection_order(self):
        both = self.tree({"requirements.txt": "", "Gemfile": "", "package.json": "{}"})
        self.assertEqual(buildpacks.detect(both.ctx), ("python", "Python", "requirements.txt"))
        self.assertEqual(buildpacks.detect(self.tree({"Gemfile": "", "package.json": "{}"}).ctx)[0], "ruby")
        self.assertEqual(buildpacks.detect(self.tree({"package.json": "{}"}).ctx)[0], "node")
        self.assertEqual(buildpacks.detect(self.tree({"app.py": ""}).ctx), ("none", None, None))
        # requirements.txt wins over pyproject.toml (which may hold only tool settings)
        self.assertEqual(buildpacks.detect(self.tree({"requirements.txt": "", "pyproject.toml": ""}).ctx)[2],
                         "requirements.txt")
        self.assertEqual(buildpacks.detect(self.tree({"pyproject.toml": "", "Gemfile": ""}).ctx),
                         ("python", "Python", "pyproject.toml"))
        # index.html is a static site only when no language manifest says otherwise
        self.assertEqual(buildpacks.detect(self.tree({"index.html": "", "package.json": "{}"}).ctx)[0], "node")
        self.assertEqual(buildpacks.detect(self.tree({"index.html": "", "style.css": ""}).ctx),
                         ("static", "a static site", "index.html"))
        self.assertEqual(buildpacks.detect(self.tree({"site/index.html": ""}).ctx)[0], "none", "top level only")

    def test_the_examples_are_detected_as_their_readme_says(self):
        root = os.path.join(guesttest.ROOT, "examples")
        for name, pack, manifest in (("python", "python", "requirements.txt"), ("pyproject", "python", "pyproject.toml"),
                                     ("ruby", "ruby", "Gemfile"), ("node", "node", "package.json"),
                                     ("static", "static", "index.html")):
            ctx = buildpacks.Ctx(os.path.join(root, name), 1, None, {}, lambda line: None)
            self.assertEqual((buildpacks.detect(ctx)[0], buildpacks.detect(ctx)[2]), (pack, manifest), name)
        with open(os.path.join(root, "pyproject", "pyproject.toml"), "rb") as f:
            self.assertEqual(buildpacks.pyproject_plan(f.read()), {"install": True, "offline_build": True, "name": "hello-fcm"})

    def test_static_site_installs_nothing_and_serves_with_the_static_server(self):
        t = self.tree({"index.html": "<h1>hi</h1>"})
        rt = buildpacks.build(t.ctx, "static")
        self.assertEqual((rt.default_web, rt.caches, rt.path, rt.env),
                         ("/usr/bin/python3 /usr/lib/fcm/static_server.py", [], [], {}))
        self.assertEqual(t.lines, ["-----> Static site: nothing to install"])

    def test_pyproject_plan(self):
        plan = buildpacks.pyproject_plan
        self.assertEqual(plan(b'[project]\nname = "web"\nversion = "1"\n'),
                         {"install": True, "offline_build": True, "name": "web"}, "PEP 517 default: setuptools")
        self.assertTrue(plan(b'[project]\nname="a"\n[build-system]\nrequires = ["setuptools>=61", "Wheel"]\n'
                             b'build-backend = "setuptools.build_meta"\n')["offline_build"])
        self.assertFalse(plan(b'[project]\nname="a"\n[build-system]\nrequires = ["hatchling"]\n'
                              b'build-backend = "hatchling.build"\n')["offline_build"], "hatchling is downloaded")
        self.assertFalse(plan(b'[build-system]\nrequires = ["setuptools", "cython"]\n'
                              b'build-backend = "setuptools.build_meta"\n')["offline_build"])
        self.assertEqual(plan(b'[tool.ruff]\nline-length = 100\n')["install"], False, "tool settings only")
        with self.assertRaises(BuildError) as e:
            plan(b"[project\nname=")
        self.assertIn("pyproject.toml is not valid TOML", e.exception.message)

    def pyproject_argv(self, files, uv=None):
        """The commands the pyproject buildpack runs (recorded, not run: pip would need the network)."""
        t = self.tree(files)
        runs = []
        t.ctx.run = lambda argv, cwd=None, env=None, what=None: runs.append(argv) or 0
        self.enterContext(mock.patch.object(buildpacks, "uv_bin", lambda: uv))
        self.enterContext(mock.patch.object(buildpacks.Cache, "prepare", lambda c: os.makedirs(c.path, exist_ok=True)))
        rt = buildpacks.build(t.ctx, "python")
        return t, runs, rt

    def test_pyproject_is_pip_installed_into_a_venv_of_the_release(self):
        t, runs, rt = self.pyproject_argv({"pyproject.toml": '[project]\nname = "web"\nversion = "1"\n'})
        venv = rt.env["VIRTUAL_ENV"]
        self.assertTrue(venv.endswith("-v3"), "the project is the tree: never shared with another release")
        self.assertEqual(runs[0], ["/usr/bin/python3", "-m", "venv", "--without-pip", "--system-site-packages", venv])
        self.assertEqual(runs[1][-2:], ["--no-build-isolation", "."], "setuptools from the image: builds offline")
        self.assertIn("install", runs[1])
        self.assertIn("--no-cache-dir", runs[1], "no pip cache in the app user's home")
        self.assertIn("-----> Running pip install .", t.lines)
        self.assertEqual(rt.path, [f"{venv}/bin"])
        _, runs, _ = self.pyproject_argv({"pyproject.toml": '[project]\nname="a"\n[build-system]\n'
                                                            'requires=["hatchling"]\nbuild-backend="hatchling.build"\n'})
        self.assertNotIn("--system-site-packages", runs[0])
        self.assertNotIn("--no-build-isolation", runs[1])
        t, runs, _ = self.pyproject_argv({"pyproject.toml": "[tool.black]\n"})
        self.assertEqual(len(runs), 1, "nothing to install: only the venv")
        self.assertIn("-----> pyproject.toml has no [project] or [build-system] table; nothing to install", t.lines)

    def test_pyproject_uses_uv_when_the_image_has_it(self):
        t, runs, rt = self.pyproject_argv({"pyproject.toml": '[project]\nname = "web"\nversion = "1"\n'},
                                          uv="/usr/bin/uv")
        venv = rt.env["VIRTUAL_ENV"]
        self.assertEqual(runs, [["/usr/bin/uv", "venv", "--quiet", "--python", "/usr/bin/python3",
                                 "--system-site-packages", venv],
                                ["/usr/bin/uv", "pip", "install", "--python", f"{venv}/bin/python",
                                 "--no-build-isolation", "."]])
        self.assertIn("-----> Running uv pip install .", t.lines)

    def test_a_failed_pyproject_install_fails_the_build_and_leaves_no_cache(self):
        t = self.tree({"pyproject.toml": '[project]\nname = "web"\nversion = "1"\n'})
        t.ctx.run = lambda argv, cwd=None, env=None, what=None: 1 if "install" in argv else 0
        self.enterContext(mock.patch.object(buildpacks, "uv_bin", lambda: None))
        self.enterContext(mock.patch.object(buildpacks.Cache, "prepare", lambda c: os.makedirs(c.path, exist_ok=True)))
        with self.assertRaises(BuildError) as e:
            buildpacks.build(t.ctx, "python")
        self.assertEqual(e.exception.message, "pip install . failed (exit status 1)")
        self.assertEqual(os.listdir(os.path.join(t.ctx.cache_dir, "python")), [])

    def test_version_files_read(self):
        self.assertEqual(buildpacks.version_wanted(b"# pinned\n\n 3.11 \n3.12\n"), "3.11")
        self.assertIsNone(buildpacks.version_wanted(b"\n# nothing\n"))
        ok = lambda pack, wanted, have: buildpacks.version_satisfied(pack, wanted, have)[0]  # noqa: E731
        for wanted in ("3", "3.11", "3.11.2", "3.11.x", "python-3.11", "3.11.*"):
            self.assertTrue(ok("python", wanted, "3.11.2"), wanted)
        for wanted in ("3.12", "3.11.4", "2.7", "pypy3.10", "3.1", "system", "3.11-dev"):
            self.assertFalse(ok("python", wanted, "3.11.2"), wanted)
        for wanted in ("18", "v18", "18.20.4", "lts/*", "lts/hydrogen", "node", "system", "18.x"):
            self.assertTrue(ok("node", wanted, "18.20.4"), wanted)
        for wanted in ("20", "v20.1", "lts/iron", "lts/unknown", "1"):
            self.assertFalse(ok("node", wanted, "18.20.4"), wanted)
        self.assertFalse(ok("node", "lts/*", "19.0.0"), "19 is not an LTS line")
        for wanted in ("3.1", "ruby-3.1.2", "3.1.2"):
            self.assertTrue(ok("ruby", wanted, "3.1.2"), wanted)
        for wanted in ("3.3.0", "jruby-9.4", "ruby-3.2"):
            self.assertFalse(ok("ruby", wanted, "3.1.2"), wanted)

    def test_version_files_honoured_or_refused_with_what_to_do(self):
        t = self.tree({".python-version": "3.11\n", "requirements.txt": ""})
        buildpacks.check_runtime_version(t.ctx, "python", have="3.11.2")
        self.assertEqual(t.lines, ["-----> .python-version asks for Python 3.11: using Python 3.11.2"])
        t = self.tree({".python-version": "3.13\n", "requirements.txt": ""})
        with self.assertRaises(BuildError) as e:
            buildpacks.check_runtime_version(t.ctx, "python", have="3.11.2")
        self.assertEqual((e.exception.code, e.exception.message), (
            "build_failed", ".python-version asks for Python 3.13, but this image has Python 3.11.2 only: "
                            "change .python-version to 3.11 (or remove it) to build with Python 3.11.2"))
        t = self.tree({".node-version": "20\n", ".nvmrc": "18\n"})
        buildpacks.check_runtime_version(t.ctx, "node", have="18.20.4")
        self.assertEqual(t.lines, ["-----> .nvmrc asks for Node.js 18: using Node.js 18.20.4"], ".nvmrc first")
        t = self.tree({".ruby-version": "ruby-3.3.0\n"})
        with self.assertRaises(BuildError) as e:
            buildpacks.check_runtime_version(t.ctx, "ruby", have="3.1.2")
        self.assertIn(".ruby-version asks for Ruby ruby-3.3.0, but this image has Ruby 3.1.2 only", e.exception.message)
        # a version file of another language, or of a static site, is not this build's business
        t = self.tree({".python-version": "9.9\n", "index.html": ""})
        buildpacks.check_runtime_version(t.ctx, "static")
        buildpacks.check_runtime_version(t.ctx, "node", have="18.20.4")
        self.assertEqual(t.lines, [])
        # the refusal comes before any install step
        t = self.tree({".python-version": "3.13\n", "requirements.txt": "flask\n"})
        runs = []
        t.ctx.run = lambda argv, **kw: runs.append(argv) or 0
        self.enterContext(mock.patch.object(buildpacks, "installed_version", lambda pack: "3.11.2"))
        with self.assertRaises(BuildError):
            buildpacks.build(t.ctx, "python")
        self.assertEqual(runs, [])

    def test_installed_version_asks_the_runtime(self):
        self.enterContext(mock.patch.dict(buildpacks.VERSION_ARGV, {"python": [sys.executable, "-c", "print('v3.9.1')"],
                                                                   "ruby": ["/no/such/ruby"]}))
        self.assertEqual(buildpacks.installed_version("python"), "3.9.1")
        self.assertIsNone(buildpacks.installed_version("ruby"))

    def test_read_refuses_what_is_not_a_regular_file(self):
        t = self.tree({"Procfile": "web: x\n"})
        os.symlink("/etc/passwd", os.path.join(t.dir, "Gemfile"))
        os.mkdir(os.path.join(t.dir, "package.json"))
        self.assertEqual(t.ctx.read("Procfile"), b"web: x\n")
        self.assertIsNone(t.ctx.read("missing"))
        for name in ("Gemfile", "package.json"):
            with self.assertRaises(BuildError) as e:
                t.ctx.read(name)
            self.assertEqual(e.exception.code, "build_failed")
        with self.assertRaises(BuildError):
            t.ctx.read("Procfile", limit=3)

    def test_node_without_dependencies_runs_no_installer(self):
        # (no node binary here: the code cache is test_node_code_cache_is_the_app_users_alone's)
        self.enterContext(mock.patch.object(buildpacks, "NODE_BIN", "/no/such/node"))
        t = self.tree({"package.json": json.dumps({"scripts": {"start": "node index.js"}})})
        rt = buildpacks.build(t.ctx, "node")
        self.assertEqual((rt.default_web, rt.caches, rt.env), ("node index.js", [], {"NODE_ENV": "production"}))
        self.assertEqual(rt.path, [f"{t.dir}/node_modules/.bin"], "node is the image's own /usr/bin/node")
        self.assertIn("-----> package.json declares no dependencies; skipping npm install", t.lines)
        hooks = self.tree({"package.json": json.dumps({"scripts": {"start": "node a.js", "prestart": "x"}})})
        self.assertEqual(buildpacks.build(hooks.ctx, "node").default_web, "npm start")
        server = self.tree({"package.json": "{}", "server.js": ""})
        self.assertEqual(buildpacks.build(server.ctx, "node").default_web, "node server.js")

    @need_root
    def test_node_code_cache_is_the_app_users_alone(self):
        # Any file stands in for the node binary: the entry is keyed by it, nothing runs it.
        self.enterContext(mock.patch.object(buildpacks, "NODE_BIN", sys.executable))
        t = self.tree({"package.json": "{}", "server.js": ""})
        rt = buildpacks.build(t.ctx, "node")
        code = buildpacks.node_code_cache_entry(None, t.ctx.cache_dir)
        self.assertEqual(rt.caches, [code.name], "the release keeps its code cache from the garbage collector")
        st = os.stat(code.path)
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (t.app.user().pw_uid, 0o700), "only the app's processes read what V8 runs")
        self.assertEqual(buildpacks.node_code_cache_env(t.ctx.cache_dir), {"FCM_NODE_CODE_CACHE": code.path})
        self.assertEqual(t.ctx.steps, [], "nothing is run for it")
        self.assertNotIn("startup snapshot", "\n".join(t.lines))

    def test_node_invalid_package_json(self):
        t = self.tree({"package.json": "{not json"})
        with self.assertRaises(BuildError) as e:
            buildpacks.build(t.ctx, "node")
        self.assertEqual(e.exception.code, "build_failed")
        self.assertIn("package.json is not valid JSON", e.exception.message)

    def test_ruby_without_gems_runs_no_installer(self):
        t = self.tree({"Gemfile": "source 'https://rubygems.org'\n# gem 'sinatra'\n", "config.ru": "run App\n",
                       "Gemfile.lock": "GEM\n  specs:\n    rack (3.0.0)\n"})
        rt = buildpacks.build(t.ctx, "ruby")
        self.assertIn("-----> Gemfile declares no gems; skipping bundle install", t.lines)
        self.assertEqual(rt.default_web, "bundle exec rackup config.ru --host 0.0.0.0 --port $PORT")
        self.assertEqual(rt.caches, [])

    @need_root
    def test_python_empty_requirements_makes_a_cached_venv(self):
        t = self.tree({"requirements.txt": "# nothing\n\n"})
        rt = buildpacks.build(t.ctx, "python")
        self.assertIn("-----> requirements.txt lists no packages; skipping pip install", t.lines)
        venv = rt.env["VIRTUAL_ENV"]
        self.assertTrue(os.path.isfile(os.path.join(venv, "bin", "python")))
        self.assertEqual(rt.path, [os.path.join(venv, "bin")])
        self.assertEqual(os.stat(venv).st_uid, t.app.user().pw_uid, "built as the app user")
        again = Tree({"requirements.txt": "# nothing\n\n"})
        self.addCleanup(again.app.cleanup)
        again.ctx.cache_dir = t.ctx.cache_dir
        again.ctx.user = t.ctx.user
        self.assertEqual(buildpacks.build(again.ctx, "python").caches, rt.caches)
        self.assertIn("-----> Using the cached virtualenv (requirements.txt unchanged)", again.lines)

    def test_local_requirements_are_never_shared(self):
        # `-e .` depends on the tree: keyed by the release too (the key is all this checks; no pip runs)
        t = self.tree({"requirements.txt": "-e .\n"})
        key = buildpacks.digest("python", buildpacks.sys.version, buildpacks.binary_id("/usr/bin/python3"), b"-e .\n")
        cache = buildpacks.Cache("python", f"{key}-v3", t.app.user(), t.ctx.cache_dir)
        self.assertFalse(cache.ready())

    def test_cache_entries(self):
        t = self.tree({})
        c = buildpacks.Cache("node", "k1", t.app.user(), t.ctx.cache_dir)
        self.assertFalse(c.ready())
        c.prepare()
        self.assertFalse(c.ready(), "not complete until committed")
        c.commit()
        self.assertTrue(c.ready())
        self.assertEqual(c.name, "node/k1")
        c.discard()
        self.assertFalse(os.path.exists(c.path) or os.path.exists(c.marker))

    def test_helpers(self):
        self.assertEqual(buildpacks.clean_line(b"a\rb\r\n"), "b")
        self.assertEqual(buildpacks.clean_line(b"\xff ok  \n"), "\ufffd ok")
        self.assertEqual(len(buildpacks.clean_line(b"x" * 10000)), 4096)
        self.assertEqual(buildpacks.digest("a", b"b"), buildpacks.digest("a", "b"))
        self.assertNotEqual(buildpacks.digest("ab", ""), buildpacks.digest("a", "b"))
        self.assertEqual(buildpacks.binary_id("/no/such/binary"), "missing")

    @need_root
    def test_run_streams_indented_output_as_the_app_user_with_the_config_vars(self):
        t = self.tree({})
        rc = t.ctx.run(["/bin/sh", "-c", 'echo "hello $GREETING"; id -u; exit 4'], what="greeting")
        self.assertEqual(rc, 4)
        self.assertEqual(t.lines, ["       hello hi", f"       {t.app.user().pw_uid}"])
        self.assertEqual(t.ctx.steps[0][0], "greeting")


if __name__ == "__main__":
    unittest.main()
