/**
 * BackupService on the in-memory twins (the real path, qemu-img and two
 * daemons with QEMU guests, is test/host/backup.test.ts): export → import
 * into another "host" carries the VM's size, config vars and releases; a
 * running VM is synced and put to sleep first, a sleeping one is woken
 * first; damaged archives and a taken name are refused leaving nothing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { sha256Hex, TAR_END, tarHeader, tarPadding, TarReader } from '../../daemon/core/backup-archive.js';
import { BackupService } from '../../daemon/core/backups.js';
import { isFcmError } from '../../daemon/core/errors.js';
import { MemoryEnvStore, MemoryReleaseStore } from '../../daemon/drivers/memory/memory-deploys.js';
import { MemoryDiskArchive } from '../../daemon/drivers/memory/memory-host.js';
import { SAVE_WATCH_SECONDS } from '../../daemon/core/vm-lifecycle.js';
import { ALICE, BOB, DEFAULTS, memoryService } from '../helpers/memory-service.js';

function host(opts: { imageDir?: string; hypervisor?: string } = {}) {
  const h = memoryService({ sleep: true });
  const archive = new MemoryDiskArchive(h.disks);
  const releases = new MemoryReleaseStore();
  const env = new MemoryEnvStore();
  const images = { resolve: (n: string) => ({ ...h.images.resolve(n), ...(opts.imageDir ? { dir: opts.imageDir } : {}) }) };
  const backups = new BackupService({
    vms: h.service, archive, releases, env, saved: h.saved, hypervisorKind: opts.hypervisor ?? 'qemu', images,
    maxDiskBytes: 1 << 20, log: pino({ level: 'silent' }), now: Date.now,
  });
  return { ...h, archive, releases, env, backups };
}

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts);
}

async function* chunks(b: Buffer, size = 333): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

const code = (c: string, detail?: RegExp) => (e: unknown) => isFcmError(e) && e.code === c && (!detail || detail.test(e.message));

async function exported(a: ReturnType<typeof host>, opts: { withMemory?: boolean; swapMib?: number } = {}) {
  await a.service.create(ALICE, { ...DEFAULTS, name: 'web', memoryMib: 512, sleepAfterSec: 900, ...(opts.swapMib !== undefined ? { swapMib: opts.swapMib } : {}) });
  const vm = await a.service.wait(ALICE, 'web', 'running', 1000);
  a.env.put(vm.id, { GREETING: 'hi' });
  const r1 = a.releases.create({ vmId: vm.id, status: 'pending', kind: 'deploy', commit: 'c0ffee', description: 'Deploy c0ffee', buildpack: 'python', processes: { web: 'python app.py' }, rollbackOf: null, build: 1 });
  a.releases.update(vm.id, r1.version, { status: 'succeeded', finishedAt: new Date().toISOString(), log: 'built' });
  a.archive.roots.set(vm.id, Buffer.concat([Buffer.from('QFI\xfb', 'latin1'), Buffer.alloc(5000, 3)]));
  const b = await a.backups.export(ALICE, 'web', { withMemory: opts.withMemory });
  const bytes = await collect(b.stream);
  assert.equal(bytes.length, b.bytes, 'Content-Length is what is sent');
  return { vm, bytes };
}

test('export → import on another host: size, config vars, releases and disk carried; a new identity', async () => {
  const a = host();
  const { vm, bytes } = await exported(a);
  assert.deepEqual(a.guest.syncs, [vm.id], 'the running guest synced its page cache first');
  assert.equal(a.service.get(ALICE, 'web').state, 'sleeping', 'then it was put to sleep (the next request wakes it)');
  const b = host();
  const made = await b.backups.import(BOB, chunks(bytes), {});
  assert.deepEqual([made.name, made.owner, made.memoryMib, made.sleepAfterSec], ['web', BOB.userId, 512, 900]);
  assert.equal(made.state, 'starting');
  assert.deepEqual(b.env.get(made.id), { GREETING: 'hi' });
  const rel = b.releases.list(made.id);
  assert.deepEqual(rel.map((r) => [r.version, r.status, r.commit, r.log]), [[1, 'succeeded', 'c0ffee', 'built']]);
  assert.deepEqual(b.archive.roots.get(made.id), a.archive.roots.get(vm.id));
  assert.equal(b.archive.open.size, 0, 'staging removed');
  // A sleeping VM is woken to export (its unsynced writes live in its saved memory), then sleeps again.
  a.guest.syncs.length = 0;
  await collect((await a.backups.export(ALICE, 'web')).stream);
  assert.deepEqual(a.guest.syncs, [vm.id]);
  // Another user cannot export it.
  await assert.rejects(a.backups.export(BOB, 'web'), code('vm_not_found'));
});

test('damaged, truncated or foreign archives, and a taken name, are refused leaving nothing', async () => {
  const a = host();
  const { bytes } = await exported(a);
  const b = host();
  const empty = async (what: string) => {
    assert.deepEqual(b.store.list(), [], `${what}: no VM row`);
    assert.equal(b.disks.disks.size, 0, `${what}: no disk`);
    assert.equal(b.network.taps.size, 0, `${what}: no tap`);
    assert.equal(b.hypervisor.machines.size, 0, `${what}: no process`);
    assert.equal(b.archive.open.size, 0, `${what}: staging removed`);
  };
  const flip = (at: number) => {
    const c = Buffer.from(bytes);
    c[at] = c[at]! ^ 1;
    return c;
  };
  const diskAt = bytes.indexOf(Buffer.alloc(64, 3));
  const cases: [string, Buffer, string, RegExp][] = [
    ['truncated', bytes.subarray(0, bytes.length - 700), 'backup_invalid', /truncated/],
    ['a flipped disk byte', flip(diskAt + 10), 'backup_invalid', /disk\.qcow2 does not match its SHA-256/],
    ['not a tar', Buffer.alloc(2048, 65), 'backup_invalid', /tar checksum/],
    ['empty', Buffer.alloc(0), 'backup_invalid', /truncated/],
  ];
  for (const [what, data, c, re] of cases) {
    await assert.rejects(b.backups.import(ALICE, chunks(data), {}), code(c, re), what);
    await empty(what);
  }
  // Quota-free BOB has the name on host b now: refused before the disk is read.
  await b.backups.import(BOB, chunks(bytes), {});
  await assert.rejects(b.backups.import(BOB, chunks(bytes), {}), code('name_taken'));
  assert.equal(b.store.list().length, 1);
  // --name: a second copy under another name.
  assert.equal((await b.backups.import(BOB, chunks(bytes), { name: 'web-copy' })).name, 'web-copy');
});

/** The archive's members, in order (names and contents), through the daemon's own reader. */
async function members(bytes: Buffer): Promise<[string, Buffer][]> {
  const tar = new TarReader(chunks(bytes));
  const out: [string, Buffer][] = [];
  for (let h = await tar.next(); h; h = await tar.next()) out.push([h.name, await tar.small(h.size, 1 << 24, h.name)]);
  return out;
}

/** A well-formed archive of these members (the manifest's digest recomputed): what another writer would make. */
function archiveOf(ms: [string, Buffer][]): Buffer {
  const parts: Buffer[] = [];
  const manifest = ms.find(([n]) => n === 'manifest.json')![1];
  for (const [n, b0] of ms) {
    const b = n === 'manifest.sha256' ? Buffer.from(`${sha256Hex(manifest)}\n`) : b0;
    parts.push(tarHeader(n, b.length, 0), b, tarPadding(b.length));
  }
  return Buffer.concat([...parts, TAR_END]);
}

test('--with-memory: the sleep save travels as memory.bin (format 2, checksummed, the identity watch armed before it); what cannot be resumed cold-boots and says why', async () => {
  const a = host();
  const { vm, bytes } = await exported(a, { withMemory: true });
  assert.deepEqual(a.guest.watches, [{ vmId: vm.id, seconds: SAVE_WATCH_SECONDS }], 'armed just before the save');
  const ms = await members(bytes);
  assert.deepEqual(ms.map(([n]) => n), ['manifest.json', 'disk.qcow2', 'memory.bin', 'config.json', 'releases.json', 'manifest.sha256']);
  const manifest = JSON.parse(ms[0]![1].toString());
  assert.equal(manifest.version, 2);
  assert.deepEqual({ ...manifest.memory, savedAt: typeof manifest.memory.savedAt }, { hypervisor: 'qemu', vcpus: 1, memoryMib: 512, imageBuild: 'base', savedAt: 'string', identityWatch: true, namedRam: false });
  assert.match(ms[2]![1].toString(), new RegExp(`^state of ${vm.id} at /mem/${vm.id}/saved/sleep/state.bin$`), 'the sleep save taken with the disk');
  assert.equal(a.service.get(ALICE, 'web').state, 'sleeping');

  const b = host();
  const made = await b.backups.import(BOB, chunks(bytes), {});
  assert.equal(made.state, 'starting');
  assert.match(made.lastError ?? '', /^imported by a cold boot: its memory state was not resumed: the VM has a 512 MiB swap disk, which the archive does not carry/);
  assert.notEqual(made.id, vm.id);
  assert.equal(b.snapshotter.restores.length, 0, 'nothing was restored from the archive\'s memory');
  assert.equal((await b.service.wait(BOB, 'web', 'running', 1000)).state, 'running');
  // What differs first is named: the image build, the hypervisor.
  assert.match((await host({ imageDir: '/images/4f00ba11' }).backups.import(BOB, chunks(bytes), {})).lastError ?? '', /saved on image build base, and this host has 4f00ba11/);
  assert.match((await host({ hypervisor: 'firecracker' }).backups.import(BOB, chunks(bytes), {})).lastError ?? '', /saved by qemu, and this host runs firecracker/);

  // A damaged memory member refuses the whole archive, leaving nothing.
  const c = host();
  const memAt = bytes.indexOf(Buffer.from(`state of ${vm.id}`));
  const bad = Buffer.from(bytes);
  bad[memAt + 3] = bad[memAt + 3]! ^ 1;
  await assert.rejects(c.backups.import(ALICE, chunks(bad), {}), code('backup_invalid', /memory\.bin does not match its SHA-256/));
  assert.deepEqual([c.store.list().length, c.disks.disks.size, c.network.taps.size, c.hypervisor.machines.size, c.archive.open.size], [0, 0, 0, 0, 0]);
  // memory.bin listed without the machine it belongs to; a memory described with no memory.bin.
  const noMeta = ms.map(([n, x]): [string, Buffer] => [n, n === 'manifest.json' ? Buffer.from(JSON.stringify({ ...manifest, memory: undefined })) : x]);
  await assert.rejects(c.backups.import(ALICE, chunks(archiveOf(noMeta)), {}), code('backup_invalid', /does not say what machine/));
  const noMember = ms.filter(([n]) => n !== 'memory.bin').map(([n, x]): [string, Buffer] => [n, n === 'manifest.json' ? Buffer.from(JSON.stringify({ ...manifest, members: manifest.members.filter((m: { name: string }) => m.name !== 'memory.bin') })) : x]);
  await assert.rejects(c.backups.import(ALICE, chunks(archiveOf(noMember)), {}), code('backup_invalid', /lists no memory\.bin/));
  assert.equal(c.store.list().length, 0);

  // Only a running or sleeping VM has a memory state.
  await a.service.stop(ALICE, 'web', { timeoutMs: 0, force: true });
  await assert.rejects(a.backups.export(ALICE, 'web', { withMemory: true }), code('invalid_state', /no memory state to export/));
});

test('--with-memory, resumed: the new VM is the saved machine on its own disks, seed, tap and MAC, answering as itself; the source disarms its watch on waking', async () => {
  const a = host();
  const { vm, bytes } = await exported(a, { withMemory: true, swapMib: 0 });
  assert.equal(a.service.get(ALICE, 'web').state, 'sleeping');

  const b = host();
  // The twin's staging keeps no bytes: say that its state loads, as QEMU's would.
  b.snapshotter.saved.set('memory-staging:memory.bin', vm.id);
  const made = await b.backups.import(BOB, chunks(bytes), { name: 'web-copy' });
  assert.deepEqual([made.state, made.lastError], ['starting', null]);
  assert.equal(b.snapshotter.restores.length, 1);
  const spec = b.snapshotter.restores[0]!.spec;
  assert.equal(spec.vmId, made.id);
  assert.deepEqual(spec.net, { tap: made.tap, mac: made.mac }, 'its own tap and MAC');
  assert.ok(spec.drives.every((d) => d.path.includes(made.id)), 'its own disks and seed');
  assert.equal(spec.memory, undefined, 'anonymous RAM, as it was saved');
  assert.equal((await b.service.wait(BOB, 'web-copy', 'running', 1000)).state, 'running');
  assert.equal(b.hypervisor.machines.size, 1);

  // The source wakes from its armed save and disarms the watch once its agent answers: it keeps its identity.
  await a.service.start(ALICE, 'web');
  await a.service.wait(ALICE, 'web', 'running', 1000);
  for (let i = 0; i < 100 && !a.guest.disarmed.includes(vm.id); i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(a.guest.disarmed, [vm.id]);

  // A state that does not load: the VM boots from the disk instead, and says why; no second machine.
  const c = host();
  const cold = await c.backups.import(BOB, chunks(bytes), {});
  assert.match(cold.lastError ?? '', /^imported by a cold boot: its memory state was not resumed: resuming it failed \(no saved state at memory-staging:memory\.bin\)/);
  assert.equal(c.hypervisor.machines.size, 1);
  assert.equal((await c.service.wait(BOB, 'web', 'running', 1000)).state, 'running');

  // Saved without the watch (an older daemon's archive): never resumed.
  const ms = await members(bytes);
  const m = JSON.parse(ms[0]![1].toString());
  const old = ms.map(([n, x]): [string, Buffer] => [n, n === 'manifest.json' ? Buffer.from(JSON.stringify({ ...m, memory: { ...m.memory, identityWatch: undefined } })) : x]);
  const d = host();
  d.snapshotter.saved.set('memory-staging:memory.bin', vm.id);
  assert.match((await d.backups.import(BOB, chunks(archiveOf(old)), {})).lastError ?? '', /saved without the guest's identity watch/);
  assert.equal(d.snapshotter.restores.length, 0);

  // A guest that cannot arm the watch: the export still carries the save, marked unarmed.
  const e = host();
  e.guest.failWatch = true;
  const { bytes: unarmed } = await exported(e, { withMemory: true, swapMib: 0 });
  assert.equal(JSON.parse((await members(unarmed))[0]![1].toString()).memory.identityWatch, false);
});

test('an archive of format 1 (before memory) still imports; an unknown version is refused', async () => {
  const a = host();
  const { bytes } = await exported(a);
  const ms = await members(bytes);
  const v = (version: number) => ms.map(([n, x]): [string, Buffer] => [n, n === 'manifest.json' ? Buffer.from(JSON.stringify({ ...JSON.parse(x.toString()), version })) : x]);
  const b = host();
  const made = await b.backups.import(BOB, chunks(archiveOf(v(1))), {});
  assert.deepEqual([made.name, made.lastError], ['web', null]);
  assert.deepEqual(b.env.get(made.id), { GREETING: 'hi' });
  await assert.rejects(b.backups.import(BOB, chunks(archiveOf(v(3))), { name: 'web-three' }), code('backup_invalid', /format version 3 is not one this daemon reads \(1, 2\)/));
});
