/**
 * `fcm run` end to end: the built CLI against a real daemon and a real QEMU
 * guest in the harness's network namespace, through the runCommand
 * WebSocket and the guest agent's execCommand (rootfs/guest/oneoff.py).
 * One VM for the file; the stopped-VM case comes last.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hashToken, newToken } from '../../daemon/core/tokens.js';
import { openDb } from '../../daemon/drivers/sqlite/db.js';
import { SqliteTokenStore } from '../../daemon/drivers/sqlite/sqlite-token-store.js';
import { SqliteUserStore } from '../../daemon/drivers/sqlite/sqlite-user-store.js';
import { BIN, ensureBuilt, fcm, tempDir } from '../e2e/cli-run.js';
import { hostSkipReason, startHostHarness, type HostHarness } from '../helpers/host-harness.js';

const skip = hostSkipReason();
const VM = 'oneoff';

interface BinRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

describe('fcm run: one-off commands in a real VM', { skip: skip ?? false }, () => {
  let h: HostHarness;
  let bobToken = '';
  const dir = tempDir('fcm-run-');
  const run = (args: string[], o: { input?: string; env?: Record<string, string> } = {}) =>
    fcm(['run', '-a', VM, ...args], { cwd: dir, env: { ...h.env, ...o.env }, timeoutMs: 180_000, ...(o.input !== undefined ? { input: o.input } : {}) });

  /** The CLI with binary stdin and stdout; `started` is called with the child once it runs. */
  const runBin = (args: string[], input: Buffer | null, started?: (child: ReturnType<typeof spawn>) => void) =>
    new Promise<BinRun>((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, 'run', '-a', VM, ...args], { cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, ...h.env }, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      let err = '';
      child.stdout!.on('data', (c: Buffer) => out.push(c));
      child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
      if (input) child.stdin!.end(input);
      const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
      child.once('error', reject);
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout: Buffer.concat(out), stderr: err });
      });
      started?.(child);
    });

  before(async () => {
    ensureBuilt();
    h = await startHostHarness({ env: { FCM_ALLOWED_EMAILS: 'bob@example.com' } });
    const db = openDb(join(h.stateDir, 'fcm.db'));
    try {
      const bob = new SqliteUserStore(db).upsert({ issuer: 'https://issuer.test', subject: 'bob', email: 'bob@example.com', name: 'Bob' }, new Date().toISOString());
      bobToken = newToken();
      new SqliteTokenStore(db).insert({ id: 'tok_bob000000000', hash: hashToken(bobToken), userId: bob.id, kind: 'user', description: 'test', createdAt: new Date().toISOString(), expiresAt: null });
    } finally {
      db.close();
    }
    const c = await h.api('POST', '/v1/vms', { name: VM, memoryMib: 256, swapMib: 64 });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    const w = await h.api('GET', `/v1/vms/${VM}/wait?state=running&timeout=240`);
    assert.equal(w.status, 200, JSON.stringify(w.body));
  });
  after(async () => {
    await h?.close();
  });

  test("the command's exit code becomes fcm's: sh -c 'exit 7' → 7; a signal → 128+N", async () => {
    const r = await run(['--', 'sh', '-c', 'exit 7']);
    assert.equal(r.code, 7, r.stderr);
    assert.equal(r.stdout, '');
    const ok = await run(['--', 'true']);
    assert.equal(ok.code, 0, ok.stderr);
    const killed = await run(['--', 'sh', '-c', 'kill -TERM $$']);
    assert.equal(killed.code, 128 + 15, killed.stderr);
    const missing = await run(['--', 'no-such-program']);
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /cannot run no-such-program: No such file or directory/);
  });

  test("stdin is piped through and its end reaches the command: printf 'a\\nb\\n' | fcm run -- wc -l → 2", async () => {
    const r = await run(['--', 'wc', '-l'], { input: 'a\nb\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '2');
  });

  test('stdout and stderr stay apart; flags after -- belong to the command', async () => {
    const r = await run(['--', 'sh', '-c', 'echo out; echo err >&2; echo "$@"', 'sh', '-a', '--timeout', 'x']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'out\n-a --timeout x\n');
    assert.equal(r.stderr, 'err\n');
  });

  test('config vars set with fcm env set are visible, with PORT, as the app user', async () => {
    const set = await fcm(['env', 'set', '-a', VM, 'GREETING=hej från fcm'], { cwd: dir, env: h.env, timeoutMs: 120_000 });
    assert.equal(set.code, 0, set.stderr);
    const r = await run(['--', 'sh', '-c', 'echo "$GREETING"; echo "$PORT"; echo "$DYNO"; id -un; id -u']);
    assert.equal(r.code, 0, r.stderr);
    const [greeting, port, dyno, user, uid] = r.stdout.trim().split('\n');
    assert.deepEqual([greeting, port, dyno, user], ['hej från fcm', '8000', 'run.1', 'app']);
    assert.notEqual(uid, '0', 'not root');
  });

  test("a one-off gets a randomized address layout, though the agent that starts it runs without (guest/tcg-layout under TCG)", async () => {
    const r = await run(['--', 'cat', '/proc/self/personality']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^[0-9a-f]{8}\n$/);
    assert.equal(Number.parseInt(r.stdout, 16) & 0x0040000, 0, `ADDR_NO_RANDOMIZE set: ${r.stdout}`);
  });

  test('a few MiB arrive intact both ways (sha256)', async () => {
    // out: the guest writes 3 MiB of random bytes, says their checksum on stderr, then sends them
    const out = await runBin(['--', 'sh', '-c', 'head -c 3145728 /dev/urandom > /tmp/big && sha256sum /tmp/big | cut -d" " -f1 >&2 && cat /tmp/big && rm /tmp/big'], null);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout.length, 3 * 1024 * 1024);
    assert.equal(createHash('sha256').update(out.stdout).digest('hex'), out.stderr.trim());
    // in: 4 MiB on stdin, the guest answers their checksum and length
    const data = randomBytes(4 * 1024 * 1024);
    const back = await runBin(['--', 'sh', '-c', 'tee /tmp/in | sha256sum | cut -d" " -f1; wc -c < /tmp/in; rm /tmp/in'], data);
    assert.equal(back.code, 0, back.stderr);
    assert.deepEqual(back.stdout.toString().trim().split('\n'), [createHash('sha256').update(data).digest('hex'), String(data.length)]);
  });

  test('a dropped client (fcm killed with SIGKILL) kills the command in the VM', async () => {
    const marker = `run-${randomBytes(4).toString('hex')}`;
    let child: ReturnType<typeof spawn> | null = null;
    const dropped = runBin(['--', 'sh', '-c', `echo $$ > /tmp/${marker}; echo started; exec sleep 1000`], null, (c) => (child = c));
    // stdin stays open (no EOF): the command runs until the connection goes
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('the command did not start')), 120_000);
      child!.stdout!.on('data', (c: Buffer) => {
        if (c.toString().includes('started')) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    const alive = await run(['--', 'sh', '-c', `kill -0 $(cat /tmp/${marker}) && echo alive`]);
    assert.equal(alive.stdout, 'alive\n', alive.stderr);
    child!.kill('SIGKILL');
    assert.equal((await dropped).signal, 'SIGKILL');
    // The daemon sees the WebSocket end, closes the agent's connection, and the agent kills the group
    // (SIGHUP, SIGKILL 2 s later): poll until the process is gone.
    let state = '';
    for (let i = 0; i < 60 && state !== 'gone'; i++) {
      const r = await run(['--', 'sh', '-c', `kill -0 $(cat /tmp/${marker}) 2>/dev/null && echo alive || echo gone`]);
      state = r.stdout.trim();
      if (state !== 'gone') await new Promise((res) => setTimeout(res, 500));
    }
    assert.equal(state, 'gone', 'the command was killed when its client went away');
  });

  test("another user cannot run in your VM: 404 vm_not_found, as JSON under --json; no token: 401", async () => {
    const bob = await run(['--json', '--', 'true'], { env: { FCM_TOKEN: bobToken } });
    assert.equal(bob.code, 1, bob.stderr);
    assert.equal(JSON.parse(bob.stderr).code, 'vm_not_found', bob.stderr);
    const plain = await run(['--', 'true'], { env: { FCM_TOKEN: bobToken } });
    assert.match(plain.stderr, /vm_not_found/);
    const anon = await h.api('GET', `/v1/vms/${VM}/run?argv=true`, undefined, null);
    assert.deepEqual([anon.status, anon.body.code], [401, 'unauthorized']);
  });

  test('bad input is a problem with a stable code before any upgrade', async () => {
    const none = await h.api('GET', `/v1/vms/${VM}/run`);
    assert.deepEqual([none.status, none.body.code], [400, 'validation_failed']);
    const empty = await h.api('GET', `/v1/vms/${VM}/run?argv=`);
    assert.deepEqual([empty.status, empty.body.code], [400, 'validation_failed']);
    const long = await h.api('GET', `/v1/vms/${VM}/run?${Array.from({ length: 5 }, () => `argv=${'x'.repeat(2000)}`).join('&')}`);
    assert.deepEqual([long.status, long.body.code], [400, 'validation_failed']);
    assert.match(long.body.detail, /at most 8192/);
    const plainGet = await h.api('GET', `/v1/vms/${VM}/run?argv=true`);
    assert.deepEqual([plainGet.status, plainGet.body.code], [400, 'validation_failed'], 'a GET without Upgrade is told what the endpoint is');
  });

  test('a stopped VM: a clear error that says how to start it', async () => {
    const stop = await h.api('POST', `/v1/vms/${VM}/stop`, { timeoutMs: 30_000 });
    assert.equal(stop.status, 200, JSON.stringify(stop.body));
    const r = await run(['--', 'true']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /invalid_state/);
    assert.match(r.stderr, /VM "oneoff" is stopped; fcm run needs it running: start it with fcm start oneoff\./);
    const j = await run(['--json', '--', 'true']);
    assert.equal(JSON.parse(j.stderr).code, 'invalid_state', j.stderr);
  });
});
