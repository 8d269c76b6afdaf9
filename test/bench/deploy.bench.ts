/**
 * Deploy: `git push` of a small stdlib Python app until the new version is
 * served through Caddy, median of N redeploys over SSH (the real sshd with
 * fcm's key command) and over HTTPS (smart HTTP on the daemon); baseline:
 * pushing the same commits to a plain bare repository in the same run. While
 * deploying, a client polls the app every 10 ms and counts refused
 * connections and 5xx (zero-downtime check).
 *
 * Then the same VM gets a Node.js app and a Ruby app (N redeploys each over
 * SSH, the poller still running), and `fcm env set` (a restart) for each
 * language. For every deploy the phases are taken from the pusher's side:
 * when each `remote:` line of the deploy output arrived (the daemon and the
 * guest print one at each step), so they add up to the push's own time:
 *   upload   push start → "Deploying to" (SSH/HTTPS auth, pack upload,
 *            receive-pack, the hook, the daemon taking the push)
 *   receive  → "Received N files" (config vars and the tree sent to the guest, untar)
 *   build    → "Starting:" (buildpack: detect, dependency cache, Procfile)
 *   start    → "web is up" (the new web process from spawn until its port answers)
 *   switch   → "Port 8000 now goes to" (nftables redirect)
 *   finish   → push returns (result to the daemon, the hook exits, git updates the ref)
 *   served   push returned → the poller here sees the new version through Caddy
 * The ratio "Node start vs Python start" compares the `start` phase of both
 * languages in this run. The Python app also runs as `python3 -u app.py`, which the
 * guest starts with a fresh interpreter (rootfs/guest/prestart.py takes no command with
 * interpreter options): the same-run baseline of the interpreter started ahead.
 */
import { execFile, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect } from 'node:net';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { hostSkipReason, startHostHarness } from '../helpers/host-harness.js';
import { registerKeyWith } from '../helpers/key-proof.js';
import { gitClient, startSshd } from '../helpers/sshd.js';
import { fmtMs, median, ratio, row } from './stats.js';

const N = Number(process.argv[process.argv.indexOf('--n') + 1] || 5) || 5;
/**
 * Pause between the redeploys of a series (the poller keeps polling): a developer's
 * edit → commit → push takes some seconds, and the guest uses that time (an interpreter
 * started ahead of the next run, see rootfs/guest/prestart.py). The same for every
 * series, so each baseline gets it too; --gap-ms 0 measures pushes back to back.
 */
const GAP_MS = process.argv.includes('--gap-ms') ? Number(process.argv[process.argv.indexOf('--gap-ms') + 1]) : 3000;
if (!(GAP_MS >= 0)) throw new Error('--gap-ms takes a number of milliseconds');
const skip = hostSkipReason();
if (skip) {
  console.error(`cannot measure: ${skip}`);
  process.exit(1);
}

type Lang = 'python' | 'python-fresh' | 'node' | 'node-bare' | 'ruby';
/** Each language's app answers GET / with "version <n>". */
const APPS: Record<Lang, (v: number) => Record<string, string>> = {
  python: (v) => ({
    'requirements.txt': '# stdlib only\n',
    Procfile: 'web: python3 app.py\n',
    'app.py': `import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class App(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"version ${v}\\n"
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), App).serve_forever()
`,
  }),
  // The same app started by a fresh interpreter, as every Python app was before the agent
  // started one ahead (rootfs/guest/prestart.py takes no command with interpreter options;
  // -u changes nothing here: the buildpack sets PYTHONUNBUFFERED=1): the in-run baseline.
  'python-fresh': (v) => ({ ...APPS.python(v), Procfile: 'web: python3 -u app.py\n' }),
  // No Procfile: the buildpack runs the start script (as Heroku does).
  node: (v) => ({
    'package.json': JSON.stringify({ name: 'bench', version: '1.0.0', private: true, scripts: { start: 'node server.js' } }),
    'server.js': `const http = require('node:http');
const body = 'version ${v}\\n';
http.createServer((req, res) => {
  res.writeHead(200, { 'content-length': Buffer.byteLength(body) });
  res.end(body);
}).listen(Number(process.env.PORT));
`,
  }),
  // The same app started by /usr/bin/node itself, as every Node app was before the VM's
  // startup snapshot (node-shim): the in-run baseline for the snapshot's gain.
  'node-bare': (v) => ({ ...APPS.node(v), Procfile: 'web: /usr/bin/node server.js\n' }),
  // Ruby 3.1 in bookworm has no default webrick: a plain TCPServer app.
  ruby: (v) => ({
    Gemfile: 'source "https://rubygems.org"\n',
    Procfile: 'web: ruby app.rb\n',
    'app.rb': `require 'socket'
server = TCPServer.new('0.0.0.0', Integer(ENV.fetch('PORT')))
body = "version ${v}\\n"
loop do
  Thread.new(server.accept) do |c|
    begin
      while (line = c.gets) && line != "\\r\\n"; end
      c.write "HTTP/1.1 200 OK\\r\\nContent-Length: #{body.bytesize}\\r\\nConnection: close\\r\\n\\r\\n#{body}"
    ensure
      c.close
    end
  end
end
`,
  }),
};

/** Phases of one deploy, from the arrival times of its `remote:` lines (see the header). */
const PHASES = ['upload', 'receive', 'build', 'start', 'switch', 'finish', 'served'] as const;
type Phase = (typeof PHASES)[number];
const MARKS: [Phase, RegExp][] = [
  ['upload', /^-----> Deploying to /],
  ['receive', /^-----> Received /],
  ['build', /^-----> Starting: /],
  ['start', /^-----> web is up after /],
  ['switch', /^-----> Port \d+ now goes to /],
];

interface Deploy {
  servedMs: number;
  /** Wall time of each phase, and the VM's CPU time in it (ms). */
  phases: Record<Phase, number>;
  cpu: Record<Phase, number>;
  output: string;
}

function sh(cmd: string, args: string[], env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, maxBuffer: 16 << 20 }, (err, _o, stderr) => resolve({ code: err ? 1 : 0, stderr: String(stderr) }));
  });
}

/** CPU time (user + system, ms) the VM's QEMU process has used: what the guest did, whatever the host's load. */
function qemuCpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // USER_HZ is 100 on Linux
}

interface Line {
  ms: number;
  cpuMs: number;
  text: string;
}

/** `git push`, timing each line it prints (the remote's lines come as they are written). */
function timedPush(args: string[], env: Record<string, string>, t0: number, cpu: () => number): Promise<{ code: number; lines: Line[]; end: Line }> {
  const cpu0 = cpu();
  return new Promise((resolve) => {
    const child = spawn('git', args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    const lines: Line[] = [];
    let partial = '';
    const at = (text: string): Line => ({ ms: performance.now() - t0, cpuMs: cpu() - cpu0, text });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => {
      const parts = (partial + c).split(/\r?\n|\r/);
      partial = parts.pop()!;
      for (const l of parts) lines.push(at(l.replace(/^remote: /, '').trimEnd()));
    });
    child.on('close', (code) => {
      if (partial) lines.push(at(partial));
      resolve({ code: code ?? 1, lines, end: at('') });
    });
  });
}

const loadAtStart = loadavg();
const h = await startHostHarness({ caddy: true });
const base = mkdtempSync('/tmp/fcm-bench-deploy-');
const keysDir = mkdtempSync('/run/fcm-keys-');
chmodSync(keysDir, 0o755); // sshd runs the key command (a copy here: see test/host/deploy.test.ts) as the git user
try {
  const ca = readFileSync(await h.caddy.rootCaFile());
  const keysCommand = join(keysDir, 'fcm-ssh-keys');
  copyFileSync(join(h.stateDir, 'git', 'bin', 'fcm-ssh-keys'), keysCommand);
  const sshd = await startSshd({
    dir: join(keysDir, 'sshd'), listen: h.daemonIp, port: 22, keysCommand, wrap: ['ip', 'netns', 'exec', h.ns],
    probe: () => new Promise((r) => { const s = connect(22, h.daemonIp, () => (s.destroy(), r(true))); s.on('error', () => r(false)); }),
  });
  const client = await gitClient(join(base, 'client'), 'bench', sshd.knownHostsLine);
  const key = await registerKeyWith(h.api, client);
  if (key.status !== 201) throw new Error(`adding the bench key: ${JSON.stringify(key.body)}`);
  const vm = (await h.api('POST', '/v1/vms', { name: 'benchapp', memoryMib: 512, swapMib: 256 })).body;
  await h.api('GET', '/v1/vms/benchapp/wait?state=running&timeout=300');
  const qemuPid = Number(readFileSync(join(h.stateDir, 'run', vm.id, 'qemu.pid'), 'utf8').trim());
  const cpuMs = () => qemuCpuMs(qemuPid);

  /** The version served, -status for another answer, or the error (ECONNREFUSED, ECONNRESET, timeout...). */
  const get = () =>
    new Promise<number | string>((resolve) => {
      const u = new URL(vm.url);
      const req = request({ host: h.daemonIp, port: 443, path: '/', servername: u.hostname, headers: { host: u.hostname }, ca, agent: false, timeout: 5000 }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(res.statusCode === 200 && body.startsWith('version ') ? Number(body.split(' ')[1]) : -(res.statusCode ?? 1)));
      });
      req.on('error', (e: NodeJS.ErrnoException) => resolve(e.message === 'timeout' ? 'no answer in 5 s' : (e.code ?? e.message)));
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.end();
    });

  const work = join(base, 'app');
  mkdirSync(work);
  const env = client.env;
  const git = (...a: string[]) => sh('git', ['-C', work, ...a], env);
  await git('init', '-q', '-b', 'main');
  const plain = join(base, 'plain.git');
  await sh('git', ['init', '-q', '--bare', plain], env);

  let version = 0;
  let lang: Lang = 'python';
  /** The next commit: the current language's app at the next version, nothing else in the tree. */
  const commit = async (l: Lang, msg = '') => {
    version++;
    if (l !== lang) {
      for (const f of Object.keys(APPS[lang](0))) rmSync(join(work, f), { force: true });
      lang = l;
    }
    for (const [f, data] of Object.entries(APPS[l](version))) writeFileSync(join(work, f), data);
    await git('add', '-A');
    await git('commit', '-q', '-m', `${msg}v${version}`);
  };

  const refused = { errors: new Map<string, number>(), bad: 0, polls: 0 };
  let polling = false;
  const poll = async () => {
    while (polling) {
      const v = await get();
      refused.polls++;
      if (typeof v === 'string') refused.errors.set(v, (refused.errors.get(v) ?? 0) + 1);
      else if (v <= -500) refused.bad++;
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const deploy = async (l: Lang, remote: string): Promise<Deploy> => {
    await commit(l);
    const t0 = performance.now();
    const cpu0 = cpuMs();
    const r = await timedPush(['-C', work, 'push', remote, 'HEAD:main'], env, t0, cpuMs);
    const output = r.lines.map((l2) => l2.text).join('\n');
    if (r.code) throw new Error(`push failed:\n${output}`);
    while ((await get()) !== version) {
      if (performance.now() - t0 > 180_000) throw new Error('new version never served');
      await new Promise((res) => setTimeout(res, 20));
    }
    const served: Line = { ms: performance.now() - t0, cpuMs: cpuMs() - cpu0, text: '' };
    const marks = MARKS.map(([, re]) => {
      const hit = r.lines.find((l2) => re.test(l2.text));
      if (!hit) throw new Error(`no "${re.source}" line in the push output:\n${output}`);
      return hit;
    });
    const ends = [...marks, r.end, served];
    const diff = (k: 'ms' | 'cpuMs') => Object.fromEntries(PHASES.map((p, i) => [p, ends[i]![k] - (i ? ends[i - 1]![k] : 0)])) as Record<Phase, number>;
    return { servedMs: served.ms, phases: diff('ms'), cpu: diff('cpuMs'), output };
  };
  /** `fcm env set` (PATCH /v1/vms/<app>/env): records a release and restarts the app. A failed restart is counted apart. */
  const envFailures: string[] = [];
  const envSet = async (value: string): Promise<number[]> => {
    const t0 = performance.now();
    const r = await h.api('PATCH', '/v1/vms/benchapp/env', { set: { BENCH: value } });
    if (r.status === 200) return [performance.now() - t0];
    envFailures.push(`${lang}: ${String(r.body?.detail ?? r.status).split('\n')[0]!.slice(0, 120)}`);
    return [];
  };

  const httpsRemote = vm.gitHttpUrl.replace('://', `://fcm:${h.token}@`);
  const runs: { label: string; lang: Lang; deploys: Deploy[]; failures: string[] }[] = [];
  const firsts: { lang: Lang; d: Deploy }[] = [];
  const envSets: Partial<Record<Lang, number[]>> = {};
  /** n redeploys; one that fails (the guest's 60 s start limit on a loaded host) is counted apart, not fatal. */
  const series = async (label: string, l: Lang, remote: string, n: number) => {
    const deploys: Deploy[] = [];
    const failures: string[] = [];
    for (let i = 0; i < n; i++) {
      await new Promise((r) => setTimeout(r, GAP_MS));
      try {
        deploys.push(await deploy(l, remote));
      } catch (e) {
        failures.push((/^ !\s+(.*)$/m.exec((e as Error).message)?.[1] ?? (e as Error).message).slice(0, 120));
      }
    }
    runs.push({ label, lang: l, deploys, failures });
  };

  /** The VM's CPU use over 3 s with no deploy running, only the poller's requests to the live app. */
  const serving: [Lang, number, number][] = [];
  const servingLoad = async (l: Lang) => {
    const c0 = cpuMs();
    const p0 = refused.polls;
    await new Promise((r) => setTimeout(r, 3000));
    serving.push([l, (cpuMs() - c0) / 3000, (refused.polls - p0) / 3]);
  };
  // First deploy (builds the dependency cache), not counted.
  firsts.push({ lang: 'python', d: await deploy('python', vm.gitUrl) });
  polling = true;
  const poller = poll();
  await servingLoad('python');
  await series('Python, over SSH', 'python', vm.gitUrl, N);
  await series('Python, over HTTPS', 'python', httpsRemote, N);
  envSets.python = [...(await envSet('p1')), ...(await envSet('p2'))];
  await series('Python without the pre-started interpreter, over SSH', 'python-fresh', vm.gitUrl, N);
  // The first Node.js deploy builds the VM's startup snapshot (once): not counted.
  firsts.push({ lang: 'node-bare', d: await deploy('node-bare', vm.gitUrl) });
  await servingLoad('node-bare');
  await series('Node.js without the snapshot, over SSH', 'node-bare', vm.gitUrl, N);
  envSets['node-bare'] = [...(await envSet('b1')), ...(await envSet('b2'))];
  await series('Node.js, over SSH', 'node', vm.gitUrl, N);
  envSets.node = [...(await envSet('n1')), ...(await envSet('n2'))];
  firsts.push({ lang: 'ruby', d: await deploy('ruby', vm.gitUrl) });
  await servingLoad('ruby');
  await series('Ruby, over SSH', 'ruby', vm.gitUrl, N);
  envSets.ruby = [...(await envSet('r1')), ...(await envSet('r2'))];
  polling = false;
  await poller;
  const plainMs: number[] = [];
  for (let i = 0; i < N; i++) {
    await commit('python', 'plain ');
    const t0 = performance.now();
    await git('push', '-q', plain, 'HEAD:main');
    plainMs.push(performance.now() - t0);
  }
  const loadAtEnd = loadavg();

  const servedOf = (label: string) => runs.find((r) => r.label === label)!.deploys.map((d) => d.servedMs);
  const ssh = servedOf('Python, over SSH');
  const https = servedOf('Python, over HTTPS');
  const load = (l: number[]) => l.map((x) => x.toFixed(1)).join(' ');
  console.log(`git push until the new version is served through Caddy (median of ${N}, ${GAP_MS / 1000} s between pushes; QEMU TCG guest, 1 vCPU, 512 MiB)`);
  console.log(`  host load average (1/5/15 min) at start ${load(loadAtStart)}, at end ${load(loadAtEnd)}: ${loadAtStart[0]! > 2 ? 'a loaded machine (2 cores), figures vary with load' : 'a quiet machine'}`);
  row('plain git push to a bare repo (baseline)', fmtMs(median(plainMs)));
  row('Python: push → served, over SSH', fmtMs(median(ssh)), ssh.map(fmtMs).join(' '));
  row('Python: push → served, over HTTPS', fmtMs(median(https)), https.map(fmtMs).join(' '));
  row('SSH deploy vs plain push', ratio(median(ssh), median(plainMs)));
  const fresh = servedOf('Python without the pre-started interpreter, over SSH');
  row('SSH deploy vs the same without the pre-started interpreter', ratio(median(ssh), median(fresh)));
  row('reference: a host-based PaaS on this machine kind', '2.70 s', '(issue 5; ~1 s of refused connections per redeploy)');
  row('SSH deploy vs the reference', ratio(median(ssh), 2700));
  for (const r of runs.filter((x) => x.lang !== 'python')) {
    const v = r.deploys.map((d) => d.servedMs);
    row(`${r.label.replace(',', ': push → served,')}`, v.length ? fmtMs(median(v)) : '-', v.map(fmtMs).join(' '));
  }
  for (const r of runs.filter((x) => x.failures.length)) {
    row(`${r.label}: failed deploys`, `${r.failures.length} of ${r.failures.length + r.deploys.length}`, [...new Set(r.failures)].join('; '));
  }
  const failed = [...refused.errors].map(([k, n]) => `${k} ${n}`).join(', ') || 'refused 0';
  row(`during ${runs.reduce((n, r) => n + r.deploys.length, 0) + firsts.length - 1} redeploys and ${Object.values(envSets).flat().length} restarts: polls every 10 ms`, String(refused.polls), `${failed}, 5xx ${refused.bad}`);

  console.log(`phases of a redeploy, median ms, from when each remote line reached the pusher (${PHASES.join(' | ')})`);
  for (const r of runs) {
    const m = PHASES.map((p) => median(r.deploys.map((d) => d.phases[p])));
    row(`${r.label}`, fmtMs(median(r.deploys.map((d) => d.servedMs))), m.map((x) => x.toFixed(0)).join(' | '));
  }
  console.log(`the VM's CPU time in each phase (its QEMU process, user + system), median ms: what the guest did, whatever the host's load`);
  for (const r of runs) {
    const m = PHASES.map((p) => median(r.deploys.map((d) => d.cpu[p])));
    row(`${r.label}`, fmtMs(m.reduce((a, b) => a + b, 0)), m.map((x) => x.toFixed(0)).join(' | '));
  }
  for (const f of firsts) {
    row(`first deploy of ${f.lang} (not counted above)`, fmtMs(f.d.servedMs), PHASES.map((p) => f.d.phases[p].toFixed(0)).join(' | '));
  }

  console.log('web process start in the guest (spawn → its port answers; the "start" phase), median of the redeploys');
  const startOf = (l: Lang, k: 'phases' | 'cpu' = 'phases') => median(runs.filter((r) => r.lang === l).flatMap((r) => r.deploys.map((d) => d[k].start)));
  const py = startOf('python');
  const pyCpu = startOf('python', 'cpu');
  const cpuNote = (l: Lang) => `VM CPU ${fmtMs(startOf(l, 'cpu'))}`;
  row('Python (python3 app.py, http.server) (baseline)', fmtMs(py), cpuNote('python'));
  const pyFresh = startOf('python-fresh');
  row('Python without the pre-started interpreter (python3 -u app.py)', fmtMs(pyFresh), `${ratio(pyFresh, py)} Python's; ${cpuNote('python-fresh')}`);
  row('Python: pre-started vs fresh interpreter, start', ratio(py, pyFresh), `VM CPU ${ratio(pyCpu, startOf('python-fresh', 'cpu'))}`);
  for (const [l, what] of [
    ['node', 'Node.js (node server.js, node:http)'],
    ['node-bare', 'Node.js without the snapshot (/usr/bin/node server.js)'],
    ['ruby', 'Ruby (ruby app.rb, TCPServer)'],
  ] as const) {
    row(what, fmtMs(startOf(l)), `${ratio(startOf(l), py)} Python's (${ratio(startOf(l), pyFresh)} fresh Python's); ${cpuNote(l)}, ${ratio(startOf(l, 'cpu'), pyCpu)} Python's`);
  }
  for (const [l, cpu, rate] of serving) {
    row(`VM CPU serving the poller (no deploy), ${l} app live`, `${(cpu * 100).toFixed(0)}%`, `${rate.toFixed(0)} requests/s`);
  }
  for (const l of ['python', 'node', 'node-bare', 'ruby'] as Lang[]) {
    const v = envSets[l]!;
    row(`fcm env set (restart), ${l}`, v.length ? fmtMs(median(v)) : '-', v.map(fmtMs).join(' '));
  }
  for (const f of envFailures) row('fcm env set that failed', '', f);
  await sshd.close();
} finally {
  await h.close();
  rmSync(base, { recursive: true, force: true });
  rmSync(keysDir, { recursive: true, force: true });
}
