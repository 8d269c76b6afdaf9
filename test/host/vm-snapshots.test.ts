/**
 * Issue #16, named snapshots, for real: a running QEMU guest is snapshotted
 * (memory + disk of one instant, a short pause), changed, and rolled back —
 * a file written before the snapshot is back, one written after is gone, a
 * shell variable set before it is back; the disk snapshot is a qcow2
 * internal snapshot of the VM's root (copy-on-write); deleting the VM
 * deletes its snapshots. Bad input and other users get problem+json with a
 * stable code and change nothing. One guest for the whole file.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hashToken, newToken } from '../../daemon/core/tokens.js';
import { run } from '../../daemon/drivers/proc.js';
import { openDb } from '../../daemon/drivers/sqlite/db.js';
import { SqliteTokenStore } from '../../daemon/drivers/sqlite/sqlite-token-store.js';
import { SqliteUserStore } from '../../daemon/drivers/sqlite/sqlite-user-store.js';
import { ConsoleWs, runInConsole } from '../helpers/console-ws.js';
import { hostSkipReason, ROOT_DIR, startHostHarness, type HostHarness } from '../helpers/host-harness.js';

const skip = hostSkipReason();
const VM = 'snappy';

describe('snapshots of a real QEMU guest', { skip: skip ?? false }, () => {
  let h: HostHarness;
  let id: string;
  let bobToken: string;
  const inConsole = async (cmd: string) => {
    const c = await ConsoleWs.open(`${h.url}/v1/vms/${VM}/console`, { token: h.token, timeoutMs: 120_000 });
    try {
      c.send('\r');
      return (await runInConsole(c, cmd, 60_000)).replace(/\r/g, '').trim();
    } finally {
      c.close();
    }
  };
  const root = () => join(h.stateDir, 'disks', id, 'root.qcow2');
  /** The guest's last console lines and the daemon's last lines about it: what a failed restore explains itself with. */
  const why = () => {
    const tail = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8').slice(-2500) : '(none)');
    return `console:\n${tail(join(h.stateDir, 'run', id, 'console.log'))}\ndaemon:\n${tail(h.logPath)}`;
  };
  /** After a restore: running again, restored (not cold-booted by a restart). */
  const restoredAndRunning = async () => {
    const w = await h.api('GET', `/v1/vms/${VM}/wait?state=running&timeout=120`);
    assert.equal(w.body.state, 'running', why());
    assert.equal(w.body.lastError, null, why());
  };
  const diskTags = async () =>
    (await run('qemu-img', ['snapshot', '-l', '-U', root()])).stdout
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[1])
      .filter((t): t is string => Boolean(t?.startsWith('fcm-')));

  before(async () => {
    h = await startHostHarness({ env: { FCM_VM_SNAPSHOTS_MAX: '2', FCM_ALLOWED_EMAILS: 'bob@example.com' } });
    const c = await h.api('POST', '/v1/vms', { name: VM, memoryMib: 256, swapMib: 64 });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    id = c.body.id;
    assert.equal((await h.api('GET', `/v1/vms/${VM}/wait?state=running&timeout=300`)).status, 200);
    // A second user: a row and a token in the daemon's database (no identity provider in tests).
    const db = openDb(join(h.stateDir, 'fcm.db'));
    const user = new SqliteUserStore(db).upsert({ issuer: 'https://issuer.test', subject: 'bob', email: 'bob@example.com', name: 'Bob' }, new Date().toISOString());
    bobToken = newToken();
    new SqliteTokenStore(db).insert({ id: 'tok_b0b000000000', hash: hashToken(bobToken), userId: user.id, kind: 'user', description: 'test', createdAt: new Date().toISOString(), expiresAt: null });
    db.close();
  });
  after(async () => {
    await h?.close();
  });

  test('restore brings back a file written before the snapshot and removes one written after (memory too)', async () => {
    // Before: a file (not synced: it lives in the page cache, i.e. in the memory state) and a shell variable.
    assert.equal(await inConsole('SNAP_MEM=before-$((6*7)); echo kept > /root/before.txt; rm -f /root/after.txt; echo ok'), 'ok');
    const s = await h.api('POST', `/v1/vms/${VM}/snapshots`, { snapshot: 'one' });
    assert.equal(s.status, 201, JSON.stringify(s.body));
    assert.equal(s.body.snapshot, 'one');
    assert.equal(s.body.vm, VM);
    assert.ok(typeof s.body.pausedMs === 'number' && s.body.pausedMs > 0, `pausedMs ${s.body.pausedMs}`);
    assert.ok(s.body.stateBytes > 0 && s.body.sizeBytes > 0);
    assert.equal((await h.api('GET', `/v1/vms/${VM}`)).body.state, 'running', 'the VM ran on');
    assert.deepEqual(await diskTags(), ['fcm-one'], 'the root disk has the internal snapshot');
    // After: the guest changes its disk and its memory.
    assert.equal(await inConsole('SNAP_MEM=after; echo new > /root/after.txt; echo changed > /root/before.txt; sync; echo ok'), 'ok');
    const r = await h.api('POST', `/v1/vms/${VM}/snapshots/one/restore`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await restoredAndRunning();
    assert.equal(
      await inConsole('echo "$SNAP_MEM $(cat /root/before.txt) $(test -e /root/after.txt && echo after-exists || echo no-after)"'),
      'before-42 kept no-after',
    );
    assert.match(readFileSync(h.logPath, 'utf8'), /"vm":"snappy"[^\n]*"snapshot restored"/);
    // A snapshot can be restored again; it is still listed.
    const ls = await h.api('GET', `/v1/vms/${VM}/snapshots`);
    assert.equal(ls.status, 200);
    assert.deepEqual(ls.body.snapshots.map((x: { snapshot: string }) => x.snapshot), ['one']);
  });

  test('bad input and other users: problem+json with a stable code, nothing changes', async () => {
    const cases: [string, string, unknown, number, string][] = [
      ['POST', `/v1/vms/${VM}/snapshots`, { snapshot: 'Bad_Name' }, 400, 'validation_failed'],
      ['POST', `/v1/vms/${VM}/snapshots`, { snapshot: 'one' }, 409, 'name_taken'],
      ['POST', `/v1/vms/${VM}/snapshots`, { snapshot: 'x', extra: 1 }, 400, 'validation_failed'],
      ['POST', `/v1/vms/${VM}/snapshots/nope/restore`, undefined, 404, 'snapshot_not_found'],
      ['DELETE', `/v1/vms/${VM}/snapshots/nope`, undefined, 404, 'snapshot_not_found'],
      ['DELETE', `/v1/vms/${VM}/snapshots/-bad`, undefined, 400, 'validation_failed'],
      ['GET', '/v1/vms/nobody/snapshots', undefined, 404, 'vm_not_found'],
    ];
    for (const [method, path, body, status, code] of cases) {
      const r = await h.api(method, path, body);
      assert.deepEqual([r.status, r.body.code], [status, code], `${method} ${path} ${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
    }
    // Another user sees no such VM: cannot list, take, restore or delete its snapshots.
    for (const [method, path] of [
      ['GET', `/v1/vms/${VM}/snapshots`],
      ['POST', `/v1/vms/${VM}/snapshots`],
      ['POST', `/v1/vms/${VM}/snapshots/one/restore`],
      ['DELETE', `/v1/vms/${VM}/snapshots/one`],
    ] as const) {
      const r = await h.api(method, path, method === 'POST' && path.endsWith('snapshots') ? { snapshot: 'mine' } : undefined, bobToken);
      assert.deepEqual([r.status, r.body.code], [404, 'vm_not_found'], `bob ${method} ${path}`);
    }
    const ls = await h.api('GET', `/v1/vms/${VM}/snapshots`);
    assert.deepEqual(ls.body.snapshots.map((x: { snapshot: string }) => x.snapshot), ['one']);
    assert.deepEqual(await diskTags(), ['fcm-one']);
  });

  test('the CLI: create (default name), ls --json, the per-VM bound, rm; a stopped VM cannot be snapshotted but can be restored', async () => {
    const cli = (args: string[]) => run(process.execPath, [join(ROOT_DIR, 'dist/api/cli/main.js'), ...args], { env: { ...process.env, ...h.env }, timeoutMs: 300_000 });
    const made = JSON.parse((await cli(['snapshot', 'create', '-a', VM, '--json'])).stdout);
    assert.match(made.snapshot, /^snap-\d{8}-\d{6}$/);
    const listed = JSON.parse((await cli(['snapshot', 'ls', '-a', VM, '--json'])).stdout);
    assert.deepEqual(listed.snapshots.map((x: { snapshot: string }) => x.snapshot).sort(), ['one', made.snapshot].sort());
    // FCM_VM_SNAPSHOTS_MAX=2 here.
    const over = await h.api('POST', `/v1/vms/${VM}/snapshots`, { snapshot: 'three' });
    assert.equal(over.status, 429);
    assert.equal(over.body.code, 'quota_exceeded');
    assert.deepEqual(over.body.limit, { name: 'snapshotsPerVm', value: 2, usage: 2, requested: 1, unit: 'snapshots' });
    const rm = await cli(['snapshot', 'rm', '-a', VM, made.snapshot]);
    assert.match(rm.stdout, new RegExp(`Deleted snapshot ${made.snapshot}\\.`));
    assert.deepEqual(await diskTags(), ['fcm-one'], 'the disk snapshot went with it (through the running QEMU)');
    // Stopped: no snapshot (nothing runs), but a restore starts it from the snapshot.
    assert.equal((await h.api('POST', `/v1/vms/${VM}/stop`, { force: true })).body.state, 'stopped');
    const wrong = await h.api('POST', `/v1/vms/${VM}/snapshots`, { snapshot: 'cold' });
    assert.deepEqual([wrong.status, wrong.body.code], [409, 'invalid_state']);
    const restored = await cli(['snapshot', 'restore', '-a', VM, 'one', '--yes']);
    assert.match(restored.stdout, /snappy is back at snapshot one/);
    await restoredAndRunning();
    assert.equal(await inConsole('echo "$SNAP_MEM $(cat /root/before.txt)"'), 'before-42 kept');
    const help = (await cli(['snapshot', 'create', '--help'])).stdout;
    assert.match(help, /paused only while its used memory is written/);
  });

  test('deleting the VM deletes its snapshots (memory states and disk)', async () => {
    const dir = join(h.stateDir, 'disks', id);
    assert.ok(existsSync(join(dir, 'snapshots', 'one', 'state.bin')));
    assert.equal((await h.api('DELETE', `/v1/vms/${VM}`)).status, 204);
    assert.equal(existsSync(dir), false, 'the VM directory with its snapshots is gone');
    const gone = await h.api('GET', `/v1/vms/${VM}/snapshots`);
    assert.deepEqual([gone.status, gone.body.code], [404, 'vm_not_found']);
  });
});
