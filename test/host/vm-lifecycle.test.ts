/**
 * The foundation's "done means", against a real daemon booting real QEMU
 * guests from the built base image, inside a network namespace.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hostLeftovers, hostSkipReason, startHostHarness, type HostHarness } from '../helpers/host-harness.js';

const skip = hostSkipReason();
const SMALL = { memoryMib: 256, swapMib: 64 };

async function waitRunning(h: HostHarness, name: string, timeoutS = 240) {
  const r = await h.api('GET', `/v1/vms/${name}/wait?state=running&timeout=${timeoutS}`);
  assert.equal(r.status, 200, `${name} did not reach running: ${JSON.stringify(r.body)}`);
  return r.body;
}

/** GET from the namespace host over the tap; retries while the guest's web process is still starting. */
async function httpFromNs(h: HostHarness, url: string, withinMs = 30_000): Promise<string> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      return (await h.exec('curl', ['-sS', '--fail', '--max-time', '10', url])).stdout;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

describe('VM lifecycle on a real hypervisor', { skip: skip ?? false }, () => {
  let h: HostHarness;
  before(async () => {
    // 10 guests at once: more vCPUs than the default admission (8 per host CPU) allows on a 1-core machine.
    h = await startHostHarness({ env: { FCM_CPU_OVERCOMMIT: '16' } });
  });
  after(async () => {
    await h?.close();
  });

  test('health reports QEMU and the accelerator in use', async () => {
    const r = await h.api('GET', '/v1/health', undefined, null);
    assert.equal(r.status, 200);
    assert.equal(r.body.hypervisor, 'qemu');
    assert.ok(['kvm', 'tcg'].includes(r.body.accel));
    assert.equal(r.body.checks.image.ok, true);
  });

  test('a VM booted from the base image serves TCP over its tap; stop → start → delete leaves nothing', async () => {
    const c = await h.api('POST', '/v1/vms', { name: 'lifecycle', ...SMALL });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    assert.equal(c.body.state, 'starting');
    const vm = await waitRunning(h, 'lifecycle');
    assert.equal(vm.ip, '172.16.0.2');

    // Real packets: the namespace host reaches the guest's placeholder web server on port 8000 and its agent.
    const page = await httpFromNs(h, `http://${vm.ip}:8000/`);
    assert.match(page, /lifecycle/);
    const health = JSON.parse(await httpFromNs(h, `http://${vm.ip}:7611/health`));
    assert.equal(health.vmId, vm.id);
    assert.equal(health.hostname, 'lifecycle');

    const stopped = await h.api('POST', '/v1/vms/lifecycle/stop', { timeoutMs: 30_000 });
    assert.equal(stopped.status, 200);
    assert.equal(stopped.body.state, 'stopped');
    let left = await hostLeftovers(h);
    assert.deepEqual(left.taps, [], 'a stopped VM has no tap');
    assert.deepEqual(left.qemus, [], 'a stopped VM has no process');
    assert.deepEqual(left.disks, [vm.id], 'a stopped VM keeps its disk');

    const started = await h.api('POST', '/v1/vms/lifecycle/start');
    assert.equal(started.status, 200);
    await waitRunning(h, 'lifecycle');
    assert.match(await httpFromNs(h, `http://${vm.ip}:8000/`), /lifecycle/);

    assert.equal((await h.api('DELETE', '/v1/vms/lifecycle')).status, 204);
    left = await hostLeftovers(h);
    assert.deepEqual(left, { taps: [], qemus: [], disks: [], runDirs: [] });
    assert.equal((await h.api('GET', '/v1/vms/lifecycle')).body.code, 'vm_not_found');
    // The address lease is gone too: the next VM gets the same first address.
    const again = await h.api('POST', '/v1/vms', { name: 'reuse', ...SMALL });
    assert.equal(again.body.ip, '172.16.0.2');
    assert.equal((await h.api('DELETE', '/v1/vms/reuse')).status, 204);
  });

  test('kill -9 the daemon with 2 VMs running: both survive and stay managed', async () => {
    for (const name of ['survivor-a', 'survivor-b']) assert.equal((await h.api('POST', '/v1/vms', { name, ...SMALL })).status, 201);
    const a = await waitRunning(h, 'survivor-a');
    const b = await waitRunning(h, 'survivor-b');
    const before = await hostLeftovers(h);
    assert.equal(before.qemus.length, 2);

    await h.restartDaemon({ kill9: true });

    const after = await hostLeftovers(h);
    assert.deepEqual(after.qemus.sort(), before.qemus.sort(), 'the same QEMU processes are still running');
    const list = await h.api('GET', '/v1/vms');
    assert.deepEqual(list.body.vms.map((v: { name: string; state: string }) => [v.name, v.state]), [['survivor-a', 'running'], ['survivor-b', 'running']]);
    assert.match(await httpFromNs(h, `http://${a.ip}:8000/`), /survivor-a/);
    assert.match(await httpFromNs(h, `http://${b.ip}:8000/`), /survivor-b/);

    // Still managed: stop and delete work through the new daemon.
    assert.equal((await h.api('POST', '/v1/vms/survivor-a/stop', { timeoutMs: 30_000 })).body.state, 'stopped');
    assert.equal((await h.api('DELETE', '/v1/vms/survivor-a')).status, 204);
    assert.equal((await h.api('DELETE', '/v1/vms/survivor-b')).status, 204);
    assert.deepEqual(await hostLeftovers(h), { taps: [], qemus: [], disks: [], runDirs: [] });
  });

  test('10 concurrent creates → 10 distinct names and IPs, all running', async () => {
    const created = await Promise.all(Array.from({ length: 10 }, () => h.api('POST', '/v1/vms', { memoryMib: 192, swapMib: 0 })));
    for (const c of created) assert.equal(c.status, 201, JSON.stringify(c.body));
    const names = created.map((c) => c.body.name as string);
    assert.equal(new Set(names).size, 10);
    assert.equal(new Set(created.map((c) => c.body.ip)).size, 10);
    const running = await Promise.all(names.map((n) => waitRunning(h, n, 480)));
    assert.ok(running.every((v) => v.state === 'running'));
    const left = await hostLeftovers(h);
    assert.equal(left.taps.length, 10);
    assert.equal(left.qemus.length, 10);
    await Promise.all(names.map((n) => h.api('DELETE', `/v1/vms/${n}`)));
    assert.deepEqual(await hostLeftovers(h), { taps: [], qemus: [], disks: [], runDirs: [] });
  });

  test('bad input → its problem code, and nothing is left behind', async () => {
    assert.equal((await h.api('POST', '/v1/vms', { name: 'keeper', ...SMALL })).status, 201);
    const cases: [unknown, number, string][] = [
      [{ name: 'Not_Valid' }, 400, 'validation_failed'],
      [{ memoryMib: 1 }, 400, 'validation_failed'],
      [{ diskMib: 10 }, 400, 'validation_failed'],
      [{ vcpus: 99 }, 400, 'validation_failed'],
      [{ name: 'keeper' }, 409, 'name_taken'],
      [{ image: 'nonexistent' }, 422, 'image_missing'],
    ];
    for (const [body, status, code] of cases) {
      const r = await h.api('POST', '/v1/vms', body);
      assert.equal(r.status, status, `${JSON.stringify(body)} → ${JSON.stringify(r.body)}`);
      assert.equal(r.body.code, code);
    }
    assert.equal((await h.api('GET', '/v1/vms/ghost')).body.code, 'vm_not_found');
    assert.equal((await h.api('POST', '/v1/vms/ghost/stop')).body.code, 'vm_not_found');
    // Wrong state: waiting for "stopped" on a running VM times out; stopping twice is fine.
    const w = await h.api('GET', '/v1/vms/keeper/wait?state=stopped&timeout=1');
    assert.equal(w.status, 408);
    assert.equal(w.body.code, 'wait_timeout');
    const left = await hostLeftovers(h);
    assert.equal(left.taps.length, 1);
    assert.equal(left.disks.length, 1);
    assert.equal((await h.api('GET', '/v1/vms')).body.vms.length, 1);
    await h.api('DELETE', '/v1/vms/keeper');
  });
});

describe('failures that need a differently configured daemon', { skip: skip ?? false }, () => {
  test('IP pool exhausted → ip_pool_exhausted; nothing half-made', async () => {
    const h = await startHostHarness({ env: { FCM_SUBNET: '172.16.9.0/30' } }); // exactly one guest address
    try {
      const first = await h.api('POST', '/v1/vms', { name: 'only', ...SMALL });
      assert.equal(first.status, 201);
      const second = await h.api('POST', '/v1/vms', { name: 'one-too-many', ...SMALL });
      assert.equal(second.status, 503);
      assert.equal(second.body.code, 'ip_pool_exhausted');
      const left = await hostLeftovers(h);
      assert.equal(left.disks.length, 1);
      assert.equal(left.taps.length, 1);
    } finally {
      await h.close();
    }
  });

  test('a host too small for one more VM → insufficient_capacity before anything is made (admin too); a stopped VM cannot start into taken memory', async () => {
    // A 1536 MiB host with 512 MiB reserved for the host: 1024 MiB for guests.
    const h = await startHostHarness({ env: { FCM_HOST_MEMORY_MIB: '1536', FCM_MEMORY_RESERVE_MIB: '512' } });
    try {
      const first = await h.api('POST', '/v1/vms', { name: 'fits', memoryMib: 768, swapMib: 0 });
      assert.equal(first.status, 201, JSON.stringify(first.body));
      const before = await hostLeftovers(h);
      const second = await h.api('POST', '/v1/vms', { name: 'too-big', memoryMib: 512, swapMib: 0 });
      assert.equal(second.status, 503);
      assert.equal(second.body.code, 'insufficient_capacity');
      assert.deepEqual(second.body.limit, { name: 'memoryMib', value: 1024, usage: 768, requested: 512, unit: 'MiB' });
      assert.deepEqual(await hostLeftovers(h), before, 'no disk, tap or process for the refused create');
      assert.deepEqual((await h.api('GET', '/v1/vms')).body.vms.map((v: { name: string }) => v.name), ['fits']);
      // Stopped, its memory is free for another VM; then it cannot start until that one is gone.
      assert.equal((await h.api('POST', '/v1/vms/fits/stop', { force: true })).body.state, 'stopped');
      assert.equal((await h.api('POST', '/v1/vms', { name: 'small', memoryMib: 512, swapMib: 0 })).status, 201);
      const start = await h.api('POST', '/v1/vms/fits/start');
      assert.deepEqual([start.status, start.body.code, start.body.limit?.usage], [503, 'insufficient_capacity', 512]);
      assert.equal((await h.api('GET', '/v1/vms/fits')).body.state, 'stopped');
    } finally {
      await h.close();
    }
  });

  test('the hypervisor fails to start → hypervisor_failed; no tap, disk, process or row remains', async () => {
    const h = await startHostHarness({ env: { FCM_QEMU_BINARY: '/bin/false', FCM_ACCEL: 'tcg' } });
    try {
      const r = await h.api('POST', '/v1/vms', { name: 'doomed', ...SMALL });
      assert.equal(r.status, 502, JSON.stringify(r.body));
      assert.equal(r.body.code, 'hypervisor_failed');
      assert.deepEqual(await hostLeftovers(h), { taps: [], qemus: [], disks: [], runDirs: [] });
      assert.equal((await h.api('GET', '/v1/vms')).body.vms.length, 0);
    } finally {
      await h.close();
    }
  });
});
