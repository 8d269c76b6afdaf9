"""Supervised app processes.

A Proc is one Procfile entry of one release: `/bin/sh -c <command>` as the app user
(plain commands are exec'd without the shell, with the same argv: direct_argv), in its
own session (so stopping it signals the whole process group), stdout+stderr into the
app log as `<type>[<index>]`; a web Proc's first start may instead take a Python
interpreter or Node.js process started ahead of it (prestart.py), and under QEMU TCG any
other start of `node <script>` runs through one started then (prestart.start_now: the V8
flags a taken one has). A Formation is all Procs of one release run.

States: starting (web: until its port accepts connections), up, crashed (exited;
a candidate that is not yet supervised stays here), backoff (waiting to restart),
stopped. Once promoted (supervised), a Proc that exits is restarted after 1 s, 2 s,
4 s ... up to 30 s; a run that lasted a minute resets the delay to 1 s.
"""

import collections
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

from applog import clean

BACKOFF_MIN_S = 1
BACKOFF_MAX_S = 30
STABLE_S = 60


def kill_group(pid, sig):
    try:
        os.killpg(pid, sig)
        return True
    except OSError:
        return False


# Characters that mean nothing to the shell inside a word (no quoting, globbing,
# expansion, redirection, comments, tilde, assignments at the start are checked apart).
_PLAIN = re.compile(r"[A-Za-z0-9_./:=@%+,-]+")
_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_SHELL_WORDS = {"exec", "command", "builtin", "cd", "export", "set", "unset", "eval", "ulimit", "umask",
                "trap", "wait", "read", "readonly", "shift", "times", "type", "hash", "alias", ".", "source"}


def direct_argv(command, env, cwd):
    """The argv that `/bin/sh -c command` would run, when the command is plain words
    and $NAME / ${NAME} expansions whose values are plain words too (what Procfile
    lines mostly are: `python3 app.py`, `bundle exec rackup -p $PORT`), and the
    program is found on the process's PATH; else None, and the shell runs it.
    Exec'ing it directly saves a shell per start (dash stays as the parent: ~50 ms
    of CPU under TCG, and one process)."""
    argv = []
    for word in command.split():
        def value(m):
            v = env.get(m.group(1) or m.group(2))
            if not v or not _PLAIN.fullmatch(v):  # empty, unset, or field splitting/globbing would apply
                raise ValueError
            return v
        try:
            expanded = _VAR.sub(value, word)
        except ValueError:
            return None
        if not _PLAIN.fullmatch(_VAR.sub("x", word)) or not _PLAIN.fullmatch(expanded):
            return None
        argv.append(expanded)
    if not argv or _ASSIGNMENT.match(argv[0]) or argv[0] in _SHELL_WORDS:
        return None
    if "/" in argv[0]:
        found = os.path.isfile(os.path.join(cwd, argv[0]))
    else:
        found = shutil.which(argv[0], path=env.get("PATH", os.defpath)) is not None
    return argv if found else None  # else the shell's own words (and its "not found") decide


PROBE_FAST_S, PROBE_FAST_FOR_S, PROBE_S = 0.02, 2.0, 0.1


def port_open(host, port, timeout=1.0):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class Proc:
    def __init__(self, log, ptype, index, command, cwd, env, user, port=None, probe_host="127.0.0.1",
                 release=None):
        self.log, self.type, self.index, self.command = log, ptype, index, command
        self.cwd, self.env, self.user, self.port, self.probe_host = cwd, env, user, port, probe_host
        self.release = release
        self.label = f"{ptype}[{index}]"
        self.source = f"{ptype}.{index}"
        self.cond = threading.Condition()
        self.wake = threading.Event()
        self.state = "starting"
        self.popen = None
        self.restarts = 0
        self.exit_status = None
        self.supervised = False
        self.stopping = False
        self.recent = collections.deque(maxlen=40)
        self.thread = None
        self.started_at = None
        self.standby = None  # a prestart.Standby that fits this process's first start, if any

    # ------------------------------------------------------------ lifecycle

    def start(self):
        self.thread = threading.Thread(target=self._run, name=f"proc-{self.label}", daemon=True)
        self.thread.start()

    def promote(self):
        """From candidate to live: from now on an exit means a restart."""
        with self.cond:
            self.supervised = True
            self.cond.notify_all()

    def signal_stop(self):
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
            popen = self.popen
        self.wake.set()
        if popen is not None and popen.poll() is None:
            kill_group(popen.pid, signal.SIGTERM)

    def join(self, deadline):
        """Waits for the process until the monotonic deadline, then kills its group."""
        popen = self.popen
        if popen is not None:
            try:
                popen.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.log.event(self.source, "Stopping process with SIGKILL (did not exit after SIGTERM)")
                kill_group(popen.pid, signal.SIGKILL)
                popen.wait()
        if self.thread is not None:
            self.thread.join(5)

    def wait_ready(self, timeout):
        """For a web candidate: 'up', 'exited' or 'timeout'."""
        with self.cond:
            self.cond.wait_for(lambda: self.state in ("up", "crashed") or self.stopping, timeout)
            if self.state == "up":
                return "up"
            return "exited" if self.state == "crashed" else "timeout"

    def snapshot(self):
        popen = self.popen
        return {"type": self.type, "index": self.index, "command": self.command,
                "pid": popen.pid if popen is not None and popen.poll() is None else None,
                "state": self.state, "restarts": self.restarts, "port": self.port,
                "release": self.release}

    # ------------------------------------------------------------ supervision

    def _spawn(self):
        what = f"Starting process with command `{self.command}`"
        if self.port:
            what += f" (PORT={self.port})"
        argv = direct_argv(self.command, self.env, self.cwd)
        popen = None
        standby, self.standby = self.standby, None  # first start only: restarts start as usual
        if standby is not None:
            popen = standby.take(argv, self.cwd, self.env) if argv else None
            if popen is None:
                standby.stop()
            else:
                what += f" in the {standby.noun} started ahead of it"
        elif argv:
            from prestart import start_now  # (here: prestart imports this module)
            popen = start_now(self, argv)
        self.log.event(self.source, what)
        if popen is None:
            popen = subprocess.Popen(
                argv or ["/bin/sh", "-c", self.command], cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, user=self.user.pw_uid,
                group=self.user.pw_gid, extra_groups=[], umask=0o022, start_new_session=True, close_fds=True)
        with self.cond:
            self.popen = popen
            self.started_at = time.monotonic()
            self._set_state("starting" if self.port else "up")
            if self.stopping:  # stop() raced with a restart
                kill_group(popen.pid, signal.SIGTERM)
        reader = threading.Thread(target=self._read, args=(popen,), name=f"out-{self.label}", daemon=True)
        reader.start()
        if self.port:
            threading.Thread(target=self._probe, args=(popen,), name=f"probe-{self.label}", daemon=True).start()
        return popen, reader

    def _read(self, popen):
        for raw in popen.stdout:
            line = clean(raw.decode("utf-8", "replace"))
            self.recent.append(line)
            self.log.write(self.label, line)
        popen.stdout.close()

    def _probe(self, popen):
        """Sets "up" once the port accepts connections: checked every 20 ms for the first 2 s
        (a start taken from a process started ahead, prestart.py, listens a few hundred ms
        after it begins: a 100 ms step was up to a third of that), then every 100 ms."""
        begun = time.monotonic()
        while popen.poll() is None and not self.stopping:
            if port_open(self.probe_host, self.port, 0.5):
                with self.cond:
                    if self.popen is popen and self.state == "starting":
                        self._set_state("up")
                return
            time.sleep(PROBE_FAST_S if time.monotonic() - begun < PROBE_FAST_FOR_S else PROBE_S)

    def _set_state(self, state):  # with self.cond held
        if state != self.state and state != "starting":
            self.log.event(self.source, f"State changed from {self.state} to {state}")
        self.state = state
        self.cond.notify_all()

    def _run(self):
        delay = 0
        while True:
            with self.cond:
                if self.stopping:
                    self.state = "stopped"
                    self.cond.notify_all()
                    return
            try:
                popen, reader = self._spawn()
            except OSError as e:
                self.log.event(self.source, f"Cannot start: {e.strerror or e}")
                rc, ran = 127, 0.0
                with self.cond:
                    self.started_at = time.monotonic()
            else:
                rc = popen.wait()
                ran = time.monotonic() - self.started_at
                kill_group(popen.pid, signal.SIGKILL)  # leftovers of the group must not keep the port
                reader.join(2)
            with self.cond:
                self.exit_status = rc
                if self.stopping:
                    self.log.event(self.source, _exit_text(rc))
                    self.state = "stopped"
                    self.cond.notify_all()
                    return
                self.log.event(self.source, _exit_text(rc))
                self._set_state("crashed")
                while not self.supervised and not self.stopping:
                    self.cond.wait()
                if self.stopping:
                    self.state = "stopped"
                    self.cond.notify_all()
                    return
                delay = BACKOFF_MIN_S if delay == 0 or ran >= STABLE_S else min(delay * 2, BACKOFF_MAX_S)
                self._set_state("backoff")
            self.log.event(self.source, f"Restarting in {delay} s")
            self.wake.wait(delay)
            self.wake.clear()
            with self.cond:
                if self.stopping:
                    continue
                self.restarts += 1


def _exit_text(rc):
    if rc is None:
        return "Process exited"
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = str(-rc)
        return f"Process killed by {name}"
    return f"Process exited with status {rc}"


class Formation:
    """All processes of one release run."""

    def __init__(self, release, procs):
        self.release = release
        self.procs = procs
        self.web = next((p for p in procs if p.type == "web"), None)

    def ports(self):
        return {p.port for p in self.procs if p.port}

    def start(self):
        for p in self.procs:
            p.start()

    def promote(self):
        for p in self.procs:
            p.promote()

    def stop(self, grace_s=10):
        for p in self.procs:
            p.signal_stop()
        deadline = time.monotonic() + grace_s
        for p in self.procs:
            p.join(deadline)

    def web_state(self):
        if self.web is None:
            return "none"
        return "up" if self.web.state == "up" else "down"

    def status(self):
        return [p.snapshot() for p in self.procs]
