import { randomBytes, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, link, mkdir, open, readdir, rename, rm, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { invalid } from '../core/backup-archive.js';
import { FcmError } from '../core/errors.js';
import type { VmDisks } from '../core/ports/disks.js';
import type { DiskArchive, ExportedDisk, ImportStaging } from '../core/ports/disk-archive.js';
import { asDiskFull } from './cow-disks.js';
import { run } from './proc.js';

export interface DiskArchiveConfig {
  /** The VM disks' directory (CowDisks'): imports are staged under `<dir>/.imports` (same filesystem: the disk is renamed into place). */
  dir: string;
  /** The format VMs' root disks have here (CowDisks'). */
  format: 'qcow2' | 'raw';
  /** Refuse to stage an import when the disk has less free space than this. */
  minFreeMib: number;
}

const MiB = 1024 * 1024;
/** qemu-img on an untrusted image: bounded in time (a crafted image must not hang the daemon). */
const INSPECT_TIMEOUT_MS = 60_000;
const CONVERT_TIMEOUT_MS = 30 * 60_000;

/**
 * Root disks in and out of archives with qemu-img. Export: `qemu-img convert`
 * reads through the VM's overlay chain (base image, template) and writes one
 * standalone qcow2, zstd-compressed (a 2 GiB disk of a deployed app: ~150 MiB).
 * Import: the archive's image is untrusted — it is opened only with `-f qcow2`
 * (never probed), and refused when it names a backing file or an external data
 * file (either would let the guest read a host file), fails `qemu-img check`,
 * or is larger than the VM's disk. Only then is it renamed (qcow2 hosts) or
 * converted (raw hosts) into the new VM's directory.
 */
export class QemuImgDiskArchive implements DiskArchive {
  constructor(private readonly cfg: DiskArchiveConfig) {}

  async exportRoot(vmId: string): Promise<ExportedDisk> {
    if (!/^vm_[0-9a-f]+$/.test(vmId)) throw new Error(`bad vm id ${vmId}`);
    const root = { path: join(this.cfg.dir, vmId, this.cfg.format === 'qcow2' ? 'root.qcow2' : 'root.raw'), format: this.cfg.format };
    const path = join(this.cfg.dir, vmId, `export-${randomBytes(6).toString('hex')}.qcow2`);
    const remove = () => rm(path, { force: true });
    try {
      await run('qemu-img', ['convert', '-q', '-f', root.format, '-O', 'qcow2', '-c', '-o', 'compression_type=zstd', root.path, path], { timeoutMs: CONVERT_TIMEOUT_MS });
      await chmod(path, 0o600);
      const bytes = (await stat(path)).size;
      const hash = createHash('sha256');
      for await (const c of createReadStream(path)) hash.update(c as Buffer);
      return { bytes, sha256: hash.digest('hex'), read: () => createReadStream(path, { highWaterMark: 1 << 20 }), remove };
    } catch (e) {
      await remove();
      throw asDiskFull(e);
    }
  }

  /** A hard link (the disks' filesystem): instant, and the inode outlives the save's removal. */
  async exportFile(vmId: string, path: string): Promise<ExportedDisk> {
    if (!/^vm_[0-9a-f]+$/.test(vmId)) throw new Error(`bad vm id ${vmId}`);
    const dir = join(this.cfg.dir, vmId);
    if (!path.startsWith(`${dir}/`)) throw new Error(`${path} is not a file of ${vmId}`);
    const copy = join(dir, `export-${randomBytes(6).toString('hex')}.bin`);
    const remove = () => rm(copy, { force: true });
    try {
      await link(path, copy);
      const bytes = (await stat(copy)).size;
      const hash = createHash('sha256');
      for await (const c of createReadStream(copy, { highWaterMark: 1 << 20 })) hash.update(c as Buffer);
      return { bytes, sha256: hash.digest('hex'), read: () => createReadStream(copy, { highWaterMark: 1 << 20 }), remove };
    } catch (e) {
      await remove();
      throw asDiskFull(e);
    }
  }

  /** Staging directories of imports running in this process (never swept). */
  private readonly live = new Set<string>();

  async sweepStagings(): Promise<number> {
    const base = join(this.cfg.dir, '.imports');
    let n = 0;
    for (const name of await readdir(base).catch(() => [] as string[])) {
      const dir = join(base, name);
      if (this.live.has(dir)) continue;
      await rm(dir, { recursive: true, force: true });
      n++;
    }
    return n;
  }

  async staging(): Promise<ImportStaging> {
    const base = join(this.cfg.dir, '.imports');
    await mkdir(base, { recursive: true, mode: 0o700 });
    const fs = await statfs(base);
    const freeMib = (fs.bavail * fs.bsize) / MiB;
    if (freeMib < this.cfg.minFreeMib) throw new FcmError('disk_full', `Only ${Math.floor(freeMib)} MiB free on the host disk; need at least ${this.cfg.minFreeMib} MiB.`);
    const dir = join(base, randomBytes(8).toString('hex'));
    this.live.add(dir);
    try {
      await mkdir(dir, { mode: 0o700 });
    } catch (e) {
      this.live.delete(dir);
      throw asDiskFull(e);
    }
    return new FileStaging(dir, () => this.live.delete(dir));
  }

  async importRoot(vmId: string, staging: ImportStaging, sizes: { diskMib: number; swapMib: number }, seed: Buffer): Promise<VmDisks> {
    if (!(staging instanceof FileStaging)) throw new Error('not a staging of this driver');
    const staged = staging.diskPath;
    await this.inspect(staged, sizes.diskMib);
    const dir = join(this.cfg.dir, vmId);
    const d: VmDisks = {
      root: { id: 'root', path: join(dir, this.cfg.format === 'qcow2' ? 'root.qcow2' : 'root.raw'), format: this.cfg.format, readOnly: false },
      seed: { id: 'seed', path: join(dir, 'seed.raw'), format: 'raw', readOnly: true },
      swap: sizes.swapMib > 0 ? { id: 'swap', path: join(dir, 'swap.raw'), format: 'raw', readOnly: false } : null,
    };
    await mkdir(dir, { mode: 0o700 });
    try {
      if (this.cfg.format === 'qcow2') {
        await rename(staged, d.root.path);
        await run('qemu-img', ['resize', '-q', '-f', 'qcow2', d.root.path, `${sizes.diskMib}M`], { timeoutMs: INSPECT_TIMEOUT_MS });
      } else {
        await run('qemu-img', ['convert', '-q', '-f', 'qcow2', '-O', 'raw', '-S', '4k', staged, d.root.path], { timeoutMs: CONVERT_TIMEOUT_MS });
        await sized(d.root.path, sizes.diskMib * MiB, false);
      }
      await chmod(d.root.path, 0o600);
      if (d.swap) await sized(d.swap.path, sizes.swapMib * MiB, true);
      const fh = await open(d.seed.path, 'wx', 0o600);
      try {
        await fh.writeFile(seed);
      } finally {
        await fh.close();
      }
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw asDiskFull(e);
    }
    return d;
  }

  /** The staged image: qcow2, standalone, undamaged, no larger than the VM's disk. */
  private async inspect(path: string, diskMib: number): Promise<void> {
    let info: Record<string, any>;
    try {
      const r = await run('qemu-img', ['info', '-f', 'qcow2', '--output=json', path], { timeoutMs: INSPECT_TIMEOUT_MS });
      info = JSON.parse(r.stdout) as Record<string, any>;
    } catch {
      throw invalid('disk.qcow2 is not a qcow2 image');
    }
    if (info['format'] !== 'qcow2') throw invalid('disk.qcow2 is not a qcow2 image');
    if (info['backing-filename'] !== undefined || info['full-backing-filename'] !== undefined) throw invalid('disk.qcow2 names a backing file');
    if (info['format-specific']?.['data']?.['data-file'] !== undefined) throw invalid('disk.qcow2 names an external data file');
    if (typeof info['virtual-size'] !== 'number' || info['virtual-size'] > diskMib * MiB) throw invalid(`disk.qcow2 is larger than the VM's disk (${diskMib} MiB)`);
    try {
      await run('qemu-img', ['check', '-q', '-f', 'qcow2', path], { timeoutMs: INSPECT_TIMEOUT_MS });
    } catch {
      throw invalid('disk.qcow2 is damaged (qemu-img check)');
    }
  }
}

class FileStaging implements ImportStaging {
  constructor(
    readonly dir: string,
    private readonly released: () => void,
  ) {}

  get diskPath(): string {
    return join(this.dir, 'disk.qcow2');
  }

  private memoryStaged = false;

  async openDisk(): Promise<{ write(chunk: Buffer): Promise<void>; close(): Promise<void> }> {
    return this.sink(this.diskPath);
  }

  async openMemory(): Promise<{ write(chunk: Buffer): Promise<void>; close(): Promise<void> }> {
    const s = await this.sink(join(this.dir, 'memory.bin'));
    this.memoryStaged = true;
    return s;
  }

  memoryPath(): string | null {
    return this.memoryStaged ? join(this.dir, 'memory.bin') : null;
  }

  private async sink(path: string): Promise<{ write(chunk: Buffer): Promise<void>; close(): Promise<void> }> {
    const fh = await open(path, 'wx', 0o600);
    return {
      write: async (chunk) => {
        try {
          await fh.write(chunk);
        } catch (e) {
          throw asDiskFull(e);
        }
      },
      close: () => fh.close(),
    };
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
    this.released();
  }
}

async function sized(path: string, bytes: number, create: boolean): Promise<void> {
  const fh = await open(path, create ? 'wx' : 'r+', 0o600);
  try {
    await fh.truncate(bytes);
  } finally {
    await fh.close();
  }
}
