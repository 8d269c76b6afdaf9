"""Buildpacks: detect the app's language from the release tree and install its
dependencies, Heroku style, fast under QEMU TCG.

Detection order: requirements.txt -> python, pyproject.toml -> python (the project
itself installed with `pip install .`; uv instead of pip when the image has it),
Gemfile -> ruby, package.json -> node, index.html -> static (no dependencies; without
a Procfile web process the site is served by static_server.py on $PORT), else none.

Runtime version files (.python-version; .nvmrc or .node-version; .ruby-version) are
honoured where the image's runtime satisfies them (3.11 is satisfied by 3.11.2) and
refused otherwise: the build fails with a message naming the file, what it asks for
and what the image has (the failed release is not switched to; the live one keeps
serving). An image carries one version of each runtime (Debian's). Every install step runs as the unprivileged app user, niced (the live
release keeps serving while a build runs on the same vCPU), with its output streamed
to the pusher indented by 7 spaces.

Dependencies live outside the release, in /app/cache/<kind>/<key>, keyed by a hash of
the dependency manifest (and the runtime's version), so a code-only redeploy skips
the install entirely. A cache entry counts only once its root-owned marker
/app/cache/<kind>/<key>.done exists (written after a successful install). Manifests
that pull in files from the tree (`-e .`, `-r other.txt`, `gemspec`, `path:`) are
never reused across releases. Installers that have nothing to do are not started at
all (under TCG: pip ~9 s, npm install ~35 s, bundle install ~7 s for nothing).

A buildpack returns a Runtime: PATH entries and env for the app's processes, the
cache entries the release depends on, and an optional default web command.

Node.js: the image's Node (the host's, rootfs/build.sh) has Node's own startup snapshot
and the code cache of its built-in modules, so app processes run /usr/bin/node as it is
(until #20 the image had Debian's Node 18, which has neither: the buildpack then made a
startup snapshot per VM and a shell shim passed it to every start). The app's own modules
get a V8 code cache in /app/cache/node-code/<key> (FCM_NODE_CODE_CACHE;
node-code-cache.cjs), used by the Node process started ahead (prestart.py).
"""

import glob
import hashlib
import json
import os
import platform
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
import tomllib

CACHE_DIR = "/app/cache"
NODE_BIN = "/usr/bin/node"
LIBNODE_GLOB = "/usr/lib/*/libnode.so.*"
NODE_CODE_CACHE_ENV = "FCM_NODE_CODE_CACHE"
INDENT = "       "
BUILD_TIMEOUT_S = 15 * 60
NICE = ["/usr/bin/nice", "-n", "10"]


class BuildError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


class Runtime:
    def __init__(self, path=(), env=None, caches=(), default_web=None, default_web_note=None):
        self.path = list(path)
        self.env = dict(env or {})
        self.caches = list(caches)
        self.default_web = default_web
        self.default_web_note = default_web_note


class Ctx:
    """What a buildpack gets: the release tree, the app user, output and a runner."""

    def __init__(self, release_dir, version, user, user_env, emit, cache_dir=CACHE_DIR):
        self.dir = release_dir
        self.cache_dir = cache_dir
        self.version = version
        self.user = user  # pwd struct of the app user
        self.user_env = user_env
        self.emit = emit
        self.steps = []

    def read(self, name, limit=1 << 20):
        """Contents of a top-level regular file of the release, or None if absent."""
        try:
            fd = os.open(os.path.join(self.dir, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise BuildError("build_failed", f"{name} must be a regular file ({e.strerror})") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a directory opens too (and fdopen would raise)
            os.close(fd)
            raise BuildError("build_failed", f"{name} must be a regular file")
        with os.fdopen(fd, "rb") as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise BuildError("build_failed", f"{name} is larger than {limit >> 10} KiB")
        return data

    def exists(self, name):
        return os.path.lexists(os.path.join(self.dir, name))

    def env(self, extra=None):
        """Build environment: the app's config vars, then what the build needs."""
        env = dict(self.user_env)
        env.update({
            "HOME": self.user.pw_dir, "USER": self.user.pw_name, "LOGNAME": self.user.pw_name,
            "LANG": "C.UTF-8", "PATH": "/usr/local/bin:/usr/bin:/bin",
            "FCM_RELEASE": str(self.version), "CI": "true",
        })
        env.update(extra or {})
        return env

    def run(self, argv, cwd=None, env=None, what=None):
        """Runs argv as the app user, streams its output indented; returns the exit code."""
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen(
                NICE + argv, cwd=cwd or self.dir, env=env or self.env(), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, user=self.user.pw_uid,
                group=self.user.pw_gid, extra_groups=[], umask=0o022, start_new_session=True)
        except OSError as e:
            self.emit(f"{INDENT}cannot run {argv[0]}: {e.strerror}")
            return 127
        timer = threading.Timer(BUILD_TIMEOUT_S, _kill_group, (proc.pid,))
        timer.daemon = True
        timer.start()
        try:
            for raw in proc.stdout:
                line = clean_line(raw)
                if line:
                    self.emit(INDENT + line)
            rc = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                _kill_group(proc.pid)
                proc.wait()
            proc.stdout.close()
        self.steps.append((what or os.path.basename(argv[0]), round(time.monotonic() - t0, 2)))
        if rc < 0:
            self.emit(f"{INDENT}killed by signal {-rc}")
        return rc


def _kill_group(pid):
    try:
        os.killpg(pid, 9)
    except OSError:
        pass


def clean_line(raw):
    text = raw.decode("utf-8", "replace")
    if "\r" in text:
        parts = [p for p in text.split("\r") if p.strip()]
        text = parts[-1] if parts else ""
    return text.rstrip()[:4096]


# ---------------------------------------------------------------- cache entries

class Cache:
    """One entry <cache dir>/<kind>/<key> (/app/cache in the guest): a directory owned by
    the app user, complete once the root-owned marker <key>.done exists."""

    def __init__(self, kind, key, user, root=CACHE_DIR):
        self.kind, self.key, self.user = kind, key, user
        self.parent = os.path.join(root, kind)
        self.path = os.path.join(self.parent, key)
        self.marker = self.path + ".done"
        self.name = f"{kind}/{key}"

    def ready(self):
        return os.path.isfile(self.marker) and os.path.isdir(self.path) and not os.path.islink(self.path)

    def prepare(self):
        os.makedirs(self.parent, mode=0o755, exist_ok=True)
        self.discard()
        os.mkdir(self.path, 0o755)
        os.chown(self.path, self.user.pw_uid, self.user.pw_gid)

    def commit(self):
        with open(self.marker, "w") as f:
            f.write(time.strftime("%Y-%m-%dT%H:%M:%SZ\n", time.gmtime()))

    def discard(self):
        for p in (self.marker,):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
        if os.path.islink(self.path):
            os.unlink(self.path)
        elif os.path.exists(self.path):
            shutil.rmtree(self.path, ignore_errors=True)


def digest(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def binary_id(path):
    """Changes when the runtime package is upgraded (no exec needed)."""
    try:
        st = os.stat(path)
        return f"{st.st_size}:{int(st.st_mtime)}"
    except OSError:
        return "missing"


def fail(ctx, cache, message):
    if cache is not None:
        cache.discard()
    raise BuildError("build_failed", message)


# ---------------------------------------------------------------- detection

DETECTION = (("requirements.txt", "python", "Python"), ("pyproject.toml", "python", "Python"),
             ("Gemfile", "ruby", "Ruby"), ("package.json", "node", "Node.js"),
             ("index.html", "static", "a static site"))


def detect(ctx):
    """-> (buildpack, human name, the file that decided it)."""
    for name, pack, label in DETECTION:
        if ctx.exists(name):
            return pack, label, name
    return "none", None, None


def build(ctx, pack):
    check_runtime_version(ctx, pack)
    return {"python": python, "ruby": ruby, "node": node, "static": static,
            "none": lambda c: Runtime()}[pack](ctx)


# ---------------------------------------------------------------- runtime versions

# buildpack -> (version files, first found wins; runtime name; how to ask the image)
VERSION_FILES = {
    "python": ((".python-version",), "Python"),
    "node": ((".nvmrc", ".node-version"), "Node.js"),
    "ruby": ((".ruby-version",), "Ruby"),
}
VERSION_ARGV = {
    "python": ["/usr/bin/python3", "-c", "import platform; print(platform.python_version())"],
    "node": [NODE_BIN, "-p", "process.versions.node"],
    "ruby": ["/usr/bin/ruby", "-e", "print RUBY_VERSION"],
}
# nvm's names for the LTS lines (.nvmrc `lts/<name>`)
NODE_LTS = {"argon": 4, "boron": 6, "carbon": 8, "dubnium": 10, "erbium": 12, "fermium": 14,
            "gallium": 16, "hydrogen": 18, "iron": 20, "jod": 22, "krypton": 24}
_VERSION_PREFIX = {"python": ("python-", "python", "cpython-"), "node": ("node-", "v"), "ruby": ("ruby-",)}
_VERSION = re.compile(r"^\d+(\.(\d+|x|\*))*$")


def installed_version(pack):
    """The image's version of the runtime, e.g. "3.11.2"; None when it has none."""
    try:
        out = subprocess.run(VERSION_ARGV[pack], stdin=subprocess.DEVNULL, capture_output=True,
                             timeout=120, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.decode("ascii", "replace").strip().lstrip("v") or None


def version_wanted(data):
    """The first line of a version file that is not blank or a comment (pyenv, nvm, rbenv
    and chruby all read the first), or None."""
    for line in data.decode("utf-8", "replace").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            return line
    return None


def version_satisfied(pack, wanted, have):
    """-> (satisfied, how it was read). `3.11` and `3.11.x` accept 3.11.2; `3.11.2` only
    itself; for node also `lts/*` (an even major), `lts/<name>`, `node`/`stable`/`system`
    (whatever the image has)."""
    w = wanted.strip().lower()
    if pack == "node":
        if w in ("node", "stable", "latest", "current", "system"):
            return True, "the image's Node.js"
        if w.startswith("lts/"):
            name = w[4:]
            major = int(have.split(".")[0])
            if name in ("*", "latest"):
                return major % 2 == 0, "any LTS line"
            return (NODE_LTS.get(name) == major), f"Node.js {NODE_LTS[name]}" if name in NODE_LTS else "an unknown LTS name"
    for prefix in _VERSION_PREFIX.get(pack, ()):
        if w.startswith(prefix) and w[len(prefix):][:1].isdigit():
            w = w[len(prefix):]
            break
    if not _VERSION.match(w):
        return False, "not a version number"
    have_parts = have.split(".")
    for i, part in enumerate(w.split(".")):
        if part in ("x", "*"):
            continue
        if i >= len(have_parts) or part != have_parts[i]:
            return False, w
    return True, w


def check_runtime_version(ctx, pack, have=None):
    """Raises BuildError when the app's version file asks for what the image lacks."""
    if pack not in VERSION_FILES:
        return
    names, label = VERSION_FILES[pack]
    name = next((n for n in names if ctx.exists(n)), None)
    if name is None:
        return
    wanted = version_wanted(ctx.read(name, limit=4096) or b"")
    if wanted is None:
        ctx.emit(f"-----> {name} is empty; using the image's {label}")
        return
    have = have or installed_version(pack)
    if have is None:
        raise BuildError("build_failed", f"{name} asks for {label} {wanted}, but this image has no {label}")
    ok, _ = version_satisfied(pack, wanted, have)
    if not ok:
        short = ".".join(have.split(".")[:2])
        raise BuildError("build_failed",
                         f"{name} asks for {label} {wanted}, but this image has {label} {have} only: "
                         f"change {name} to {short} (or remove it) to build with {label} {have}")
    ctx.emit(f"-----> {name} asks for {label} {wanted}: using {label} {have}")


# ---------------------------------------------------------------- static

STATIC_SERVER = "/usr/lib/fcm/static_server.py"


def static(ctx):
    ctx.emit("-----> Static site: nothing to install")
    return Runtime(default_web=f"/usr/bin/python3 {STATIC_SERVER}",
                   default_web_note="the static file server (index.html, no Procfile)")


# ---------------------------------------------------------------- python

PIP_RUNNER = "/usr/lib/python3/dist-packages/pip/__pip-runner__.py"
_PIP_COMMENT = re.compile(r"(^|\s)#.*$")
_PIP_LOCAL = ("-e", "--editable", "-r", "--requirement", "-c", "--constraint", ".", "/", "file:")


def pip_install(venv, *args):
    """argv of a quiet, non-interactive `pip install ARGS` into VENV: Debian's pip, run by
    the venv's interpreter through the runner that `pip --python` itself uses (one pip
    startup instead of two, ~3 s under TCG)."""
    pip = [f"{venv}/bin/python", PIP_RUNNER] if os.path.isfile(PIP_RUNNER) else \
        ["/usr/bin/python3", "-m", "pip", "--python", f"{venv}/bin/python"]
    return pip + ["install", "--disable-pip-version-check", "--no-input", "--progress-bar", "off",
                  "--no-warn-script-location", *args]


def venv_runtime(venv, cache):
    """The app's processes run with the virtualenv first on PATH, output unbuffered."""
    return Runtime(path=[f"{venv}/bin"], env={"VIRTUAL_ENV": venv, "PYTHONUNBUFFERED": "1"},
                   caches=[cache.name])


def python(ctx):
    if not ctx.exists("requirements.txt") and ctx.exists("pyproject.toml"):
        return python_project(ctx)
    reqs = ctx.read("requirements.txt") or b""
    lines = [_PIP_COMMENT.sub("", line).strip() for line in reqs.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    local = any(line.startswith(_PIP_LOCAL) or "@ file:" in line for line in lines)
    key = digest("python", sys.version, binary_id("/usr/bin/python3"), reqs)
    if local:  # depends on files in the tree: never reused
        key = f"{key}-v{ctx.version}"
    cache = Cache("python", key, ctx.user, ctx.cache_dir)
    venv = cache.path
    if cache.ready():
        ctx.emit("-----> Using the cached virtualenv (requirements.txt unchanged)")
    else:
        ctx.emit(f"-----> Creating virtualenv (Python {platform.python_version()})")
        cache.prepare()
        # --without-pip: ensurepip costs ~50 s under TCG; the system pip installs into
        # the venv with --python instead.
        if ctx.run(["/usr/bin/python3", "-m", "venv", "--without-pip", venv], what="venv") != 0:
            fail(ctx, cache, "could not create the virtualenv")
        if lines:
            ctx.emit("-----> Running pip install -r requirements.txt")
            rc = ctx.run(pip_install(venv, "-r", "requirements.txt"), what="pip install")
            if rc != 0:
                fail(ctx, cache, f"pip install failed (exit status {rc})")
        else:
            ctx.emit("-----> requirements.txt lists no packages; skipping pip install")
        cache.commit()
    return venv_runtime(venv, cache)


_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
# build requirements the image's own Python packages satisfy (Debian's python3-setuptools
# and python3-wheel): such a project builds without the network
IMAGE_BUILD_REQS = {"setuptools", "wheel"}


def uv_bin():
    """uv on the build's PATH, or None (pip is used then)."""
    return shutil.which("uv", path="/usr/local/bin:/usr/bin:/bin")


def pyproject_plan(data):
    """pyproject.toml bytes -> {"install": bool, "offline_build": bool, "name": str|None}.
    install: the tree is a project to install (a [project] or [build-system] table; a
    file with only [tool.*] tables, e.g. ruff's settings, declares nothing to install).
    offline_build: its build backend is setuptools with only setuptools/wheel required
    (PEP 517's default without [build-system]), which the image has: the build uses
    them (--no-build-isolation in a venv that sees the image's packages) instead of
    downloading them."""
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise BuildError("build_failed", f"pyproject.toml is not valid TOML: {e}") from None
    project = doc.get("project") if isinstance(doc.get("project"), dict) else None
    system = doc.get("build-system") if isinstance(doc.get("build-system"), dict) else None
    requires = system.get("requires", []) if system else ["setuptools>=40.8.0"]
    backend = str(system.get("build-backend", "setuptools.build_meta:__legacy__")) if system else \
        "setuptools.build_meta:__legacy__"
    names = set()
    for r in requires if isinstance(requires, list) else []:
        m = _REQ_NAME.match(str(r))
        names.add(m.group(1).lower().replace("_", "-") if m else str(r))
    return {"install": bool(project or system),
            "offline_build": backend.startswith("setuptools.") and names <= IMAGE_BUILD_REQS,
            "name": str(project.get("name")) if project and project.get("name") else None}


def python_project(ctx):
    """pyproject.toml (and no requirements.txt): the project, with its dependencies,
    installed into a virtualenv of this release (the project is the tree, so the venv is
    never shared with another release)."""
    raw = ctx.read("pyproject.toml") or b""
    plan = pyproject_plan(raw)
    uv = uv_bin()
    key = digest("python-project", sys.version, binary_id("/usr/bin/python3"), raw) + f"-v{ctx.version}"
    cache = Cache("python", key, ctx.user, ctx.cache_dir)
    venv = cache.path
    ctx.emit(f"-----> Creating virtualenv (Python {platform.python_version()})")
    cache.prepare()
    system = ["--system-site-packages"] if plan["offline_build"] else []
    if uv:
        mk = [uv, "venv", "--quiet", "--python", "/usr/bin/python3", *system, venv]
    else:
        mk = ["/usr/bin/python3", "-m", "venv", "--without-pip", *system, venv]
    if ctx.run(mk, what="venv") != 0:
        fail(ctx, cache, "could not create the virtualenv")
    if plan["install"]:
        isolation = ["--no-build-isolation"] if plan["offline_build"] else []
        if uv:
            ctx.emit("-----> Running uv pip install .")
            argv = [uv, "pip", "install", "--python", f"{venv}/bin/python", *isolation, "."]
            what = "uv pip install"
        else:
            ctx.emit("-----> Running pip install .")
            # --no-cache-dir: the app user's home (/app) is not its to write, and a wheel
            # of the tree is never reused (pip would warn that its cache is disabled)
            argv = pip_install(venv, "--no-cache-dir", *isolation, ".")
            what = "pip install"
        rc = ctx.run(argv, env=ctx.env({"UV_CACHE_DIR": os.path.join(venv, ".uv-cache")}) if uv else None,
                     what=what)
        if rc != 0:
            fail(ctx, cache, f"{'uv pip' if uv else 'pip'} install . failed (exit status {rc})")
    else:
        ctx.emit("-----> pyproject.toml has no [project] or [build-system] table; nothing to install")
    cache.commit()
    return venv_runtime(venv, cache)


# ---------------------------------------------------------------- node

_NPM_ROOT_SCRIPTS = ("preinstall", "install", "postinstall", "prepare")
_NPM_DEP_FIELDS = ("dependencies", "devDependencies", "optionalDependencies", "peerDependencies",
                   "bundleDependencies", "bundledDependencies", "overrides", "workspaces")
_NPM_LOCAL_SPEC = ("file:", "link:", "./", "../", "/", "~/")


def node(ctx):
    raw = ctx.read("package.json")
    try:
        pkg = json.loads(raw or b"{}")
        if not isinstance(pkg, dict):
            raise ValueError("not an object")
    except ValueError as e:
        raise BuildError("build_failed", f"package.json is not valid JSON: {e}") from None
    scripts = pkg.get("scripts") if isinstance(pkg.get("scripts"), dict) else {}
    lock_name = next((n for n in ("npm-shrinkwrap.json", "package-lock.json") if ctx.exists(n)), None)
    lock = ctx.read(lock_name) if lock_name else None
    npmrc = ctx.read(".npmrc")
    deps = {k: pkg[k] for k in _NPM_DEP_FIELDS if pkg.get(k)}
    lock_pkgs = False
    if lock:
        try:
            lock_json = json.loads(lock)
            lock_pkgs = any(k for k in (lock_json.get("packages") or {})) or bool(lock_json.get("dependencies"))
        except (ValueError, AttributeError):
            lock_pkgs = True  # let npm say what is wrong with it
    root_scripts = [s for s in _NPM_ROOT_SCRIPTS if scripts.get(s)]
    specs = [v for k in ("dependencies", "devDependencies", "optionalDependencies")
             if isinstance(pkg.get(k), dict) for v in pkg[k].values()]
    local = bool(pkg.get("workspaces")) or any(isinstance(v, str) and v.startswith(_NPM_LOCAL_SPEC) for v in specs)
    install = ["npm", "ci"] if lock else ["npm", "install"]
    install += ["--no-audit", "--no-fund", "--no-update-notifier", "--progress=false"]
    env = ctx.env({"npm_config_update_notifier": "false"})
    caches = []
    modules = os.path.join(ctx.dir, "node_modules")
    if os.path.lexists(modules):
        ctx.emit("-----> Using node_modules from the repository (not running npm)")
    elif not deps and not lock_pkgs and not root_scripts:
        ctx.emit("-----> package.json declares no dependencies; skipping npm install")
    elif root_scripts or local:
        # the app's own install scripts, workspaces and file: dependencies need the
        # whole tree: install in place, uncached
        why = f"{', '.join(root_scripts)} scripts" if root_scripts else "local packages"
        ctx.emit(f"-----> Running {' '.join(install[:2])} (in the release: package.json has {why})")
        rc = ctx.run(install, env=env, what=" ".join(install[:2]))
        if rc != 0:
            raise BuildError("build_failed", f"{' '.join(install[:2])} failed (exit status {rc})")
    else:
        key = digest("node", binary_id("/usr/bin/node"), json.dumps(deps, sort_keys=True), lock or b"",
                     npmrc or b"")
        cache = Cache("node", key, ctx.user, ctx.cache_dir)
        manifest = "package-lock.json" if lock_name else "package.json"
        if cache.ready():
            ctx.emit(f"-----> Using cached node_modules ({manifest} unchanged)")
        else:
            ctx.emit(f"-----> Running {' '.join(install[:2])}")
            cache.prepare()
            # only the manifests (no install scripts of the app's own, see above)
            files = {"package.json": raw}
            if lock:
                files[lock_name] = lock
            if npmrc:
                files[".npmrc"] = npmrc
            for name, data in files.items():
                write_as(cache.path, name, data, ctx.user)
            rc = ctx.run(install, cwd=cache.path, env=env, what=" ".join(install[:2]))
            if rc != 0:
                fail(ctx, cache, f"{' '.join(install[:2])} failed (exit status {rc})")
            os.makedirs(os.path.join(cache.path, "node_modules"), exist_ok=True)
            cache.commit()
        os.symlink(os.path.join(cache.path, "node_modules"), modules)
        os.lchown(modules, ctx.user.pw_uid, ctx.user.pw_gid)
        caches.append(cache.name)
    build_script = next((s for s in ("heroku-postbuild", "build") if scripts.get(s)), None)
    if build_script:
        ctx.emit(f"-----> Running npm run {build_script}")
        rc = ctx.run(["npm", "run", build_script], env=env, what=f"npm run {build_script}")
        if rc != 0:
            raise BuildError("build_failed", f"npm run {build_script} failed (exit status {rc})")
    # `npm start` without npm (~40 MB and seconds of startup under TCG): run the start
    # script directly, as npm would, unless it has pre/post hooks.
    default_web = note = None
    start = scripts.get("start")
    if isinstance(start, str) and start.strip():
        if scripts.get("prestart") or scripts.get("poststart"):
            default_web, note = "npm start", "npm start"
        else:
            default_web, note = start.strip(), "the start script in package.json"
    elif ctx.exists("server.js"):
        default_web, note = "node server.js", "npm's default for server.js"
    code_cache = node_code_cache(ctx)
    if code_cache:
        caches.append(code_cache)
    return Runtime(path=[f"{ctx.dir}/node_modules/.bin"], env={"NODE_ENV": "production"},
                   caches=caches, default_web=default_web, default_web_note=note)


def node_code_cache_entry(user, root=CACHE_DIR):
    """The V8 code cache directory of the app's modules for this Node binary (and libnode):
    node-code-cache.cjs fills it as the app runs; V8's cached data is only good for the
    Node that made it."""
    libs = sorted(glob.glob(LIBNODE_GLOB))
    key = digest("node-code", binary_id(NODE_BIN), *(f"{p}={binary_id(p)}" for p in libs))
    return Cache("node-code", key, user, root)


def node_code_cache(ctx):
    """Makes the code cache directory (once per VM and Node; 0700, the app user's: only the
    app's own processes read what V8 will run from it) -> its cache entry's name, or None
    when the image has no node."""
    if not os.path.isfile(NODE_BIN):
        return None
    cache = node_code_cache_entry(ctx.user, ctx.cache_dir)
    if not cache.ready():
        cache.prepare()
        os.chmod(cache.path, 0o700)
        cache.commit()
    return cache.name


def node_code_cache_env(root=CACHE_DIR):
    """{FCM_NODE_CODE_CACHE: dir} for a process start when the directory is ready, else {}."""
    cache = node_code_cache_entry(None, root)
    return {NODE_CODE_CACHE_ENV: cache.path} if cache.ready() else {}


def write_as(directory, name, data, user):
    fd = os.open(os.path.join(directory, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        os.fchown(f.fileno(), user.pw_uid, user.pw_gid)


# ---------------------------------------------------------------- ruby

_GEMFILE_CODE = re.compile(r"\b(gem|gemspec|eval_gemfile|instance_eval|eval|load|require|require_relative|path|git|github|plugin)\b")
_GEMFILE_LOCAL = re.compile(r"\b(gemspec|path|eval_gemfile|require_relative|load)\b")


def ruby(ctx):
    gemfile = ctx.read("Gemfile") or b""
    lock = ctx.read("Gemfile.lock")
    code = "\n".join(line.split("#", 1)[0] for line in gemfile.decode("utf-8", "replace").splitlines())
    code = re.sub(r"^\s*source\s.*$", "", code, flags=re.M)
    needs_install = bool(_GEMFILE_CODE.search(code))
    if lock and not needs_install:
        needs_install = bool(re.search(rb"^DEPENDENCIES\n\s+\S", lock, re.M))
    if not needs_install:
        ctx.emit("-----> Gemfile declares no gems; skipping bundle install")
        return Runtime(env={"BUNDLE_GEMFILE": os.path.join(ctx.dir, "Gemfile")},
                       default_web=_rack_default(ctx, lock))
    key = digest("ruby", binary_id("/usr/bin/ruby"), gemfile, lock or b"")
    if _GEMFILE_LOCAL.search(code):
        key = f"{key}-v{ctx.version}"
    cache = Cache("ruby", key, ctx.user, ctx.cache_dir)
    bundle = cache.path
    env = {"BUNDLE_GEMFILE": os.path.join(ctx.dir, "Gemfile"), "BUNDLE_PATH": bundle,
           "BUNDLE_WITHOUT": "development:test", "BUNDLE_APP_CONFIG": os.path.join(bundle, ".bundle"),
           "BUNDLE_DISABLE_VERSION_CHECK": "true"}
    if cache.ready():
        ctx.emit("-----> Using cached gems (Gemfile and Gemfile.lock unchanged)")
        saved = os.path.join(bundle, ".Gemfile.lock")
        if not lock and os.path.isfile(saved):
            with open(saved, "rb") as f:
                write_as(ctx.dir, "Gemfile.lock", f.read(), ctx.user)
    else:
        ctx.emit("-----> Running bundle install")
        cache.prepare()
        build_env = dict(env, BUNDLE_JOBS="2")
        if lock:
            build_env["BUNDLE_FROZEN"] = "true"
        rc = ctx.run(["bundle", "install"], env=ctx.env(build_env), what="bundle install")
        if rc != 0:
            fail(ctx, cache, f"bundle install failed (exit status {rc})")
        generated = ctx.read("Gemfile.lock")
        if generated and not lock:
            write_as(bundle, ".Gemfile.lock", generated, ctx.user)
        cache.commit()
    # plain `ruby app.rb` finds the bundled gems too (no `bundle exec` needed)
    gem_dirs = sorted(d for d in _listdir(os.path.join(bundle, "ruby")) if os.path.isdir(os.path.join(bundle, "ruby", d)))
    path = []
    if gem_dirs:
        gem_home = os.path.join(bundle, "ruby", gem_dirs[-1])
        env["GEM_PATH"] = gem_home
        path.append(os.path.join(gem_home, "bin"))
    return Runtime(path=path, env=env, caches=[cache.name], default_web=_rack_default(ctx, lock))


def _rack_default(ctx, lock):
    lock = lock or ctx.read("Gemfile.lock") or b""
    if ctx.exists("config.ru") and re.search(rb"^\s+rack(up)? ", lock, re.M):
        return "bundle exec rackup config.ru --host 0.0.0.0 --port $PORT"
    return None


def _listdir(path):
    try:
        return os.listdir(path)
    except OSError:
        return []
