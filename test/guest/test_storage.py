"""storage.py: config vars, release metadata, `current`, garbage collection."""

import json
import os
import stat
import unittest

import guesttest
from guesttest import TempApp

import storage
from apierror import ApiError


class ValidateEnvTest(unittest.TestCase):
    def refused(self, body):
        with self.assertRaises(ApiError) as e:
            storage.validate_env(body)
        self.assertEqual((e.exception.status, e.exception.code), (400, "validation_failed"))
        return e.exception.detail

    def test_valid(self):
        self.assertEqual(storage.validate_env({"vars": {"A": "1", "_b9": "", "X" * 128: "v"}}),
                         {"A": "1", "_b9": "", "X" * 128: "v"})

    def test_names_follow_the_spec_pattern(self):
        # openapi.yaml EnvKey: ^[A-Za-z_][A-Za-z0-9_]{0,127}$ -- 128 characters at most
        self.assertIn("invalid config var name", self.refused({"vars": {"X" * 129: "v"}}))
        for bad in ("", "1A", "A-B", "A B", "É", "A\n"):
            self.refused({"vars": {bad: "v"}})

    def test_values(self):
        self.assertIn("must be a string", self.refused({"vars": {"A": 1}}))
        self.assertIn("NUL", self.refused({"vars": {"A": "a\0b"}}))
        storage.validate_env({"vars": {"A": "x" * storage.MAX_ENV_VALUE}})
        self.refused({"vars": {"A": "x" * (storage.MAX_ENV_VALUE + 1)}})
        many = {f"K{i}": "x" * storage.MAX_ENV_VALUE for i in range(16)}
        self.assertIn("too large in total", self.refused({"vars": many}))

    def test_shape(self):
        for body in (None, [], {"vars": []}, {"set": {}}, "vars"):
            self.refused(body)


class StorageTest(unittest.TestCase):
    def setUp(self):
        self.app = TempApp()
        self.s = self.app.storage
        self.addCleanup(self.app.cleanup)

    def test_env_roundtrip_root_only(self):
        self.assertEqual(self.s.load_env(), {})
        self.s.save_env({"GREETING": "hi"})
        self.assertEqual(self.s.load_env(), {"GREETING": "hi"})
        self.assertEqual(stat.S_IMODE(os.stat(self.s.env_file).st_mode), 0o600)
        self.assertEqual([n for n in os.listdir(self.s.root) if "tmp" in n], [])
        before = os.stat(self.s.env_file)
        self.s.save_env({"GREETING": "hi"})
        self.assertEqual(os.stat(self.s.env_file).st_ino, before.st_ino, "the same vars again: not rewritten")
        self.s.save_env({"GREETING": "hej"})
        self.assertEqual(self.s.load_env(), {"GREETING": "hej"})
        self.assertNotEqual(os.stat(self.s.env_file).st_ino, before.st_ino)

    def test_env_load_drops_what_is_not_valid(self):
        os.makedirs(self.s.root)
        with open(self.s.env_file, "w") as f:
            json.dump({"OK": "1", "X" * 129: "too long a name", "N": 5}, f)
        self.assertEqual(self.s.load_env(), {"OK": "1"})
        with open(self.s.env_file, "w") as f:
            f.write("{not json")
        self.assertEqual(self.s.load_env(), {})
        with open(self.s.env_file, "w") as f:
            f.write("[1]")
        self.assertEqual(self.s.load_env(), {})

    def release(self, version, caches=(), complete=True):
        self.s.layout()
        self.s.new_release(version, self.app.user(), None)
        if complete:
            self.s.write_meta({"version": version, "commit": None, "buildpack": "none", "processes": {},
                               "caches": list(caches)})

    def test_metadata_and_current(self):
        self.assertIsNone(self.s.current_meta())
        self.release(3)
        self.assertEqual(self.s.read_meta(3)["version"], 3)
        self.assertIsNone(self.s.read_meta(4))
        self.s.point_current(3)
        self.assertEqual(os.readlink(self.s.current), "releases/v3")
        self.assertEqual(self.s.current_meta()["version"], 3)
        self.s.point_current(3)  # again: replaces the link
        self.assertEqual(self.s.current_meta()["version"], 3)

    def test_metadata_must_match_its_tree(self):
        self.release(1)
        with open(self.s.meta_path(1), "w") as f:
            json.dump({"version": 2}, f)
        self.assertIsNone(self.s.read_meta(1), "the file of v1 says v2")
        self.release(5, complete=False)
        self.assertIsNone(self.s.read_meta(5), "no metadata: the build did not finish")

    def test_new_release_replaces_a_stale_one_but_never_the_live_one(self):
        self.release(2)
        with open(os.path.join(self.s.release_dir(2), "stale"), "w"):
            pass
        self.s.new_release(2, self.app.user(), None)
        self.assertEqual(os.listdir(self.s.release_dir(2)), [])
        self.assertIsNone(self.s.read_meta(2))
        self.assertEqual(os.stat(self.s.release_dir(2)).st_uid, self.app.user().pw_uid)
        self.release(3)
        self.s.discard(3, live_version=3)
        self.assertIsNotNone(self.s.read_meta(3))

    def test_gc_keeps_the_newest_complete_releases_the_live_one_and_their_caches(self):
        for v in range(1, 9):
            self.release(v, caches=[f"python/k{v}"])
        self.release(9, complete=False)  # a crash mid-build
        for v in (1, 7, 99):
            os.makedirs(os.path.join(self.s.cache, "python", f"k{v}"))
            open(os.path.join(self.s.cache, "python", f"k{v}.done"), "w").close()
        self.s.gc(live_version=1, keep=3)
        self.assertEqual(sorted(self.s.versions()), [1, 6, 7, 8])
        self.assertEqual(sorted(os.listdir(os.path.join(self.s.cache, "python"))), ["k1", "k1.done", "k7", "k7.done"])
        guesttest.eventually(lambda: os.listdir(self.s.trash_dir) == [], what="the trash is emptied in the background")


if __name__ == "__main__":
    unittest.main()
