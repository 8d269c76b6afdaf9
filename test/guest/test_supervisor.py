"""supervisor.py: app processes, readiness, restarts with backoff, stopping."""

import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

import guesttest
from guesttest import TempApp, eventually, need_root

import applog
import supervisor
from supervisor import Formation, Proc


class ExitTextTest(unittest.TestCase):
    def test_texts(self):
        self.assertEqual(supervisor._exit_text(0), "Process exited with status 0")
        self.assertEqual(supervisor._exit_text(-15), "Process killed by SIGTERM")
        self.assertEqual(supervisor._exit_text(-200), "Process killed by 200")
        self.assertEqual(supervisor._exit_text(None), "Process exited")


class ProbeCadenceTest(unittest.TestCase):
    """A web process's port is checked every 20 ms for its first 2 s, then every 100 ms
    (on a fake clock: which steps, not how long they took)."""

    def test_steps(self):
        clock = {"now": 100.0}
        sleeps = []

        class FakeTime:
            @staticmethod
            def monotonic():
                return clock["now"]

            @staticmethod
            def sleep(s):
                sleeps.append(s)
                clock["now"] += s

        class Running:
            @staticmethod
            def poll():
                return None

        listening_at = 102.5
        real_time, real_open = supervisor.time, supervisor.port_open
        supervisor.time = FakeTime
        supervisor.port_open = lambda host, port, timeout: clock["now"] >= listening_at
        try:
            events = []

            class Log:
                @staticmethod
                def event(source, text):
                    events.append(text)

            p = Proc(Log, "web", 1, "app", "/", {}, None, 18000)
            p.popen = Running
            p._probe(Running)
        finally:
            supervisor.time, supervisor.port_open = real_time, real_open
        fast = [x for x in sleeps if x == supervisor.PROBE_FAST_S]
        self.assertIn(len(fast), (100, 101), "every 20 ms for the first 2 s (one more: 100 float steps of 0.02 sum below 2)")
        self.assertEqual(sleeps[:len(fast)], fast, "the fast steps come first")
        self.assertEqual(set(sleeps[len(fast):]), {supervisor.PROBE_S})
        self.assertEqual((p.state, events), ("up", ["State changed from starting to up"]))


class DirectArgvTest(unittest.TestCase):
    """Plain commands run without /bin/sh, with exactly the argv the shell would give
    them; everything else still goes through the shell."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fcm-direct-argv-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        os.mkdir(os.path.join(self.dir, "bin"))
        os.mkdir(os.path.join(self.dir, "app"))
        for path in ("bin/printargs", "app/tool"):
            with open(os.path.join(self.dir, path), "w") as f:
                f.write('#!/bin/sh\nfor a in "$@"; do echo "[$a]"; done\n')
            os.chmod(os.path.join(self.dir, path), 0o755)
        self.cwd = os.path.join(self.dir, "app")
        self.env = {"PATH": f"{self.dir}/bin:/usr/bin:/bin", "PORT": "18007", "EMPTY": "", "SPACEY": "a b",
                    "GLOBBY": "*", "HOST": "0.0.0.0"}

    def outputs(self, command):
        """(what the shell runs, what direct_argv runs or None)."""
        sh = subprocess.run(["/bin/sh", "-c", command], cwd=self.cwd, env=self.env, capture_output=True, text=True)
        argv = supervisor.direct_argv(command, self.env, self.cwd)
        if argv is None:
            return sh.stdout, None
        direct = subprocess.run(argv, cwd=self.cwd, env=self.env, capture_output=True, text=True)
        return sh.stdout, direct.stdout

    def test_plain_commands_run_directly_with_the_shells_argv(self):
        for command in ("printargs", "printargs a b", "printargs  --port $PORT\t-v", "printargs --bind=${HOST}:$PORT",
                        "printargs app:app -w 2 --log-level=info @x %y +z", "./tool x"):
            sh, direct = self.outputs(command)
            self.assertIsNotNone(direct, command)
            self.assertEqual(direct, sh, command)
        self.assertEqual(supervisor.direct_argv("printargs --port $PORT", self.env, self.cwd),
                         ["printargs", "--port", "18007"])

    def test_everything_else_goes_through_the_shell(self):
        for command in ("printargs 'a b'", 'printargs "$PORT"', "printargs a && printargs b", "printargs a; printargs b",
                        "printargs $UNSET", "printargs $EMPTY", "printargs $SPACEY", "printargs $GLOBBY", "printargs *",
                        "printargs ~", "printargs # comment", "printargs $1", "printargs $$", "printargs $(echo x)",
                        "printargs `echo x`", "printargs a\\ b", "printargs > out", "printargs | cat", "printargs &",
                        "PORT=1 printargs", "exec printargs", "cd /tmp", ". ./tool", "nosuchcommand x", "./nosuch x",
                        "tool", "printargs {a,b}", "printargs !", "(printargs)", ""):
            self.assertIsNone(supervisor.direct_argv(command, self.env, self.cwd), command)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@need_root
class ProcTest(unittest.TestCase):
    def setUp(self):
        self.app = TempApp()
        self.addCleanup(self.app.cleanup)
        self.cwd = os.path.join(self.app.dir, "cwd")
        os.mkdir(self.cwd)
        self.log = applog.AppLog(os.path.join(self.app.dir, "logs"))
        self.procs = []
        self.addCleanup(lambda: Formation(0, self.procs).stop(grace_s=1))

    def proc(self, ptype, command, port=None):
        env = {"PATH": "/usr/bin:/bin", "HOME": self.cwd}
        if port:
            env["PORT"] = str(port)
        p = Proc(self.log, ptype, 1, command, self.cwd, env, self.app.user(), port, "127.0.0.1", 1)
        self.procs.append(p)
        return p

    def logged(self):
        return "".join(self.log.tail(100))

    def test_a_web_process_is_up_once_its_port_answers(self):
        port = free_port()
        p = self.proc("web", f"sleep 0.3; exec /usr/bin/python3 -m http.server {port} --bind 127.0.0.1", port)
        p.start()
        self.assertEqual(p.state, "starting")
        self.assertEqual(p.wait_ready(20), "up")
        snap = p.snapshot()
        self.assertEqual((snap["type"], snap["state"], snap["port"], snap["release"]), ("web", "up", port, 1))
        self.assertIsNotNone(snap["pid"])
        self.assertEqual(os.stat(f"/proc/{snap['pid']}").st_uid, self.app.user().pw_uid, "runs as the app user")

    def test_a_candidate_that_exits_is_not_restarted(self):
        p = self.proc("web", "echo boom; exit 3", free_port())
        p.start()
        self.assertEqual(p.wait_ready(10), "exited")
        self.assertEqual(p.exit_status, 3)
        time.sleep(supervisor.BACKOFF_MIN_S + 0.3)
        self.assertEqual((p.state, p.restarts), ("crashed", 0))
        self.assertIn("boom", list(p.recent))

    def test_a_supervised_process_that_exits_is_restarted_with_backoff(self):
        marker = os.path.join(self.cwd, "runs")
        p = self.proc("worker", f"echo run >> {marker}; exit 1")
        p.start()
        p.promote()
        eventually(lambda: p.restarts >= 2, timeout=supervisor.BACKOFF_MIN_S * 3 + 10, what="two restarts")
        text = self.logged()
        self.assertIn("fcm[worker.1]: Process exited with status 1", text)
        self.assertIn("fcm[worker.1]: Restarting in 1 s", text)
        self.assertIn("fcm[worker.1]: Restarting in 2 s", text, "the delay doubles")

    def test_stop_terms_then_kills_what_ignores_it(self):
        p = self.proc("worker", "trap '' TERM; echo ready; while :; do sleep 0.1; done")
        p.start()
        p.promote()
        eventually(lambda: "ready" in list(p.recent), what="the process runs")
        t0 = time.monotonic()
        Formation(1, [p]).stop(grace_s=0.5)
        self.assertLess(time.monotonic() - t0, 8)
        self.assertEqual(p.state, "stopped")
        self.assertIn("Stopping process with SIGKILL (did not exit after SIGTERM)", self.logged())
        self.assertEqual(p.restarts, 0, "a stopped process is not restarted")

    def test_output_goes_to_the_app_log_as_its_source(self):
        p = self.proc("worker", "printf 'progress 10%%\\r100%%\\n'; echo done")
        p.start()
        eventually(lambda: "done" in list(p.recent), what="output read")
        text = self.logged()
        self.assertIn(" worker[1]: 100%\n", text, "a progress redraw keeps its last state")
        self.assertIn(" fcm[worker.1]: Starting process with command `printf", text)


class FormationTest(unittest.TestCase):
    def test_web_state_and_ports(self):
        class P:
            def __init__(self, ptype, port, state):
                self.type, self.port, self.state = ptype, port, state
        self.assertEqual(Formation(1, [P("worker", None, "up")]).web_state(), "none")
        f = Formation(1, [P("worker", None, "up"), P("web", 18001, "starting")])
        self.assertEqual((f.web_state(), f.ports()), ("down", {18001}))
        f.web.state = "up"
        self.assertEqual(f.web_state(), "up")


if __name__ == "__main__":
    unittest.main()
