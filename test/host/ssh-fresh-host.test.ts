/**
 * A host where sshd never ran gets working git pushes over SSH from
 * daemon/ssh-setup.sh (what daemon/host-setup.sh runs): no /run/sshd (which
 * made `sshd -t` fail, and set-up then removed its own sshd snippet).
 *
 * test/host/fixtures/fresh-sshd-host.sh runs in a private mount namespace: an
 * empty /run, a copy of this machine's /etc/ssh (fresh host keys, no fcm
 * snippet) mounted over /etc/ssh — the real ones are never touched — then the
 * set-up script, then the host's own sshd with the configuration set-up left
 * (on a loopback port). The fcm side is the daemon's HTTP layer with its real
 * git doors (key helper, forced command, pre-receive hook) and a fake guest
 * agent (as in test/e2e/deploy-git.test.ts); the client is real ssh and git.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, chownSync, constants, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GuestAgentRuntime } from '../../daemon/drivers/guest-agent-runtime.js';
import { ensureGitUser } from '../../daemon/drivers/git/git-user.js';
import { run } from '../../daemon/drivers/proc.js';
import { ROOT_DIR } from '../helpers/host-harness.js';
import { startFakeAgent, type FakeAgent } from '../helpers/fake-agent.js';
import { registerKey } from '../helpers/key-proof.js';
import { memoryApi } from '../helpers/memory-api.js';
import { onFreePort, serverReady } from '../helpers/ports.js';
import { gitClient, type GitClient } from '../helpers/sshd.js';

function skipReason(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (mount namespace, sshd)';
  for (const bin of ['/usr/bin/unshare', '/usr/sbin/sshd', '/usr/bin/ssh', '/usr/bin/ssh-keygen', '/usr/bin/git']) {
    try {
      accessSync(bin, constants.X_OK);
    } catch {
      return `needs ${bin} (apt-get install util-linux openssh-server openssh-client git)`;
    }
  }
  return null;
}

const sh = (cmd: string, args: string[], env: Record<string, string>): Promise<{ code: number; stderr: string }> =>
  new Promise((resolve) =>
    execFile(cmd, args, { env, timeout: 120_000 }, (err, _out, stderr) =>
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stderr: String(stderr) }),
    ),
  );

describe('a host where sshd never ran: set-up keeps its sshd snippet and git push over SSH works', { skip: skipReason() ?? false, timeout: 5 * 60_000 }, () => {
  let base: string;
  let etcDir: string;
  let agent: FakeAgent;
  let api: Awaited<ReturnType<typeof memoryApi>>;
  let sshd: ChildProcess;
  let log = '';
  let port: number;
  let client: GitClient;

  before(async () => {
    // sshd runs the AuthorizedKeysCommand only from root-owned directories nobody else can write
    // (not /tmp); /run is replaced inside the namespace, so not there either.
    base = mkdtempSync('/var/lib/fcm-ssh-fresh-');
    const gitUser = await ensureGitUser('fcm-git');
    chownSync(base, 0, gitUser.gid);
    chmodSync(base, 0o710);
    const state = join(base, 'state');
    const token = (id: string) => `agent-token-${id}`;
    agent = await startFakeAgent({ token });
    const runtime = new GuestAgentRuntime({ port: 7611, tokenFor: token, baseUrl: (vm) => agent.baseUrlFor(vm) });
    api = await memoryApi({ git: { stateDir: state, runtime } });
    await api.app.listen({ host: '127.0.0.1', port: 0 });
    assert.equal(api.deploys.doors!.paths.sshKeysCommand, join(state, 'git', 'bin', 'fcm-ssh-keys'), 'the path ssh-setup.sh writes into the snippet');

    // sshd needs its port on its command line: on a port taken meanwhile the fresh host starts again
    // (from a fresh /etc/ssh copy) on another.
    await onFreePort(async (p) => {
      // This machine's /etc/ssh without its host keys or an fcm snippet, with fresh host keys (ssh-keygen -A under a prefix).
      const prefix = mkdtempSync('/tmp/fcm-fresh-etc-');
      etcDir = join(prefix, 'etc', 'ssh');
      mkdirSync(join(prefix, 'etc'), { mode: 0o755 });
      cpSync('/etc/ssh', etcDir, { recursive: true, filter: (src) => !basename(src).startsWith('ssh_host_') && src !== '/etc/ssh/sshd_config.d/fcm.conf' });
      await run('ssh-keygen', ['-A', '-f', prefix]);
      assert.ok(!existsSync(join(etcDir, 'sshd_config.d', 'fcm.conf')));

      log = '';
      const child = spawn('unshare', ['--mount', '--propagation', 'private', 'bash', join(ROOT_DIR, 'test', 'host', 'fixtures', 'fresh-sshd-host.sh'), ROOT_DIR, etcDir, String(p)], {
        env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', FCM_STATE_DIR: state, FCM_GIT_USER: 'fcm-git' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      child.stderr!.on('data', (d) => (log += d));
      try {
        // The set-up's end, then sshd's own word that it listens (a connect could reach whatever else holds the port).
        await serverReady(child, "the fresh host's sshd", () => log, new RegExp(`FRESH-HOST: set-up done[\\s\\S]*Server listening on 127\\.0\\.0\\.1 port ${p}\\.`), 60_000);
      } catch (e) {
        rmSync(prefix, { recursive: true, force: true });
        throw e;
      }
      sshd = child;
      port = p;
    });
    const hostKey = readFileSync(join(etcDir, 'ssh_host_ed25519_key.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ');
    client = await gitClient(join(base, 'client'), 'alice', `[127.0.0.1]:${port} ${hostKey}`);
  });

  after(async () => {
    if (sshd && sshd.exitCode === null && sshd.signalCode === null) {
      const exited = new Promise((r) => sshd.once('exit', r));
      sshd.kill('SIGTERM');
      await exited;
    }
    await api?.app.close();
    await api?.h.service.close();
    await agent?.close();
    if (etcDir) rmSync(join(etcDir, '..', '..'), { recursive: true, force: true });
    if (base) rmSync(base, { recursive: true, force: true });
  });

  test('set-up started without /run/sshd and kept its snippet (sshd -t passed)', () => {
    assert.doesNotMatch(log, /FRESH-HOST: \/run\/sshd exists/);
    assert.doesNotMatch(log, /sshd rejected/, log);
    const snippet = readFileSync(join(etcDir, 'sshd_config.d', 'fcm.conf'), 'utf8');
    assert.match(snippet, new RegExp(`^Match User root\\n {4}AuthorizedKeysCommand ${join(base, 'state', 'git', 'bin', 'fcm-ssh-keys')} %u %f\\n {4}AuthorizedKeysCommandUser fcm-git$`, 'm'));
  });

  test('a key added with its proof, then git push over SSH to that sshd deploys', async () => {
    const alice = api.loginAs('alice@example.com');
    assert.equal((await registerKey(api.app, alice.headers, client)).status, 201);
    const vm = await api.app.inject({ method: 'POST', url: '/v1/vms', headers: alice.headers, payload: { name: 'fresh-app' } });
    assert.equal(vm.statusCode, 201, vm.body);
    assert.equal((await api.app.inject({ method: 'GET', url: '/v1/vms/fresh-app/wait?state=running&timeout=5', headers: alice.headers })).statusCode, 200);
    const work = join(base, 'app');
    cpSync(join(ROOT_DIR, 'examples', 'python'), work, { recursive: true });
    for (const args of [['init', '-q', '-b', 'main'], ['add', '-A'], ['commit', '-q', '-m', 'first']]) {
      const r = await sh('git', ['-C', work, ...args], client.env);
      assert.equal(r.code, 0, r.stderr);
    }
    const push = await sh('git', ['-C', work, 'push', `ssh://root@127.0.0.1:${port}/fresh-app.git`, 'main'], client.env);
    assert.equal(push.code, 0, `${push.stderr}\n--- sshd:\n${log}`);
    assert.match(push.stderr, /remote: -----> Deploy successful!/);
    assert.match(log, /Accepted publickey for root from 127\.0\.0\.1/, 'the fresh host\'s sshd took the key fcm returned');
  });
});
