"""Runs the guest's Python unit tests like `python3 -m unittest discover -s test/guest
-t test/guest` (the same loader), and also writes each test's outcome as JSON to the
file named by --json, so that `npm test` (test/unit/guest-python.test.ts) reports
every Python test by name, skips with their reasons.

    python3 test/guest/run_tests.py [--json FILE] [-v]

Exit status: 0 when every test passed (skips allowed), 1 otherwise, 2 when no test
was found.
"""

import json
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


class RecordingResult(unittest.TextTestResult):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.records = []
        self._started = {}

    def startTest(self, test):
        self._started[test.id()] = time.monotonic()
        super().startTest(test)

    def _record(self, test, outcome, detail=""):
        ms = int((time.monotonic() - self._started.get(test.id(), time.monotonic())) * 1000)
        self.records.append({"id": test.id(), "outcome": outcome, "detail": detail, "ms": ms})

    def addSuccess(self, test):
        super().addSuccess(test)
        self._record(test, "pass")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._record(test, "fail", self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        self._record(test, "fail", self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._record(test, "skip", reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._record(test, "fail", "expected failures are not allowed here: fix the code or the test")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._record(test, "fail", "unexpected success")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._record(subtest, "fail", self._exc_info_to_string(err, test))


def main(argv):
    out = argv[argv.index("--json") + 1] if "--json" in argv else None
    suite = unittest.defaultTestLoader.discover(HERE, pattern="test*.py", top_level_dir=HERE)
    runner = unittest.TextTestRunner(stream=sys.stderr, verbosity=2 if "-v" in argv else 1, resultclass=RecordingResult)
    result = runner.run(suite)
    if out:
        with open(out, "w", encoding="utf-8") as f:
            json.dump({"testsRun": result.testsRun, "records": result.records}, f)
    if result.testsRun == 0:
        return 2
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
