"""portswitch.py (the nft transaction text), placeholder.py and identity.py (their
pure parts; what they do to a machine runs in the guest: test/host)."""

import json
import os
import time
import unittest
from unittest import mock

import guesttest
from guesttest import TempApp

import identity
import placeholder
import portswitch


class PortSwitchTest(unittest.TestCase):
    def test_one_transaction_replacing_both_rules(self):
        text = portswitch.script(8000, 18004)
        self.assertTrue(text.startswith("table ip fcm {\n"))
        self.assertIn("flush chain ip fcm prerouting\nflush chain ip fcm output\n", text)
        self.assertTrue(text.endswith(
            "add rule ip fcm prerouting tcp dport 8000 redirect to :18004\n"
            'add rule ip fcm output oif "lo" tcp dport 8000 redirect to :18004\n'))

    def test_no_target_only_flushes(self):
        self.assertNotIn("add rule", portswitch.script(8000, None))

    def test_ports_are_integers_in_the_text(self):
        with self.assertRaises(ValueError):
            portswitch.script("8000; flush ruleset", 1)

    def test_set_redirect_runs_the_script(self):
        with mock.patch.object(portswitch, "run") as run:
            portswitch.set_redirect(8000, 18001)
        run.assert_called_once_with(portswitch.script(8000, 18001))


class PlaceholderTest(unittest.TestCase):
    def setUp(self):
        self.app = TempApp()
        self.addCleanup(self.app.cleanup)
        self.seed = os.path.join(self.app.dir, "seed.json")
        patcher = mock.patch.object(placeholder, "SEED", self.seed)
        patcher.start()
        self.addCleanup(patcher.stop)

    def test_port_from_the_seed(self):
        self.assertEqual(placeholder.port(), 8000)
        for value, want in ((9000, 9000), (0, 8000), (70000, 8000), ("8080", 8000), (True, 8000)):
            with open(self.seed, "w") as f:
                json.dump({"port": value}, f)
            self.assertEqual(placeholder.port(), want, value)
        with open(self.seed, "w") as f:
            f.write("[]")
        self.assertEqual(placeholder.port(), 8000)

    def test_page_escapes_the_hostname(self):
        with mock.patch.object(placeholder.socket, "gethostname", return_value="<b>x</b>"):
            page = placeholder.page().decode()
        self.assertIn("&lt;b&gt;x&lt;/b&gt; is running", page)
        self.assertNotIn("<b>x</b>", page)


class NoDelayTest(unittest.TestCase):
    """The guest's HTTP servers write an answer's headers and body separately: with Nagle on, the body
    waited for the client's delayed ACK of the headers (40-160 ms). Each sets TCP_NODELAY on its connections."""

    def test_handlers_set_tcp_nodelay_on_their_connections(self):
        import http.server
        import socket
        import threading

        import agent
        import static_server

        for handler in (placeholder.Handler, agent.Handler, static_server.Handler):
            seen = []

            class Probe(handler):
                def handle_one_request(self):
                    seen.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                    self.close_connection = True

            srv = http.server.HTTPServer(("127.0.0.1", 0), Probe)
            t = threading.Thread(target=srv.handle_request)
            t.start()
            try:
                with socket.create_connection(srv.server_address, timeout=5) as c:
                    c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    c.recv(1)
            finally:
                t.join(5)
                srv.server_close()
            self.assertEqual(len(seen), 1, handler)
            self.assertNotEqual(seen[0], 0, f"{handler.__module__}.Handler: TCP_NODELAY on its connection")


class IdentityTest(unittest.TestCase):
    def test_patterns(self):
        self.assertTrue(identity.HOSTNAME_RE.match("cosmic-nova"))
        for bad in ("-a", "a-", "A", "a" * 64, "a_b"):
            self.assertFalse(identity.HOSTNAME_RE.match(bad), bad)
        self.assertTrue(identity.IPV4_RE.match("10.200.0.255"))
        for bad in ("256.1.1.1", "1.2.3", "01.2.3.4.5"):
            self.assertFalse(identity.IPV4_RE.match(bad), bad)
        self.assertTrue(identity.MAC_RE.match("02:fc:00:00:00:01"))
        self.assertFalse(identity.MAC_RE.match("02:FC:00:00:00:01"))

    def test_read_helpers(self):
        app = TempApp()
        self.addCleanup(app.cleanup)
        env = os.path.join(app.dir, "boot.env")
        with open(env, "w") as f:
            f.write("FCM_VM=vm_1\ngarbage\n")
        self.assertEqual(identity.read_env(env), {"FCM_VM": "vm_1"})
        self.assertEqual(identity.read_json(os.path.join(app.dir, "nope.json")), {})

    def _seed_file(self, vm):
        app = TempApp()
        self.addCleanup(app.cleanup)
        path = os.path.join(app.dir, "seed.raw")
        self._write_seed(path, vm)
        return path

    @staticmethod
    def _write_seed(path, vm):
        with open(path, "wb") as f:
            f.write((identity.MAGIC + json.dumps({"vmId": vm, "hostname": "fork"}).encode() + b"\n").ljust(4096, b"\0"))

    def test_fork_watch_applies_a_new_vm_id_and_only_that(self):
        path = self._seed_file("vm_parent")
        applied = []
        w = identity.ForkWatch(30, dev=path, apply_fn=applied.append)
        self.assertEqual(w.arm(), "vm_parent")
        time.sleep(0.1)
        self.assertEqual(applied, [])  # the parent's own seed: nothing to take on
        self._write_seed(path, "vm_fork")
        w.thread.join(5)
        self.assertFalse(w.thread.is_alive())
        self.assertEqual([s["vmId"] for s in applied], ["vm_fork"])

    def test_fork_watch_ends_at_its_deadline_or_when_stopped(self):
        path = self._seed_file("vm_parent")
        applied = []
        w = identity.ForkWatch(1, dev=path, apply_fn=applied.append)
        w.arm()
        w.thread.join(5)
        self.assertFalse(w.thread.is_alive())
        stopped = identity.ForkWatch(600, dev=path, apply_fn=applied.append)
        stopped.arm()
        stopped.stop()
        stopped.thread.join(5)
        self.assertFalse(stopped.thread.is_alive())
        self._write_seed(path, "vm_fork")
        time.sleep(0.1)
        self.assertEqual(applied, [])

    def test_fork_watch_without_a_seed_refuses_to_arm(self):
        app = TempApp()
        self.addCleanup(app.cleanup)
        with self.assertRaises(OSError):
            identity.ForkWatch(5, dev=os.path.join(app.dir, "missing")).arm()

    def test_an_invalid_restored_seed_changes_nothing(self):
        said = []
        with mock.patch.object(identity, "console", said.append), \
                mock.patch.object(identity, "configure_eth0") as eth0, \
                mock.patch.object(identity, "write_atomic") as write, \
                mock.patch.object(identity, "reseed_entropy") as reseed:
            ok = identity.apply({"vmId": "vm_1", "hostname": "Bad_Name", "mac": "02:fc:00:00:00:01",
                                 "net": {"ip": "10.0.0.2", "prefix": 24, "gateway": "10.0.0.1"}}, {})
        self.assertFalse(ok)
        self.assertEqual(said, ["restored seed is invalid; keeping the template identity"])
        for m in (eth0, write, reseed):
            m.assert_not_called()

    def test_a_pooled_machine_takes_half_its_identity_then_its_name_on_claim(self):
        pool = {"vmId": "vm_p1", "pool": True, "hostname": "template", "mac": "02:fc:00:00:00:07",
                "agentToken": "t" * 20, "entropy": "", "port": 8000}
        claim = dict(pool, hostname="web", net={"ip": "10.0.0.7", "prefix": 24, "gateway": "10.0.0.1", "dns": []})
        del claim["pool"]
        seeds = iter([{"vmId": "vm_tmpl", "template": True}, pool, pool, claim])
        calls = []
        rec = lambda name: (lambda *a, **k: calls.append((name,) + a))
        reader = mock.Mock()
        reader.read.side_effect = lambda: next(seeds)
        with mock.patch.object(identity, "read_json", return_value={"vmId": "vm_tmpl", "template": True}), \
                mock.patch.object(identity, "read_env", return_value={}), \
                mock.patch.object(identity, "answers", return_value=True), \
                mock.patch.object(identity, "os") as fake_os, \
                mock.patch.object(identity, "find_seed_device", return_value="/dev/vdb"), \
                mock.patch.object(identity, "SeedReader", return_value=reader), \
                mock.patch.object(identity, "console", rec("console")), \
                mock.patch.object(identity, "set_mac", rec("mac")), \
                mock.patch.object(identity, "set_address", rec("address")), \
                mock.patch.object(identity, "set_hostname", rec("hostname")), \
                mock.patch.object(identity, "gratuitous_arp", rec("arp")), \
                mock.patch.object(identity, "write_atomic", rec("write")), \
                mock.patch.object(identity, "reseed_entropy", rec("entropy")), \
                mock.patch.object(identity.time, "sleep"), \
                mock.patch("builtins.open", mock.mock_open()):
            self.assertEqual(identity.main(), 0)
        said = [c[1] for c in calls if c[0] == "console"]
        self.assertEqual(said[0], "template-ready")
        self.assertTrue(said[1].startswith("pooled as vm_p1 "), said)
        self.assertTrue(said[2].startswith("restored as vm_p1 "), said)
        pooled = calls[:calls.index(next(c for c in calls if c[0] == "console" and c[1].startswith("pooled")))]
        self.assertIn(("mac", "02:fc:00:00:00:07"), pooled)
        self.assertNotIn("address", [c[0] for c in pooled], "no address while pooled")
        self.assertNotIn(("hostname", "web"), pooled)
        claimed = calls[len(pooled):]
        self.assertNotIn("mac", [c[0] for c in claimed], "the MAC was set in the pool")
        self.assertIn(("address", "10.0.0.7", 24, "10.0.0.1"), claimed)
        self.assertIn(("hostname", "web"), claimed)
        self.assertIn("entropy", [c[0] for c in claimed], "the claim reseeds again")
        boot_env = [c[2] for c in claimed if c[0] == "write" and c[1] == identity.BOOT_ENV][0]
        self.assertIn("FCM_VM=vm_p1\n", boot_env)
        self.assertIn("FCM_IP=10.0.0.7/24\n", boot_env)

    def test_a_cold_boot_is_not_a_template(self):
        with mock.patch.object(identity, "read_json", return_value={"vmId": "vm_1"}), \
                mock.patch.object(identity, "answers") as answers:
            self.assertEqual(identity.main(), 0)
        answers.assert_not_called()


if __name__ == "__main__":
    unittest.main()
