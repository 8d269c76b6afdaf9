"""One-off commands (`fcm run`): the agent's `execCommand` operation.

Transport, and why: the daemon already reaches the agent over HTTP/1.1 on the VM's
tap, with the VM's bearer token; a one-off command needs stdin, stdout and stderr
streamed at once and its exit status at the end, which one HTTP request/response
cannot carry (the answer could start only after the body, and half-duplex proxies
aside, http.server reads a body before it answers). So the request is an HTTP
Upgrade (`Upgrade: fcm-exec.v1`): the JSON body says what to run; the agent either
refuses with an ordinary problem+json answer (bad argv, too many runs) or answers
101 and from then on the same TCP connection carries length-prefixed frames in both
directions. Same port, same token check, same tap as every other operation: no
second listener, no virtio-serial device to add to both hypervisors. The serial
console is not used: it is the user's interactive shell, and binary output would
have to be escaped through a terminal.

Frame: 1 byte type, 4 bytes big-endian payload length, payload (at most MAX_FRAME).
  host -> guest  STDIN (0x10) bytes | STDIN_EOF (0x11) empty | SIGNAL (0x12) ascii name
  guest -> host  STDOUT (0x01) bytes | STDERR (0x02) bytes | EXIT (0x03) JSON
                 {"code": int or null, "signal": name or null, "timedOut": bool}
The host's end of stdin is a frame, never a TCP half-close: the connection closing
(read end of file or an error) means the host is gone, and the command's process
group is killed (SIGHUP, then SIGKILL after KILL_GRACE_S), as when its deadline
passes. When the command itself exits, whatever is left of its process group is
killed too (a one-off leaves nothing behind), its output already in the pipes is
still sent, then EXIT, then the agent closes the connection.
"""

import json
import os
import select
import signal
import socket
import struct
import subprocess
import threading
import time

from apierror import ApiError

PROTOCOL = "fcm-exec.v1"
HEADER = struct.Struct(">BI")
T_STDOUT, T_STDERR, T_EXIT = 0x01, 0x02, 0x03
T_STDIN, T_STDIN_EOF, T_SIGNAL = 0x10, 0x11, 0x12
MAX_FRAME = 1 << 20  # what the agent accepts from the host in one frame
CHUNK = 1 << 16  # what it reads from a pipe (and sends) at once
MAX_RUNS = 4  # one-off commands at once per VM; more is 429 too_many_runs
MAX_ARGS = 256
MAX_ARGV_BYTES = 64 * 1024
MAX_TIMEOUT_S = 24 * 3600
KILL_GRACE_S = 2.0
SIGNALS = {"HUP": signal.SIGHUP, "INT": signal.SIGINT, "QUIT": signal.SIGQUIT, "TERM": signal.SIGTERM,
           "KILL": signal.SIGKILL, "USR1": signal.SIGUSR1, "USR2": signal.SIGUSR2}

_slots = threading.BoundedSemaphore(MAX_RUNS)


def validate(body):
    """The request body -> (argv, timeout_s); ApiError 400 otherwise."""
    if not isinstance(body, dict) or not set(body) <= {"argv", "timeoutSec"}:
        raise ApiError(400, "validation_failed", "the body is {\"argv\": [...], \"timeoutSec\": n}")
    argv, timeout = body.get("argv"), body.get("timeoutSec", 3600)
    if not isinstance(argv, list) or not 1 <= len(argv) <= MAX_ARGS:
        raise ApiError(400, "validation_failed", f"argv must be a list of 1 to {MAX_ARGS} strings")
    size = 0
    for a in argv:
        if not isinstance(a, str) or "\0" in a:
            raise ApiError(400, "validation_failed", "argv items must be strings without NUL")
        size += len(a.encode("utf-8", "surrogatepass")) + 1
    if not argv[0]:
        raise ApiError(400, "validation_failed", "argv[0] (the program) must not be empty")
    if size > MAX_ARGV_BYTES:
        raise ApiError(400, "validation_failed", f"argv is longer than {MAX_ARGV_BYTES} bytes")
    if not isinstance(timeout, int) or isinstance(timeout, bool) or not 1 <= timeout <= MAX_TIMEOUT_S:
        raise ApiError(400, "validation_failed", f"timeoutSec must be an integer from 1 to {MAX_TIMEOUT_S}")
    return argv, timeout


def take_slot():
    if not _slots.acquire(blocking=False):
        raise ApiError(429, "too_many_runs", f"{MAX_RUNS} one-off commands already run in this VM; wait for one to end")


def release_slot():
    _slots.release()


def context(manager, port):
    """-> (user, cwd, env) a one-off runs with: the app user, in the live release's
    directory with its environment (buildpack runtime, config vars, PORT) like its web
    process, DYNO=run.1; before any deploy, the user's home and the config vars."""
    import build
    user = manager.user()
    storage = manager.storage
    config = storage.load_env()
    meta = storage.current_meta()
    if meta:
        cwd = storage.release_dir(meta["version"])
        env = build.process_env(meta, config, user, cwd, "run", port, build.start_env(meta, storage.cache))
    else:
        cwd = user.pw_dir
        env = {"HOME": user.pw_dir, "USER": user.pw_name, "LOGNAME": user.pw_name, "SHELL": "/bin/sh",
               "LANG": "C.UTF-8", "PATH": "/usr/local/bin:/usr/bin:/bin"}
        env.update(config)
        env.update({"DYNO": "run.1", "PORT": str(port)})
    return user, cwd, env


def frame(kind, payload=b""):
    return HEADER.pack(kind, len(payload)) + payload


def read_frame(rfile):
    """-> (type, payload), or None at the end of the stream; ValueError on a bad frame."""
    head = rfile.read(HEADER.size)
    if not head:
        return None
    if len(head) < HEADER.size:
        raise ValueError("the connection ended inside a frame header")
    kind, size = HEADER.unpack(head)
    if size > MAX_FRAME:
        raise ValueError(f"a frame of {size} bytes (at most {MAX_FRAME})")
    payload = rfile.read(size) if size else b""
    if len(payload) < size:
        raise ValueError("the connection ended inside a frame")
    return kind, payload


class Session:
    def __init__(self, rfile, sock, argv, timeout_s, user, cwd, env):
        self.rfile, self.sock, self.argv, self.timeout_s = rfile, sock, argv, timeout_s
        self.user, self.cwd, self.env = user, cwd, env
        self.send_lock = threading.Lock()
        self.gone = threading.Event()
        self.proc = None

    def send(self, kind, payload=b""):
        if self.gone.is_set():
            return
        try:
            with self.send_lock:
                self.sock.sendall(frame(kind, payload))
        except OSError:
            self.gone.set()

    def killpg(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def host_gone(self):
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
            return bool(readable) and self.sock.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def pump_out(self, pipe, kind):
        fd = pipe.fileno()
        try:
            while True:
                data = os.read(fd, CHUNK)
                if not data:
                    return
                self.send(kind, data)
        except OSError:
            pass
        finally:
            pipe.close()

    def pump_in(self):
        stdin = self.proc.stdin
        try:
            while True:
                f = read_frame(self.rfile)
                if f is None:
                    break
                kind, payload = f
                if kind == T_STDIN and stdin is not None:
                    try:
                        stdin.write(payload)
                        stdin.flush()
                    except (BrokenPipeError, ValueError):
                        stdin = None  # the command closed its stdin; later input is dropped
                elif kind == T_STDIN_EOF and stdin is not None:
                    try:
                        stdin.close()
                    except OSError:
                        pass
                    stdin = None
                elif kind == T_SIGNAL:
                    sig = SIGNALS.get(payload.decode("ascii", "replace"))
                    if sig is not None:
                        self.killpg(sig)
        except (OSError, ValueError):
            pass
        self.gone.set()

    def spawn(self):
        return subprocess.Popen(
            self.argv, cwd=self.cwd, env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[],
            umask=0o022, start_new_session=True, close_fds=True, bufsize=0)

    def run(self):
        try:
            self.proc = self.spawn()
        except OSError as e:
            # as a shell would say it: 127 not found, 126 found but not runnable
            code = 127 if isinstance(e, FileNotFoundError) else 126
            self.send(T_STDERR, f"fcm: cannot run {self.argv[0]}: {e.strerror}\n".encode())
            self.send(T_EXIT, json.dumps({"code": code, "signal": None, "timedOut": False}).encode())
            return
        pumps = [threading.Thread(target=self.pump_out, args=(self.proc.stdout, T_STDOUT), daemon=True),
                 threading.Thread(target=self.pump_out, args=(self.proc.stderr, T_STDERR), daemon=True)]
        for t in pumps:
            t.start()
        threading.Thread(target=self.pump_in, daemon=True).start()
        deadline = time.monotonic() + self.timeout_s
        timed_out, hung_up = False, None
        while self.proc.poll() is None:
            try:
                self.proc.wait(0.25)
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if hung_up is None and (self.gone.is_set() or self.host_gone()):
                self.gone.set()
                hung_up = now
                self.killpg(signal.SIGHUP)
                self.killpg(signal.SIGCONT)  # a stopped process gets its SIGHUP too
            elif not timed_out and now >= deadline:
                timed_out = True
                self.killpg(signal.SIGKILL)
            if hung_up is not None and now - hung_up >= KILL_GRACE_S:
                self.killpg(signal.SIGKILL)
        # The leader is gone: so is whatever it left running (pipes already filled stay readable).
        self.killpg(signal.SIGKILL)
        for t in pumps:
            t.join(KILL_GRACE_S)  # a process that escaped the group (setsid) may hold a pipe open
        rc = self.proc.returncode
        if rc < 0:
            try:
                name = signal.Signals(-rc).name[3:]
            except ValueError:
                name = str(-rc)
            result = {"code": None, "signal": name, "timedOut": timed_out}
        else:
            result = {"code": rc, "signal": None, "timedOut": timed_out}
        self.send(T_EXIT, json.dumps(result).encode())
        if self.proc.stdin:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
