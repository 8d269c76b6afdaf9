/**
 * Quotas and host admission, played as a tenant trying to take the server:
 * too many VMs, too big, resize past the limit, many creates at once, starts
 * racing for the last memory, config vars and pushes past their limits.
 * Over the in-memory twins (the SQLite store's transaction runs the same
 * `admit` check: test/unit/contracts/vm-store.test.ts).
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { hostCapacity } from '../../daemon/core/admission.js';
import { isFcmError, type FcmError } from '../../daemon/core/errors.js';
import { wireDeploys } from '../../daemon/deploy-wiring.js';
import { MemoryAppRuntime, MemoryEnvStore, MemoryGitHost, MemoryKeyStore, MemoryReleaseStore } from '../../daemon/drivers/memory/memory-deploys.js';
import { ALICE, BOB, DEFAULTS, DEFAULT_QUOTAS, ROOT, memoryService } from '../helpers/memory-service.js';
import { makeTar } from '../helpers/tar.js';

const SMALL = { ...DEFAULTS, memoryMib: 256, swapMib: 0 };

/** Asserts a quota_exceeded / insufficient_capacity with this limit member. */
function limited(code: 'quota_exceeded' | 'insufficient_capacity', limit: Partial<NonNullable<FcmError['limit']>>) {
  return (e: unknown) => {
    assert.ok(isFcmError(e, code), `expected ${code}, got ${String(e)}`);
    for (const [k, v] of Object.entries(limit)) assert.equal((e.limit as unknown as Record<string, unknown>)[k], v, `limit.${k} in ${JSON.stringify(e.limit)}`);
    return true;
  };
}

test('VM count, vCPU, memory and disk totals are capped per user; the refused create leaves nothing', async () => {
  const h = memoryService({ quotas: { limits: { vms: 2, vcpus: 3, memoryMib: 2048, diskMib: 8192 } } });
  await h.service.create(ALICE, { ...DEFAULTS, name: 'a1' });
  await assert.rejects(h.service.create(ALICE, { ...DEFAULTS, name: 'big', vcpus: 3 }), limited('quota_exceeded', { name: 'vcpus', value: 3, usage: 1, requested: 3, unit: 'vCPUs' }));
  await assert.rejects(h.service.create(ALICE, { ...DEFAULTS, name: 'big', memoryMib: 1536 }), limited('quota_exceeded', { name: 'memoryMib', value: 2048, usage: 1024, requested: 1536 }));
  await assert.rejects(h.service.create(ALICE, { ...DEFAULTS, name: 'big', diskMib: 8192 }), limited('quota_exceeded', { name: 'diskMib', value: 8192, usage: 2560, requested: 8704 }));
  await h.service.create(ALICE, { ...DEFAULTS, name: 'a2' });
  const err = (await h.service.create(ALICE, { ...DEFAULTS, name: 'a3' }).catch((e: FcmError) => e)) as FcmError;
  assert.ok(limited('quota_exceeded', { name: 'vms', value: 2, usage: 2, requested: 1 })(err));
  assert.match(err.message, /Quota vms .*2 VMs in use \+ 1 requested would exceed your limit of 2 VMs/);
  assert.deepEqual(h.service.list(ROOT).map((v) => v.name).sort(), ['a1', 'a2'], 'no row for any refused create');
  assert.equal(h.disks.disks.size + h.network.taps.size + h.hypervisor.machines.size, 6, 'two VMs: their disks, taps and machines only');
  // Bob's quota is his own; the admin has none.
  await h.service.create(BOB, { ...DEFAULTS, name: 'b1' });
  for (let i = 0; i < 4; i++) await h.service.create(ROOT, { ...DEFAULTS, name: `root${i}`, vcpus: 4 });
});

test('20 concurrent creates by one user stop exactly at the limit (the check runs inside the insert)', async () => {
  const h = memoryService({ quotas: { limits: { vms: 3 } } });
  const rs = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => h.service.create(ALICE, { ...SMALL, name: `c${i}` })));
  assert.equal(rs.filter((r) => r.status === 'fulfilled').length, 3);
  for (const r of rs) if (r.status === 'rejected') assert.ok(limited('quota_exceeded', { name: 'vms', value: 3, usage: 3 })(r.reason));
  assert.equal(h.service.list(ALICE).length, 3);
});

test('a resize counts: growing past the limit is refused and changes nothing; shrinking is always allowed', async () => {
  const h = memoryService({ quotas: { limits: { memoryMib: 2048, vcpus: 2 } } });
  await h.service.create(ALICE, { ...DEFAULTS, name: 'web' });
  await h.service.wait(ALICE, 'web', 'running', 1000);
  await assert.rejects(h.service.update(ALICE, 'web', { memoryMib: 4096 }, { timeoutMs: 10, force: true }), limited('quota_exceeded', { name: 'memoryMib', usage: 1024, requested: 3072 }));
  const vm = h.service.get(ALICE, 'web');
  assert.deepEqual([vm.memoryMib, vm.state], [1024, 'running'], 'unchanged and not restarted');
  await h.service.update(ALICE, 'web', { memoryMib: 2048, vcpus: 2 }, { timeoutMs: 10, force: true });
  // An admin lowers the limit below what is in use: nothing is taken away, shrinking still works, growth does not.
  h.quotas!.setOverrides(ROOT, ALICE.userId, { memoryMib: 512 });
  await assert.rejects(h.service.update(ALICE, 'web', { vcpus: 3 }, { timeoutMs: 10, force: true }), limited('quota_exceeded', { name: 'vcpus' }));
  await h.service.update(ALICE, 'web', { memoryMib: 1024 }, { timeoutMs: 10, force: true });
  assert.equal(h.service.get(ALICE, 'web').memoryMib, 1024);
  await assert.rejects(h.service.update(ALICE, 'web', { memoryMib: 1536 }, { timeoutMs: 10, force: true }), limited('quota_exceeded', { name: 'memoryMib', value: 512, usage: 1024, requested: 512 }));
});

test('overrides: set by an admin only, reset to the default, reported with usage', async () => {
  const h = memoryService({ quotas: {} });
  await h.service.create(ALICE, { ...DEFAULTS, name: 'web' });
  assert.throws(() => h.quotas!.setOverrides(ALICE, ALICE.userId, { vms: 100 }), (e) => isFcmError(e, 'forbidden'));
  h.quotas!.setOverrides(ROOT, ALICE.userId, { vms: 1, memoryMib: 4096 });
  let r = await h.quotas!.report(ALICE.userId);
  assert.equal(r.unlimited, false);
  assert.deepEqual(r.overrides, { vms: 1, memoryMib: 4096 });
  assert.deepEqual([r.limits.vms, r.limits.memoryMib, r.limits.vcpus], [1, 4096, DEFAULT_QUOTAS.vcpus]);
  assert.deepEqual([r.usage.vms, r.usage.vcpus, r.usage.memoryMib, r.usage.diskMib], [1, 1, 1024, 2560]);
  await assert.rejects(h.service.create(ALICE, SMALL), limited('quota_exceeded', { name: 'vms', value: 1 }));
  h.quotas!.setOverrides(ROOT, ALICE.userId, { reset: ['vms'] });
  r = await h.quotas!.report(ALICE.userId);
  assert.deepEqual(r.overrides, { memoryMib: 4096 });
  assert.equal(r.limits.vms, DEFAULT_QUOTAS.vms);
  await h.service.create(ALICE, SMALL);
  const admin = await h.quotas!.report(ROOT.userId);
  assert.equal(admin.unlimited, true);
  assert.equal(admin.limits.vms, null);
  assert.throws(() => h.quotas!.setOverrides(ROOT, ROOT.userId, { vms: 1 }), (e) => isFcmError(e, 'validation_failed'));
});

test('host admission: memory and vCPUs beyond RAM × overcommit − reserve are refused before anything is made, for admins too', async () => {
  const capacity = hostCapacity({ hostMemoryMib: 4096, hostCpus: 2, memoryOvercommit: 1, memoryReserveMib: 1024, cpuOvercommit: 2 });
  assert.deepEqual(capacity, { memoryMib: 3072, vcpus: 4 });
  const h = memoryService({ host: capacity });
  await h.service.create(ROOT, { ...DEFAULTS, name: 'a', memoryMib: 2048 });
  const before = { disks: h.disks.disks.size, taps: h.network.taps.size };
  await assert.rejects(
    h.service.create(ROOT, { ...DEFAULTS, name: 'b', memoryMib: 1536 }),
    limited('insufficient_capacity', { name: 'memoryMib', value: 3072, usage: 2048, requested: 1536, unit: 'MiB' }),
  );
  assert.deepEqual({ disks: h.disks.disks.size, taps: h.network.taps.size }, before, 'nothing made for the refused create');
  assert.equal(h.service.list(ROOT).length, 1);
  await assert.rejects(h.service.create(ROOT, { ...DEFAULTS, name: 'b', memoryMib: 512, vcpus: 4 }), limited('insufficient_capacity', { name: 'vcpus', value: 4, usage: 1, requested: 4 }));
  await h.service.create(ROOT, { ...DEFAULTS, name: 'b', memoryMib: 1024 });
  // Stopped VMs hold nothing: their memory can be used by others, and then they cannot start.
  await h.service.wait(ROOT, 'a', 'running', 1000);
  await h.service.stop(ROOT, 'a', { timeoutMs: 10, force: true });
  await h.service.create(ROOT, { ...DEFAULTS, name: 'c', memoryMib: 1024 });
  await assert.rejects(h.service.start(ROOT, 'a'), limited('insufficient_capacity', { name: 'memoryMib', usage: 2048, requested: 2048 }));
  const a = h.service.get(ROOT, 'a');
  assert.deepEqual([a.state, h.hypervisor.machines.has(a.id)], ['stopped', false], 'a refused start leaves the VM stopped, no process');
  // Resizing a running VM past capacity is refused; a stopped VM may be resized (its start is checked).
  await assert.rejects(h.service.update(ROOT, 'b', { memoryMib: 2560 }, { timeoutMs: 10, force: true }), limited('insufficient_capacity', { name: 'memoryMib', usage: 2048, requested: 1536 }));
  assert.equal(h.service.get(ROOT, 'b').memoryMib, 1024);
  await h.service.update(ROOT, 'a', { memoryMib: 512 }, { timeoutMs: 10, force: true });
  await h.service.delete(ROOT, 'c');
  await h.service.start(ROOT, 'a');
});

test('concurrent starts racing for the last memory: exactly as many start as fit (reserved from check to start)', async () => {
  const h = memoryService({ host: { memoryMib: 2048, vcpus: 100 } });
  for (const n of ['a', 'b']) {
    await h.service.create(ROOT, { ...DEFAULTS, name: n });
    await h.service.wait(ROOT, n, 'running', 1000);
    await h.service.stop(ROOT, n, { timeoutMs: 10, force: true });
  }
  await h.service.create(ROOT, { ...DEFAULTS, name: 'c' });
  await h.service.wait(ROOT, 'c', 'running', 1000);
  await h.service.stop(ROOT, 'c', { timeoutMs: 10, force: true });
  const rs = await Promise.allSettled(['a', 'b', 'c'].map((n) => h.service.start(ROOT, n)));
  assert.equal(rs.filter((r) => r.status === 'fulfilled').length, 2, JSON.stringify(rs.map((r) => r.status)));
  for (const r of rs) if (r.status === 'rejected') assert.ok(limited('insufficient_capacity', { name: 'memoryMib', usage: 2048 })(r.reason));
  assert.equal(h.hypervisor.machines.size, 2);
});

test('a VM restarting to resize keeps its capacity: a create in that window cannot take it', async () => {
  const h = memoryService({ host: { memoryMib: 3072, vcpus: 100 } });
  await h.service.create(ROOT, { ...DEFAULTS, name: 'web' });
  await h.service.wait(ROOT, 'web', 'running', 1000);
  const id = h.service.get(ROOT, 'web').id;
  // While `web` is stopped between its stop and its start, someone creates a VM.
  let intruder: Promise<unknown> | null = null;
  const prepare = h.disks.prepare.bind(h.disks);
  h.disks.prepare = async (vmId, swapMib, seed) => {
    if (vmId === id && !intruder) {
      assert.equal(h.store.get(id)!.state, 'stopped');
      intruder = h.service.create(ROOT, { ...DEFAULTS, name: 'intruder', memoryMib: 1536 }).then(() => 'created', (e: unknown) => e);
      await intruder;
    }
    return prepare(vmId, swapMib, seed);
  };
  const resized = await h.service.update(ROOT, 'web', { memoryMib: 2048 }, { timeoutMs: 10, force: true });
  assert.equal(resized.memoryMib, 2048);
  assert.ok(intruder, 'the window was reached');
  assert.ok(limited('insufficient_capacity', { name: 'memoryMib', usage: 2048, requested: 1536 })(await intruder));
  // The same for a plain restart.
  intruder = null;
  await h.service.wait(ROOT, 'web', 'running', 1000);
  await h.service.restart(ROOT, 'web', { timeoutMs: 10, force: true });
  assert.ok(limited('insufficient_capacity', { name: 'memoryMib' })(await intruder));
});

test('config vars: count and bytes per app are capped when they grow; removing is always allowed', async () => {
  const env = new MemoryEnvStore();
  const h = memoryService({ quotas: { limits: { configVarsPerApp: 3, configBytesPerApp: 100 }, env: (id) => env.get(id) } });
  const w = wireDeploys({
    vms: h.service, store: h.store, releases: new MemoryReleaseStore(), env, keys: new MemoryKeyStore(), runtime: new MemoryAppRuntime(), git: new MemoryGitHost(),
    userPrincipal: () => ALICE, urlFor: (n) => n, log: pino({ level: 'silent' }), quotas: h.quotas!,
  });
  await h.service.create(ALICE, { ...SMALL, name: 'app' });
  await w.deploys.updateEnv(ALICE, 'app', { set: { A: '1', B: '2', C: '3' } });
  await assert.rejects(w.deploys.updateEnv(ALICE, 'app', { set: { D: '4' } }), limited('quota_exceeded', { name: 'configVarsPerApp', value: 3, usage: 3, requested: 1, unit: 'vars' }));
  await assert.rejects(w.deploys.updateEnv(ALICE, 'app', { set: { A: 'x'.repeat(200) } }), limited('quota_exceeded', { name: 'configBytesPerApp', value: 100, usage: 6, requested: 199 }));
  assert.deepEqual(w.deploys.getEnv(ALICE, 'app'), { A: '1', B: '2', C: '3' }, 'refused changes changed nothing');
  h.quotas!.setOverrides(ROOT, ALICE.userId, { configVarsPerApp: 1 });
  await w.deploys.updateEnv(ALICE, 'app', { unset: ['A'] });
  await w.deploys.updateEnv(ALICE, 'app', { set: { B: '22' } });
  assert.deepEqual(w.deploys.getEnv(ALICE, 'app'), { B: '22', C: '3' });
});

test('a push that makes a repository (or all of a user\'s) exceed its quota is refused before anything is deployed', async () => {
  const git = new MemoryGitHost();
  const h = memoryService({ quotas: { limits: { repoMibPerApp: 10, repoMibTotal: 15 }, repoBytes: (id) => git.size(id) } });
  const runtime = new MemoryAppRuntime();
  const releases = new MemoryReleaseStore();
  const w = wireDeploys({
    vms: h.service, store: h.store, releases, env: new MemoryEnvStore(), keys: new MemoryKeyStore(), runtime, git,
    userPrincipal: () => ALICE, urlFor: (n) => n, log: pino({ level: 'silent' }), quotas: h.quotas!,
  });
  const one = await h.service.create(ALICE, { ...SMALL, name: 'one' });
  const two = await h.service.create(ALICE, { ...SMALL, name: 'two' });
  await h.service.wait(ALICE, 'one', 'running', 1000);
  await h.service.wait(ALICE, 'two', 'running', 1000);
  const MiB = 1024 * 1024;
  const push = async (vmId: string) => {
    const lines: string[] = [];
    const outcome = await w.deploys.deploy(ALICE, vmId, { commit: '1'.repeat(40), ref: 'refs/heads/main' }, Readable.from([makeTar({ 'requirements.txt': 'flask\n', 'app.py': 'app = 1\n', Procfile: 'web: gunicorn app:app\n' })]), (l) => lines.push(l));
    return { outcome, lines };
  };
  await git.ensure(one.id);
  git.sizes.set(one.id, 11 * MiB);
  const big = await push(one.id);
  assert.equal(big.outcome.ok, false);
  assert.match(big.lines.join('\n'), /Push refused: the repository of one would take 11 MiB, over your limit of 10 MiB \(quota repoMibPerApp\)\. Nothing was deployed\./);
  assert.equal(releases.list(one.id).length, 0, 'no release recorded');
  git.sizes.set(one.id, 8 * MiB);
  assert.equal((await push(one.id)).outcome.ok, true);
  await git.ensure(two.id);
  git.sizes.set(two.id, 8 * MiB);
  const total = await push(two.id);
  assert.equal(total.outcome.ok, false);
  assert.match(total.lines.join('\n'), /your repositories would take 16 MiB, over your limit of 15 MiB \(quota repoMibTotal\)/);
  const r = await h.quotas!.report(ALICE.userId);
  assert.deepEqual([r.usage.repoMibPerApp, r.usage.repoMibTotal], [8, 16]);
});
