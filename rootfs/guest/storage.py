"""Release storage: the app's files on the VM's root overlay (they survive stop/start).

    <root>/env.json            config vars, root 0600 (values never logged)
    <root>/releases/v<N>/      the release tree, owned by the app user
    <root>/releases/v<N>.json  release metadata, root-owned: commit, buildpack, process
                               commands, PATH/env of its runtime, cache entries it uses
    <root>/current             -> releases/v<N>, the live release (its existence also
                               sends the placeholder page away)
    <root>/cache/<kind>/<key>  dependencies (see buildpacks.py)
    <root>/logs/app.log        the app log (see applog.py)
    <root>/trash/              what garbage collection deletes in the background

<root> is /app in the guest (APP_DIR); tests give a temporary directory. Nothing here
knows about processes or the operation lock: callers hold the lock (operations.py)
for anything that changes releases or `current`.
"""

import json
import os
import re
import shutil
import sys
import threading
import time
import traceback

from apierror import ApiError

APP_DIR = "/app"
KEEP_RELEASES = 5

# Config var names: the same pattern as the daemon's EnvKey (openapi.yaml) and the
# agent contract (agent-openapi.yaml, components.schemas.EnvKey); a test compares them.
# Used with fullmatch: Python's `$` also matches before a trailing newline, JSON Schema's does not.
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
MAX_ENV_VALUE = 32 << 10
MAX_ENV_TOTAL = 512 << 10


def validate_env(obj):
    """The body of PUT /v1/env -> {name: value}; ApiError 400 when it is not valid."""
    if not isinstance(obj, dict) or not isinstance(obj.get("vars"), dict):
        raise ApiError(400, "validation_failed", 'body must be {"vars": {"KEY": "value", ...}}')
    env, total = {}, 0
    for key, value in obj["vars"].items():
        if not isinstance(key, str) or not ENV_KEY.fullmatch(key):
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


def iso_now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Storage:
    def __init__(self, root):
        self.root = root
        self.releases = os.path.join(root, "releases")
        self.current = os.path.join(root, "current")
        self.env_file = os.path.join(root, "env.json")
        self.cache = os.path.join(root, "cache")
        self.logs = os.path.join(root, "logs")
        self.trash_dir = os.path.join(root, "trash")

    def layout(self):
        for d, mode in ((self.root, 0o755), (self.releases, 0o755), (self.cache, 0o755), (self.trash_dir, 0o700)):
            os.makedirs(d, mode=mode, exist_ok=True)

    # ------------------------------------------------------------ config vars

    def save_env(self, env):
        """Replaces the config vars atomically (a build reading them sees old or new).
        The daemon sends them before every deploy: when they are what the file already
        holds, nothing is written (the fsync costs tens of ms under TCG)."""
        text = json.dumps(env)
        try:
            fd = os.open(self.env_file, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "r", encoding="utf-8") as f:
                if f.read(len(text) + 1) == text:
                    return
        except (OSError, ValueError):
            pass
        os.makedirs(self.root, mode=0o755, exist_ok=True)
        tmp = f"{self.env_file}.tmp.{os.getpid()}.{threading.get_ident()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchown(f.fileno(), 0, 0)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.env_file)

    def load_env(self):
        try:
            with open(self.env_file, encoding="utf-8") as f:
                env = json.load(f)
        except (OSError, ValueError):
            return {}
        if not isinstance(env, dict):
            return {}
        return {k: v for k, v in env.items() if isinstance(k, str) and ENV_KEY.fullmatch(k) and isinstance(v, str)}

    # ------------------------------------------------------------ releases

    def release_dir(self, version):
        return os.path.join(self.releases, f"v{version}")

    def meta_path(self, version):
        return os.path.join(self.releases, f"v{version}.json")

    def new_release(self, version, user, live_version):
        """A fresh, empty release directory owned by the app user (a stale one of the
        same number is discarded first)."""
        self.discard(version, live_version)
        dest = self.release_dir(version)
        os.mkdir(dest, 0o755)
        os.chown(dest, user.pw_uid, user.pw_gid)
        return dest

    def write_meta(self, meta):
        version = meta["version"]
        tmp = os.path.join(self.releases, f".v{version}.json.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=1)
        os.replace(tmp, self.meta_path(version))

    def read_meta(self, version):
        """Metadata of a complete release (its tree and metadata both present), or None."""
        try:
            with open(self.meta_path(version), encoding="utf-8") as f:
                meta = json.load(f)
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or meta.get("version") != version or not os.path.isdir(self.release_dir(version)):
            return None
        return meta

    def current_meta(self):
        try:
            target = os.readlink(self.current)
        except OSError:
            return None
        m = re.fullmatch(r"releases/v(\d+)", target)
        return self.read_meta(int(m.group(1))) if m else None

    def point_current(self, version):
        """Makes release `version` the live one on disk (an atomic rename of the link)."""
        tmp = os.path.join(self.root, ".current.tmp")
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(f"releases/v{version}", tmp)
        os.replace(tmp, self.current)

    def versions(self):
        return sorted((int(n[1:]) for n in listdir(self.releases) if re.fullmatch(r"v\d+", n)), reverse=True)

    # ------------------------------------------------------------ cleanup

    def discard(self, version, live_version):
        """Removes a release that is not live (failed, or a stale one of the same number)."""
        if version == live_version:
            return
        try:
            os.unlink(self.meta_path(version))
        except FileNotFoundError:
            pass
        self.trash(self.release_dir(version))

    def trash(self, path):
        if os.path.islink(path):
            os.unlink(path)
        elif os.path.exists(path):
            os.makedirs(self.trash_dir, mode=0o700, exist_ok=True)
            os.rename(path, os.path.join(self.trash_dir, f"{os.path.basename(path)}-{time.time_ns()}"))

    def gc(self, live_version, keep=KEEP_RELEASES):
        """Keeps the newest `keep` complete releases (and the live one) and the caches they
        use; the rest moves to the trash (instant) and is deleted in the background."""
        try:
            versions = self.versions()
            complete = [v for v in versions if self.read_meta(v) is not None]  # not: left by a crash
            kept = set(complete[:keep]) | ({live_version} if live_version is not None else set())
            for v in versions:
                if v not in kept:
                    self.discard(v, live_version)
            used = set()
            for v in kept:
                used.update((self.read_meta(v) or {}).get("caches") or [])
            for kind in listdir(self.cache):
                kdir = os.path.join(self.cache, kind)
                for entry in listdir(kdir):
                    key = entry[:-5] if entry.endswith(".done") else entry
                    if f"{kind}/{key}" not in used:
                        if entry.endswith(".done"):
                            os.unlink(os.path.join(kdir, entry))
                        else:
                            self.trash(os.path.join(kdir, entry))
        except Exception:
            traceback.print_exc(file=sys.stderr)
        self.empty_trash_later()

    def empty_trash_later(self):
        threading.Thread(target=self.empty_trash, name="trash", daemon=True).start()

    def empty_trash(self):
        for entry in listdir(self.trash_dir):
            shutil.rmtree(os.path.join(self.trash_dir, entry), ignore_errors=True)


def listdir(path):
    try:
        return os.listdir(path)
    except OSError:
        return []
