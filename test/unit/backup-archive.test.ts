/**
 * The backup archive format (daemon/core/backup-archive.ts): what the writer
 * emits, the reader takes back member by member, and GNU tar reads too; a
 * damaged header, a short stream, data after the end and bad manifests are
 * refused with backup_invalid (or payload_too_large past the bound). The
 * whole export → import path is test/host/backup.test.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BACKUP_FORMAT, parseManifest, sha256Hex, TAR_END, tarHeader, tarPadding, TarReader } from '../../daemon/core/backup-archive.js';
import { isFcmError } from '../../daemon/core/errors.js';

function tar(members: [string, Buffer][], end = true): Buffer {
  const parts: Buffer[] = [];
  for (const [n, b] of members) parts.push(tarHeader(n, b.length, 1_700_000_000), b, tarPadding(b.length));
  if (end) parts.push(TAR_END);
  return Buffer.concat(parts);
}

async function* chunks(b: Buffer, size = 700): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

async function readAll(b: Buffer): Promise<[string, Buffer][]> {
  const r = new TarReader(chunks(b));
  const out: [string, Buffer][] = [];
  for (let h = await r.next(); h; h = await r.next()) out.push([h.name, await r.small(h.size, 1 << 20, h.name)]);
  await r.end();
  return out;
}

const code = (c: string, detail?: RegExp) => (e: unknown) => isFcmError(e) && e.code === c && (!detail || detail.test(e.message));
const members: [string, Buffer][] = [
  ['manifest.json', Buffer.from('{"a":1}')],
  ['disk.qcow2', Buffer.alloc(1500, 7)],
  ['empty', Buffer.alloc(0)],
  ['manifest.sha256', Buffer.from('x\n')],
];

test('written members read back, in chunks of any size; GNU tar reads the archive too', async () => {
  const b = tar(members);
  assert.equal(b.length % 512, 0);
  assert.deepEqual(await readAll(b), members);
  const dir = mkdtempSync(join(tmpdir(), 'fcm-tar-'));
  try {
    writeFileSync(join(dir, 'a.tar'), b);
    assert.deepEqual(execFileSync('tar', ['-tf', join(dir, 'a.tar')], { encoding: 'utf8' }).trim().split('\n'), members.map((m) => m[0]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('short streams, damaged headers, something after the end and non-files are backup_invalid', async () => {
  const b = tar(members);
  for (const cut of [100, 512, 1024 + 700, b.length - 512, b.length - 1024]) {
    await assert.rejects(readAll(b.subarray(0, cut)), code('backup_invalid', /truncated/), `cut at ${cut}`);
  }
  const bad = Buffer.from(b);
  bad[3] = bad[3]! ^ 1; // the first header's name: its checksum no longer matches
  await assert.rejects(readAll(bad), code('backup_invalid', /tar checksum/));
  await assert.rejects(readAll(Buffer.concat([tar(members, false), Buffer.alloc(512), Buffer.alloc(512, 1)])), code('backup_invalid', /data after its end/));
  const link = tarHeader('l', 0, 0);
  link[156] = '2'.charCodeAt(0);
  let sum = 0;
  link.fill(32, 148, 156);
  for (const x of link) sum += x;
  link.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  await assert.rejects(readAll(Buffer.concat([link, TAR_END])), code('backup_invalid', /other than plain files/));
});

test('manifests: format, version, VM and member list checked; the disk bound is payload_too_large', () => {
  const good = {
    format: BACKUP_FORMAT,
    version: 1,
    createdAt: '2026-12-06T00:00:00.000Z',
    vm: { name: 'web', vcpus: 1, memoryMib: 256, diskMib: 2048, swapMib: 0, port: 8000, image: 'base', sleepAfterSec: null },
    members: [
      { name: 'disk.qcow2', bytes: 1000, sha256: sha256Hex('d') },
      { name: 'config.json', bytes: 10, sha256: sha256Hex('c') },
      { name: 'releases.json', bytes: 10, sha256: sha256Hex('r') },
    ],
  };
  const j = (v: unknown) => Buffer.from(JSON.stringify(v));
  assert.equal(parseManifest(j(good), 1 << 20).vm.name, 'web');
  assert.throws(() => parseManifest(Buffer.from('{'), 1 << 20), code('backup_invalid', /not JSON/));
  assert.throws(() => parseManifest(j({ ...good, version: 3 }), 1 << 20), code('backup_invalid', /version 3/));
  // Version 2 reads the same members (memory.bin is optional there).
  assert.equal(parseManifest(j({ ...good, version: 2 }), 1 << 20).version, 2);
  assert.throws(() => parseManifest(j({ ...good, format: 'tar' }), 1 << 20), code('backup_invalid'));
  assert.throws(() => parseManifest(j({ ...good, vm: { ...good.vm, name: '../x' } }), 1 << 20), code('backup_invalid', /does not describe a VM/));
  assert.throws(() => parseManifest(j({ ...good, members: good.members.slice().reverse() }), 1 << 20), code('backup_invalid', /in this order/));
  assert.throws(() => parseManifest(j({ ...good, members: [{ ...good.members[0], sha256: 'x' }, ...good.members.slice(1)] }), 1 << 20), code('backup_invalid'));
  assert.throws(() => parseManifest(j(good), 999), code('payload_too_large', /FCM_BACKUP_MAX_MIB/));
});
