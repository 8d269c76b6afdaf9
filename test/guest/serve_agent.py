"""Runs the real guest agent (rootfs/guest/agent.py) on the host, for contract tests.

    python3 test/guest/serve_agent.py [--plant FILE.py]     serve
    python3 test/guest/serve_agent.py --describe [--plant FILE.py]

serve: the agent's own HTTP server and app side on 127.0.0.1 (a free port), with
everything a VM would give it in a temporary directory: the seed (agent token),
boot.env, the app root (instead of /app), a pty as the console; app processes run as
a throwaway uid; the port switch is recorded, never applied (no nft on the host).
Prints one JSON line on stdout: {"url", "token", "vmId", "root"}; serves until stdin
closes (the test that started it is gone) or SIGTERM, then kills the app processes
and removes the directory. The agent's own prints go to stderr.

--describe: prints what the agent is, as JSON, for the drift test: its route table,
its config var name pattern, its result prefix, and the error and result codes its
source can answer (read from the code with `ast`, so that a new code cannot be
added without the document knowing).

--plant FILE.py: loads FILE.py after the agent (a fixture that adds a route the
document does not have, to show the checks catch it).
"""

import ast
import glob
import importlib.util
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading

import guesttest
from guesttest import GUEST, Redirects, ThrowawayUser

import agent  # noqa: E402
import operations  # noqa: E402
import storage  # noqa: E402


def plant(path):
    spec = importlib.util.spec_from_file_location("planted", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


def codes_in_source():
    """(status, code) of every ApiError / Response.problem, and the codes of failed
    results (BuildError, dict literals with "ok": False, `code = "..."`)."""
    problems, results = set(), set()
    for path in sorted(glob.glob(os.path.join(GUEST, "*.py"))):
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
                args = node.args
                if name in ("ApiError", "problem") and len(args) >= 2 and all(isinstance(a, ast.Constant) for a in args[:2]):
                    problems.add((args[0].value, args[1].value))
                elif name == "BuildError" and args and isinstance(args[0], ast.Constant):
                    results.add(args[0].value)
            elif isinstance(node, ast.Dict):
                d = {k.value: v for k, v in zip(node.keys, node.values) if isinstance(k, ast.Constant)}
                ok, code = d.get("ok"), d.get("code")
                if isinstance(ok, ast.Constant) and ok.value is False and isinstance(code, ast.Constant):
                    results.add(code.value)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    pairs = []
                    if isinstance(target, ast.Name):
                        pairs = [(target, node.value)]
                    elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                        pairs = zip(target.elts, node.value.elts)
                    for t, v in pairs:
                        if isinstance(t, ast.Name) and t.id == "code" and isinstance(v, ast.Constant):
                            results.add(v.value)
    return problems, results


def describe():
    problems, results = codes_in_source()
    return {
        "routes": [{"method": m, "path": p, "public": r.public} for (m, p), r in sorted(agent.ROUTES.items())],
        "envKeyPattern": storage.ENV_KEY.pattern,
        "resultPrefix": operations.RESULT_PREFIX,
        "problemCodes": [{"status": s, "code": c} for s, c in sorted(problems)],
        "resultCodes": sorted(results),
    }


def serve():
    out = sys.stdout
    sys.stdout = sys.stderr  # the agent's prints; stdout carries the one JSON line
    tmp = tempfile.mkdtemp(prefix="fcm-agent-contract-")
    os.chmod(tmp, 0o755)
    user = ThrowawayUser(os.path.join(tmp, "home"))
    token, vm = secrets.token_urlsafe(32), "vm_c0471ac70000"
    run = os.path.join(tmp, "run")
    os.makedirs(run)
    agent.SEED = os.path.join(run, "seed.json")
    agent.BOOT_ENV = os.path.join(run, "boot.env")
    agent.APP_DIR = os.path.join(tmp, "app")
    agent.SET_CLOCK = lambda seconds: None  # never the host's clock
    with open(agent.SEED, "w") as f:
        json.dump({"vmId": vm, "agentToken": token, "port": 8000}, f)
    with open(agent.BOOT_ENV, "w") as f:
        f.write(f"FCM_VM={vm}\nFCM_IP=127.0.0.1/8\nFCM_AGENT_PORT=0\n")
    # The seed disk the fork watcher reads (a file: the host has no /dev/vdb of this VM).
    agent.FORK_WATCH_DEV = os.path.join(run, "seed.raw")
    with open(agent.FORK_WATCH_DEV, "wb") as f:
        f.write((b"FCMSEED1\n" + json.dumps({"vmId": vm}).encode() + b"\n").ljust(4096, b"\0"))
    master, slave = os.openpty()
    agent.CONSOLE_TTY = os.ttyname(slave)
    done = threading.Event()

    def cleanup(*_):
        if done.is_set():
            return
        done.set()
        manager = agent.MANAGER
        if manager and manager.switch.live:
            manager.switch.live.stop(grace_s=1)
        user.kill_all()
        shutil.rmtree(tmp, ignore_errors=True)
        os._exit(0)

    def listening(server):
        host, port = server.server_address[:2]
        out.write(json.dumps({"url": f"http://{host}:{port}", "token": token, "vmId": vm, "root": tmp,
                              "console": agent.CONSOLE_TTY}) + "\n")
        out.flush()

    def watch_stdin():
        while sys.stdin.buffer.read(1 << 16):
            pass
        cleanup()

    signal.signal(signal.SIGTERM, cleanup)
    threading.Thread(target=watch_stdin, name="stdin", daemon=True).start()
    try:
        agent.serve(("127.0.0.1", 0), listening, user=user, redirect=Redirects())
    finally:
        os.close(master)
        cleanup()


def main(argv):
    if "--plant" in argv:
        plant(argv[argv.index("--plant") + 1])
    if "--describe" in argv:
        print(json.dumps(describe()))
        return 0
    serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
