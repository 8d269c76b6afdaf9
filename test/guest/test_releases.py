"""releases.py: deploy, activate, restart and boot through the one operation runner."""

import json
import os
import threading
import unittest
import urllib.request

import guesttest
from guesttest import Body, Redirects, TempApp, lines_of, need_root, python_app, tar_of

import applog
import releases
from apierror import ApiError


def result_of(lines):
    assert lines[-1].startswith("fcm-result: "), lines
    return json.loads(lines[-1][len("fcm-result: "):])


def fetch(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
        return r.read().decode()


@need_root
class ManagerTest(unittest.TestCase):
    def setUp(self):
        self.app = TempApp()
        self.addCleanup(self.app.cleanup)
        self.redirects = Redirects()
        self.m = self.manager()

    def manager(self):
        m = releases.Manager(applog.AppLog(self.app.storage.logs), lambda: (8000, "127.0.0.1"), self.app.storage,
                             user=self.app.user, redirect=self.redirects)
        self.addCleanup(lambda: m.switch.live and m.switch.live.stop(grace_s=1))
        return m

    def deploy(self, version, files, commit="abcdef0123"):
        return lines_of(self.m.deploy(version, commit, Body(tar_of(files))))

    def test_deploy_streams_the_build_and_serves_it(self):
        lines = self.deploy(1, python_app())
        r = result_of(lines)
        self.assertEqual((r["ok"], r["release"], r["buildpack"], r["processes"]),
                         (True, 1, "none", {"web": "/usr/bin/python3 app.py"}))
        self.assertEqual(set(r["timingsMs"]), {"receiveMs", "buildMs", "startMs", "switchMs", "totalMs"})
        size = sum(len(v) for v in python_app().values())
        self.assertEqual(lines[0], f"-----> Received 2 files ({size} B), commit abcdef0")
        self.assertIn("-----> Starting: /usr/bin/python3 app.py", lines)
        self.assertRegex(lines[-2], r"^-----> v1 is live in \d+\.\d s \(receive .*, build .*, start .*, switch .*\)$")
        self.assertEqual(fetch(self.redirects.target), "release 1 ")
        status = self.m.status()
        self.assertEqual((status["release"], status["commit"], status["deployInProgress"]), (1, "abcdef0123", False))
        self.assertEqual([(p["type"], p["state"], p["release"]) for p in status["processes"]], [("web", "up", 1)])
        self.assertEqual(self.m.health(), {"release": 1, "web": "up"})
        self.assertIn("fcm[release]: v1 is live (deploy", "".join(self.m.log.tail(10)))

    def test_the_live_release_cannot_be_deployed_again(self):
        self.deploy(1, python_app())
        with self.assertRaises(ApiError) as e:
            self.m.deploy(1, None, Body(tar_of(python_app())))
        self.assertEqual((e.exception.status, e.exception.code), (409, "release_exists"))
        self.assertFalse(self.m.ops.busy())

    def test_a_refused_tree_is_a_failed_result_and_nothing_changes(self):
        self.deploy(1, python_app())
        body = Body(tar_of({"a": "x", "/etc/passwd": "root::0:0"}) + b"\0" * 4096)
        lines = lines_of(self.m.deploy(2, None, body))
        self.assertEqual(result_of(lines)["code"], "invalid_archive")
        self.assertTrue(lines[0].startswith(" !     the pushed tree was refused: absolute path"))
        self.assertTrue(body.done, "the rest of the body was read, so the answer reaches the client")
        self.assertFalse(os.path.exists(self.app.storage.release_dir(2)))
        self.assertEqual(self.m.switch.live_version(), 1)
        self.assertFalse(self.m.ops.busy())

    def test_a_failing_build_keeps_the_live_release(self):
        self.deploy(1, python_app())
        lines = self.deploy(2, python_app({"Procfile": "web: exit 3\n"}))
        self.assertEqual(result_of(lines), {"ok": False, "code": "start_failed",
                                            "error": "the web process exited with status 3 before it listened on $PORT"})
        self.assertEqual(lines[-3:-1], [" !     the web process exited with status 3 before it listened on $PORT",
                                        " !     v1 is still live"])
        self.assertIsNone(self.app.storage.read_meta(2), "the failed release is discarded")
        self.assertEqual(fetch(self.redirects.target), "release 1 ")

    def test_one_operation_at_a_time(self):
        self.deploy(1, python_app())
        gate = threading.Event()

        class SlowBody(Body):
            def read(self, n=-1):
                gate.wait(10)
                return super().read(n)
        started = threading.Thread(target=lambda: self.m.deploy(2, None, SlowBody(tar_of(python_app()))))
        started.start()
        guesttest.eventually(self.m.ops.busy, what="the deploy holds the lock")
        self.assertTrue(self.m.status()["deployInProgress"])
        for call in (self.m.restart, lambda: self.m.activate(1), lambda: self.m.deploy(3, None, Body(b"x"))):
            with self.assertRaises(ApiError) as e:
                call()
            self.assertEqual(e.exception.code, "deploy_in_progress")
        gate.set()
        started.join(10)
        guesttest.eventually(lambda: not self.m.ops.busy(), timeout=30, what="the deploy ends")

    def test_restart_uses_the_new_config_vars_and_activate_rolls_back(self):
        self.assertEqual(lines_of(self.m.restart()), [
            "-----> Nothing deployed yet; nothing to restart",
            'fcm-result: {"ok":true,"release":null,"buildpack":"none","processes":{}}'])
        self.deploy(1, python_app())
        self.deploy(2, python_app({"v2": ""}))
        self.app.storage.save_env({"GREETING": "hello"})
        lines = lines_of(self.m.restart())
        self.assertEqual(lines[0], "-----> Restarting v2 (commit abcdef0) with the current config vars")
        self.assertEqual(result_of(lines)["release"], 2)
        self.assertEqual(fetch(self.redirects.target), "release 2 hello")
        lines = lines_of(self.m.activate(1))
        self.assertEqual(lines[0], "-----> Activating v1 (commit abcdef0) with the current config vars")
        self.assertEqual(result_of(lines)["release"], 1)
        self.assertEqual(fetch(self.redirects.target), "release 1 hello")
        with self.assertRaises(ApiError) as e:
            self.m.activate(7)
        self.assertEqual((e.exception.status, e.exception.code), (404, "release_not_found"))
        self.assertFalse(self.m.ops.busy())

    def test_boot_starts_the_live_release_again(self):
        self.deploy(1, python_app())
        self.m.switch.live.stop(grace_s=1)
        again = self.manager()  # the agent restarted (or the VM booted)
        again.boot()
        self.assertEqual(again.switch.live_version(), 1)
        # boot does not wait for web (nothing to switch away from): the port points at it at once
        guesttest.eventually(lambda: again.health()["web"] == "up", what="web comes up")
        self.assertEqual(fetch(self.redirects.target), "release 1 ")
        self.assertFalse(again.ops.busy())
        self.assertIn("fcm[release]: Starting v1 (agent start)", "".join(again.log.tail(20)))

    def test_boot_kills_app_processes_an_earlier_agent_left_behind(self):
        self.deploy(1, python_app())
        leftover = self.m.switch.live.web.popen
        again = self.manager()
        again.boot()
        guesttest.eventually(lambda: leftover.poll() is not None, what="the leftover process is killed")
        # The whole log, not its last lines: the earlier manager is still alive in this test and
        # restarts the process it lost (1 s later, then backs off), and those starts' lines and
        # tracebacks can follow the boot's line in any number (a failure seen under load).
        self.assertIn("fcm[release]: Agent restarted: stopped ", "".join(again.log.tail(1_000_000)))


class KillLeftoversTest(unittest.TestCase):
    """Reads a fake /proc: only processes of the app user's uid are signalled."""

    def test_nothing_without_the_app_user(self):
        app = TempApp()
        self.addCleanup(app.cleanup)

        class NoUser:
            def existing_uid(self):
                return None
        m = releases.Manager(applog.AppLog(app.storage.logs), lambda: (8000, "127.0.0.1"), app.storage,
                             user=NoUser(), redirect=Redirects(), proc_dir=os.path.join(app.dir, "no-proc"))
        m.kill_leftovers()  # would fail reading a /proc that does not exist if it tried


if __name__ == "__main__":
    unittest.main()
