/**
 * The guest agent's app API (rootfs/guest/agent-openapi.yaml) against a real
 * guest: a real daemon boots one QEMU VM from the built image inside the
 * harness's network namespace; the test talks to that VM's agent directly with
 * the VM's token (HMAC of the daemon's agent.key), the way the daemon's deploy
 * service does. A small TCP forwarder inside the namespace exposes the VM's
 * agent and app ports on the namespace's veth address, so plain node:http
 * streams the build output line by line and a 10 ms poller can watch the app
 * during switches.
 *
 * One VM, in order: placeholder → python first deploy (polled) → redeploy with
 * a changed and a deleted file (polled) → failing pip install → web process
 * that exits → bad tar → 409 while busy → config vars + restart → crash →
 * logs follow → console resize → node (fresh, then in the process started ahead,
 * an ES module app, a config change) → ruby → rollback → VM stop/start.
 * Every answer the test reads is also checked against the agent's contract
 * (rootfs/guest/agent-openapi.yaml), so the real agent in a real VM is held
 * to it too, not only the copy the unit tests run on loopback.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { agentContract, loadAgentDoc, type AgentResponse } from '../helpers/agent-contract.js';
import { hostSkipReason, startHostHarness, type HostHarness } from '../helpers/host-harness.js';
import { httpText } from '../helpers/http-text.js';
import { encodeFrame, FRAME, FrameDecoder, type Frame } from '../../daemon/drivers/exec-frames.js';

const skip = hostSkipReason();
const AGENT_FWD = 17611;
const APP_FWD = 18080;

// ---------------------------------------------------------------- apps

const PY_APP = `import json, os, sys, http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/crash":
            print("crashing on purpose", flush=True)
            os._exit(1)
        if self.path.startswith("/say/"):
            print("said " + self.path[5:], flush=True)
        body = json.dumps({"app": "python", "release": os.environ.get("FCM_RELEASE"), "marker": MARKER,
                           "greeting": os.environ.get("GREETING"), "files": sorted(os.listdir("."))}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
MARKER = "one"
print("python listening on", os.environ["PORT"])
http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), H).serve_forever()
`;

const NODE_APP = `const http = require('http');
const seen = { main: require.main === module, argv: process.argv, execArgv: process.execArgv, cwd: process.cwd(), env: { ...process.env } };
http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ app: 'node', release: process.env.FCM_RELEASE, nodeEnv: process.env.NODE_ENV,
    snapshot: process.execArgv.includes('--snapshot-blob'), heapMib: Math.round(require('v8').getHeapStatistics().heap_size_limit / 1048576), seen }));
}).listen(Number(process.env.PORT), () => console.log('node listening on', process.env.PORT));
`;

// The same as an ES module ("type": "module" in package.json).
const NODE_ESM_APP = `import http from 'node:http';
const seen = { url: import.meta.url, require: typeof require, argv: process.argv, execArgv: process.execArgv, cwd: process.cwd(), env: { ...process.env } };
await new Promise((r) => setTimeout(r, 1));
http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ app: 'node-esm', release: process.env.FCM_RELEASE, seen }));
}).listen(Number(process.env.PORT), () => console.log('node listening on', process.env.PORT));
`;

/** What an app saw of its start, without what differs between two starts of one release by design (the port). */
const seenBut = (app: { seen: { env: Record<string, string> } }, ...keys: string[]) => {
  const env = { ...app.seen.env };
  for (const k of ['PORT', ...keys]) delete env[k];
  return { ...app.seen, env };
};

// Ruby 3.1 in bookworm has no default webrick: a plain TCPServer app.
const RUBY_APP = `require 'socket'
require 'json'
$stdout.sync = true
server = TCPServer.new('0.0.0.0', Integer(ENV.fetch('PORT')))
puts "ruby listening on #{ENV['PORT']}"
loop do
  Thread.new(server.accept) do |c|
    begin
      while (line = c.gets) && line != "\\r\\n"; end
      body = JSON.generate({ app: 'ruby', release: ENV['FCM_RELEASE'] })
      c.write "HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: #{body.bytesize}\\r\\nConnection: close\\r\\n\\r\\n#{body}"
    ensure
      c.close
    end
  end
end
`;

function pythonApp(marker: string, extra: Record<string, TarEntry> = {}): Record<string, TarEntry> {
  return {
    'app.py': PY_APP.replace('MARKER = "one"', `MARKER = ${JSON.stringify(marker)}`),
    'requirements.txt': '# no packages: must work offline\n',
    Procfile: 'web: python3 app.py\n',
    ...extra,
  };
}

// ---------------------------------------------------------------- tar (ustar), no dependencies

type TarEntry = string | { data: string; mode?: number } | { symlink: string };

function tarOf(files: Record<string, TarEntry>): Buffer {
  const blocks: Buffer[] = [];
  const header = (name: string, size: number, type: string, mode: number, link = '') => {
    const h = Buffer.alloc(512);
    h.write(name, 0, 100);
    h.write(`${mode.toString(8).padStart(7, '0')}\0`, 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
    h.write(`${Math.floor(Date.now() / 1000).toString(8).padStart(11, '0')}\0`, 136);
    h.write('        ', 148);
    h.write(type, 156);
    h.write(link, 157, 100);
    h.write('ustar\0', 257);
    h.write('00', 263);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    return h;
  };
  for (const [name, entry] of Object.entries(files)) {
    if (typeof entry === 'object' && 'symlink' in entry) {
      blocks.push(header(name, 0, '2', 0o777, entry.symlink));
      continue;
    }
    const data = Buffer.from(typeof entry === 'string' ? entry : entry.data);
    const mode = typeof entry === 'string' ? 0o644 : (entry.mode ?? 0o644);
    blocks.push(header(name, data.length, '0', mode), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

// ---------------------------------------------------------------- agent client

interface Streamed {
  status: number;
  lines: string[];
  result: any;
  /** ms from the request until each line arrived (streaming check). */
  arrivals: number[];
}

describe('guest agent: deploys, buildpacks, supervision, zero-downtime switches', { skip: skip ?? false }, () => {
  let h: HostHarness;
  let vm: { id: string; ip: string; name: string };
  let token = '';
  let fwd: ChildProcess | null = null;
  const contract = agentContract(loadAgentDoc());
  const offContract: string[] = [];
  const audited = new Set<string>();
  const audit = (method: string, path: string, res: AgentResponse) => {
    const op = contract.checkRequest({ method, url: path, headers: {} }).operationId;
    if (op) audited.add(op);
    const errors = op ? contract.checkResponse(op, res) : contract.checkProblem(res);
    offContract.push(...errors.map((e) => `${method} ${path}: ${e}`));
  };

  const agent = async (method: string, path: string, o: { body?: Buffer | string; headers?: Record<string, string>; tok?: string | null } = {}) => {
    const tok = o.tok === undefined ? token : o.tok;
    const r = await httpText({ host: h.daemonIp, port: AGENT_FWD, method, path, headers: { ...(tok ? { authorization: `Bearer ${tok}` } : {}), ...o.headers }, body: o.body });
    audit(method, path, { status: r.status, headers: r.headers as AgentResponse['headers'], body: Buffer.from(r.body) });
    return { status: r.status, headers: r.headers as Record<string, any>, text: r.body };
  };

  /**
   * A streamed operation (deploy/activate/restart): lines as they arrive, the fcm-result parsed.
   * `onResponse` is called when the answer starts (the agent takes its operation lock before that).
   */
  const streamed = (method: string, path: string, body?: Buffer, headers: Record<string, string> = {}, onResponse?: () => void) =>
    new Promise<Streamed>((resolve, reject) => {
      const t0 = Date.now();
      const out: Streamed = { status: 0, lines: [], result: null, arrivals: [] };
      const req = request({ host: h.daemonIp, port: AGENT_FWD, method, path, agent: false, headers: { authorization: `Bearer ${token}`, ...headers } }, (res) => {
        out.status = res.statusCode ?? 0;
        onResponse?.();
        let buf = '';
        let raw = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          raw += c;
          buf += c;
          let i;
          while ((i = buf.indexOf('\n')) >= 0) {
            out.lines.push(buf.slice(0, i));
            out.arrivals.push(Date.now() - t0);
            buf = buf.slice(i + 1);
          }
        });
        res.on('end', () => {
          audit(method, path, { status: out.status, headers: res.headers as AgentResponse['headers'], body: Buffer.from(raw) });
          if (buf) out.lines.push(buf);
          const last = out.lines.at(-1) ?? '';
          if (last.startsWith('fcm-result: ')) out.result = JSON.parse(last.slice('fcm-result: '.length));
          else if (out.status === 200) return reject(new Error(`no fcm-result line:\n${out.lines.join('\n')}`));
          else out.result = JSON.parse(out.lines.join('\n') || 'null');
          resolve(out);
        });
      });
      req.on('error', reject);
      // chunked, like the daemon's piped `git archive`
      if (body) {
        req.write(body.subarray(0, 700));
        req.end(body.subarray(700));
      } else req.end();
    });

  const deploy = (version: number, files: Record<string, TarEntry>, commit = 'c0ffee' + String(version).padStart(6, '0')) =>
    streamed('POST', `/v1/releases/${version}`, tarOf(files), { 'content-type': 'application/x-tar', 'x-fcm-commit': commit });

  const show = (s: Streamed) => s.lines.join('\n');

  const appGet = (path = '/') => httpText({ host: h.daemonIp, port: APP_FWD, path, timeout: 10_000 });

  const appJson = async (path = '/') => {
    const r = await appGet(path);
    assert.equal(r.status, 200, r.body);
    return JSON.parse(r.body);
  };

  /** Pollers still running: stopped in after() when a test failed before stopping its own (else the file never ends). */
  const pollers = new Set<() => Promise<unknown>>();
  /** Polls the app every 10 ms (a new connection each time) until stop(); counts outcomes in order. */
  const poller = () => {
    let running = true;
    const counts = { ok: 0, errors: 0, status5xx: 0 };
    const timeline: [number, string][] = [];
    const t0 = Date.now();
    const note = (what: string) => {
      if (timeline.at(-1)?.[1] !== what) timeline.push([Date.now() - t0, what]);
    };
    const done = (async () => {
      while (running) {
        const t = Date.now();
        try {
          const r = await appGet('/');
          if (r.status >= 500) {
            counts.status5xx++;
            note(`HTTP ${r.status}`);
          } else {
            counts.ok++;
            const m = /"release": "(\d+)"|git push/.exec(r.body);
            note(m ? (m[1] ? `v${m[1]}` : 'placeholder') : r.body.slice(0, 40));
          }
        } catch (e) {
          counts.errors++;
          note(`error ${(e as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, Math.max(0, 10 - (Date.now() - t))));
      }
    })();
    const stop = async () => {
      running = false;
      pollers.delete(stop);
      await done;
      return { ...counts, timeline };
    };
    pollers.add(stop);
    return {
      /** The outcomes so far, in order (a state is noted when it changes). */
      seen: () => timeline.map((t) => t[1]),
      polls: () => counts.ok + counts.errors + counts.status5xx,
      stop,
    };
  };

  const waitFor = async <T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 30_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        const v = await fn();
        if (v) return v;
      } catch (e) {
        last = e;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  const status = async () => JSON.parse((await agent('GET', '/v1/status')).text);
  const logText = async () => (await agent('GET', '/v1/logs?lines=10000')).text;
  /** How often the app log says a Node.js process for the next start is ready, and that a start took one. */
  const nodeReady = (logs: string) => logs.match(/fcm\[web\.1\]: A Node\.js process for the next start is ready$/gm)?.length ?? 0;
  const nodeTaken = (logs: string) => logs.match(/fcm\[web\.1\]: Starting process with command `node server\.js` \(PORT=\d+\) in the Node\.js process started ahead of it$/gm)?.length ?? 0;

  const startForwarder = async () => {
    // Inside the namespace: <daemon ip>:AGENT_FWD -> <vm ip>:7611, <daemon ip>:APP_FWD -> <vm ip>:8000.
    // A refused upstream connection resets the client's, so the poller still sees it.
    const code = `const net = require('net');
const [bind, target] = process.argv.slice(1);
let up = 0;
for (const [from, to] of [[${AGENT_FWD}, 7611], [${APP_FWD}, 8000]]) {
  net.createServer((c) => {
    const u = net.connect(to, target);
    c.pipe(u); u.pipe(c);
    const kill = () => { c.destroy(); u.destroy(); };
    c.on('error', kill); u.on('error', kill); c.on('close', kill); u.on('close', kill);
  }).listen(from, bind, () => { if (++up === 2) console.log('ready'); });
}`;
    fwd = spawn('ip', ['netns', 'exec', h.ns, process.execPath, '-e', code, h.daemonIp, vm.ip], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      fwd!.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      fwd!.on('exit', (c) => reject(new Error(`forwarder exited (${c})`)));
    });
  };

  before(async () => {
    h = await startHostHarness();
    const c = await h.api('POST', '/v1/vms', { name: 'agent-apps', memoryMib: 512, swapMib: 256 });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    const w = await h.api('GET', '/v1/vms/agent-apps/wait?state=running&timeout=240');
    assert.equal(w.status, 200, JSON.stringify(w.body));
    vm = { id: w.body.id, ip: w.body.ip, name: 'agent-apps' };
    const secret = Buffer.from(readFileSync(join(h.stateDir, 'agent.key'), 'utf8').trim(), 'base64url');
    token = createHmac('sha256', secret).update(`fcm-agent:${vm.id}`).digest('base64url');
    await startForwarder();
  });

  after(async () => {
    for (const stop of [...pollers]) await stop();
    fwd?.kill('SIGKILL');
    await h?.close();
  });

  test('before any deploy: no release, the placeholder answers, the token is required', async () => {
    const health = JSON.parse((await agent('GET', '/health', { tok: null })).text);
    assert.deepEqual(health.app, { release: null, web: 'none' });
    assert.equal((await agent('GET', '/v1/status', { tok: null })).status, 401);
    assert.equal((await agent('GET', '/v1/status', { tok: token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A') })).status, 401);
    assert.deepEqual(await status(), { release: null, commit: null, deployInProgress: false, processes: [] });
    const page = await waitFor('the placeholder', async () => (await appGet('/')).body);
    assert.match(page, /git push/);
    const r = await streamed('POST', '/v1/restart');
    assert.deepEqual(r.result, { ok: true, release: null, buildpack: 'none', processes: {} });
  });

  test('python: first deploy replaces the placeholder with no refused connection; output streamed Heroku style', async () => {
    const poll = poller();
    await waitFor('the poller sees the placeholder', async () => poll.seen().length > 0);
    const r = await deploy(1, pythonApp('one', { 'old.txt': 'deleted in v2\n', 'bin/tool': { data: '#!/bin/sh\necho tool\n', mode: 0o755 } }));
    // Keep polling until the poller has been served by the new release (not a fixed time: polls are slow under load).
    await waitFor('the poller sees v1', async () => r.result?.ok && poll.seen().at(-1) === 'v1');
    const p = await poll.stop();
    assert.equal(r.status, 200);
    assert.equal(r.result.ok, true, show(r));
    assert.deepEqual(r.result.processes, { web: 'python3 app.py' });
    assert.equal(r.result.buildpack, 'python');
    const out = show(r);
    assert.match(out, /^-----> Detected Python \(requirements\.txt\)$/m);
    assert.match(out, /^-----> Starting: python3 app\.py$/m);
    assert.ok(r.arrivals[0]! < r.arrivals.at(-1)! - 500, `output was not streamed: ${JSON.stringify(r.arrivals)}`);
    console.log(`# python first deploy: ${JSON.stringify(r.result.timingsMs)}; poll ${JSON.stringify(p)}`);
    assert.equal(p.errors, 0, `refused/reset connections: ${JSON.stringify(p.timeline)}`);
    assert.equal(p.status5xx, 0);
    assert.deepEqual(p.timeline.map((t) => t[1]), ['placeholder', 'v1']);
    const app = await appJson();
    assert.equal(app.marker, 'one');
    assert.deepEqual(app.files, ['Procfile', 'app.py', 'bin', 'old.txt', 'requirements.txt']);
    const health = JSON.parse((await agent('GET', '/health', { tok: null })).text);
    assert.deepEqual(health.app, { release: 1, web: 'up' });
  });

  test('redeploy: changed file served, deleted file gone, cached venv, zero downtime (10 ms polling)', async () => {
    // After v1 went live the agent started an interpreter for the next run (rootfs/guest/prestart.py);
    // a start only takes it once it is ready, which it says in the app log.
    await waitFor('the interpreter started ahead', async () => /fcm\[web\.1\]: A Python interpreter for the next start is ready$/m.test((await agent('GET', '/v1/logs?lines=300')).text), 180_000);
    const poll = poller();
    await waitFor('the poller sees v1', async () => poll.seen().at(-1) === 'v1');
    const r = await deploy(2, pythonApp('two'));
    // Keep polling past the old release's drain and stop (the agent logs when it stops it), and for
    // 20 more polls after that, instead of a fixed 2.5 s that a loaded machine may not get through.
    assert.equal(r.result?.ok, true, show(r));
    await waitFor('the old release stopped', async () => /Stopping the processes of the previous run of v1/.test((await agent('GET', '/v1/logs?lines=200')).text));
    const after = poll.polls();
    await waitFor('20 polls after the old release stopped', async () => poll.polls() >= after + 20 && poll.seen().at(-1) === 'v2');
    const p = await poll.stop();
    assert.equal(r.result.ok, true, show(r));
    assert.match(show(r), /Using the cached virtualenv/);
    console.log(`# python redeploy: ${JSON.stringify(r.result.timingsMs)}; poll ${JSON.stringify(p)}`);
    assert.equal(p.errors, 0, `refused/reset connections: ${JSON.stringify(p.timeline)}`);
    assert.equal(p.status5xx, 0);
    assert.deepEqual(p.timeline.map((t) => t[1]), ['v1', 'v2']);
    const app = await appJson();
    assert.equal(app.marker, 'two');
    assert.deepEqual(app.files, ['Procfile', 'app.py', 'requirements.txt']);
    const s = await status();
    assert.equal(s.release, 2);
    assert.equal(s.commit, 'c0ffee000002');
    assert.deepEqual(s.processes.map((x: any) => [x.type, x.state, x.release]), [['web', 'up', 2]]);
    // v2's web process ran in the interpreter the agent started after v1 went live (rootfs/guest/prestart.py).
    const logs = (await agent('GET', '/v1/logs?lines=300')).text;
    assert.match(logs, /fcm\[web\.1\]: Starting process with command `python3 app\.py` \(PORT=\d+\) in the interpreter started ahead of it$/m);
  });

  test('a failing install and a web process that exits both fail the deploy; the live release keeps serving', async () => {
    const bad = await deploy(3, pythonApp('three', { 'requirements.txt': 'nothere @ file:///nonexistent/nothere-1.0-py3-none-any.whl\n' }));
    assert.equal(bad.result.ok, false, show(bad));
    assert.equal(bad.result.code, 'build_failed');
    assert.match(bad.result.error, /pip install failed/);
    assert.match(show(bad), /^ {7}\S/m, 'pip output indented by 7 spaces');
    assert.equal((await appJson()).marker, 'two');

    const exits = await deploy(4, { ...pythonApp('four'), 'app.py': 'import sys\nprint("missing DATABASE_URL", flush=True)\nsys.exit(3)\n' });
    assert.equal(exits.result.ok, false, show(exits));
    assert.equal(exits.result.code, 'start_failed');
    assert.match(exits.result.error, /exited with status 3/);
    assert.match(show(exits), /^ {7}missing DATABASE_URL$/m);
    assert.equal((await appJson()).marker, 'two');
    assert.equal((await status()).release, 2);
  });

  test('a tree that escapes the release directory is refused', async () => {
    for (const files of [{ '../escape.txt': 'x' }, { 'link': { symlink: '/etc' } }, { 'a/link': { symlink: '../../..' } }] as Record<string, TarEntry>[]) {
      const r = await deploy(5, { ...pythonApp('five'), ...files });
      assert.equal(r.result.ok, false, show(r));
      assert.equal(r.result.code, 'invalid_archive');
    }
    assert.equal((await appJson()).marker, 'two');
  });

  test('one operation at a time: 409 deploy_in_progress', async () => {
    // The second request goes once the first is answering (the agent holds its lock by then), not after
    // a fixed 150 ms in which, on a loaded machine, the first may not even have arrived.
    let answering!: () => void;
    const started = new Promise<void>((r) => (answering = r));
    const first = streamed('POST', '/v1/restart', undefined, {}, () => answering());
    await started;
    const second = await agent('POST', '/v1/restart');
    assert.equal(second.status, 409);
    assert.equal(JSON.parse(second.text).code, 'deploy_in_progress');
    assert.equal((await first).result.ok, true);
  });

  test('config vars: PUT /v1/env then restart; the app sees them; bad names refused', async () => {
    const put = await agent('PUT', '/v1/env', { body: JSON.stringify({ vars: { GREETING: 'hej', API_KEY: 'not-in-any-log' } }), headers: { 'content-type': 'application/json' } });
    assert.equal(put.status, 204);
    assert.equal((await appJson()).greeting, null, 'env changes apply on restart only');
    const r = await streamed('POST', '/v1/restart');
    assert.equal(r.result.ok, true, show(r));
    console.log(`# restart: ${JSON.stringify(r.result.timingsMs)}`);
    assert.equal((await appJson()).greeting, 'hej');
    const bad = await agent('PUT', '/v1/env', { body: JSON.stringify({ vars: { '1BAD': 'x' } }), headers: { 'content-type': 'application/json' } });
    assert.equal(bad.status, 400);
    assert.equal(JSON.parse(bad.text).code, 'validation_failed');
    assert.doesNotMatch((await agent('GET', '/v1/logs?lines=1000')).text, /not-in-any-log/);
  });

  test('a crashed process is restarted by the supervisor and the crash is logged', async () => {
    const before = (await status()).processes[0];
    await appGet('/crash').catch(() => {});
    const after = await waitFor('the restarted web process', async () => {
      const p = (await status()).processes[0];
      return p.restarts === before.restarts + 1 && p.state === 'up' && p.pid !== before.pid ? p : null;
    });
    assert.equal(after.port, before.port);
    assert.equal((await appJson()).marker, 'two');
    const logs = (await agent('GET', '/v1/logs?lines=50')).text;
    assert.match(logs, /^\S+Z web\[1\]: crashing on purpose$/m);
    assert.match(logs, /^\S+Z fcm\[web\.1\]: Process exited with status 1$/m);
    assert.match(logs, /^\S+Z fcm\[web\.1\]: Restarting in 1 s$/m);
  });

  test('logs follow streams new lines until the client goes away', async () => {
    const ac = new AbortController();
    let text = '';
    let responded = false;
    const req = request({ host: h.daemonIp, port: AGENT_FWD, path: '/v1/logs?lines=0&follow=1', agent: false, headers: { authorization: `Bearer ${token}` }, signal: ac.signal }, (res) => {
      assert.equal(res.statusCode, 200);
      responded = true;
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('error', () => {});
    });
    req.on('error', () => {});
    req.end();
    try {
      await waitFor('the follow stream', async () => responded);
      // the app prints one line per /say request; once the stream is open, one is enough
      await waitFor('a new line on the follow stream', async () => {
        if (text.includes('said hello-follow')) return true;
        await appGet('/say/hello-follow');
        await new Promise((r) => setTimeout(r, 1000));
        return text.includes('said hello-follow');
      });
    } finally {
      ac.abort();
    }
    assert.match(text, /^\S+Z web\[1\]: said hello-follow$/m);
  });

  test('console resize sets the serial console size (stty size in the console shell)', async (t) => {
    const bad = await agent('POST', '/v1/console/resize', { body: JSON.stringify({ rows: 0, cols: 80 }), headers: { 'content-type': 'application/json' } });
    assert.equal(bad.status, 400);
    const ok = await agent('POST', '/v1/console/resize', { body: JSON.stringify({ rows: 41, cols: 133 }), headers: { 'content-type': 'application/json' } });
    assert.equal(ok.status, 204);
    const sock = join(h.stateDir, 'run', vm.id, 'console.sock');
    if (!existsSync(sock)) return t.skip(`no console socket at ${sock} (hypervisor layout changed?)`);
    const text = await new Promise<string>((resolve, reject) => {
      const c = createConnection({ path: sock });
      let out = '';
      const timer = setTimeout(() => {
        c.destroy();
        reject(new Error(`no stty output on the console: ${out.slice(-300)}`));
      }, 20_000);
      c.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /SIZE=(\d+x\d+)[\r\n]/.exec(out); // the whole line, not a chunk of it
        if (m) {
          clearTimeout(timer);
          c.end();
          resolve(`SIZE=${m[1]}`);
        }
      });
      c.on('error', reject);
      c.on('connect', () => c.write('\recho SIZE=$(stty size | tr " " x)\r'));
    });
    assert.equal(text, 'SIZE=41x133');
    await agent('POST', '/v1/console/resize', { body: JSON.stringify({ rows: 24, cols: 80 }), headers: { 'content-type': 'application/json' } });
  });

  test('node: start script → web; the image\'s Node has its own startup snapshot, so the VM makes none and a V8 flag just applies', async () => {
    const worker = `const v8 = require('v8');
console.log('worker snapshot=' + process.execArgv.includes('--snapshot-blob') + ' heapMib=' + Math.round(v8.getHeapStatistics().heap_size_limit / 1048576));
setInterval(() => {}, 1 << 30);
`;
    const r = await deploy(6, {
      'package.json': JSON.stringify({ name: 'n', version: '1.0.0', scripts: { start: 'node server.js' } }),
      'server.js': NODE_APP,
      'worker.js': worker,
      Procfile: 'worker: node --max-old-space-size=200 worker.js\n',
    });
    assert.equal(r.result.ok, true, show(r));
    assert.equal(r.result.buildpack, 'node');
    assert.deepEqual(r.result.processes, { web: 'node server.js', worker: 'node --max-old-space-size=200 worker.js' });
    assert.match(show(r), /^-----> Detected Node\.js \(package\.json\)$/m);
    assert.doesNotMatch(show(r), /Building a startup snapshot/, 'the image\'s Node has its own (rootfs/build.sh): none is made');
    console.log(`# node deploy: ${JSON.stringify(r.result.timingsMs)}`);
    const app = await appJson();
    assert.deepEqual([app.app, app.release, app.nodeEnv, app.snapshot], ['node', '6', 'production', false]);
    const logs = await waitFor('the worker\'s line', async () => {
      const text = (await agent('GET', '/v1/logs?lines=300')).text;
      return /worker\[1\]: worker snapshot=/.test(text) && text;
    }, 120_000);
    assert.doesNotMatch(logs, /fcm: node starts without the startup snapshot/, 'no snapshot of the VM\'s to leave out');
    const m = /worker\[1\]: worker snapshot=(\w+) heapMib=(\d+)$/m.exec(logs)!;
    assert.equal(m[1], 'false');
    assert.ok(Number(m[2]) < 400, `the flag applies: heap limit ${m[2]} MiB`);
    assert.match(logs, /web\.1\]: Starting process with command `node server\.js` \(PORT=\d+\)$/m, 'the first start is a fresh one');
    assert.equal(app.seen.main, true);
    assert.deepEqual(app.seen.argv.slice(1), [`/app/releases/v6/server.js`]);
    assert.equal(app.seen.cwd, '/app/releases/v6');
    // After v6 went live the agent started a Node.js process for the next run (rootfs/guest/prestart.py);
    // a restart (same command, same config vars) takes it once it says it is ready.
    await waitFor('the Node.js process started ahead', async () => nodeReady(await logText()) === 1, 180_000);
    const again = await streamed('POST', '/v1/restart');
    assert.equal(again.result.ok, true, show(again));
    assert.doesNotMatch(show(again), /Building a startup snapshot/);
    const warm = await appJson();
    assert.equal(warm.snapshot, false);
    assert.equal(nodeTaken(await logText()), 1, 'the restart ran in the Node.js process started ahead of it');
    assert.deepEqual(seenBut(warm), seenBut(app), 'require.main, argv, execArgv, cwd and env as in the fresh start of v6');
  });

  test('node: a redeploy runs in the Node.js process started ahead; an ES module app sees what a fresh start shows it; a config change starts fresh', async () => {
    await waitFor('the Node.js process started ahead after the restart', async () => nodeReady(await logText()) === 2, 180_000);
    const r = await deploy(7, {
      'package.json': JSON.stringify({ name: 'n', version: '1.0.0', type: 'module', scripts: { start: 'node server.js' } }),
      'server.js': NODE_ESM_APP,
    });
    assert.equal(r.result.ok, true, show(r));
    assert.equal(nodeTaken(await logText()), 2, 'v7 ran in the Node.js process started ahead of it');
    const warm = await appJson();
    assert.deepEqual([warm.app, warm.release, warm.seen.require, warm.seen.url], ['node-esm', '7', 'undefined', 'file:///app/releases/v7/server.js']);
    // Another config var: the process started ahead has the old environment, so this start is a fresh one.
    await waitFor('the Node.js process started ahead after v7', async () => nodeReady(await logText()) === 3, 180_000);
    const vars = { GREETING: 'hej', API_KEY: 'not-in-any-log' };
    const put = await agent('PUT', '/v1/env', { body: JSON.stringify({ vars: { ...vars, FRESH: '1' } }), headers: { 'content-type': 'application/json' } });
    assert.equal(put.status, 204);
    const again = await streamed('POST', '/v1/restart');
    assert.equal(again.result.ok, true, show(again));
    const logs = await logText();
    assert.equal(nodeTaken(logs), 2, 'the restart with another config var did not take it');
    assert.match(logs.split('\n').filter((l) => /web\.1\]: Starting process with command/.test(l)).at(-1)!, /`node server\.js` \(PORT=\d+\)$/);
    const fresh = await appJson();
    assert.equal(fresh.seen.env.FRESH, '1');
    assert.deepEqual(seenBut(warm), seenBut(fresh, 'FRESH'), 'argv, execArgv, cwd, env and import.meta as in a fresh start');
    const back = await agent('PUT', '/v1/env', { body: JSON.stringify({ vars }), headers: { 'content-type': 'application/json' } });
    assert.equal(back.status, 204);
  });

  test('ruby: Gemfile without gems, Procfile web: ruby app.rb (TCPServer)', async () => {
    const r = await deploy(8, { Gemfile: 'source "https://rubygems.org"\n', Procfile: 'web: ruby app.rb\n', 'app.rb': RUBY_APP });
    assert.equal(r.result.ok, true, show(r));
    assert.equal(r.result.buildpack, 'ruby');
    assert.match(show(r), /^-----> Detected Ruby \(Gemfile\)$/m);
    console.log(`# ruby deploy: ${JSON.stringify(r.result.timingsMs)}`);
    assert.deepEqual(await appJson(), { app: 'ruby', release: '8' });
  });

  test('activate: roll back to the python release with the current config vars', async () => {
    const r = await streamed('POST', '/v1/releases/2/activate');
    assert.equal(r.result.ok, true, show(r));
    assert.equal(r.result.buildpack, 'python');
    const app = await appJson();
    assert.deepEqual([app.release, app.marker, app.greeting], ['2', 'two', 'hej']);
    const gone = await agent('POST', '/v1/releases/4/activate');
    assert.equal(gone.status, 404);
    assert.equal(JSON.parse(gone.text).code, 'release_not_found');
  });

  test('the app comes back after the VM is stopped and started, without a push', async () => {
    const stopped = await h.api('POST', `/v1/vms/${vm.name}/stop`, { timeoutMs: 30_000 });
    assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
    const started = await h.api('POST', `/v1/vms/${vm.name}/start`);
    assert.equal(started.status, 200, JSON.stringify(started.body));
    const w = await h.api('GET', `/v1/vms/${vm.name}/wait?state=running&timeout=240`);
    assert.equal(w.status, 200);
    const t0 = Date.now();
    const app = await waitFor('the app after the restart', async () => {
      const r = await appGet('/');
      return r.status === 200 && r.body.includes('"app"') ? JSON.parse(r.body) : null;
    }, 60_000);
    console.log(`# app answering ${Date.now() - t0} ms after the VM was running again`);
    assert.deepEqual([app.release, app.marker, app.greeting], ['2', 'two', 'hej']);
    const health = JSON.parse((await agent('GET', '/health', { tok: null })).text);
    assert.equal(health.app.release, 2);
  });

  test("clock and sync: the daemon's PUT /v1/clock sets the guest's wall clock; POST /v1/sync flushes its disks; both need the token", async () => {
    const now = Date.now();
    const set = await agent('PUT', '/v1/clock', { body: JSON.stringify({ epochMs: now }), headers: { 'content-type': 'application/json' } });
    assert.equal(set.status, 200, set.text);
    const answer = JSON.parse(set.text);
    assert.equal(answer.epochMs, now);
    assert.equal(typeof answer.previousEpochMs, 'number');
    const bad = await agent('PUT', '/v1/clock', { body: JSON.stringify({ epochMs: 1 }), headers: { 'content-type': 'application/json' } });
    assert.equal(bad.status, 400, bad.text);
    assert.equal((await agent('PUT', '/v1/clock', { body: JSON.stringify({ epochMs: now }), headers: { 'content-type': 'application/json' }, tok: null })).status, 401);
    const synced = await agent('POST', '/v1/sync');
    assert.equal(synced.status, 204, synced.text);
    assert.equal((await agent('POST', '/v1/sync', { tok: null })).status, 401);
  });

  test('execCommand: an Upgrade to fcm-exec.v1 runs a one-off in the live release with its config vars; frames both ways; refusals are problems', async () => {
    const json = { 'content-type': 'application/json' };
    const refused = await agent('POST', '/v1/exec', { body: JSON.stringify({ argv: ['true'] }), headers: json });
    assert.equal(refused.status, 400, refused.text);
    const payload = JSON.stringify({ argv: ['sh', '-c', 'cat; echo "$GREETING v$FCM_RELEASE $(pwd)" >&2; exit 5'], timeoutSec: 60 });
    const { res, frames } = await new Promise<{ res: AgentResponse; frames: Frame[] }>((resolve, reject) => {
      const req = request({
        host: h.daemonIp,
        port: AGENT_FWD,
        method: 'POST',
        path: '/v1/exec',
        agent: false,
        headers: { ...json, authorization: `Bearer ${token}`, connection: 'Upgrade', upgrade: 'fcm-exec.v1', 'content-length': String(Buffer.byteLength(payload)) },
      });
      req.on('upgrade', (r, socket, head) => {
        const decoder = new FrameDecoder();
        const got: Frame[] = decoder.push(head);
        socket.on('data', (c: Buffer) => got.push(...decoder.push(c)));
        socket.on('end', () => resolve({ res: { status: r.statusCode ?? 0, headers: r.headers as AgentResponse['headers'], body: Buffer.alloc(0) }, frames: got }));
        socket.on('error', reject);
        socket.write(Buffer.concat([encodeFrame(FRAME.stdin, Buffer.from('from stdin\n')), encodeFrame(FRAME.stdinEof)]));
      });
      req.on('response', (r) => reject(new Error(`no upgrade: ${r.statusCode}`)));
      req.on('error', reject);
      req.end(payload);
    });
    audit('POST', '/v1/exec', res);
    assert.equal(res.status, 101);
    const text = (t: number) => Buffer.concat(frames.filter((f) => f.type === t).map((f) => f.payload)).toString();
    assert.equal(text(FRAME.stdout), 'from stdin\n');
    assert.match(text(FRAME.stderr), /^hej v2 \/app\/releases\/v2\n$/);
    assert.deepEqual(JSON.parse(frames.at(-1)!.payload.toString()), { code: 5, signal: null, timedOut: false });
  });

  test("identity watch (forks): armed, it answers the vmId its seed names; re-armed replaces it; disarmed; bad input and no token refused; the VM keeps its identity", async () => {
    const json = { 'content-type': 'application/json' };
    const armed = await agent('POST', '/v1/identity/watch', { body: JSON.stringify({ seconds: 30 }), headers: json });
    assert.equal(armed.status, 200, armed.text);
    assert.deepEqual(JSON.parse(armed.text), { vmId: vm.id, seconds: 30 });
    const again = await agent('POST', '/v1/identity/watch', { body: JSON.stringify({ seconds: 5 }), headers: json });
    assert.equal(again.status, 200, again.text);
    for (const bad of [{ seconds: 0 }, { seconds: 601 }, { seconds: '30' }, { seconds: 30, extra: 1 }]) {
      assert.equal((await agent('POST', '/v1/identity/watch', { body: JSON.stringify(bad), headers: json })).status, 400, JSON.stringify(bad));
    }
    assert.equal((await agent('POST', '/v1/identity/watch', { body: JSON.stringify({ seconds: 30 }), headers: json, tok: null })).status, 401);
    assert.equal((await agent('DELETE', '/v1/identity/watch')).status, 204);
    assert.equal((await agent('DELETE', '/v1/identity/watch')).status, 204, 'disarming twice is fine');
    assert.equal((await agent('DELETE', '/v1/identity/watch', { tok: null })).status, 401);
    // Its own seed names it: nothing was applied; it still answers as itself.
    assert.equal(JSON.parse((await agent('GET', '/health', { tok: null })).text).vmId, vm.id);
  });

  test('every answer of the agent in the VM was one rootfs/guest/agent-openapi.yaml allows', () => {
    assert.deepEqual(offContract, []);
    const unchecked = contract.operations.map((o) => o.operationId).filter((id) => !audited.has(id));
    assert.deepEqual(unchecked, [], 'operations this test never called (or whose answers it did not check)');
  });
});
