"""Runs inside a guest (test/bench/node-start.bench.ts sends it with `fcm run`): times
a web process's start, from the moment it is asked for until its port answers an HTTP
GET, for Node.js and Python, each fresh and taken from a process started ahead by the
prestart.py beside this file (the working tree's, with its node-standby.cjs), with the
image's /usr/bin/node, as a Node release runs. Prints one JSON line per start, then
{"done": true}.

    python3 node-start-guest.py <rounds>

Apps (beside this file): bare.js (node:http), koa.js (Koa and its 62 packages in
node_modules), server.py (http.server). Each prints when its first line ran, when it had
its framework (koa), and when it listened, as ms since T0 (its environment), the moment
the start was asked for. Node is also taken 1 s after its process started ahead was
started ("early": still starting, so hurried). Koa is also taken with the code cache of its modules
(node-code-cache.cjs, FCM_NODE_CODE_CACHE): "cold" with an empty one (that start writes
it once it served), "warm" with what the cold start left, in the same round."""

import json
import os
import pwd
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "guest"))
import prestart  # noqa: E402  (the working tree's, with its node-standby.cjs)

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 3


class AsMe:
    """Standby as this user: fcm run's command is the app user already, and a non-root
    process cannot drop supplementary groups (what prestart does as root)."""

    def _popen(self, argv, **kw):
        return subprocess.Popen(argv, cwd="/", env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                umask=0o022, start_new_session=True, close_fds=True, **kw)


class PyStandby(AsMe, prestart.Standby):
    pass


class NodeStandby(AsMe, prestart.NodeStandby):
    pass


def answered(port, popen, t0):
    """Seconds from t0 until 127.0.0.1:port answers a GET (polled every 5 ms)."""
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), 2) as s:
                s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1."):
                    return time.monotonic() - t0
        except OSError:
            pass
        if popen.poll() is not None:
            raise SystemExit(f"the app exited: {popen.stdout.read().decode(errors='replace')}")
        if time.monotonic() - t0 > 300:
            raise SystemExit("no answer in 300 s")
        time.sleep(0.005)


def settled(directory, popen):
    """Waits until the app wrote its code cache (it does once quiet and served): files in
    `directory`, their number unchanged for 3 s."""
    last, since, deadline = -1, time.monotonic(), time.monotonic() + 300
    while time.monotonic() < deadline and popen.poll() is None:
        n = len([f for f in os.listdir(directory) if not f.endswith(".tmp")])
        if n != last:
            last, since = n, time.monotonic()
        elif n > 0 and time.monotonic() - since > 3:
            return
        time.sleep(0.2)
    raise SystemExit(f"the code cache was not written ({last} files)")


def marks(popen):
    popen.kill()
    out = popen.stdout.read().decode(errors="replace")
    popen.wait()
    for line in out.splitlines():
        if line.startswith("marks "):
            return json.loads(line[6:])
    return {"output": out[-500:]}


def main():
    info = subprocess.run(["/usr/bin/node", "-p", "const v = process.config.variables; "
                           "`node ${process.version} code cache ${v.node_use_node_code_cache} "
                           "snapshot ${v.node_use_node_snapshot} shared ${v.node_shared}`"],
                          check=True, capture_output=True, text=True).stdout.strip()
    print(info, flush=True)
    base = {"PATH": "/usr/bin:/bin", "HOME": pwd.getpwuid(os.getuid()).pw_dir,
            "LANG": "C.UTF-8", "NODE_ENV": "production", "PYTHONUNBUFFERED": "1"}
    cases = [("python", "python3", "server.py"), ("node", "node", "bare.js"), ("koa", "node", "koa.js")]
    port = 18500
    for r in range(ROUNDS):
        code_cache = os.path.join(HERE, f"code-cache-{r}")
        os.mkdir(code_cache, 0o700)
        for app, prog, script in cases:
            # Koa also taken with the code cache of its modules (node-code-cache.cjs): empty
            # ("cold": this start fills it), then as that start left it ("warm").
            # Node also taken 1 s after its process started ahead was started ("early": still
            # starting, as a redeploy a few seconds after the last finds it; it is hurried).
            hows = ("fresh", "taken") + (("cold", "warm") if app == "koa" else ())
            hows += ("early",) if app == "node" else ()
            for how in hows:
                port += 1
                env = dict(base, PORT=str(port))
                if how in ("cold", "warm"):
                    env["FCM_NODE_CODE_CACHE"] = code_cache
                handover = None
                if how != "fresh":
                    cls = PyStandby if prog == "python3" else NodeStandby
                    sb = cls(prestart.interpreter(prog, base), dict(base, PORT="18499"), None).start()
                    if how == "early":
                        time.sleep(1)
                    elif not sb.ready.wait(600):
                        raise SystemExit(f"the {app} process started ahead was not ready in 600 s")
                    else:
                        time.sleep(2)  # as a redeploy finds it: ready and idle
                    env["T0"] = str(int(time.time() * 1000))
                    t0 = time.monotonic()
                    popen = sb.take([prog, script], HERE, env)
                    if popen is None:
                        raise SystemExit(f"the {app} process started ahead refused the run")
                    handover = time.monotonic() - t0
                else:
                    env["T0"] = str(int(time.time() * 1000))
                    t0 = time.monotonic()
                    popen = subprocess.Popen([prestart.interpreter(prog, base), script], cwd=HERE, env=env,
                                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                             stderr=subprocess.STDOUT, start_new_session=True)
                up = answered(port, popen, t0)
                if how == "cold":
                    settled(code_cache, popen)
                print(json.dumps({"round": r, "app": app, "how": how, "upMs": round(up * 1000),
                                  "handoverMs": None if handover is None else round(handover * 1000),
                                  "marks": marks(popen), "load": os.getloadavg()[0]}), flush=True)
    print(json.dumps({"done": True}), flush=True)


main()
