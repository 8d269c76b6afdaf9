"""build.py: receiving a tree, the Procfile, building a release, process environments."""

import os
import unittest

import guesttest
from guesttest import Body, TempApp, need_root, tar_of

import build
import untar
from buildpacks import BuildError


class ProcfileTest(unittest.TestCase):
    def test_types_and_commands(self):
        data = (b"web: gunicorn app:app --bind 0.0.0.0:$PORT  \n"
                b"# worker: commented out\n"
                b"worker:python3 worker.py\n"
                b"bad type: x\n"
                b"-dash: no\n"
                b"empty:\n"
                b"web: python3 app.py\n")
        self.assertEqual(build.parse_procfile(data), {"web": "python3 app.py", "worker": "python3 worker.py"})
        self.assertEqual(build.parse_procfile(None), {})
        self.assertEqual(build.parse_procfile(b"\xff\xfe web: x\nrelease: ./migrate\n"), {"release": "./migrate"})


class ProcessEnvTest(unittest.TestCase):
    def test_order_runtime_then_config_vars_then_process(self):
        user = guesttest.pwd.struct_passwd(("app", "x", 1000, 1000, "", "/home/app", "/bin/sh"))
        meta = {"version": 4, "commit": "abc", "path": ["/app/cache/python/k/bin"],
                "env": {"VIRTUAL_ENV": "/venv", "PYTHONUNBUFFERED": "1"}}
        env = build.process_env(meta, {"PYTHONUNBUFFERED": "0", "PORT": "1", "GREETING": "hi"}, user,
                                "/app/releases/v4", "web", 18004)
        self.assertEqual(env["PATH"], "/app/cache/python/k/bin:/usr/local/bin:/usr/bin:/bin")
        self.assertEqual(env["PYTHONUNBUFFERED"], "0", "config vars override the buildpack's")
        self.assertEqual(env["PORT"], "18004", "PORT is the agent's, whatever the config vars say")
        self.assertEqual((env["DYNO"], env["FCM_RELEASE"], env["FCM_COMMIT"], env["HOME"]), ("web.1", "4", "abc", "/home/app"))
        worker = build.process_env(dict(meta, commit=None), {}, user, "/r", "worker", None)
        self.assertNotIn("PORT", worker)
        self.assertEqual(worker["FCM_COMMIT"], "")


class BuildTest(unittest.TestCase):
    def setUp(self):
        self.app = TempApp()
        self.s = self.app.storage
        self.s.layout()
        self.addCleanup(self.app.cleanup)
        self.lines = []

    def receive(self, version, files):
        self.s.new_release(version, self.app.user(), None)
        return build.receive(self.s, version, Body(tar_of(files)), self.app.user(), None)

    def test_receive_extracts_as_the_app_user(self):
        files, size = self.receive(1, {"a.txt": "hello", "dir/b.sh": ("#!/bin/sh\n", 0o755)})
        self.assertEqual((files, size), (2, 15))
        st = os.stat(os.path.join(self.s.release_dir(1), "dir", "b.sh"))
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (self.app.user().pw_uid, 0o755))

    def test_receive_discards_a_refused_tree(self):
        with self.assertRaises(untar.ArchiveError):
            self.receive(2, {"ok.txt": "x", "../escape": "y"})
        self.assertFalse(os.path.exists(self.s.release_dir(2)))

    def test_build_without_dependencies(self):
        self.receive(1, {"Procfile": "web: python3 app.py\nworker: python3 w.py\n", "app.py": ""})
        meta = build.build(self.s, 1, "a" * 40, self.app.user(), {}, self.lines.append, 8000)
        self.assertEqual(meta["buildpack"], "none")
        self.assertEqual(meta["processes"], {"web": "python3 app.py", "worker": "python3 w.py"})
        self.assertEqual(self.s.read_meta(1)["commit"], "a" * 40)
        self.assertEqual(self.lines, ["-----> No requirements.txt, pyproject.toml, Gemfile, package.json or index.html:"
                                      " no dependencies to install",
                                      "-----> Procfile declares types -> web, worker"])

    def test_static_site_gets_the_static_server_as_its_web_process(self):
        self.receive(1, {"index.html": "<h1>hi</h1>", "about/index.html": "", ".python-version": "2.7"})
        meta = build.build(self.s, 1, None, self.app.user(), {}, self.lines.append, 8000)
        self.assertEqual(meta["buildpack"], "static")
        self.assertEqual(meta["processes"], {"web": "/usr/bin/python3 /usr/lib/fcm/static_server.py"})
        self.assertEqual(self.lines[0], "-----> Detected a static site (index.html)")
        self.assertIn("-----> No web process in a Procfile; using the static file server (index.html, no Procfile):"
                      " /usr/bin/python3 /usr/lib/fcm/static_server.py", self.lines)
        # a Procfile web process wins over the default
        self.receive(2, {"index.html": "", "Procfile": "web: ./serve\n"})
        self.assertEqual(build.build(self.s, 2, None, self.app.user(), {}, self.lines.append, 8000)["processes"],
                         {"web": "./serve"})

    def test_no_web_process_is_said_not_failed(self):
        self.receive(1, {"worker.py": ""})
        meta = build.build(self.s, 1, None, self.app.user(), {}, self.lines.append, 8123)
        self.assertEqual(meta["processes"], {})
        self.assertIn("nothing will answer on port 8123", self.lines[-1])

    def test_node_start_script_is_the_default_web(self):
        self.receive(1, {"package.json": '{"scripts": {"start": "node server.js"}}'})
        meta = build.build(self.s, 1, None, self.app.user(), {}, self.lines.append, 8000)
        self.assertEqual((meta["buildpack"], meta["processes"]), ("node", {"web": "node server.js"}))
        self.assertIn("-----> package.json declares no dependencies; skipping npm install", self.lines)

    @need_root
    def test_release_command_runs_with_the_config_vars_and_its_failure_fails_the_build(self):
        self.receive(1, {"Procfile": 'release: echo "migrating $GREETING" && test "$DYNO" = release.1\n'})
        meta = build.build(self.s, 1, None, self.app.user(), {"GREETING": "hi"}, self.lines.append, 8000)
        self.assertEqual(meta["releaseCommand"], 'echo "migrating $GREETING" && test "$DYNO" = release.1')
        self.assertIn("       migrating hi", self.lines)
        self.receive(2, {"Procfile": "release: exit 3\n"})
        with self.assertRaises(BuildError) as e:
            build.build(self.s, 2, None, self.app.user(), {}, self.lines.append, 8000)
        self.assertEqual((e.exception.code, e.exception.message), ("release_failed", "the release command failed (exit status 3)"))


if __name__ == "__main__":
    unittest.main()
