"""prestart.py: a Python interpreter started ahead of the next run of the web command.

The point of these tests is that a script run by a pre-started interpreter sees what
`python3 <script>` would have shown it, and that every case it cannot serve exactly
falls back to a fresh start."""

import json
import os
import subprocess
import time
import unittest

import guesttest
from guesttest import Redirects, TempApp, eventually, need_root

import applog
import prestart
import switch
from operations import Output
from prestart import NodeStandby, Standby
from supervisor import Proc

NODE = "/usr/bin/node"

# Prints what a script can observe of how it was started, then exits with argv[1].
PROBE = r'''
import os, sys, json
print(json.dumps({
    "argv": sys.argv, "file": __file__, "name": __name__, "cwd": os.getcwd(),
    "path0": sys.path[0], "stdin": sys.stdin.read(), "spec": __spec__, "package": __package__,
    "main_is_globals": sys.modules["__main__"].__dict__ is globals(), "flags": str(sys.flags),
    "executable": sys.executable, "env": dict(os.environ), "uid": os.getuid(), "umask": os.umask(0o022),
    "nice": os.getpriority(os.PRIO_PROCESS, 0), "doc": __doc__,
}, sort_keys=True), flush=True)
sys.exit(int(sys.argv[1]))
'''


@need_root
class Fixture(unittest.TestCase):
    def setUp(self):
        self.app = TempApp()
        self.addCleanup(self.app.cleanup)
        self.user = self.app.user()
        self.rdir = os.path.join(self.app.dir, "release")
        os.mkdir(self.rdir, 0o755)
        self.write("app.py", '"""the docstring"""\n' + PROBE)
        # The environment a run has (process_env); the standby gets the previous run's.
        self.env = {"PATH": "/usr/bin:/bin", "HOME": self.user.pw_dir, "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1",
                    "GREETING": "hej", "PORT": "18002", "FCM_RELEASE": "2", "FCM_COMMIT": "c2",
                    "FCM_APP_DIR": self.rdir, "DYNO": "web.1"}
        self.prev_env = {**self.env, "PORT": "18001", "FCM_RELEASE": "1", "FCM_COMMIT": "c1", "FCM_APP_DIR": "/app/releases/v1"}

    def write(self, name, text):
        with open(os.path.join(self.rdir, name), "w") as f:
            f.write(text)

    def standby(self, env=None, wait=True):
        sb = Standby("/usr/bin/python3", env or self.prev_env, self.user).start()
        self.addCleanup(sb.stop)
        if wait:
            self.assertTrue(sb.ready.wait(60), "the interpreter became ready")
        return sb

    def proc(self, command, env=None):
        return Proc(None, "web", 1, command, self.rdir, env or self.env, self.user, 18002)

    def fresh(self, argv):
        """What `argv` prints and returns when started the usual way."""
        r = subprocess.run(argv, cwd=self.rdir, env=self.env, stdin=subprocess.DEVNULL, capture_output=True,
                           user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[], umask=0o022,
                           start_new_session=True)
        return json.loads(r.stdout), r.returncode


class TakeTest(Fixture):
    def test_the_script_sees_what_a_fresh_start_shows_it(self):
        argv = ["python3", "app.py", "7", "two words"]
        sb = self.standby()
        self.assertTrue(sb.fits(self.proc("python3 app.py 7 x")))
        popen = sb.take(argv, self.rdir, self.env)
        self.assertIsNotNone(popen)
        warm = json.loads(popen.communicate()[0])
        self.assertEqual(popen.returncode, 7)
        cold, rc = self.fresh(argv)
        self.assertEqual(rc, 7)
        self.assertEqual(warm, cold)
        self.assertEqual(warm["argv"], ["app.py", "7", "two words"])
        self.assertEqual((warm["file"], warm["path0"], warm["cwd"]),
                         (os.path.join(self.rdir, "app.py"), self.rdir, self.rdir))
        self.assertEqual(warm["env"]["PORT"], "18002")
        self.assertEqual((warm["name"], warm["stdin"], warm["spec"], warm["doc"]), ("__main__", "", None, "the docstring"))

    def test_variables_the_run_does_not_have_are_gone(self):
        popen = self.standby({**self.prev_env, "DROPPED": "x"}).take(["python3", "app.py", "0"], self.rdir, self.env)
        warm = json.loads(popen.communicate()[0])["env"]
        self.assertNotIn("DROPPED", warm)
        self.assertEqual(warm, self.fresh(["python3", "app.py", "0"])[0]["env"])

    def test_an_exception_exits_1_with_the_traceback_on_stdout(self):
        self.write("boom.py", "raise RuntimeError('boom at start')\n")
        popen = self.standby().take(["python3", "boom.py"], self.rdir, self.env)
        out = popen.communicate()[0].decode()
        self.assertEqual(popen.returncode, 1)
        self.assertIn("RuntimeError: boom at start", out)
        self.assertIn('boom.py", line 1', out)

    def test_a_file_shadowing_an_imported_module_falls_back(self):
        self.write("json.py", "raise SystemExit('the app json.py')\n")
        sb = self.standby()
        popen = sb.popen
        self.assertIsNone(sb.take(["python3", "app.py", "0"], self.rdir, self.env))
        self.assertIsNotNone(popen.poll(), "the interpreter is stopped")
        self.assertIsNone(sb.popen)

    def test_a_dead_interpreter_falls_back(self):
        sb = self.standby()
        os.killpg(sb.popen.pid, 9)
        sb.popen.wait()
        self.assertFalse(sb.fits(self.proc("python3 app.py 0")))
        self.assertIsNone(sb.take(["python3", "app.py", "0"], self.rdir, self.env))

    def standby_first_importing(self, name, then, on_ready=None):
        """A standby whose first preloaded module is `name`: it touches the returned path, then runs `then`."""
        libdir = os.path.join(self.app.dir, "lib")
        os.mkdir(libdir, 0o755)
        begun = os.path.join(self.app.dir, "begun")
        with open(os.path.join(libdir, f"{name}.py"), "w") as f:
            f.write(f"import os, time\nopen({begun!r}, 'w').close()\n{then}\n")
        os.chmod(self.app.dir, 0o777)
        self.prev_env["PYTHONPATH"] = self.env["PYTHONPATH"] = libdir
        preload = prestart.PRELOAD
        prestart.PRELOAD = (name,) + preload
        try:
            sb = Standby("/usr/bin/python3", self.prev_env, self.user).start(on_ready)
        finally:
            prestart.PRELOAD = preload
        self.addCleanup(sb.stop)
        return sb, begun

    def test_one_still_importing_is_taken_and_imports_no_more(self):
        calls = []
        # The first module it imports takes 2 s and says when it has begun.
        self.write("mods.py", "import json, os, sys\n"
                   "print(json.dumps({'slow': 'fcm_test_slow' in sys.modules, 'http': 'http.server' in sys.modules,"
                   " 'nice': os.getpriority(os.PRIO_PROCESS, 0), 'argv': sys.argv}))\n")
        sb, begun = self.standby_first_importing("fcm_test_slow", "time.sleep(2)", lambda: calls.append(1))
        eventually(lambda: os.path.exists(begun), timeout=60, what="the slow import under way")
        self.assertFalse(sb.ready.is_set())
        self.assertTrue(sb.fits(self.proc("python3 mods.py")), "one still importing fits")
        popen = sb.take(["python3", "mods.py", "x"], self.rdir, self.env)
        self.assertIsNotNone(popen, "taken, not stopped")
        seen = json.loads(popen.communicate()[0])
        self.assertEqual(popen.returncode, 0)
        # The import under way finished; the ones after it were left to the script.
        self.assertEqual(seen, {"slow": True, "http": False, "nice": 0, "argv": ["mods.py", "x"]})
        self.assertEqual(calls, [], "no 'ready for the next start' once a run took it")

    def test_one_that_dies_while_importing_falls_back(self):
        sb, begun = self.standby_first_importing("fcm_test_exit", "time.sleep(1)\nos._exit(3)")
        popen = sb.popen
        eventually(lambda: os.path.exists(begun), timeout=60, what="the import under way")
        self.assertIsNone(sb.take(["python3", "app.py", "0"], self.rdir, self.env))
        self.assertEqual(popen.wait(), 3)
        self.assertIsNone(sb.popen, "stopped")

    def test_ready_is_reported_once(self):
        calls = []
        sb = Standby("/usr/bin/python3", self.prev_env, self.user).start(lambda: calls.append(1))
        self.addCleanup(sb.stop)
        eventually(lambda: calls, timeout=60, what="the ready callback")
        self.assertTrue(sb.ready.is_set())
        self.assertEqual(calls, [1])

    def test_it_waits_at_the_lowest_priority_and_runs_at_normal(self):
        sb = self.standby()
        with open(f"/proc/{sb.popen.pid}/stat") as f:
            self.assertEqual(int(f.read().rsplit(")", 1)[1].split()[16]), prestart.IDLE_NICE)
        popen = sb.take(["python3", "app.py", "0"], self.rdir, self.env)
        self.assertEqual(json.loads(popen.communicate()[0])["nice"], 0)


class FitsTest(Fixture):
    def test_commands(self):
        sb = self.standby()
        for command in ("python3 app.py", "python3 app.py 1", "/usr/bin/python3 app.py --port $PORT"):
            self.assertTrue(sb.fits(self.proc(command)), command)
        for command in ("python3 -u app.py", "python3 -m http.server", "python3 missing.py", "python3 app.py | cat",
                        "gunicorn app:app", "./app.py", "sh app.py", "python3", "usr/bin/python3 app.py"):
            self.assertFalse(sb.fits(self.proc(command)), command)

    def test_environment(self):
        sb = self.standby()
        self.assertTrue(sb.fits(self.proc("python3 app.py", {**self.env, "PORT": "18999", "FCM_RELEASE": "9"})))
        for change in ({"GREETING": "hi"}, {"PYTHONPATH": "/x"}, {"PATH": "/usr/local/bin:/usr/bin:/bin"},
                       {"LANG": "C"}, {"DYNO": "web.2"}):
            self.assertFalse(sb.fits(self.proc("python3 app.py", {**self.env, **change})), change)
        less = dict(self.env)
        del less["GREETING"]
        self.assertFalse(sb.fits(self.proc("python3 app.py", less)))

    def test_another_interpreter_on_the_path(self):
        bindir = os.path.join(self.app.dir, "venv", "bin")
        os.makedirs(bindir)
        os.symlink("/usr/bin/python3", os.path.join(bindir, "python3"))
        sb = self.standby()
        env = {**self.env, "PATH": f"{bindir}:/usr/bin:/bin"}
        self.assertFalse(sb.fits(self.proc("python3 app.py", env)), "a venv's python is another interpreter")
        self.assertIsNone(Standby.for_proc(self.proc("gunicorn app:app")))
        venv_sb = Standby.for_proc(self.proc("python3 app.py", env))
        self.assertEqual(venv_sb.executable, os.path.join(bindir, "python3"))


# What a Node.js script can observe of how it was started (CommonJS), then exits with argv[2].
NODE_PROBE = r"""
const fs = require('fs');
const nice = fs.readdirSync('/proc/self/task').map((t) => Number(fs.readFileSync(`/proc/self/task/${t}/stat`, 'utf8').split(') ')[1].split(' ')[16]));
console.log(JSON.stringify({
  argv: process.argv, execArgv: process.execArgv, cwd: process.cwd(), main: require.main === module,
  mainModule: process.mainModule === module, id: module.id, parent: module.parent, file: __filename,
  cache: Object.keys(require.cache), env: process.env, stdin: fs.readFileSync(0, 'utf8'),
  uid: process.getuid(), umask: process.umask(), nice: [...new Set(nice)],
  handles: process.getActiveResourcesInfo(),
  builtins: ['zlib', 'child_process', 'http'].filter((m) => process.moduleLoadList.includes(`NativeModule ${m}`)),
}));
process.exitCode = Number(process.argv[2]);
"""

# The same from an ES module (package.json "type": "module").
NODE_ESM_PROBE = r"""
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
console.log(JSON.stringify({
  argv: process.argv, execArgv: process.execArgv, cwd: process.cwd(), url: import.meta.url,
  file: fileURLToPath(import.meta.url), env: process.env, stdin: fs.readFileSync(0, 'utf8'),
  require: typeof require, mainModule: process.mainModule === undefined,
}));
await new Promise((r) => setTimeout(r, 10));  // top-level await
process.exitCode = Number(process.argv[2]);
"""


class NodeFixture(Fixture):
    def setUp(self):
        super().setUp()
        if not os.path.isfile(NODE):
            self.skipTest(f"{NODE} is not installed")
        self.write("app.js", NODE_PROBE)
        self.env.pop("PYTHONUNBUFFERED")
        self.env["NODE_ENV"] = "production"
        self.prev_env = {**self.env, "PORT": "18001", "FCM_RELEASE": "1", "FCM_COMMIT": "c1", "FCM_APP_DIR": "/app/releases/v1"}

    def standby(self, env=None, wait=True):
        sb = NodeStandby(NODE, env or self.prev_env, self.user).start()
        self.addCleanup(sb.stop)
        if wait:
            self.assertTrue(sb.ready.wait(60), "the Node.js process became ready")
        return sb

    def warm_and_cold(self, argv, env=None):
        popen = self.standby().take(argv, self.rdir, env or self.env)
        self.assertIsNotNone(popen, "taken")
        out = popen.communicate()[0]
        cold = subprocess.run(argv, cwd=self.rdir, env=env or self.env, stdin=subprocess.DEVNULL, capture_output=True,
                              user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[], umask=0o022,
                              start_new_session=True)
        return (popen.returncode, out.decode()), (cold.returncode, cold.stdout.decode())


class NodeTakeTest(NodeFixture):
    def test_a_commonjs_script_sees_what_a_fresh_start_shows_it(self):
        warm, cold = self.warm_and_cold(["node", "app.js", "7", "two words"])
        # The one handle the app starts with: process.stderr, which the standby's warm-up
        # opened (net does when a socket closes); its server and sockets are gone.
        warm_handles, cold_handles = (json.loads(out).pop("handles") for _, out in (warm, cold))
        self.assertEqual((warm_handles, cold_handles), (["PipeWrap"], []))
        # ... and the built-in modules it loaded ahead.
        warm_builtins, cold_builtins = (json.loads(out).pop("builtins") for _, out in (warm, cold))
        self.assertEqual((warm_builtins, cold_builtins), (["zlib", "child_process", "http"], []))
        warm, cold = ((code, out.replace('"handles":["PipeWrap"]', '"handles":[]')
                       .replace('"builtins":["zlib","child_process","http"]', '"builtins":[]')) for code, out in (warm, cold))
        self.assertEqual(warm, cold)
        self.assertEqual(warm[0], 7)
        seen = json.loads(warm[1])
        script = os.path.join(self.rdir, "app.js")
        self.assertEqual(seen["argv"], [os.path.realpath(NODE), script, "7", "two words"])
        self.assertEqual((seen["main"], seen["mainModule"], seen["id"], seen["parent"], seen["file"]), (True, True, ".", None, script))
        self.assertEqual((seen["cwd"], seen["cache"], seen["stdin"], seen["execArgv"]), (self.rdir, [script], "", []))
        self.assertEqual(seen["env"], self.env)
        self.assertEqual(seen["nice"], [0], "every thread runs at normal priority once taken")

    def test_an_es_module_sees_what_a_fresh_start_shows_it(self):
        self.write("package.json", json.dumps({"type": "module"}))
        self.write("app.js", NODE_ESM_PROBE)
        warm, cold = self.warm_and_cold(["node", "app.js", "3"])
        self.assertEqual(warm, cold)
        self.assertEqual(warm[0], 3)
        seen = json.loads(warm[1])
        self.assertEqual((seen["require"], seen["url"]), ("undefined", "file://" + os.path.join(self.rdir, "app.js")))
        self.write("app.mjs", NODE_ESM_PROBE)
        os.unlink(os.path.join(self.rdir, "package.json"))
        warm, cold = self.warm_and_cold(["node", "app.mjs", "4"])
        self.assertEqual(warm, cold)
        self.assertEqual(json.loads(warm[1])["file"], os.path.join(self.rdir, "app.mjs"))

    def test_variables_the_run_does_not_have_are_gone(self):
        popen = self.standby({**self.prev_env, "DROPPED": "x"}).take(["node", "app.js", "0"], self.rdir, self.env)
        self.assertEqual(json.loads(popen.communicate()[0])["env"], self.env)

    def test_an_uncaught_error_exits_1_with_the_stack_on_stdout(self):
        self.write("boom.js", "throw new Error('boom at start');\n")
        popen = self.standby().take(["node", "boom.js"], self.rdir, self.env)
        out = popen.communicate()[0].decode()
        self.assertEqual(popen.returncode, 1)
        self.assertIn("Error: boom at start", out)
        self.assertIn(os.path.join(self.rdir, "boom.js") + ":1", out)

    def test_a_script_gone_by_then_falls_back(self):
        sb = self.standby()
        popen = sb.popen
        self.assertIsNone(sb.take(["node", "gone.js"], self.rdir, self.env))
        self.assertIsNotNone(popen.poll(), "the Node.js process is stopped")
        self.assertIsNone(sb.popen)

    def test_a_dead_process_falls_back(self):
        sb = self.standby()
        os.killpg(sb.popen.pid, 9)
        sb.popen.wait()
        self.assertFalse(sb.fits(self.proc("node app.js")))
        self.assertIsNone(sb.take(["node", "app.js", "0"], self.rdir, self.env))

    def slow_standby(self, ms):
        """A started stand-in for node-standby.cjs that loads it only after `ms` (its own
        line in require.cache is the one difference this makes), not waited for."""
        slow = os.path.join(self.app.dir, "slow-standby.cjs")
        with open(slow, "w") as f:
            f.write(f"Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, {ms});\n"
                    f"require({json.dumps(prestart.NODE_STANDBY_JS)});\n")
        os.chmod(self.app.dir, 0o755)
        real = prestart.NODE_STANDBY_JS
        prestart.NODE_STANDBY_JS = slow
        try:
            return self.standby(wait=False)
        finally:
            prestart.NODE_STANDBY_JS = real

    def test_one_still_loading_is_taken_at_normal_priority_and_loads_no_more(self):
        # It loads node-standby.cjs only after 2 s: the run is here before its first step,
        # so it loads none of its built-in modules and makes no warm-up request.
        sb = self.slow_standby(2000)
        self.assertFalse(sb.ready.is_set())
        self.assertTrue(sb.fits(self.proc("node app.js")), "one still loading fits")
        popen = sb.take(["node", "app.js", "5"], self.rdir, self.env)
        self.assertIsNotNone(popen)
        seen = json.loads(popen.communicate()[0])
        self.assertEqual(popen.returncode, 5)
        self.assertEqual((seen["main"], seen["nice"], seen["env"]), (True, [0], self.env))
        self.assertEqual((seen["builtins"], seen["handles"]), ([], []), "hurried: nothing loaded ahead, no warm-up")

    def test_taken_at_any_point_of_its_loading_the_run_starts_with_no_handle_of_it(self):
        # Taken 0-300 ms after its start (on this host it is ready after ~0.2 s): before its
        # first step, between modules, during its warm-up request (which a run ends at once)
        # or ready. Whenever it is, the run gets a process with nothing of the warm-up left.
        for delay_ms in range(0, 320, 20):
            sb = self.standby(wait=False)
            time.sleep(delay_ms / 1000)
            popen = sb.take(["node", "app.js", "0"], self.rdir, self.env)
            self.assertIsNotNone(popen, delay_ms)
            seen = json.loads(popen.communicate()[0])
            self.assertEqual((popen.returncode, seen["main"], seen["env"]), (0, True, self.env), delay_ms)
            self.assertIn(seen["handles"], ([], ["PipeWrap"]), delay_ms)

    def test_it_loads_at_normal_priority(self):
        # A stand-in that stays in its first step for 20 s: not ready, so still at the priority
        # it started with (Python's interpreter starts at the lowest, test above).
        sb = self.slow_standby(20000)
        with open(f"/proc/{sb.popen.pid}/stat") as f:
            self.assertEqual(int(f.read().rsplit(")", 1)[1].split()[16]), 0)
        self.assertFalse(sb.ready.is_set())

    def test_under_tcg_the_taken_app_runs_with_the_v8_flags_set_at_take(self):
        self.write("app.js", "console.log(JSON.stringify({flags: globalThis[Symbol.for('fcm.v8Flags')] || null,"
                             " keys: Object.keys(globalThis).includes('fcm.v8Flags'), execArgv: process.execArgv}));\n")
        for emulated, flags in ((True, prestart.TCG_NODE_V8_FLAGS), (False, None)):
            real = prestart.emulated_cpu
            prestart.emulated_cpu = lambda: emulated
            try:
                sb = self.standby()
            finally:
                prestart.emulated_cpu = real
            popen = sb.take(["node", "app.js"], self.rdir, self.env)
            self.assertIsNotNone(popen)
            self.assertEqual(json.loads(popen.communicate()[0]), {"flags": flags, "keys": False, "execArgv": []}, emulated)

    def code_cache_dir(self, name):
        """A private code cache directory of the app user's, as the buildpack makes (0700)."""
        os.chmod(self.app.dir, 0o755)
        d = os.path.join(self.app.dir, name)
        os.mkdir(d, 0o700)
        os.chown(d, self.user.pw_uid, self.user.pw_gid)
        return d

    def test_the_code_cache_named_by_its_environment_is_installed_ahead_for_the_run(self):
        cache = self.code_cache_dir("code-cache")
        self.write("app.js", "console.log(JSON.stringify(globalThis[Symbol.for('fcm.nodeCodeCache')] || null));\n")
        sb = self.standby({**self.prev_env, "FCM_NODE_CODE_CACHE": cache})
        self.assertEqual(os.listdir(cache), [], "nothing written ahead (its rehearsal of a compile caches nothing)")
        popen = sb.take(["node", "app.js"], self.rdir, {**self.env, "FCM_NODE_CODE_CACHE": cache})
        self.assertIsNotNone(popen)
        # The app's own module, and only it, went through the hook (the rehearsal is not counted).
        self.assertEqual(json.loads(popen.communicate()[0]),
                         {"hits": 0, "misses": 1, "rejected": 0, "bad": 0, "uncached": 0, "written": 0})
        # Installed for its own directory before the run came: a run naming another one falls
        # back to a fresh start (the agent never pairs them: fits() compares the environments).
        other = self.code_cache_dir("other")
        sb = self.standby({**self.prev_env, "FCM_NODE_CODE_CACHE": cache})
        self.assertIsNone(sb.take(["node", "app.js"], self.rdir, {**self.env, "FCM_NODE_CODE_CACHE": other}))
        # Without one in its environment, the run's is installed at take.
        sb = self.standby()
        popen = sb.take(["node", "app.js"], self.rdir, {**self.env, "FCM_NODE_CODE_CACHE": other})
        self.assertEqual(json.loads(popen.communicate()[0])["misses"], 1)

    def test_one_ready_has_loaded_ahead_and_is_not_hurried(self):
        sb = self.standby()
        popen = sb.take(["node", "app.js", "0"], self.rdir, self.env)
        seen = json.loads(popen.communicate()[0])
        self.assertEqual((seen["builtins"], seen["handles"]), (["zlib", "child_process", "http"], ["PipeWrap"]))

    def test_one_that_dies_while_loading_falls_back(self):
        sb = self.standby(wait=False)
        os.killpg(sb.popen.pid, 9)
        self.assertIsNone(sb.take(["node", "app.js", "0"], self.rdir, self.env))
        self.assertIsNone(sb.popen)

    def test_it_waits_with_every_thread_at_the_lowest_priority(self):
        sb = self.standby()
        tasks = os.listdir(f"/proc/{sb.popen.pid}/task")
        self.assertGreater(len(tasks), 1, "node has threads of its own")
        for tid in tasks:
            with open(f"/proc/{sb.popen.pid}/task/{tid}/stat") as f:
                self.assertEqual(int(f.read().rsplit(")", 1)[1].split()[16]), prestart.IDLE_NICE, tid)


class NodeStartNowTest(NodeFixture):
    """Under TCG a start of `node <script>` that no process started ahead took runs through one
    started then and taken at once (prestart.start_now), for the V8 flags a taken one has."""

    def emulated(self, value):
        real = prestart.emulated_cpu
        prestart.emulated_cpu = lambda: value
        self.addCleanup(setattr, prestart, "emulated_cpu", real)

    def start_now(self, command, argv):
        popen = prestart.start_now(self.proc(command), argv)
        if popen is not None:
            self.addCleanup(lambda: popen.poll() is None and os.killpg(popen.pid, 9))
        return popen

    def test_under_tcg_the_run_gets_the_flags_and_nothing_loaded_ahead(self):
        self.emulated(True)
        self.write("flags.js", NODE_PROBE.replace("console.log(JSON.stringify({",
                                                  "console.log(JSON.stringify({flags: globalThis[Symbol.for('fcm.v8Flags')] || null,"))
        popen = self.start_now("node flags.js 6", ["node", "flags.js", "6"])
        self.assertIsNotNone(popen, "started through node-standby.cjs")
        seen = json.loads(popen.communicate()[0])
        self.assertEqual(popen.returncode, 6)
        script = os.path.join(self.rdir, "flags.js")
        self.assertEqual(seen["flags"], prestart.TCG_NODE_V8_FLAGS)
        self.assertEqual((seen["argv"][1:], seen["execArgv"], seen["main"], seen["cwd"]), ([script, "6"], [], True, self.rdir))
        self.assertEqual((seen["env"], seen["nice"], seen["uid"]), (self.env, [0], self.user.pw_uid))
        self.assertEqual((seen["builtins"], seen["handles"]), ([], []), "hurried from its first step: nothing loaded ahead, no warm-up")

    def test_without_tcg_or_for_another_command_it_starts_as_usual(self):
        self.emulated(False)
        self.assertIsNone(self.start_now("node app.js", ["node", "app.js"]))
        self.emulated(True)
        for command in ("node --inspect app.js", "python3 app.py", "node missing.js"):
            self.assertIsNone(self.start_now(command, command.split()), command)

    def test_a_runner_that_fails_leaves_the_start_to_go_as_usual(self):
        self.emulated(True)
        real = prestart.NODE_STANDBY_JS
        prestart.NODE_STANDBY_JS = os.path.join(self.app.dir, "missing.cjs")
        try:
            self.assertIsNone(self.start_now("node app.js", ["node", "app.js"]))
        finally:
            prestart.NODE_STANDBY_JS = real

    def test_a_supervised_node_process_starts_through_it(self):
        self.emulated(True)
        self.write("flags.js", "console.log('flags=' + (globalThis[Symbol.for('fcm.v8Flags')] || 'none'));\n")
        log = applog.AppLog(os.path.join(self.app.dir, "logs"))
        proc = Proc(log, "worker", 1, "node flags.js", self.rdir, self.env, self.user, None, "127.0.0.1", 1)
        proc.start()
        self.addCleanup(lambda: proc.signal_stop() or proc.join(time.monotonic() + 5))
        eventually(lambda: proc.state == "crashed", timeout=60, what="the worker ran and exited")
        self.assertIn(f"flags={prestart.TCG_NODE_V8_FLAGS}", "".join(log.tail(20)))


class NodeFitsTest(NodeFixture):
    def test_commands(self):
        sb = self.standby()
        for command in ("node app.js", "node app.js 1", f"{NODE} app.js --port $PORT"):
            self.assertTrue(sb.fits(self.proc(command)), command)
        for command in ("node --inspect app.js", "node -r ./x.js app.js", "node missing.js", "node app", "npm start",
                        "node app.js | cat", "node", "usr/bin/node app.js", "python3 app.py", "sh app.js"):
            self.assertFalse(sb.fits(self.proc(command)), command)

    def test_environment(self):
        sb = self.standby()
        self.assertTrue(sb.fits(self.proc("node app.js", {**self.env, "PORT": "18999", "FCM_RELEASE": "9"})))
        # each Node release's PATH starts with its own node_modules/.bin
        self.assertTrue(sb.fits(self.proc("node app.js", {**self.env, "PATH": "/app/releases/v9/node_modules/.bin:/usr/bin:/bin"})))
        for change in ({"GREETING": "hi"}, {"NODE_ENV": "development"}, {"PATH": "/usr/local/bin:/bin"},
                       {"NODE_OPTIONS": "--require ./trace.js"}, {"FCM_NODE_CODE_CACHE": "/elsewhere"}):
            self.assertFalse(sb.fits(self.proc("node app.js", {**self.env, **change})), change)

    def test_which_process_a_command_gets(self):
        self.write("app.py", PROBE)
        self.assertIsInstance(Standby.for_proc(self.proc("node app.js")), NodeStandby)
        self.assertEqual(type(Standby.for_proc(self.proc("python3 app.py"))), Standby)
        self.assertIsNone(Standby.for_proc(self.proc("node app.js", {**self.env, "NODE_OPTIONS": "-r ./x.js"})))
        self.assertIsNotNone(Standby.for_proc(self.proc("node app.js", {**self.env, "NODE_OPTIONS": " "})))
        self.assertIsNone(Standby.for_proc(self.proc("node --max-old-space-size=64 app.js")))


@need_root
class SwitchTest(unittest.TestCase):
    """Through switch.py and supervisor.py: the second release's web process runs in the
    interpreter started after the first went live; a changed config var starts fresh."""

    def setUp(self):
        self.app = TempApp()
        self.addCleanup(self.app.cleanup)
        self.s = self.app.storage
        self.s.layout()
        self.redirects = Redirects()
        self.log = applog.AppLog(self.s.logs)
        self.sw = switch.Switcher(self.s, self.log, self.app.user, self.redirects)
        self.sw.public_port = 8000
        self.addCleanup(lambda: self.sw.standby and self.sw.standby.stop())
        self.addCleanup(lambda: self.sw.live and self.sw.live.stop(grace_s=1))

    def release(self, version):
        self.s.new_release(version, self.app.user(), None)
        with open(os.path.join(self.s.release_dir(version), "app.py"), "w") as f:
            f.write(guesttest.WEB_APP)
        meta = {"version": version, "commit": None, "buildpack": "none", "processes": {"web": "python3 app.py"},
                "path": [], "env": {}}
        self.s.write_meta(meta)
        return meta

    def starts(self):
        with open(os.path.join(self.s.logs, "app.log")) as f:
            return [line.rstrip("\n").split(": ", 1)[1] for line in f if "Starting process with command" in line]

    def test_redeploy_uses_it_and_a_config_change_does_not(self):
        self.sw.launch(self.release(1), {"GREETING": "hi"}, Output(), {})
        eventually(lambda: self.sw.standby and self.sw.standby.ready.is_set(), timeout=60, what="the interpreter ready")
        self.sw.launch(self.release(2), {"GREETING": "hi"}, Output(), {})
        self.assertEqual(switch_fetch(self.redirects.target), "release 2 hi")
        self.sw.launch(self.release(3), {"GREETING": "hej"}, Output(), {})
        self.assertEqual(switch_fetch(self.redirects.target), "release 3 hej")
        starts = eventually(lambda: len(self.starts()) == 3 and self.starts(), what="three starts logged")
        self.assertFalse(starts[0].endswith("ahead of it"), starts[0])
        self.assertTrue(starts[1].endswith("in the interpreter started ahead of it"), starts[1])
        self.assertFalse(starts[2].endswith("ahead of it"), "GREETING changed: a fresh start")
        with open(os.path.join(self.s.logs, "app.log")) as f:
            self.assertIn(" fcm[web.1]: A Python interpreter for the next start is ready\n", f.read())
        self.sw.attach_standby(switch.Formation(0, []))  # the one started after v3 is stopped
        self.assertIsNone(self.sw.standby)


def switch_fetch(port):
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
        return r.read().decode()


if __name__ == "__main__":
    unittest.main()
