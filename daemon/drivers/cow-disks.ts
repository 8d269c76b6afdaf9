import { constants } from 'node:fs';
import { chmod, mkdir, open, readdir, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FcmError } from '../core/errors.js';
import type { DiskForks, Disks, VmDisks } from '../core/ports/disks.js';
import type { DriveSpec } from '../core/ports/hypervisor.js';
import type { ImageInfo } from '../core/ports/images.js';
import { run } from './proc.js';

export interface CowDisksConfig {
  dir: string;
  /** qcow2 overlays (QEMU) or sparse raw copies (Firecracker, which needs raw). */
  format: 'qcow2' | 'raw';
  /** Refuse to create a VM when the disk has less free space than this. */
  minFreeMib: number;
}

const MiB = 1024 * 1024;

/** A fork's captured memory state, in its disk directory until its restore has loaded it. */
const FORK_STATE = 'fork-state.bin';

/**
 * Per-VM disks without copying the base image: a qcow2 overlay backed by the
 * read-only base (instant, only written blocks use space), or for raw a
 * reflink/sparse copy. The guest grows its filesystem to the device size at
 * boot. Swap is a sparse file the guest formats on first boot.
 */
export class CowDisks implements Disks, DiskForks {
  constructor(private readonly cfg: CowDisksConfig) {}

  private paths(vmId: string, swapMib: number): VmDisks {
    const dir = this.vmDir(vmId);
    const root: DriveSpec = {
      id: 'root',
      path: join(dir, this.cfg.format === 'qcow2' ? 'root.qcow2' : 'root.raw'),
      format: this.cfg.format,
      readOnly: false,
    };
    return {
      root,
      seed: { id: 'seed', path: join(dir, 'seed.raw'), format: 'raw', readOnly: true },
      swap: swapMib > 0 ? { id: 'swap', path: join(dir, 'swap.raw'), format: 'raw', readOnly: false } : null,
    };
  }

  async prepare(vmId: string, swapMib: number, seed: Buffer): Promise<VmDisks> {
    const d = this.paths(vmId, swapMib);
    try {
      await writeFile(d.seed.path, seed, { mode: 0o600 });
    } catch (err) {
      throw asDiskFull(err);
    }
    return d;
  }

  async create(vmId: string, base: ImageInfo, sizes: { diskMib: number; swapMib: number }, seed: Buffer): Promise<VmDisks> {
    const baseBytes = (await stat(base.rootfsPath).catch(() => null))?.size;
    if (baseBytes === undefined) throw new FcmError('image_missing', `The ${base.name} image's root filesystem is missing (${base.rootfsPath}).`);
    if (sizes.diskMib * MiB < baseBytes) {
      throw new FcmError('validation_failed', `diskMib must be at least ${Math.ceil(baseBytes / MiB)} (the ${base.name} image's size).`, {
        errors: [{ path: '/body/diskMib', message: `must be >= ${Math.ceil(baseBytes / MiB)}` }],
      });
    }
    await mkdir(this.cfg.dir, { recursive: true, mode: 0o700 });
    const fs = await statfs(this.cfg.dir);
    const freeMib = (fs.bavail * fs.bsize) / MiB;
    if (freeMib < this.cfg.minFreeMib) {
      throw new FcmError('disk_full', `Only ${Math.floor(freeMib)} MiB free on the host disk; need at least ${this.cfg.minFreeMib} MiB.`);
    }
    return this.build(vmId, sizes.swapMib, seed, async (d) => {
      if (this.cfg.format === 'qcow2') {
        await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', base.rootfsPath, d.root.path, `${sizes.diskMib}M`]);
      } else {
        await run('cp', ['--reflink=auto', '--sparse=always', base.rootfsPath, d.root.path]);
        await sparseFile(d.root.path, sizes.diskMib * MiB, false);
      }
      if (d.swap) await sparseFile(d.swap.path, sizes.swapMib * MiB, true);
    });
  }

  /**
   * Makes the VM's directory, lets `fill` make the root (and swap), writes the seed and
   * makes every file 0600 (qemu-img and cp follow the umask; the VM's data is nobody
   * else's business). On any failure removes it all; ENOSPC becomes disk_full.
   */
  private async build(vmId: string, swapMib: number, seed: Buffer, fill: (d: VmDisks) => Promise<void>): Promise<VmDisks> {
    const d = this.paths(vmId, swapMib);
    await mkdir(this.vmDir(vmId), { recursive: true, mode: 0o700 });
    try {
      await fill(d);
      await chmod(d.root.path, 0o600);
      if (d.swap) await chmod(d.swap.path, 0o600);
      await writeFile(d.seed.path, seed, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      await this.remove(vmId);
      throw asDiskFull(err);
    }
    return d;
  }

  /**
   * Disks for a VM restored from a snapshot template: an overlay on the
   * template's (frozen) qcow2 root and a copy of its swap file — the restored
   * guest already ran mkswap/swapon on it, so it must start with the same
   * header (sparse copy: a few KiB).
   */
  async createFromTemplate(vmId: string, template: Pick<VmDisks, 'root' | 'swap'>, sizes: { diskMib: number; swapMib: number }, seed: Buffer): Promise<VmDisks> {
    if (this.cfg.format !== 'qcow2') throw new Error('snapshot templates need qcow2 disks');
    if ((sizes.swapMib > 0) !== Boolean(template.swap)) throw new Error('template and VM disagree on swap');
    return this.build(vmId, sizes.swapMib, seed, async (d) => {
      await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', template.root.format, '-b', template.root.path, d.root.path, `${sizes.diskMib}M`]);
      if (d.swap && template.swap) await run('cp', ['--sparse=always', template.swap.path, d.swap.path]);
    });
  }

  /**
   * A fork's directory: the parent's memory state is written to `fork-state.bin` in it
   * (0600: the guest's RAM), and `freeze` copies the parent's swap as it is at the pause
   * (sparse: what the guest swapped out, no more).
   */
  async beginFork(forkId: string, parentId: string): Promise<{ statePath: string; freeze: () => Promise<void> }> {
    const parent = this.layout(parentId);
    const dir = this.vmDir(forkId);
    await this.checkFree();
    await mkdir(dir, { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
      throw e.code === 'EEXIST' ? new Error(`${forkId} already has disks`) : asDiskFull(e);
    });
    return {
      statePath: join(dir, FORK_STATE),
      freeze: async () => {
        if (!(await stat(parent.swap).catch(() => null))) return;
        await run('cp', ['--sparse=always', parent.swap, this.paths(forkId, 1).swap!.path]).catch((e: unknown) => {
          throw asDiskFull(e);
        });
      },
    };
  }

  /**
   * The fork's root: the clusters of the parent's disk snapshot `tag` copied into a new
   * qcow2 over the parent's own backing file (`qemu-img convert -B`: only what the
   * parent's overlay holds is copied, the rest stays with the shared, read-only base — an
   * image or a template, which outlive any VM made from them). Nothing refers to the
   * parent's file afterwards. The parent's QEMU holds its disk open while this reads the
   * snapshot (-U): a qcow2 internal snapshot's clusters are never written in place
   * (the running disk copies on write), so the read is of the instant the snapshot was taken.
   */
  async finishFork(forkId: string, parentId: string, tag: string, swapMib: number, seed: Buffer): Promise<VmDisks> {
    if (this.cfg.format !== 'qcow2') throw new FcmError('not_implemented', 'Forks need qcow2 disks.');
    const parent = this.layout(parentId);
    const d = this.paths(forkId, swapMib);
    try {
      const info = JSON.parse((await run('qemu-img', ['info', '-U', '--output=json', '-f', 'qcow2', parent.root])).stdout) as { 'full-backing-filename'?: string; 'backing-filename-format'?: string };
      const backing = info['full-backing-filename'];
      const args = ['convert', '-U', '-q', '-f', 'qcow2', '-l', `snapshot.name=${tag}`, '-O', 'qcow2'];
      if (backing) args.push('-B', backing, '-F', info['backing-filename-format'] ?? 'raw');
      await run('qemu-img', [...args, parent.root, d.root.path]);
      await chmod(d.root.path, 0o600);
      if (d.swap) {
        // A parent without swap made none at the pause; the guest formats a fresh one at its next boot.
        if (!(await stat(d.swap.path).catch(() => null))) await sparseFile(d.swap.path, swapMib * MiB, true);
        await chmod(d.swap.path, 0o600);
      }
      await writeFile(d.seed.path, seed, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      throw asDiskFull(err);
    }
    return d;
  }

  async dropForkState(forkId: string): Promise<void> {
    await rm(join(this.vmDir(forkId), FORK_STATE), { force: true });
  }

  private async checkFree(): Promise<void> {
    await mkdir(this.cfg.dir, { recursive: true, mode: 0o700 });
    const fs = await statfs(this.cfg.dir);
    const freeMib = (fs.bavail * fs.bsize) / MiB;
    if (freeMib < this.cfg.minFreeMib) {
      throw new FcmError('disk_full', `Only ${Math.floor(freeMib)} MiB free on the host disk; need at least ${this.cfg.minFreeMib} MiB.`);
    }
  }

  async remove(vmId: string): Promise<void> {
    if (!/^vm_[0-9a-f]+$/.test(vmId)) throw new Error(`bad vm id ${vmId}`);
    await rm(this.vmDir(vmId), { recursive: true, force: true });
  }

  async list(): Promise<string[]> {
    const names = await readdir(this.cfg.dir).catch(() => [] as string[]);
    return names.filter((n) => /^vm_[0-9a-f]+$/.test(n));
  }

  /** Where a VM's files are (for the snapshots kept beside them, drivers/vm-snapshots.ts). */
  layout(vmId: string): { dir: string; root: string; swap: string; format: 'qcow2' | 'raw' } {
    if (!/^vm_[0-9a-f]+$/.test(vmId)) throw new Error(`bad vm id ${vmId}`);
    const d = this.paths(vmId, 1);
    return { dir: this.vmDir(vmId), root: d.root.path, swap: d.swap!.path, format: this.cfg.format };
  }

  private vmDir(vmId: string): string {
    return join(this.cfg.dir, vmId);
  }
}

async function sparseFile(path: string, bytes: number, create: boolean): Promise<void> {
  const fh = await open(path, create ? constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY : constants.O_WRONLY, 0o600);
  try {
    await fh.truncate(bytes);
  } finally {
    await fh.close();
  }
}

/** ENOSPC (from fs calls or a tool's stderr) as the API's disk_full; anything else unchanged. */
export function asDiskFull(err: unknown): unknown {
  if ((err as NodeJS.ErrnoException)?.code === 'ENOSPC' || /No space left|ENOSPC/i.test(String((err as Error)?.message ?? err))) {
    return new FcmError('disk_full', 'The host disk is full.', { cause: err });
  }
  return err;
}
