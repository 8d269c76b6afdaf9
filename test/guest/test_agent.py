"""agent.py: the HTTP plumbing (auth, routing, bodies, errors) and the console resize,
with the agent's own server on 127.0.0.1 in this process. What each answer must look
like is the contract's job (test/unit/agent-contract.test.ts); this is the how."""

import fcntl
import http.client
import json
import os
import socket
import struct
import termios
import threading
import unittest

import guesttest
from guesttest import Redirects, TempApp

import agent


class AgentHttpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.app = TempApp()
        run = os.path.join(cls.app.dir, "run")
        os.makedirs(run)
        cls.saved = {k: getattr(agent, k) for k in ("SEED", "BOOT_ENV", "APP_DIR", "CONSOLE_TTY", "MANAGER", "APP_SIDE_WAIT_S")}
        agent.SEED = os.path.join(run, "seed.json")
        agent.BOOT_ENV = os.path.join(run, "boot.env")
        agent.APP_DIR = cls.app.storage.root
        cls.token = "tok-" + "x" * 40
        with open(agent.SEED, "w") as f:
            json.dump({"vmId": "vm_0123456789ab", "agentToken": cls.token, "port": 8000}, f)
        with open(agent.BOOT_ENV, "w") as f:
            f.write("FCM_VM=vm_0123456789ab\nFCM_IP=127.0.0.1/8\n")
        cls.master, cls.slave = os.openpty()
        agent.CONSOLE_TTY = os.ttyname(cls.slave)
        agent.MANAGER_READY.clear()
        agent.APP_SIDE_WAIT_S = 0.2
        cls.server = agent.Server(("127.0.0.1", 0), agent.Handler)
        cls.port = cls.server.server_address[1]
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()
        if agent.MANAGER and agent.MANAGER.switch.live:
            agent.MANAGER.switch.live.stop(grace_s=1)
        for k, v in cls.saved.items():
            setattr(agent, k, v)
        agent.MANAGER_READY.clear()
        os.close(cls.master)
        os.close(cls.slave)
        cls.app.cleanup()
        # a pwd.struct_passwd left in a class attribute until interpreter exit trips a
        # CPython 3.11 finalization bug ("SystemError ... in tp_clear"): drop it now
        del cls.app

    def ensure_app_side(self):
        if not agent.MANAGER_READY.is_set():
            agent.start_app_side(user=self.app.user, redirect=Redirects())

    def call(self, method, path, body=None, headers=None, token=True):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {self.token}"
        conn.request(method, path, body=body, headers=h)
        res = conn.getresponse()
        data = res.read()
        conn.close()
        return res.status, dict(res.getheaders()), data

    def raw(self, data):
        """Sends bytes as they are and reads the answer to the end (the agent closes)."""
        return guesttest.exchange(("127.0.0.1", self.port), data)

    def auth(self):
        return b"Authorization: Bearer " + self.token.encode() + b"\r\n"

    def problem(self, status, code, *args, **kwargs):
        got, headers, body = self.call(*args, **kwargs)
        self.assertEqual((got, headers.get("Content-Type")), (status, "application/problem+json"), body)
        p = json.loads(body)
        self.assertEqual((p["status"], p["code"]), (status, code))
        return headers, p

    def test_0_app_routes_wait_for_the_app_side_then_answer_503(self):
        # runs first (test_0): the app side is not started yet
        self.problem(503, "agent_starting", "GET", "/v1/status")
        self.ensure_app_side()
        self.assertEqual(self.call("GET", "/v1/status")[0], 200)

    def test_health_is_public_and_reports_the_vm(self):
        status, headers, body = self.call("GET", "/health", token=False)
        self.assertEqual((status, headers["Content-Type"]), (200, "application/json"))
        h = json.loads(body)
        self.assertEqual((h["vmId"], h["agentVersion"]), ("vm_0123456789ab", agent.VERSION))

    def test_tokens(self):
        headers, _ = self.problem(401, "unauthorized", "GET", "/v1/status", token=False)
        self.assertEqual(headers["WWW-Authenticate"], "Bearer")
        self.problem(401, "unauthorized", "GET", "/v1/status", token=False, headers={"Authorization": "Bearer " + self.token[:-1]})
        self.problem(401, "unauthorized", "GET", "/v1/status", token=False, headers={"Authorization": "Basic " + self.token})
        self.problem(401, "unauthorized", "GET", "/no/such/path", token=False)
        self.ensure_app_side()
        self.assertEqual(self.call("GET", "/v1/status", token=False, headers={"Authorization": "bearer " + self.token})[0], 200)

    def test_a_new_seed_brings_a_new_token(self):
        """A VM restored from a snapshot gets a new seed while the agent keeps running."""
        with open(agent.SEED) as f:
            seed = json.load(f)
        try:
            with open(agent.SEED, "w") as f:
                json.dump(dict(seed, agentToken="the-new-one"), f)
            os.utime(agent.SEED, ns=(1, 1))  # a different mtime, whatever the clock's resolution
            self.problem(401, "unauthorized", "GET", "/v1/status")
            self.ensure_app_side()
            self.assertEqual(self.call("GET", "/v1/status", token=False, headers={"Authorization": "Bearer the-new-one"})[0], 200)
        finally:
            with open(agent.SEED, "w") as f:
                json.dump(seed, f)

    def test_routing(self):
        self.problem(404, "not_found", "GET", "/v1/nothing")
        self.problem(404, "not_found", "POST", "/v1/releases/1234567890")  # more than 9 digits is no version
        headers, _ = self.problem(405, "method_not_allowed", "GET", "/v1/releases/3")
        self.assertEqual(headers["Allow"], "POST")
        self.assertEqual(agent.find_route("POST", "/v1/releases/42/activate")[1], {"version": 42})

    def test_json_bodies(self):
        json_ct = {"Content-Type": "application/json"}
        self.problem(400, "validation_failed", "PUT", "/v1/env", headers=json_ct)
        self.problem(400, "validation_failed", "PUT", "/v1/env", body=b"{", headers=json_ct)
        # refused from the declared length, before any of the body is read (none is sent here:
        # bytes left unread when the agent closes would reset the connection)
        answer = self.raw(b"PUT /v1/env HTTP/1.1\r\nHost: agent\r\n" + self.auth()
                          + b"Content-Type: application/json\r\nContent-Length: 1048577\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 413 "), answer)
        self.assertIn(b'"code": "payload_too_large"', answer)
        self.assertEqual(self.call("PUT", "/v1/env", body=b'{"vars": {"A": "1"}}', headers=json_ct)[0], 204)
        self.assertEqual(self.app.storage.load_env(), {"A": "1"})

    def test_chunked_bodies_and_bad_framing(self):
        with socket.create_connection(("127.0.0.1", self.port)) as s:
            body = b'{"vars": {"CHUNKED": "yes"}}'
            s.sendall(b"PUT /v1/env HTTP/1.1\r\nHost: agent\r\nAuthorization: Bearer " + self.token.encode()
                      + b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                      + b"%x\r\n%s\r\n" % (5, body[:5]) + b"%x;ext=1\r\n%s\r\n" % (len(body) - 5, body[5:]) + b"0\r\n\r\n")
            self.assertTrue(s.recv(4096).startswith(b"HTTP/1.1 204"))
        self.assertEqual(self.app.storage.load_env(), {"CHUNKED": "yes"})
        answer = self.raw(b"PUT /v1/env HTTP/1.1\r\nHost: agent\r\n" + self.auth()
                          + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n")
        self.assertIn(b" 400 ", answer.split(b"\r\n")[0])
        self.assertIn(b"bad chunked encoding", answer)
        self.problem(400, "validation_failed", "PUT", "/v1/env", headers={"Content-Length": "-1"})

    def test_an_early_answer_closes_the_connection(self):
        """A refused body is not read: it must not be parsed as the next request."""
        answer = self.raw(b"POST /v1/releases/9 HTTP/1.1\r\nHost: agent\r\n" + self.auth()
                          + b"Content-Type: text/plain\r\nContent-Length: 1000\r\n\r\n")
        head = answer.split(b"\r\n\r\n")[0].split(b"\r\n")
        self.assertTrue(head[0].startswith(b"HTTP/1.1 415 "), answer)
        self.assertIn(b"Connection: close", head)

    def test_console_resize_sets_the_tty_size(self):
        json_ct = {"Content-Type": "application/json"}
        self.assertEqual(self.call("POST", "/v1/console/resize", body=b'{"rows": 33, "cols": 111}', headers=json_ct)[0], 204)
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(self.slave, termios.TIOCGWINSZ, b"\0" * 8))
        self.assertEqual((rows, cols), (33, 111))
        for bad in (b'{"rows": 0, "cols": 80}', b'{"rows": 24, "cols": 1001}', b'{"rows": 24.5, "cols": 80}',
                    b'{"rows": false, "cols": 80}', b'[24, 80]'):
            self.problem(400, "validation_failed", "POST", "/v1/console/resize", body=bad, headers=json_ct)

    def test_logs_queries(self):
        self.ensure_app_side()
        self.assertEqual(self.call("GET", "/v1/logs?lines=0")[0], 200)
        for q in ("lines=x", "lines=10001", "lines=1e3", "follow=yes"):
            self.problem(400, "validation_failed", "GET", "/v1/logs?" + q)
        self.assertEqual(self.call("GET", "/v1/logs?follow=0&lines=")[0], 200)


class ConfigFilesTest(unittest.TestCase):
    def test_boot_env_and_seed(self):
        app = TempApp()
        self.addCleanup(app.cleanup)
        env = os.path.join(app.dir, "boot.env")
        with open(env, "w") as f:
            f.write("FCM_VM=vm_1\nnot a pair\nFCM_IP=10.0.0.2/24\nEMPTY=\n")
        self.assertEqual(agent.read_boot_env(env), {"FCM_VM": "vm_1", "FCM_IP": "10.0.0.2/24", "EMPTY": ""})
        self.assertEqual(agent.read_boot_env(os.path.join(app.dir, "missing")), {})
        seed = os.path.join(app.dir, "seed.json")
        for text, want in (('{"port": 9000}', {"port": 9000}), ("[1, 2]", {}), ("{broken", {})):
            with open(seed, "w") as f:
                f.write(text)
            self.assertEqual(agent.read_seed(seed), want)

    def test_authorized(self):
        self.assertTrue(agent.authorized({"Authorization": "Bearer abc"}, "abc"))
        self.assertTrue(agent.authorized({"Authorization": "Bearer  abc "}, "abc"))
        self.assertFalse(agent.authorized({"Authorization": "Bearer abc"}, None), "no seed: fail closed")
        self.assertFalse(agent.authorized({}, "abc"))
        self.assertFalse(agent.authorized({"Authorization": "Bearer abcd"}, "abc"))


if __name__ == "__main__":
    unittest.main()
