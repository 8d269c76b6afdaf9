"""switch.py: starting a release beside the live one and switching the public port."""

import os
import shutil
import socket
import time
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


def read_until(sock, part):
    """What the socket gives until `part` is in it (or the peer closes)."""
    data = b""
    while part not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


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

    @unittest.skipUnless(shutil.which("node"), "needs node (Node's http ends a connection at end-of-file)")
    def test_an_answer_streamed_across_the_switch_is_whole_and_a_connection_used_again_is_closed(self):
        # Node's http keeps connections alive, and ends one at once when it reads end-of-file:
        # the case where closing a connection that only looks idle would cut an answer.
        done = os.path.join(self.app.dir, "stream-done")
        node_app = (
            "const http = require('http'), fs = require('fs');\n"
            "http.createServer((req, res) => {\n"
            "  if (req.url !== '/stream') return res.end(`release ${process.env.FCM_RELEASE}`);\n"
            "  let i = 0;\n"
            f"  const t = setInterval(() => {{ if (fs.existsSync({done!r})) {{ clearInterval(t); return res.end('end'); }} res.write(`piece ${{i++}} `); }}, 100);\n"
            "}).listen(+process.env.PORT, '127.0.0.1', () => console.log('listening'));\n"
        )

        def node_release(version):
            meta = self.release(version, f"{shutil.which('node')} app.js")
            with open(os.path.join(self.s.release_dir(version), "app.js"), "w") as f:
                f.write(node_app)
            return meta

        self.sw.launch(node_release(1), {}, Output(), {})
        first = self.redirects.target
        stream = socket.create_connection(("127.0.0.1", first), timeout=10)
        self.addCleanup(stream.close)
        stream.sendall(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
        kept = socket.create_connection(("127.0.0.1", first), timeout=10)
        self.addCleanup(kept.close)
        kept.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertTrue(read_until(kept, b"release 1").endswith(b"release 1"))
        got = read_until(stream, b"piece 0 ")
        self.assertIn(b"piece 0 ", got, "the stream is under way before the switch")
        self.sw.launch(node_release(2), {}, Output(), {})
        self.assertEqual(fetch(self.redirects.target), "release 2")
        time.sleep(0.5)  # the drain's passes while the old release writes its pieces
        open(done, "w").close()
        while not got.endswith(b"0\r\n\r\n"):  # chunked: the last chunk
            chunk = stream.recv(4096)
            self.assertTrue(chunk, f"the streamed answer was cut: {got!r}")
            got += chunk
        body = b"".join(part for k, part in enumerate(got.split(b"\r\n\r\n", 1)[1].split(b"\r\n")) if k % 2)
        pieces = body.decode().split()
        self.assertEqual(pieces[-1], "end")
        # (Under way before the switch, ended only once `done` was made after it: it spanned the switch.)
        n = len(pieces[:-1]) // 2
        self.assertEqual(" ".join(pieces[:-1]), " ".join(f"piece {i}" for i in range(n)))
        kept.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")  # the kept connection, used again
        self.assertTrue(read_until(kept, b"release 1").endswith(b"release 1"), "its answer still comes from the old release")
        kept.settimeout(switch.DRAIN_S + 5)
        self.assertEqual(kept.recv(1), b"", "the connection used again after the switch was closed by the app")

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
