/**
 * Sleep and wake on the in-memory twins (issue #16): the state machine, what
 * a sleeping VM holds (no process, no tap, no host capacity), wake by start /
 * by request / for a console, the cold-boot fallback, and reconcile. The real
 * path (QEMU, Caddy) is test/host/sleep.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isFcmError } from '../../daemon/core/errors.js';
import { SLEEP_SAVE } from '../../daemon/core/vm-lifecycle.js';
import { ALICE, BOB, DEFAULTS, ROOT, memoryService } from '../helpers/memory-service.js';

const code = (c: string) => (e: unknown) => isFcmError(e) && e.code === c;

async function runningVm(h: ReturnType<typeof memoryService>, name: string) {
  await h.service.create(ALICE, { ...DEFAULTS, name });
  return h.service.wait(ALICE, name, 'running', 1000);
}

test('sleep saves the machine and frees it; start restores that very machine and it runs again', async () => {
  const h = memoryService({ sleep: true, host: { memoryMib: 1024, vcpus: 8 } });
  const vm = await runningVm(h, 'dozy');
  const launched = h.hypervisor.machines.get(vm.id)!;
  const asleep = await h.service.sleep(ALICE, 'dozy');
  assert.equal(asleep.state, 'sleeping');
  assert.ok(!h.hypervisor.machines.has(vm.id), 'no process');
  assert.ok(!h.network.taps.has(vm.tap), 'no tap');
  assert.ok(h.disks.disks.has(vm.id), 'the disks stay');
  assert.deepEqual((await h.saved.open(vm.id, SLEEP_SAVE))?.meta.spec, launched, 'the save names the machine as it was launched');
  assert.equal((await h.service.sleep(ALICE, 'dozy')).state, 'sleeping', 'sleeping a sleeping VM changes nothing');
  // Its memory is free: the host (1 GiB) takes another VM of 1 GiB now.
  await h.service.create(BOB, { ...DEFAULTS, name: 'other' });
  await h.service.delete(BOB, 'other');

  const woken = await h.service.start(ALICE, 'dozy');
  assert.equal(woken.state, 'starting');
  assert.equal(woken.lastError, null);
  assert.deepEqual(h.snapshotter.restores.at(-1), { vmId: vm.id, spec: launched }, 'restored, not booted');
  assert.ok(!h.snapshotter.paused.has(vm.id), 'and resumed');
  assert.ok(h.network.taps.has(vm.tap), 'its tap is back');
  assert.equal(await h.saved.open(vm.id, SLEEP_SAVE), null, 'a used save is dropped (the disk has moved on)');
  assert.equal((await h.service.wait(ALICE, 'dozy', 'running', 1000)).state, 'running');
});

test('waking is admitted like a start: a host that filled up meanwhile refuses with insufficient_capacity, and the VM sleeps on', async () => {
  const h = memoryService({ sleep: true, host: { memoryMib: 1024, vcpus: 8 } });
  const vm = await runningVm(h, 'dozy');
  await h.service.sleep(ALICE, 'dozy');
  await h.service.create(BOB, { ...DEFAULTS, name: 'taker' });
  await assert.rejects(h.service.start(ALICE, 'dozy'), code('insufficient_capacity'));
  assert.equal(h.service.get(ALICE, 'dozy').state, 'sleeping');
  assert.ok(await h.saved.open(vm.id, SLEEP_SAVE), 'the save is kept');
});

test('a save that fails leaves the guest running, resumed, with no save behind', async () => {
  const h = memoryService({ sleep: true });
  const vm = await runningVm(h, 'dozy');
  h.snapshotter.failSave = true;
  await assert.rejects(h.service.sleep(ALICE, 'dozy'), code('hypervisor_failed'));
  assert.equal(h.service.get(ALICE, 'dozy').state, 'running');
  assert.ok(h.hypervisor.machines.has(vm.id) && !h.snapshotter.paused.has(vm.id), 'still running, not paused');
  assert.equal(await h.saved.open(vm.id, SLEEP_SAVE), null);
});

test('a save that cannot be restored (missing, corrupt, or the VM was resized asleep) → cold boot, and lastError says why', async () => {
  const h = memoryService({ sleep: true });
  const vm = await runningVm(h, 'dozy');
  await h.service.sleep(ALICE, 'dozy');
  h.snapshotter.failRestore = true;
  const woken = await h.service.start(ALICE, 'dozy');
  assert.match(woken.lastError ?? '', /^woke by a cold boot: restoring its saved state failed \(injected restore failure\)/);
  assert.ok(h.hypervisor.machines.has(vm.id), 'booted');
  assert.equal(h.snapshotter.restores.length, 0);
  await h.service.wait(ALICE, 'dozy', 'running', 1000);

  h.snapshotter.failRestore = false;
  await h.service.sleep(ALICE, 'dozy');
  await h.saved.remove(vm.id, SLEEP_SAVE);
  assert.match((await h.service.start(ALICE, 'dozy')).lastError ?? '', /cold boot: its saved state is missing/);
  await h.service.wait(ALICE, 'dozy', 'running', 1000);

  await h.service.sleep(ALICE, 'dozy');
  await h.service.update(ALICE, 'dozy', { memoryMib: 512 }, { timeoutMs: 0, force: true });
  assert.equal(h.service.get(ALICE, 'dozy').state, 'sleeping', 'a resize does not wake it');
  const resized = await h.service.start(ALICE, 'dozy');
  assert.match(resized.lastError ?? '', /cold boot: it was resized while asleep/);
  assert.equal(h.hypervisor.machines.get(vm.id)?.memoryMib, 512);
});

test('only a running VM can fall asleep; a hypervisor without snapshots answers not_implemented', async () => {
  const h = memoryService({ sleep: true });
  await runningVm(h, 'dozy');
  await h.service.stop(ALICE, 'dozy', { timeoutMs: 0, force: true });
  await assert.rejects(h.service.sleep(ALICE, 'dozy'), code('invalid_state'));
  await assert.rejects(h.service.sleep(BOB, 'dozy'), code('vm_not_found'), "another user's VM does not exist for them");
  const plain = memoryService();
  await runningVm(plain, 'dozy');
  await assert.rejects(plain.service.sleep(ALICE, 'dozy'), code('not_implemented'));
  assert.equal(plain.service.get(ALICE, 'dozy').state, 'running');
});

test('stop drops the saved memory; delete of a sleeping VM leaves nothing', async () => {
  const h = memoryService({ sleep: true });
  const a = await runningVm(h, 'a');
  const b = await runningVm(h, 'b');
  await h.service.sleep(ALICE, 'a');
  await h.service.sleep(ALICE, 'b');
  assert.equal((await h.service.stop(ALICE, 'a', { timeoutMs: 0, force: false })).state, 'stopped');
  assert.equal(await h.saved.open(a.id, SLEEP_SAVE), null);
  await h.service.start(ALICE, 'a');
  assert.equal(h.snapshotter.restores.length, 0, 'a stopped VM boots');
  await h.service.delete(ALICE, 'b');
  assert.equal(await h.saved.open(b.id, SLEEP_SAVE), null);
  assert.ok(!h.disks.disks.has(b.id) && !h.network.taps.has(b.tap) && !h.hypervisor.machines.has(b.id));
});

test('concurrent requests for a sleeping VM share one wake and all see it running', async () => {
  const h = memoryService({ sleep: true });
  h.guest.bootMs = 30;
  await runningVm(h, 'dozy');
  await h.service.sleep(ALICE, 'dozy');
  const ac = new AbortController();
  const all = await Promise.all(Array.from({ length: 20 }, () => h.service.awakeForRequest('dozy', 1000, ac.signal)));
  assert.ok(all.every((v) => v.state === 'running'));
  assert.equal(h.snapshotter.restores.length, 1, 'one restore for all of them');
  await assert.rejects(h.service.awakeForRequest('nobody', 1000, ac.signal), code('vm_not_found'));
  // A console or deploy wakes it the same way, for its owner only.
  await h.service.sleep(ALICE, 'dozy');
  await assert.rejects(h.service.awake(BOB, 'dozy', 1000), code('vm_not_found'));
  assert.equal((await h.service.awake(ALICE, 'dozy', 1000)).state, 'running');
  assert.equal(h.snapshotter.restores.length, 2);
});

test('a request arriving while the VM falls asleep waits for the save, then wakes it', async () => {
  const h = memoryService({ sleep: true });
  await runningVm(h, 'dozy');
  const sleeping = h.service.sleep(ALICE, 'dozy');
  const request = h.service.awakeForRequest('dozy', 1000, new AbortController().signal);
  assert.equal((await sleeping).state, 'sleeping');
  assert.equal((await request).state, 'running');
  assert.equal(h.snapshotter.restores.length, 1);
});

test('reconcile: a sleeping VM stays asleep with no tap; a sleep cut short by the daemon dying resumes the paused guest', async () => {
  const h = memoryService({ sleep: true });
  const a = await runningVm(h, 'a');
  const b = await runningVm(h, 'b');
  await h.service.sleep(ALICE, 'a');
  // b: the daemon died after pausing the guest, before the process ended.
  h.snapshotter.paused.add(b.id);
  h.store.update(b.id, { state: 'sleeping' });
  await h.service.close();
  const again = h.make();
  await again.reconcile();
  assert.equal(again.get(ALICE, 'a').state, 'sleeping');
  assert.ok(!h.hypervisor.machines.has(a.id) && !h.network.taps.has(a.tap));
  assert.ok(await h.saved.open(a.id, SLEEP_SAVE), 'its save survives the restart');
  assert.ok(!h.snapshotter.paused.has(b.id), 'b resumed');
  assert.equal((await again.wait(ALICE, 'b', 'running', 1000)).state, 'running');
  assert.deepEqual(again.counts(), { total: 2, running: 1, sleeping: 1 });
  assert.equal(again.list(ROOT).length, 2);
  await again.close();
});

test('a woken guest gets the host clock before it counts as running; a cold boot is left alone; a guest that cannot still runs', async () => {
  const h = memoryService({ sleep: true });
  const vm = await runningVm(h, 'dozy');
  assert.deepEqual(h.guest.clockSets, [], 'a cold boot keeps the clock it booted with');
  await h.service.sleep(ALICE, 'dozy');
  h.guest.clockOffsetMs.set(vm.id, -90_000); // asleep for 90 s: the restored guest lags by that
  const before = Date.now();
  await h.service.start(ALICE, 'dozy');
  const running = await h.service.wait(ALICE, 'dozy', 'running', 1000);
  assert.equal(running.state, 'running');
  assert.equal(h.guest.clockSets.length, 1, 'set once');
  const set = (h.guest.clockSets as { vmId: string; epochMs: number }[])[0]!;
  assert.equal(set.vmId, vm.id);
  assert.ok(set.epochMs >= before && set.epochMs <= Date.now(), 'to the host clock');
  assert.ok(Math.abs(h.guest.clockOffsetMs.get(vm.id)!) < 1000);

  // An image whose agent has no clock route: the VM still wakes and runs.
  await h.service.sleep(ALICE, 'dozy');
  h.guest.failClock = true;
  await h.service.start(ALICE, 'dozy');
  assert.equal((await h.service.wait(ALICE, 'dozy', 'running', 1000)).state, 'running');
  // A wake that fell back to a cold boot does not need it.
  h.guest.failClock = false;
  await h.service.sleep(ALICE, 'dozy');
  h.snapshotter.failRestore = true;
  await h.service.start(ALICE, 'dozy');
  await h.service.wait(ALICE, 'dozy', 'running', 1000);
  assert.equal(h.guest.clockSets.length, 1, 'no clock set after a cold boot');
});
