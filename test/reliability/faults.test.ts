/**
 * Faults against a real daemon with real QEMU guests and a real Caddy, in
 * the harness's namespace. After every fault the host must be consistent
 * (lib/host-checks.ts: each listed VM owns exactly what its state implies,
 * nothing exists for an unlisted one, Caddy routes = VMs).
 *
 * - kill -9 of the daemon in the middle of create (at each step: disk made,
 *   tap made, QEMU spawned; and at fixed delays) and of delete → the
 *   restarted daemon's reconcile leaves either the whole VM or nothing;
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

  for (const step of ['disk', 'tap', 'qemu'] as const) {
    test(`kill -9 the daemon during create, right after the ${step} step → after restart the VM is whole or gone`, async () => {
      const disksBefore = new Set(vmDirs(h, 'disks'));
      const pending = create(`mid-${step}`);
      const fired = await killWhen(h, async () => {
        if (step === 'disk') return vmDirs(h, 'disks').some((d) => !disksBefore.has(d));
        if (step === 'tap') return (await hostLeftovers(h)).taps.length > 0;
        return (await qemuByVm(h)).size > 0;
      });
      await pending;
      assert.ok(fired, `never saw the ${step} step`);
      await h.startDaemon();
      const vms = await assertConsistent(h, { context: `killed after ${step}` });
      // Whole (it got as far as "starting" before the kill) or rolled back; either way it can be deleted.
      for (const vm of vms) assert.equal((await h.api('DELETE', `/v1/vms/${vm.name}`)).status, 204);
      assert.deepEqual(await hostLeftovers(h), { taps: [], qemus: [], disks: [], runDirs: [] });
    });
  }

  test('kill -9 the daemon at fixed delays into a create → whole or gone, every time', async () => {
    for (const delayMs of [0, 40, 120, 400]) {
      const pending = create(`delay-${delayMs}`);
      await sleep(delayMs);
      await h.killDaemon('SIGKILL');
      await pending;
      await h.startDaemon();
      const vms = await assertConsistent(h, { context: `killed ${delayMs} ms into create` });
      for (const vm of vms) assert.equal((await h.api('DELETE', `/v1/vms/${vm.name}`)).status, 204);
    }
    assert.deepEqual(await hostLeftovers(h), { taps: [], qemus: [], disks: [], runDirs: [] });
  });

  test('kill -9 the daemon during delete (after the hypervisor is gone, and at once) → the delete completes on restart', async () => {
    for (const when of ['hypervisor-gone', 'at-once'] as const) {
      const c = await create(`del-${when}`);
      assert.equal(c.status, 201, JSON.stringify(c.body));
      const id = c.body.id as string;
      const pending = h.api('DELETE', `/v1/vms/del-${when}`).catch(() => null);
      if (when === 'at-once') {
        await sleep(5);
        await h.killDaemon('SIGKILL');
      } else {
        assert.ok(await killWhen(h, async () => !(await qemuByVm(h)).has(id)), 'QEMU never went away');
      }
      await pending;
      await h.startDaemon();
      const vms = await assertConsistent(h, { context: `killed during delete (${when})` });
      // At once may be before the delete was recorded: then the VM is intact and deletes normally.
      for (const vm of vms) assert.equal((await h.api('DELETE', `/v1/vms/${vm.name}`)).status, 204);
      assert.equal(vms.some((v) => v.state === 'deleting'), false);
    }
    assert.deepEqual(await hostLeftovers(h), { taps: [], qemus: [], disks: [], runDirs: [] });
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
