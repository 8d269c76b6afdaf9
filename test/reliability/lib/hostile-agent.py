"""A hostile stand-in for the fcm guest agent (test/reliability/hostile-guest.test.ts).

Installed over /usr/lib/fcm/agent.py through the serial console, as a VM's owner
could (the console is a root shell in the guest). It answers GET /health like the
real agent (so the VM looks healthy), and every other request by the behaviour set
for its kind of route, changed at any time from the host through a control port:

    GET http://<vm ip>:7612/mode?route=<env|stream|logs|resize>&do=<behaviour>

Behaviours: ok (what a well-behaved agent answers), garbage (200, then newline-free
bytes as fast as the link takes them, forever), lines (200, then empty lines
forever), silent (reads the request, never answers), slow (200, then one byte a
second, forever), hugejson (400 problem+json announcing and sending 100 MiB),
malformed (broken JSON: a 409 body, or a streamed result line that does not parse).
Standard library only; runs as `python3 -I -S -u` like the real agent.
"""

import base64
import json
import os
import socket
import socketserver
import threading
import time

MODES = {"env": "ok", "stream": "ok", "logs": "ok", "resize": "ok"}
REQUESTS = {"env": 0, "stream": 0, "logs": 0, "resize": 0}


def boot_env(key):
    try:
        with open("/run/fcm/boot.env", encoding="utf-8") as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                if k == key:
                    return v
    except OSError:
        pass
    return ""


VM_ID = boot_env("FCM_VM") or None
PORT = int(boot_env("FCM_AGENT_PORT") or 7611)


def route_of(path):
    if path.startswith("/v1/env"):
        return "env"
    if path.startswith("/v1/releases") or path.startswith("/v1/restart"):
        return "stream"
    if path.startswith("/v1/logs"):
        return "logs"
    if path.startswith("/v1/console/resize"):
        return "resize"
    return None


def read_head(s):
    head = b""
    while b"\r\n\r\n" not in head:
        d = s.recv(65536)
        if not d or len(head) > 1 << 20:
            return None
        head += d
    return head


def send_head(s, status, ctype=None, length=None):
    lines = ["HTTP/1.1 %d X" % status, "Connection: close"]
    if ctype:
        lines.append("Content-Type: " + ctype)
    if length is not None:
        lines.append("Content-Length: %d" % length)
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())


def forever(s, chunk, pause=0.0):
    while True:
        s.sendall(chunk)
        if pause:
            time.sleep(pause)


def answer(s, route, mode):
    if mode == "ok":
        if route == "stream":
            send_head(s, 200, "text/plain; charset=utf-8")
            s.sendall(b"-----> (hostile agent) pretending to build\n"
                      b'fcm-result: {"ok":true,"buildpack":"python","processes":{"web":"python3 app.py"}}\n')
        elif route == "logs":
            send_head(s, 200, "text/plain; charset=utf-8")
            s.sendall(b"(hostile agent) no logs\n")
        else:
            send_head(s, 204)
    elif mode == "garbage":
        send_head(s, 200, "text/plain; charset=utf-8")
        forever(s, base64.b64encode(os.urandom(48 * 1024)))
    elif mode == "lines":
        send_head(s, 200, "text/plain; charset=utf-8")
        forever(s, b"\n" * 65536)
    elif mode == "silent":
        time.sleep(3600)
    elif mode == "slow":
        send_head(s, 200, "text/plain; charset=utf-8")
        forever(s, b"x", 1.0)
    elif mode == "hugejson":
        size = 100 * 1024 * 1024
        send_head(s, 400, "application/problem+json", size)
        s.sendall(b'{"code":"bad","detail":"')
        block = b"a" * 65536
        sent = 25
        while sent < size - 2:
            s.sendall(block)
            sent += len(block)
        s.sendall(b'"}')
    elif mode == "malformed":
        if route in ("stream", "logs"):
            send_head(s, 200, "text/plain; charset=utf-8")
            s.sendall(b'-----> (hostile agent) a result that does not parse follows\nfcm-result: {"ok": tru\n')
        else:
            body = b'{"code": 5, "detail": [1, 2'
            send_head(s, 409, "application/problem+json", len(body))
            s.sendall(body)


class Agent(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        try:
            head = read_head(s)
            if head is None:
                return
            method, path = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")[:2]
            if path.startswith("/health"):
                body = json.dumps({"vmId": VM_ID, "hostname": socket.gethostname(), "bootId": "hostile",
                                   "uptimeMs": 1, "agentVersion": "hostile",
                                   "app": {"release": None, "web": "none"}}).encode()
                send_head(s, 200, "application/json", len(body))
                s.sendall(body)
                return
            route = route_of(path)
            if route is None:
                send_head(s, 404)
                return
            REQUESTS[route] += 1
            answer(s, route, MODES[route])
        except OSError:
            pass  # the daemon hung up: that is the point


class Control(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        head = read_head(s) or b""
        target = head.split(b" ")[1].decode("latin-1") if head.count(b" ") >= 2 else ""
        _, _, query = target.partition("?")
        q = dict(p.partition("=")[::2] for p in query.split("&") if p)
        if q.get("route") in MODES and q.get("do"):
            MODES[q["route"]] = q["do"]
        body = json.dumps({"modes": MODES, "requests": REQUESTS}).encode()
        send_head(s, 200, "application/json", len(body))
        s.sendall(body)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


if __name__ == "__main__":
    control = Server(("0.0.0.0", 7612), Control)
    threading.Thread(target=control.serve_forever, daemon=True).start()
    print("hostile agent on :%d, control on :7612" % PORT, flush=True)
    Server(("0.0.0.0", PORT), Agent).serve_forever()
