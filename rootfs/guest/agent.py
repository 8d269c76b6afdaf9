"""fcm guest agent: the HTTP API the fcm daemon talks to inside each VM.

The contract is agent-openapi.yaml next to this file (every route, body, answer and
error; tests hold both this agent and the daemon's client to it).

Runs as root under busybox init (respawned), python3 standard library only, on
0.0.0.0:<fcm.agent_port> (default 7611). Configuration comes from /run/fcm/boot.env
(validated kernel command line values) and /run/fcm/seed.json (the seed disk: the
agent token), both written by /usr/lib/fcm/rc.init.

Endpoints live in one table, ROUTES: (method, path pattern) -> Route, filled by the
@route decorator; `{name}` in a pattern matches a decimal integer, passed to the
handler in req.params. A handler takes a Request and returns a Response. Every route
except those marked public requires `Authorization: Bearer <agentToken>` (compared
in constant time); without a seed there is no token and only public routes answer
(fail closed). JSON in and out; errors are RFC 9457 application/problem+json with a
stable `code`. Request bodies (Content-Length or chunked) are read from `req.body` as
a stream; streaming responses (build output, logs) return Response.stream(chunks),
sent with chunked transfer encoding, one flush per chunk.

The app side (releases.py and the modules it composes: operations, storage, build,
switch, buildpacks, supervisor; applog) lives in the modules next to this file.
"""

import hmac
import http.server
import json
import os
import re
import select
import socket
import sys
import threading
import time
import traceback
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I leaves it out

from apierror import ApiError  # noqa: E402
from leanhttp import RequestHandler  # noqa: E402

BOOT_ENV = "/run/fcm/boot.env"
SEED = "/run/fcm/seed.json"
APP_DIR = "/app"  # storage.APP_DIR; a module global so that tests can point it elsewhere
CONSOLE_TTY = "/dev/ttyS0"
VERSION = "0.2.0"
MANAGER = None  # releases.Manager, set by start_app_side() once imported
MANAGER_READY = threading.Event()
APP_SIDE_WAIT_S = 30  # how long an app route waits for the app side before 503 agent_starting
# Sets the guest's wall clock (seconds since the epoch); a module global so that tests
# that run this agent on a host record the call instead of setting the host's clock.
SET_CLOCK = lambda seconds: time.clock_settime(time.CLOCK_REALTIME, seconds)  # noqa: E731
MIN_CLOCK_MS = 1577836800000  # 2020-01-01: a clock set before this is a mistake, not a correction


def read_boot_env(path=None):
    env = {}
    try:
        with open(path or BOOT_ENV, encoding="utf-8") as f:
            for line in f:
                key, sep, value = line.rstrip("\n").partition("=")
                if sep:
                    env[key] = value
    except FileNotFoundError:
        pass
    return env


def read_seed(path=None):
    try:
        with open(path or SEED, encoding="utf-8") as f:
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


class BodyReader:
    """The request body as a file-like stream: Content-Length bytes, or the decoded
    chunks of Transfer-Encoding: chunked. `done` once it was read to the end."""

    def __init__(self, rfile, length=None, chunked=False):
        self.rfile, self.left, self.chunked = rfile, length or 0, chunked
        self.done = not chunked and not length
        self.chunk_left = 0

    def read(self, n=-1):
        out = bytearray()
        while not self.done and (n < 0 or len(out) < n):
            want = (1 << 16) if n < 0 else n - len(out)
            if self.chunked:
                if self.chunk_left == 0:
                    line = self.rfile.readline(1024)
                    try:
                        size = int(line.split(b";")[0].strip(), 16)
                    except ValueError:
                        raise ApiError(400, "validation_failed", "bad chunked encoding") from None
                    if size == 0:
                        while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        self.done = True
                        break
                    self.chunk_left = size
                data = self.rfile.read(min(want, self.chunk_left))
                if not data:
                    raise ApiError(400, "validation_failed", "request body ended early")
                self.chunk_left -= len(data)
                if self.chunk_left == 0:
                    self.rfile.readline(1024)  # CRLF after the chunk
            else:
                data = self.rfile.read(min(want, self.left))
                if not data:
                    raise ApiError(400, "validation_failed", "request body ended early")
                self.left -= len(data)
                self.done = self.left == 0
            out += data
        return bytes(out)

    def drain(self):
        """Reads and drops the rest, so that an early answer reaches the client."""
        try:
            while not self.done:
                self.read(1 << 16)
        except (ApiError, OSError):
            pass


class Request:
    def __init__(self, handler):
        url = urlsplit(handler.path)
        self.method = handler.command
        self.path = url.path
        self.query = parse_qs(url.query)
        self.headers = handler.headers
        self.connection = handler.connection
        self.params = {}
        chunked = "chunked" in (handler.headers.get("Transfer-Encoding") or "").lower()
        try:
            self.content_length = int(handler.headers.get("Content-Length") or 0)
        except ValueError:
            raise ApiError(400, "validation_failed", "invalid Content-Length") from None
        if self.content_length < 0:
            raise ApiError(400, "validation_failed", "invalid Content-Length")
        self.body = BodyReader(handler.rfile, self.content_length, chunked)

    def json(self, limit=1 << 20):
        if self.body.done:
            raise ApiError(400, "validation_failed", "request body required")
        if self.content_length > limit:
            raise ApiError(413, "payload_too_large", f"JSON body larger than {limit} bytes")
        data = self.body.read(limit + 1)
        if len(data) > limit:
            raise ApiError(413, "payload_too_large", f"JSON body larger than {limit} bytes")
        try:
            return json.loads(data)
        except ValueError as e:
            raise ApiError(400, "validation_failed", f"invalid JSON: {e}") from e

    def query_int(self, name, default, lo, hi):
        raw = (self.query.get(name) or [None])[-1]
        if raw is None or raw == "":
            return default
        if not re.fullmatch(r"\d{1,9}", raw) or not lo <= int(raw) <= hi:
            raise ApiError(400, "validation_failed", f"{name} must be an integer from {lo} to {hi}")
        return int(raw)

    def query_bool(self, name):
        raw = (self.query.get(name) or ["0"])[-1].lower()
        if raw not in ("0", "1", "true", "false", ""):
            raise ApiError(400, "validation_failed", f"{name} must be 0/1/true/false")
        return raw in ("1", "true")

    def client_gone(self):
        """True once the client closed its side (for long-lived streams)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True


class Response:
    def __init__(self, status, body=b"", content_type="application/json", chunks=None):
        self.status, self.body, self.content_type, self.chunks = status, body, content_type, chunks
        self.headers = {}
        self.session = None  # upgrades: session(rfile, sock) runs after the 101 (see Response.upgrade)

    @classmethod
    def upgrade(cls, protocol, session, abandon):
        """101 Switching Protocols to `protocol`, then session(rfile, sock) owns the
        connection until it returns; abandon() runs instead when the 101 cannot be sent."""
        resp = cls(101, content_type=None)
        resp.headers.update({"Upgrade": protocol, "Connection": "Upgrade"})
        resp.session, resp.abandon = session, abandon
        return resp

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
    def __init__(self, handler, public, pattern):
        self.handler, self.public, self.pattern = handler, public, pattern


ROUTES = {}


def route(method, path, public=False):
    pattern = re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[0-9]{1,9})", re.escape(path)) + "$")

    def register(handler):
        ROUTES[(method, path)] = Route(handler, public, pattern)
        return handler
    return register


def find_route(method, path):
    """-> (Route or None, params, methods allowed on this path)."""
    found, params, allowed = None, {}, []
    for (m, _), r in ROUTES.items():
        match = r.pattern.match(path)
        if match:
            allowed.append(m)
            if m == method:
                found, params = r, {k: int(v) for k, v in match.groupdict().items()}
    return found, params, sorted(allowed)


@route("GET", "/health", public=True)
def health(req):
    env = read_boot_env()
    return Response.json(200, {
        "vmId": env.get("FCM_VM") or None,
        "hostname": socket.gethostname(),
        "bootId": read_first_line("/proc/sys/kernel/random/boot_id"),
        "uptimeMs": int(uptime_s() * 1000),
        "agentVersion": VERSION,
        "app": MANAGER.health() if MANAGER else {"release": None, "web": "none"},
    })


def manager():
    # The daemon calls a VM ready once /health answers, which is before the app side
    # is imported (~0.5 s under TCG): wait for it rather than fail the first push.
    if not MANAGER_READY.wait(APP_SIDE_WAIT_S):
        raise ApiError(503, "agent_starting", "the agent is starting; retry in a second")
    return MANAGER


@route("PUT", "/v1/env")
def put_env(req):
    # Not an operation (no lock, no wait for the app side): the file is replaced
    # atomically, and the next build, restart or boot reads it.
    import storage
    env = storage.validate_env(req.json())
    storage.Storage(APP_DIR).save_env(env)
    return Response(204, content_type=None)


def stream_text(out):
    return Response.stream(200, out.stream(), "text/plain; charset=utf-8")


@route("POST", "/v1/releases/{version}")
def post_release(req):
    version = req.params["version"]
    if version < 1:
        raise ApiError(400, "validation_failed", "release version must be a positive integer")
    commit = (req.headers.get("X-Fcm-Commit") or "").strip().lower()
    if commit and not re.fullmatch(r"[0-9a-f]{4,64}", commit):
        raise ApiError(400, "validation_failed", "X-Fcm-Commit must be a hex commit id")
    ctype = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if ctype not in ("application/x-tar", "application/tar", "application/gzip", "application/x-gzip",
                     "application/octet-stream"):
        raise ApiError(415, "unsupported_media_type", "send the tree as application/x-tar")
    if req.body.done:
        raise ApiError(400, "validation_failed", "request body (a tar stream) required")
    return stream_text(manager().deploy(version, commit or None, req.body))


@route("POST", "/v1/releases/{version}/activate")
def activate_release(req):
    return stream_text(manager().activate(req.params["version"]))


@route("POST", "/v1/restart")
def restart(req):
    return stream_text(manager().restart())


@route("GET", "/v1/status")
def status(req):
    return Response.json(200, manager().status())


@route("GET", "/v1/logs")
def logs(req):
    lines = req.query_int("lines", 100, 0, 10000)
    log = manager().log
    if not req.query_bool("follow"):
        return Response(200, "".join(log.tail(lines)).encode("utf-8", "replace"),
                        "text/plain; charset=utf-8")
    follower, backlog = log.follow(lines)

    def chunks():
        try:
            yield "".join(backlog).encode("utf-8", "replace")
            while True:
                new = follower.take(1.0)
                if new:
                    yield "".join(new).encode("utf-8", "replace")
                elif req.client_gone():
                    return
        finally:
            log.unfollow(follower)
    return Response.stream(200, chunks(), "text/plain; charset=utf-8")


@route("PUT", "/v1/clock")
def put_clock(req):
    # A guest restored from a saved state (a wake) resumes with the clock it had when it
    # was saved: the daemon sets it from the host's as soon as the agent answers.
    body = req.json()
    epoch_ms = body.get("epochMs") if isinstance(body, dict) else None
    if (not isinstance(epoch_ms, int) or isinstance(epoch_ms, bool) or not MIN_CLOCK_MS <= epoch_ms <= 2 ** 53
            or set(body) != {"epochMs"}):
        raise ApiError(400, "validation_failed", "epochMs must be an integer number of milliseconds since 1970 (after 2020)")
    before_ms = int(time.time() * 1000)
    try:
        SET_CLOCK(epoch_ms / 1000)
    except OSError as e:
        raise ApiError(500, "clock_failed", f"cannot set the clock: {e.strerror}") from e
    return Response.json(200, {"previousEpochMs": before_ms, "epochMs": epoch_ms})


@route("POST", "/v1/sync")
def post_sync(req):
    # Before the daemon saves a running guest for a backup: what the guest's page cache
    # still holds reaches its disk (a saved memory state keeps it, a disk copy would not).
    os.sync()
    return Response(204, content_type=None)


FORK_WATCH = None  # identity.ForkWatch armed for a fork of this VM (POST /v1/identity/watch)
FORK_WATCH_LOCK = threading.Lock()
FORK_WATCH_DEV = None  # the seed device; a module global so that tests can point it at a file


@route("POST", "/v1/identity/watch")
def arm_identity_watch(req):
    # Before the daemon captures this VM for a fork: the capture then holds a watcher that,
    # in the fork (restored with a seed of its own), takes on the fork's identity.
    global FORK_WATCH
    body = req.json()
    seconds = body.get("seconds") if isinstance(body, dict) else None
    if not isinstance(seconds, int) or isinstance(seconds, bool) or not 1 <= seconds <= 600 or set(body) != {"seconds"}:
        raise ApiError(400, "validation_failed", "seconds must be an integer from 1 to 600")
    import identity
    with FORK_WATCH_LOCK:
        if FORK_WATCH:
            FORK_WATCH.stop()
        FORK_WATCH = identity.ForkWatch(seconds, dev=FORK_WATCH_DEV)
        try:
            vm = FORK_WATCH.arm()
        except OSError as e:
            FORK_WATCH = None
            raise ApiError(500, "identity_watch_failed", f"cannot watch the seed disk: {e}") from e
    return Response.json(200, {"vmId": vm, "seconds": seconds})


@route("DELETE", "/v1/identity/watch")
def disarm_identity_watch(req):
    global FORK_WATCH
    with FORK_WATCH_LOCK:
        if FORK_WATCH:
            FORK_WATCH.stop()
        FORK_WATCH = None
    return Response(204, content_type=None)


@route("POST", "/v1/exec")
def exec_command(req):
    # A one-off command (`fcm run`): an HTTP Upgrade to a framed stream (oneoff.py says why).
    import oneoff
    if (req.headers.get("Upgrade") or "").strip().lower() != oneoff.PROTOCOL:
        raise ApiError(400, "validation_failed", f"send Connection: Upgrade and Upgrade: {oneoff.PROTOCOL}")
    argv, timeout_s = oneoff.validate(req.json(oneoff.MAX_ARGV_BYTES * 2))
    mgr = manager()
    oneoff.take_slot()
    try:
        user, cwd, env = oneoff.context(mgr, app_settings()[0])
    except BaseException:
        oneoff.release_slot()
        raise

    def session(rfile, sock):
        try:
            oneoff.Session(rfile, sock, argv, timeout_s, user, cwd, env).run()
        finally:
            oneoff.release_slot()
    return Response.upgrade(oneoff.PROTOCOL, session, oneoff.release_slot)


@route("POST", "/v1/console/resize")
def console_resize(req):
    body = req.json()
    rows, cols = (body.get("rows"), body.get("cols")) if isinstance(body, dict) else (None, None)
    for name, value in (("rows", rows), ("cols", cols)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 1000:
            raise ApiError(400, "validation_failed", f"{name} must be an integer from 1 to 1000")
    import fcntl
    import struct
    import termios
    fd = os.open(CONSOLE_TTY, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        # the kernel sends SIGWINCH to the tty's foreground process group on a change
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    finally:
        os.close(fd)
    return Response(204, content_type=None)


def authorized(headers, token):
    if not token:
        return False
    scheme, _, given = (headers.get("Authorization") or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


# ---------------------------------------------------------------- HTTP plumbing

class Handler(RequestHandler):  # http.server's, with a lighter request parser (leanhttp.py)
    server_version = "fcm-agent/" + VERSION
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: an answer is written as its headers, then its body; with Nagle on, the body
    # waited for the client's ACK of the headers, which Linux delays (40 ms and more, 100-160 ms
    # was seen on a first answer after a create).
    disable_nagle_algorithm = True

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def dispatch(self):
        req = None
        try:
            req = Request(self)
            found, req.params, allowed = find_route(req.method, req.path)
            if not (found and found.public) and not authorized(req.headers, self.server.current_token()):
                resp = Response.problem(401, "unauthorized", "missing or wrong agent token")
                resp.headers["WWW-Authenticate"] = "Bearer"
            elif found is None:
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
        if req is None or not req.body.done:
            # the request body may be unread: do not parse it as the next request
            resp.headers["Connection"] = "close"
            self.close_connection = True
        self.send(resp)

    def send(self, resp):
        if resp.session is not None:
            return self.switch_protocols(resp)
        self.send_response(resp.status)
        if resp.content_type:
            self.send_header("Content-Type", resp.content_type)
        for name, value in resp.headers.items():
            self.send_header(name, value)
        if resp.chunks is None:
            if resp.status != 204:
                self.send_header("Content-Length", str(len(resp.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(resp.body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Accel-Buffering", "no")
        self.end_headers()
        try:
            for chunk in resp.chunks:
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client went away; the generator's cleanup runs on close
            self.close_connection = True
        finally:
            close = getattr(resp.chunks, "close", None)
            if close:
                close()

    def switch_protocols(self, resp):
        self.close_connection = True  # whatever the session does, no HTTP request follows it
        try:
            self.send_response(101)
            for name, value in resp.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.flush()
        except OSError:
            resp.abandon()
            return
        try:
            resp.session(self.rfile, self.connection)
        finally:
            try:  # wakes a session thread still reading the connection
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

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


def app_settings():
    """-> (public app port, address to probe a new web process on). Read per operation:
    a VM restored from a snapshot gets a new seed and address (identity.py)."""
    port = read_seed().get("port")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        port = 8000
    # readiness is checked on the VM's own address, where the redirect sends the host's
    # traffic: an app listening on 127.0.0.1 only would pass a loopback check and fail there
    probe = (read_boot_env().get("FCM_IP") or "").partition("/")[0] or "127.0.0.1"
    return port, probe


def start_app_side(**manager_options):
    """After the server listens (health answers ~0.5 s sooner under TCG): import the app
    side, then start the live release's processes. manager_options: for tests
    (releases.Manager's user, redirect)."""
    global MANAGER
    import applog
    import releases
    import storage
    app = storage.Storage(APP_DIR)
    MANAGER = releases.Manager(applog.AppLog(app.logs), app_settings, app, **manager_options)
    # Ready only after boot() has (re)started the live release: a restart or deploy that
    # arrived in between found boot() holding the operation lock and failed with 409
    # (the daemon applies config changed while the VM was stopped right at start).
    try:
        MANAGER.boot()
    finally:
        MANAGER_READY.set()


def serve(address, listening=None, **manager_options):
    """Serves until the process ends; listening(server) is called once it listens."""
    with Server(address, Handler) as server:
        if server.current_token() is None:
            print("fcm-agent: no agent token (no seed disk): only public routes answer", flush=True)
        print(f"fcm-agent {VERSION} listening on :{server.server_address[1]} at {uptime_s():.2f} s uptime", flush=True)
        if listening:
            listening(server)
        threading.Thread(target=start_app_side, kwargs=manager_options, name="app", daemon=True).start()
        server.serve_forever()


ADDR_NO_RANDOMIZE = 0x0040000


def randomize_children():
    """Clears ADDR_NO_RANDOMIZE from this process's personality (inittab starts it under setarch -R),
    so that the processes it starts (apps, builds, one-offs, shells) get their address layout
    randomized again; its own layout was fixed at its exec."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        cur = libc.personality(0xFFFFFFFF)
        if cur != -1 and cur & ADDR_NO_RANDOMIZE:
            libc.personality(cur & ~ADDR_NO_RANDOMIZE)
    except (OSError, AttributeError):
        pass


def main():
    randomize_children()
    serve(("0.0.0.0", int(read_boot_env().get("FCM_AGENT_PORT") or 7611)))


if __name__ == "__main__":
    main()
