"""Releases: receive, build, start beside the live one, switch the public port, retire
the old one. The agent's routes call into one Manager.

Layout (all on the VM's root overlay, so it survives stop/start):
    /app/env.json            config vars, root 0600 (values never logged)
    /app/releases/v<N>/      the release tree, owned by the app user
    /app/releases/v<N>.json  release metadata, root-owned: commit, buildpack, process
                             commands, PATH/env of its runtime, cache entries it uses
    /app/current             -> releases/v<N>, the live release (its existence also
                             sends the placeholder page away)
    /app/cache/<kind>/<key>  dependencies (see buildpacks.py)
    /app/logs/app.log        the app log (see applog.py)
    /app/trash/              what garbage collection deletes in the background

Zero downtime: the new release's web process gets a fresh internal port (18000-18999)
as PORT; once it accepts connections on the VM's address, one nftables transaction
points the public port (the seed's `port`, 8000) at it (portswitch.py). Connections
already open stay with the old process, new ones go to the new one. The old release's processes
get SIGTERM after a short drain and SIGKILL 10 s later. If the new web process exits
or does not listen within 60 s, it is killed and the old release is left untouched.
"""

import json
import os
import pwd
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import traceback

import buildpacks
import untar
from apierror import ApiError
from buildpacks import INDENT, BuildError
from portswitch import set_redirect
from supervisor import Formation, Proc, port_open

APP_DIR = "/app"
RELEASES = "/app/releases"
CURRENT = "/app/current"
ENV_FILE = "/app/env.json"
TRASH = "/app/trash"
APP_USER = "app"
KEEP_RELEASES = 5
START_TIMEOUT_S = 60
DRAIN_S = 2
STOP_GRACE_S = 10
PORT_BASE = 18000
PORT_SPAN = 1000

ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
PROCESS_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
PROCFILE_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_-]{0,62})[ \t]*:[ \t]*(\S.*?)\s*$")
MAX_ENV_VALUE = 32 << 10
MAX_ENV_TOTAL = 512 << 10


def iso_now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# ---------------------------------------------------------------- config vars

def validate_env(obj):
    if not isinstance(obj, dict) or not isinstance(obj.get("vars"), dict):
        raise ApiError(400, "validation_failed", 'body must be {"vars": {"KEY": "value", ...}}')
    env, total = {}, 0
    for key, value in obj["vars"].items():
        if not ENV_KEY.match(key):
            raise ApiError(400, "validation_failed", f"invalid config var name: {key[:64]!r}")
        if not isinstance(value, str):
            raise ApiError(400, "validation_failed", f"config var {key} must be a string")
        if "\0" in value or len(value) > MAX_ENV_VALUE:
            raise ApiError(400, "validation_failed", f"config var {key}: value too long or contains NUL")
        total += len(key) + len(value)
        env[key] = value
    if total > MAX_ENV_TOTAL:
        raise ApiError(400, "validation_failed", "config vars too large in total")
    return env


def save_env(env):
    os.makedirs(APP_DIR, mode=0o755, exist_ok=True)
    tmp = f"{ENV_FILE}.tmp.{os.getpid()}.{threading.get_ident()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchown(f.fileno(), 0, 0)
        json.dump(env, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, ENV_FILE)


def load_env():
    try:
        with open(ENV_FILE, encoding="utf-8") as f:
            env = json.load(f)
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in env.items() if isinstance(k, str) and ENV_KEY.match(k) and isinstance(v, str)} \
        if isinstance(env, dict) else {}


# ---------------------------------------------------------------- procfile

def parse_procfile(data):
    """`type: command` lines -> {type: command} (in file order; later lines win)."""
    procs = {}
    for line in (data or b"").decode("utf-8", "replace").splitlines():
        m = PROCFILE_LINE.match(line)
        if m and not line.lstrip().startswith("#"):
            procs[m.group(1)] = m.group(2)
    return procs


# ---------------------------------------------------------------- streamed output

class Output:
    """Lines for the pusher: queued for the HTTP response (streamed as they come) and
    kept for the log. The operation goes on if the client goes away."""

    def __init__(self):
        self.q = queue.Queue()
        self.attached = True
        self.lines = []

    def emit(self, line):
        self.lines.append(line)
        if self.attached:
            self.q.put(line)

    def result(self, obj):
        self.emit("fcm-result: " + json.dumps(obj, separators=(",", ":")))
        self.q.put(None)

    def stream(self):
        try:
            while True:
                item = self.q.get()
                batch = [item]
                while item is not None:
                    try:
                        item = self.q.get_nowait()
                    except queue.Empty:
                        break
                    batch.append(item)
                done = batch[-1] is None
                text = "".join(f"{line}\n" for line in batch if line is not None)
                if text:
                    yield text.encode("utf-8", "replace")
                if done:
                    return
        finally:
            self.attached = False


# ---------------------------------------------------------------- the manager

class Manager:
    def __init__(self, log, settings):
        self.log = log
        self.settings = settings  # () -> (public port, probe host)
        self.public_port, self.probe_host = 8000, "127.0.0.1"
        self.op_lock = threading.Lock()  # one deploy/activate/restart at a time
        self.live = None                 # Formation of the live release
        self.live_meta = None
        self.nft_ready = threading.Event()
        self._user = None

    # ------------------------------------------------------------ state for the API

    def health(self):
        live = self.live
        return {"release": self.live_meta["version"] if self.live_meta else None,
                "web": live.web_state() if live else "none"}

    def status(self):
        live = self.live
        return {"release": self.live_meta["version"] if self.live_meta else None,
                "commit": self.live_meta.get("commit") if self.live_meta else None,
                "deployInProgress": self.op_lock.locked(),
                "processes": live.status() if live else []}

    # ------------------------------------------------------------ setup

    def user(self):
        if self._user is None:
            try:
                self._user = pwd.getpwnam(APP_USER)
            except KeyError:
                # Created on first use, not at image build time; locked, no password.
                subprocess.run(["/usr/sbin/useradd", "--system", "--user-group", "--create-home",
                                "--home-dir", f"/home/{APP_USER}", "--shell", "/usr/sbin/nologin",
                                "--comment", "fcm app processes", APP_USER], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                self._user = pwd.getpwnam(APP_USER)
        return self._user

    def layout(self):
        for d, mode in ((APP_DIR, 0o755), (RELEASES, 0o755), (buildpacks.CACHE_DIR, 0o755), (TRASH, 0o700)):
            os.makedirs(d, mode=mode, exist_ok=True)

    def prepare_nft(self):
        """Creates the (empty) redirect table early in a deploy: loading conntrack before
        the switch means connections opened during the build are tracked, not picked up
        mid-stream and NATed. Runs once per boot."""
        if self.nft_ready.is_set():
            return
        try:
            set_redirect(self.public_port, self.live.web.port if self.live and self.live.web else None)
            self.nft_ready.set()
        except Exception as e:  # the switch will retry and report
            print(f"fcm-agent: preparing nftables: {e}", file=sys.stderr, flush=True)

    # ------------------------------------------------------------ boot

    def boot(self):
        """At agent start: restart the live release's processes (after a VM boot, or
        after the agent itself was restarted) and point the public port at them."""
        self.public_port, self.probe_host = self.settings()
        self.kill_leftovers()
        threading.Thread(target=self.empty_trash, name="trash", daemon=True).start()
        meta = self.current_meta()
        if meta is None:
            return
        with self.op_lock:
            try:
                env = load_env()
                formation = self.formation(meta, env, set())
                self.log.event("release", f"Starting v{meta['version']} (agent start)")
                formation.start()
                formation.promote()
                self.live, self.live_meta = formation, meta
                set_redirect(self.public_port, formation.web.port if formation.web else None)
                self.nft_ready.set()
            except Exception:
                traceback.print_exc(file=sys.stderr)

    def kill_leftovers(self):
        """Processes of the app user still running when the agent starts belong to an
        agent that died: their output pipes are gone, so they are stopped and started
        fresh."""
        try:
            uid = pwd.getpwnam(APP_USER).pw_uid
        except KeyError:
            return
        killed = 0
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
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

    def current_meta(self):
        try:
            target = os.readlink(CURRENT)
        except OSError:
            return None
        m = re.fullmatch(r"releases/v(\d+)", target)
        return self.read_meta(int(m.group(1))) if m else None

    def read_meta(self, version):
        try:
            with open(f"{RELEASES}/v{version}.json", encoding="utf-8") as f:
                meta = json.load(f)
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or meta.get("version") != version or not os.path.isdir(f"{RELEASES}/v{version}"):
            return None
        return meta

    # ------------------------------------------------------------ operations

    def deploy(self, version, commit, body):
        """POST /v1/releases/<version>: op_lock is held; this thread reads the body."""
        out = Output()
        t0 = time.monotonic()
        try:
            self.public_port, self.probe_host = self.settings()
            if self.live_meta and self.live_meta["version"] == version:
                raise ApiError(409, "release_exists", f"v{version} is the live release")
            user = self.user()
            self.layout()
            nft = threading.Thread(target=self.prepare_nft, name="nft", daemon=True)
            nft.start()
            dest = f"{RELEASES}/v{version}"
            self.discard_release(version)
            os.mkdir(dest, 0o755)
            os.chown(dest, user.pw_uid, user.pw_gid)
        except BaseException:
            self.op_lock.release()
            raise
        try:
            files, size = untar.extract(body, dest, user.pw_uid, user.pw_gid)
        except (untar.ArchiveError, OSError) as e:
            body.drain()
            self.discard_release(version)
            if isinstance(e, untar.ArchiveError):
                code, error = "invalid_archive", f"the pushed tree was refused: {e}"
            else:  # ENOSPC and the like
                code, error = "build_failed", f"could not write the release: {e.strerror or e}"
            out.emit(f" !     {error}")
            self.op_lock.release()
            out.result({"ok": False, "code": code, "error": error})
            return out
        except BaseException:
            self.discard_release(version)
            self.op_lock.release()
            raise
        t_received = time.monotonic()
        threading.Thread(target=self._operation, name=f"deploy-v{version}", daemon=True,
                         args=(out, "deploy", version, commit, (files, size, t0, t_received, nft))).start()
        return out

    def activate(self, version):
        """POST /v1/releases/<version>/activate (rollback): op_lock is held."""
        meta = self.read_meta(version)
        if meta is None:
            self.op_lock.release()
            raise ApiError(404, "release_not_found", f"v{version} is not on this VM (the last {KEEP_RELEASES} are kept)")
        out = Output()
        threading.Thread(target=self._operation, name=f"activate-v{version}", daemon=True,
                         args=(out, "activate", version, meta.get("commit"), meta)).start()
        return out

    def restart(self):
        """POST /v1/restart: op_lock is held."""
        out = Output()
        meta = self.live_meta
        if meta is None:
            out.emit("-----> Nothing deployed yet; nothing to restart")
            self.op_lock.release()
            out.result({"ok": True, "release": None, "buildpack": "none", "processes": {}})
            return out
        threading.Thread(target=self._operation, name="restart", daemon=True,
                         args=(out, "restart", meta["version"], meta.get("commit"), meta)).start()
        return out

    def _operation(self, out, kind, version, commit, arg):
        t0 = time.monotonic()
        timings = {}
        result = None
        try:
            self.public_port, self.probe_host = self.settings()
            if kind == "deploy":
                files, size, t_req, t_received, nft = arg
                t0 = t_req
                timings["receiveMs"] = ms(t_received - t_req)
                what = f", commit {commit[:7]}" if commit else ""
                out.emit(f"-----> Received {files} files ({human_bytes(size)}){what}")
                self.log.event("release", f"Building v{version}{what}")
                t_build = time.monotonic()
                meta = self._build(version, commit, out)
                timings["buildMs"] = ms(time.monotonic() - t_build)
                nft.join()
            else:
                meta = arg
                verb = "Restarting" if kind == "restart" else "Activating"
                out.emit(f"-----> {verb} v{version}" + (f" (commit {commit[:7]})" if commit else "")
                         + " with the current config vars")
            self._launch(meta, out, timings)
            total = time.monotonic() - t0
            timings["totalMs"] = ms(total)
            parts = ", ".join(f"{k[:-2]} {v / 1000:.1f} s" for k, v in timings.items() if k != "totalMs")
            out.emit(f"-----> v{version} is live in {total:.1f} s ({parts})")
            self.log.event("release", f"v{version} is live ({kind}, {total:.1f} s)")
            self._gc()
            result = {"ok": True, "release": version, "buildpack": meta["buildpack"],
                      "processes": meta["processes"], "timingsMs": timings}
        except BuildError as e:
            if kind == "deploy":
                self.discard_release(version)
            out.emit(f" !     {e.message}")
            if self.live_meta:
                out.emit(f" !     v{self.live_meta['version']} is still live")
            self.log.event("release", f"{kind} of v{version} failed: {e.message}")
            result = {"ok": False, "code": e.code, "error": e.message}
        except Exception as e:
            traceback.print_exc(file=sys.stderr)
            if kind == "deploy":
                self.discard_release(version)
            out.emit(" !     internal error in the guest agent")
            result = {"ok": False, "code": "internal", "error": f"internal error in the guest agent: {type(e).__name__}"}
        finally:
            # the lock goes before the final line: whoever reacts to it may start the next operation
            self.op_lock.release()
            out.result(result or {"ok": False, "code": "internal", "error": "internal error in the guest agent"})

    def _build(self, version, commit, out):
        user = self.user()
        rdir = f"{RELEASES}/v{version}"
        env = load_env()
        ctx = buildpacks.Ctx(rdir, version, user, env, out.emit)
        pack, label, manifest = buildpacks.detect(ctx)
        if pack == "none":
            out.emit("-----> No requirements.txt, Gemfile or package.json: no dependencies to install")
        else:
            out.emit(f"-----> Detected {label} ({manifest})")
        runtime = buildpacks.build(ctx, pack)
        declared = parse_procfile(ctx.read("Procfile"))
        if declared:
            out.emit(f"-----> Procfile declares types -> {', '.join(declared)}")
        processes = dict(declared)
        release_cmd = processes.pop("release", None)
        if "web" not in processes and runtime.default_web:
            processes = {"web": runtime.default_web, **processes}
            out.emit(f"-----> No web process in a Procfile; using {runtime.default_web_note}: {runtime.default_web}")
        if "web" not in processes:
            out.emit("-----> No web process: add a Procfile with `web: <command>` that listens on $PORT;"
                     f" nothing will answer on port {self.public_port}")
        meta = {"version": version, "commit": commit, "buildpack": pack, "processes": processes,
                "releaseCommand": release_cmd, "path": runtime.path, "env": runtime.env,
                "caches": runtime.caches, "createdAt": iso_now(), "buildSteps": ctx.steps}
        tmp = f"{RELEASES}/.v{version}.json.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=1)
        os.replace(tmp, f"{RELEASES}/v{version}.json")
        if release_cmd:
            out.emit(f"-----> Running release command: {release_cmd}")
            rc = ctx.run(["/bin/sh", "-c", release_cmd], env=self.proc_env(meta, env, "release", None),
                         what="release command")
            if rc != 0:
                raise BuildError("release_failed", f"the release command failed (exit status {rc})")
        return meta

    def formation(self, meta, env, taken):
        user = self.user()
        version = meta["version"]
        procs = []
        for ptype, command in meta["processes"].items():
            if not PROCESS_TYPE.match(ptype):
                continue
            port = self.free_port(version, taken) if ptype == "web" else None
            procs.append(Proc(self.log, ptype, 1, command, f"{RELEASES}/v{version}",
                              self.proc_env(meta, env, ptype, port), user, port, self.probe_host, version))
        return Formation(version, procs)

    def _launch(self, meta, out, timings):
        t_start = time.monotonic()
        old = self.live
        formation = self.formation(meta, load_env(), old.ports() if old else set())
        for p in formation.procs:
            out.emit(f"-----> Starting: {p.command}" if p.type == "web" else f"-----> Starting {p.type}: {p.command}")
        formation.start()
        web = formation.web
        if web is not None:
            state = self._wait_web(web)
            if state != "up":
                formation.stop(grace_s=3)
                recent = [line for line in web.recent if line][-20:]
                if recent:
                    out.emit("-----> Last output of the web process:")
                    for line in recent:
                        out.emit(INDENT + line)
                if state == "exited":
                    status = web.exit_status
                    how = f"was killed by signal {-status}" if status is not None and status < 0 else f"exited with status {status}"
                    msg = f"the web process {how} before it listened on $PORT"
                elif state == "loopback":
                    msg = ("the web process listens on 127.0.0.1 only, where the host cannot reach it:"
                           " listen on 0.0.0.0:$PORT")
                else:
                    msg = f"the web process did not listen on $PORT within {START_TIMEOUT_S} s"
                raise BuildError("start_failed", msg)
            out.emit(f"-----> web is up after {time.monotonic() - t_start:.1f} s")
        timings["startMs"] = ms(time.monotonic() - t_start)
        t_switch = time.monotonic()
        try:
            set_redirect(self.public_port, web.port if web else None)
            self.nft_ready.set()
        except Exception as e:
            formation.stop(grace_s=3)
            raise BuildError("switch_failed", f"could not switch port {self.public_port}: {e}") from None
        tmp = f"{APP_DIR}/.current.tmp"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(f"releases/v{meta['version']}", tmp)
        os.replace(tmp, CURRENT)
        self.live, self.live_meta = formation, meta
        formation.promote()
        timings["switchMs"] = ms(time.monotonic() - t_switch)
        if web:
            out.emit(f"-----> Port {self.public_port} now goes to v{meta['version']}")
        if old is not None:
            threading.Thread(target=self._retire, args=(old,), name="retire", daemon=True).start()

    def _wait_web(self, web):
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

    def _retire(self, old):
        time.sleep(DRAIN_S)  # requests already on their way to the old process finish
        self.log.event("release", f"Stopping the processes of the previous run of v{old.release}")
        old.stop(grace_s=STOP_GRACE_S)

    def proc_env(self, meta, env, ptype, port):
        user = self.user()
        rdir = f"{RELEASES}/v{meta['version']}"
        out = {"HOME": user.pw_dir, "USER": user.pw_name, "LOGNAME": user.pw_name, "SHELL": "/bin/sh",
               "LANG": "C.UTF-8", "PATH": ":".join(list(meta.get("path") or []) + ["/usr/local/bin", "/usr/bin", "/bin"]),
               "FCM_RELEASE": str(meta["version"]), "FCM_COMMIT": meta.get("commit") or "",
               "FCM_APP_DIR": rdir}
        out.update(meta.get("env") or {})
        out.update(env)
        if ptype:
            out["DYNO"] = f"{ptype}.1"
        if port:
            out["PORT"] = str(port)
        return out

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

    # ------------------------------------------------------------ cleanup

    def discard_release(self, version):
        """Removes a release that is not live (failed, or a stale one of the same number)."""
        if self.live_meta and self.live_meta["version"] == version:
            return
        for path in (f"{RELEASES}/v{version}.json",):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        self._trash(f"{RELEASES}/v{version}")

    def _trash(self, path):
        if os.path.islink(path):
            os.unlink(path)
        elif os.path.exists(path):
            os.makedirs(TRASH, mode=0o700, exist_ok=True)
            os.rename(path, f"{TRASH}/{os.path.basename(path)}-{time.time_ns()}")

    def _gc(self):
        """Keeps the newest KEEP_RELEASES releases (and the live one) and the caches they
        use; the rest moves to /app/trash (instant) and is deleted in the background."""
        try:
            versions = sorted((int(n[1:]) for n in os.listdir(RELEASES) if re.fullmatch(r"v\d+", n)), reverse=True)
            live = self.live_meta["version"] if self.live_meta else None
            complete = [v for v in versions if self.read_meta(v) is not None]  # not: left by a crash
            keep = set(complete[:KEEP_RELEASES]) | ({live} if live is not None else set())
            for v in versions:
                if v not in keep:
                    self.discard_release(v)
            used = set()
            for v in keep:
                meta = self.read_meta(v)
                used.update((meta or {}).get("caches") or [])
            for kind in _listdir(buildpacks.CACHE_DIR):
                kdir = f"{buildpacks.CACHE_DIR}/{kind}"
                for entry in _listdir(kdir):
                    key = entry[:-5] if entry.endswith(".done") else entry
                    if f"{kind}/{key}" not in used:
                        if entry.endswith(".done"):
                            os.unlink(f"{kdir}/{entry}")
                        else:
                            self._trash(f"{kdir}/{entry}")
        except Exception:
            traceback.print_exc(file=sys.stderr)
        threading.Thread(target=self.empty_trash, name="trash", daemon=True).start()

    def empty_trash(self):
        for entry in _listdir(TRASH):
            shutil.rmtree(f"{TRASH}/{entry}", ignore_errors=True)


def _listdir(path):
    try:
        return os.listdir(path)
    except OSError:
        return []


def ms(seconds):
    return int(seconds * 1000)


def human_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
