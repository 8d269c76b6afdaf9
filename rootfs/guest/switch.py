"""Switching releases with zero downtime, and the live release's processes.

The new release's processes start beside the live ones; its web process gets a fresh
internal port (18000-18999) as PORT. Once that accepts connections on the VM's
address, one nftables transaction points the public port (the seed's `port`, 8000)
at it (portswitch.py). Connections already open stay with the old process, new ones
go to the new one; during a short drain the old process's kept-alive connections that
the client uses again are closed once that answer is out (drain.py), then the old release's processes get
SIGTERM, and SIGKILL 10 s later. If the new web process exits or does not listen within 60 s,
it is killed and the old release is left untouched.

The caller holds the operation lock (operations.py) around launch() and start_live().
"""

import socket
import sys
import threading
import time

from build import PROCESS_TYPE, process_env, start_env
from buildpacks import INDENT, BuildError
from drain import drain, family, received
from prestart import Standby
from supervisor import Formation, Proc, port_open

START_TIMEOUT_S = 60
DRAIN_S = 2
STOP_GRACE_S = 10
PORT_BASE = 18000
PORT_SPAN = 1000


def ms(seconds):
    return int(seconds * 1000)


class Switcher:
    def __init__(self, storage, log, user, redirect):
        self.storage = storage
        self.log = log
        self.user = user          # () -> pwd struct of the app user
        self.redirect = redirect  # (public port, web port or None): portswitch.set_redirect
        self.public_port, self.probe_host = 8000, "127.0.0.1"
        self.live = None          # Formation of the live release
        self.live_meta = None
        self.nft_ready = threading.Event()
        self.standby = None       # prestart.Standby for the live web command's next run
        self._standby_thread = None

    def live_version(self):
        meta = self.live_meta
        return meta["version"] if meta else None

    def prepare_nft(self):
        """Creates the (empty) redirect table early in a deploy: loading conntrack before
        the switch means connections opened during the build are tracked, not picked up
        mid-stream and NATed. Runs once per boot."""
        if self.nft_ready.is_set():
            return
        try:
            self.redirect(self.public_port, self.live.web.port if self.live and self.live.web else None)
            self.nft_ready.set()
        except Exception as e:  # the switch will retry and report
            print(f"fcm-agent: preparing nftables: {e}", file=sys.stderr, flush=True)

    def formation(self, meta, env, taken):
        user = self.user()
        version = meta["version"]
        rdir = self.storage.release_dir(version)
        procs = []
        extra = start_env(meta, self.storage.cache)
        for ptype, command in meta["processes"].items():
            if not PROCESS_TYPE.match(ptype):
                continue
            port = self.free_port(version, taken) if ptype == "web" else None
            procs.append(Proc(self.log, ptype, 1, command, rdir, process_env(meta, env, user, rdir, ptype, port, extra),
                              user, port, self.probe_host, version))
        return Formation(version, procs)

    def start_live(self, meta, env):
        """At agent start: run the release that `current` names and point the public port
        at it (no previous processes to wait for or retire)."""
        formation = self.formation(meta, env, set())
        self.log.event("release", f"Starting v{meta['version']} (agent start)")
        formation.start()
        formation.promote()
        self.live, self.live_meta = formation, meta
        self.redirect(self.public_port, formation.web.port if formation.web else None)
        self.nft_ready.set()
        self.prestart(formation)

    def launch(self, meta, env, out, timings, later=None):
        """Starts `meta`'s processes beside the live ones and switches to them once web
        answers; raises BuildError (start_failed, switch_failed) leaving the live release
        untouched. Then the interpreter for the next run is started (prestart) through
        `later` (operations.Output.after: once the result is out, as its fork and first
        steps would take the CPU the answer needs), or at once."""
        t_start = time.monotonic()
        old = self.live
        formation = self.formation(meta, env, old.ports() if old else set())
        self.attach_standby(formation)
        for p in formation.procs:
            out.emit(f"-----> Starting: {p.command}" if p.type == "web" else f"-----> Starting {p.type}: {p.command}")
        formation.start()
        web = formation.web
        if web is not None:
            state = self.wait_web(web)
            if state != "up":
                formation.stop(grace_s=3)
                recent = [line for line in web.recent if line][-20:]
                if recent:
                    out.emit("-----> Last output of the web process:")
                    for line in recent:
                        out.emit(INDENT + line)
                raise BuildError("start_failed", start_failure(state, web.exit_status))
            out.emit(f"-----> web is up after {time.monotonic() - t_start:.1f} s")
        timings["startMs"] = ms(time.monotonic() - t_start)
        t_switch = time.monotonic()
        previous = old_web(old)
        since = None
        if previous is not None:
            # What each of its connections had received before the switch: the drain closes only
            # those asked again after it (an answer still being streamed looks idle; drain.py).
            # Taken before the redirect, so no request after the switch is counted in it.
            try:
                since = received(previous.port, family(previous.popen.pid))
            except Exception as e:  # the drain then closes nothing
                print(f"fcm-agent: reading the old release's connections: {e}", file=sys.stderr, flush=True)
        try:
            self.redirect(self.public_port, web.port if web else None)
            self.nft_ready.set()
        except Exception as e:
            formation.stop(grace_s=3)
            raise BuildError("switch_failed", f"could not switch port {self.public_port}: {e}") from None
        self.storage.point_current(meta["version"])
        self.live, self.live_meta = formation, meta
        formation.promote()
        timings["switchMs"] = ms(time.monotonic() - t_switch)
        if web:
            out.emit(f"-----> Port {self.public_port} now goes to v{meta['version']}")
        if old is not None:
            threading.Thread(target=self.retire, args=(old, since), name="retire", daemon=True).start()
        (later or _now)(lambda: self.prestart(formation))

    def attach_standby(self, formation):
        """Gives the interpreter started ahead (if any) to the new web process when it
        fits its first start (prestart.py); else stops it."""
        if self._standby_thread is not None:
            self._standby_thread.join()
            self._standby_thread = None
        standby, self.standby = self.standby, None
        if standby is None:
            return
        if formation.web is not None and standby.fits(formation.web):
            formation.web.standby = standby
        else:
            standby.stop()

    def prestart(self, formation):
        """Starts, in the background, an interpreter for the next run of the live web
        command when that is a Python or Node.js script (prestart.py). A failure only
        costs the speed-up."""
        web = formation.web
        if web is None:
            return

        def run():
            try:
                standby = Standby.for_proc(web)
                if standby is not None:
                    self.standby = standby.start(
                        lambda: self.log.event(web.source, f"A {standby.what} for the next start is ready"))
            except Exception as e:
                print(f"fcm-agent: starting an interpreter ahead: {e}", file=sys.stderr, flush=True)
        self._standby_thread = threading.Thread(target=run, name="prestart", daemon=True)
        self._standby_thread.start()

    def wait_web(self, web):
        """'up', 'exited', 'timeout', or 'loopback' (listening on 127.0.0.1 only for 3 s)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        loopback_since = None
        while True:
            left = deadline - time.monotonic()
            state = web.wait_ready(min(1.0, max(left, 0)))
            if state != "timeout" or left <= 0:
                return state
            if self.probe_host != "127.0.0.1" and port_open("127.0.0.1", web.port, 0.2):
                loopback_since = loopback_since or time.monotonic()
                if time.monotonic() - loopback_since >= 3:
                    return "loopback"

    def retire(self, old, since=None):
        """Requests already on their way to the old process finish (up to DRAIN_S), while
        its kept-alive connections that are asked again after the switch are closed once
        idle (drain.py; `since`: what they had received at the switch), then its processes
        are stopped."""
        web = old_web(old)
        if web is not None:
            drain(web.port, web.popen.pid, DRAIN_S, since)
        else:
            time.sleep(DRAIN_S)
        self.log.event("release", f"Stopping the processes of the previous run of v{old.release}")
        old.stop(grace_s=STOP_GRACE_S)

    def free_port(self, version, taken):
        start = version % PORT_SPAN
        for i in range(PORT_SPAN):
            port = PORT_BASE + (start + i) % PORT_SPAN
            if port in taken or port == self.public_port:
                continue
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("0.0.0.0", port))
                except OSError:
                    continue
            taken.add(port)
            return port
        raise BuildError("start_failed", "no free internal port")


def _now(fn):
    fn()


def old_web(formation):
    """The web Proc of a formation being replaced, if it has a process and a port."""
    web = formation.web if formation is not None else None
    popen = web.popen if web is not None and web.port else None
    return web if popen is not None and popen.poll() is None else None


def start_failure(state, exit_status):
    """The one-line reason a new web process did not take over."""
    if state == "exited":
        how = (f"was killed by signal {-exit_status}" if exit_status is not None and exit_status < 0
               else f"exited with status {exit_status}")
        return f"the web process {how} before it listened on $PORT"
    if state == "loopback":
        return "the web process listens on 127.0.0.1 only, where the host cannot reach it: listen on 0.0.0.0:$PORT"
    return f"the web process did not listen on $PORT within {START_TIMEOUT_S} s"
