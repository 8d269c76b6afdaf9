/**
 * An in-flight push whose credentials are revoked is refused at the hook,
 * with the real git client, real sshd, git smart HTTP through `git
 * http-backend` and fcm's pre-receive hook (a fake guest agent stands in
 * for the VM, as in deploy-git.test.ts). A TCP relay between git and the
 * server holds the pack upload once it is under way — after fcm authorized
 * the push and git is receiving — while the test revokes the token (HTTPS)
 * or removes the key (SSH); then lets it finish.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, cpSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GuestAgentRuntime } from '../../daemon/drivers/guest-agent-runtime.js';
import { ROOT_DIR } from '../helpers/host-harness.js';
import { startFakeAgent, type FakeAgent } from '../helpers/fake-agent.js';
import { registerKey } from '../helpers/key-proof.js';
import { memoryApi } from '../helpers/memory-api.js';
import { onFreePort } from '../helpers/ports.js';
import { gitClient, gitTestBase, startSshd, type GitClient, type TestSshd } from '../helpers/sshd.js';

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

function sh(cmd: string, args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/**
 * A TCP relay that forwards everything, except that once a connection has sent
 * `holdAfter` bytes upstream it stops reading from the client until release().
 */
async function holdingRelay(target: { host: string; port: number }, holdAfter: number) {
  const sockets: Socket[] = [];
  let held: Socket | null = null;
  let onHeld: (() => void) | null = null;
  const server: Server = createServer((client) => {
    const up = connect(target.port, target.host);
    sockets.push(client, up);
    let sent = 0;
    client.on('data', (d) => {
      sent += d.length;
      up.write(d);
      if (sent >= holdAfter && !held) {
        held = client;
        client.pause();
        onHeld?.();
      }
    });
    client.on('end', () => up.end());
    up.pipe(client);
    const down = () => (client.destroy(), up.destroy());
    client.on('error', down);
    up.on('error', down);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    /** Resolves once an upload is being held. */
    held: () => new Promise<void>((r) => (held ? r() : (onHeld = r))),
    release: () => held?.resume(),
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

/** Until a `git receive-pack` on this repository runs (fcm has authorized the push and spawned git). */
async function receivePackRunning(repo: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        if (!argv.some((a) => a.endsWith('receive-pack'))) continue;
        // Over SSH the path is an argument; under http-backend git runs in the repository (`.`).
        if (argv.some((a) => a.includes(repo)) || readlinkSync(`/proc/${pid}/cwd`) === repo) return;
      } catch {
        /* gone */
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no git receive-pack for ${repo} within 30 s`);
}

const reason = skipReason();

describe('revocation reaches a push in flight: refused at the hook (real git, sshd, smart HTTP)', { skip: reason ?? false }, () => {
  let base: string;
  let agent: FakeAgent;
  let api: Awaited<ReturnType<typeof memoryApi>>;
  let sshd: TestSshd;
  let daemonUrl: string;
  let alice: ReturnType<Awaited<ReturnType<typeof memoryApi>>['loginAs']>;
  let aliceGit: GitClient;
  let work: string;
  let vmId: string;
  let repo: string;

  const git = (env: Record<string, string>, ...args: string[]) => sh('git', ['-C', work, ...args], env);
  const commitBig = async (msg: string) => {
    // Incompressible, so the pack is several MiB and the upload takes many packets.
    writeFileSync(join(work, `${msg}.bin`), randomBytes(4 * 1024 * 1024));
    await git(aliceGit.env, 'add', '-A');
    assert.equal((await git(aliceGit.env, 'commit', '-q', '-m', msg)).code, 0);
    return (await git(aliceGit.env, 'rev-parse', 'HEAD')).stdout.trim();
  };
  const remoteHead = async () => (await sh('git', ['ls-remote', `${daemonUrl.replace('://', `://git:${alice.token}@`)}/git/cosmic-nova.git`, 'refs/heads/main'], aliceGit.env)).stdout.split('\t')[0] ?? '';
  const builds = () => agent.requests.filter((q) => /^\/v1\/releases\/\d+$/.test(q.path)).length;

  before(async () => {
    base = await gitTestBase('fcm-e2e-revoke-');
    const token = (id: string) => `agent-token-${id}`;
    agent = await startFakeAgent({ token });
    const runtime = new GuestAgentRuntime({ port: 7611, tokenFor: token, baseUrl: (vm) => agent.baseUrlFor(vm) });
    api = await memoryApi({ git: { stateDir: join(base, 'state'), runtime } });
    daemonUrl = await api.app.listen({ host: '127.0.0.1', port: 0 });
    // sshd needs its port in its configuration: on a port taken meanwhile it starts again on another.
    sshd = await onFreePort((port) => startSshd({ dir: join(base, 'sshd'), listen: '127.0.0.1', port, keysCommand: api.deploys.doors!.paths.sshKeysCommand }));
    alice = api.loginAs('alice@example.com');
    aliceGit = await gitClient(join(base, 'clients'), 'alice', sshd.knownHostsLine);
    const vm = await api.app.inject({ method: 'POST', url: '/v1/vms', headers: alice.headers, payload: { name: 'cosmic-nova' } });
    vmId = vm.json().id;
    repo = join(base, 'state', 'git', 'repos', `${vmId}.git`);
    assert.equal((await api.app.inject({ url: '/v1/vms/cosmic-nova/wait?state=running&timeout=5', headers: alice.headers })).statusCode, 200);
    work = join(base, 'app');
    cpSync(join(ROOT_DIR, 'examples', 'python'), work, { recursive: true });
    await git(aliceGit.env, 'init', '-q', '-b', 'main');
    await git(aliceGit.env, 'add', '-A');
    await git(aliceGit.env, 'commit', '-q', '-m', 'first');
    // A first deploy, so the remote has a head to compare with.
    const first = await git(aliceGit.env, 'push', `${daemonUrl.replace('://', `://git:${alice.token}@`)}/git/cosmic-nova.git`, 'main');
    assert.equal(first.code, 0, first.stderr);
  });

  after(async () => {
    await sshd?.close();
    await api?.app.close();
    await api?.h.service.close();
    await agent?.close();
    if (base && !process.env.FCM_KEEP_TEST_STATE) rmSync(base, { recursive: true, force: true });
  });

  test('HTTPS: the token that authorized a push is revoked while the pack uploads → the hook refuses it, nothing deploys', async () => {
    const before = await remoteHead();
    const buildsBefore = builds();
    const t = api.loginAs('alice@example.com');
    const tokenId = (await api.app.inject({ url: '/v1/auth/whoami', headers: t.headers })).json().token.id;
    await commitBig('during-revocation');
    const relay = await holdingRelay({ host: '127.0.0.1', port: Number(new URL(daemonUrl).port) }, 512 * 1024);
    try {
      const pushing = git(aliceGit.env, 'push', `http://git:${t.token}@127.0.0.1:${relay.port}/git/cosmic-nova.git`, 'main');
      await relay.held();
      await receivePackRunning(repo);
      assert.equal((await api.app.inject({ method: 'DELETE', url: `/v1/tokens/${tokenId}`, headers: alice.headers })).statusCode, 204);
      relay.release();
      const r = await pushing;
      assert.notEqual(r.code, 0, 'the push must fail');
      assert.match(r.stderr, /revoked meanwhile/);
      assert.match(r.stderr, /pre-receive hook declined/);
    } finally {
      await relay.close();
    }
    assert.equal(await remoteHead(), before, 'the ref did not move');
    assert.equal(builds(), buildsBefore, 'nothing was sent to the guest');
    // Control: the same push with a standing token deploys.
    const ok = await git(aliceGit.env, 'push', `${daemonUrl.replace('://', `://git:${alice.token}@`)}/git/cosmic-nova.git`, 'main');
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(builds(), buildsBefore + 1);
  });

  test('SSH: the key that authorized a push is removed while the pack uploads → the hook refuses it', async () => {
    const added = await registerKey(api.app, alice.headers, aliceGit);
    assert.equal(added.status, 201, JSON.stringify(added.body));
    const before = await remoteHead();
    const buildsBefore = builds();
    await commitBig('during-key-removal');
    const relay = await holdingRelay({ host: '127.0.0.1', port: sshd.port }, 512 * 1024);
    // Through the relay's port, but checking sshd's own host key.
    const env = { ...aliceGit.env, GIT_SSH_COMMAND: `${aliceGit.env.GIT_SSH_COMMAND} -o HostKeyAlias=[127.0.0.1]:${sshd.port}` };
    try {
      const pushing = git(env, 'push', `ssh://root@127.0.0.1:${relay.port}/cosmic-nova.git`, 'main');
      await relay.held();
      await receivePackRunning(repo);
      assert.equal((await api.app.inject({ method: 'DELETE', url: `/v1/keys/${added.body.id}`, headers: alice.headers })).statusCode, 204);
      relay.release();
      const r = await pushing;
      assert.notEqual(r.code, 0, 'the push must fail');
      assert.match(r.stderr, /revoked meanwhile/);
    } finally {
      await relay.close();
    }
    assert.equal(await remoteHead(), before);
    assert.equal(builds(), buildsBefore);
  });
});
