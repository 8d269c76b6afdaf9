import assert from 'node:assert/strict';
import { test } from 'node:test';
import { templateKey } from '../../daemon/core/fast-boot.js';
import { planTemplateCmdline } from '../../daemon/core/planners/kernel-cmdline.js';
import { parseSeed } from '../../daemon/core/planners/seed.js';
import { isFcmError } from '../../daemon/core/errors.js';
import { assertGolden } from '../helpers/golden.js';
import { ALICE, DEFAULTS, memoryService } from '../helpers/memory-service.js';

// A wait for a condition, not a speed check: the twins' steps are instant; only a hang fails.
const until = async (cond: () => boolean, ms = 30_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

test('template command line: no network identity, init_on_free, TSC args under TCG', () => {
  const c = planTemplateCmdline({ vmId: 'vm_0123456789ab', agentPort: 7611, accel: 'tcg', tscKhz: 2600000 });
  assertGolden('cmdline-template.txt', `${c}\n`);
  assert.doesNotMatch(c, /fcm\.ip=|fcm\.gw=/);
  assert.match(c, /init_on_free=1/);
});

test('template key: changes with anything the saved state depends on', () => {
  const img = { dir: '/images/a', kernelPath: '/images/a/vmlinuz', initrdPath: '/images/a/initrd.img' };
  const shape = { vcpus: 1, memoryMib: 1024, diskMib: 2048, swapMib: 512, port: 8000 };
  const c = { accel: 'tcg' as const, tscKhz: 2600000, agentPort: 7611 };
  const k = templateKey(img, shape, c);
  assert.match(k, /^[0-9a-f]{24}$/);
  assert.equal(templateKey(img, { ...shape }, { ...c }), k);
  for (const other of [
    templateKey({ ...img, dir: '/images/b' }, shape, c),
    templateKey(img, { ...shape, memoryMib: 2048 }, c),
    templateKey(img, { ...shape, port: 3000 }, c),
    templateKey(img, shape, { ...c, accel: 'kvm', tscKhz: null }),
    templateKey(img, shape, { ...c, ram: 'copy' }),
  ]) assert.notEqual(other, k);
  assert.equal(templateKey(img, shape, { ...c, ram: 'shared' }), k, 'shared RAM images are the default');
});

test('a create of the default shape takes a warm pooled machine, gives it its identity and resumes it', async () => {
  const h = memoryService({ fastBoot: { poolSize: 1 } });
  h.fastBoot!.start(() => h.images.resolve('base'));
  await until(() => h.fastBoot!.pooled().length === 1);
  const pooledId = h.fastBoot!.pooled()[0]!;
  assert.ok(h.snapshotter.paused.has(pooledId), 'pooled machines wait paused');
  assert.ok(h.network.isolated.has(`fcm-${pooledId.slice(3, 14)}`), 'and their tap drops everything');
  // Entering the pool it ran once with a seed naming no one (its id, MAC, token, entropy), said it was warm, and was paused.
  const poolSeed = parseSeed(h.disks.seeds.get(pooledId)!);
  assert.deepEqual([poolSeed.vmId, poolSeed.pool, poolSeed.hostname, poolSeed.net, poolSeed.template], [pooledId, true, 'template', undefined, undefined]);
  assert.match(poolSeed.mac ?? '', /^02:/);
  assert.ok(poolSeed.entropy && Buffer.from(poolSeed.entropy, 'base64').length === 32);
  assert.deepEqual(h.snapshotter.waited.filter((w) => w.vmId === pooledId).map((w) => w.text), [`fcm-identity: pooled as ${pooledId}`]);

  const vm = await h.service.create(ALICE, { ...DEFAULTS, name: 'quick' });
  assert.equal(vm.id, pooledId, 'the VM took over the pooled machine');
  const restored = h.snapshotter.restores.find((r) => r.vmId === pooledId)!.spec;
  assert.deepEqual(restored.memory, { kind: 'template', path: `/tmpl/${[...h.templates.published.keys()][0]}/ram.raw` }, "its RAM: copy-on-write over the template's image");
  assert.deepEqual((await h.snapshotter.launchedSpec(vm.id))?.memory, { kind: 'private' }, 'a save of it restores into its own memory');
  assert.ok(!h.snapshotter.paused.has(vm.id), 'resumed');
  assert.ok(h.network.taps.has(vm.tap), 'its tap now has rules for its own IP and MAC');
  const seed = parseSeed(h.disks.seeds.get(vm.id)!);
  assert.deepEqual([seed.vmId, seed.hostname, seed.net?.ip, seed.mac, seed.template, seed.pool], [vm.id, 'quick', vm.ip, vm.mac, undefined, undefined]);
  assert.equal(poolSeed.mac, vm.mac, 'the MAC it took in the pool is the VM\'s');
  assert.ok(seed.entropy && Buffer.from(seed.entropy, 'base64').length === 32, 'fresh entropy for the guest');
  assert.equal((await h.service.wait(ALICE, 'quick', 'running', 1000)).state, 'running');
  await until(() => h.fastBoot!.pooled().length === 1 && h.fastBoot!.pooled()[0] !== pooledId);

  // Siblings never share identity or entropy.
  const vm2 = await h.service.create(ALICE, { ...DEFAULTS, name: 'quick2' });
  const seed2 = parseSeed(h.disks.seeds.get(vm2.id)!);
  assert.notEqual(seed2.entropy, seed.entropy);
  assert.notEqual(vm2.mac, vm.mac);
  await h.service.close();
  assert.equal(h.fastBoot!.pooled().length, 0, 'closing drops the pool');
});

test('no pooled machine: restore the template on demand; other shapes boot cold', async () => {
  const h = memoryService({ fastBoot: { poolSize: 0 } });
  h.fastBoot!.start(() => h.images.resolve('base'));
  await until(() => h.templates.published.size === 1);
  const a = await h.service.create(ALICE, { ...DEFAULTS, name: 'ondemand' });
  assert.ok(h.hypervisor.machines.has(a.id) && !h.snapshotter.paused.has(a.id));
  const b = await h.service.create(ALICE, { ...DEFAULTS, name: 'big', memoryMib: 2048 });
  assert.match(h.hypervisor.machines.get(b.id)!.cmdline, /fcm\.ip=/, 'a cold boot gets its identity on the command line');
  await h.service.close();
});

test('a failed restore falls back to a cold boot and drops the broken template; a failed claim leaks nothing', async () => {
  const h = memoryService({ fastBoot: { poolSize: 0 } });
  h.fastBoot!.start(() => h.images.resolve('base'));
  await until(() => h.templates.published.size === 1);
  h.snapshotter.failRestore = true;
  const vm = await h.service.create(ALICE, { ...DEFAULTS, name: 'fallback' });
  assert.match(h.hypervisor.machines.get(vm.id)!.cmdline, /fcm\.ip=/);
  assert.equal(h.templates.discards, 1, 'the template that failed to restore was discarded (and is rebuilt in the background)');
  await h.service.close();

  const p = memoryService({ fastBoot: { poolSize: 1 } });
  p.fastBoot!.start(() => p.images.resolve('base'));
  await until(() => p.fastBoot!.pooled().length === 1);
  await p.service.create(ALICE, { ...DEFAULTS, name: 'taken' });
  await until(() => p.fastBoot!.pooled().length === 1);
  const spare = p.fastBoot!.pooled()[0]!;
  await assert.rejects(p.service.create(ALICE, { ...DEFAULTS, name: 'taken' }), (e) => isFcmError(e, 'name_taken'));
  assert.ok(!p.hypervisor.machines.has(spare) && !p.disks.disks.has(spare), 'the claimed machine was thrown away, not leaked');
  await p.service.close();
});

test('a refill that ends at once (a claim came in meanwhile) leaves the pool refillable', async () => {
  // The clock stands still, so the refill the claim schedules finds the quiet time not yet over and
  // ends without awaiting anything. That run once cleared its "filling" mark before it was set, so
  // the mark stayed for good and the pool was never refilled again (creates back to back did it).
  let clock = 1_000_000;
  const h = memoryService({ fastBoot: { poolSize: 1, refillDelayMs: 50 }, now: () => clock });
  h.fastBoot!.start(() => h.images.resolve('base'));
  await until(() => h.fastBoot!.pooled().length === 1);
  const restoresBefore = h.snapshotter.restores.length;
  await h.service.create(ALICE, { ...DEFAULTS, name: 'first' });
  assert.equal(h.fastBoot!.pooled().length, 0);
  await new Promise((r) => setTimeout(r, 200)); // the refill's timer fires (several times), the clock says wait
  assert.equal(h.snapshotter.restores.length, restoresBefore, 'nothing restored before the quiet time is over');
  clock += 50;
  await until(() => h.fastBoot!.pooled().length === 1);
  await h.service.close();
});

test('a guest that never warms up in the pool (an older image): its machines are pooled cold, paused as restored', async () => {
  const h = memoryService({ fastBoot: { poolSize: 1 } });
  h.snapshotter.failWaitConsole = (text) => text.startsWith('fcm-identity: pooled as');
  h.fastBoot!.start(() => h.images.resolve('base'));
  await until(() => h.fastBoot!.pooled().length === 1);
  const id = h.fastBoot!.pooled()[0]!;
  const seed = parseSeed(h.disks.seeds.get(id)!);
  assert.deepEqual([seed.template, seed.pool, seed.vmId === id], [true, undefined, false], "the template's identity: it wakes as no one");
  assert.ok(h.snapshotter.paused.has(id));
  assert.equal(h.hypervisor.machines.size, 1, 'the machine that did not warm up was thrown away');
  const vm = await h.service.create(ALICE, { ...DEFAULTS, name: 'coldpool' });
  assert.equal(vm.id, id);
  assert.equal(parseSeed(h.disks.seeds.get(vm.id)!).hostname, 'coldpool');
  await h.service.close();
});

test('a burst of claims is served from the pool; its refill waits for the burst to end', async () => {
  const h = memoryService({ fastBoot: { poolSize: 3, refillDelayMs: 60_000 } });
  h.fastBoot!.start(() => h.images.resolve('base'));
  await until(() => h.fastBoot!.pooled().length === 3);
  const pooled = h.fastBoot!.pooled();
  const restores = h.snapshotter.restores.length;
  const made = [];
  for (const name of ['b1', 'b2', 'b3']) made.push((await h.service.create(ALICE, { ...DEFAULTS, name })).id);
  assert.deepEqual(made, pooled, 'each create took a pooled machine');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(h.snapshotter.restores.length, restores, 'nothing restored while the claimed machines take their identity');
  await h.service.close();
});
