/**
 * Forks (#16), for real: a QEMU guest serving an app deployed by git push is
 * forked with the built `fcm` CLI while it runs. The fork serves the parent's
 * app at its own URL through Caddy, differs in identity (IP, MAC, hostname,
 * /etc/machine-id, kernel random output), has its own config vars and git
 * repository (a push onto the fork deploys there only), shares no file
 * written after the fork with its parent (either way), and keeps running —
 * and restarts from its own disk — after the parent is deleted. Bad input,
 * another user's VM and a parent that is not running get problem+json with
 * a stable code and leave nothing behind. The parent's pause is printed
 * (diagnostic), not asserted as a time.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hashToken, newToken } from '../../daemon/core/tokens.js';
import { openDb } from '../../daemon/drivers/sqlite/db.js';
import { SqliteTokenStore } from '../../daemon/drivers/sqlite/sqlite-token-store.js';
import { SqliteUserStore } from '../../daemon/drivers/sqlite/sqlite-user-store.js';
import { ConsoleWs, runInConsole } from '../helpers/console-ws.js';
import { hostLeftovers, hostSkipReason, ROOT_DIR, startHostHarness, type HostHarness } from '../helpers/host-harness.js';
import { eventually } from '../helpers/wait.js';

const skip = hostSkipReason();

interface Res {
  code: number;
  stdout: string;
  stderr: string;
}

function sh(cmd: string, args: string[], env: Record<string, string | undefined>, cwd?: string): Promise<Res> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, cwd, timeout: 900_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** The app answers with its version, a config var, the host name it runs on and 8 fresh bytes of the kernel's randomness. */
const app = (version: string) => `import http.server, os, socket
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("fork-app ${version} greeting=" + os.environ.get("GREETING", "-") + " host=" + socket.gethostname() + " rnd=" + os.urandom(8).hex()).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), H).serve_forever()
`;

describe('fork of a running VM with a deployed app', { skip: skip ?? false, timeout: 40 * 60_000 }, () => {
  let h: HostHarness;
  let ca: string;
  let work: string;
  let repo: string;
  let bobToken: string;
  let parent: { id: string; url: string; ip: string; mac: string };
  const genv = () => ({ ...process.env, HOME: work, GIT_TERMINAL_PROMPT: '0', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com' });
  const cli = (args: string[]) => sh(process.execPath, [join(ROOT_DIR, 'dist/api/cli/main.js'), ...args], { ...process.env, ...h.env, HOME: work }, work);
  const inConsole = async (vm: string, cmd: string) => {
    const c = await ConsoleWs.open(`${h.url}/v1/vms/${vm}/console`, { token: h.token, timeoutMs: 120_000 });
    try {
      c.send('\r');
      return (await runInConsole(c, cmd, 60_000)).replace(/\r/g, '').trim();
    } finally {
      c.close();
    }
  };
  /** The app through Caddy at `url` (curl --resolve to the namespace), once it answers `want`. */
  const serves = (url: string, want: RegExp, ms = 180_000) =>
    eventually(`${url} serving ${want}`, () => h.curlVia(`${url}/`, { cacert: ca }), (r) => r.status === 200 && want.test(r.body), ms, 1000).then((r) => r.body);
  const push = async (remoteUrl: string) => {
    const r = await sh('git', ['-C', repo, 'push', remoteUrl.replace('://', `://git:${h.token}@`), 'HEAD:main'], genv());
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  };
  const why = (id: string) => {
    const p = join(h.stateDir, 'run', id, 'console.log');
    return `console:\n${existsSync(p) ? readFileSync(p, 'utf8').slice(-2000) : '(none)'}\ndaemon:\n${readFileSync(h.logPath, 'utf8').slice(-2500)}`;
  };

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'fcm-fork-'));
    h = await startHostHarness({ caddy: true, env: { FCM_ALLOWED_EMAILS: 'bob@example.com' } });
    ca = await h.caddy.rootCaFile();
    const c = await h.api('POST', '/v1/vms', { name: 'web', memoryMib: 256, swapMib: 64 });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    parent = c.body;
    assert.equal((await h.api('GET', '/v1/vms/web/wait?state=running&timeout=600')).status, 200, why(parent.id));
    repo = join(work, 'app');
    await sh('git', ['init', '-q', '-b', 'main', repo], genv());
    writeFileSync(join(repo, 'app.py'), app('v1'));
    writeFileSync(join(repo, 'Procfile'), 'web: /usr/bin/python3 app.py\n');
    await sh('git', ['-C', repo, 'add', '.'], genv());
    await sh('git', ['-C', repo, 'commit', '-q', '-m', 'v1'], genv());
    await push(c.body.gitHttpUrl);
    assert.equal((await h.api('PATCH', '/v1/vms/web/env', { set: { GREETING: 'parent' } })).status, 200);
    await serves(parent.url, /^fork-app v1 greeting=parent host=web rnd=/);
    // A second user: a row and a token in the daemon's database (no identity provider in tests).
    const db = openDb(join(h.stateDir, 'fcm.db'));
    const user = new SqliteUserStore(db).upsert({ issuer: 'https://issuer.test', subject: 'bob', email: 'bob@example.com', name: 'Bob' }, new Date().toISOString());
    bobToken = newToken();
    new SqliteTokenStore(db).insert({ id: 'tok_b0b000000001', hash: hashToken(bobToken), userId: user.id, kind: 'user', description: 'test', createdAt: new Date().toISOString(), expiresAt: null });
    db.close();
  });
  after(async () => {
    await h?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('refused forks (bad name, taken name, another user\'s VM, a parent not running) change nothing', async () => {
    const before = await hostLeftovers(h);
    const problem = async (body: unknown, code: string, status: number, token?: string, vm = 'web') => {
      const r = await h.api('POST', `/v1/vms/${vm}/fork`, body, token);
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.equal(r.body.code, code, JSON.stringify(r.body));
    };
    await problem({ name: 'Bad_Name' }, 'validation_failed', 400);
    await problem({}, 'validation_failed', 400);
    await problem({ name: 'web' }, 'name_taken', 409);
    await problem({ name: 'bobs-fork' }, 'vm_not_found', 404, bobToken);
    await problem({ name: 'x-fork' }, 'vm_not_found', 404, undefined, 'no-such-vm');
    const cliBad = await cli(['fork', 'web', 'Bad_Name']);
    assert.equal(cliBad.code, 2, cliBad.stderr);
    assert.equal((await h.api('POST', '/v1/vms/web/sleep')).body.state, 'sleeping');
    await problem({ name: 'sleepy-fork' }, 'invalid_state', 409);
    assert.equal((await h.api('POST', '/v1/vms/web/start')).status, 200);
    assert.equal((await h.api('GET', '/v1/vms/web/wait?state=running&timeout=300')).status, 200, why(parent.id));
    assert.deepEqual((await h.api('GET', '/v1/vms')).body.vms.map((v: { name: string }) => v.name), ['web']);
    const left = await hostLeftovers(h);
    // The parent's QEMU is a new process since its wake: count QEMUs, compare the rest as they are.
    assert.deepEqual({ ...left, qemus: left.qemus.length }, { ...before, qemus: before.qemus.length }, 'no tap, QEMU, disk or run dir of a fork');
    assert.deepEqual(readdirSync(join(h.stateDir, 'git', 'repos')).filter((n) => n.startsWith('vm_')), [`${parent.id}.git`], 'no repository of a fork');
  });

  test('the fork serves the parent\'s app at its own URL, with its own identity, config, repository and files; it outlives the parent', async (t) => {
    // Only in the parent's memory (never synced) and on its disk at the moment of the fork.
    assert.equal(await inConsole('web', 'echo from-before > /root/before.txt; echo ok'), 'ok');
    const f = await cli(['fork', 'web', 'web-preview']);
    assert.equal(f.code, 0, `${f.stdout}\n${f.stderr}\n${why('')}`);
    const paused = /web was paused ([\d.]+) ms for the fork/.exec(f.stderr);
    assert.ok(paused && Number(paused[1]) > 0, f.stderr);
    t.diagnostic(`parent paused ${paused![1]} ms for the fork`);
    assert.match(f.stdout, /^Forked web into web-preview: running\nURL: https:\/\/web-preview\./, f.stdout);
    assert.equal(existsSync(join(work, '.fcm')), false, 'fcm fork writes no .fcm');
    const fork = (await h.api('GET', '/v1/vms/web-preview')).body;
    assert.equal(fork.state, 'running', why(fork.id));
    assert.equal((await h.api('GET', '/v1/vms/web')).body.state, 'running', 'the parent runs on');

    // The parent's app, at the fork's own URL, through Caddy; the parent still at its own.
    const fromFork = await serves(fork.url, /^fork-app v1 greeting=parent host=web-preview rnd=/);
    const fromParent = await serves(parent.url, /^fork-app v1 greeting=parent host=web rnd=/);
    assert.notEqual(fromFork.split('rnd=')[1], fromParent.split('rnd=')[1]);

    // Identity: address, MAC, hostname, machine-id and the kernel's random output are the fork's own.
    const facts = async (vm: string) =>
      (await inConsole(vm, 'echo "$(hostname) $(cat /etc/machine-id) $(cat /sys/class/net/eth0/address) $(ip -4 -o addr show eth0 | awk \'{print $4}\') $(head -c 16 /dev/urandom | od -An -tx1 | tr -d \' \\n\')"')).split(' ');
    const [fHost, fMachine, fMac, fIp, fRnd] = await facts('web-preview');
    const [pHost, pMachine, pMac, pIp, pRnd] = await facts('web');
    assert.deepEqual([fHost, fMac, fIp!.split('/')[0]], ['web-preview', fork.mac, fork.ip]);
    assert.deepEqual([pHost, pMac, pIp!.split('/')[0]], ['web', parent.mac, parent.ip]);
    assert.notEqual(fork.ip, parent.ip);
    assert.notEqual(fork.mac, parent.mac);
    assert.match(fMachine!, /^[0-9a-f]{32}$/);
    assert.notEqual(fMachine, pMachine, 'a machine-id of its own');
    assert.match(fRnd!, /^[0-9a-f]{32}$/);
    assert.notEqual(fRnd, pRnd);

    // Files: what the parent had at the fork is in the fork; what either writes after is its own.
    assert.equal(await inConsole('web-preview', 'cat /root/before.txt'), 'from-before');
    assert.equal(await inConsole('web', 'echo p > /root/after-parent.txt; echo ok'), 'ok');
    assert.equal(await inConsole('web-preview', 'echo f > /root/after-fork.txt; echo ok'), 'ok');
    assert.equal(await inConsole('web-preview', 'ls /root/after-parent.txt 2>/dev/null || echo absent'), 'absent');
    assert.equal(await inConsole('web', 'ls /root/after-fork.txt 2>/dev/null || echo absent'), 'absent');

    // Config vars and releases: a copy; a change on the fork does not touch the parent.
    assert.deepEqual((await h.api('GET', '/v1/vms/web-preview/env')).body.vars, { GREETING: 'parent' });
    const rel = (vm: string) => h.api('GET', `/v1/vms/${vm}/releases`).then((r) => r.body.releases.map((x: { version: number; status: string; kind: string; commit: string | null }) => [x.version, x.status, x.kind, x.commit]));
    assert.deepEqual(await rel('web-preview'), await rel('web'));
    assert.equal((await h.api('PATCH', '/v1/vms/web-preview/env', { set: { GREETING: 'fork' } })).status, 200);
    await serves(fork.url, /^fork-app v1 greeting=fork host=web-preview /);
    assert.deepEqual((await h.api('GET', '/v1/vms/web/env')).body.vars, { GREETING: 'parent' });
    await serves(parent.url, /^fork-app v1 greeting=parent host=web /);

    // A push onto the fork (its own repository, holding the parent's history) deploys there only.
    writeFileSync(join(repo, 'app.py'), app('v2'));
    await sh('git', ['-C', repo, 'commit', '-q', '-am', 'v2'], genv());
    await push(fork.gitHttpUrl);
    await serves(fork.url, /^fork-app v2 greeting=fork host=web-preview /);
    await serves(parent.url, /^fork-app v1 greeting=parent host=web /);

    // Deleting the parent leaves the fork running, and it restarts (cold boot) from its own disk.
    assert.equal((await h.api('DELETE', '/v1/vms/web')).status, 204);
    assert.equal(existsSync(join(h.stateDir, 'disks', parent.id)), false, 'the parent\'s disks are gone');
    await serves(fork.url, /^fork-app v2 greeting=fork host=web-preview /);
    assert.equal((await h.api('POST', '/v1/vms/web-preview/restart', {})).status, 200);
    assert.equal((await h.api('GET', '/v1/vms/web-preview/wait?state=running&timeout=600')).status, 200, why(fork.id));
    await serves(fork.url, /^fork-app v2 greeting=fork host=web-preview /, 300_000);
    assert.equal(await inConsole('web-preview', 'cat /root/before.txt /root/after-fork.txt'), 'from-before\nf');
    assert.equal(existsSync(join(h.stateDir, 'disks', fork.id, 'fork-state.bin')), false, 'the parent\'s memory is not kept beside the fork');
  });
});
