/**
 * Faults against a real daemon with real QEMU guests and a real Caddy, in
 * the harness's namespace. After every fault the host must be consistent
 * (lib/host-checks.ts: each listed VM owns exactly what its state implies,
 * nothing exists for an unlisted one, Caddy routes = VMs).
 *
 * - kill -9 of the daemon in the middle of create (at each step: disk made,
 *   tap made, QEMU spawned; and at points spread through a create's measured
 *   duration) and of delete → the restarted daemon's reconcile leaves either
 *   the whole VM or nothing. Every kill is checked to have landed mid-create
 *   (the killed daemon's database still says `creating`; a kill that came
 *   before or after is retried, never counted);
 * - the hypervisor (QEMU) killed → the VM is `failed` with its process, tap
 *   and nft chain released (FCM_RESTART_POLICY=never), or restarted, up to
 *   the limit, then failed (=always);
 * - a real ENOSPC (a tiny tmpfs mounted on the disks dir) during create →
 *   507 disk_full, nothing left; create works again once there is space;
 * - Caddy down while VMs are created and deleted and the daemon restarts →
 *   the API keeps serving, and the routes match the VMs when Caddy is back.
 * IP pool exhaustion and a hypervisor that fails to start are covered in
 * test/host/vm-lifecycle.test.ts; Caddy restarting empty in
 * test/host/https-routes.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { isFcmError } from '../../daemon/core/errors.js';
import { CowDisks } from '../../daemon/drivers/cow-disks.js';
import { run } from '../../daemon/drivers/proc.js';
import { hostLeftovers, hostSkipReason, startHostHarness, type HostHarness } from '../helpers/host-harness.js';
import { assertConsistent, caddyRoutes, eventually, listVms, qemuByVm, settledQemu } from './lib/host-checks.js';

const skip = hostSkipReason();
const SMALL = { memoryMib: 192, swapMib: 0 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls (every ~10 ms) until `probe` is true, then SIGKILLs the daemon; returns whether the probe fired. */
async function killWhen(h: HostHarness, probe: () => Promise<boolean> | boolean, withinMs = 15_000): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    if (await probe()) {
      await h.killDaemon('SIGKILL');
      return true;
    }
    await sleep(10);
  }
  await h.killDaemon('SIGKILL');
  return false;
}

/** The VM's row as the killed daemon left it (no daemon runs, so nothing changes it): 'creating' = killed mid-create. */
function rowState(h: HostHarness, name: string): string | null {
  const db = new Database(join(h.stateDir, 'fcm.db'));
  try {
    return (db.prepare('SELECT state FROM vms WHERE name = ?').get(name) as { state: string } | undefined)?.state ?? null;
  } finally {
    db.close();
  }
}

/** What a create had made when it was killed (for the test's account of where each kill landed). */
async function madeSoFar(h: HostHarness): Promise<string> {
  const left = await hostLeftovers(h);
  return `disks ${left.disks.length}, taps ${left.taps.length}, qemus ${left.qemus.length}`;
}

const vmDirs = (h: HostHarness, sub: string) => {
  try {
    return readdirSync(join(h.stateDir, sub)).filter((n) => n.startsWith('vm_'));
  } catch {
    return [];
  }
};

describe('faults: daemon crashes, hypervisor deaths, full disk, Caddy down (real QEMU, real Caddy)', { skip: skip ?? false }, () => {
  let h: HostHarness;
  before(async () => {
    h = await startHostHarness({
      caddy: true,
      env: { FCM_RESTART_POLICY: 'never', FCM_MONITOR_INTERVAL_MS: '200', FCM_MIN_FREE_DISK_MIB: '0' },
    });
  });
  after(async () => {
    await h?.close();
  });

  const create = (name: string) => h.api('POST', '/v1/vms', { name, ...SMALL }).catch((e: Error) => ({ status: 0, body: e.message }));

  /**
   * Starts a create, kills the daemon with `kill`, restarts it and checks the host is consistent
   * (the VM whole or gone, and deletable). Returns where the kill landed: `row` is the state the
   * killed daemon's database had for the VM (null: the create had not begun; 'creating': mid-create).
   */
  const killDuringCreate = async (name: string, kill: () => Promise<void>, context: string) => {
    const pending = create(name);
    await kill();
    const answer = await pending;
    const row = rowState(h, name);
    const made = await madeSoFar(h);
    await h.startDaemon();
    const vms = await assertConsistent(h, { context: `${context} (row ${row}, answer ${answer.status}, ${made})` });
    // Whole (it got as far as "starting" before the kill) or rolled back; either way it can be deleted.
    for (const vm of vms) assert.equal((await h.api('DELETE', `/v1/vms/${vm.name}`)).status, 204);
    assert.deepEqual(await hostLeftovers(h), { taps: [], qemus: [], disks: [], runDirs: [] });
    if (row === 'creating') assert.equal(answer.status, 0, 'a create killed mid-way was never answered');
    return { row, answered: answer.status, made };
  };
  /** Attempts before a kill point that never lands mid-create fails the test (it would test nothing). */
  const ATTEMPTS = 6;

  for (const step of ['disk', 'tap', 'qemu'] as const) {
    test(`kill -9 the daemon during create, right after the ${step} step → after restart the VM is whole or gone`, async (t) => {
      for (let attempt = 1; ; attempt++) {
        const disksBefore = new Set(vmDirs(h, 'disks'));
        let fired = false;
        const r = await killDuringCreate(`mid-${step}-${attempt}`, async () => {
          fired = await killWhen(h, async () => {
            if (step === 'disk') return vmDirs(h, 'disks').some((d) => !disksBefore.has(d));
            if (step === 'tap') return (await hostLeftovers(h)).taps.length > 0;
            return (await qemuByVm(h)).size > 0;
          });
        }, `killed after ${step}`);
        assert.ok(fired, `never saw the ${step} step`);
        if (r.row === 'creating') {
          t.diagnostic(`landed mid-create on attempt ${attempt}: ${r.made}`);
          break;
        }
        // The step was seen, but the create finished before the kill took effect: not the case under test.
        assert.ok(attempt < ATTEMPTS, `the kill after the ${step} step never landed before the create finished (last: row ${r.row}, answer ${r.answered})`);
      }
    });
  }

  test('kill -9 the daemon at points spread through a create (each landing mid-create) → whole or gone, every time', async (t) => {
    // Kill points are fractions of how long a create takes here and now (request → 201), so they fall
    // inside a create on a quiet machine and a loaded one alike; each is checked to have landed there.
    const t0 = Date.now();
    const measured = await create('delay-measure');
    const createMs = Date.now() - t0;
    assert.equal(measured.status, 201, JSON.stringify(measured.body));
    assert.equal((await h.api('DELETE', '/v1/vms/delay-measure')).status, 204);
    const landed: string[] = [];
    for (const fraction of [0.1, 0.3, 0.5, 0.7, 0.9]) {
      let delayMs = Math.round(fraction * createMs);
      for (let attempt = 1; ; attempt++) {
        const r = await killDuringCreate(`delay-${fraction * 100}-${attempt}`, async () => {
          await sleep(delayMs);
          await h.killDaemon('SIGKILL');
        }, `killed ${delayMs} ms into create`);
        if (r.row === 'creating') {
          landed.push(`${delayMs} ms (${r.made})`);
          break;
        }
        assert.ok(attempt < ATTEMPTS, `no kill near ${fraction} of a create landed mid-create (last: ${delayMs} ms, row ${r.row}, answer ${r.answered})`);
        // Not begun yet → later; already finished → earlier.
        delayMs = r.row === null ? delayMs + Math.max(10, Math.round(0.1 * createMs)) : Math.round(delayMs * 0.6);
      }
    }
    t.diagnostic(`a create took ${createMs} ms; killed mid-create at ${landed.join(', ')}`);
  });

  test('kill -9 the daemon during delete (once it is recorded, and after the hypervisor is gone) → the delete completes on restart', async (t) => {
    for (const when of ['recorded', 'hypervisor-gone'] as const) {
      for (let attempt = 1; ; attempt++) {
        const name = `del-${when}-${attempt}`;
        const c = await create(name);
        assert.equal(c.status, 201, JSON.stringify(c.body));
        const id = c.body.id as string;
        const pending = h.api('DELETE', `/v1/vms/${name}`).catch(() => null);
        const fired = await killWhen(h, async () => (when === 'recorded' ? rowState(h, name) === 'deleting' : !(await qemuByVm(h)).has(id)));
        assert.ok(fired, when === 'recorded' ? 'the delete was never recorded' : 'QEMU never went away');
        await pending;
        // Mid-delete: the killed daemon's database still has the row, marked deleting.
        const row = rowState(h, name);
        await h.startDaemon();
        const vms = await assertConsistent(h, { context: `killed during delete (${when}, row ${row})` });
        assert.equal(vms.some((v) => v.name === name), false, 'the interrupted delete completed on restart');
        assert.deepEqual(await hostLeftovers(h), { taps: [], qemus: [], disks: [], runDirs: [] });
        if (row === 'deleting') {
          t.diagnostic(`${when}: landed mid-delete on attempt ${attempt}`);
          break;
        }
        assert.ok(attempt < ATTEMPTS, `the kill (${when}) never landed before the delete finished`);
      }
    }
  });

  test('QEMU killed (SIGKILL) under a running VM, restart policy "never" → failed, process/tap/chain released, disk kept; start recovers it', async () => {
    const c = await create('victim');
    assert.equal(c.status, 201);
    assert.equal((await h.api('GET', '/v1/vms/victim/wait?state=running&timeout=300')).status, 200);
    const pid = (await qemuByVm(h)).get(c.body.id)!;
    process.kill(pid, 'SIGKILL');
    const failed = await eventually('VM marked failed', () => h.api('GET', '/v1/vms/victim'), (r) => r.body.state === 'failed', 15_000);
    assert.match(failed.body.lastError, /hypervisor process exited/);
    await assertConsistent(h, { context: 'after QEMU was killed' });
    // A waiter for "running" is told at once.
    const w = await h.api('GET', '/v1/vms/victim/wait?state=running&timeout=5');
    assert.equal(w.body.code, 'vm_failed');
    assert.equal((await h.api('POST', '/v1/vms/victim/start')).status, 200);
    assert.equal((await h.api('GET', '/v1/vms/victim/wait?state=running&timeout=300')).status, 200);
    await assertConsistent(h, { context: 'after start' });
    assert.equal((await h.api('DELETE', '/v1/vms/victim')).status, 204);
  });

  test('disk full (real ENOSPC: a 128 KiB tmpfs on the disks dir) during create → 507 disk_full and nothing left; works again with space', async (t) => {
    const disks = join(h.stateDir, 'disks');
    mkdirSync(disks, { recursive: true, mode: 0o700 });
    assert.deepEqual(vmDirs(h, 'disks'), [], 'no VM disks before mounting over the dir');
    await run('mount', ['-t', 'tmpfs', '-o', 'size=128k,mode=0700', 'fcm-test-full', disks]);
    t.after(async () => {
      await run('umount', [disks]).catch(() => {});
    });
    await h.restartDaemon(); // the daemon's mount namespace is a copy: it sees the tmpfs from its next start
    const r = await create('no-room');
    assert.equal(r.status, 507, JSON.stringify(r.body));
    assert.equal(r.body.code, 'disk_full');
    assert.deepEqual(await listVms(h), []);
    assert.deepEqual(await hostLeftovers(h), { taps: [], qemus: [], disks: [], runDirs: [] });

    await run('mount', ['-o', 'remount,size=64m', disks]);
    const ok = await create('room-now');
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    await assertConsistent(h, { context: 'after space came back' });
    assert.equal((await h.api('DELETE', '/v1/vms/room-now')).status, 204);

    // The driver on a full disk when a VM (re)starts and its seed must be written: disk_full too, not an opaque error.
    const full = new CowDisks({ dir: disks, format: 'qcow2', minFreeMib: 0 });
    mkdirSync(join(disks, 'vm_00000000000f'), { mode: 0o700 });
    await run('mount', ['-o', 'remount,size=128k', disks]);
    let filled = 0;
    try {
      for (;; filled++) writeFileSync(join(disks, 'vm_00000000000f', `fill-${filled}`), Buffer.alloc(4096));
    } catch {
      /* full */
    }
    await assert.rejects(full.prepare('vm_00000000000f', 0, Buffer.alloc(4096, 1)), (e) => isFcmError(e, 'disk_full'));
    await full.remove('vm_00000000000f');
    await run('umount', [disks]);
    await h.restartDaemon();
    await assertConsistent(h, { context: 'after unmounting' });
  });

  test('Caddy down: the API keeps serving, VMs are created and deleted, the daemon restarts; the routes follow when Caddy is back', async () => {
    for (const name of ['keep-a', 'gone-b']) assert.equal((await create(name)).status, 201);
    await eventually('routes for both VMs', () => caddyRoutes(h), (r) => JSON.stringify(r) === JSON.stringify(['vm-gone-b', 'vm-keep-a']));
    await h.caddy.kill();
    await eventually('health notices', () => h.api('GET', '/v1/health', undefined, null), (r) => r.body.checks.caddy.ok === false, 15_000);
    assert.equal((await create('born-c')).status, 201, 'create works without Caddy');
    assert.equal((await h.api('DELETE', '/v1/vms/gone-b')).status, 204, 'delete works without Caddy');
    await h.restartDaemon();
    const health = await h.api('GET', '/v1/health', undefined, null);
    assert.equal(health.status, 200, 'the daemon starts without Caddy');
    assert.equal(health.body.status, 'degraded');
    await h.caddy.start();
    await eventually('routes = VMs once Caddy is back', () => caddyRoutes(h), (r) => JSON.stringify(r) === JSON.stringify(['vm-born-c', 'vm-keep-a']), 20_000);
    await eventually('health ok again', () => h.api('GET', '/v1/health', undefined, null), (r) => r.body.checks.caddy.ok === true, 15_000);
    await assertConsistent(h, { caddy: true, context: 'Caddy back' });
    for (const vm of await listVms(h)) assert.equal((await h.api('DELETE', `/v1/vms/${vm.name}`)).status, 204);
    await eventually('no routes left', () => caddyRoutes(h), (r) => JSON.stringify(r) === '[]');
  });
});

describe('restart policy "always": a killed hypervisor is restarted, up to the limit', { skip: skip ?? false }, () => {
  let h: HostHarness;
  before(async () => {
    h = await startHostHarness({ env: { FCM_RESTART_POLICY: 'always', FCM_RESTART_MAX: '2', FCM_MONITOR_INTERVAL_MS: '200' } });
  });
  after(async () => {
    await h?.close();
  });

  test('kill QEMU → back to running with a new process; the 3rd kill within the window (FCM_RESTART_MAX=2) → failed, resources released', async () => {
    const c = await h.api('POST', '/v1/vms', { name: 'phoenix', ...SMALL });
    assert.equal(c.status, 201);
    assert.equal((await h.api('GET', '/v1/vms/phoenix/wait?state=running&timeout=300')).status, 200);
    const id = c.body.id as string;
    let killed: number = (await eventually('QEMU settled', () => settledQemu(h, id), (p) => p !== undefined, 30_000))!;
    process.kill(killed, 'SIGKILL');
    await eventually('a new QEMU', async () => (await qemuByVm(h)).get(id), (p) => p !== undefined && p !== killed, 15_000);
    // The restart is recorded once the new process runs; then the guest boots again.
    await eventually('restart recorded', () => h.api('GET', '/v1/vms/phoenix'), (r) => /restarted automatically/.test(r.body.lastError ?? ''), 15_000);
    const back = await h.api('GET', '/v1/vms/phoenix/wait?state=running&timeout=300');
    assert.equal(back.status, 200, JSON.stringify(back.body));
    await assertConsistent(h, { context: 'after the automatic restart' });
    // One more restart is allowed (FCM_RESTART_MAX=2 per window); the next death leaves it failed.
    for (let i = 0; i < 2; i++) {
      // Kill the machine only once its start has finished (until the daemon has written its
      // pidfile, killing QEMU kills a start in progress, which is a failed start, not a death
      // the policy restarts).
      const last = killed;
      killed = (await eventually(`QEMU ${i + 2} settled`, () => settledQemu(h, id), (p) => p !== undefined && p !== last, 30_000))!;
      process.kill(killed, 'SIGKILL');
    }
    const failed = await eventually('failed after the limit', () => h.api('GET', '/v1/vms/phoenix'), (r) => r.body.state === 'failed', 15_000);
    assert.match(failed.body.lastError, /hypervisor process exited/);
    await assertConsistent(h, { context: 'failed after the restart limit' });
    assert.equal((await h.api('DELETE', '/v1/vms/phoenix')).status, 204);
    assert.deepEqual(await hostLeftovers(h), { taps: [], qemus: [], disks: [], runDirs: [] });
  });
});
