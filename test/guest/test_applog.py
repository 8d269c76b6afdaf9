"""applog.py: the app log's line format, rotation and followers."""

import os
import re
import threading
import unittest

import guesttest
from guesttest import TempApp

import applog

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (\S+): (.*)\n$")


class AppLogTest(unittest.TestCase):
    def setUp(self):
        self.app = TempApp()
        self.addCleanup(self.app.cleanup)
        self.log = applog.AppLog(os.path.join(self.app.dir, "logs"))

    def test_line_format_and_sources(self):
        self.log.write("web[1]", "hello\nworld   ")
        self.log.event("release", "v1 is live")
        lines = self.log.tail(10)
        self.assertEqual([LINE.match(line).groups() for line in lines],
                         [("web[1]", "hello"), ("web[1]", "world"), ("fcm[release]", "v1 is live")])
        self.assertEqual(os.stat(self.log.path).st_mode & 0o777, 0o640)

    def test_clean(self):
        self.assertEqual(applog.clean("10%\r20%\r100%\r"), "100%")
        self.assertEqual(applog.clean("x" * (applog.MAX_LINE + 10)), "x" * applog.MAX_LINE)
        self.assertEqual(applog.clean("\r\r"), "")

    def test_rotation_keeps_two_files_and_tail_reads_across_them(self):
        big = "y" * 1000
        for i in range(1200):  # ~1.2 MiB: one rotation
            self.log.write("web[1]", f"{i} {big}")
        self.assertTrue(os.path.exists(self.log.path + ".1"))
        self.assertLess(os.path.getsize(self.log.path), applog.MAX_BYTES)
        tail = self.log.tail(3)
        self.assertEqual([LINE.match(line).group(2).split()[0] for line in tail], ["1197", "1198", "1199"])
        self.assertEqual(self.log.tail(0), [])

    def test_follow_without_gaps_or_repeats(self):
        self.log.write("web[1]", "before")
        follower, backlog = self.log.follow(5)
        self.assertEqual(len(backlog), 1)
        got = []
        reader = threading.Thread(target=lambda: got.extend(follower.take(5)))
        reader.start()
        self.log.write("web[1]", "after")
        reader.join(5)
        self.assertEqual([LINE.match(line).group(2) for line in got], ["after"])
        self.assertEqual(follower.take(0.01), [])
        self.log.unfollow(follower)
        self.log.write("web[1]", "not followed")
        self.assertEqual(follower.take(0.01), [])

    def test_a_slow_follower_loses_the_oldest_lines_not_memory(self):
        follower, _ = self.log.follow(0)
        for i in range(applog.FOLLOW_BACKLOG + 5):
            self.log.write("web[1]", str(i))
        lines = follower.take(0)
        self.assertEqual(len(lines), applog.FOLLOW_BACKLOG)
        self.assertEqual(LINE.match(lines[0]).group(2), "5")

    def test_a_full_disk_does_not_raise(self):
        log = applog.AppLog("/proc/fcm-no-such-dir")  # cannot be created
        log.write("web[1]", "lost, but the supervisor goes on")


if __name__ == "__main__":
    unittest.main()
