/**
 * The backup archive format (exportBackup / importBackup): a POSIX ustar
 * stream, members in this order —
 *
 *   manifest.json    format "fcm-backup", version 2 (1: without memory), the VM's
 *                    settings, and for every member below (but the last) its size
 *                    and SHA-256
 *   disk.qcow2       the root disk, standalone (no backing file), compressed
 *   memory.bin       optional (version 2, `fcm backup export --with-memory`): the
 *                    machine's memory + device state as a sleep saves it, taken at
 *                    the instant the disk was flushed; `memory` in the manifest says
 *                    what machine it belongs to
 *   config.json      {"vars": {...}}: the config vars (secrets)
 *   releases.json    {"releases": [...]}: the release history, oldest first
 *   manifest.sha256  the SHA-256 of manifest.json's bytes (hex), so that every
 *                    byte that matters is checked (tar checksums cover headers only)
 *
 * then tar's end (two zero blocks). Writing is a generator of buffers (the
 * disk streams from its file); reading (TarReader) takes the stream as it
 * comes, member by member, with every size bounded before anything is
 * buffered. Pure: no files, no processes.
 */
import { createHash } from 'node:crypto';
import { FcmError } from './errors.js';

export const BACKUP_FORMAT = 'fcm-backup';
/** The version written. Version 1 (before memory.bin) is still read. */
export const BACKUP_VERSION = 2;
export const BACKUP_VERSIONS_READ = [1, 2] as const;
export const BACKUP_MEDIA_TYPE = 'application/x-fcm-backup';
const BLOCK = 512;
/** JSON members are small; anything bigger is not an archive of ours. */
export const MAX_JSON_MEMBER_BYTES = 8 * 1024 * 1024;

export const MEMBERS = ['disk.qcow2', 'config.json', 'releases.json'] as const;
/** Members of an archive with memory (version 2): memory.bin right after the disk. */
export const MEMBERS_WITH_MEMORY = ['disk.qcow2', 'memory.bin', 'config.json', 'releases.json'] as const;
export type MemberName = (typeof MEMBERS_WITH_MEMORY)[number];

/**
 * The machine a memory.bin belongs to: a resume needs the same hypervisor, the
 * same guest shape and the same image build (the kernel and initrd in its RAM,
 * the command line it booted with).
 */
export interface ArchivedMemory {
  hypervisor: string;
  vcpus: number;
  memoryMib: number;
  /** The image build (its inputs-hash directory name). */
  imageBuild: string;
  savedAt: string;
  /**
   * The guest's identity watch was armed just before the save (daemons since memory resume):
   * only then can the state be resumed as another VM, which takes its own identity from its seed.
   * Absent: false (the import boots from the disk).
   */
  identityWatch?: boolean;
  /** The saved machine's RAM was a named block (restored into private memory of that name). Absent: false. */
  namedRam?: boolean;
}

export interface BackupMember {
  name: MemberName;
  bytes: number;
  sha256: string;
}

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  version: (typeof BACKUP_VERSIONS_READ)[number];
  createdAt: string;
  /** The exported VM. */
  vm: { name: string; vcpus: number; memoryMib: number; diskMib: number; swapMib: number; port: number; image: string; sleepAfterSec: number | null };
  members: BackupMember[];
  /** With memory.bin: the machine it was saved from. */
  memory?: ArchivedMemory;
}

/** A release as archived (the store's row without its VM id). */
export interface ArchivedRelease {
  version: number;
  status: string;
  kind: string;
  commit: string | null;
  description: string;
  buildpack: string | null;
  processes: Record<string, string>;
  rollbackOf: number | null;
  build: number | null;
  log: string;
  createdAt: string;
  finishedAt: string | null;
}

export function invalid(detail: string): FcmError {
  return new FcmError('backup_invalid', `The backup archive is not valid: ${detail}. Nothing was created.`);
}

// ---- writing ----------------------------------------------------------------------------

/** A ustar header for a regular file (mode 0600, owner 0, mtime `mtimeSec`). */
export function tarHeader(name: string, size: number, mtimeSec: number): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`tar name too long: ${name}`);
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  const octal = (v: number, len: number, at: number) => h.write(v.toString(8).padStart(len - 1, '0') + '\0', at, len, 'ascii');
  octal(0o600, 8, 100);
  octal(0, 8, 108);
  octal(0, 8, 116);
  octal(size, 12, 124);
  octal(mtimeSec, 12, 136);
  h.write('        ', 148, 8, 'ascii');
  h.write('0', 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return h;
}

export function tarPadding(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest);
}

export const TAR_END = Buffer.alloc(2 * BLOCK);

export function sha256Hex(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}

// ---- reading ----------------------------------------------------------------------------

function parseOctal(h: Buffer, at: number, len: number): number {
  const s = h.subarray(at, at + len).toString('ascii').replace(/\0.*$/s, '').trim();
  if (!/^[0-7]+$/.test(s)) return NaN;
  return parseInt(s, 8);
}

/**
 * Reads a tar stream member by member. `next()` answers the next member's
 * header (null at tar's end); its content must then be consumed with
 * `content()` before the next `next()`. A stream that ends early, a header
 * whose checksum fails, anything but a regular file: backup_invalid.
 */
export class TarReader {
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  private readonly it: AsyncIterator<Buffer | string>;

  constructor(source: AsyncIterable<Buffer | string>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(n: number): Promise<boolean> {
    while (this.buf.length < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else this.buf = this.buf.length ? Buffer.concat([this.buf, Buffer.from(r.value)]) : Buffer.from(r.value);
    }
    return this.buf.length >= n;
  }

  private take(n: number): Buffer {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  async next(): Promise<{ name: string; size: number } | null> {
    if (!(await this.fill(BLOCK))) throw invalid(this.buf.length === 0 && this.done ? 'it ends without the end of the archive (truncated)' : 'it ends inside a header (truncated)');
    const h = this.take(BLOCK);
    if (h.every((b) => b === 0)) return null;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    if (parseOctal(h, 148, 8) !== sum) throw invalid('a member header is damaged (tar checksum)');
    const type = String.fromCharCode(h[156]!);
    if (type !== '0' && type !== '\0') throw invalid('it holds something other than plain files');
    const name = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const size = parseOctal(h, 124, 12);
    if (!Number.isSafeInteger(size)) throw invalid(`the size of ${JSON.stringify(name)} is damaged`);
    return { name, size };
  }

  /** Streams exactly `size` bytes of the current member to `sink` (awaited per chunk: backpressure), then skips the padding. */
  async content(size: number, sink: (chunk: Buffer) => Promise<void> | void): Promise<void> {
    let left = size;
    while (left > 0) {
      if (this.buf.length === 0 && !(await this.fill(1))) throw invalid('it ends inside a member (truncated)');
      const chunk = this.take(Math.min(left, this.buf.length));
      left -= chunk.length;
      await sink(chunk);
    }
    const pad = tarPadding(size).length;
    if (pad && !(await this.fill(pad))) throw invalid('it ends inside a member (truncated)');
    this.take(pad);
  }

  /** A small member, whole. */
  async small(size: number, max: number, name: string): Promise<Buffer> {
    if (size > max) throw invalid(`${name} is larger than ${max} bytes`);
    const parts: Buffer[] = [];
    await this.content(size, (c) => void parts.push(Buffer.from(c)));
    return Buffer.concat(parts);
  }

  /** After the end blocks: the second zero block must be there too. */
  async end(): Promise<void> {
    if (!(await this.fill(BLOCK))) throw invalid('it ends without the end of the archive (truncated)');
    if (!this.take(BLOCK).every((b) => b === 0)) throw invalid('it has data after its end');
  }
}

// ---- the manifest ---------------------------------------------------------------------------

const SHA = /^[0-9a-f]{64}$/;
const NAME = /^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$/;

const isInt = (v: unknown, lo: number, hi: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;

/** Checks a manifest read from an archive (untrusted); `maxDiskBytes` bounds the disk member. */
export function parseManifest(bytes: Buffer, maxDiskBytes: number): BackupManifest {
  let m: unknown;
  try {
    m = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid('manifest.json is not JSON');
  }
  const o = m as Record<string, any>;
  if (!o || typeof o !== 'object' || o.format !== BACKUP_FORMAT) throw invalid('manifest.json is not an fcm backup manifest');
  if (!(BACKUP_VERSIONS_READ as readonly unknown[]).includes(o.version)) throw invalid(`format version ${JSON.stringify(o.version)} is not one this daemon reads (${BACKUP_VERSIONS_READ.join(', ')})`);
  const vm = o.vm as Record<string, unknown> | undefined;
  if (
    !vm ||
    typeof vm.name !== 'string' ||
    !NAME.test(vm.name) ||
    !isInt(vm.vcpus, 1, 64) ||
    !isInt(vm.memoryMib, 128, 1 << 20) ||
    !isInt(vm.diskMib, 256, 1 << 24) ||
    !isInt(vm.swapMib, 0, 1 << 20) ||
    !isInt(vm.port, 1, 65535) ||
    typeof vm.image !== 'string' ||
    !(vm.sleepAfterSec === null || isInt(vm.sleepAfterSec, 1, 1 << 30))
  ) {
    throw invalid('manifest.json does not describe a VM');
  }
  const members = o.members as unknown;
  const withMemory = o.version >= 2 && Array.isArray(members) && (members[1] as Record<string, unknown> | undefined)?.name === 'memory.bin';
  const want: readonly string[] = withMemory ? MEMBERS_WITH_MEMORY : MEMBERS;
  if (!Array.isArray(members) || members.length !== want.length) throw invalid(`manifest.json must list ${want.join(', ')}`);
  if (withMemory) {
    const mem = o.memory as Record<string, unknown> | undefined;
    if (
      !mem ||
      typeof mem.hypervisor !== 'string' ||
      !isInt(mem.vcpus, 1, 64) ||
      !isInt(mem.memoryMib, 128, 1 << 20) ||
      typeof mem.imageBuild !== 'string' ||
      typeof mem.savedAt !== 'string' ||
      (mem.identityWatch !== undefined && typeof mem.identityWatch !== 'boolean') ||
      (mem.namedRam !== undefined && typeof mem.namedRam !== 'boolean')
    ) {
      throw invalid('manifest.json lists memory.bin but does not say what machine it belongs to');
    }
  } else if (o.memory !== undefined) {
    throw invalid('manifest.json describes a memory state but lists no memory.bin');
  }
  // The state of a machine of this much RAM is at most its RAM and QEMU's device state (the bound of a save).
  const memoryBound = ((vm.memoryMib as number) + 256) * 1024 * 1024;
  members.forEach((x: Record<string, unknown>, i) => {
    if (!x || x.name !== want[i] || !isInt(x.bytes, 0, Number.MAX_SAFE_INTEGER) || typeof x.sha256 !== 'string' || !SHA.test(x.sha256)) {
      throw invalid(`manifest.json must list ${want.join(', ')} with their sizes and SHA-256, in this order`);
    }
    if (x.name === 'memory.bin' && (x.bytes as number) > memoryBound) throw invalid(`memory.bin is larger than the state of a ${vm.memoryMib as number} MiB machine can be`);
    const bound = x.name === 'disk.qcow2' ? maxDiskBytes : x.name === 'memory.bin' ? memoryBound : MAX_JSON_MEMBER_BYTES;
    if ((x.bytes as number) > bound) throw new FcmError('payload_too_large', `${String(x.name)} is ${x.bytes} bytes; this daemon takes at most ${bound} (FCM_BACKUP_MAX_MIB).`);
  });
  return o as BackupManifest;
}
