"""operations.py: the one place that owns the operation lock, and the streamed output."""

import json
import threading
import unittest

import guesttest  # noqa: F401  (puts rootfs/guest on sys.path)
from guesttest import lines_of

import operations
from apierror import ApiError
from operations import Done, Output, Runner


class RunnerTest(unittest.TestCase):
    def test_one_operation_at_a_time_and_the_lock_goes_before_the_result_line(self):
        ops = Runner()
        go = threading.Event()
        seen_busy = []

        def work(out, _):
            out.emit("-----> working")
            go.wait(10)
            return {"ok": True, "release": 1}
        out = ops.start("first", work)
        self.assertTrue(ops.busy())
        with self.assertRaises(ApiError) as e:
            ops.start("second", lambda out, _: {"ok": True})
        self.assertEqual((e.exception.status, e.exception.code), (409, "deploy_in_progress"))
        go.set()
        for chunk in out.stream():
            if chunk.decode().rstrip("\n").split("\n")[-1].startswith(operations.RESULT_PREFIX):
                seen_busy.append(ops.busy())
        self.assertEqual(seen_busy, [False], "whoever reads the result line may start the next operation")
        again = ops.start("third", lambda out, _: {"ok": True, "release": 2})
        self.assertEqual(lines_of(again), ['fcm-result: {"ok":true,"release":2}'])

    def test_after_work_runs_once_the_result_is_out_and_the_next_operation_waits_for_it(self):
        ops = Runner()
        tidy_go, tidied, order = threading.Event(), threading.Event(), []

        def tidy():
            order.append("tidy started")
            tidy_go.wait(10)
            order.append("tidy done")
            tidied.set()

        def work(out, _):
            out.after(tidy)
            out.after(lambda: 1 / 0)  # a failing one is logged, the lock still goes
            return {"ok": True, "release": 1}
        out = ops.start("deploy", work)
        text = b"".join(out.stream()).decode()  # the stream ends with the result, tidying still running
        self.assertTrue(text.rstrip("\n").split("\n")[-1].startswith(operations.RESULT_PREFIX))
        self.assertFalse(tidied.is_set())
        self.assertFalse(ops.busy(), "tidying is not an operation in progress")
        got = []
        second = threading.Thread(target=lambda: got.append(ops.start("restart", lambda o, _: (order.append("restart"), {"ok": True})[1])))
        second.start()
        second.join(0.3)
        self.assertTrue(second.is_alive(), "the next operation waits for the tidying instead of a 409")
        tidy_go.set()
        second.join(10)
        self.assertEqual(order, ["tidy started", "tidy done", "restart"])
        self.assertEqual(lines_of(got[0]), ['fcm-result: {"ok":true}'])
        self.assertFalse(ops.busy())

    def test_prepare_errors_are_raised_to_the_request_and_release_the_lock(self):
        ops = Runner()
        ran = []

        def prepare(out):
            out.emit("never streamed")
            raise ApiError(404, "release_not_found", "v9 is not on this VM")
        with self.assertRaises(ApiError) as e:
            ops.start("activate", lambda out, v: ran.append(v), prepare=prepare)
        self.assertEqual(e.exception.code, "release_not_found")
        self.assertFalse(ops.busy())
        self.assertEqual(ran, [])
        with self.assertRaises(OSError):
            ops.start("deploy", lambda out, v: {}, prepare=lambda out: (_ for _ in ()).throw(OSError(28, "No space left")))
        self.assertFalse(ops.busy())

    def test_prepare_may_finish_the_operation_with_a_result(self):
        ops = Runner()
        ran = []

        def prepare(out):
            out.emit("-----> Nothing deployed yet; nothing to restart")
            return Done({"ok": True, "release": None, "buildpack": "none", "processes": {}})
        out = ops.start("restart", lambda out, v: ran.append(v), prepare=prepare)
        self.assertEqual(lines_of(out), [
            "-----> Nothing deployed yet; nothing to restart",
            'fcm-result: {"ok":true,"release":null,"buildpack":"none","processes":{}}'])
        self.assertEqual(ran, [])
        self.assertFalse(ops.busy())

    def test_prepare_value_goes_to_work_on_the_same_worker(self):
        ops = Runner()
        threads = []

        def prepare(out):
            threads.append(threading.current_thread())
            return 41

        def work(out, value):
            threads.append(threading.current_thread())
            return {"ok": True, "release": value + 1}
        out = ops.start("deploy-v42", work, prepare=prepare)
        self.assertEqual(json.loads(lines_of(out)[-1][len("fcm-result: "):])["release"], 42)
        self.assertIs(threads[0], threads[1])
        self.assertIsNot(threads[0], threading.current_thread())
        self.assertEqual(threads[0].name, "deploy-v42")

    def test_a_crashing_operation_is_an_internal_result_and_releases_the_lock(self):
        ops = Runner()

        def work(out, _):
            out.emit("-----> about to fail")
            raise KeyError("boom")
        with self.assertLogs_stderr():
            out = ops.start("restart", work)
            lines = lines_of(out)
        self.assertEqual(lines[:2], ["-----> about to fail", " !     internal error in the guest agent"])
        result = json.loads(lines[-1][len(operations.RESULT_PREFIX):])
        self.assertEqual(result, {"ok": False, "code": "internal", "error": "internal error in the guest agent: KeyError"})
        self.assertFalse(ops.busy())

    def test_work_that_returns_nothing_is_internal(self):
        out = Runner().start("x", lambda out, _: None)
        self.assertEqual(lines_of(out), ['fcm-result: {"ok":false,"code":"internal","error":"internal error in the guest agent"}'])

    def test_wait_for_lock_waits_for_the_running_operation(self):
        ops = Runner()
        go = threading.Event()
        order = []
        first = ops.start("first", lambda out, _: (go.wait(10), order.append("first"), {"ok": True})[2])
        waiter = threading.Thread(target=lambda: order.append(("boot", ops.start(
            "boot", lambda out, _: (order.append("boot"), {"ok": True})[1], wait_for_lock=True).finished.wait(10))))
        waiter.start()
        self.assertEqual(order, [])
        go.set()
        waiter.join(10)
        lines_of(first)
        self.assertEqual(order[:2], ["first", "boot"])

    def assertLogs_stderr(self):
        """The runner prints the traceback of an unexpected error to stderr (the guest's
        agent log): keep it out of the test output."""
        import contextlib
        import io
        import sys
        return contextlib.redirect_stderr(io.StringIO()) if sys.stderr else contextlib.nullcontext()


class OutputTest(unittest.TestCase):
    def test_lines_then_exactly_one_result_line_then_the_end(self):
        out = Output()
        out.emit("-----> one")
        out.emit("       two")
        out.result({"ok": False, "code": "build_failed", "error": "pip install failed (exit status 1)"})
        out.emit("after the end: kept, never streamed")
        body = b"".join(out.stream()).decode()
        self.assertEqual(body, '-----> one\n       two\n'
                               'fcm-result: {"ok":false,"code":"build_failed","error":"pip install failed (exit status 1)"}\n')
        self.assertEqual(out.final["code"], "build_failed")

    def test_chunks_hold_whole_lines(self):
        out = Output()
        chunks = []
        reader = threading.Thread(target=lambda: chunks.extend(out.stream()))
        reader.start()
        for i in range(200):
            out.emit(f"line {i}")
        out.result({"ok": True})
        reader.join(10)
        self.assertTrue(all(c.endswith(b"\n") for c in chunks))
        self.assertEqual(b"".join(chunks).decode().splitlines()[-1], 'fcm-result: {"ok":true}')

    def test_a_client_that_goes_away_does_not_stop_the_operation(self):
        out = Output()
        out.emit("first")
        gen = out.stream()
        self.assertEqual(next(gen), b"first\n")
        gen.close()  # the HTTP client went away
        self.assertFalse(out.attached)
        out.emit("later")  # not queued any more, still kept
        out.result({"ok": True})
        self.assertEqual(out.lines, ["first", "later", 'fcm-result: {"ok":true}'])
        self.assertTrue(out.finished.is_set())

    def test_non_utf8_safe(self):
        out = Output()
        out.emit("caf\udce9")  # a lone surrogate from a tool's undecodable byte
        out.result({"ok": True})
        self.assertTrue(b"".join(out.stream()).startswith(b"caf?\n"))


if __name__ == "__main__":
    unittest.main()
