import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isFcmError } from '../../daemon/core/errors.js';
import { VmIdentityTaken } from '../../daemon/core/ports/vm-store.js';
import { parseSubnet } from '../../daemon/core/planners/network-plan.js';
import { parseSeed } from '../../daemon/core/planners/seed.js';
import { MemoryVmStore } from '../../daemon/drivers/memory/memory-store.js';
import { ALICE, BOB, DEFAULTS, ROOT, memoryService } from '../helpers/memory-service.js';
import { eventually } from '../helpers/wait.js';

const code = (c: string) => (e: unknown) => isFcmError(e) && e.code === c;

test('create → running → stop → start → delete, leaving nothing behind', async () => {
  const h = memoryService();
  const vm = await h.service.create(ALICE, { ...DEFAULTS, name: 'web' });
  assert.equal(vm.state, 'starting');
  assert.equal(vm.ip, '172.16.0.2');
  assert.ok(h.network.taps.has(vm.tap) && h.hypervisor.machines.has(vm.id) && h.disks.disks.has(vm.id));
  const running = await h.service.wait(ALICE, 'web', 'running', 1000);
  assert.equal(running.state, 'running');
  const stopped = await h.service.stop(ALICE, 'web', { timeoutMs: 1000, force: false });
  assert.equal(stopped.state, 'stopped');
  assert.equal(stopped.desired, 'stopped');
  assert.ok(!h.hypervisor.machines.has(vm.id) && !h.network.taps.has(vm.tap), 'stopped VM has no process or tap');
  assert.equal((await h.service.stop(ALICE, 'web', { timeoutMs: 1000, force: false })).state, 'stopped', 'stop is idempotent');
  await h.service.start(ALICE, 'web');
  await h.service.wait(ALICE, 'web', 'running', 1000);
  await h.service.delete(ALICE, 'web');
  assert.equal(h.service.list(ROOT).length, 0);
  assert.equal(h.hypervisor.machines.size + h.network.taps.size + h.disks.disks.size, 0);
  await assert.rejects(h.service.delete(ALICE, 'web'), code('vm_not_found'));
});

test('generated names are adjective-noun and unique; names collide clearly', async () => {
  const h = memoryService();
  const a = await h.service.create(ALICE, DEFAULTS);
  assert.match(a.name, /^[a-z]+-[a-z]+$/);
  await assert.rejects(h.service.create(BOB, { ...DEFAULTS, name: a.name }), code('name_taken'));
  assert.equal(h.service.list(ROOT).length, 1, 'the failed create left no row');
});

test('a failing step undoes every earlier step (all-or-nothing)', async () => {
  const h = memoryService();
  h.hypervisor.fail = 'start';
  await assert.rejects(h.service.create(ALICE, { ...DEFAULTS, name: 'boom' }), code('hypervisor_failed'));
  assert.equal(h.service.list(ROOT).length, 0);
  assert.equal(h.network.taps.size + h.disks.disks.size + h.hypervisor.machines.size, 0);
  h.disks.fail = 'create';
  await assert.rejects(h.service.create(ALICE, { ...DEFAULTS, name: 'boom' }), code('disk_full'));
  assert.equal(h.service.list(ROOT).length + h.network.taps.size + h.disks.disks.size, 0);
  await assert.rejects(h.service.create(ALICE, { ...DEFAULTS, image: 'nope' }), code('image_missing'));
  assert.equal(h.service.list(ROOT).length, 0);
});

test('a new id whose tap/MAC clashes with another VM (VmIdentityTaken from the store) is drawn again', async () => {
  const store = new MemoryVmStore(parseSubnet('172.16.0.0/24'));
  const tried: string[] = [];
  const insert = store.insert.bind(store);
  store.insert = (vm, plan) => {
    tried.push(vm.id);
    if (tried.length === 1) throw new VmIdentityTaken('tap');
    return insert(vm, plan);
  };
  const h = memoryService({ store });
  const vm = await h.service.create(ALICE, { ...DEFAULTS, name: 'lucky' });
  assert.equal(tried.length, 2);
  assert.notEqual(tried[0], tried[1]);
  assert.equal(vm.id, tried[1]);
});

test('10 concurrent creates get 10 distinct names and addresses', async () => {
  const h = memoryService();
  const vms = await Promise.all(Array.from({ length: 10 }, () => h.service.create(ALICE, DEFAULTS)));
  assert.equal(new Set(vms.map((v) => v.name)).size, 10);
  assert.equal(new Set(vms.map((v) => v.ip)).size, 10);
  assert.equal(new Set(vms.map((v) => v.mac)).size, 10);
  assert.equal(new Set(vms.map((v) => v.tap)).size, 10);
});

test('the address pool runs out cleanly and addresses are reused after delete', async () => {
  const h = memoryService({ subnet: '10.0.0.0/29' }); // slots 2..6
  for (let i = 0; i < 5; i++) await h.service.create(ALICE, { ...DEFAULTS, name: `vm${i}` });
  await assert.rejects(h.service.create(ALICE, { ...DEFAULTS, name: 'extra' }), code('ip_pool_exhausted'));
  assert.equal(h.service.list(ROOT).length, 5);
  assert.equal(h.disks.disks.size, 5, 'the refused create made no disk');
  await h.service.delete(ALICE, 'vm2');
  const again = await h.service.create(ALICE, { ...DEFAULTS, name: 'extra' });
  assert.equal(again.ip, '10.0.0.4');
});

test('users only see and touch their own VMs; admins see all', async () => {
  const h = memoryService();
  await h.service.create(ALICE, { ...DEFAULTS, name: 'alice-app' });
  await h.service.create(BOB, { ...DEFAULTS, name: 'bob-app' });
  assert.deepEqual(h.service.list(ALICE).map((v) => v.name), ['alice-app']);
  assert.equal(h.service.list(ROOT).length, 2);
  await assert.rejects(h.service.stop(BOB, 'alice-app', { timeoutMs: 0, force: true }), code('vm_not_found'));
  await assert.rejects(h.service.delete(BOB, 'alice-app'), code('vm_not_found'));
  assert.throws(() => h.service.get(BOB, 'alice-app'), code('vm_not_found'));
  await h.service.stop(ROOT, 'alice-app', { timeoutMs: 0, force: true });
});

test('wait: timeout → wait_timeout; a guest that never boots → failed (resources released)', async () => {
  const h = memoryService({ config: { bootTimeoutMs: 150 } });
  h.guest.never = true;
  const vm = await h.service.create(ALICE, { ...DEFAULTS, name: 'slow' });
  await assert.rejects(h.service.wait(ALICE, 'slow', 'running', 50), code('wait_timeout'));
  await assert.rejects(h.service.wait(ALICE, 'slow', 'running', 2000), code('vm_failed'));
  const failed = h.service.get(ALICE, 'slow');
  assert.equal(failed.state, 'failed');
  assert.match(failed.lastError ?? '', /did not answer/);
  assert.ok(!h.hypervisor.machines.has(vm.id) && !h.network.taps.has(vm.tap));
  h.guest.never = false;
  await h.service.start(ALICE, 'slow');
  assert.equal((await h.service.wait(ALICE, 'slow', 'running', 1000)).state, 'running', 'a failed VM can be started again');
});

test('invalid state transitions are refused with invalid_state', async () => {
  const h = memoryService();
  const vm = await h.service.create(ALICE, { ...DEFAULTS, name: 'x' });
  h.store.update(vm.id, { state: 'deleting' });
  await assert.rejects(h.service.start(ALICE, 'x'), code('invalid_state'));
  await assert.rejects(h.service.stop(ALICE, 'x', { timeoutMs: 0, force: false }), code('invalid_state'));
});

test('reconcile adopts running VMs, rolls back interrupted creates, finishes deletes, removes orphans', async () => {
  const h = memoryService();
  const keep = await h.service.create(ALICE, { ...DEFAULTS, name: 'keep' });
  await h.service.wait(ALICE, 'keep', 'running', 1000);
  const half = await h.service.create(ALICE, { ...DEFAULTS, name: 'half' });
  h.store.update(half.id, { state: 'creating' }); // daemon died mid-create
  const gone = await h.service.create(ALICE, { ...DEFAULTS, name: 'gone' });
  h.store.update(gone.id, { state: 'deleting' }); // daemon died mid-delete
  const dead = await h.service.create(ALICE, { ...DEFAULTS, name: 'dead' });
  h.hypervisor.crash(dead.id);
  await h.network.addTap({ slot: 99, ip: '172.16.0.99', prefix: 24, gateway: '172.16.0.1', mac: '02:fc:00:00:00:99', tap: 'fcm-0000000000' });
  await h.disks.create('vm_000000000000', { name: 'base', dir: '', kernelPath: '', initrdPath: null, rootfsPath: '' }, { diskMib: 1, swapMib: 0 }, Buffer.alloc(0));
  await h.service.close();

  const restarted = h.make();
  const r = await restarted.reconcile();
  assert.deepEqual(r, { adopted: 1, rolledBack: 1, restarted: 0, orphans: 2 });
  assert.deepEqual(restarted.list(ROOT).map((v) => [v.name, v.state]).sort(), [['dead', 'failed'], ['keep', 'running']]);
  assert.ok(h.hypervisor.machines.has(keep.id), 'the running VM was not touched');
  assert.equal(h.network.taps.size, 1);
  assert.deepEqual([...h.disks.disks.keys()].sort(), [dead.id, keep.id].sort());
  await restarted.close();
});

test('the monitor notices a dead hypervisor and restarts it per policy', async () => {
  const h = memoryService({ config: { restartPolicy: 'always' } });
  const vm = await h.service.create(ALICE, { ...DEFAULTS, name: 'phoenix' });
  await h.service.wait(ALICE, 'phoenix', 'running', 1000);
  const states: string[] = [];
  h.service.onChange(() => states.push(h.store.get(vm.id)!.state));
  h.guest.bootMs = 50;
  h.service.startMonitor();
  h.hypervisor.crash(vm.id);
  // Once the death is noticed the VM is not `running` until the new guest has booted.
  await eventually('the monitor notices the death', async () => states.length, (n) => n > 0, 5000, 5);
  assert.equal(states[0], 'starting', `states after the crash: ${states.join(' → ')}`);
  const back = await h.service.wait(ALICE, 'phoenix', 'running', 2000);
  assert.equal(back.state, 'running');
  assert.ok(h.hypervisor.machines.has(vm.id));
  await h.service.close();

  const n = memoryService({ config: { restartPolicy: 'never' } });
  const v2 = await n.service.create(ALICE, { ...DEFAULTS, name: 'once' });
  await n.service.wait(ALICE, 'once', 'running', 1000);
  n.service.startMonitor();
  n.hypervisor.crash(v2.id);
  await assert.rejects(n.service.wait(ALICE, 'once', 'stopped', 2000), code('vm_failed'));
  assert.ok(!n.network.taps.has(v2.tap), 'the dead VM released its tap');
  await n.service.close();
});

test('clock and ids are injected: the seed carries the daemon clock, VM ids come from the id source', async () => {
  let n = 0;
  const h = memoryService({ now: () => 1_800_000_000_000, newId: () => `vm_${String(++n).repeat(12)}` });
  const a = await h.service.create(ALICE, { ...DEFAULTS, name: 'first' });
  const b = await h.service.create(ALICE, { ...DEFAULTS, name: 'second' });
  assert.deepEqual([a.id, b.id], ['vm_111111111111', 'vm_222222222222']);
  assert.equal(parseSeed(h.disks.seeds.get(a.id)!).nowMs, 1_800_000_000_000);
  await h.service.close();
});

test('restart limit per window on the injected clock: the limit holds inside the window and frees up once it has passed', async () => {
  let clock = 1_800_000_000_000;
  const h = memoryService({ now: () => clock, config: { restartPolicy: 'always', maxRestarts: 2, restartWindowMs: 60_000 } });
  const vm = await h.service.create(ALICE, { ...DEFAULTS, name: 'window' });
  await h.service.wait(ALICE, 'window', 'running', 1000);
  h.service.startMonitor();
  const crashAndSettle = async () => {
    const before = h.store.get(vm.id)!.updatedAt;
    h.hypervisor.crash(vm.id);
    // Settled: restarted (running again with a new process) or failed.
    for (let i = 0; i < 1000; i++) {
      await new Promise((r) => setTimeout(r, 10));
      const cur = h.store.get(vm.id)!;
      if (cur.updatedAt !== before && (cur.state === 'failed' || (cur.state === 'running' && h.hypervisor.machines.has(vm.id)))) return cur.state;
    }
    return h.store.get(vm.id)!.state;
  };
  assert.equal(await crashAndSettle(), 'running', '1st death: restarted');
  clock += 30_000;
  assert.equal(await crashAndSettle(), 'running', '2nd death within the window: restarted');
  clock += 29_000;
  assert.equal(await crashAndSettle(), 'failed', '3rd death within 60 s of the first: the limit holds');
  clock += 2_000; // the 1st restart is now outside the window, the 2nd is not
  await h.service.start(ALICE, 'window');
  await h.service.wait(ALICE, 'window', 'running', 1000);
  assert.equal(await crashAndSettle(), 'running', 'one restart is free again');
  assert.equal(await crashAndSettle(), 'failed', 'and used up');
  await h.service.close();
});
