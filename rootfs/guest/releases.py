"""Releases: the app operations behind the agent's routes, composed from
    operations.py  the operation lock and the streamed output (one operation at a time)
    storage.py     where releases, config vars and caches live (/app)
    build.py       receive a pushed tree and build it into a release
    switch.py      start a release beside the live one and switch the public port to it

deploy    = receive (while the request waits) + build + switch
activate  = switch to a kept release (rollback)
restart   = switch to the live release again (new config vars)
boot      = start the live release when the agent starts
"""

import os
import pwd
import subprocess
import threading
import time

import build
import untar
from apierror import ApiError
from buildpacks import BuildError
from operations import ERROR, Done, Runner
from storage import KEEP_RELEASES
from switch import Switcher, ms

APP_USER = "app"


class AppUser:
    """The unprivileged user the app runs as, created on first use (not at image build
    time); locked, no password."""

    def __init__(self, name=APP_USER):
        self.name = name
        self._user = None

    def __call__(self):
        if self._user is None:
            try:
                self._user = pwd.getpwnam(self.name)
            except KeyError:
                subprocess.run(["/usr/sbin/useradd", "--system", "--user-group", "--create-home",
                                "--home-dir", f"/home/{self.name}", "--shell", "/usr/sbin/nologin",
                                "--comment", "fcm app processes", self.name], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                self._user = pwd.getpwnam(self.name)
        return self._user

    def existing_uid(self):
        """The user's uid if it exists (without creating it), else None."""
        try:
            return pwd.getpwnam(self.name).pw_uid
        except KeyError:
            return None


class Manager:
    def __init__(self, log, settings, storage, user=None, redirect=None, proc_dir="/proc"):
        """log: applog.AppLog; settings: () -> (public port, probe host), read per
        operation; storage: storage.Storage; user: AppUser-like; redirect:
        portswitch.set_redirect-like (tests pass fakes for both)."""
        if redirect is None:
            from portswitch import set_redirect as redirect
        self.log = log
        self.settings = settings
        self.storage = storage
        self.user = user or AppUser()
        self.proc_dir = proc_dir
        self.ops = Runner()
        self.switch = Switcher(storage, log, self.user, redirect)

    # ------------------------------------------------------------ state for the API

    def health(self):
        live, meta = self.switch.live, self.switch.live_meta
        return {"release": meta["version"] if meta else None,
                "web": live.web_state() if live else "none"}

    def status(self):
        live, meta = self.switch.live, self.switch.live_meta
        return {"release": meta["version"] if meta else None,
                "commit": meta.get("commit") if meta else None,
                "deployInProgress": self.ops.busy(),
                "processes": live.status() if live else []}

    def refresh_settings(self):
        self.switch.public_port, self.switch.probe_host = self.settings()

    # ------------------------------------------------------------ boot

    def boot(self):
        """At agent start: restart the live release's processes (after a VM boot, or
        after the agent itself was restarted) and point the public port at them."""
        self.refresh_settings()
        self.kill_leftovers()
        self.storage.empty_trash_later()
        meta = self.storage.current_meta()
        if meta is None:
            return

        def work(out, _):
            self.switch.start_live(meta, self.storage.load_env())
            return {"ok": True, "release": meta["version"]}
        self.ops.start("boot", work, wait_for_lock=True).finished.wait()

    def kill_leftovers(self):
        """Processes of the app user still running when the agent starts belong to an
        agent that died: their output pipes are gone, so they are stopped and started
        fresh."""
        uid = self.user.existing_uid()
        if uid is None:
            return
        killed = 0
        for pid in os.listdir(self.proc_dir):
            if not pid.isdigit():
                continue
            try:
                with open(f"{self.proc_dir}/{pid}/status", encoding="ascii", errors="replace") as f:
                    for line in f:
                        if line.startswith("Uid:"):
                            if int(line.split()[1]) == uid:
                                os.kill(int(pid), 9)
                                killed += 1
                            break
            except (OSError, ValueError):
                pass
        if killed:
            self.log.event("release", f"Agent restarted: stopped {killed} leftover app processes")

    # ------------------------------------------------------------ operations

    def deploy(self, version, commit, body):
        """POST /v1/releases/<version>: receives the tree (reading `body`) before the
        answer starts, then builds and switches while it streams."""
        t0 = time.monotonic()

        def receive(out):
            self.refresh_settings()
            live = self.switch.live_version()
            if live == version:
                raise ApiError(409, "release_exists", f"v{version} is the live release")
            user = self.user()
            self.storage.layout()
            nft = threading.Thread(target=self.switch.prepare_nft, name="nft", daemon=True)
            nft.start()
            self.storage.new_release(version, user, live)
            try:
                files, size = build.receive(self.storage, version, body, user, live)
            except (untar.ArchiveError, OSError) as e:
                body.drain()
                if isinstance(e, untar.ArchiveError):
                    code, error = "invalid_archive", f"the pushed tree was refused: {e}"
                else:  # ENOSPC and the like
                    code, error = "build_failed", f"could not write the release: {e.strerror or e}"
                out.emit(f"{ERROR}{error}")
                return Done({"ok": False, "code": code, "error": error})
            return files, size, time.monotonic(), nft

        def work(out, received):
            files, size, t_received, nft = received
            timings = {"receiveMs": ms(t_received - t0)}
            what = f", commit {commit[:7]}" if commit else ""

            def run():
                out.emit(f"-----> Received {files} files ({human_bytes(size)}){what}")
                self.log.event("release", f"Building v{version}{what}")
                t_build = time.monotonic()
                meta = build.build(self.storage, version, commit, self.user(), self.storage.load_env(), out.emit,
                                   self.switch.public_port)
                timings["buildMs"] = ms(time.monotonic() - t_build)
                nft.join()
                return meta
            return self._switch_to(out, "deploy", version, run, t0, timings)

        return self.ops.start(f"deploy-v{version}", work, prepare=receive)

    def activate(self, version):
        """POST /v1/releases/<version>/activate (rollback)."""
        def prepare(out):
            meta = self.storage.read_meta(version)
            if meta is None:
                raise ApiError(404, "release_not_found",
                               f"v{version} is not on this VM (the last {KEEP_RELEASES} are kept)")
            return meta

        def work(out, meta):
            return self._switch_to(out, "activate", version, lambda: self._announce(out, "Activating", meta),
                                   time.monotonic(), {})
        return self.ops.start(f"activate-v{version}", work, prepare=prepare)

    def restart(self):
        """POST /v1/restart."""
        def prepare(out):
            meta = self.switch.live_meta
            if meta is None:
                out.emit("-----> Nothing deployed yet; nothing to restart")
                return Done({"ok": True, "release": None, "buildpack": "none", "processes": {}})
            return meta

        def work(out, meta):
            return self._switch_to(out, "restart", meta["version"], lambda: self._announce(out, "Restarting", meta),
                                   time.monotonic(), {})
        return self.ops.start("restart", work, prepare=prepare)

    def _announce(self, out, verb, meta):
        commit = meta.get("commit")
        out.emit(f"-----> {verb} v{meta['version']}" + (f" (commit {commit[:7]})" if commit else "")
                 + " with the current config vars")
        return meta

    def _switch_to(self, out, kind, version, get_meta, t0, timings):
        """Gets the release's metadata (building it for a deploy), switches to it, and
        turns the outcome into the operation's result."""
        try:
            self.refresh_settings()
            meta = get_meta()
            self.switch.launch(meta, self.storage.load_env(), out, timings, later=out.after)
            total = time.monotonic() - t0
            timings["totalMs"] = ms(total)
            parts = ", ".join(f"{k[:-2]} {v / 1000:.1f} s" for k, v in timings.items() if k != "totalMs")
            out.emit(f"-----> v{version} is live in {total:.1f} s ({parts})")
            self.log.event("release", f"v{version} is live ({kind}, {total:.1f} s)")
            # Nobody waits for it: it runs once the result is out (operations.py).
            out.after(lambda: self.storage.gc(self.switch.live_version()))
            return {"ok": True, "release": version, "buildpack": meta["buildpack"],
                    "processes": meta["processes"], "timingsMs": timings}
        except BuildError as e:
            if kind == "deploy":
                self.storage.discard(version, self.switch.live_version())
            out.emit(f"{ERROR}{e.message}")
            if self.switch.live_meta:
                out.emit(f"{ERROR}v{self.switch.live_meta['version']} is still live")
            self.log.event("release", f"{kind} of v{version} failed: {e.message}")
            return {"ok": False, "code": e.code, "error": e.message}
        except Exception:
            if kind == "deploy":
                self.storage.discard(version, self.switch.live_version())
            raise  # the runner reports it as `internal`


def human_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
