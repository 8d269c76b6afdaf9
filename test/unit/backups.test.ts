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
import { BackupService } from '../../daemon/core/backups.js';
import { isFcmError } from '../../daemon/core/errors.js';
import { MemoryEnvStore, MemoryReleaseStore } from '../../daemon/drivers/memory/memory-deploys.js';
import { MemoryDiskArchive } from '../../daemon/drivers/memory/memory-host.js';
import { ALICE, BOB, DEFAULTS, memoryService } from '../helpers/memory-service.js';

function host() {
  const h = memoryService({ sleep: true });
  const archive = new MemoryDiskArchive(h.disks);
  const releases = new MemoryReleaseStore();
  const env = new MemoryEnvStore();
  const backups = new BackupService({ vms: h.service, archive, releases, env, maxDiskBytes: 1 << 20, log: pino({ level: 'silent' }), now: Date.now });
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

async function exported(a: ReturnType<typeof host>) {
  await a.service.create(ALICE, { ...DEFAULTS, name: 'web', memoryMib: 512, sleepAfterSec: 900 });
  const vm = await a.service.wait(ALICE, 'web', 'running', 1000);
  a.env.put(vm.id, { GREETING: 'hi' });
  const r1 = a.releases.create({ vmId: vm.id, status: 'pending', kind: 'deploy', commit: 'c0ffee', description: 'Deploy c0ffee', buildpack: 'python', processes: { web: 'python app.py' }, rollbackOf: null, build: 1 });
  a.releases.update(vm.id, r1.version, { status: 'succeeded', finishedAt: new Date().toISOString(), log: 'built' });
  a.archive.roots.set(vm.id, Buffer.concat([Buffer.from('QFI\xfb', 'latin1'), Buffer.alloc(5000, 3)]));
  const b = await a.backups.export(ALICE, 'web');
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
