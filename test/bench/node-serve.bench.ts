/**
 * The guest CPU a live web process spends serving the deploy bench's poller (a GET every
 * ~10 ms), in one QEMU TCG guest from the built image, rounds interleaved: the deploy
 * bench's Python app (python3, http.server, HTTP/1.0: a connection per request) and its
 * Node.js app (node:http; keep-alive, as Caddy holds its upstream connections) under
 * several node/V8 flags. A client in the guest sends GETs (one connection each, or one
 * keep-alive connection) at a fixed rate from the moment the port answers; the server
 * process's CPU (utime + stime of all its threads, /proc/<pid>/stat) is read for the
 * first 3 s (a live app just switched to) and the 3 s after. The measurement behind the
 * flags the image gives Node apps (#20; rootfs/README.md). Guest CPU grows with the host's
 * load (a descheduled vCPU is time the guest counts): compare within one run only.
 *
 *   npm run bench -- node-serve [-- --rounds 2 --rate 60]
 */
import { loadavg } from 'node:os';
import { ensureBuilt } from '../e2e/cli-run.js';
import { hostSkipReason, startHostHarness } from '../helpers/host-harness.js';
import { runInGuest } from './guest-run.js';

const arg = (k: string, d: number) => Number(process.argv[process.argv.indexOf(k) + 1] || d) || d;
const R = arg('--rounds', 2);
const RATE = arg('--rate', 60);
const PY = String.raw`
import json, os, socket, subprocess, sys, time
os.chdir("/tmp")
open("/tmp/app.py", "w").write(r'''import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class App(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"version 1\n"
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), App).serve_forever()
''')
open("/tmp/server.js", "w").write(r'''const http = require('node:http');
const body = 'version 1\n';
http.createServer((req, res) => {
  res.writeHead(200, { 'content-length': Buffer.byteLength(body) });
  res.end(body);
}).listen(Number(process.env.PORT));
''')
# The flags as the Node.js process started ahead sets them under TCG (the image's own prestart.py
# TCG_NODE_V8_FLAGS): at run time, before the app's script.
sys.path.insert(0, "/usr/lib/fcm")
from prestart import TCG_NODE_V8_FLAGS
open("/tmp/flagged.js", "w").write(f"require('v8').setFlagsFromString({json.dumps(TCG_NODE_V8_FLAGS)});\nrequire('/tmp/server.js');\n")
HZ = os.sysconf("SC_CLK_TCK")
def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / HZ
def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))
REQ = b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n"
def get(port, conn):
    s = conn or socket.create_connection(("127.0.0.1", port))
    s.sendall(REQ)
    buf = b""
    while b"version 1\n" not in buf:
        c = s.recv(4096)
        if not c:
            break
        buf += c
    if conn is None or b"onnection: close" in buf or b"HTTP/1.0" in buf[:9]:
        s.close()
        return None
    return s
def run(name, argv, keep, port):
    env = dict(os.environ, PORT=str(port))
    p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    t0 = time.monotonic()
    while True:
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            break
        except OSError:
            if p.poll() is not None or time.monotonic() - t0 > 60:
                print(json.dumps({"case": name, "error": "no port"}), flush=True)
                p.kill(); p.wait()
                return
            time.sleep(0.01)
    up = time.monotonic() - t0
    c0 = cpu(p.pid)
    marks = []
    conn = None
    n = 0
    lat = []
    start = time.monotonic()
    for window in (3, 3):
        end = time.monotonic() + window
        while time.monotonic() < end:
            t = time.monotonic()
            if keep and conn is None:
                conn = socket.create_connection(("127.0.0.1", port))
            conn = get(port, conn if keep else None)
            lat.append(time.monotonic() - t)
            n += 1
            nxt = start + n / ${RATE}
            d = nxt - time.monotonic()
            if d > 0:
                time.sleep(d)
        marks.append((cpu(p.pid), n))
    th = threads(p.pid)
    p.kill(); p.wait()
    if conn: conn.close()
    lat.sort()
    print(json.dumps({"case": name, "up": up, "cpu1": marks[0][0] - c0, "cpu2": marks[1][0] - marks[0][0], "n1": marks[0][1], "n2": marks[1][1] - marks[0][1],
                      "p50": lat[len(lat)//2], "threads": th, "load": os.getloadavg()[0]}), flush=True)
N = "/usr/bin/node"
cases = [
  ("python http.server", ["/usr/bin/python3", "/tmp/app.py"], False),
  ("node", [N, "/tmp/server.js"], True),
  ("node --no-opt", [N, "--no-opt", "/tmp/server.js"], True),
  ("node --no-sparkplug", [N, "--no-sparkplug", "/tmp/server.js"], True),
  ("node --interrupt-budget=10x", [N, "--interrupt-budget=675840", "/tmp/server.js"], True),
  ("node --interrupt-budget=10x --no-sparkplug", [N, "--interrupt-budget=675840", "--no-sparkplug", "/tmp/server.js"], True),
  ("node --interrupt-budget=30x", [N, "--interrupt-budget=2027520", "/tmp/server.js"], True),
  ("node + both at run time (as taken)", [N, "/tmp/flagged.js"], True),
  ("node --jitless (no WebAssembly)", [N, "--jitless", "/tmp/server.js"], True),
]
sel = sys.argv[2].split(",") if len(sys.argv) > 2 and sys.argv[2] else None
port = 18100
print([l for l in open("/proc/cpuinfo") if l.startswith("model name")][:1], flush=True)
for r in range(int(sys.argv[1])):
    for name, argv, keep in cases:
        if sel and not any(s == name for s in sel):
            continue
        port += 1
        run(name, argv, keep, port)
`;
ensureBuilt();
const skip = hostSkipReason();
if (skip) {
  console.error(`cannot measure: ${skip}`);
  process.exit(1);
}
const sel = process.argv.includes('--cases') ? process.argv[process.argv.indexOf('--cases') + 1]! : '';
const h = await startHostHarness();
try {
  const c = await h.api('POST', '/v1/vms', { name: 'serve', memoryMib: 512, swapMib: 256 });
  if (c.status !== 201) throw new Error(JSON.stringify(c.body));
  if ((await h.api('GET', '/v1/vms/serve/wait?state=running&timeout=600')).status !== 200) throw new Error('no VM');
  const rows: Record<string, { up: number[]; cpu1: number[]; cpu2: number[]; rate: number[]; p50: number[]; threads: number }> = {};
  await runInGuest(h.env, 'serve', ['python3', '-c', PY, String(R), sel], (line) => {
    console.error(line);
    if (!line.startsWith('{') || line.includes('"error"')) return;
    const j = JSON.parse(line) as { case: string; up: number; cpu1: number; cpu2: number; n1: number; n2: number; p50: number; threads: number };
    const r = (rows[j.case] ??= { up: [], cpu1: [], cpu2: [], rate: [], p50: [], threads: 0 });
    r.up.push(j.up);
    r.cpu1.push(j.cpu1 / 3);
    r.cpu2.push(j.cpu2 / 3);
    r.rate.push((j.n1 + j.n2) / 6);
    r.p50.push(j.p50);
    r.threads = j.threads;
  });
  const med = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
  console.log(`server CPU while a client in the guest sends ${RATE} GET/s, share of the vCPU, median of ${R} interleaved rounds; host load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  for (const [k, v] of Object.entries(rows)) {
    console.log(`${k.padEnd(34)} first 3 s ${(med(v.cpu1) * 100).toFixed(0).padStart(3)}%  next 3 s ${(med(v.cpu2) * 100).toFixed(0).padStart(3)}%  ${med(v.rate).toFixed(0)} req/s  p50 ${(med(v.p50) * 1000).toFixed(1)} ms  up ${med(v.up).toFixed(2)} s  threads ${v.threads}`);
  }
} finally {
  await h.close();
}
