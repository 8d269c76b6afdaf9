/**
 * Named snapshots on the in-memory twins (issue #16): the rules of
 * VmSnapshots — what a snapshot may be taken of, the per-VM bound, names,
 * all-or-nothing create, restore (memory + disk), delete through the running
 * hypervisor or the files, ownership, deleting a VM. The real path (QEMU,
 * qcow2) is test/host/vm-snapshots.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isFcmError } from '../../daemon/core/errors.js';
import { SLEEP_SAVE } from '../../daemon/core/vm-lifecycle.js';
import { defaultSnapshotName } from '../../daemon/core/vm-snapshots.js';
import { ALICE, BOB, DEFAULTS, ROOT, memoryService } from '../helpers/memory-service.js';

const code = (c: string) => (e: unknown) => isFcmError(e) && e.code === c;

async function runningVm(h: ReturnType<typeof memoryService>, name: string) {
  await h.service.create(ALICE, { ...DEFAULTS, name });
  return h.service.wait(ALICE, name, 'running', 1000);
}

test('a snapshot of a running VM; restore brings back its machine and its disk, and it runs again', async () => {
  const h = memoryService({ snapshots: {} });
  const vm = await runningVm(h, 'app');
  const launched = h.hypervisor.machines.get(vm.id)!;
  h.snapshotFiles.disk.set(vm.id, 'before');
  const s = await h.service.createSnapshot(ALICE, 'app', 'one');
  assert.deepEqual({ ...s, createdAt: typeof s.createdAt }, { name: 'one', vm: 'app', createdAt: 'string', pausedMs: 12.5, stateBytes: 4096, sizeBytes: 4096 });
  assert.equal(h.service.get(ALICE, 'app').state, 'running', 'the VM runs on');
  assert.ok(h.snapshotFiles.tags.has(`${vm.id}/fcm-one`), 'the root disk snapshot is taken');
  h.snapshotFiles.disk.set(vm.id, 'after');

  const r = await h.service.restoreSnapshot(ALICE, 'app', 'one');
  assert.equal(r.state, 'starting');
  assert.equal(h.snapshotFiles.disk.get(vm.id), 'before', 'the disk is rolled back');
  assert.deepEqual(h.snapshotter.restores.at(-1), { vmId: vm.id, spec: launched }, 'the very machine is restored');
  assert.ok(!h.snapshotter.paused.has(vm.id), 'and resumed');
  assert.ok(h.network.taps.has(vm.tap));
  assert.equal((await h.service.wait(ALICE, 'app', 'running', 1000)).state, 'running');
  assert.deepEqual((await h.service.listSnapshots(ALICE, 'app')).map((x) => x.name), ['one'], 'the snapshot stays (restorable again)');
});

test('only a running VM is snapshotted; names are unique per VM; the per-VM bound is quota_exceeded with its limit', async () => {
  const h = memoryService({ snapshots: { maxPerVm: 2 } });
  const vm = await runningVm(h, 'app');
  await h.service.createSnapshot(ALICE, 'app', 'one');
  await assert.rejects(h.service.createSnapshot(ALICE, 'app', 'one'), code('name_taken'));
  const auto = await h.service.createSnapshot(ALICE, 'app');
  assert.match(auto.name, /^snap-\d{8}-\d{6}$/);
  await assert.rejects(h.service.createSnapshot(ALICE, 'app', 'three'), (e: unknown) => {
    assert.ok(isFcmError(e, 'quota_exceeded'));
    assert.deepEqual(e.limit, { name: 'snapshotsPerVm', value: 2, usage: 2, requested: 1, unit: 'snapshots' });
    return true;
  });
  assert.equal(h.snapshotFiles.tags.size, 2, 'refused snapshots took no disk snapshot');
  await h.service.stop(ALICE, 'app', { timeoutMs: 0, force: true });
  await h.service.deleteSnapshot(ALICE, 'app', 'one');
  await assert.rejects(h.service.createSnapshot(ALICE, 'app', 'cold'), code('invalid_state'));
  await h.service.start(ALICE, 'app');
  await h.service.wait(ALICE, 'app', 'running', 1000);
  await h.service.sleep(ALICE, 'app');
  await assert.rejects(h.service.createSnapshot(ALICE, 'app', 'asleep'), code('invalid_state'));
  assert.deepEqual([...h.snapshotFiles.tags], [`${vm.id}/fcm-${auto.name}`]);
});

test('a snapshot that fails leaves nothing behind and the VM running', async () => {
  const h = memoryService({ snapshots: {} });
  const vm = await runningVm(h, 'app');
  h.live.fail = true;
  await assert.rejects(h.service.createSnapshot(ALICE, 'app', 'one'), code('hypervisor_failed'));
  h.live.fail = false;
  h.snapshotFiles.failSeal = true;
  await assert.rejects(h.service.createSnapshot(ALICE, 'app', 'one'), code('disk_full'));
  assert.deepEqual(await h.service.listSnapshots(ALICE, 'app'), []);
  assert.equal(h.snapshotFiles.tags.size, 0, 'the disk snapshot of the failed seal was dropped again');
  assert.equal(h.service.get(ALICE, 'app').state, 'running');
  assert.ok(h.hypervisor.machines.has(vm.id));
  h.snapshotFiles.failSeal = false;
  // A disk snapshot left by a daemon that died mid-snapshot (no sealed files) does not block the name.
  h.snapshotFiles.tags.add(`${vm.id}/fcm-one`);
  await h.service.createSnapshot(ALICE, 'app', 'one');
  assert.deepEqual((await h.service.listSnapshots(ALICE, 'app')).map((s) => s.name), ['one']);
});

test('delete: through the running hypervisor, or the files when it does not run; unknown names are snapshot_not_found', async () => {
  const h = memoryService({ snapshots: {} });
  const vm = await runningVm(h, 'app');
  await h.service.createSnapshot(ALICE, 'app', 'one');
  await h.service.createSnapshot(ALICE, 'app', 'two');
  await h.service.deleteSnapshot(ALICE, 'app', 'one');
  assert.deepEqual([...h.snapshotFiles.tags], [`${vm.id}/fcm-two`]);
  await h.service.stop(ALICE, 'app', { timeoutMs: 0, force: true });
  await h.service.deleteSnapshot(ALICE, 'app', 'two');
  assert.equal(h.snapshotFiles.tags.size, 0);
  await assert.rejects(h.service.deleteSnapshot(ALICE, 'app', 'two'), code('snapshot_not_found'));
  await assert.rejects(h.service.restoreSnapshot(ALICE, 'app', 'two'), code('snapshot_not_found'));
});

test('restore of a stopped or sleeping VM starts it from the snapshot (a sleep save is dropped); a resized VM is invalid_state', async () => {
  const h = memoryService({ snapshots: {}, host: { memoryMib: 2048, vcpus: 8 } });
  const vm = await runningVm(h, 'app');
  await h.service.createSnapshot(ALICE, 'app', 'one');
  await h.service.sleep(ALICE, 'app');
  assert.ok(await h.saved.open(vm.id, SLEEP_SAVE));
  assert.equal((await h.service.restoreSnapshot(ALICE, 'app', 'one')).state, 'starting');
  assert.equal(await h.saved.open(vm.id, SLEEP_SAVE), null, 'the sleep save is of another past');
  await h.service.wait(ALICE, 'app', 'running', 1000);
  await h.service.stop(ALICE, 'app', { timeoutMs: 0, force: true });
  // A stopped VM is admitted again: with the host full, the restore is refused and nothing changes.
  await h.service.create(BOB, { ...DEFAULTS, name: 'taker', memoryMib: 1536 });
  await assert.rejects(h.service.restoreSnapshot(ALICE, 'app', 'one'), code('insufficient_capacity'));
  assert.equal(h.service.get(ALICE, 'app').state, 'stopped');
  await h.service.delete(BOB, 'taker');
  assert.equal((await h.service.restoreSnapshot(ALICE, 'app', 'one')).state, 'starting');
  await h.service.wait(ALICE, 'app', 'running', 1000);
  await h.service.update(ALICE, 'app', { memoryMib: 512 }, { timeoutMs: 0, force: true });
  await assert.rejects(h.service.restoreSnapshot(ALICE, 'app', 'one'), code('invalid_state'));
});

test('a restore that fails leaves the VM failed, with lastError, no process and no tap; fcm start boots it', async () => {
  const h = memoryService({ snapshots: {} });
  const vm = await runningVm(h, 'app');
  await h.service.createSnapshot(ALICE, 'app', 'one');
  h.snapshotter.failRestore = true;
  await assert.rejects(h.service.restoreSnapshot(ALICE, 'app', 'one'), code('hypervisor_failed'));
  const failed = h.service.get(ALICE, 'app');
  assert.equal(failed.state, 'failed');
  assert.match(failed.lastError ?? '', /^restoring snapshot one failed: injected restore failure/);
  assert.ok(!h.hypervisor.machines.has(vm.id) && !h.network.taps.has(vm.tap));
  h.snapshotter.failRestore = false;
  await h.service.start(ALICE, 'app');
  assert.equal((await h.service.wait(ALICE, 'app', 'running', 1000)).state, 'running');
});

test("another user's VM does not exist for them: no listing, taking, restoring or deleting its snapshots", async () => {
  const h = memoryService({ snapshots: {} });
  await runningVm(h, 'app');
  await h.service.createSnapshot(ALICE, 'app', 'one');
  await assert.rejects(h.service.listSnapshots(BOB, 'app'), code('vm_not_found'));
  await assert.rejects(h.service.createSnapshot(BOB, 'app', 'mine'), code('vm_not_found'));
  await assert.rejects(h.service.restoreSnapshot(BOB, 'app', 'one'), code('vm_not_found'));
  await assert.rejects(h.service.deleteSnapshot(BOB, 'app', 'one'), code('vm_not_found'));
  assert.deepEqual((await h.service.listSnapshots(ROOT, 'app')).map((s) => s.name), ['one'], 'admins see all');
  assert.equal(h.snapshotter.restores.length, 0);
});

test('deleting a VM deletes its snapshots; a new VM of the same name starts with none', async () => {
  const h = memoryService({ snapshots: {} });
  const vm = await runningVm(h, 'app');
  await h.service.createSnapshot(ALICE, 'app', 'one');
  await h.service.delete(ALICE, 'app');
  assert.deepEqual(await h.snapshotFiles.list(vm.id), []);
  assert.equal(h.snapshotFiles.tags.size, 0);
  await runningVm(h, 'app');
  assert.deepEqual(await h.service.listSnapshots(ALICE, 'app'), []);
});

test('without the capability every snapshot operation is not_implemented; listing is empty', async () => {
  const h = memoryService({ sleep: true });
  await runningVm(h, 'app');
  assert.deepEqual(await h.service.listSnapshots(ALICE, 'app'), []);
  await assert.rejects(h.service.createSnapshot(ALICE, 'app', 'one'), code('not_implemented'));
  await assert.rejects(h.service.restoreSnapshot(ALICE, 'app', 'one'), code('not_implemented'));
  await assert.rejects(h.service.deleteSnapshot(ALICE, 'app', 'one'), code('not_implemented'));
});

test('default names come from the time (UTC) and never collide', () => {
  const t = Date.UTC(2026, 11, 6, 12, 15, 30);
  assert.equal(defaultSnapshotName(t, new Set()), 'snap-20261206-121530');
  assert.equal(defaultSnapshotName(t, new Set(['snap-20261206-121530'])), 'snap-20261206-121530-2');
  assert.equal(defaultSnapshotName(t, new Set(['snap-20261206-121530', 'snap-20261206-121530-2'])), 'snap-20261206-121530-3');
});

test('a daemon that died mid-snapshot: on restart the paused guest is resumed and the unsealed snapshot (files, disk snapshot) dropped', async () => {
  const h = memoryService({ snapshots: {} });
  const vm = await runningVm(h, 'app');
  const stopped = await runningVm(h, 'cold');
  await h.service.createSnapshot(ALICE, 'app', 'kept');
  // What a kill inside capture() leaves: the guest paused, the files begun, the root's disk snapshot taken.
  await h.snapshotFiles.begin(vm.id, 'half');
  h.snapshotFiles.tags.add(`${vm.id}/fcm-half`);
  h.snapshotter.paused.add(vm.id);
  // And on a VM whose process is gone since (stopped): its files and disk snapshot go through the files driver.
  await h.snapshotFiles.begin(stopped.id, 'half');
  h.snapshotFiles.tags.add(`${stopped.id}/fcm-half`);
  await h.service.stop(ALICE, 'cold', { timeoutMs: 0, force: true });

  const restarted = h.make();
  await restarted.reconcile();
  assert.ok(!h.snapshotter.paused.has(vm.id), 'the guest runs again');
  assert.ok(h.hypervisor.machines.has(vm.id), 'the same process (adopted, not restarted)');
  assert.equal(restarted.get(ALICE, 'app').state, 'running');
  assert.deepEqual([await h.snapshotFiles.unsealed(vm.id), await h.snapshotFiles.unsealed(stopped.id)], [[], []]);
  assert.deepEqual([...h.snapshotFiles.tags], [`${vm.id}/fcm-kept`], 'only the sealed snapshot keeps its disk snapshot');
  assert.deepEqual((await restarted.listSnapshots(ALICE, 'app')).map((s) => s.name), ['kept']);
  // The name is free again.
  assert.equal((await restarted.createSnapshot(ALICE, 'app', 'half')).name, 'half');
});

test('a running VM that is not paused is left alone by the restart', async () => {
  const h = memoryService({ snapshots: {} });
  const vm = await runningVm(h, 'app');
  await h.make().reconcile();
  assert.ok(!h.snapshotter.paused.has(vm.id));
  assert.equal(h.service.get(ALICE, 'app').state, 'running');
});
