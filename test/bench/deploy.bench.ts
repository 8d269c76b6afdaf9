/**
 * Deploy: `git push` until the new version is served over HTTPS through
 * Caddy, median of N redeploys of each kind, with the phases of every fcm
 * deploy, for each language.
 *
 * Python, interleaved so that all see the same machine load:
 *   - fcm over SSH (the real sshd with fcm's key command) and over HTTPS
 *     (smart HTTP on the daemon): the app runs in a QEMU guest behind Caddy;
 *   - baseline, measured in the same run on the same host: how host PaaSes
 *     deploy without a VM (piku/Dokku style) — a bare repository on an sshd
 *     whose post-receive hook checks the commit out into a new release
 *     directory, builds the venv when requirements.txt changed (python3 -m
 *     venv; pip only from a local wheel directory, --no-index, when it lists
 *     packages) and restarts the process — behind a second Caddy whose route
 *     is copied from fcm's own (same proxy settings). Only Debian packages:
 *     git, openssh-server, python3-venv, caddy;
 *   - a plain push to a bare repository without a hook (git's own cost).
 * Then the same VM gets the other apps, N redeploys each over SSH: Python
 * started by a fresh interpreter (`python3 -u app.py`: rootfs/guest/prestart.py
 * takes no command with interpreter options — the same-run baseline of the
 * interpreter started ahead), Node.js (the VM's startup snapshot and a Node.js
 * process started ahead, prestart.py), Node.js started fresh with the snapshot
 * (`node --no-deprecation server.js`: the same-run baseline of the process
 * started ahead), Node.js started by /usr/bin/node itself (neither), and Ruby;
 * and `fcm env set` (a restart) for each. The series with a process started ahead
 * (Python's and Node.js's) each follow one uncounted deploy of the same command, so their
 * first counted redeploy is a redeploy of the same app, not a changed Procfile command.
 *
 * Phases of an fcm deploy, from the pusher's side: when each `remote:` line
 * arrived (the daemon and the guest print one at each step), so they add up
 * to the push's own time:
 *   upload   push start → "Deploying to" (SSH/HTTPS auth, pack upload,
 *            receive-pack, the hook, the daemon taking the push)
 *   receive  → "Received N files" (config vars and the tree sent to the guest, untar)
 *   build    → "Starting:" (buildpack: detect, dependency cache, Procfile)
 *   start    → "web is up" (the new web process from spawn until its port answers)
 *   switch   → "Port 8000 now goes to" (nftables redirect)
 *   finish   → push returns (result to the daemon, the hook exits, git updates the ref)
 *   served   push returned → the poller here sees the new version through Caddy
 * "Node start vs Python start" compares the `start` phase of both in this run.
 * The per-language breakdown gives the guest's phases (receive, build, start, switch)
 * of each language's redeploys, wall and the VM's CPU time. "First served" is when
 * the always-running poller first got the new version: the switch happens before the
 * push returns, so it comes before "push → served" (which waits for the push).
 * --python-only runs the Python series and baselines alone (profiling); --trace prints
 * every redeploy's remote lines with their arrival times.
 *
 * The same poller (every 10 ms, a new connection each time) runs through all
 * of fcm's redeploys and restarts, and another through the host PaaS's, and
 * counts refused/failed connections, 5xx, and anything else that is not the
 * current or a newer version (404s, placeholder pages, an older version after
 * a newer one).
 * Everything runs inside the harness's network namespace (sshd, both Caddys,
 * the baseline app); nothing leaves the machine.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, chmodSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect } from 'node:net';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { hostSkipReason, startHostHarness, type HostHarness } from '../helpers/host-harness.js';
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
/** --python-only: the Python series and their baselines only (profiling); --trace: every Python redeploy's lines with their arrival times. */
const PYTHON_ONLY = process.argv.includes('--python-only');
const TRACE = process.argv.includes('--trace');
/**
 * --node-only: of the other apps, only the Node.js series (with the process started ahead); the
 * Python series and baselines still run, as the Node/Python ratio needs them (profiling). With
 * --trace, the app's log (the guest's own times of each start, take and ready) is printed after it.
 */
const NODE_ONLY = process.argv.includes('--node-only');
const skip = hostSkipReason();
if (skip) {
  console.error(`cannot measure: ${skip}`);
  process.exit(1);
}

type Lang = 'python' | 'python-fresh' | 'node' | 'node-fresh' | 'node-bare' | 'ruby';
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
  // The same app started by a fresh node, as every Node app was before the agent started one
  // ahead (prestart.py takes no command with node options; --no-deprecation changes nothing
  // here): the in-run baseline.
  'node-fresh': (v) => ({ ...APPS.node(v), Procfile: 'web: node --no-deprecation server.js\n' }),
  // The same by /usr/bin/node's path. Since the image's Node runs without a shim (#20) it is
  // the same start as node-fresh: two figures of one thing, which shows the run's noise.
  'node-bare': (v) => ({ ...APPS.node(v), Procfile: 'web: /usr/bin/node --no-deprecation server.js\n' }),
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
  /** When the always-running poller first got the new version (push start = 0), if it ran: often before the push returned. */
  firstSeenMs: number | null;
  /** Wall time of each phase, and the VM's CPU time in it (ms). */
  phases: Record<Phase, number>;
  cpu: Record<Phase, number>;
  output: string;
}

/** The host PaaS's post-receive hook (bash): checkout, venv when needed, restart. */
const HOOK = (base: string, port: number) => `#!/bin/bash
# A host PaaS's deploy, no VM: new release dir from the pushed commit, the venv
# (keyed by requirements.txt) built when missing, then stop the old process and
# start the Procfile's web process.
set -euo pipefail
base=${base}
while read -r old new ref; do
  [[ $ref == refs/heads/main ]] || continue
  rel=$base/releases/$new
  rm -rf "$rel" && mkdir -p "$rel"
  git archive "$new" | tar -x -C "$rel"
  key=$( (python3 --version; cat "$rel/requirements.txt" 2>/dev/null || true) | sha256sum | cut -c1-16)
  venv=$base/venvs/$key
  if [[ ! -x $venv/bin/python ]]; then
    echo "-----> Creating virtualenv"
    python3 -m venv --without-pip "$venv.tmp"
    if grep -qvE '^[[:space:]]*(#|$)' "$rel/requirements.txt" 2>/dev/null; then
      python3 -m pip --python "$venv.tmp/bin/python" install --no-index --find-links "$base/wheels" -r "$rel/requirements.txt"
    fi
    mv "$venv.tmp" "$venv"
  fi
  web=$(sed -n 's/^web:[[:space:]]*//p' "$rel/Procfile")
  if [[ -f $base/app.pid ]]; then
    pid=$(cat "$base/app.pid")
    kill "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.01; done
  fi
  cd "$rel"
  PORT=${port} PATH="$venv/bin:$PATH" setsid bash -c "exec $web" >>"$base/app.log" 2>&1 </dev/null &
  echo $! > "$base/app.pid"
  echo "-----> Restarted: $web"
done
`;

function sh(cmd: string, args: string[], env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, maxBuffer: 16 << 20 }, (err, _o, stderr) => resolve({ code: err ? 1 : 0, stderr: String(stderr) }));
  });
}

interface Front {
  host: string;
  port: number;
  ca: Buffer;
}

type Answer = { status: number; body: string } | { error: string };

function get(h: HostHarness, f: Front): Promise<Answer> {
  return new Promise((resolve) => {
    const req = request({ host: h.daemonIp, port: f.port, path: '/', servername: f.host, headers: { host: f.host }, ca: f.ca, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', (e) => resolve({ error: e.message }));
    });
    req.on('error', (e) => resolve({ error: e.message }));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

const versionOf = (a: Answer): number | null => ('status' in a && a.status === 200 && /^version \d+\n$/.test(a.body) ? Number(a.body.split(' ')[1]) : null);

/** Version → when a poller first got it (performance.now()). */
const firstSeen = new Map<number, number>();

/** Polls every 10 ms until stopped; everything but the current or a newer version is counted. */
function poller(h: HostHarness, f: Front, seen: Map<number, number> | null = null) {
  const c = { polls: 0, refused: 0, status5xx: 0, other: 0, examples: [] as string[], olderAfter: new Map<number, { n: number; lastMs: number }>() };
  let newest = 0;
  /** When this poller first got `newest` (an older answer is timed from it). */
  let newestAt = 0;
  let running = true;
  const note = (what: string) => c.examples.length < 5 && c.examples.push(what);
  const done = (async () => {
    while (running) {
      const a = await get(h, f);
      c.polls++;
      const v = versionOf(a);
      if ('error' in a) (c.refused++, note(a.error));
      else if (a.status >= 500) (c.status5xx++, note(`HTTP ${a.status}`));
      else if (v === null || v < newest) {
        c.other++;
        note(v === null ? `HTTP ${a.status}: ${a.body.slice(0, 60)}` : `v${v} after v${newest}`);
        if (v !== null) {
          // Older answers by the release switch they came after, and how long after it.
          const o = c.olderAfter.get(newest) ?? { n: 0, lastMs: 0 };
          c.olderAfter.set(newest, { n: o.n + 1, lastMs: Math.max(o.lastMs, performance.now() - newestAt) });
        }
      } else {
        if (v > newest) newestAt = performance.now();
        newest = v;
        if (seen && !seen.has(v)) seen.set(v, performance.now());
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return { counts: c, stop: async () => ((running = false), await done, c) };
}

/** A second Caddy in the namespace (its own ports, admin and CA) serving `host` with fcm's route for the VM, upstream replaced. */
async function startBaselineCaddy(h: HostHarness, dir: string, vmName: string, host: string, upstream: string): Promise<{ proc: ChildProcess; front: Front }> {
  const route = JSON.parse((await h.exec('curl', ['-sS', '--fail', `http://127.0.0.1:2019/id/vm-${vmName}`])).stdout) as Record<string, any>;
  delete route['@id'];
  route.match = [{ host: [host] }];
  const proxy = (route.handle as any[]).find((x) => x.handler === 'reverse_proxy');
  if (!proxy) throw new Error(`fcm's route for ${vmName} has no reverse_proxy: ${JSON.stringify(route)}`);
  proxy.upstreams = [{ dial: upstream }];
  const config = {
    admin: { listen: '127.0.0.1:2020' },
    apps: {
      http: { http_port: 8080, https_port: 8443, servers: { baseline: { listen: [':8443'], routes: [route] } } },
      tls: { automation: { policies: [{ subjects: [host], issuers: [{ module: 'internal' }] }] } },
    },
  };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'caddy.json'), JSON.stringify(config));
  const log = openSync(join(dir, 'caddy.log'), 'a', 0o600);
  const proc = spawn('ip', ['netns', 'exec', h.ns, 'caddy', 'run', '--config', join(dir, 'caddy.json')], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config') },
    stdio: ['ignore', log, log],
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ca = await h.exec('curl', ['-sS', '--fail', 'http://127.0.0.1:2020/pki/ca/local']).catch(() => null);
    if (ca) return { proc, front: { host, port: 8443, ca: Buffer.from((JSON.parse(ca.stdout) as { root_certificate: string }).root_certificate) } };
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`baseline caddy did not start: ${readFileSync(join(dir, 'caddy.log'), 'utf8').slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
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
let baselineCaddy: ChildProcess | null = null;
/** Pollers to stop however the run ends (a running one would keep this process alive). */
const pollers: { stop(): Promise<unknown> }[] = [];
try {
  const probe = (port: number) => () => new Promise<boolean>((r) => { const s = connect(port, h.daemonIp, () => (s.destroy(), r(true))); s.on('error', () => r(false)); });
  // fcm's side: sshd with fcm's key command on :22.
  const keysCommand = join(keysDir, 'fcm-ssh-keys');
  copyFileSync(join(h.stateDir, 'git', 'bin', 'fcm-ssh-keys'), keysCommand);
  const sshd = await startSshd({ dir: join(keysDir, 'sshd'), listen: h.daemonIp, port: 22, keysCommand, wrap: ['ip', 'netns', 'exec', h.ns], probe: probe(22) });
  const client = await gitClient(join(base, 'client'), 'bench', sshd.knownHostsLine);
  const key = await registerKeyWith(h.api, client);
  if (key.status !== 201) throw new Error(`adding the bench key: ${JSON.stringify(key.body)}`);
  // The baseline's side: a plain sshd on :2222 (root's authorized_keys = the same client key).
  const paasSshd = await startSshd({ dir: join(keysDir, 'paas-sshd'), listen: h.daemonIp, port: 2222, authorizedKeys: `${client.publicKey}\n`, wrap: ['ip', 'netns', 'exec', h.ns], probe: probe(2222) });
  appendFileSync(client.knownHostsFile, `${paasSshd.knownHostsLine}\n`);

  const vm = (await h.api('POST', '/v1/vms', { name: 'benchapp', memoryMib: 512, swapMib: 256 })).body;
  const w = await h.api('GET', '/v1/vms/benchapp/wait?state=running&timeout=300');
  if (w.status !== 200) throw new Error(`benchapp never ran: ${JSON.stringify(w.body)}`);
  const fcmFront: Front = { host: new URL(vm.url).hostname, port: 443, ca: readFileSync(await h.caddy.rootCaFile()) };
  const qemuPid = Number(readFileSync(join(h.stateDir, 'run', vm.id, 'qemu.pid'), 'utf8').trim());
  const cpuMs = () => qemuCpuMs(qemuPid);

  // The host PaaS: bare repo + hook, wheels dir for offline pip, app on 127.0.0.1:5000 in the namespace.
  const paas = join(base, 'host-paas');
  mkdirSync(join(paas, 'wheels'), { recursive: true });
  await sh('git', ['init', '-q', '--bare', '-b', 'main', join(paas, 'app.git')], client.env);
  writeFileSync(join(paas, 'app.git', 'hooks', 'post-receive'), HOOK(paas, 5000), { mode: 0o755 });
  const { proc, front: paasFront } = await startBaselineCaddy(h, join(base, 'paas-caddy'), 'benchapp', 'app.host-paas.test', '127.0.0.1:5000');
  baselineCaddy = proc;
  const paasRemote = `ssh://root@${h.daemonIp}:2222${join(paas, 'app.git')}`;
  const plain = join(base, 'plain.git');
  await sh('git', ['init', '-q', '--bare', plain], client.env);

  const work = join(base, 'app');
  mkdirSync(work);
  const env = client.env;
  const git = (...a: string[]) => sh('git', ['-C', work, ...a], env);
  await git('init', '-q', '-b', 'main');
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
    return version;
  };
  const waitServed = async (front: Front, v: number, t0: number, what: string) => {
    while (versionOf(await get(h, front)) !== v) {
      if (performance.now() - t0 > 180_000) throw new Error(`${what}: version ${v} never served`);
      await new Promise((res) => setTimeout(res, 10));
    }
  };
  /** An fcm deploy of `l` to `remote`, with its phases (see the header). */
  const deploy = async (l: Lang, remote: string): Promise<Deploy> => {
    const v = await commit(l);
    const t0 = performance.now();
    const cpu0 = cpuMs();
    const r = await timedPush(['-C', work, 'push', remote, 'HEAD:main'], env, t0, cpuMs);
    const output = r.lines.map((l2) => l2.text).join('\n');
    if (r.code) throw new Error(`push failed:\n${output}`);
    await waitServed(fcmFront, v, t0, remote);
    const served: Line = { ms: performance.now() - t0, cpuMs: cpuMs() - cpu0, text: '' };
    if (TRACE) console.log([`trace: ${l} v${v} → ${remote.replace(/:\/\/[^@/]*@/, '://')}`, ...r.lines.map((x) => `${x.ms.toFixed(0).padStart(6)} ms  ${x.text}`), `${r.end.ms.toFixed(0).padStart(6)} ms  (push returned)`, `${served.ms.toFixed(0).padStart(6)} ms  (served)`].join('\n'));
    const marks = MARKS.map(([, re]) => {
      const hit = r.lines.find((l2) => re.test(l2.text));
      if (!hit) throw new Error(`no "${re.source}" line in the push output:\n${output}`);
      return hit;
    });
    const ends = [...marks, r.end, served];
    const diff = (k: 'ms' | 'cpuMs') => Object.fromEntries(PHASES.map((p, i) => [p, ends[i]![k] - (i ? ends[i - 1]![k] : 0)])) as Record<Phase, number>;
    const seen = firstSeen.get(v);
    return { servedMs: served.ms, firstSeenMs: seen === undefined ? null : Math.min(seen - t0, served.ms), phases: diff('ms'), cpu: diff('cpuMs'), output };
  };
  /** The same Python commit pushed to the host PaaS (served through its Caddy), or to the plain repo (push only). */
  const pushOnly = async (remote: string, front: Front | null): Promise<number> => {
    const v = await commit('python');
    const t0 = performance.now();
    const r = await git('push', '-q', remote, 'HEAD:main');
    if (r.code) throw new Error(`push to ${remote} failed: ${r.stderr}`);
    if (front) await waitServed(front, v, t0, remote);
    return performance.now() - t0;
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
  const gap = () => new Promise((r) => setTimeout(r, GAP_MS));

  const httpsRemote = vm.gitHttpUrl.replace('://', `://fcm:${h.token}@`);
  const runs: { label: string; lang: Lang; deploys: Deploy[]; failures: string[] }[] = [];
  const firsts: { lang: Lang; d: Deploy }[] = [];
  const envSets: Partial<Record<Lang, number[]>> = {};
  const failure = (e: unknown) => (/^ !\s+(.*)$/m.exec((e as Error).message)?.[1] ?? (e as Error).message).slice(0, 120);
  /** n redeploys; one that fails (the guest's 60 s start limit on a loaded host) is counted apart, not fatal. */
  const series = async (label: string, l: Lang, remote: string, n: number) => {
    const deploys: Deploy[] = [];
    const failures: string[] = [];
    for (let i = 0; i < n; i++) {
      await gap();
      try {
        deploys.push(await deploy(l, remote));
      } catch (e) {
        failures.push(failure(e));
      }
    }
    runs.push({ label, lang: l, deploys, failures });
  };
  /** A language's first deploy (not counted); one that fails (the 60 s start limit on a loaded host) is counted apart, not fatal. */
  const first = async (l: Lang) => {
    try {
      firsts.push({ lang: l, d: await deploy(l, vm.gitUrl) });
    } catch (e) {
      runs.push({ label: `first deploy of ${l}`, lang: l, deploys: [], failures: [failure(e)] });
    }
  };
  /** The VM's CPU use over 3 s with no deploy running, only the poller's requests to the live app. */
  const serving: [Lang, number, number][] = [];
  const servingLoad = async (l: Lang, counts: { polls: number }) => {
    const c0 = cpuMs();
    const p0 = counts.polls;
    await new Promise((r) => setTimeout(r, 3000));
    serving.push([l, (cpuMs() - c0) / 3000, (counts.polls - p0) / 3]);
  };

  // First deploys (fcm: the dependency cache and the placeholder; baseline: the venv), not counted.
  firsts.push({ lang: 'python', d: await deploy('python', vm.gitUrl) });
  await pushOnly(paasRemote, paasFront);
  const pollFcm = poller(h, fcmFront, firstSeen);
  const pollPaas = poller(h, paasFront);
  pollers.push(pollFcm, pollPaas);
  await servingLoad('python', pollFcm.counts);
  // Python over SSH and HTTPS, the host PaaS and the plain push, interleaved: the same load for all.
  const pySsh = { label: 'Python, over SSH', lang: 'python' as Lang, deploys: [] as Deploy[], failures: [] as string[] };
  const pyHttps = { label: 'Python, over HTTPS', lang: 'python' as Lang, deploys: [] as Deploy[], failures: [] as string[] };
  const hostPaas: number[] = [];
  const plainMs: number[] = [];
  for (let i = 0; i < N; i++) {
    for (const [r, remote] of [[pySsh, vm.gitUrl], [pyHttps, httpsRemote]] as const) {
      await gap();
      try {
        r.deploys.push(await deploy('python', remote));
      } catch (e) {
        r.failures.push(failure(e));
      }
    }
    await gap();
    hostPaas.push(await pushOnly(paasRemote, paasFront));
    await gap();
    plainMs.push(await pushOnly(plain, null));
  }
  runs.push(pySsh, pyHttps);
  const paasPolls = await pollPaas.stop();
  envSets.python = [...(await envSet('p1')), ...(await envSet('p2'))];
  if (!PYTHON_ONLY) {
    if (!NODE_ONLY) await series('Python without the pre-started interpreter, over SSH', 'python-fresh', vm.gitUrl, N);
    // The first Node.js deploy builds the VM's startup snapshot (once): not counted.
    await first(NODE_ONLY ? 'node' : 'node-bare');
    if (!NODE_ONLY) {
      await servingLoad('node-bare', pollFcm.counts);
      await series('Node.js without the snapshot or the process started ahead, over SSH', 'node-bare', vm.gitUrl, N);
      envSets['node-bare'] = [...(await envSet('b1')), ...(await envSet('b2'))];
    }
    // Like Python's, the Node.js series starts after one uncounted deploy of the same command:
    // the series before ran another one (no process started ahead fits a changed command), and
    // what is compared is a redeploy of the same app.
    if (!NODE_ONLY) await first('node');
    await series('Node.js, over SSH', 'node', vm.gitUrl, N);
    if (TRACE) await printAppLog(h, 'benchapp');
    envSets.node = [...(await envSet('n1')), ...(await envSet('n2'))];
    if (!NODE_ONLY) {
      await series('Node.js without the process started ahead, over SSH', 'node-fresh', vm.gitUrl, N);
      await first('ruby');
      await servingLoad('ruby', pollFcm.counts);
      await series('Ruby, over SSH', 'ruby', vm.gitUrl, N);
      envSets.ruby = [...(await envSet('r1')), ...(await envSet('r2'))];
    }
  }
  const fcmPolls = await pollFcm.stop();
  const loadAtEnd = loadavg();

  const servedOf = (label: string) => runs.find((r) => r.label === label)?.deploys.map((d) => d.servedMs) ?? [];
  const ssh = servedOf('Python, over SSH');
  const https = servedOf('Python, over HTTPS');
  const loadText = (l: number[]) => l.map((x) => x.toFixed(1)).join(' ');
  console.log(`git push until the new version is served over HTTPS through Caddy (median of ${N}, ${GAP_MS / 1000} s between pushes; QEMU TCG guest, 1 vCPU, 512 MiB)`);
  console.log(`  host load average (1/5/15 min) at start ${loadText(loadAtStart)}, at end ${loadText(loadAtEnd)}: ${loadAtStart[0]! > 2 ? 'a loaded machine (2 cores shared with other workers), figures vary with load' : 'a quiet machine'}`);
  row('baseline: host PaaS, no VM (SSH, hook restarts app)', fmtMs(median(hostPaas)), hostPaas.map(fmtMs).join(' '));
  row('plain git push to a bare repo, no hook', fmtMs(median(plainMs)), plainMs.map(fmtMs).join(' '));
  row('Python: fcm push → served, over SSH', fmtMs(median(ssh)), ssh.map(fmtMs).join(' '));
  row('Python: fcm push → served, over HTTPS', fmtMs(median(https)), https.map(fmtMs).join(' '));
  const seenOf = (label: string) => (runs.find((r) => r.label === label)?.deploys ?? []).flatMap((d) => (d.firstSeenMs === null ? [] : [d.firstSeenMs]));
  for (const [label, what] of [['Python, over SSH', 'SSH'], ['Python, over HTTPS', 'HTTPS']] as const) {
    const v = seenOf(label);
    row(`Python: push → new version first served (poller), ${what}`, v.length ? fmtMs(median(v)) : '-', `${v.map(fmtMs).join(' ')} (the switch is before the push returns)`);
  }
  row('fcm SSH / host PaaS (same run)', ratio(median(ssh), median(hostPaas)));
  row('fcm HTTPS / host PaaS (same run)', ratio(median(https), median(hostPaas)));
  const fresh = servedOf('Python without the pre-started interpreter, over SSH');
  if (fresh.length) row('fcm SSH vs the same without the pre-started interpreter', ratio(median(ssh), median(fresh)));
  for (const r of runs.filter((x) => x.lang !== 'python')) {
    const v = r.deploys.map((d) => d.servedMs);
    row(`${r.label.replace(',', ': push → served,')}`, v.length ? fmtMs(median(v)) : '-', v.map(fmtMs).join(' '));
  }
  for (const r of runs.filter((x) => x.failures.length)) {
    row(`${r.label}: failed deploys`, `${r.failures.length} of ${r.failures.length + r.deploys.length}`, [...new Set(r.failures)].join('; '));
  }
  const polls = (c: typeof fcmPolls) => `refused ${c.refused}, 5xx ${c.status5xx}, other ${c.other}${c.examples.length ? ` (e.g. ${c.examples.join('; ')})` : ''}`;
  const restarts = Object.values(envSets).flat().length;
  row(`fcm, ${runs.reduce((n, r) => n + r.deploys.length, 0) + firsts.length - 1} redeploys + ${restarts} restarts: polls`, String(fcmPolls.polls), polls(fcmPolls));
  const older = [...fcmPolls.olderAfter.values()];
  if (older.length) {
    const worst = [...fcmPolls.olderAfter.entries()].sort((a, b) => b[1].n - a[1].n)[0]!;
    row('  older-version answers, by the switch they followed', `${older.length} switches`, `per switch median ${median(older.map((o) => o.n))}, most ${worst[1].n} (after v${worst[0]}); the last one at most ${fmtMs(Math.max(...older.map((o) => o.lastMs)))} after the newer version was first served`);
  }
  row(`host PaaS, ${N} redeploys: polls every 10 ms`, String(paasPolls.polls), polls(paasPolls));
  console.log('  (quoted, not measured here: issue #5 (before 2026-11-29) reports a well-known host-based PaaS on this machine kind at');
  console.log('   2.7 s push → served with ~1 s of refused connections per redeploy; not a baseline of this run)');

  console.log(`phases of an fcm redeploy, median ms, from when each remote line reached the pusher (${PHASES.join(' | ')})`);
  for (const r of runs) {
    const m = PHASES.map((p) => median(r.deploys.map((d) => d.phases[p])));
    row(`${r.label}`, r.deploys.length ? fmtMs(median(r.deploys.map((d) => d.servedMs))) : '-', m.map((x) => x.toFixed(0)).join(' | '));
  }
  // The breakdown per language: the guest's part of a redeploy (the phases between "Deploying to" and "Port … now goes to").
  const GUEST: Phase[] = ['receive', 'build', 'start', 'switch'];
  console.log(`per-language breakdown of a redeploy, median ms (VM CPU ms): ${GUEST.join(' | ')}`);
  for (const [what, langs] of [
    ['Python (SSH and HTTPS)', ['python']],
    ['Python, fresh interpreter', ['python-fresh']],
    ['Node.js', ['node']],
    ['Node.js, no process started ahead', ['node-fresh']],
    ['Node.js, /usr/bin/node', ['node-bare']],
    ['Ruby', ['ruby']],
  ] as const) {
    const ds = runs.filter((r) => (langs as readonly Lang[]).includes(r.lang)).flatMap((r) => r.deploys);
    if (!ds.length) continue;
    const cell = (p: Phase) => `${median(ds.map((d) => d.phases[p])).toFixed(0)} (${median(ds.map((d) => d.cpu[p])).toFixed(0)})`;
    row(`${what}, ${ds.length} redeploys`, fmtMs(median(ds.map((d) => GUEST.reduce((a, p) => a + d.phases[p], 0)))), GUEST.map(cell).join(' | '));
  }
  console.log(`the VM's CPU time in each phase (its QEMU process, user + system), median ms: what the guest did, whatever the host's load`);
  for (const r of runs) {
    const m = PHASES.map((p) => median(r.deploys.map((d) => d.cpu[p])));
    row(`${r.label}`, r.deploys.length ? fmtMs(m.reduce((a, b) => a + b, 0)) : '-', m.map((x) => x.toFixed(0)).join(' | '));
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
  if (!Number.isNaN(pyFresh)) row('Python without the pre-started interpreter (python3 -u app.py)', fmtMs(pyFresh), `${ratio(pyFresh, py)} Python's; ${cpuNote('python-fresh')}`);
  for (const [l, what] of [
    ['node', 'Node.js (node server.js, node:http)'],
    ['node-fresh', 'Node.js without the process started ahead (node --no-deprecation server.js)'],
    ['node-bare', 'Node.js without the snapshot or the process started ahead (/usr/bin/node --no-deprecation server.js)'],
    ['ruby', 'Ruby (ruby app.rb, TCPServer)'],
  ] as const) {
    if (Number.isNaN(startOf(l))) continue; // not run (--python-only) or every deploy failed (listed above)
    row(what, fmtMs(startOf(l)), `${ratio(startOf(l), py)} Python's${Number.isNaN(pyFresh) ? '' : ` (${ratio(startOf(l), pyFresh)} fresh Python's)`}; ${cpuNote(l)}, ${ratio(startOf(l, 'cpu'), pyCpu)} Python's`);
  }
  if (!PYTHON_ONLY) {
    row('Node start vs Python start (goal: within 2x)', ratio(startOf('node'), py));
    if (!NODE_ONLY) row('Node start vs the same without the process started ahead', ratio(startOf('node'), startOf('node-fresh')));
  }
  for (const [l, cpu, rate] of serving) {
    row(`VM CPU serving the poller (no deploy), ${l} app live`, `${(cpu * 100).toFixed(0)}%`, `${rate.toFixed(0)} requests/s`);
  }
  for (const l of ['python', 'node', 'node-bare', 'ruby'] as Lang[]) {
    const v = envSets[l] ?? [];
    if (PYTHON_ONLY && l !== 'python') continue;
    row(`fcm env set (restart), ${l}`, v.length ? fmtMs(median(v)) : '-', v.map(fmtMs).join(' '));
  }
  for (const f of envFailures) row('fcm env set that failed', '', f);
  await sshd.close();
  await paasSshd.close();
} finally {
  for (const p of pollers) await p.stop();
  if (baselineCaddy && baselineCaddy.exitCode === null) baselineCaddy.kill('SIGKILL');
  await h.close(); // kills whatever still runs in the namespace (the baseline app among it)
  rmSync(base, { recursive: true, force: true });
  rmSync(keysDir, { recursive: true, force: true });
}

/** --trace: the app's recent log through the API (the guest's times of each start, take, ready and stop), poller lines left out. */
async function printAppLog(h: HostHarness, app: string): Promise<void> {
  const res = await fetch(`${h.url}/v1/vms/${app}/logs?lines=400`, { headers: { authorization: `Bearer ${h.token}` } });
  const text = await res.text();
  if (!res.ok) {
    console.log(`trace: app log: HTTP ${res.status} ${text.slice(0, 200)}`);
    return;
  }
  console.log(['trace: app log (last 400 lines, request lines left out)', ...text.split('\n').filter((l) => l && !/ GET \//.test(l))].join('\n'));
}
