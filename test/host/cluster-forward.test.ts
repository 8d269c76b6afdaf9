/**
 * Any host answers any call, streaming included: two real daemons (hosts a
 * and b, each in its own network namespace with its own bridge and subnet)
 * on one PostgreSQL, a real QEMU guest on b, and every request sent to a:
 *
 * - the console WebSocket through a reaches the guest on b (echo, resize,
 *   the ticket flow, reconnect with scrollback, the exit and close code);
 * - git push over HTTPS to a's URL deploys on b, and the app serves;
 * - git push over SSH to a's sshd (a's forced command, the key a verified)
 *   deploys on b through the git tunnel, and the app serves;
 * - `logs -f` through a streams b's app logs, and ends on b when the client goes;
 * - b refuses a forged or missing cluster signature on each of those doors;
 * - another user, through a, cannot reach the VM on b by any of them.
 *
 * The user's token never reaches b: b's logs show the cluster signature.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { signForward } from '../../daemon/core/cluster-auth.js';
import { hashToken, newToken } from '../../daemon/core/tokens.js';
import { PgTokenStore, PgUserStore } from '../../daemon/drivers/postgres/pg-account-stores.js';
import { SyncPg } from '../../daemon/drivers/postgres/sync-pg.js';
import { clusterSkipReason, startCluster, type TestCluster } from '../helpers/cluster-harness.js';
import { gitEnv, PY_APP, remoteLines, sh, sshdOn, type HostSshd } from '../helpers/cluster-push.js';
import { ensureBuilt, fcm } from '../e2e/cli-run.js';
import { ConsoleWs, runInConsole, UpgradeRefused } from '../helpers/console-ws.js';
import { hostSkipReason, type HostHarness } from '../helpers/host-harness.js';
import { registerKeyWith } from '../helpers/key-proof.js';
import { gitClient, type GitClient } from '../helpers/sshd.js';
import { eventually } from '../helpers/wait.js';

const skip = hostSkipReason() ?? clusterSkipReason();
const SMALL = { memoryMib: 512, swapMib: 256 };

/** A raw upgrade request (status and body of a refusal; 101 → 'upgraded'). */
function rawUpgrade(url: string, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { connection: 'Upgrade', ...headers }, timeout: 15_000 });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, body: 'upgraded' });
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

const WS_HEADERS = { upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': randomBytes(16).toString('base64') };

describe('forwarding of consoles, logs and git pushes between two real hosts', { skip: skip ?? false, timeout: 30 * 60_000 }, () => {
  let c: TestCluster;
  let db: SyncPg;
  let a: HostHarness;
  let b: HostHarness;
  let alice: string;
  let bob: string;
  let vm: { id: string; ip: string; host: string; gitHttpUrl: string; gitUrl: string };
  let work: string;
  let remote: HostSshd | undefined;
  let aliceGit: GitClient;
  let bobGit: GitClient;

  const asAlice = (method: string, path: string, body?: unknown) => a.api(method, path, body, alice);
  const git = (env: Record<string, string>, ...args: string[]) => sh('git', ['-C', work, ...args], env);
  /** The app, from inside b's namespace (its guest is on b's bridge). */
  const served = () => b.exec('curl', ['-sS', '--max-time', '5', `http://${vm.ip}:8000/`]).then((r) => r.stdout, () => '');
  const logOf = (h: HostHarness) => readFileSync(h.logPath, 'utf8');

  before(async () => {
    c = await startCluster({ hosts: [{ id: 'a' }, { id: 'b' }], env: { FCM_ALLOWED_EMAILS: 'alice@example.com,bob@example.com' } });
    [a, b] = [c.host('a').h, c.host('b').h];
    // Two users, as logins make them (no identity provider in host tests): rows and tokens in the shared
    // database, written over its Unix socket (the daemons use the cluster LAN).
    db = new SyncPg({ url: `postgresql://postgres@/postgres?host=${encodeURIComponent(c.pg.socketDir)}`, statementTimeoutMs: 30_000 });
    const users = new PgUserStore(db);
    const tokens = new PgTokenStore(db);
    const mint = (name: string) => {
      const u = users.upsert({ issuer: 'https://issuer.test', subject: name, email: `${name}@example.com`, name }, new Date().toISOString());
      const token = newToken();
      tokens.insert({ id: `tok_${randomBytes(6).toString('hex')}`, hash: hashToken(token), userId: u.id, kind: 'user', description: 'test', createdAt: new Date().toISOString(), expiresAt: null });
      return token;
    };
    alice = mint('alice');
    bob = mint('bob');
    const made = await asAlice('POST', '/v1/vms', { name: 'onb', host: 'b', ...SMALL });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.equal(made.body.host, 'b');
    const w = await asAlice('GET', '/v1/vms/onb/wait?state=running&timeout=300');
    assert.equal(w.status, 200, JSON.stringify(w.body));
    vm = w.body;
    work = mkdtempSync('/tmp/fcm-cluster-push-');
    ensureBuilt();
  });

  after(async () => {
    await remote?.close();
    db?.close();
    await c?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('the console through a reaches the guest on b: echo, resize, ticket, reconnect with scrollback', async () => {
    const con = await ConsoleWs.open(`${a.url}/v1/vms/onb/console`, { token: alice, timeoutMs: 60_000 });
    assert.equal(con.hello?.vm, 'onb');
    assert.equal((await runInConsole(con, 'echo through-$((40+2))', 60_000)).trim(), 'through-42');
    con.resize(111, 33);
    // b's agent applies a resize asynchronously (as on one host: test/host/console.test.ts); poll.
    let size = '';
    for (let i = 0; i < 40 && size !== '33 111'; i++) {
      size = (await runInConsole(con, 'stty size', 30_000)).trim();
      if (size !== '33 111') await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(size, '33 111');
    con.ws.close(1000);
    assert.equal((await con.closed).code, 1000);
    // The relay is a's; the console session is b's (a holds none).
    assert.match(logOf(a), /console relayed to the owning host/);
    assert.match(logOf(b), /"msg":"console connected"/);
    // A browser's ticket, issued and redeemed by a; the replay (b's scrollback) has what was said before.
    const t = await asAlice('POST', '/v1/vms/onb/console/tickets', {});
    assert.equal(t.status, 201, JSON.stringify(t.body));
    const again = await ConsoleWs.open(`${a.url}/v1/vms/onb/console`, { ticket: t.body.ticket, timeoutMs: 60_000 });
    assert.match(again.replay.toString(), /through-42/);
    assert.equal((await runInConsole(again, 'echo $((6*7))-again', 30_000)).trim(), '42-again');
    again.ws.close(1000);
    await again.closed;
    // Used up on a: the same ticket again is refused there.
    await assert.rejects(ConsoleWs.open(`${a.url}/v1/vms/onb/console`, { ticket: t.body.ticket }), (e) => e instanceof UpgradeRefused && e.status === 401);
  });

  test('fcm run through a runs in the guest on b: output, stdin and the exit code come back; bob is refused', async () => {
    const run = (token: string, args: string[], input?: string) =>
      fcm(['run', '-a', 'onb', '--', ...args], { cwd: work, env: { ...a.env, FCM_TOKEN: token }, timeoutMs: 180_000, ...(input !== undefined ? { input } : {}) });
    const r = await run(alice, ['sh', '-c', 'echo "$((6*7))"; echo to-stderr >&2; exit 3']);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, '42\n');
    assert.match(r.stderr, /to-stderr/);
    const counted = await run(alice, ['wc', '-l'], 'one\ntwo\nthree\n');
    assert.deepEqual([counted.code, counted.stdout.trim()], [0, '3'], counted.stderr);
    // The relay is a's; the command ran on b.
    assert.match(logOf(a), /run relayed to the owning host/);
    assert.match(logOf(b), /"msg":"run started"/);
    const refused = await run(bob, ['true']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /vm_not_found/);
  });

  test('b refuses a forged, foreign or missing cluster signature on the console, git and tunnel doors', async () => {
    const key = Buffer.from(readFileSync(join(b.stateDir, 'cluster.key'), 'utf8').trim(), 'hex');
    const aliceP = { userId: String(db.query<{ id: string }>("SELECT id FROM users WHERE email = 'alice@example.com'").rows[0]!.id), email: 'alice@example.com', admin: false };
    const consolePath = '/v1/vms/onb/console';
    const tunnel = '/git/onb.git/ssh-tunnel?service=git-receive-pack';
    const forged = signForward(randomBytes(32), 'a', aliceP, 'GET', consolePath);
    const wrongPath = signForward(key, 'a', aliceP, 'GET', '/v1/vms/other/console');
    for (const header of [forged, wrongPath, 'v1.a.1.x.00']) {
      const r = await rawUpgrade(`${b.url}${consolePath}`, { ...WS_HEADERS, 'x-fcm-cluster': header });
      assert.deepEqual([r.status, r.body?.code], [401, 'unauthorized'], header);
    }
    // No credentials at all.
    assert.equal((await rawUpgrade(`${b.url}${consolePath}`, WS_HEADERS)).status, 401);
    // The git tunnel: only hosts of this cluster, signed.
    const tunnelTries: Record<string, string>[] = [{}, { 'x-fcm-cluster': signForward(randomBytes(32), 'a', { ...aliceP, keyId: 'key_000000000000' }, 'GET', tunnel) }, { authorization: `Bearer ${alice}` }];
    for (const extra of tunnelTries) {
      const r = await rawUpgrade(`${b.url}${tunnel}`, { upgrade: 'fcm-git', ...extra });
      assert.deepEqual([r.status, r.body?.code], [401, 'unauthorized'], JSON.stringify(Object.keys(extra)));
    }
    // Git smart HTTP with a forged signature.
    const refs = '/git/onb.git/info/refs?service=git-receive-pack';
    const res = await fetch(`${b.url}${refs}`, { headers: { 'x-fcm-cluster': signForward(randomBytes(32), 'a', aliceP, 'GET', refs) } });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { code: string }).code, 'unauthorized');
    // And the genuine key opens the door (so the refusals above are about the signature).
    const ok = await rawUpgrade(`${b.url}${consolePath}`, { ...WS_HEADERS, 'x-fcm-cluster': signForward(key, 'a', aliceP, 'GET', consolePath) });
    assert.equal(ok.status, 101);
  });

  test('git push over HTTPS to a deploys on b, and the app serves; the repository is b\'s only', async () => {
    writeFileSync(join(work, 'app.py'), PY_APP('v1'));
    writeFileSync(join(work, 'requirements.txt'), '# standard library only\n');
    writeFileSync(join(work, 'Procfile'), 'web: python3 app.py\n');
    const env = gitEnv(work);
    assert.equal((await git(env, 'init', '-q', '-b', 'main')).code, 0);
    await git(env, 'add', '-A');
    assert.equal((await git(env, 'commit', '-q', '-m', 'v1')).code, 0);
    // A read answered by a itself (no forwarding) gives a's own remotes (on the cluster LAN); the
    // test process reaches a over its own link, at the same path.
    const viaA = (await asAlice('GET', '/v1/vms/onb')).body;
    assert.equal(viaA.gitHttpUrl, `http://${c.host('a').lanIp}:7777/git/onb.git`, 'the URL a hands out is its own');
    assert.equal(viaA.gitUrl, `root@${c.host('a').lanIp}:onb.git`);
    vm = { ...vm, gitHttpUrl: `${a.url}/git/onb.git`, gitUrl: `root@${a.daemonIp}:onb.git` };
    const withToken = (t: string) => vm.gitHttpUrl.replace('http://', `http://x:${t}@`);
    // Bob, through a: not his app — refused, and nothing reaches the guest.
    const refused = await git(env, 'push', withToken(bob), 'HEAD:main');
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /404|not found/i);
    const r = await git(env, 'push', withToken(alice), 'HEAD:main');
    assert.equal(r.code, 0, r.stderr);
    const lines = remoteLines(r);
    assert.equal(lines[0], '-----> Deploying to onb...', lines.join('\n'));
    assert.equal(lines.at(-2), '-----> Deploy successful!', lines.join('\n'));
    assert.match(await served(), /^python v1$/m);
    assert.ok(existsSync(join(b.stateDir, 'git', 'repos', `${vm.id}.git`)), 'b holds the repository');
    assert.ok(!existsSync(join(a.stateDir, 'git', 'repos', `${vm.id}.git`)), 'a made none');
    // b saw a's signature, never a bearer or basic credential.
    assert.match(logOf(b), /"url":"\/git\/onb\.git\/git-receive-pack"/);
    assert.ok(!logOf(b).includes(alice), "alice's token never reached b");
  });

  test('logs -f through a streams the app log from b, and ends on b when the client goes', async () => {
    const ac = new AbortController();
    const res = await fetch(`${a.url}/v1/vms/onb/logs?follow=true`, { headers: { authorization: `Bearer ${alice}` }, signal: ac.signal });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const marker = `/mark-${randomBytes(4).toString('hex')}`;
    let text = '';
    const got = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return false;
        text += Buffer.from(value).toString();
        if (text.includes(`request GET ${marker}`)) return true;
      }
    })();
    // A request to the app on b, made after the stream opened: its log line arrives live.
    await eventually('the app logs the marked request', async () => {
      await b.exec('curl', ['-sS', '--max-time', '5', `http://${vm.ip}:8000${marker}`]).catch(() => null);
      return Promise.race([got, new Promise<boolean>((r) => setTimeout(() => r(false), 2000))]);
    }, (v) => v, 60_000, 100);
    // b's side of the stream: the forwarded request is still open until the client goes.
    // (Logged URLs carry no query string; this is the only logs request b was sent.)
    const reqIdOnB = () => {
      for (const l of logOf(b).split('\n')) {
        if (!l.includes('"url":"/v1/vms/onb/logs"') || !l.includes('"msg":"incoming request"')) continue;
        const m = /"reqId":"(req_[0-9a-f]+)"/.exec(l);
        if (m) return m[1]!;
      }
      return null;
    };
    const id = reqIdOnB();
    assert.ok(id, 'b served the forwarded logs -f');
    const completed = () => logOf(b).split('\n').some((l) => l.includes(`"reqId":"${id}"`) && l.includes('"msg":"logs -f ended"'));
    assert.equal(completed(), false, 'still streaming on b while the client reads');
    ac.abort();
    await eventually('b ends the forwarded logs -f', async () => completed(), (v) => v, 30_000, 200);
  });

  test("git push over SSH to a's sshd deploys on b (the key a verified, tunnelled to b's git), and the app serves; bob's key is refused", async () => {
    remote = await sshdOn(a);
    const sshd = remote.sshd;
    const clients = join(work, '..', `${work.split('/').pop()}-clients`);
    mkdirSync(clients, { recursive: true });
    aliceGit = await gitClient(clients, 'alice', sshd.knownHostsLine);
    bobGit = await gitClient(clients, 'bob', sshd.knownHostsLine);
    try {
      assert.equal((await registerKeyWith((m, p, body, t) => a.api(m, p, body, t ?? alice), aliceGit, alice)).status, 201);
      assert.equal((await registerKeyWith((m, p, body, t) => a.api(m, p, body, t ?? bob), bobGit, bob)).status, 201);
      writeFileSync(join(work, 'app.py'), PY_APP('v2'));
      await git(aliceGit.env, 'add', '-A');
      assert.equal((await git(aliceGit.env, 'commit', '-q', '-m', 'v2')).code, 0);
      const refused = await git(bobGit.env, 'push', vm.gitUrl, 'HEAD:main');
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /No app named "onb"/);
      const r = await git(aliceGit.env, 'push', vm.gitUrl, 'HEAD:main');
      assert.equal(r.code, 0, `${r.stderr}\nsshd:\n${sshd.log().slice(-2000)}`);
      const lines = remoteLines(r);
      assert.equal(lines[0], '-----> Deploying to onb...', lines.join('\n'));
      assert.equal(lines.at(-2), '-----> Deploy successful!', lines.join('\n'));
      assert.match(await served(), /^python v2$/m);
      assert.match(logOf(a), /git over SSH relayed to the owning host/);
      assert.match(logOf(b), /git tunnel from another host/);
      // A fetch over the same remote works too (upload-pack through the tunnel).
      const clone = join(clients, 'clone');
      const f = await sh('git', ['clone', '-q', vm.gitUrl, clone], aliceGit.env);
      assert.equal(f.code, 0, f.stderr);
      assert.match(readFileSync(join(clone, 'app.py'), 'utf8'), /python v2/);
    } finally {
      rmSync(clients, { recursive: true, force: true });
    }
  });

  test('named snapshots of the VM on b, taken, listed and deleted through a; bob gets vm_not_found', async () => {
    const made = await asAlice('POST', '/v1/vms/onb/snapshots', { snapshot: 'across' });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const list = await asAlice('GET', '/v1/vms/onb/snapshots');
    assert.deepEqual(list.body.snapshots.map((x: { snapshot: string }) => x.snapshot), ['across'], JSON.stringify(list.body));
    assert.match(logOf(b), /"url":"\/v1\/vms\/onb\/snapshots"/);
    assert.equal((await a.api('GET', '/v1/vms/onb/snapshots', undefined, bob)).body.code, 'vm_not_found');
    assert.equal((await asAlice('DELETE', '/v1/vms/onb/snapshots/across')).status, 204);
    assert.deepEqual((await asAlice('GET', '/v1/vms/onb/snapshots')).body.snapshots, []);
  });

  test('bob, through a, cannot open the console of alice\'s VM on b; stopping it through a ends the console with exit and 1000', async () => {
    await assert.rejects(ConsoleWs.open(`${a.url}/v1/vms/onb/console`, { token: bob }), (e) => e instanceof UpgradeRefused && e.status === 404 && e.body.code === 'vm_not_found');
    const con = await ConsoleWs.open(`${a.url}/v1/vms/onb/console`, { token: alice, timeoutMs: 60_000 });
    const stopped = await asAlice('POST', '/v1/vms/onb/stop', {});
    assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
    const closed = await con.closed;
    assert.equal(closed.code, 1000);
    assert.ok(con.controls.some((m) => m.type === 'exit'), JSON.stringify(con.controls));
  });

  test('a backup export of the (stopped) VM on b, through a, streams the whole archive with its length', async () => {
    const res = await fetch(`${a.url}/v1/vms/onb/backup`, { headers: { authorization: `Bearer ${alice}` } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/x-fcm-backup');
    const length = Number(res.headers.get('content-length'));
    assert.ok(length > 0);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(body.length, length, 'every byte b said it would send');
    // A POSIX tar whose first member is the manifest, naming the VM.
    assert.equal(body.subarray(0, 13).toString(), 'manifest.json');
    assert.match(body.subarray(512, 4096).toString(), /"name": "onb"/);
  });
});
