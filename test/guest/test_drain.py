"""drain.py: an old release's kept-alive connections closed as they become idle, against
real servers (Node.js's http, Python's http.server speaking HTTP/1.1) in their own
process groups, and real keep-alive clients."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import guesttest  # noqa: F401 (puts rootfs/guest on the path)

import drain

NODE_APP = r"""
const http = require('http');
const server = http.createServer((req, res) => {
  if (req.url === '/stream') {
    // An answer written in pieces, 150 ms apart (server-sent events, a chunked download).
    const parts = ['one ', 'two ', 'three ', 'four ', 'five'];
    res.setHeader('content-length', Buffer.byteLength(parts.join('')));
    let i = 0;
    const t = setInterval(() => { res.write(parts[i]); if (++i === parts.length) { clearInterval(t); res.end(); } }, 150);
    return;
  }
  // Every answer some ticks after its request: tcp_info's times are in jiffies (drain.py).
  setTimeout(() => res.end(`${process.env.NAME} ${req.url}`), req.url === '/slow' ? 700 : 25);
});
server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));
"""

PYTHON_APP = r"""
import http.server, os, sys, time
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path == "/stream":  # as the Node app
            parts = [b"one ", b"two ", b"three ", b"four ", b"five"]
            self.send_response(200)
            self.send_header("Content-Length", str(sum(map(len, parts))))
            self.end_headers()
            for part in parts:
                time.sleep(0.15)
                self.wfile.write(part)
                self.wfile.flush()
            return
        time.sleep(0.7 if self.path == "/slow" else 0.025)  # as the Node app
        body = f"{os.environ['NAME']} {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(f"port {s.server_address[1]}", flush=True)
s.serve_forever()
"""


def request(sock, path):
    """One GET on a kept-alive connection; returns (status line, body)."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    return read_response(sock)


def read_response(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise EOFError(f"closed before an answer: {data!r}")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    length = next(int(h.split(":")[1]) for h in lines if h.lower().startswith("content-length:"))
    while len(body) < length:
        body += sock.recv(4096)
    return lines[0], body.decode()


def closes_once_answered(srv, since):
    """close_idle passes until one shuts a connection down (its answer out, nothing
    queued); how many that pass closed. Polled, not after a fixed pause."""
    return guesttest.eventually(lambda: drain.close_idle(srv.port, drain.family(srv.p.pid), since)[0],
                                timeout=5, what="the answered connection to be shut down")


def closed_by_server(sock, within_s=5):
    """True when the server closed its side (a clean EOF, not a reset) within the time."""
    sock.settimeout(within_s)
    try:
        return sock.recv(1) == b""
    except socket.timeout:
        return False


class Server:
    def __init__(self, argv, name):
        self.err = tempfile.TemporaryFile()
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.err, start_new_session=True,
                                  env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NAME": name})
        line = self.p.stdout.readline().decode()
        assert line.startswith("port "), line
        self.port = int(line.split()[1])

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        return s

    def stderr(self):
        self.err.seek(0)
        return self.err.read().decode()

    def stop(self):
        os.killpg(self.p.pid, signal.SIGKILL)
        self.p.wait()
        self.p.stdout.close()
        self.err.close()


def servers():
    out = [("python", [sys.executable, "-c", PYTHON_APP])]
    node = shutil.which("node") or shutil.which("nodejs")
    if node:
        out.append(("node", [node, "-e", NODE_APP]))
    return out


class CloseIdleTest(unittest.TestCase):
    def for_each_server(self, check):
        if not shutil.which("node") and not shutil.which("nodejs"):
            print("test_drain: no node on PATH: only Python's server is tried", file=sys.stderr)
        for name, argv in servers():
            with self.subTest(server=name):
                srv = Server(argv, name)
                try:
                    check(name, srv)
                finally:
                    srv.stop()

    def test_a_connection_asked_again_after_the_switch_is_closed_cleanly_by_the_app_once_answered(self):
        def check(name, srv):
            a, b = srv.connect(), srv.connect()
            self.assertEqual(request(a, "/one"), ("HTTP/1.1 200 OK", f"{name} /one"))
            self.assertEqual(request(b, "/two"), ("HTTP/1.1 200 OK", f"{name} /two"))
            since = drain.received(srv.port, drain.family(srv.p.pid))  # the switch
            self.assertEqual(len(since), 2)
            self.assertEqual(drain.close_idle(srv.port, drain.family(srv.p.pid), since), (0, 2, 0),
                             f"{name}: nothing asked since the switch: left alone")
            self.assertEqual(request(a, "/again"), ("HTTP/1.1 200 OK", f"{name} /again"))
            time.sleep(0.05)
            self.assertEqual(drain.close_idle(srv.port, drain.family(srv.p.pid), since), (1, 1, 0))
            self.assertTrue(closed_by_server(a), f"{name}: the server closed the connection asked again (FIN)")
            # b, never asked again, still serves; once it has, it is closed too.
            self.assertEqual(request(b, "/late"), ("HTTP/1.1 200 OK", f"{name} /late"))
            self.assertEqual(closes_once_answered(srv, since), 1)
            self.assertTrue(closed_by_server(b))
            # The server itself is untouched: a new connection is served.
            c = srv.connect()
            self.assertEqual(request(c, "/three"), ("HTTP/1.1 200 OK", f"{name} /three"))
            for s in (a, b, c):
                s.close()
            self.assertEqual(srv.stderr(), "", f"{name}: nothing in the app's log")
        self.for_each_server(check)

    def test_an_answer_being_streamed_at_the_switch_is_not_cut(self):
        def check(name, srv):
            conn = srv.connect()
            conn.sendall(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
            got = {}
            reader = threading.Thread(target=lambda: got.update(r=read_response(conn)))
            reader.start()
            time.sleep(0.4)  # the headers and a piece or two are out: between writes it looks idle
            since = drain.received(srv.port, drain.family(srv.p.pid))  # the switch
            passes = 0
            while reader.is_alive() and passes < 100:
                closed, _, _ = drain.close_idle(srv.port, drain.family(srv.p.pid), since)
                self.assertEqual(closed, 0, f"{name}: a streamed answer's connection was shut down")
                passes += 1
                time.sleep(0.01)
            reader.join(5)
            self.assertEqual(got.get("r"), ("HTTP/1.1 200 OK", "one two three four five"), f"{name}: the whole answer")
            # Asked again afterwards (its earlier answer is complete): closed once answered.
            self.assertEqual(request(conn, "/next"), ("HTTP/1.1 200 OK", f"{name} /next"))
            self.assertEqual(closes_once_answered(srv, since), 1)
            self.assertTrue(closed_by_server(conn))
            conn.close()
            self.assertEqual(srv.stderr(), "")
        self.for_each_server(check)

    def test_a_request_in_flight_is_answered_then_its_connection_closed(self):
        def check(name, srv):
            busy_conn = srv.connect()
            since = drain.received(srv.port, drain.family(srv.p.pid))  # the switch, then a request
            busy_conn.sendall(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
            time.sleep(0.2)  # the request reached the app, which answers after 700 ms
            closed, left, backlog = drain.close_idle(srv.port, drain.family(srv.p.pid), since)
            self.assertEqual((closed, left), (0, 1), f"{name}: a request in flight is left alone")
            self.assertEqual(read_response(busy_conn), ("HTTP/1.1 200 OK", f"{name} /slow"))
            self.assertEqual(closes_once_answered(srv, since), 1)
            self.assertTrue(closed_by_server(busy_conn))
            busy_conn.close()
            self.assertEqual(srv.stderr(), "")
        self.for_each_server(check)

    def test_other_ports_and_other_processes_are_left_alone(self):
        srv = Server(servers()[0][1], "python")
        other = Server(servers()[0][1], "other")
        try:
            a, o = srv.connect(), other.connect()
            request(a, "/"), request(o, "/")
            time.sleep(0.05)
            # ({}: every connection counts as asked since the switch.)
            self.assertEqual(drain.close_idle(other.port, drain.family(srv.p.pid), {}), (0, 0, 0), "not its port")
            self.assertEqual(drain.close_idle(srv.port, drain.family(other.p.pid), {}), (0, 0, 0), "not its processes")
            self.assertEqual(request(a, "/again"), ("HTTP/1.1 200 OK", "python /again"))
            self.assertEqual(request(o, "/again"), ("HTTP/1.1 200 OK", "other /again"))
            a.close(), o.close()
        finally:
            srv.stop()
            other.stop()


    def test_a_server_a_shell_started_is_found_among_its_descendants(self):
        app = tempfile.NamedTemporaryFile("w", suffix=".py")
        self.addCleanup(app.close)
        app.write(PYTHON_APP)
        app.flush()
        srv = Server(["/bin/sh", "-c", '"$0" "$1"; true', sys.executable, app.name], "child")
        try:
            self.assertGreater(len(drain.family(srv.p.pid)), 1, "the shell and its python")
            a = srv.connect()
            request(a, "/")
            self.assertEqual(drain.close_idle(srv.port, drain.family(srv.p.pid), {})[0], 1)
            self.assertTrue(closed_by_server(a))
            a.close()
        finally:
            srv.stop()


class DrainTest(unittest.TestCase):
    def test_returns_once_everything_is_closed_and_at_the_deadline_when_a_request_stays_busy(self):
        srv = Server(servers()[-1][1], "app")
        try:
            kept = srv.connect()
            request(kept, "/")
            since = drain.received(srv.port, drain.family(srv.p.pid))
            self.assertFalse(drain.drain(srv.port, srv.p.pid, 0.3, since), "not asked since: left open to the deadline")
            self.assertFalse(closed_by_server(kept, 0.2))
            kept.close()

            idle = srv.connect()
            request(idle, "/")
            t0 = time.monotonic()
            self.assertTrue(drain.drain(srv.port, srv.p.pid, 5, {}))
            self.assertLess(time.monotonic() - t0, 4, "returned once nothing was connected")
            self.assertTrue(closed_by_server(idle, 0.5))
            idle.close()

            slow = srv.connect()
            slow.sendall(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
            time.sleep(0.1)
            got = {}
            reader = threading.Thread(target=lambda: got.update(r=read_response(slow)))
            reader.start()
            self.assertTrue(drain.drain(srv.port, srv.p.pid, 5, {}), "the answer went out, then the connection was closed")
            reader.join(5)
            self.assertEqual(got["r"][0], "HTTP/1.1 200 OK")
            slow.close()

            stuck = srv.connect()
            stuck.sendall(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
            time.sleep(0.1)
            self.assertFalse(drain.drain(srv.port, srv.p.pid, 0.3, {}), "still busy at the deadline")
            stuck.close()
        finally:
            srv.stop()

    def test_a_process_that_is_gone_is_drained(self):
        self.assertTrue(drain.drain(1, 2 ** 22 + 12345, 1, {}))


if __name__ == "__main__":
    unittest.main()
