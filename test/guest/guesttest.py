"""Shared pieces of the guest's Python tests (stdlib unittest only).

The guest modules (rootfs/guest) run as root inside a VM, on /app, with nftables and
a serial console. Here they run on the host, so every such edge is replaced:
  - storage under a temporary directory (TempApp), never /app;
  - the app user is a throwaway uid with no passwd entry (ThrowawayUser), so that
    `kill_leftovers` and process cleanup can only ever hit this test's own processes;
  - the port switch is a recorder (Redirects), never nft;
  - the console is a pty, never /dev/ttyS0.
App processes run as another uid, which needs root: tests that start them call
need_root() and are skipped loudly otherwise (the test runner runs as root).
"""

import io
import os
import pwd
import shutil
import signal
import socket
import sys
import tarfile
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GUEST = os.path.join(ROOT, "rootfs", "guest")
if GUEST not in sys.path:
    sys.path.insert(0, GUEST)

IS_ROOT = os.geteuid() == 0


def need_root(test):
    """Skips (with the reason) unless root: app processes run as another uid."""
    return unittest.skipUnless(IS_ROOT, "needs root: the guest runs app processes as another uid")(test)


def uid_in_use(uid):
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            return True
                        break
        except (OSError, ValueError):
            pass
    return False


def free_uid():
    """A uid no account has and no process runs as (per test process)."""
    uid = 3_000_000 + os.getpid() % 1_000_000
    while True:
        try:
            pwd.getpwuid(uid)
        except KeyError:
            if not uid_in_use(uid):
                return uid
        uid += 1


class ThrowawayUser:
    """Stands in for releases.AppUser."""

    def __init__(self, home):
        uid = free_uid() if IS_ROOT else os.geteuid()
        gid = uid if IS_ROOT else os.getegid()
        os.makedirs(home, exist_ok=True)
        if IS_ROOT:
            os.chown(home, uid, gid)
        self.struct = pwd.struct_passwd(("fcmtest", "x", uid, gid, "fcm test app user", home, "/bin/sh"))

    def __call__(self):
        return self.struct

    def existing_uid(self):
        return self.struct.pw_uid

    def kill_all(self):
        """Kills every process of this uid (what a test leaves running)."""
        if not IS_ROOT:
            return
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
                    uid = next(int(line.split()[1]) for line in f if line.startswith("Uid:"))
                if uid == self.struct.pw_uid:
                    os.kill(int(pid), signal.SIGKILL)
            except (OSError, ValueError, StopIteration):
                pass


class Redirects:
    """Stands in for portswitch.set_redirect: records (public port, target port)."""

    def __init__(self):
        self.calls = []
        self.fail = None

    def __call__(self, public_port, target_port):
        if self.fail:
            raise RuntimeError(self.fail)
        self.calls.append((public_port, target_port))

    @property
    def target(self):
        return self.calls[-1][1] if self.calls else None


class TempApp:
    """A temporary app root (what /app is in the guest), traversable by the app user."""

    def __init__(self):
        import storage
        self.dir = tempfile.mkdtemp(prefix="fcm-guest-test-")
        os.chmod(self.dir, 0o755)
        self.storage = storage.Storage(os.path.join(self.dir, "app"))
        self.user = ThrowawayUser(os.path.join(self.dir, "home"))

    def cleanup(self):
        self.user.kill_all()
        shutil.rmtree(self.dir, ignore_errors=True)


class Body(io.BytesIO):
    """A request body as the agent hands it to an operation (agent.BodyReader)."""

    @property
    def done(self):
        return self.tell() >= len(self.getbuffer())

    def drain(self):
        self.read()


def tar_of(files, gz=False):
    """{name: str | bytes | ("symlink", target) | ("hardlink", target) | ("fifo",) | ("dir",) | (data, mode)} -> tar bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w", format=tarfile.USTAR_FORMAT) as tf:
        for name, entry in files.items():
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            data = None
            if isinstance(entry, tuple) and entry[0] == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, entry[1]
            elif isinstance(entry, tuple) and entry[0] == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, entry[1]
            elif isinstance(entry, tuple) and entry[0] == "fifo":
                info.type = tarfile.FIFOTYPE
            elif isinstance(entry, tuple) and entry[0] == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            else:
                data, mode = (entry if isinstance(entry, tuple) else (entry, 0o644))
                data = data.encode() if isinstance(data, str) else data
                info.size, info.mode = len(data), mode
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


# A web process for tests: answers on 127.0.0.1:$PORT (the probe host in these tests),
# never on a public address of the host.
WEB_APP = (
    "import http.server, os, time\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        if self.path == '/slow':\n"
    "            time.sleep(1)\n"
    "        body = ('release ' + os.environ['FCM_RELEASE'] + ' ' + os.environ.get('GREETING', '')).encode()\n"
    "        self.send_response(200)\n"
    "        self.send_header('Content-Length', str(len(body)))\n"
    "        self.end_headers()\n"
    "        self.wfile.write(body)\n"
    "    def log_message(self, *a):\n"
    "        pass\n"
    "print('listening on', os.environ['PORT'], flush=True)\n"
    "http.server.HTTPServer(('127.0.0.1', int(os.environ['PORT'])), H).serve_forever()\n"
)


def python_app(extra=None):
    files = {"app.py": WEB_APP, "Procfile": "web: /usr/bin/python3 app.py\n"}
    files.update(extra or {})
    return files


def lines_of(out, timeout=60):
    """All lines of an operations.Output once it has finished (the stream a client reads)."""
    if not out.finished.wait(timeout):
        raise AssertionError("the operation did not finish")
    return b"".join(out.stream()).decode().splitlines()


def exchange(address, data, shutdown=False, timeout=30):
    """Sends bytes as they are to (host, port) and reads the answer to the end (the server
    closes); `shutdown` ends the sending side first (a client that has nothing more to say)."""
    with socket.create_connection(address, timeout=timeout) as s:
        s.sendall(data)
        if shutdown:
            s.shutdown(socket.SHUT_WR)
        answer = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return answer
            answer += chunk


def eventually(fn, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def thread_names():
    return {t.name for t in threading.enumerate()}
