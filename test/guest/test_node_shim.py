"""node-shim: `node` for Node.js app processes, which adds --snapshot-blob only when
V8 will accept it. Run with /bin/sh (dash, as in the guest): first against a stand-in
node that prints what it was given, then against this machine's real node and a real
snapshot (V8 refuses a snapshot under other V8 flags, and node then exits)."""

import os
import shutil
import subprocess
import tempfile
import unittest

from guesttest import GUEST

SHIM = os.path.join(GUEST, "node-shim")
REAL_NODE = "/usr/bin/node"
REFUSED = "fcm: node starts without the startup snapshot (slower): {} may change V8's flags"


class ShimTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fcm-node-shim-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.blob = os.path.join(self.tmp, "snapshot.blob")
        with open(self.blob, "wb") as f:
            f.write(b"blob")
        fake = os.path.join(self.tmp, "node")
        with open(fake, "w") as f:
            f.write('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
        os.chmod(fake, 0o755)
        with open(SHIM) as f:
            text = f.read()
        self.assertIn("real=/usr/bin/node\n", text)
        self.shim = os.path.join(self.tmp, "shim")
        with open(self.shim, "w") as f:
            f.write(text.replace("real=/usr/bin/node\n", f"real={fake}\n"))

    def run_shim(self, args, node_options=None, blob=True, shim=None):
        env = {"PATH": "/usr/bin:/bin"}
        if blob:
            env["FCM_NODE_SNAPSHOT"] = self.blob if blob is True else blob
        if node_options is not None:
            env["NODE_OPTIONS"] = node_options
        r = subprocess.run(["/bin/sh", shim or self.shim, *args], env=env, capture_output=True, text=True, timeout=60)
        return r.returncode, r.stdout.splitlines(), r.stderr.strip()

    def with_snapshot(self, args, node_options=None):
        rc, argv, err = self.run_shim(args, node_options)
        self.assertEqual((rc, argv, err), (0, ["--snapshot-blob", self.blob, *args], ""), args)

    def without_snapshot(self, args, refused, node_options=None):
        rc, argv, err = self.run_shim(args, node_options)
        self.assertEqual((rc, argv, err), (0, args, REFUSED.format(refused)), args)

    def test_no_snapshot_for_this_boot_runs_node_as_it_is(self):
        self.assertEqual(self.run_shim(["server.js"], blob=False), (0, ["server.js"], ""))
        self.assertEqual(self.run_shim(["server.js"], blob="/no/such/blob"), (0, ["server.js"], ""))

    def test_options_that_leave_v8_alone_keep_the_snapshot(self):
        for args in (["server.js"], [], ["server.js", "--max-old-space-size=64", "-x"], ["-r", "dotenv/config", "app.js"],
                     ["--require=./tracing.js", "--enable-source-maps", "dist/main.js"], ["--inspect=0.0.0.0:9229", "a.js"],
                     ["-e", "console.log(1)"], ["-p", "--jitless"], ["--title", "web", "--", "--jitless"],
                     ["--experimental-loader", "./l.mjs", "a.mjs"], ["-", "--jitless"], ["--version"]):
            self.with_snapshot(args)

    def test_v8_flags_and_unknown_options_start_node_without_it(self):
        for args, refused in ((["--max-old-space-size=460", "server.js"], "--max-old-space-size=460"),
                              (["--jitless", "server.js"], "--jitless"),
                              (["-r", "x", "--stack-size=2000", "a.js"], "--stack-size=2000"),
                              (["-e", "0", "--expose-gc"], "--expose-gc"),
                              (["--experimental-wasm-eh", "a.js"], "--experimental-wasm-eh"),
                              (["--no-opt", "a.js"], "--no-opt")):
            self.without_snapshot(args, refused)

    def test_node_options_are_checked_too(self):
        self.with_snapshot(["server.js"], node_options="--enable-source-maps -r ./otel.js --no-warnings")
        self.with_snapshot(["server.js"], node_options="")
        self.without_snapshot(["server.js"], "--max-old-space-size=256", node_options="--max-old-space-size=256")
        self.without_snapshot(["server.js"], "b.js\"", node_options='-r "./a b.js"')  # quoting: not guessed at
        self.without_snapshot(["server.js"], "*", node_options="*")  # no globbing of the words

    @unittest.skipUnless(os.path.isfile(REAL_NODE), f"needs {REAL_NODE} (the test runs it)")
    def test_with_the_real_node_and_a_real_snapshot(self):
        entry = os.path.join(self.tmp, "empty.js")
        open(entry, "w").close()
        subprocess.run([REAL_NODE, "--snapshot-blob", self.blob, "--build-snapshot", entry], check=True,
                       capture_output=True, timeout=120)
        # what the shim protects against: node refuses the snapshot under another V8 flag
        bare = subprocess.run([REAL_NODE, "--snapshot-blob", self.blob, "--max-old-space-size=64", "-e", "0"],
                              capture_output=True, text=True, timeout=60)
        self.assertNotEqual(bare.returncode, 0)
        self.assertIn("Failed to load the startup snapshot", bare.stderr)
        rc, out, err = self.run_shim(["-p", "process.execArgv.join(' ')"], shim=SHIM)
        self.assertEqual((rc, out, err), (0, [f"--snapshot-blob {self.blob} -p process.execArgv.join(' ')"], ""))
        rc, out, err = self.run_shim(["--max-old-space-size=64", "-p", "6 * 7"], shim=SHIM)
        self.assertEqual((rc, out, err), (0, ["42"], REFUSED.format("--max-old-space-size=64")))


if __name__ == "__main__":
    unittest.main()
