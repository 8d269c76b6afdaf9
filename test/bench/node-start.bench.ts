/**
 * Node.js web process start in a real guest against Python's in the same guest and
 * run (#20: "Node.js web process up in the guest within 2x Python's time").
 *
 * One QEMU TCG VM from the built image; `fcm run` sends it test/bench/node-start-guest.py
 * with the working tree's rootfs/guest/prestart.py and node-standby.cjs, three apps and
 * Koa's packages from this repository's node_modules, and runs it: each start is timed
 * from the moment it is asked for until its port answers a GET (polled every 5 ms in the
 * guest), for Python (http.server), Node.js (node:http) and Node.js with a framework
 * (Koa, 62 packages), each started fresh (the image's /usr/bin/node, as a Node release
 * starts) and taken from a process started ahead (prestart.py), node:http also taken 1 s
 * after its process was started (still starting, so hurried: as a redeploy soon after the
 * last finds it), --n rounds (default 3)
 * interleaved. The ratios are medians of this
 * run; the guest's load average is printed beside them (a loaded host slows all alike).
 *
 *   npm run bench -- node-start [-- --n 5]
 */
import { cpSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt } from '../e2e/cli-run.js';
import { hostSkipReason, ROOT_DIR, startHostHarness } from '../helpers/host-harness.js';
import { koaPayload } from '../helpers/koa-payload.js';
import { runInGuest } from './guest-run.js';
import { fmtMs, median, ratio, row } from './stats.js';

const N = Number(process.argv[process.argv.indexOf('--n') + 1] || 3) || 3;
const skip = hostSkipReason();
if (skip) {
  console.error(`cannot measure: ${skip}`);
  process.exit(1);
}

const APPS: Record<string, string> = {
  'bare.js': `const T0 = Number(process.env.T0);
const first = Date.now() - T0;
const http = require('node:http');
http.createServer((req, res) => res.end('ok\\n')).listen(Number(process.env.PORT), () => {
  console.log('marks ' + JSON.stringify({ first, listen: Date.now() - T0 }));
});
`,
  'koa.js': `const T0 = Number(process.env.T0);
const first = Date.now() - T0;
const Koa = require('koa');
const framework = Date.now() - T0;
const app = new Koa();
app.use((ctx) => { ctx.body = 'ok\\n'; });
app.listen(Number(process.env.PORT), () => {
  console.log('marks ' + JSON.stringify({ first, framework, listen: Date.now() - T0 }));
});
`,
  'server.py': `import json, os, time
T0 = int(os.environ["T0"])
first = int(time.time() * 1000) - T0
from http.server import BaseHTTPRequestHandler, HTTPServer
class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok\\n")
    def log_message(self, *args):
        pass
server = HTTPServer(("", int(os.environ["PORT"])), Handler)
print("marks " + json.dumps({"first": first, "listen": int(time.time() * 1000) - T0}), flush=True)
server.serve_forever()
`,
};

/** The directory `fcm run` unpacks in the guest, as a .tar.gz. */
function payload(): Promise<Buffer> {
  return koaPayload((stage) => {
    cpSync(join(ROOT_DIR, 'test', 'bench', 'node-start-guest.py'), join(stage, 'node-start-guest.py'));
    for (const f of ['prestart.py', 'node-standby.cjs', 'node-code-cache.cjs']) cpSync(join(ROOT_DIR, 'rootfs', 'guest', f), join(stage, 'guest', f));
    for (const [name, text] of Object.entries(APPS)) writeFileSync(join(stage, name), text);
  });
}

interface Start {
  round: number;
  app: 'python' | 'node' | 'koa';
  /** cold/warm: Koa taken with an empty code cache of its modules, then with what that start wrote */
  how: 'fresh' | 'taken' | 'cold' | 'warm' | 'early';
  upMs: number;
  handoverMs: number | null;
  marks: { first?: number; framework?: number; listen?: number };
  load: number;
}

ensureBuilt();
const tarball = await payload();
const h = await startHostHarness();
const starts: Start[] = [];
try {
  const c = await h.api('POST', '/v1/vms', { name: 'bench-node-start', memoryMib: 1024, swapMib: 256 });
  if (c.status !== 201) throw new Error(JSON.stringify(c.body));
  if ((await h.api('GET', '/v1/vms/bench-node-start/wait?state=running&timeout=600')).status !== 200) throw new Error('the VM never ran');
  const script = 'rm -rf /tmp/nsb && mkdir /tmp/nsb && cd /tmp/nsb && tar -xzf - && exec python3 node-start-guest.py "$1"';
  const code = await runInGuest(h.env, 'bench-node-start', ['sh', '-c', script, 'sh', String(N)], (raw) => {
    const line = raw.trim();
    if (!line.startsWith('{')) {
      if (line) console.error(`guest: ${line}`);
      return;
    }
    const s = JSON.parse(line) as Start & { done?: boolean };
    if (s.done) return;
    starts.push(s);
    console.error(`  round ${s.round + 1}: ${s.app} ${s.how} ${fmtMs(s.upMs)} ${JSON.stringify(s.marks)} handover ${s.handoverMs ?? '-'} ms, guest load ${s.load.toFixed(2)}`);
  }, tarball);
  if (code !== 0) throw new Error(`fcm run exited ${code}`);
} finally {
  await h.close();
}

const pick = (app: Start['app'], how: Start['how']) => starts.filter((s) => s.app === app && s.how === how);
const up = (app: Start['app'], how: Start['how']) => median(pick(app, how).map((s) => s.upMs));
const mark = (app: Start['app'], how: Start['how'], k: 'first' | 'framework' | 'listen') => {
  const v = pick(app, how).map((s) => s.marks[k]).filter((x): x is number => typeof x === 'number');
  return v.length ? fmtMs(median(v)) : '-';
};
if (['python', 'node', 'koa'].some((a) => pick(a as Start['app'], 'fresh').length !== N || pick(a as Start['app'], 'taken').length !== N) ||
    pick('koa', 'cold').length !== N || pick('koa', 'warm').length !== N || pick('node', 'early').length !== N) {
  console.error(`missing starts: ${starts.length} of ${9 * N}`);
  process.exit(1);
}

console.log(`\nWeb process start in one guest (asked for → the port answers a GET), median of ${N}; guest load average ${median(starts.map((s) => s.load)).toFixed(2)}, host ${(loadavg()[0] ?? 0).toFixed(2)}`);
for (const [app, label] of [['python', 'Python (http.server)'], ['node', 'Node.js (node:http)'], ['koa', 'Node.js with Koa (62 packages)']] as const) {
  for (const how of app === 'koa' ? (['fresh', 'taken', 'cold', 'warm'] as const) : app === 'node' ? (['fresh', 'taken', 'early'] as const) : (['fresh', 'taken'] as const)) {
    const hand = how !== 'fresh' ? `handover ${fmtMs(median(pick(app, how).map((s) => s.handoverMs ?? 0)))}, ` : '';
    const fw = app === 'koa' ? `, has Koa ${mark(app, how, 'framework')}` : '';
    const what = { fresh: 'started fresh', taken: 'taken from the process started ahead', early: 'taken 1 s after the process started ahead was started (still starting: hurried)', cold: 'taken, code cache empty (this start fills it)', warm: 'taken, code cache warm' }[how];
    row(`${label}, ${what}`, fmtMs(up(app, how)), `${hand}first line ${mark(app, how, 'first')}${fw}, listening ${mark(app, how, 'listen')}`);
  }
}
/** The median over rounds of a/b within each round (its starts ran minutes apart, at much the same load). */
const paired = (a: [Start['app'], Start['how']], b: [Start['app'], Start['how']]) => {
  const rs = [...Array(N).keys()].map((r) => {
    const x = starts.find((s) => s.round === r && s.app === a[0] && s.how === a[1])!;
    const y = starts.find((s) => s.round === r && s.app === b[0] && s.how === b[1])!;
    return x.upMs / y.upMs;
  });
  return `${median(rs).toFixed(2)}x (rounds: ${rs.map((x) => x.toFixed(2)).join(', ')})`;
};
row('Node start vs Python start, taken (goal: within 2x)', ratio(up('node', 'taken'), up('python', 'taken')), `per round ${paired(['node', 'taken'], ['python', 'taken'])}`);
row('Node start vs Python start, fresh', ratio(up('node', 'fresh'), up('python', 'fresh')), `per round ${paired(['node', 'fresh'], ['python', 'fresh'])}`);
row('Node+Koa start vs Python start, taken', ratio(up('koa', 'taken'), up('python', 'taken')), `per round ${paired(['koa', 'taken'], ['python', 'taken'])}`);
row('Node+Koa start vs Python start, fresh', ratio(up('koa', 'fresh'), up('python', 'fresh')));
row('Node+Koa start vs Python start, taken, code cache warm', ratio(up('koa', 'warm'), up('python', 'taken')), `per round ${paired(['koa', 'warm'], ['python', 'taken'])}`);
row('Node+Koa taken, code cache warm vs cold', ratio(up('koa', 'warm'), up('koa', 'cold')), `per round ${paired(['koa', 'warm'], ['koa', 'cold'])}`);
row('Node+Koa taken, code cache warm vs none', ratio(up('koa', 'warm'), up('koa', 'taken')), `per round ${paired(['koa', 'warm'], ['koa', 'taken'])}`);
row('Node start taken vs fresh', ratio(up('node', 'taken'), up('node', 'fresh')));
row('Node start taken while still starting (1 s after) vs fresh', ratio(up('node', 'early'), up('node', 'fresh')), `per round ${paired(['node', 'early'], ['node', 'fresh'])}`);
row('Node start taken while still starting vs Python taken', ratio(up('node', 'early'), up('python', 'taken')), `per round ${paired(['node', 'early'], ['python', 'taken'])}`);
