"""untar.py: a pushed tree can only ever write inside its release directory."""

import io
import os
import stat
import tarfile
import unittest

import guesttest
from guesttest import TempApp, tar_of

import untar
from untar import ArchiveError


class UntarTest(unittest.TestCase):
    def setUp(self):
        self.app = TempApp()
        self.addCleanup(self.app.cleanup)
        self.dest = os.path.join(self.app.dir, "release")
        os.mkdir(self.dest)
        self.uid = self.app.user().pw_uid

    def extract(self, data):
        return untar.extract(io.BytesIO(data), self.dest, self.uid, self.uid if guesttest.IS_ROOT else os.getegid())

    def refused(self, files, message):
        with self.assertRaises(ArchiveError) as e:
            self.extract(tar_of(files))
        self.assertIn(message, str(e.exception))

    def test_files_dirs_links_modes_and_owner(self):
        n, size = self.extract(tar_of({
            "app.py": "print(1)\n",
            "bin/": ("dir",),
            "bin/run": ("#!/bin/sh\n", 0o4755),  # setuid dropped, executable kept
            "lib/link": ("symlink", "../app.py"),
            "hard": ("hardlink", "app.py"),
        }))
        self.assertEqual((n, size), (3, 19))
        st = os.stat(os.path.join(self.dest, "bin", "run"))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o755)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.dest, "app.py")).st_mode), 0o644)
        self.assertEqual(os.readlink(os.path.join(self.dest, "lib", "link")), "../app.py")
        self.assertEqual(os.stat(os.path.join(self.dest, "hard")).st_ino, os.stat(os.path.join(self.dest, "app.py")).st_ino)
        if guesttest.IS_ROOT:
            self.assertEqual(os.lstat(os.path.join(self.dest, "lib", "link")).st_uid, self.uid)

    def test_gzip_is_detected(self):
        self.assertEqual(self.extract(tar_of({"a.txt": "gz"}, gz=True)), (1, 2))

    def test_later_members_replace_earlier_ones(self):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            for data in (b"first", b"second"):
                info = tarfile.TarInfo("same.txt")
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
        self.extract(buf.getvalue())
        with open(os.path.join(self.dest, "same.txt"), "rb") as f:
            self.assertEqual(f.read(), b"second")

    def test_paths_that_leave_the_tree(self):
        self.refused({"/etc/passwd": "x"}, "absolute path")
        self.refused({"a/../../b": "x"}, "escapes the release directory")

    def test_links_that_leave_the_tree(self):
        self.refused({"l": ("symlink", "/etc/passwd")}, "absolute target")
        self.refused({"d/l": ("symlink", "../../x")}, "points outside the release")
        self.refused({"h": ("hardlink", "missing")}, "target missing")

    def test_nothing_is_written_through_a_symlink(self):
        outside = os.path.join(self.app.dir, "outside")
        os.mkdir(outside)
        # a link inside the tree to a directory inside the tree is allowed; writing
        # "through" a link to a path outside must fail even when the link itself was valid
        with self.assertRaises(ArchiveError):
            self.extract(tar_of({"sub/": ("dir",), "esc": ("symlink", "sub"), "esc/f": "x"}))
        self.assertEqual(os.listdir(outside), [])
        self.assertFalse(os.path.exists(os.path.join(self.dest, "sub", "f")), "nothing written through the link")

    def test_special_files_are_refused(self):
        self.refused({"fifo": ("fifo",)}, "special files are not allowed")

    def test_not_a_tar_and_truncated(self):
        with self.assertRaises(ArchiveError):
            self.extract(b"this is not a tar archive at all" * 20)
        data = tar_of({"big.bin": b"x" * 100_000})
        with self.assertRaises(ArchiveError):
            self.extract(data[:50_000])

    def test_split_path_and_check_symlink(self):
        self.assertEqual(untar.split_path("./a//b/./c"), ["a", "b", "c"])
        self.assertEqual(untar.split_path("./"), [])
        with self.assertRaises(ArchiveError):
            untar.split_path("nul\0name")  # a tar header cannot carry it; a pax header could
        with self.assertRaises(ArchiveError):
            untar.split_path("/".join(["d"] * (untar.MAX_DEPTH + 1)))
        untar.check_symlink(["a", "b", "l"], "../../x")  # resolves to <tree>/x
        with self.assertRaises(ArchiveError):
            untar.check_symlink(["a", "l"], "../../x")


if __name__ == "__main__":
    unittest.main()
