/**
 * Deploy: `git push` of a small stdlib Python app until the new version is
 * served through Caddy, median of N redeploys over SSH (the real sshd with
 * fcm's key command) and over HTTPS (smart HTTP on the daemon); baseline:
 * pushing the same commits to a plain bare repository in the same run. While
 * deploying, a client polls the app every 10 ms and counts refused
 * connections and 5xx (zero-downtime check).
 */
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { hostSkipReason, startHostHarness } from '../helpers/host-harness.js';
import { registerKeyWith } from '../helpers/key-proof.js';
import { gitClient, startSshd } from '../helpers/sshd.js';
import { fmtMs, median, ratio, row } from './stats.js';

const N = Number(process.argv[process.argv.indexOf('--n') + 1] || 5) || 5;
const skip = hostSkipReason();
if (skip) {
  console.error(`cannot measure: ${skip}`);
  process.exit(1);
}

const APP = (v: string) => `import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class App(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"version ${v}\\n"
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), App).serve_forever()
`;

function sh(cmd: string, args: string[], env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, maxBuffer: 16 << 20 }, (err, _o, stderr) => resolve({ code: err ? 1 : 0, stderr: String(stderr) }));
  });
}

const h = await startHostHarness({ caddy: true });
const base = mkdtempSync('/tmp/fcm-bench-deploy-');
const keysDir = mkdtempSync('/run/fcm-keys-');
chmodSync(keysDir, 0o755); // sshd runs the copy as the git user
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

  const get = () =>
    new Promise<number>((resolve) => {
      const u = new URL(vm.url);
      const req = request({ host: h.daemonIp, port: 443, path: '/', servername: u.hostname, headers: { host: u.hostname }, ca, agent: false, timeout: 5000 }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(res.statusCode === 200 && body.startsWith('version ') ? Number(body.split(' ')[1]) : -(res.statusCode ?? 1)));
      });
      req.on('error', () => resolve(-1));
      req.on('timeout', () => req.destroy());
      req.end();
    });

  const work = join(base, 'app');
  mkdirSync(work);
  const env = client.env;
  const git = (...a: string[]) => sh('git', ['-C', work, ...a], env);
  await git('init', '-q', '-b', 'main');
  writeFileSync(join(work, 'requirements.txt'), '# stdlib only\n');
  writeFileSync(join(work, 'Procfile'), 'web: python3 app.py\n');
  const plain = join(base, 'plain.git');
  await sh('git', ['init', '-q', '--bare', plain], env);

  let version = 0;
  const refused = { n: 0, bad: 0, polls: 0 };
  let polling = false;
  const poll = async () => {
    while (polling) {
      const v = await get();
      refused.polls++;
      if (v === -1) refused.n++;
      else if (v <= -500) refused.bad++;
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const deploy = async (remote: string): Promise<{ pushMs: number; servedMs: number }> => {
    version++;
    writeFileSync(join(work, 'app.py'), APP(String(version)));
    await git('add', '-A');
    await git('commit', '-q', '-m', `v${version}`);
    const t0 = performance.now();
    const r = await git('push', '-q', remote, 'HEAD:main');
    if (r.code) throw new Error(`push failed: ${r.stderr}`);
    const pushMs = performance.now() - t0;
    while ((await get()) !== version) {
      if (performance.now() - t0 > 120_000) throw new Error('new version never served');
      await new Promise((res) => setTimeout(res, 20));
    }
    // The plain-repo baseline: the same commit, pushed to a bare repository (git's own cost).
    return { pushMs, servedMs: performance.now() - t0 };
  };

  // First deploy (builds the dependency cache), not counted.
  await deploy(vm.gitUrl);
  polling = true;
  const poller = poll();
  const ssh: number[] = [];
  const https: number[] = [];
  const plainMs: number[] = [];
  const httpsRemote = vm.gitHttpUrl.replace('://', `://fcm:${h.token}@`);
  for (let i = 0; i < N; i++) ssh.push((await deploy(vm.gitUrl)).servedMs);
  for (let i = 0; i < N; i++) https.push((await deploy(httpsRemote)).servedMs);
  polling = false;
  await poller;
  for (let i = 0; i < N; i++) {
    version++;
    writeFileSync(join(work, 'app.py'), APP(String(version)));
    await git('add', '-A');
    await git('commit', '-q', '-m', `plain v${version}`);
    const t0 = performance.now();
    await git('push', '-q', plain, 'HEAD:main');
    plainMs.push(performance.now() - t0);
  }

  console.log(`git push of a stdlib Python app until the new version is served through Caddy (median of ${N}; QEMU TCG guest)`);
  row('plain git push to a bare repo (baseline)', fmtMs(median(plainMs)));
  row('push → served, over SSH', fmtMs(median(ssh)), ssh.map(fmtMs).join(' '));
  row('push → served, over HTTPS', fmtMs(median(https)), https.map(fmtMs).join(' '));
  row('SSH deploy vs plain push', ratio(median(ssh), median(plainMs)));
  row('reference: a host-based PaaS on this machine kind', '2.70 s', '(issue 5; ~1 s of refused connections per redeploy)');
  row('SSH deploy vs the reference', ratio(median(ssh), 2700));
  row(`during ${2 * N} redeploys: polls every 10 ms`, String(refused.polls), `refused ${refused.n}, 5xx ${refused.bad}`);
  await sshd.close();
} finally {
  await h.close();
  rmSync(base, { recursive: true, force: true });
  rmSync(keysDir, { recursive: true, force: true });
}
