"""The app log: stdout/stderr of every app process plus the supervisor's and the
deployer's events, one bounded file on disk with live followers.

Line format (also the contract of GET /v1/logs):
    <ISO 8601 UTC time with ms> <source>: <text>
where <source> is `<type>[<index>]` for app output (`web[1]`, `worker[1]`) and
`fcm[<what>]` for events (`fcm[web.1]: Process exited with status 1`,
`fcm[release]: v5 is live`), like Heroku's `app[web.1]` / `heroku[web.1]`.

/app/logs/app.log is rotated to app.log.1 at 1 MiB (two files at most). Config var
values never reach this log from the agent itself; what the app prints is the app's.
"""

import collections
import os
import threading
import time

LOG_DIR = "/app/logs"
MAX_BYTES = 1 << 20
MAX_LINE = 8192          # longer lines are cut (a runaway line must not eat the log)
FOLLOW_BACKLOG = 10000   # lines buffered per slow follower before the oldest are dropped


def iso_now():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % (int(t * 1000) % 1000)


def clean(text):
    """One display line: progress redraws (\\r) keep their last state, no trailing blanks."""
    if "\r" in text:
        parts = [p for p in text.split("\r") if p.strip()]
        text = parts[-1] if parts else ""
    text = text.rstrip()
    return text[:MAX_LINE]


class Follower:
    def __init__(self):
        self.lines = collections.deque(maxlen=FOLLOW_BACKLOG)
        self.ready = threading.Event()

    def take(self, timeout):
        """Waits up to timeout for lines; returns the list (possibly empty)."""
        if not self.lines:
            self.ready.wait(timeout)
        self.ready.clear()
        out = []
        while self.lines:
            out.append(self.lines.popleft())
        return out


class AppLog:
    def __init__(self, directory=LOG_DIR):
        self.dir = directory
        self.path = os.path.join(directory, "app.log")
        self.lock = threading.Lock()
        self.followers = set()
        self.fd = None

    def _open(self):
        os.makedirs(self.dir, mode=0o750, exist_ok=True)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)

    def write(self, source, text):
        stamp = iso_now()
        lines = [f"{stamp} {source}: {clean(t)}\n" for t in text.split("\n")]
        data = "".join(lines).encode("utf-8", "replace")
        with self.lock:
            try:
                if self.fd is None:
                    self._open()
                os.write(self.fd, data)
                if os.fstat(self.fd).st_size > MAX_BYTES:
                    os.close(self.fd)
                    self.fd = None
                    os.replace(self.path, self.path + ".1")
            except OSError:
                pass  # a full disk must not take the supervisor down
            for f in self.followers:
                f.lines.extend(lines)
                f.ready.set()

    def event(self, what, text):
        self.write(f"fcm[{what}]", text)

    def _tail(self, n):
        if n <= 0:
            return []
        chunks = []
        for path in (self.path + ".1", self.path):
            try:
                with open(path, "rb") as f:
                    chunks.append(f.read())
            except OSError:
                pass
        lines = b"".join(chunks).decode("utf-8", "replace").splitlines(keepends=True)
        return lines[-n:]

    def tail(self, n):
        with self.lock:
            return self._tail(n)

    def follow(self, n):
        """Registers a follower; returns (follower, last n lines) without gaps or repeats."""
        f = Follower()
        with self.lock:
            backlog = self._tail(n)
            self.followers.add(f)
        return f, backlog

    def unfollow(self, f):
        with self.lock:
            self.followers.discard(f)
