"""Operations: one deploy, activate or restart at a time, with its streamed output.

The operation lock lives here and nowhere else. Runner.start() takes it (or answers
409 deploy_in_progress), runs the operation on a worker thread, and releases it in
that thread's one `finally`, just before the final `fcm-result:` line: whoever reacts
to that line may start the next operation at once.

Work that nobody waits for (out.after(fn): removing old releases, starting an
interpreter for the next run) runs after the result line has gone out, still under
the lock, so the pusher's `git push` returns without waiting for it. An operation
started meanwhile waits for that tidying (TIDY_WAIT_S at most) instead of answering
409: the previous one has ended as far as anyone can tell.

An operation is two functions, both run on the worker:
  prepare(out) -> value    while the HTTP request waits: it may read the request body
                           and raise ApiError, which the request answers as a problem
                           (nothing is streamed); or return Done(result) to end at once.
  work(out, value) -> result dict   after the request has started streaming `out`.

The answer (agent-openapi.yaml, "OperationStream"): text lines as they come, then
exactly one last line `fcm-result: <OperationResult as compact JSON>`, then the end
of the response. If the client goes away the operation still finishes.
"""

import json
import queue
import sys
import threading
import traceback

from apierror import ApiError

RESULT_PREFIX = "fcm-result: "
ERROR = " !     "
INTERNAL = {"ok": False, "code": "internal", "error": "internal error in the guest agent"}
TIDY_WAIT_S = 60


class Output:
    """Lines for the client: queued for the HTTP response (streamed as they come) and
    kept for the log. The operation goes on if the client goes away."""

    def __init__(self):
        self.q = queue.Queue()
        self.attached = True
        self.lines = []
        self.finished = threading.Event()
        self.final = None
        self.afterwards = []

    def after(self, fn):
        """Runs fn() once the result line is out, before the lock is released (see the
        module doc). Its failure is logged, never reported: the result was already sent."""
        self.afterwards.append(fn)

    def emit(self, line):
        self.lines.append(line)
        if self.attached:
            self.q.put(line)

    def result(self, obj):
        self.final = obj
        self.emit(RESULT_PREFIX + json.dumps(obj, separators=(",", ":")))
        self.q.put(None)
        self.finished.set()

    def stream(self):
        """The response body: chunks of whole lines, ending after the result line."""
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


class Done:
    """What prepare() returns to end the operation with `result` without a work step."""

    def __init__(self, result):
        self.result = result


class _Handoff:
    """The request thread waits here until prepare() has finished on the worker."""

    def __init__(self):
        self.event = threading.Event()
        self.error = None

    def wait(self):
        self.event.wait()
        if self.error is not None:
            raise self.error


class Runner:
    def __init__(self):
        self._lock = threading.Lock()
        self._tidying = threading.Event()  # set while the lock holder runs out.after() work

    def busy(self):
        """An operation runs (not counting the tidying after its result)."""
        return self._lock.locked() and not self._tidying.is_set()

    def _acquire(self, wait_for_lock):
        if self._lock.acquire(blocking=wait_for_lock):
            return True
        if self._tidying.is_set():
            return self._lock.acquire(timeout=TIDY_WAIT_S)
        # The holder may have finished tidying (and released) between the two checks.
        return self._lock.acquire(blocking=False)

    def start(self, name, work, prepare=None, wait_for_lock=False):
        """Runs the operation; returns its Output once prepare() is done. Raises ApiError
        409 when another operation runs (unless wait_for_lock), or what prepare() raised."""
        if not self._acquire(wait_for_lock):
            raise ApiError(409, "deploy_in_progress", "another deploy, activate or restart is running")
        out, handoff = Output(), _Handoff()
        try:
            threading.Thread(target=self._run, args=(out, handoff, prepare, work), name=name, daemon=True).start()
        except BaseException:
            self._lock.release()  # no worker: nothing else will
            raise
        handoff.wait()
        return out

    def _run(self, out, handoff, prepare, work):
        result, streaming, error = None, False, None
        try:
            value = prepare(out) if prepare else None
            streaming = True
            handoff.event.set()
            result = value.result if isinstance(value, Done) else work(out, value)
        except BaseException as e:  # noqa: B036 - the lock must go whatever happened
            if streaming:
                traceback.print_exc(file=sys.stderr)
                out.emit(f"{ERROR}internal error in the guest agent")
                result = dict(INTERNAL, error=f"internal error in the guest agent: {type(e).__name__}")
            else:
                error = e
        finally:
            if streaming:
                tidy, out.afterwards = out.afterwards, []
                if not tidy:
                    self._lock.release()
                    out.result(result or INTERNAL)
                else:
                    self._tidying.set()
                    out.result(result or INTERNAL)
                    for fn in tidy:
                        try:
                            fn()
                        except BaseException:  # noqa: B036 - the lock must go whatever happened
                            traceback.print_exc(file=sys.stderr)
                    self._lock.release()
                    self._tidying.clear()
            else:
                self._lock.release()
                handoff.error = error or RuntimeError("operation failed before it started")
                handoff.event.set()
