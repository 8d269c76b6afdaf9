/**
 * Forks on the in-memory twins (issue #16): the rules of VmForks and
 * ForkService — the parent captured as for a snapshot and left running, the
 * fork restored as the parent's machine with its own id, disks, seed, tap and
 * MAC, its guest's watcher armed before the capture and disarmed after; the
 * app copied (config vars, releases, repository) under the parent's deploy
 * lock; ownership, states, names, quotas; and all or nothing — a failure at
 * any step leaves no row, disk, tap, process, release, config or repository
 * of the fork, no disk snapshot in the parent, and the parent running. The
 * real path (QEMU, qcow2, the guest's identity) is test/host/forks.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { isFcmError } from '../../daemon/core/errors.js';
import { ForkService } from '../../daemon/core/forks.js';
import { parseSeed } from '../../daemon/core/planners/seed.js';
import { FORK_WATCH_SECONDS, forkDiskTag } from '../../daemon/core/vm-forks.js';
import { wireDeploys } from '../../daemon/deploy-wiring.js';
import { MemoryAppRuntime, MemoryEnvStore, MemoryGitHost, MemoryKeyStore, MemoryReleaseStore } from '../../daemon/drivers/memory/memory-deploys.js';
import { ALICE, BOB, DEFAULTS, memoryService, type MemoryServiceOptions } from '../helpers/memory-service.js';

const code = (c: string) => (e: unknown) => isFcmError(e) && e.code === c;

async function rig(opts: MemoryServiceOptions = {}) {
  const h = memoryService({ snapshots: {}, ...opts });
  const git = new MemoryGitHost();
  const releases = new MemoryReleaseStore();
  const env = new MemoryEnvStore();
  const w = wireDeploys({
    vms: h.service, store: h.store, releases, env, keys: new MemoryKeyStore(), runtime: new MemoryAppRuntime(), git,
    userPrincipal: () => ALICE, stillValid: () => true, urlFor: (n) => `https://${n}.example`, log: pino({ level: 'silent' }),
  });
  const forks = new ForkService({ vms: h.service, deploys: w.deploys });
  const parent = await h.service.create(ALICE, { ...DEFAULTS, name: 'web' });
  await h.service.wait(ALICE, 'web', 'running', 1000);
  // The app as a push would have left it: a repository, config vars, two releases.
  await git.ensure(parent.id);
  env.put(parent.id, { GREETING: 'hi' });
  const v1 = releases.create({ vmId: parent.id, status: 'building', kind: 'deploy', commit: 'a'.repeat(40), description: 'Deploy aaaaaaa', buildpack: 'python', processes: { web: 'python app.py' }, rollbackOf: null, build: 1 });
  releases.update(parent.id, v1.version, { status: 'superseded', log: 'built v1', finishedAt: new Date().toISOString() });
  const v2 = releases.create({ vmId: parent.id, status: 'building', kind: 'config', commit: 'a'.repeat(40), description: 'Set GREETING', buildpack: 'python', processes: { web: 'python app.py' }, rollbackOf: null, build: 1 });
  releases.update(parent.id, v2.version, { status: 'succeeded', log: '', finishedAt: new Date().toISOString() });
  /** Everything of VM `id` anywhere: what a failed fork must not leave. */
  const traces = (id: string) => ({
    row: h.store.list().some((v) => v.id === id),
    disks: h.disks.disks.has(id) || h.disks.forkStates.has(id),
    tap: [...h.network.taps.keys()].some((t) => h.store.list().find((v) => v.id === id)?.tap === t),
    process: h.hypervisor.machines.has(id),
    releases: releases.list(id).length,
    env: Object.keys(env.get(id)).length,
    repo: git.repos.has(id),
  });
  return { h, w, git, releases, env, forks, parent, traces };
}

test('a fork: the parent captured and left running; the fork restored as its machine with its own id, disks, seed, tap and MAC', async () => {
  const r = await rig();
  const { h, parent } = r;
  const parentSpec = h.hypervisor.machines.get(parent.id)!;
  const { vm, parentPausedMs } = await r.forks.fork(ALICE, 'web', { name: 'web-pr-1' });
  assert.equal(parentPausedMs, 12.5, 'the capture\'s pause, as the hypervisor measured it');
  assert.equal(vm.state, 'starting');
  assert.equal(vm.owner, ALICE.userId);
  assert.deepEqual([vm.vcpus, vm.memoryMib, vm.diskMib, vm.swapMib, vm.port, vm.image, vm.imageDir], [parent.vcpus, parent.memoryMib, parent.diskMib, parent.swapMib, parent.port, parent.image, parent.imageDir]);
  assert.notEqual(vm.id, parent.id);
  assert.notEqual(vm.ip, parent.ip);
  assert.notEqual(vm.mac, parent.mac);
  assert.deepEqual(vm.domains, [], 'custom domains stay with the parent');

  // Captured as a named snapshot is, with a disk snapshot of its own; dropped once the fork's root was made from it.
  assert.deepEqual(h.live.captures.at(-1), { vmId: parent.id, tag: forkDiskTag(vm.id) });
  assert.ok(!h.snapshotFiles.tags.has(`${parent.id}/${forkDiskTag(vm.id)}`), 'the parent keeps no disk snapshot');
  assert.deepEqual(h.disks.forks, [{ forkId: vm.id, parentId: parent.id, tag: forkDiskTag(vm.id) }]);
  assert.ok(!h.disks.forkStates.has(vm.id), 'the captured memory is not kept once restored');
  // The watcher: armed in the parent before the capture, disarmed after.
  assert.deepEqual(h.guest.watches, [{ vmId: parent.id, seconds: FORK_WATCH_SECONDS }]);
  assert.deepEqual(h.guest.disarmed, [parent.id]);

  // The very machine the parent runs, as the fork: its id, its disks, its tap and MAC; the parent untouched.
  const restored = h.snapshotter.restores.at(-1)!;
  assert.equal(restored.vmId, vm.id);
  assert.deepEqual({ ...restored.spec, vmId: parentSpec.vmId, drives: parentSpec.drives, net: parentSpec.net }, parentSpec);
  assert.deepEqual(restored.spec.drives.map((d) => d.path), [h.disks.disks.get(vm.id)!.root.path, h.disks.disks.get(vm.id)!.seed.path, h.disks.disks.get(vm.id)!.swap!.path]);
  assert.deepEqual(restored.spec.net, { tap: vm.tap, mac: vm.mac });
  assert.ok(h.network.taps.has(vm.tap));
  assert.ok(!h.snapshotter.paused.has(vm.id), 'resumed');
  const seed = parseSeed(h.disks.seeds.get(vm.id)!);
  assert.deepEqual([seed.vmId, seed.hostname, seed.net?.ip, seed.mac], [vm.id, 'web-pr-1', vm.ip, vm.mac], 'its seed is its own identity');
  assert.ok(seed.entropy && seed.entropy !== parseSeed(h.disks.seeds.get(parent.id)!).entropy);
  assert.equal(h.service.get(ALICE, 'web').state, 'running');
  assert.deepEqual(h.hypervisor.machines.get(parent.id), parentSpec);
  assert.equal((await h.service.wait(ALICE, 'web-pr-1', 'running', 1000)).state, 'running');
  assert.ok(h.guest.clockSets.some((c) => c.vmId === vm.id), 'its clock is set as after any restore');
});

test('the app is copied: config vars, releases (same versions), repository — changes on one do not touch the other', async () => {
  const r = await rig();
  const { vm } = await r.forks.fork(ALICE, 'web', { name: 'web-pr-1' });
  assert.deepEqual(r.env.get(vm.id), { GREETING: 'hi' });
  const strip = (id: string) => r.releases.list(id).map(({ vmId: _v, createdAt: _c, ...rest }) => rest);
  assert.deepEqual(strip(vm.id), strip(r.parent.id));
  assert.ok(r.git.repos.has(vm.id));
  r.env.put(vm.id, { GREETING: 'fork' });
  assert.deepEqual(r.env.get(r.parent.id), { GREETING: 'hi' });
  // Deleting the parent (the app's rows with it) leaves the fork's.
  await r.h.service.delete(ALICE, 'web');
  await r.w.deploys.reconcile();
  assert.equal(r.releases.list(vm.id).length, 2);
  assert.ok(r.git.repos.has(vm.id));
  assert.equal(r.h.service.get(ALICE, 'web-pr-1').state === 'starting' || r.h.service.get(ALICE, 'web-pr-1').state === 'running', true);
});

test('refusals: another user\'s VM is not found, a parent not running is invalid_state, a taken name is name_taken; nothing is made', async () => {
  const r = await rig();
  const before = r.h.store.list().length;
  await assert.rejects(r.forks.fork(BOB, 'web', { name: 'bobs' }), code('vm_not_found'));
  await assert.rejects(r.forks.fork(ALICE, 'web', { name: 'web' }), code('name_taken'));
  await r.h.service.stop(ALICE, 'web', { timeoutMs: 0, force: true });
  await assert.rejects(r.forks.fork(ALICE, 'web', { name: 'cold' }), code('invalid_state'));
  assert.equal(r.h.store.list().length, before);
  assert.deepEqual(r.h.guest.watches, [], 'no guest was asked to watch');
  assert.deepEqual(r.h.live.captures, [], 'nothing was captured');
});

test('quotas and host admission apply as for a create', async () => {
  const r = await rig({ quotas: { limits: { vms: 1 } } });
  await assert.rejects(r.forks.fork(ALICE, 'web', { name: 'over' }), code('quota_exceeded'));
  assert.deepEqual(r.h.live.captures, []);
  const c = await rig({ host: { memoryMib: 1536, vcpus: 8 } });
  await assert.rejects(c.forks.fork(ALICE, 'web', { name: 'big' }), code('insufficient_capacity'));
});

test('a hypervisor without live snapshots: not_implemented', async () => {
  const h = memoryService({ sleep: true });
  await h.service.create(ALICE, { ...DEFAULTS, name: 'web' });
  await h.service.wait(ALICE, 'web', 'running', 1000);
  await assert.rejects(h.service.fork(ALICE, 'web', { name: 'f' }, { copy: async () => {}, drop: async () => {} }), code('not_implemented'));
});

test('all or nothing: a failure at any step leaves no trace of the fork, no disk snapshot in the parent, and the parent running', async () => {
  const failures: [string, (r: Awaited<ReturnType<typeof rig>>) => void, string][] = [
    ['the repository copy', (r) => (r.git.failCopy = true), 'the repository copy failed'],
    ['an image without the fork watcher', (r) => (r.h.guest.failWatch = true), 'cannot take a new identity'],
    ['the capture', (r) => (r.h.live.fail = true), 'injected capture failure'],
    ['the fork\'s disks', (r) => (r.h.disks.fail = 'fork'), 'no space left'],
    [
      'the tap',
      (r) => {
        const real = r.h.network.addTap.bind(r.h.network);
        r.h.network.addTap = async () => {
          r.h.network.addTap = real;
          throw new Error('injected tap failure');
        };
      },
      'injected tap failure',
    ],
    ['the restore', (r) => (r.h.snapshotter.failRestore = true), 'injected restore failure'],
  ];
  for (const [what, inject, message] of failures) {
    const r = await rig();
    const ids = new Set(r.h.store.list().map((v) => v.id));
    inject(r);
    await assert.rejects(r.forks.fork(ALICE, 'web', { name: 'web-pr-1' }), (e: unknown) => (assert.match(String((e as Error).message), new RegExp(message)), true), what);
    const made = [...new Set([...r.h.disks.disks.keys(), ...r.h.hypervisor.machines.keys(), ...r.git.repos])].filter((id) => !ids.has(id));
    assert.deepEqual(made, [], `${what}: no disks, process or repository of the fork`);
    assert.equal(r.h.store.list().length, 1, `${what}: no row`);
    assert.equal(r.h.network.taps.size, 1, `${what}: only the parent's tap`);
    assert.deepEqual([...r.h.snapshotFiles.tags], [], `${what}: no disk snapshot left in the parent`);
    assert.equal(r.h.service.get(ALICE, 'web').state, 'running', `${what}: the parent runs`);
    assert.ok(!r.h.snapshotter.paused.has(r.parent.id), `${what}: the parent is not left paused`);
    assert.equal(r.releases.list(r.parent.id).length, 2, `${what}: the parent's releases are untouched`);
    for (const id of r.releases.list(r.parent.id).map((x) => x.vmId)) assert.equal(id, r.parent.id);
    const armed = r.h.guest.watches.length;
    assert.equal(r.h.guest.disarmed.length, armed, `${what}: an armed watch is disarmed`);
    // And the same fork then succeeds: nothing half-made is in its way.
    r.h.guest.failWatch = false;
    r.h.live.fail = false;
    r.h.snapshotter.failRestore = false;
    const ok = await r.forks.fork(ALICE, 'web', { name: 'web-pr-1' });
    assert.equal(ok.vm.name, 'web-pr-1', what);
  }
});

test('a daemon that died mid-fork: its successor rolls the fork back and drops the disk snapshot it left in the parent', async () => {
  const r = await rig();
  const { h, parent } = r;
  h.disks.holdFork = new Promise(() => {}); // the daemon dies after the capture, before the fork's disk is copied
  void r.forks.fork(ALICE, 'web', { name: 'web-pr-9' }).catch(() => {});
  let forkId = '';
  for (let i = 0; i < 200 && !forkId; i++) {
    await new Promise((res) => setImmediate(res));
    if (h.live.captures.length > 0) forkId = h.store.list().find((v) => v.name === 'web-pr-9')?.id ?? '';
  }
  assert.ok(forkId, 'the fork was captured');
  assert.equal(h.store.get(forkId)!.state, 'creating');
  assert.ok(h.snapshotFiles.tags.has(`${parent.id}/${forkDiskTag(forkId)}`), 'mid-fork: the parent holds the fork\'s disk snapshot');
  // A second parent-less interrupted create: its (absent) tag is no trouble.
  const half = await h.service.create(ALICE, { ...DEFAULTS, name: 'half' });
  h.store.update(half.id, { state: 'creating' });

  const restarted = h.make();
  const res = await restarted.reconcile();
  assert.equal(res.rolledBack, 2);
  assert.deepEqual(h.store.list().map((v) => v.name), ['web'], 'the fork\'s row is rolled back');
  assert.deepEqual([...h.snapshotFiles.tags], [], 'no disk snapshot is left in the parent');
  assert.ok(!h.disks.forkStates.has(forkId) && !h.disks.disks.has(forkId), 'nor the fork\'s state or disks');
  assert.ok(h.hypervisor.machines.has(parent.id), 'the parent runs on');
  // The name is free again (the dead daemon's fork, still waiting on its disk here, is never let go).
  assert.equal((await restarted.create(ALICE, { ...DEFAULTS, name: 'web-pr-9' })).name, 'web-pr-9');
  await restarted.close();
});

test('a deploy of the parent in progress: the fork waits for it (the release rows and the guest agree)', async () => {
  const r = await rig();
  let release!: () => void;
  const held = r.w.deploys.exclusive(r.parent.id, () => new Promise<void>((res) => (release = res)));
  let done = false;
  const f = r.forks.fork(ALICE, 'web', { name: 'web-pr-1' }).then((x) => ((done = true), x));
  await new Promise((res) => setTimeout(res, 50));
  assert.equal(done, false, 'the fork waits');
  assert.deepEqual(r.h.live.captures, [], 'nothing captured while the deploy runs');
  release();
  await held;
  assert.equal((await f).vm.name, 'web-pr-1');
});
