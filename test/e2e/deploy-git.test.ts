/**
 * git push deploys end to end on the host side, without VMs: a real OpenSSH
 * sshd (AuthorizedKeysCommand → fcm's key helper, forced command), the real
 * git client, bare repositories with fcm's pre-receive hook, git smart HTTP
 * through `git http-backend`, the daemon's internal socket — and a fake
 * guest agent on loopback speaking agent API v1 (test/helpers/fake-agent.ts).
 * Everything listens on 127.0.0.1. The real guest runs in test/host/deploy.test.ts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GuestAgentRuntime } from '../../daemon/drivers/guest-agent-runtime.js';
import { SETPRIV, setprivArgs } from '../../daemon/drivers/git/git-user.js';
import { sshdUnsafeReason } from '../../daemon/drivers/git/helpers.js';
import { ROOT_DIR } from '../helpers/host-harness.js';
import { startFakeAgent, type FakeAgent } from '../helpers/fake-agent.js';
import { registerKey } from '../helpers/key-proof.js';
import { memoryApi } from '../helpers/memory-api.js';
import { onFreePort } from '../helpers/ports.js';
import { assertRanAsGitUser, watchGitProcesses } from '../helpers/git-procs.js';
import { gitClient, gitTestBase, startSshd, type GitClient, type TestSshd } from '../helpers/sshd.js';
import { accessSync, constants } from 'node:fs';

function skipReason(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (sshd runs the AuthorizedKeysCommand as root)';
  for (const bin of ['/usr/sbin/sshd', '/usr/bin/ssh', '/usr/bin/ssh-keygen', '/usr/bin/git']) {
    try {
      accessSync(bin, constants.X_OK);
    } catch {
      return `needs ${bin} (apt-get install openssh-server openssh-client git)`;
    }
  }
  return null;
}

interface Res {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

function sh(cmd: string, args: string[], env: Record<string, string>, cwd?: string): Promise<Res> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(cmd, args, { env, cwd, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr), ms: Date.now() - t0 });
    });
  });
}

const reason = skipReason();

describe('git push deploys: real sshd, real git, smart HTTP (fake guest agent)', { skip: reason ?? false }, () => {
  let base: string;
  let agent: FakeAgent;
  let api: Awaited<ReturnType<typeof memoryApi>>;
  let sshd: TestSshd;
  let daemonUrl: string;
  let alice: ReturnType<Awaited<ReturnType<typeof memoryApi>>['loginAs']>;
  let bob: ReturnType<Awaited<ReturnType<typeof memoryApi>>['loginAs']>;
  let aliceGit: GitClient;
  let bobGit: GitClient;
  let strangerGit: GitClient;
  let work: string;
  let vmId: string;

  const inject = async (method: string, url: string, token: { headers: Record<string, string> }, payload?: object) => {
    const r = await api.app.inject({ method: method as 'GET', url, headers: token.headers, ...(payload ? { payload } : {}) });
    return { status: r.statusCode, body: r.body ? (JSON.parse(r.body) as Record<string, any>) : null };
  };
  const sshUrl = (app: string) => `ssh://root@127.0.0.1:${sshd.port}/${app}.git`;
  const git = (c: GitClient, ...args: string[]) => sh('git', ['-C', work, ...args], c.env);
  const commit = async (msg: string) => {
    await git(aliceGit, 'add', '-A');
    const r = await git(aliceGit, 'commit', '-q', '-m', msg);
    assert.equal(r.code, 0, r.stderr);
    return (await git(aliceGit, 'rev-parse', 'HEAD')).stdout.trim();
  };
  const remoteHead = async (c: GitClient, url: string) => (await sh('git', ['ls-remote', url, 'refs/heads/main'], c.env)).stdout.split('\t')[0] ?? '';
  const files = (version: number) => [...(agent.runtime.builds.get(vmId)?.get(version)?.files.keys() ?? [])].sort();

  before(async () => {
    base = await gitTestBase('fcm-e2e-');
    const token = (id: string) => `agent-token-${id}`;
    agent = await startFakeAgent({ token });
    const runtime = new GuestAgentRuntime({ port: 7611, tokenFor: token, baseUrl: (vm) => agent.baseUrlFor(vm) });
    api = await memoryApi({ git: { stateDir: join(base, 'state'), runtime } });
    daemonUrl = await api.app.listen({ host: '127.0.0.1', port: 0 });
    const keysCommand = api.deploys.doors!.paths.sshKeysCommand;
    assert.equal(sshdUnsafeReason(keysCommand), null);
    // sshd needs its port in its configuration: on a port taken meanwhile it starts again on another.
    sshd = await onFreePort((port) => startSshd({ dir: join(base, 'sshd'), listen: '127.0.0.1', port, keysCommand }));
    alice = api.loginAs('alice@example.com');
    bob = api.loginAs('bob@example.com');
    aliceGit = await gitClient(join(base, 'clients'), 'alice', sshd.knownHostsLine);
    bobGit = await gitClient(join(base, 'clients'), 'bob', sshd.knownHostsLine);
    strangerGit = await gitClient(join(base, 'clients'), 'stranger', sshd.knownHostsLine);
    assert.equal((await registerKey(api.app, alice.headers, aliceGit)).status, 201);
    assert.equal((await registerKey(api.app, bob.headers, bobGit, 'bob laptop')).status, 201);
    const vm = await inject('POST', '/v1/vms', alice, { name: 'cosmic-nova' });
    assert.equal(vm.status, 201);
    vmId = vm.body!.id;
    assert.equal((await inject('GET', '/v1/vms/cosmic-nova/wait?state=running&timeout=5', alice)).status, 200);
    assert.equal((await inject('POST', '/v1/vms', bob, { name: 'bobs-app' })).status, 201);

    work = join(base, 'app');
    cpSync(join(ROOT_DIR, 'examples', 'python'), work, { recursive: true });
    await git(aliceGit, 'init', '-q', '-b', 'main');
    await commit('first');
  });

  after(async () => {
    await sshd?.close();
    await api?.app.close();
    await api?.h.service.close();
    await agent?.close();
    if (base && !process.env.FCM_KEEP_TEST_STATE) rmSync(base, { recursive: true, force: true });
  });

  test('push over SSH: Heroku-style output, release v1, the guest got a clean tree of the commit', async (t) => {
    const sha = (await git(aliceGit, 'rev-parse', 'HEAD')).stdout.trim();
    const r = await git(aliceGit, 'push', sshUrl('cosmic-nova'), 'main');
    assert.equal(r.code, 0, r.stderr + sshd.log());
    t.diagnostic(`git push over SSH (fake agent) took ${r.ms} ms`);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('remote: ')).map((l) => l.slice('remote: '.length).trimEnd());
    assert.deepEqual(lines, [
      '-----> Deploying to cosmic-nova...',
      `-----> Received ${sha.slice(0, 7)} (3 files)`,
      '-----> Detected Python (requirements.txt)',
      '-----> Starting: python3 app.py',
      '-----> Deploy successful!',
      '       https://cosmic-nova.64-34-93-45.sslip.io',
    ]);
    assert.equal(await remoteHead(aliceGit, sshUrl('cosmic-nova')), sha, 'the ref moved');
    const rel = await inject('GET', '/v1/vms/cosmic-nova/releases/1', alice);
    assert.equal(rel.body!.status, 'succeeded');
    assert.equal(rel.body!.commit, sha);
    assert.equal(rel.body!.buildpack, 'python');
    assert.deepEqual(files(1), ['Procfile', 'app.py', 'requirements.txt']);
    const i = agent.requests.findIndex((q) => q.path === '/v1/releases/1');
    assert.deepEqual(agent.requests[i - 1], { method: 'PUT', path: '/v1/env' }, 'config vars are sent before the build');
    assert.equal(agent.requests[i]!.commit, sha);
  });

  test('push a change, then delete a file: each release is exactly the pushed tree', async () => {
    writeFileSync(join(work, 'extra.txt'), 'new\n');
    await commit('add extra');
    assert.equal((await git(aliceGit, 'push', sshUrl('cosmic-nova'), 'main')).code, 0);
    assert.deepEqual(files(2), ['Procfile', 'app.py', 'extra.txt', 'requirements.txt']);
    unlinkSync(join(work, 'extra.txt'));
    await commit('remove extra');
    assert.equal((await git(aliceGit, 'push', sshUrl('cosmic-nova'), 'main')).code, 0);
    assert.deepEqual(files(3), ['Procfile', 'app.py', 'requirements.txt']);
    const list = await inject('GET', '/v1/vms/cosmic-nova/releases', alice);
    assert.deepEqual(list.body!.releases.map((r: { version: number; status: string }) => [r.version, r.status]), [[3, 'succeeded'], [2, 'superseded'], [1, 'superseded']]);
  });

  test('a failing install: the push is rejected with the reason, the ref stays, the previous release keeps serving', async () => {
    const before = await remoteHead(aliceGit, sshUrl('cosmic-nova'));
    writeFileSync(join(work, 'FAIL_BUILD'), '');
    await commit('breaks the install');
    const r = await git(aliceGit, 'push', sshUrl('cosmic-nova'), 'main');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /remote:  ! {5}Installing dependencies failed/);
    assert.match(r.stderr, /remote:  ! {5}Push rejected: v4 failed; v3 keeps serving\./);
    assert.match(r.stderr, /\[remote rejected\] main -> main \(pre-receive hook declined\)/);
    assert.equal(await remoteHead(aliceGit, sshUrl('cosmic-nova')), before);
    assert.equal(agent.runtime.current.get(vmId), 3);
    unlinkSync(join(work, 'FAIL_BUILD'));
    await commit('fixed');
  });

  test('only main/master deploy; other branches are refused with the fix; HEAD:main works', async () => {
    await git(aliceGit, 'checkout', '-q', '-b', 'feature');
    const r = await git(aliceGit, 'push', sshUrl('cosmic-nova'), 'feature');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /fcm deploys the main \(or master\) branch only; refused: feature/);
    assert.match(r.stderr, /git push fcm feature:main/);
    const ok = await git(aliceGit, 'push', sshUrl('cosmic-nova'), 'HEAD:main');
    assert.equal(ok.code, 0, ok.stderr);
    await git(aliceGit, 'checkout', '-q', 'main');
    const del = await git(aliceGit, 'push', sshUrl('cosmic-nova'), ':main');
    assert.notEqual(del.code, 0);
    assert.match(del.stderr, /Deleting the deployed branch is not supported/);
  });

  test("someone else's key cannot push; a nonexistent app fails cleanly; an unknown key gets nothing", async () => {
    const bobs = await sh('git', ['-C', work, 'push', sshUrl('cosmic-nova'), 'main'], bobGit.env);
    assert.notEqual(bobs.code, 0);
    assert.match(bobs.stderr, /fcm: No app named "cosmic-nova" \(or it is not yours\)/);
    const ghost = await git(aliceGit, 'push', sshUrl('ghost'), 'main');
    assert.notEqual(ghost.code, 0);
    assert.match(ghost.stderr, /fcm: No app named "ghost" \(or it is not yours\)\. Create it with: fcm create ghost/);
    const stranger = await sh('git', ['-C', work, 'push', sshUrl('cosmic-nova'), 'main'], strangerGit.env);
    assert.notEqual(stranger.code, 0);
    assert.match(stranger.stderr, /Permission denied \(publickey\)/);
    const bad = await sh('git', ['-C', work, 'push', `ssh://root@127.0.0.1:${sshd.port}/../etc.git`, 'main'], aliceGit.env);
    assert.match(bad.stderr, /only git push and git fetch of an app/);
  });

  test('the key opens no shell: no command, a command, a pty and port forwarding are refused', async () => {
    const host = ['-p', String(sshd.port), 'root@127.0.0.1'];
    const noCmd = await sh(aliceGit.ssh[0]!, [...aliceGit.ssh.slice(1), ...host], aliceGit.env);
    assert.notEqual(noCmd.code, 0);
    assert.match(noCmd.stderr, /fcm: this key can only git push and fetch fcm apps; there is no shell here/);
    const cmd = await sh(aliceGit.ssh[0]!, [...aliceGit.ssh.slice(1), ...host, 'id'], aliceGit.env);
    assert.notEqual(cmd.code, 0);
    assert.doesNotMatch(cmd.stdout, /uid=/);
    assert.match(cmd.stderr, /only git push and git fetch/);
    const pty = await sh(aliceGit.ssh[0]!, [...aliceGit.ssh.slice(1), '-tt', ...host], aliceGit.env);
    assert.match(pty.stderr, /PTY allocation request failed/);
    // Port forwarding: -W opens a direct-tcpip channel right away; `restrict` refuses it.
    const fwd = await sh(aliceGit.ssh[0]!, [...aliceGit.ssh.slice(1), '-W', `127.0.0.1:${sshd.port}`, ...host], aliceGit.env);
    assert.notEqual(fwd.code, 0);
    assert.match(fwd.stderr, /administratively prohibited|open failed/);
  });

  test('clone over SSH works for the owner (upload-pack)', async () => {
    const dir = join(base, 'clone');
    const r = await sh('git', ['clone', '-q', sshUrl('cosmic-nova'), dir], aliceGit.env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await sh('git', ['-C', dir, 'rev-parse', 'HEAD'], aliceGit.env)).stdout.trim(), await remoteHead(aliceGit, sshUrl('cosmic-nova')));
  });

  test('push over HTTPS (smart HTTP) with a token; refused without one or with a stranger\'s', async (t) => {
    writeFileSync(join(work, 'via-http.txt'), 'x\n');
    const sha = await commit('over http');
    const url = `${daemonUrl}/git/cosmic-nova.git`;
    const withToken = url.replace('://', `://git:${alice.token}@`);
    const ok = await git(aliceGit, 'push', withToken, 'main');
    assert.equal(ok.code, 0, ok.stderr);
    t.diagnostic(`git push over HTTP (fake agent) took ${ok.ms} ms`);
    assert.match(ok.stderr, /remote: -----> Deploy successful!/);
    assert.equal(await remoteHead(aliceGit, sshUrl('cosmic-nova')), sha);
    const none = await git(aliceGit, 'push', url, 'main');
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /could not read Username|Authentication failed/);
    const wrong = await git(aliceGit, 'push', url.replace('://', '://git:fcm_notavalidtokennotavalidtoken@'), 'main');
    assert.match(wrong.stderr, /Authentication failed/);
    const bobs = await sh('git', ['-C', work, 'push', url.replace('://', `://git:${bob.token}@`), 'main'], bobGit.env);
    assert.notEqual(bobs.code, 0);
    assert.match(bobs.stderr, /not found/);
    // Fetching works the same way.
    assert.equal(await remoteHead(aliceGit, withToken), sha);
    // A pack bigger than git's http.postBuffer (1 MiB) goes up chunked, without a Content-Length.
    const { randomBytes } = await import('node:crypto');
    writeFileSync(join(work, 'big.bin'), randomBytes(3 * 1024 * 1024));
    const big = await commit('a big file');
    const chunked = await sh('git', ['-C', work, '-c', 'http.postBuffer=65536', 'push', withToken, 'main'], aliceGit.env);
    assert.equal(chunked.code, 0, chunked.stderr);
    assert.equal(await remoteHead(aliceGit, sshUrl('cosmic-nova')), big);
    assert.ok(files(agent.runtime.current.get(vmId)!).includes('big.bin'));
  });

  test('everything of the push path runs as the git user, never root: key lookup, forced command, hook, git (#13)', async (t) => {
    const doors = api.deploys.doors!;
    const u = doors.user!;
    assert.notEqual(u.uid, 0);
    const gitDir = join(base, 'state', 'git');
    const watch = await watchGitProcesses(doors.socketPath, gitDir);
    try {
      writeFileSync(join(work, 'uid.txt'), 'ssh\n');
      await commit('who runs it, over ssh');
      const overSsh = await git(aliceGit, 'push', sshUrl('cosmic-nova'), 'main');
      assert.equal(overSsh.code, 0, overSsh.stderr + sshd.log());
      writeFileSync(join(work, 'uid.txt'), 'https\n');
      await commit('who runs it, over https');
      const overHttp = await git(aliceGit, 'push', `${daemonUrl}/git/cosmic-nova.git`.replace('://', `://git:${alice.token}@`), 'main');
      assert.equal(overHttp.code, 0, overHttp.stderr);
      const clone = await sh('git', ['clone', '-q', sshUrl('cosmic-nova'), join(base, 'clone-uid')], aliceGit.env);
      assert.equal(clone.code, 0, clone.stderr);
    } finally {
      await watch.close();
    }
    // Each helper is seen while it waits for the daemon, with the processes that started it (git receive-pack,
    // git http-backend) around it; upload-pack and archive are children of processes seen here, which cannot
    // gain privileges (no_new_privs).
    t.diagnostic(assertRanAsGitUser([...watch.seen.values()], u, ['key lookup', 'forced command', 'pre-receive hook', 'git receive-pack', 'git http-backend']));
  });

  test('a push to a stopped app is refused with how to start it; a removed key stops working at once', async () => {
    assert.equal((await inject('POST', '/v1/vms/cosmic-nova/stop', alice, { force: true })).status, 200);
    writeFileSync(join(work, 'stopped.txt'), 'x\n');
    await commit('while stopped');
    const r = await git(aliceGit, 'push', sshUrl('cosmic-nova'), 'main');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /cosmic-nova is stopped; it must be running to deploy\. *\nremote:  ! {5}Start it with: fcm start cosmic-nova/);
    assert.equal((await inject('POST', '/v1/vms/cosmic-nova/start', alice)).status, 200);
    const keys = await inject('GET', '/v1/keys', alice);
    assert.equal(keys.body!.keys.length, 1);
    assert.equal((await inject('DELETE', `/v1/keys/${keys.body!.keys[0].id}`, alice)).status, 204);
    const after = await git(aliceGit, 'push', sshUrl('cosmic-nova'), 'main');
    assert.match(after.stderr, /Permission denied \(publickey\)/);
    assert.equal((await registerKey(api.app, alice.headers, aliceGit)).status, 201);
  });

  test('a push straight into the repository on the host (no fcm ticket) is refused by the hook, even from the git user', async () => {
    const repo = join(base, 'state', 'git', 'repos', `${vmId}.git`);
    writeFileSync(join(work, 'local.txt'), 'x\n');
    await commit('local');
    // git refuses repositories of another owner outright (root's push stops there); the git user owns them, and still gets no deploy.
    const asRoot = await git(aliceGit, 'push', repo, 'main');
    assert.notEqual(asRoot.code, 0);
    const u = api.deploys.doors!.user!;
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: u.home, LANG: 'C.UTF-8' };
    // safe.directory: the client side reads the test's work tree, which root owns.
    const r = await sh(SETPRIV, [...setprivArgs(u), 'git', '-c', 'safe.directory=*', '-C', work, 'push', repo, 'main'], env);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /This repository is managed by fcm/);
  });

  test('a push that would take the repository past its quota is refused at receive time: nothing deployed, nothing kept', async () => {
    const repos = api.deploys.git as { size(id: string): Promise<number> };
    const MiB = 1024 * 1024;
    const sizeBefore = await repos.size(vmId);
    const headBefore = await remoteHead(aliceGit, sshUrl('cosmic-nova'));
    const releasesBefore = (await inject('GET', '/v1/vms/cosmic-nova/releases', alice)).body!.releases.length;
    const limit = Math.ceil(sizeBefore / MiB) + 1;
    const admin = { headers: api.auth };
    assert.equal((await inject('PATCH', '/v1/users/alice%40example.com/quota', admin, { repoMibPerApp: limit })).status, 200);
    // 3 MiB that do not compress: the pushed pack alone is over the limit.
    writeFileSync(join(work, 'blob.bin'), randomBytes(3 * MiB));
    const sha = await commit('a big file');
    for (const [how, url, client] of [['SSH', sshUrl('cosmic-nova'), aliceGit], ['HTTPS', `${daemonUrl.replace('http://', `http://x:${alice.token}@`)}/git/cosmic-nova.git`, aliceGit]] as const) {
      const r = await sh('git', ['-C', work, 'push', url, 'main'], client.env);
      assert.notEqual(r.code, 0, `${how}: the push must fail`);
      assert.match(r.stderr, new RegExp(`remote:  ! {5}Push refused: the repository of cosmic-nova would take \\d+ MiB, over your limit of ${limit} MiB \\(quota repoMibPerApp\\)\\. Nothing was deployed\\.`), `${how}: ${r.stderr}`);
      assert.match(r.stderr, /ask an admin to raise your quota \(fcm quota me\)/);
      assert.match(r.stderr, /\[remote rejected\] main -> main \(pre-receive hook declined\)/);
      assert.equal(await remoteHead(aliceGit, sshUrl('cosmic-nova')), headBefore, `${how}: the ref did not move`);
      assert.equal((await inject('GET', '/v1/vms/cosmic-nova/releases', alice)).body!.releases.length, releasesBefore, `${how}: no release`);
      assert.ok((await repos.size(vmId)) < sizeBefore + MiB, `${how}: the refused objects were not kept (quarantine dropped)`);
    }
    // Raised by the admin: the same push goes through.
    assert.equal((await inject('PATCH', '/v1/users/alice%40example.com/quota', admin, { reset: ['repoMibPerApp'] })).status, 200);
    const ok = await git(aliceGit, 'push', sshUrl('cosmic-nova'), 'main');
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(await remoteHead(aliceGit, sshUrl('cosmic-nova')), sha);
    assert.equal((await inject('GET', '/v1/users/me/quota', alice)).body!.usage.repoMibPerApp, Math.ceil((await repos.size(vmId)) / MiB));
  });

  test('deleting the VM removes its repository', async () => {
    const { existsSync } = await import('node:fs');
    const repo = join(base, 'state', 'git', 'repos', `${vmId}.git`);
    assert.ok(existsSync(repo));
    assert.equal((await inject('DELETE', '/v1/vms/cosmic-nova', alice)).status, 204);
    for (let i = 0; i < 100 && existsSync(repo); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(!existsSync(repo));
  });

  test('every call the daemon made to the guest agent is one rootfs/guest/agent-openapi.yaml allows', () => {
    assert.ok(agent.requests.some((r) => r.method === 'POST' && /^\/v1\/releases\/\d+$/.test(r.path)), 'pushes reached the agent');
    assert.deepEqual(agent.violations, []);
  });
});
