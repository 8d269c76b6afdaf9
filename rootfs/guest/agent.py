"""fcm guest agent: the HTTP API the fcm daemon talks to inside each VM.

Runs as root under busybox init (respawned), python3 standard library only, on
0.0.0.0:<fcm.agent_port> (default 7611). Configuration comes from /run/fcm/boot.env
(validated kernel command line values) and /run/fcm/seed.json (the seed disk: the
agent token), both written by /usr/lib/fcm/rc.init.

Endpoints live in one table, ROUTES: (method, path) -> Route, filled by the @route
decorator. A handler takes a Request and returns a Response. Every route except
those marked public requires `Authorization: Bearer <agentToken>`; without a seed
there is no token and only public routes answer (fail closed). JSON in and out;
errors are RFC 9457 application/problem+json with a stable `code`. Streaming request
bodies (tarball uploads) read from `req.body`; streaming responses (build logs)
return Response.stream(chunks), sent with chunked transfer encoding.
"""

import hmac
import http.server
import json
import os
import socket
import sys
import traceback
from urllib.parse import parse_qs, urlsplit

BOOT_ENV = "/run/fcm/boot.env"
SEED = "/run/fcm/seed.json"
VERSION = "0.1.0"


def read_boot_env(path=BOOT_ENV):
    env = {}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                key, sep, value = line.rstrip("\n").partition("=")
                if sep:
                    env[key] = value
    except FileNotFoundError:
        pass
    return env


def read_seed(path=SEED):
    try:
        with open(path, encoding="utf-8") as f:
            seed = json.load(f)
    except (OSError, ValueError):
        return {}
    return seed if isinstance(seed, dict) else {}


def uptime_s():
    with open("/proc/uptime", encoding="ascii") as f:
        return float(f.read().split()[0])


def read_first_line(path):
    with open(path, encoding="ascii") as f:
        return f.readline().strip()


class ApiError(Exception):
    def __init__(self, status, code, detail):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


class Request:
    def __init__(self, handler):
        url = urlsplit(handler.path)
        self.method = handler.command
        self.path = url.path
        self.query = parse_qs(url.query)
        self.headers = handler.headers
        self.body = handler.rfile  # read at most content_length bytes
        try:
            self.content_length = int(handler.headers.get("Content-Length") or 0)
        except ValueError:
            raise ApiError(400, "validation_failed", "invalid Content-Length") from None

    def json(self):
        if self.content_length <= 0:
            raise ApiError(400, "validation_failed", "request body required")
        try:
            return json.loads(self.body.read(self.content_length))
        except ValueError as e:
            raise ApiError(400, "validation_failed", f"invalid JSON: {e}") from e


class Response:
    def __init__(self, status, body=b"", content_type="application/json", chunks=None):
        self.status, self.body, self.content_type, self.chunks = status, body, content_type, chunks
        self.headers = {}

    @classmethod
    def json(cls, status, obj, content_type="application/json"):
        return cls(status, (json.dumps(obj) + "\n").encode(), content_type)

    @classmethod
    def stream(cls, status, chunks, content_type="application/octet-stream"):
        return cls(status, content_type=content_type, chunks=chunks)

    @classmethod
    def problem(cls, status, code, detail):
        return cls.json(status, {"type": "about:blank", "title": http.HTTPStatus(status).phrase,
                                 "status": status, "code": code, "detail": detail},
                        "application/problem+json")


# ---------------------------------------------------------------- handlers

class Route:
    def __init__(self, handler, public):
        self.handler, self.public = handler, public


ROUTES = {}


def route(method, path, public=False):
    def register(handler):
        ROUTES[(method, path)] = Route(handler, public)
        return handler
    return register


@route("GET", "/health", public=True)
def health(req):
    env = read_boot_env()
    return Response.json(200, {
        "vmId": env.get("FCM_VM") or None,
        "hostname": socket.gethostname(),
        "bootId": read_first_line("/proc/sys/kernel/random/boot_id"),
        "uptimeMs": int(uptime_s() * 1000),
        "agentVersion": VERSION,
    })


def authorized(headers, token):
    if not token:
        return False
    scheme, _, given = (headers.get("Authorization") or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


# ---------------------------------------------------------------- HTTP plumbing

class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "fcm-agent/" + VERSION
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def dispatch(self):
        req = None
        try:
            req = Request(self)
            found = ROUTES.get((req.method, req.path))
            if not (found and found.public) and not authorized(req.headers, self.server.current_token()):
                resp = Response.problem(401, "unauthorized", "missing or wrong agent token")
                resp.headers["WWW-Authenticate"] = "Bearer"
            elif found is None:
                allowed = sorted(m for (m, p) in ROUTES if p == req.path)
                if allowed:
                    resp = Response.problem(405, "method_not_allowed",
                                            f"{req.method} not allowed; use {', '.join(allowed)}")
                    resp.headers["Allow"] = ", ".join(allowed)
                else:
                    resp = Response.problem(404, "not_found", f"no route for {req.path}")
            else:
                resp = found.handler(req)
        except ApiError as e:
            resp = Response.problem(e.status, e.code, e.detail)
        except Exception:  # one log line with the cause, opaque 500 to the caller
            traceback.print_exc(file=sys.stderr)
            resp = Response.problem(500, "internal", "internal error in guest agent")
        if resp.status >= 400 and (req is None or req.content_length):
            # the request body may be unread: do not parse it as the next request
            resp.headers["Connection"] = "close"
            self.close_connection = True
        self.send(resp)

    def send(self, resp):
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        for name, value in resp.headers.items():
            self.send_header(name, value)
        if resp.chunks is None:
            self.send_header("Content-Length", str(len(resp.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(resp.body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in resp.chunks:
            if chunk:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, fmt, *args):  # quiet: only errors are logged
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    token = None
    seed_mtime = None

    def current_token(self):
        # A VM restored from a snapshot template gets a new seed (and token) while this
        # process keeps running (identity.py rewrites seed.json): re-read it when it changes.
        try:
            mtime = os.stat(SEED).st_mtime_ns
        except OSError:
            mtime = None
        if mtime != self.seed_mtime:
            self.seed_mtime = mtime
            token = read_seed().get("agentToken")
            self.token = token if isinstance(token, str) and token else None
        return self.token


def main():
    port = int(read_boot_env().get("FCM_AGENT_PORT") or 7611)
    with Server(("0.0.0.0", port), Handler) as server:
        if server.current_token() is None:
            print("fcm-agent: no agent token (no seed disk): only public routes answer", flush=True)
        print(f"fcm-agent {VERSION} listening on :{port} at {uptime_s():.2f} s uptime", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
