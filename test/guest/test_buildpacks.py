"""buildpacks.py: detection, the decisions that skip installers, caches. Installs that
need the network (pip, npm, bundle with packages) are never run here: tests send no
traffic off the machine. The real installs run in the guest (test/host/agent.test.ts)."""

import json
import os
import shutil
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
        # (no node binary here: the startup snapshot is NodeSnapshotTest's)
        self.enterContext(mock.patch.object(buildpacks, "NODE_BIN", "/no/such/node"))
        t = self.tree({"package.json": json.dumps({"scripts": {"start": "node index.js"}})})
        rt = buildpacks.build(t.ctx, "node")
        self.assertEqual((rt.default_web, rt.caches, rt.env), ("node index.js", [], {"NODE_ENV": "production"}))
        self.assertEqual(rt.path, [f"{t.dir}/node_modules/.bin", "/usr/lib/fcm/node"], "the shim comes before /usr/bin")
        self.assertIn("-----> package.json declares no dependencies; skipping npm install", t.lines)
        hooks = self.tree({"package.json": json.dumps({"scripts": {"start": "node a.js", "prestart": "x"}})})
        self.assertEqual(buildpacks.build(hooks.ctx, "node").default_web, "npm start")
        server = self.tree({"package.json": "{}", "server.js": ""})
        self.assertEqual(buildpacks.build(server.ctx, "node").default_web, "node server.js")

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


CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 6
model\t\t: 6
model name\t: QEMU TCG CPU version 2.5+
stepping\t: 3
cpu MHz\t\t: 2445.424
flags\t\t: fpu vme de pse sse sse2 ssse3
bogomips\t: 4890.84

processor\t: 1
vendor_id\t: AuthenticAMD
flags\t\t: fpu vme de pse sse sse2 ssse3
"""


class NodeSnapshotTest(unittest.TestCase):
    """The startup snapshot for Debian's Node (no snapshot of its own): built with the
    real node binary of this machine, keyed by the binary and the CPU."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fcm-cpuinfo-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.cpuinfo = os.path.join(self.tmp, "cpuinfo")
        with open(self.cpuinfo, "w") as f:
            f.write(CPUINFO)
        self.enterContext(mock.patch.object(buildpacks, "CPUINFO", self.cpuinfo))

    def tree(self):
        t = Tree({"package.json": "{}", "server.js": ""})
        self.addCleanup(t.app.cleanup)
        return t

    def test_cpu_id_is_the_first_processor_identity_and_features(self):
        self.assertEqual(buildpacks.cpu_id(), "vendor_id\t: AuthenticAMD\ncpu family\t: 6\nmodel\t\t: 6\n"
                         "model name\t: QEMU TCG CPU version 2.5+\nflags\t\t: fpu vme de pse sse sse2 ssse3")
        self.assertEqual(buildpacks.cpu_id("/no/such/cpuinfo"), "unknown")

    @need_root
    @unittest.skipUnless(os.path.isfile(buildpacks.NODE_BIN), f"needs {buildpacks.NODE_BIN} (the test runs it)")
    def test_built_once_as_the_app_user_then_found_at_each_start_on_the_same_cpu_only(self):
        t = self.tree()
        rt = buildpacks.build(t.ctx, "node")
        name = buildpacks.node_snapshot_cache(None, t.ctx.cache_dir).name
        self.assertEqual(rt.caches, [name], "the release keeps its snapshot from the garbage collector")
        self.assertIn("-----> Building a startup snapshot for Node.js (once per VM; starts take seconds less)", t.lines)
        self.assertEqual([s[0] for s in t.ctx.steps], ["node snapshot", "node snapshot check"])
        env = buildpacks.node_snapshot_env(t.ctx.cache_dir)
        blob = env["FCM_NODE_SNAPSHOT"]
        self.assertTrue(blob.startswith(os.path.join(t.ctx.cache_dir, "node-snapshot")))
        self.assertEqual(os.stat(blob).st_uid, t.app.user().pw_uid, "built as the app user")
        again = self.tree()
        again.ctx.cache_dir, again.ctx.user = t.ctx.cache_dir, t.ctx.user
        self.assertEqual(buildpacks.build(again.ctx, "node").caches, [name])
        self.assertEqual(again.ctx.steps, [], "built once per VM")
        # another CPU (a host whose QEMU or CPU model changed): V8 would refuse this blob
        with open(self.cpuinfo, "w") as f:
            f.write(CPUINFO.replace("ssse3", "ssse3 avx2"))
        self.assertEqual(buildpacks.node_snapshot_env(t.ctx.cache_dir), {})
        self.assertNotEqual(buildpacks.node_snapshot_cache(None, t.ctx.cache_dir).name, name)

    @need_root
    def test_a_failed_build_is_not_a_failed_deploy(self):
        self.enterContext(mock.patch.object(buildpacks, "NODE_BIN", "/bin/false"))
        t = self.tree()
        rt = buildpacks.build(t.ctx, "node")
        self.assertEqual(rt.caches, [])
        self.assertIn("       could not build it (exit status 1); node starts without a snapshot", t.lines)
        self.assertEqual(buildpacks.node_snapshot_env(t.ctx.cache_dir), {})
        self.assertEqual(os.listdir(os.path.join(t.ctx.cache_dir, "node-snapshot")), [], "nothing half-made is left")


if __name__ == "__main__":
    unittest.main()
