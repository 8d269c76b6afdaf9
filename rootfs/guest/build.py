"""Building a release: receive the pushed tree, install its dependencies (buildpacks.py),
read its Procfile, run its release command, write its metadata. Nothing here starts
the app or touches the live release (switch.py does); the caller holds the operation
lock (operations.py).
"""

import os
import re

import buildpacks
import untar
from buildpacks import BuildError
from storage import iso_now

PROCESS_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
PROCFILE_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_-]{0,62})[ \t]*:[ \t]*(\S.*?)\s*$")


def parse_procfile(data):
    """`type: command` lines -> {type: command} (in file order; later lines win)."""
    procs = {}
    for line in (data or b"").decode("utf-8", "replace").splitlines():
        m = PROCFILE_LINE.match(line)
        if m and not line.lstrip().startswith("#"):
            procs[m.group(1)] = m.group(2)
    return procs


def receive(storage, version, body, user, live_version):
    """Extracts the tar stream `body` into the fresh release directory (made by
    storage.new_release) while it arrives. -> (files, bytes). Raises untar.ArchiveError
    (refused tree) or OSError (disk); the partial release is discarded on any failure."""
    try:
        return untar.extract(body, storage.release_dir(version), user.pw_uid, user.pw_gid)
    except BaseException:
        storage.discard(version, live_version)
        raise


def start_env(meta, cache_dir):
    """What a process start adds that depends on this boot, not on the build: for Node
    releases, the code cache directory of the app's modules (buildpacks.py)."""
    if meta.get("buildpack") == "node":
        return buildpacks.node_code_cache_env(cache_dir)
    return {}


def process_env(meta, env, user, release_dir, ptype, port, extra=None):
    """The environment of one process of a release: the basics, the buildpack's runtime,
    the config vars, what this start adds (start_env), then what the process type
    decides (DYNO, PORT)."""
    out = {"HOME": user.pw_dir, "USER": user.pw_name, "LOGNAME": user.pw_name, "SHELL": "/bin/sh",
           "LANG": "C.UTF-8", "PATH": ":".join(list(meta.get("path") or []) + ["/usr/local/bin", "/usr/bin", "/bin"]),
           "FCM_RELEASE": str(meta["version"]), "FCM_COMMIT": meta.get("commit") or "",
           "FCM_APP_DIR": release_dir}
    out.update(meta.get("env") or {})
    out.update(env)
    out.update(extra or {})
    if ptype:
        out["DYNO"] = f"{ptype}.1"
    if port:
        out["PORT"] = str(port)
    return out


def build(storage, version, commit, user, env, emit, public_port):
    """Builds the received release `version`; -> its metadata (also written to disk).
    Raises BuildError with the code of the failed result."""
    rdir = storage.release_dir(version)
    ctx = buildpacks.Ctx(rdir, version, user, env, emit, storage.cache)
    pack, label, manifest = buildpacks.detect(ctx)
    if pack == "none":
        emit("-----> No requirements.txt, pyproject.toml, Gemfile, package.json or index.html:"
             " no dependencies to install")
    else:
        emit(f"-----> Detected {label} ({manifest})")
    runtime = buildpacks.build(ctx, pack)
    declared = parse_procfile(ctx.read("Procfile"))
    if declared:
        emit(f"-----> Procfile declares types -> {', '.join(declared)}")
    processes = dict(declared)
    release_cmd = processes.pop("release", None)
    if "web" not in processes and runtime.default_web:
        processes = {"web": runtime.default_web, **processes}
        emit(f"-----> No web process in a Procfile; using {runtime.default_web_note}: {runtime.default_web}")
    if "web" not in processes:
        emit("-----> No web process: add a Procfile with `web: <command>` that listens on $PORT;"
             f" nothing will answer on port {public_port}")
    meta = {"version": version, "commit": commit, "buildpack": pack, "processes": processes,
            "releaseCommand": release_cmd, "path": runtime.path, "env": runtime.env,
            "caches": runtime.caches, "createdAt": iso_now(), "buildSteps": ctx.steps}
    storage.write_meta(meta)
    if release_cmd:
        emit(f"-----> Running release command: {release_cmd}")
        penv = process_env(meta, env, user, rdir, "release", None, start_env(meta, storage.cache))
        rc = ctx.run(["/bin/sh", "-c", release_cmd], env=penv, what="release command")
        if rc != 0:
            raise BuildError("release_failed", f"the release command failed (exit status {rc})")
    return meta
