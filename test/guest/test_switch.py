"""switch.py: starting a release beside the live one and switching the public port."""

import os
import socket
import unittest
import urllib.request

import guesttest
from guesttest import Redirects, TempApp, need_root

import applog
import switch
from buildpacks import BuildError
from operations import Output


class StartFailureTest(unittest.TestCase):
    def test_reasons(self):
        self.assertEqual(switch.start_failure("exited", 1), "the web process exited with status 1 before it listened on $PORT")
        self.assertEqual(switch.start_failure("exited", -9), "the web process was killed by signal 9 before it listened on $PORT")
        self.assertIn("127.0.0.1 only", switch.start_failure("loopback", None))
        self.assertEqual(switch.start_failure("timeout", None), "the web process did not listen on $PORT within 60 s")


class FreePortTest(unittest.TestCase):
    def test_skips_taken_ports_the_public_port_and_ports_in_use(self):
        sw = switch.Switcher(None, None, None, None)
        sw.public_port = switch.PORT_BASE + 8
        taken = {switch.PORT_BASE + 7}
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            port = sw.free_port(7, taken)
        self.assertTrue(switch.PORT_BASE <= port < switch.PORT_BASE + switch.PORT_SPAN)
        self.assertNotIn(port, (switch.PORT_BASE + 7, switch.PORT_BASE + 8))
        self.assertIn(port, taken, "the port is reserved for this formation")

    def test_exhausted(self):
        sw = switch.Switcher(None, None, None, None)
        with self.assertRaises(BuildError) as e:
            sw.free_port(1, set(range(switch.PORT_BASE, switch.PORT_BASE + switch.PORT_SPAN)))
        self.assertEqual(e.exception.code, "start_failed")


def fetch(port, path="/"):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return r.read().decode()


@need_root
class LaunchTest(unittest.TestCase):
    """Real app processes (as a throwaway uid), a recorded port switch."""

    def setUp(self):
        self.app = TempApp()
        self.addCleanup(self.app.cleanup)
        self.s = self.app.storage
        self.s.layout()
        self.redirects = Redirects()
        self.log = applog.AppLog(self.s.logs)
        self.sw = switch.Switcher(self.s, self.log, self.app.user, self.redirects)
        self.sw.public_port = 8000
        self.addCleanup(lambda: self.sw.live and self.sw.live.stop(grace_s=1))

    def release(self, version, web):
        self.s.new_release(version, self.app.user(), None)
        with open(os.path.join(self.s.release_dir(version), "app.py"), "w") as f:
            f.write(guesttest.WEB_APP)
        meta = {"version": version, "commit": None, "buildpack": "none", "processes": {"web": web}, "path": [], "env": {}}
        self.s.write_meta(meta)
        return meta

    def test_switch_then_retire_the_old_release(self):
        out, timings = Output(), {}
        self.sw.launch(self.release(1, "/usr/bin/python3 app.py"), {"GREETING": "hi"}, out, timings)
        first = self.redirects.target
        self.assertEqual(fetch(first), "release 1 hi")
        self.assertEqual(os.readlink(self.s.current), "releases/v1")
        self.assertEqual(set(timings), {"startMs", "switchMs"})
        self.assertIn("-----> Port 8000 now goes to v1", out.lines)
        old = self.sw.live
        # A request the old release is still answering at the switch (its answer takes 1 s).
        in_flight = socket.create_connection(("127.0.0.1", first), timeout=10)
        self.addCleanup(in_flight.close)
        in_flight.sendall(b"GET /slow HTTP/1.0\r\n\r\n")
        self.sw.launch(self.release(2, "/usr/bin/python3 app.py"), {}, Output(), {})
        second = self.redirects.target
        self.assertNotEqual(first, second)
        self.assertEqual(fetch(second), "release 2 ")
        answer = b""
        while chunk := in_flight.recv(65536):
            answer += chunk
        self.assertTrue(answer.startswith(b"HTTP/1.0 200 ") and answer.endswith(b"release 1 hi"),
                        f"the old release answers what it had through the drain: {answer!r}")
        guesttest.eventually(lambda: all(p.state == "stopped" for p in old.procs), timeout=switch.DRAIN_S + 15,
                             what="the old release is stopped after the drain")
        self.assertEqual(self.sw.live_version(), 2)

    def test_a_web_process_that_exits_leaves_the_live_release_untouched(self):
        self.sw.launch(self.release(1, "/usr/bin/python3 app.py"), {}, Output(), {})
        before = list(self.redirects.calls)
        out = Output()
        with self.assertRaises(BuildError) as e:
            self.sw.launch(self.release(2, "echo starting; echo bad config >&2; exit 4"), {}, out, {})
        self.assertEqual((e.exception.code, e.exception.message),
                         ("start_failed", "the web process exited with status 4 before it listened on $PORT"))
        self.assertEqual(out.lines[-3:], ["-----> Last output of the web process:", "       starting", "       bad config"])
        self.assertEqual(self.redirects.calls, before)
        self.assertEqual((self.sw.live_version(), os.readlink(self.s.current)), (1, "releases/v1"))

    def test_a_failing_port_switch_is_switch_failed(self):
        self.redirects.fail = "nft: Could not process rule"
        with self.assertRaises(BuildError) as e:
            self.sw.launch(self.release(1, "/usr/bin/python3 app.py"), {}, Output(), {})
        self.assertEqual(e.exception.code, "switch_failed")
        self.assertIsNone(self.sw.live)
        self.assertFalse(os.path.lexists(self.s.current))

    def test_no_web_process_switches_the_port_to_nothing(self):
        self.sw.launch(self.release(1, "/usr/bin/python3 app.py"), {}, Output(), {})
        meta = self.release(2, "x")
        meta["processes"] = {"worker": "sleep 30"}
        self.sw.launch(meta, {}, Output(), {})
        self.assertEqual(self.redirects.calls[-1], (8000, None))


if __name__ == "__main__":
    unittest.main()
