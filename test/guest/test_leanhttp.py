"""leanhttp.py: the request parsing the agent and the placeholder use instead of http.server's
(email.parser) — the same answers as http.server's for what clients send, over a real socket —
and the fixed address layout of the guest's own Python processes under TCG: tcg-layout (inittab
starts them through it) and agent.randomize_children."""

import email.utils
import http.server
import io
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

import guesttest  # rootfs/guest on sys.path

import agent
import leanhttp


class Echo(leanhttp.RequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = repr((self.command, self.path, self.request_version, self.headers.items(),
                     self.headers.get("x-one"), self.headers["Content-Length"], "host" in self.headers,
                     self.close_connection)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, fmt, *args):
        pass


class ServerCase(unittest.TestCase):
    def setUp(self):
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
        self.srv.daemon_threads = True
        t = threading.Thread(target=self.srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        t.start()
        self.addCleanup(t.join, 5)
        self.addCleanup(self.srv.server_close)
        self.addCleanup(self.srv.shutdown)

    def exchange(self, raw):
        return guesttest.exchange(self.srv.server_address, raw, shutdown=True, timeout=5)


class RequestParsingTest(ServerCase):
    def test_headers_case_insensitive_first_value_wins_whitespace_trimmed(self):
        out = self.exchange(b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-One:  first \r\nx-one: second\r\n"
                            b"Connection: close\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 200 "), out)
        self.assertIn(b"('GET', '/a?b=1', 'HTTP/1.1', [('Host', 'x'), ('X-One', 'first'), ('x-one', 'second'), "
                      b"('Connection', 'close')], 'first', None, True, True)", out)

    def test_keep_alive_by_default_in_http_1_1_and_two_requests_on_one_connection(self):
        out = self.exchange(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual(out.count(b"HTTP/1.1 200 "), 2, out)
        self.assertIn(b"'/1', 'HTTP/1.1', [('Host', 'x')], None, None, True, False)", out)

    def test_http_1_0_closes_and_scheme_relative_paths_are_reduced(self):
        out = self.exchange(b"GET //evil.example/x HTTP/1.0\r\n\r\n")
        self.assertIn(b"('GET', '/evil.example/x', 'HTTP/1.0', [], None, None, False, True)", out)

    def test_expect_100_continue(self):
        out = self.exchange(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 "), out)

    def test_answers_as_http_server_to_bad_requests(self):
        cases = [
            (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * (leanhttp.MAX_HEADERS + 1) + b"\r\n", b"431"),
            (b"GET / HTTP/1.1\r\nX: " + b"y" * leanhttp.MAX_LINE + b"\r\n\r\n", b"431"),
            (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", b"400"),
            (b"GET / HTTP/1.1\r\nName : value\r\n\r\n", b"400"),
            (b"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", b"400"),
            (b"GET / HTTP/2.0\r\n\r\n", b"505"),
            (b"GET / HTTQ/1.1\r\n\r\n", b"400"),
            (b"GET / HTTP/1.x\r\n\r\n", b"400"),
            (b"GET / x HTTP/1.1\r\n\r\n", b"400"),
            (b"POST /\r\n\r\n", b"400"),
        ]
        for raw, status in cases:
            out = self.exchange(raw)
            # http.server's error page (an HTTP/2.0 request line gets it without a status line, as there)
            self.assertIn(b"Error code: " + status, out, raw[:60])

    def test_http_0_9_get(self):
        out = self.exchange(b"GET /\r\n")
        self.assertIn(b"('GET', '/', 'HTTP/0.9', [], None, None, False, True)", out)


class HeadersTest(unittest.TestCase):
    def test_read_headers_stops_at_the_blank_line(self):
        f = io.BytesIO(b"A: 1\r\nB:2\r\n\r\nbody")
        h = leanhttp.read_headers(f)
        self.assertEqual(h.items(), [("A", "1"), ("B", "2")])
        self.assertEqual(f.read(), b"body")
        self.assertEqual(len(h), 2)
        self.assertIsNone(h.get("c"))
        self.assertEqual(h.get("c", "d"), "d")

    def test_date_header_as_email_utils(self):
        handler = leanhttp.RequestHandler.__new__(leanhttp.RequestHandler)
        for ts in (0, 951782400, 1_796_000_000.7):
            self.assertEqual(handler.date_time_string(ts), email.utils.formatdate(ts, usegmt=True))


class RandomizeChildrenTest(unittest.TestCase):
    @unittest.skipUnless(shutil.which("setarch"), "no setarch")
    def test_children_get_randomization_back(self):
        code = ("import agent, subprocess\n"
                "p = lambda: open('/proc/self/personality').read().strip()\n"
                "before = p(); agent.randomize_children()\n"
                "child = subprocess.run(['cat', '/proc/self/personality'], capture_output=True, text=True).stdout.strip()\n"
                "print(before, p(), child)\n")
        env = dict(os.environ, PYTHONPATH=os.path.dirname(agent.__file__))
        out = subprocess.run(["setarch", "-R", sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
        before, after, child = out.stdout.split()
        self.assertTrue(int(before, 16) & agent.ADDR_NO_RANDOMIZE, out.stdout)
        self.assertFalse(int(after, 16) & agent.ADDR_NO_RANDOMIZE, out.stdout)
        self.assertFalse(int(child, 16) & agent.ADDR_NO_RANDOMIZE, out.stdout)



class TcgLayoutTest(unittest.TestCase):
    """rootfs/guest/tcg-layout: no randomization under QEMU TCG's vCPU only (read from cpuinfo)."""

    @unittest.skipUnless(os.path.exists("/usr/bin/setarch"), "no /usr/bin/setarch")
    def test_fixed_layout_under_tcg_only(self):
        script = os.path.join(os.path.dirname(agent.__file__), "tcg-layout")
        with tempfile.TemporaryDirectory() as d:
            def personality(model):
                cpuinfo = os.path.join(d, "cpuinfo")
                with open(cpuinfo, "w") as f:
                    f.write(f"processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: {model}\nflags\t\t: fpu\n")
                out = subprocess.run([script, "cat", "/proc/self/personality"], capture_output=True, text=True,
                                     env=dict(os.environ, FCM_CPUINFO=cpuinfo), check=True)
                return int(out.stdout, 16)
            self.assertTrue(personality("QEMU TCG CPU version 2.5+") & agent.ADDR_NO_RANDOMIZE)
            self.assertFalse(personality("AMD EPYC 7763 64-Core Processor") & agent.ADDR_NO_RANDOMIZE)
            self.assertFalse(personality("QEMU Virtual CPU version 2.5+") & agent.ADDR_NO_RANDOMIZE)

if __name__ == "__main__":
    unittest.main()
