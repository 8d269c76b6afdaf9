/**
 * Issue 5's "done means", for real: a real daemon with real QEMU guests from
 * the base image and their guest agents, a real Caddy and a real OpenSSH
 * sshd, all inside the harness's network namespace; the real git client
 * pushes from the test process's side through the namespace link
 * (root@<daemon ip>:<app>.git on port 22, and smart HTTP on the daemon).
 * VMs are reused across cases (TCG boots are slow).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync, cpSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hashToken, newToken } from '../../daemon/core/tokens.js';
import { lookupUser } from '../../daemon/drivers/git/git-user.js';
import { sshdUnsafeReason } from '../../daemon/drivers/git/helpers.js';
import { openDb } from '../../daemon/drivers/sqlite/db.js';
import { SqliteTokenStore } from '../../daemon/drivers/sqlite/sqlite-token-store.js';
import { SqliteUserStore } from '../../daemon/drivers/sqlite/sqlite-user-store.js';
import { hostSkipReason, ROOT_DIR, startHostHarness, type HostHarness } from '../helpers/host-harness.js';
import { httpText, type TextResponse } from '../helpers/http-text.js';
import { eventually as waitFor } from '../helpers/wait.js';
import { assertRanAsGitUser, watchGitProcesses } from '../helpers/git-procs.js';
import { registerKeyWith } from '../helpers/key-proof.js';
import { gitClient, startSshd, type GitClient, type TestSshd } from '../helpers/sshd.js';

const skip = hostSkipReason();
const SMALL = { memoryMib: 512, swapMib: 256 };

interface Res {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

function sh(cmd: string, args: string[], env: Record<string, string>, timeoutMs = 600_000): Promise<Res> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr), ms: Date.now() - t0 });
    });
  });
}

/** The Python test app: `/` says its version and GREETING; other paths serve the app's files. */
const PY_APP = (version: string) => `import os
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

VERSION = "${version}"


class App(SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/":
            body = f"python {VERSION} GREETING={os.environ.get('GREETING', '')}\\n".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            super().do_GET()

    def log_message(self, fmt, *args):
        print("request", self.command, self.path, flush=True)


ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), App).serve_forever()
`;

describe('git push deploys to real VMs (sshd, git, Caddy, guest agent in a namespace)', { skip: skip ?? false, timeout: 30 * 60_000 }, () => {
  let h: HostHarness;
  let sshd: TestSshd;
  let ca: string;
  let base: string;
  let keysDir: string | undefined;
  let admin: GitClient;
  let bob: GitClient;
  let bobToken: string;
  let work: string;
  const vms: Record<string, { url: string; gitUrl: string; gitHttpUrl: string; ip: string }> = {};
  const servedMs: number[] = [];
  const timings: string[] = [];

  const api = (method: string, path: string, body?: unknown, token?: string | null) => h.api(method, path, body, token);
  const git = (c: GitClient, ...args: string[]) => sh('git', ['-C', work, ...args], c.env);
  const commit = async (msg: string) => {
    await git(admin, 'add', '-A');
    const r = await git(admin, 'commit', '-q', '-m', msg);
    assert.equal(r.code, 0, r.stderr);
    return (await git(admin, 'rev-parse', 'HEAD')).stdout.trim();
  };
  const remoteLines = (r: Res) => r.stderr.split('\n').filter((l) => l.startsWith('remote: ')).map((l) => l.slice(8).trimEnd());

  /** GET through Caddy (HTTPS, the VM's own host name) from the test process. */
  const get = (url: string, timeoutMs = 10_000) => {
    const u = new URL(url);
    return httpText({ https: true, host: h.daemonIp, port: 443, path: u.pathname, servername: u.hostname, headers: { host: u.hostname }, ca: readFileSync(ca), timeout: timeoutMs });
  };
  const eventually = (what: string, url: string, ok: (r: TextResponse) => boolean, withinMs = 120_000) => waitFor(what, () => get(url), ok, withinMs, 100);

  /** git push, then poll until the new content is served: the push-to-served time. */
  const pushAndServe = async (c: GitClient, remote: string, app: string, marker: string, ...extra: string[]) => {
    const t0 = Date.now();
    const r = await git(c, 'push', ...extra, remote, 'HEAD:main');
    assert.equal(r.code, 0, r.stderr);
    await eventually(`${app} serves ${marker}`, `${vms[app]!.url}/`, (x) => x.status === 200 && x.body.includes(marker), 60_000);
    const ms = Date.now() - t0;
    servedMs.push(ms);
    // Where the time went: the guest's own account of the release, the daemon's, and git's.
    const live = remoteLines(r).find((l) => / is live in /.test(l)) ?? '(no timing line from the guest)';
    const daemonMs = [...readFileSync(h.logPath, 'utf8').matchAll(/"ms":(\d+),[^\n]*"msg":"deploy succeeded"/g)].at(-1)?.[1];
    timings.push(`${app}: push→served ${ms} ms = git push ${r.ms} ms (daemon deploy ${daemonMs} ms; guest: ${live.replace(/^-----> /, '')})`);
    return { r, ms };
  };

  before(async () => {
    h = await startHostHarness({ caddy: true, env: { FCM_ALLOWED_EMAILS: 'bob@example.com' } });
    ca = await h.caddy.rootCaFile();
    base = mkdtempSync('/tmp/fcm-deploy-host-');
    // sshd runs AuthorizedKeysCommand only from a root-owned path no one else can write; the harness's
    // state dir is under /tmp (world-writable), so the test runs a copy from /run (the socket path is inside).
    keysDir = mkdtempSync('/run/fcm-keys-');
    chmodSync(keysDir, 0o755); // sshd runs the copy as the git user
    const keysCommand = join(keysDir, 'fcm-ssh-keys');
    copyFileSync(join(h.stateDir, 'git', 'bin', 'fcm-ssh-keys'), keysCommand);
    assert.equal(sshdUnsafeReason(keysCommand), null);
    sshd = await startSshd({
      dir: join(keysDir, 'sshd'),
      listen: h.daemonIp,
      port: 22,
      keysCommand,
      wrap: ['ip', 'netns', 'exec', h.ns],
      probe: () =>
        new Promise((r) => {
          const s = connect(22, h.daemonIp, () => (s.destroy(), r(true)));
          s.on('error', () => r(false));
        }),
    });
    admin = await gitClient(join(base, 'clients'), 'admin', sshd.knownHostsLine);
    bob = await gitClient(join(base, 'clients'), 'bob', sshd.knownHostsLine);
    assert.equal((await registerKeyWith(api, admin)).status, 201);
    // A second user: a row and a token in the daemon's database (no identity provider in tests).
    const db = openDb(join(h.stateDir, 'fcm.db'));
    const user = new SqliteUserStore(db).upsert({ issuer: 'https://issuer.test', subject: 'bob', email: 'bob@example.com', name: 'Bob' }, new Date().toISOString());
    bobToken = newToken();
    new SqliteTokenStore(db).insert({ id: 'tok_b0b000000000', hash: hashToken(bobToken), userId: user.id, kind: 'user', description: 'test', createdAt: new Date().toISOString(), expiresAt: null });
    db.close();
    assert.equal((await registerKeyWith(api, bob, bobToken)).status, 201);

    for (const name of ['py', 'nodeapp', 'rubyapp']) {
      const c = await api('POST', '/v1/vms', { name, ...SMALL });
      assert.equal(c.status, 201, JSON.stringify(c.body));
    }
    for (const name of ['py', 'nodeapp', 'rubyapp']) {
      const w = await api('GET', `/v1/vms/${name}/wait?state=running&timeout=300`);
      assert.equal(w.status, 200, JSON.stringify(w.body));
      vms[name] = w.body;
    }
    work = join(base, 'py');
    mkdirSync(work);
    writeFileSync(join(work, 'app.py'), PY_APP('v1'));
    writeFileSync(join(work, 'requirements.txt'), '# standard library only\n');
    writeFileSync(join(work, 'Procfile'), 'web: python3 app.py\n');
    writeFileSync(join(work, 'hello.txt'), 'hello file\n');
    await git(admin, 'init', '-q', '-b', 'main');
    await commit('v1');
  });

  after(async () => {
    if (servedMs.length) {
      const sorted = [...servedMs].sort((a, b) => a - b);
      console.log(`# push→served over ${sorted.length} deploys: median ${sorted[Math.floor(sorted.length / 2)]} ms, min ${sorted[0]} ms, max ${sorted.at(-1)} ms`);
      for (const l of timings) console.log(`#   ${l}`);
    }
    await sshd?.close();
    await h?.close();
    if (base) rmSync(base, { recursive: true, force: true });
    if (keysDir) rmSync(keysDir, { recursive: true, force: true });
  });

  test('push a Python app over SSH: the output, then the URL serves it', async (t) => {
    assert.equal(vms.py!.gitUrl, `root@${h.daemonIp}:py.git`);
    const { r, ms } = await pushAndServe(admin, vms.py!.gitUrl, 'py', 'python v1');
    const lines = remoteLines(r);
    t.diagnostic(`first push: git push ${r.ms} ms, push→served ${ms} ms\n${lines.join('\n')}`);
    assert.equal(lines[0], '-----> Deploying to py...');
    assert.ok(lines.includes('-----> Detected Python (requirements.txt)'), lines.join('\n'));
    assert.ok(lines.some((l) => /^-----> Starting: python3 app\.py/.test(l)), lines.join('\n'));
    assert.deepEqual(lines.slice(-2), ['-----> Deploy successful!', `       ${vms.py!.url}`]);
    assert.equal((await get(`${vms.py!.url}/hello.txt`)).body, 'hello file\n');
    const rel = await api('GET', '/v1/vms/py/releases/1');
    assert.deepEqual([rel.body.status, rel.body.buildpack], ['succeeded', 'python']);
  });

  test('push a change → new content; delete a file → gone', async (t) => {
    writeFileSync(join(work, 'app.py'), PY_APP('v2'));
    await commit('v2');
    const { ms } = await pushAndServe(admin, vms.py!.gitUrl, 'py', 'python v2');
    t.diagnostic(`redeploy push→served ${ms} ms`);
    unlinkSync(join(work, 'hello.txt'));
    writeFileSync(join(work, 'app.py'), PY_APP('v3'));
    await commit('v3 without hello.txt');
    await pushAndServe(admin, vms.py!.gitUrl, 'py', 'python v3');
    assert.equal((await get(`${vms.py!.url}/hello.txt`)).status, 404);
  });

  test('an install that fails and a web process that exits: push fails with the reason, the previous release keeps serving', async () => {
    writeFileSync(join(work, 'requirements.txt'), 'fcm-no-such-package-anywhere==0.0.1\n');
    await commit('bad requirements');
    const bad = await git(admin, 'push', vms.py!.gitUrl, 'HEAD:main');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /remote:  ! {5}/);
    assert.match(bad.stderr, /pre-receive hook declined/);
    assert.match((await get(`${vms.py!.url}/`)).body, /python v3/);
    writeFileSync(join(work, 'requirements.txt'), '# standard library only\n');
    writeFileSync(join(work, 'Procfile'), 'web: python3 -c "import sys; print(\'bye\'); sys.exit(3)"\n');
    await commit('web exits');
    const exits = await git(admin, 'push', vms.py!.gitUrl, 'HEAD:main');
    assert.notEqual(exits.code, 0);
    assert.match(exits.stderr, /remote:  ! {5}Push rejected/);
    assert.match((await get(`${vms.py!.url}/`)).body, /python v3/);
    writeFileSync(join(work, 'Procfile'), 'web: python3 app.py\n');
    await commit('fixed');
    const statuses = (await api('GET', '/v1/vms/py/releases')).body.releases.map((r: { status: string }) => r.status);
    assert.deepEqual(statuses.slice(0, 3), ['failed', 'failed', 'succeeded']);
  });

  test('Node and Ruby apps are detected and run', async () => {
    for (const [app, dir, marker, title] of [
      ['nodeapp', 'node', 'Hello from Node.js!', 'Node.js'],
      ['rubyapp', 'ruby', 'Hello from Ruby!', 'Ruby'],
    ] as const) {
      const d = join(base, dir);
      cpSync(join(ROOT_DIR, 'examples', dir), d, { recursive: true });
      await sh('git', ['-C', d, 'init', '-q', '-b', 'main'], admin.env);
      await sh('git', ['-C', d, 'add', '-A'], admin.env);
      await sh('git', ['-C', d, 'commit', '-q', '-m', 'app'], admin.env);
      const r = await sh('git', ['-C', d, 'push', vms[app]!.gitUrl, 'main'], admin.env);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`remote: -----> Detected ${title.replace('.', '\\.')}`));
      await eventually(app, `${vms[app]!.url}/`, (x) => x.status === 200 && x.body.includes(marker), 60_000);
    }
  });

  test('HTTPS push with a token works; without one it is refused', async () => {
    writeFileSync(join(work, 'app.py'), PY_APP('v4'));
    await commit('v4 over https');
    const withToken = vms.py!.gitHttpUrl.replace('://', `://git:${h.token}@`);
    await pushAndServe(admin, withToken, 'py', 'python v4');
    const none = await git(admin, 'push', vms.py!.gitHttpUrl, 'HEAD:main');
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /could not read Username|Authentication failed/);
  });

  test("another user's key cannot push; a nonexistent app fails cleanly; the key opens no shell", async () => {
    writeFileSync(join(work, 'bob.txt'), 'bob was here\n');
    await commit('bob tries');
    const bobs = await git(bob, 'push', vms.py!.gitUrl, 'HEAD:main');
    assert.notEqual(bobs.code, 0);
    assert.match(bobs.stderr, /fcm: No app named "py" \(or it is not yours\)/);
    const ghost = await git(admin, 'push', `root@${h.daemonIp}:ghost.git`, 'HEAD:main');
    assert.notEqual(ghost.code, 0);
    assert.match(ghost.stderr, /No app named "ghost"/);
    const shell = await sh(admin.ssh[0]!, [...admin.ssh.slice(1), `root@${h.daemonIp}`], admin.env, 30_000);
    assert.notEqual(shell.code, 0);
    assert.match(shell.stderr, /there is no shell here/);
    const cmd = await sh(admin.ssh[0]!, [...admin.ssh.slice(1), `root@${h.daemonIp}`, 'id'], admin.env, 30_000);
    assert.doesNotMatch(cmd.stdout, /uid=/);
    unlinkSync(join(work, 'bob.txt'));
    await commit('no bob');
  });

  test('rollback serves the previous release again; rolling back to the newer one returns', async () => {
    const current = (await api('GET', '/v1/vms/py/releases')).body.releases.find((r: { status: string }) => r.status === 'succeeded').version;
    const rb = await api('POST', '/v1/vms/py/rollback', {});
    assert.equal(rb.status, 200, JSON.stringify(rb.body));
    assert.equal(rb.body.kind, 'rollback');
    await eventually('rolled back', `${vms.py!.url}/`, (x) => x.body.includes('python v3'), 60_000);
    const fwd = await api('POST', '/v1/vms/py/rollback', { version: current });
    assert.equal(fwd.status, 200, JSON.stringify(fwd.body));
    await eventually('forward again', `${vms.py!.url}/`, (x) => x.body.includes('python v4'), 60_000);
  });

  test('env set: the app sees it after the automatic restart; unset removes it; values stay out of the daemon log', async () => {
    const SECRET = 'sekrit-value-42';
    const set = await api('PATCH', '/v1/vms/py/env', { set: { GREETING: SECRET } });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    await eventually('env visible', `${vms.py!.url}/`, (x) => x.body.includes(`GREETING=${SECRET}`), 60_000);
    const unset = await api('PATCH', '/v1/vms/py/env', { unset: ['GREETING'] });
    assert.equal(unset.status, 200);
    await eventually('env gone', `${vms.py!.url}/`, (x) => /GREETING=\n/.test(x.body), 60_000);
    assert.ok(!readFileSync(h.logPath, 'utf8').includes(SECRET), 'the value is not in the daemon log');
  });

  test('logs: recent lines, and -f streams new ones as they happen', async () => {
    await get(`${vms.py!.url}/logs-marker-1`);
    // The app prints the request line as it answers; the guest's supervisor writes it to the log a moment later.
    await waitFor(
      'recent logs show the request',
      async () => {
        const recent = await fetch(`${h.url}/v1/vms/py/logs?lines=50`, { headers: { authorization: `Bearer ${h.token}` } });
        return { status: recent.status, text: await recent.text() };
      },
      (r) => r.status === 200 && /logs-marker-1/.test(r.text),
      30_000,
    );
    const ac = new AbortController();
    const res = await fetch(`${h.url}/v1/vms/py/logs?lines=0&follow=true`, { headers: { authorization: `Bearer ${h.token}` }, signal: ac.signal });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    let seen = '';
    let done = false;
    // The follow may start a moment after its headers arrive: request the marker again until it streams in.
    const requests = (async () => {
      for (let i = 0; !done && i < 30; i++) {
        await get(`${vms.py!.url}/logs-marker-2`).catch(() => {});
        await new Promise((r) => setTimeout(r, 2000));
      }
    })();
    try {
      while (!seen.includes('logs-marker-2')) {
        const chunk = await reader.read();
        if (chunk.done) break;
        seen += new TextDecoder().decode(chunk.value);
      }
    } finally {
      done = true;
      ac.abort();
      await requests;
    }
    assert.match(seen, /logs-marker-2/);
  });

  test('stop and start the VM: the app comes back without a push, with config set while it was stopped', async () => {
    const before = (await get(`${vms.py!.url}/`)).body;
    assert.match(before, /^python v4 GREETING=\n$/);
    assert.equal((await api('POST', '/v1/vms/py/stop', { timeoutMs: 30_000 })).body.state, 'stopped');
    const pending = await api('PATCH', '/v1/vms/py/env', { set: { GREETING: 'set-while-stopped' } });
    assert.equal(pending.status, 200, JSON.stringify(pending.body));
    assert.equal((await api('GET', `/v1/vms/py/releases/${pending.body.release}`)).body.status, 'pending');
    assert.equal((await api('POST', '/v1/vms/py/start')).status, 200);
    assert.equal((await api('GET', '/v1/vms/py/wait?state=running&timeout=300')).status, 200);
    await eventually('app back after start', `${vms.py!.url}/`, (x) => x.status === 200 && x.body === 'python v4 GREETING=set-while-stopped\n', 120_000);
    // The app serves the new config as soon as traffic switches; the release is marked a moment
    // later, when the guest's final result line arrives.
    const rel = await waitFor('release marked', () => api('GET', `/v1/vms/py/releases/${pending.body.release}`), (r) => r.body.status !== 'building', 60_000, 100);
    assert.equal(rel.body.status, 'succeeded');
  });

  test('zero downtime: polling every 10 ms through a redeploy, every answer is the old or the new version, never back', async (t) => {
    const OLD = 'python v4 GREETING=set-while-stopped\n';
    const NEW = 'python v5 GREETING=set-while-stopped\n';
    assert.equal((await get(`${vms.py!.url}/`)).body, OLD, 'the old version serves before the push');
    writeFileSync(join(work, 'app.py'), PY_APP('v5'));
    await commit('v5');
    let polls = 0;
    const failures: string[] = [];
    const counts = { old: 0, new: 0 };
    let stop = false;
    const poller = (async () => {
      while (!stop) {
        polls++;
        try {
          // Anything but the old or the new app's own answer is a failure a user would see: a refused
          // connection, a 5xx, a 404 or placeholder page in between, or the old version after the new one.
          const r = await get(`${vms.py!.url}/`, 5000);
          if (r.status !== 200) failures.push(`HTTP ${r.status}: ${r.body.slice(0, 80)}`);
          else if (r.body === NEW) counts.new++;
          else if (r.body !== OLD) failures.push(`unexpected page: ${r.body.slice(0, 80)}`);
          else if (counts.new) failures.push('the old version again after the new one');
          else counts.old++;
        } catch (e) {
          failures.push((e as Error).message);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    let ms: number;
    try {
      ({ ms } = await pushAndServe(admin, vms.py!.gitUrl, 'py', 'python v5'));
      // Keep polling a while after the switch: until the poller itself got the new version 50 times
      // (a fixed pause failed when one of its requests was slow: the push is served before the poller's next answer).
      await waitFor('the poller got the new version 50 times', async () => ({ ...counts }), (c) => c.new >= 50, 60_000, 20);
    } finally {
      // Also when the push fails: a poller left running would keep this file's process alive.
      stop = true;
      await poller;
    }
    t.diagnostic(`${polls} polls during a redeploy (push→served ${ms} ms): ${failures.length} failures; old ${counts.old}, new ${counts.new}`);
    assert.deepEqual(failures, []);
    assert.ok(counts.old > 0 && counts.new > 0, `the poller saw both versions: ${JSON.stringify(counts)}`);
  });

  test('git and its helpers run as the git user for a real deploy, over SSH and HTTPS (#13)', async (t) => {
    const u = await lookupUser('fcm-git');
    assert.ok(u && u.uid !== 0);
    const watch = await watchGitProcesses(join(h.stateDir, 'git', 'fcm.sock'), join(h.stateDir, 'git'));
    try {
      writeFileSync(join(work, 'app.py'), PY_APP('v6'));
      await commit('v6 over ssh, unprivileged');
      await pushAndServe(admin, vms.py!.gitUrl, 'py', 'python v6');
      writeFileSync(join(work, 'app.py'), PY_APP('v7'));
      await commit('v7 over https, unprivileged');
      await pushAndServe(admin, vms.py!.gitHttpUrl.replace('://', `://git:${h.token}@`), 'py', 'python v7');
    } finally {
      await watch.close();
    }
    t.diagnostic(assertRanAsGitUser([...watch.seen.values()], u, ['key lookup', 'forced command', 'pre-receive hook', 'git receive-pack', 'git http-backend']));
  });
});
