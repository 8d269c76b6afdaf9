"""A Python interpreter started ahead of the next run of the live web command.

Most of a Python web process's start is Python's own: the interpreter, site, and the
standard modules a web app imports (`import http.server` alone is ~1 s of CPU under
QEMU TCG, against ~10 ms for the app's own code). So once a release is live whose web
command is `python[3] <script> [args]`, the agent starts one interpreter for the next
run of that command, before anyone asks for it: the same binary (found on the
release's PATH), as the app user, with the environment that run will have, in its
own session, at the lowest priority (it yields the CPU to the live app). It imports
the modules below, says it is ready (the agent logs that in the app log) and waits on
its stdin.

The next start of a web process takes it (Proc.standby, supervisor.py), ready or still
importing, when that run would start the same interpreter the same way (fits()). One
still importing is sent the run at once and given normal priority: it stops importing
at the next module (BOOT looks at its stdin between modules) and runs the script, which
imports what it still needs the way a fresh start does. So it never has more left to do
than a fresh start but the one import under way, and what it did at the lowest priority
before is saved (under load, with the live app taking the guest's CPU, an interpreter
at nice 19 is rarely done in time: it was then stopped, and that work was lost).
  - its command is plain (supervisor.direct_argv) and is `<python> <script> [args]`,
    no interpreter options, <python> (python, python3, python3.N, or an absolute path
    to one) found on its PATH at the same path, <script> a regular file;
  - its environment equals the interpreter's except for PER_RUN (the port, release,
    commit and release directory), none of which Python reads when it starts;
  - no file or directory at the top of the script's directory shares its first name
    part with a module already imported (`json.py` next to the script would have been
    imported instead of the standard one).
It then gets that run's argv, working directory and environment, is given normal
priority, and runs the script as `__main__` the way `python3 <script>` does: sys.argv
as given, sys.path[0] the script's directory, __file__ absolute, stdin /dev/null.
What still differs from a fresh start, by design: the modules below are already in
sys.modules, the process started earlier (its start time and CPU time), and its
/proc cmdline is the interpreter's `-c` bootstrap; a traceback shows one `<string>`
frame above the script.

Anything else (no interpreter, a different command or environment, a shadowing file,
an interpreter that died or does not answer within REPLY_TIMEOUT_S) and the process
starts as usual: the interpreter is stopped and nothing of it is used.

Node.js the same way (NodeStandby, node-standby.cjs), measured in the guest (Debian's
Node 18, which the image had until it shipped the host's Node 20, TCG): of a plain node:http app's ~8 s start, ~1 s is before Node's first line (loading
libnode), ~3 s Node's own set-up even with the VM's startup snapshot, ~2 s the loaders
before the script runs, ~1 s compiling `http` and what it pulls in (Debian's Node has no
code cache for its built-in modules), and the app's own lines and listen a few hundred
ms. For `<node> <script> [args]` (node or nodejs, by name on PATH or absolute, no
options before the script, NODE_OPTIONS unset or empty) the agent starts
`<node> node-standby.cjs <fd> <hurry-fd>` with the same <node> as the run, as the app user, with the environment of the
previous run, stdin /dev/null, cwd /, at normal priority until it is ready (at the
lowest, behind the live app and the next deploy's steps, it was often still starting when
a redeploy came 3 s later; it loads its last, optional modules at the lowest already),
then every thread at the lowest; it loads the
built-in modules a node:http app uses, serves one HTTP request to itself on loopback (V8
compiles each built-in function at its first call: the first answer of a taken app cost
more than its start), loads more built-in modules web apps use (https, crypto, zlib, ...)
and waits. Under QEMU TCG it sets TCG_NODE_V8_FLAGS on itself before it says ready (later tier-up,
no Sparkplug: a just-started app serves requests for less CPU). It fits the next run under the same rules as
above (no shadowing check: built-in modules cannot be shadowed by files; PATH may
differ too, as each release's starts with its own node_modules/.bin), except that
one still loading is taken too: it gets normal priority and is told a run is here (a
byte on a pipe it reads between steps, hurry()): it loads no further built-in module,
skips its warm-up request and reads the run, so the start waits only for the step under
way (it has less left to do than a fresh start; Node's own set-up is most of the start). On take it
gets that run's argv, cwd and environment, every thread gets normal priority, and it
runs the script through Module.runMain, as `node <script>` does: require.main ===
module for CommonJS, the ESM loader for .mjs or "type": "module", process.argv
[execPath, <absolute script>, args...], process.execArgv as for a fresh start.
"""

import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import threading
import time

PER_RUN = frozenset({"PORT", "FCM_RELEASE", "FCM_COMMIT", "FCM_APP_DIR"})
PYTHON = re.compile(r"python(3(\.\d+)?)?")
NODE = re.compile(r"node(js)?")
NODE_STANDBY_JS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node-standby.cjs")
REPLY_TIMEOUT_S = 30
IDLE_NICE = 19
READY = b"ready\n"

# V8 flags the Node.js process started ahead sets on itself when it is taken, under QEMU TCG
# only (no KVM: every instruction emulated, and each piece of machine code V8 generates is
# translated again by QEMU before it runs): tier up to optimized code after 10x V8 11.3's
# default budget of bytecodes run (--interrupt-budget=67584) and no Sparkplug baseline code.
# Measured in the guest (`npm run bench -- node-serve`): a node:http app just started and
# serving a GET every ~16 ms spent ~49% of the vCPU in its first 3 s (Python's http.server
# ~34%), ~32% with these; hot code is still optimized, later. Set once the built-in
# modules it loads ahead are loaded, before it says ready (node-standby.cjs): on the command line they would make V8
# refuse Node's built-in code cache (its flag hash differs), and every built-in module would
# be compiled from source.
TCG_NODE_V8_FLAGS = "--interrupt-budget=675840 --no-sparkplug"


_emulated = None


def emulated_cpu():
    """True under QEMU TCG (the vCPU QEMU emulates calls itself that; under KVM the model
    name is the host's CPU's). Read once."""
    global _emulated
    if _emulated is None:
        try:
            with open("/proc/cpuinfo") as f:
                _emulated = any(line.startswith("model name") and "QEMU TCG CPU" in line for line in f)
        except OSError:
            _emulated = False
    return _emulated

# Standard modules that web apps import (and what http.server pulls in); each import
# that fails is skipped.
PRELOAD = ("http.server", "http.client", "socketserver", "json", "email.utils", "email.parser",
           "urllib.parse", "logging", "ssl", "socket", "threading", "mimetypes", "html", "datetime")

# Runs as `<python> -c BOOT`. Kept free of names in the module namespace the script
# will see: the script runs in a fresh __main__ module.
BOOT = r"""
import os, sys, select
if sys.path and sys.path[0] == "":
    del sys.path[0]
for _m in %(preload)r:
    # The run is here (or the agent is gone): the script imports what it needs itself.
    if select.select([0], [], [], 0)[0]:
        break
    try:
        __import__(_m)
    except Exception:
        pass
os.write(%(fd)d, b"ready\n")
def _fcm_go():
    import json, types, builtins
    from importlib.machinery import SourceFileLoader
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = os.read(0, 65536)
        if not chunk:
            os._exit(0)
        buf += chunk
    go = json.loads(buf)
    reply = os.fdopen(%(fd)d, "w")  # the reply pipe (pass_fds keeps the agent's number)
    argv, cwd, env = go["argv"], go["cwd"], go["env"]
    script = os.path.abspath(os.path.join(cwd, argv[1]))
    sdir = os.path.dirname(os.path.realpath(script))
    loaded = {n.partition(".")[0] for n in sys.modules}
    try:
        clash = sorted(n for n in os.listdir(sdir) if n.partition(".")[0] in loaded)
        with open(script, "rb") as f:
            source = f.read()
    except OSError as e:
        reply.write(f"no {e}\n")
        os._exit(0)
    if clash:
        reply.write(f"no {clash[0]} in the script's directory shadows a module already imported\n")
        os._exit(0)
    os.chdir(cwd)
    for k in list(os.environ):
        if k not in env:
            del os.environ[k]
    os.environ.update(env)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.argv = argv[1:]
    sys.path.insert(0, sdir)
    main = types.ModuleType("__main__")
    main.__file__ = script
    main.__cached__ = None
    main.__builtins__ = builtins
    main.__loader__ = SourceFileLoader("__main__", script)
    sys.modules["__main__"] = main
    code = compile(source, script, "exec")
    reply.write("ok\n")
    reply.close()
    return code, main.__dict__
_fcm_code, _fcm_ns = _fcm_go()
del _fcm_go
exec(_fcm_code, _fcm_ns)
"""


def script_argv(command, env, cwd, program):
    """The argv of `command` if it is `<program> <script> [args]` (<program> matching the
    regex `program`, a name or an absolute path, found on env's PATH) with <script> a
    regular file under cwd and no options before it; else None."""
    from supervisor import direct_argv
    return script_form(direct_argv(command, env, cwd), cwd, program)


def script_form(argv, cwd, program):
    """`argv` (a command's direct_argv, or None) if it is `<program> <script> [args]` as
    script_argv says; else None."""
    if not argv or len(argv) < 2 or not program.fullmatch(os.path.basename(argv[0])):
        return None
    if "/" in argv[0] and not os.path.isabs(argv[0]):
        return None
    if argv[1].startswith("-") or not os.path.isfile(os.path.join(cwd, argv[1])):
        return None
    return argv


def python_argv(command, env, cwd):
    """The argv of `command` if it is `<python> <script> [args]` with <python> on env's
    PATH and <script> a regular file under cwd; else None."""
    return script_argv(command, env, cwd, PYTHON)


def node_argv(command, env, cwd):
    """The argv of `command` if it is `<node> <script> [args]` with <node> on env's PATH,
    <script> a regular file under cwd, and no NODE_OPTIONS (a --require there would run
    in the process started ahead, before the run exists); else None."""
    from supervisor import direct_argv
    return node_form(direct_argv(command, env, cwd), env, cwd)


def node_form(argv, env, cwd):
    """`argv` (a command's direct_argv, or None) if node_argv would take its command; else None."""
    if env.get("NODE_OPTIONS", "").strip():
        return None
    return script_form(argv, cwd, NODE)


def interpreter(argv0, env):
    """The absolute path that running `argv0` (a name, or an absolute path) with env's
    PATH would execute, or None."""
    if os.path.isabs(argv0):
        return argv0 if os.path.isfile(argv0) and os.access(argv0, os.X_OK) else None
    found = shutil.which(argv0, path=env.get("PATH", os.defpath))
    return os.path.abspath(found) if found else None


def set_nice(pid, nice):
    """Gives every thread of `pid` the nice value (Node's threads each have their own)."""
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        tids = [pid]
    for tid in tids:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
        except OSError:
            pass


def start_now(proc, argv):
    """A start of `proc` (any process type) that no process started ahead took, under QEMU TCG,
    when its command is `node <script> [args]` under NodeStandby's rules: a Node.js process
    started now through node-standby.cjs and taken at once (hurried from its first step, so it
    loads nothing ahead and makes no warm-up request). The run then has what a taken one has:
    the TCG V8 flags, which a plain start could only get on its command line, where V8 refuses
    Node's code cache for its built-in modules (a start of twice the CPU), and the app code
    cache. Without the flags a fresh node:http app spent ~1.5x the vCPU serving requests in
    its first seconds (node-serve bench), which the next deploy's start then lacked (deploy
    bench: the live app took half the VM during the next start). -> its Popen (the run's
    process, stdout unread), or None: start as usual."""
    if not emulated_cpu() or not node_form(argv, proc.env, proc.cwd):
        return None
    exe = interpreter(argv[0], proc.env)
    if not exe:
        return None
    standby = NodeStandby(exe, proc.env, proc.user)
    try:
        standby.start()
    except (OSError, ValueError, subprocess.SubprocessError):
        standby.stop()
        return None
    return standby.take(argv, proc.cwd, proc.env)


class Standby:
    """One pre-started interpreter: start() it, then either take() it (once) or stop() it.
    This class is Python's (BOOT); NodeStandby is Node's (node-standby.cjs)."""

    what = "Python interpreter"  # in the app log: "A <what> for the next start is ready"
    noun = "interpreter"         # "... in the <noun> started ahead of it"
    # Taken before it is ready (given normal priority, then waited for)? Python's is, and
    # is sent the run at once (early_go): it stops preloading (see the module doc).
    take_unready = True
    early_go = True
    command_argv = staticmethod(python_argv)
    per_run = PER_RUN  # variables that may differ between it and the run that takes it
    # Its priority until it is ready (then IDLE_NICE: it only waits). Python's starts at the
    # lowest: it is done in well under a redeploy's gap even so, and yields to the live app.
    start_nice = IDLE_NICE

    def __init__(self, executable, env, user):
        self.executable, self.env, self.user = executable, dict(env), user
        self.popen = None
        self._reply = None
        self.ready = threading.Event()
        self._watch = None
        self._lock = threading.Lock()
        self._boosted = False  # take() gave it normal priority: it stays there
        self._settled = threading.Event()  # "ready" read, or its reply pipe ended (it died)

    @classmethod
    def for_proc(cls, proc):
        """A Standby (Python's or Node's) for the next run of `proc` (a web Proc), or None
        when its command is not one a pre-started process can run."""
        for kind in (Standby, NodeStandby):
            argv = kind.command_argv(proc.command, proc.env, proc.cwd)
            if argv:
                exe = interpreter(argv[0], proc.env)
                return kind(exe, proc.env, proc.user) if exe else None
        return None

    def _popen(self, argv, **kw):
        return subprocess.Popen(
            argv, cwd="/", env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, user=self.user.pw_uid,
            group=self.user.pw_gid, extra_groups=[], umask=0o022, start_new_session=True, close_fds=True, **kw)

    def _spawn(self):
        """-> (Popen, the fd its replies arrive on)."""
        r, w = os.pipe()
        try:
            # cwd "/": nothing from a release directory is imported before the script's own
            # directory is first on sys.path.
            popen = self._popen([self.executable, "-c", BOOT % {"preload": PRELOAD, "fd": w}],
                                stdin=subprocess.PIPE, pass_fds=(w,))
        except BaseException:
            os.close(r)
            raise
        finally:
            os.close(w)
        return popen, r

    def hurry(self):
        """Tells one still loading that a run is here (Python's: the run itself, early_go)."""

    def _send(self, popen, line):
        popen.stdin.write(line)
        popen.stdin.close()
        popen.stdin = None  # as if started with stdin=DEVNULL (what the process now reads)

    def start(self, on_ready=None):
        """Starts it; on_ready() is called (from another thread) once it has loaded what
        it preloads and waits (not when a run took it first)."""
        self.popen, r = self._spawn()
        self._reply = r
        set_nice(self.popen.pid, self.start_nice)
        self._watch = threading.Thread(target=self._wait_ready, args=(r, on_ready), name="prestart-ready", daemon=True)
        self._watch.start()
        return self

    def _wait_ready(self, fd, on_ready):
        try:
            # Exactly "ready\n" (one write), or b"" when it died: what follows it (the answer
            # to a run sent early) stays for take().
            line = os.read(fd, len(READY))
        except OSError:
            line = b""
        if line != READY:
            self._settled.set()
            return
        with self._lock:
            popen = self.popen
            taken = self._boosted
            if popen is not None and not taken:
                set_nice(popen.pid, IDLE_NICE)  # and the threads it started since
            self.ready.set()
        self._settled.set()
        if on_ready is not None and not taken:  # taken meanwhile: it waits for nothing
            on_ready()

    def fits(self, proc):
        """Would `proc`'s next start run this process, the same way? (See the module doc.)"""
        if self.popen is None or self.popen.poll() is not None or not (self.ready.is_set() or self.take_unready):
            return False
        argv = self.command_argv(proc.command, proc.env, proc.cwd)
        if not argv or interpreter(argv[0], proc.env) != self.executable:
            return False
        keys = (set(self.env) | set(proc.env)) - self.per_run
        return all(self.env.get(k) == proc.env.get(k) for k in keys)

    def take(self, argv, cwd, env):
        """Hands it the run: -> its Popen (now that run's process, stdout still unread),
        or None (not ready, refused, died or did not answer: stopped, start as usual)."""
        popen = self.popen
        try:
            if popen is not None and popen.poll() is None and (self.ready.is_set() or self.take_unready):
                with self._lock:
                    self._boosted = True
                    set_nice(popen.pid, 0)
                if not self.ready.is_set():
                    self.hurry()  # with Node's run (early_go): it reads that once it said "ready"
                go = json.dumps({"argv": argv, "cwd": cwd, "env": env}).encode() + b"\n"
                if self.early_go:
                    self._send(popen, go)
                # Ready, or dead (its end of the reply pipe or socket closed): no polling.
                if not self._settled.wait(REPLY_TIMEOUT_S) or not self.ready.is_set():
                    raise OSError("died or not ready in time")
                # Again, now that it has said "ready" (it changes no priority after that): one
                # still loading may have lowered its own after the first (node-standby.cjs
                # loads its last modules at the lowest priority).
                set_nice(popen.pid, 0)
                if not self.early_go:
                    self._send(popen, go)
                ready, _, _ = select.select([self._reply], [], [], REPLY_TIMEOUT_S)
                answer = os.read(self._reply, 4096) if ready else b""
                if answer == b"ok\n":
                    self._close_reply()
                    self.popen = None
                    return popen
        except (OSError, ValueError):
            pass
        self.stop()
        return None

    def stop(self):
        popen, self.popen = self.popen, None
        if popen is None:
            self._close_reply()
            return
        try:
            os.killpg(popen.pid, signal.SIGKILL)
        except OSError:
            pass
        if self._watch is not None:
            self._watch.join(5)  # its read ends: the write end died with the process
        for f in (popen.stdin, popen.stdout):
            try:
                if f:
                    f.close()
            except OSError:
                pass
        popen.wait()
        self._close_reply()

    def _close_reply(self):
        if self._reply is not None:
            os.close(self._reply)
            self._reply = None


class NodeStandby(Standby):
    """A Node.js process started ahead (node-standby.cjs): `<node> node-standby.cjs <fd> <hurry-fd>`,
    where <node> is what the run would start (/usr/bin/node), stdin /dev/null, and one socket
    for "ready", the run's {argv, cwd, env} and the answer."""

    what = "Node.js process"
    noun = "Node.js process"
    # One still starting is taken: given normal priority it has strictly less left to do
    # than a fresh start (its own start is most of a fresh one's, ~6 s of CPU under TCG,
    # so a redeploy a few seconds after the last often finds it still starting), and it
    # is hurried: it stops loading ahead at its next step and reads the run.
    take_unready = True
    # Sent at once too: node-standby.cjs reads it once it said "ready" (hurry() makes that soon),
    # and it is there then. Sent after "ready" instead, a hurried take waited for one more round
    # trip through the agent (~0.1 s with the live app serving; deploy bench, marks in the guest).
    early_go = True
    command_argv = staticmethod(node_argv)
    # PATH too: a Node release's PATH starts with its own node_modules/.bin, so it differs
    # from release to release; Node does not read PATH while it starts (the node it runs
    # is checked apart: interpreter()), and the run's PATH is in process.env on take.
    per_run = PER_RUN | {"PATH"}
    # Normal priority until ready: at the lowest, behind the live app serving requests (a Node
    # app just started costs more CPU per request than later: V8 compiles its hot code) and
    # the next deploy's own steps, it was often still starting when the next redeploy came,
    # 3 s later, and was then hurried with most of its work left to the run.
    start_nice = 0

    _hurry = None  # the write end of its "a run is here" pipe (see hurry())

    def _spawn(self):
        mine, theirs = socket.socketpair()
        # "A run is here": one byte on a pipe whose read end is non-blocking in the process
        # (node has no poll(), so it cannot peek at the socket without blocking on it).
        hurry_r, hurry_w = os.pipe()
        os.set_blocking(hurry_r, False)
        try:
            argv = [self.executable, NODE_STANDBY_JS, str(theirs.fileno()), str(hurry_r)]
            if emulated_cpu():
                argv.append(TCG_NODE_V8_FLAGS)
            popen = self._popen(argv, stdin=subprocess.DEVNULL, pass_fds=(theirs.fileno(), hurry_r))
        except BaseException:
            mine.close()
            os.close(hurry_w)
            raise
        finally:
            theirs.close()
            os.close(hurry_r)
        self._close_hurry()
        self._hurry = hurry_w
        return popen, mine.detach()

    def hurry(self):
        """A run is here: node-standby.cjs loads no further built-in module and skips its
        warm-up request, says "ready" and reads the run (the app loads what it needs itself,
        as a fresh start does: it has never more left to do than a fresh start)."""
        if self._hurry is not None:
            try:
                os.write(self._hurry, b"!")
            except OSError:
                pass  # it died: take() sees that
            self._close_hurry()

    def _close_hurry(self):
        if self._hurry is not None:
            os.close(self._hurry)
            self._hurry = None

    def _close_reply(self):
        self._close_hurry()
        super()._close_reply()

    def _send(self, popen, line):
        view = memoryview(line)
        while view:
            view = view[os.write(self._reply, view):]
