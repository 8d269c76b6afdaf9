import { lstat, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { FcmError } from '../core/errors.js';
import { diskTag, type SnapshotFiles, type SnapshotMeta } from '../core/ports/vm-snapshots.js';
import { asDiskFull } from './cow-disks.js';
import { allocatedBytes, freshDir, writeSeal } from './sealed-dir.js';
import { run } from './proc.js';

const VM_ID = /^vm_[0-9a-f]+$/;
const NAME = /^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/;

export interface VmFilesLayout {
  /** The VM's disk directory, root disk, swap file (CowDisks.layout). */
  layout(vmId: string): { dir: string; root: string; swap: string; format: 'qcow2' | 'raw' };
}

/**
 * `<disks>/<vm>/snapshots/<name>/`:
 *
 *   state.bin   QEMU's memory + device state (0600: it is the guest's RAM)
 *   swap.raw    sparse copy of the VM's swap at that instant (the memory state refers to it)
 *   meta.json   written last (seal): without it the snapshot is incomplete and ignored
 *
 * and the root disk's qcow2 internal snapshot `fcm-<name>` (copy-on-write
 * inside root.qcow2: it costs only the clusters written since). Everything is
 * inside the VM's disk directory (root's 0700), so deleting the VM's disks
 * deletes its snapshots, and no QEMU ever sees these files (a restored QEMU
 * gets the state through an fd the daemon opens).
 */
export class FileSnapshots implements SnapshotFiles {
  constructor(private readonly disks: VmFilesLayout) {}

  private layout(vmId: string): ReturnType<VmFilesLayout['layout']> {
    if (!VM_ID.test(vmId)) throw new Error(`bad vm id ${vmId}`);
    return this.disks.layout(vmId);
  }

  private dir(vmId: string, name: string): string {
    if (!NAME.test(name)) throw new Error(`bad snapshot name ${name}`);
    return join(this.layout(vmId).dir, 'snapshots', name);
  }

  async begin(vmId: string, name: string): Promise<{ statePath: string; freeze: () => Promise<void> }> {
    const d = this.dir(vmId, name);
    if (await lstat(join(d, 'meta.json')).catch(() => null)) throw new FcmError('name_taken', `A snapshot named "${name}" already exists.`);
    // An incomplete one (the daemon died while taking it) is nobody's: start over.
    await freshDir(d);
    const swap = this.layout(vmId).swap;
    return {
      statePath: join(d, 'state.bin'),
      freeze: async () => {
        if (!(await lstat(swap).catch(() => null))) return;
        await run('cp', ['--sparse=always', swap, join(d, 'swap.raw')]).catch((e: unknown) => {
          throw asDiskFull(e);
        });
      },
    };
  }

  async seal(vmId: string, name: string, meta: Omit<SnapshotMeta, 'sizeBytes'>): Promise<SnapshotMeta> {
    const d = this.dir(vmId, name);
    const sealed: SnapshotMeta = { ...meta, sizeBytes: await allocatedBytes(d) };
    await writeSeal(d, sealed);
    return sealed;
  }

  async list(vmId: string): Promise<(SnapshotMeta & { statePath: string })[]> {
    const root = join(this.layout(vmId).dir, 'snapshots');
    const out: (SnapshotMeta & { statePath: string })[] = [];
    for (const name of await readdir(root).catch(() => [] as string[])) {
      if (!NAME.test(name)) continue;
      const d = join(root, name);
      const text = await readFile(join(d, 'meta.json'), 'utf8').catch(() => null);
      const state = await lstat(join(d, 'state.bin')).catch(() => null);
      if (text === null || !state?.isFile()) continue;
      try {
        const m = JSON.parse(text) as SnapshotMeta;
        if (m?.name !== name || typeof m.spec?.vmId !== 'string' || typeof m.createdAt !== 'string') continue;
        out.push({ ...m, statePath: join(d, 'state.bin') });
      } catch {
        /* a damaged meta: not a snapshot */
      }
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.name.localeCompare(b.name));
  }

  async unsealed(vmId: string): Promise<string[]> {
    const root = join(this.layout(vmId).dir, 'snapshots');
    const out: string[] = [];
    for (const name of await readdir(root).catch(() => [] as string[])) {
      if (NAME.test(name) && !(await lstat(join(root, name, 'meta.json')).catch(() => null))) out.push(name);
    }
    return out.sort();
  }

  async revert(vmId: string, name: string): Promise<void> {
    const d = this.dir(vmId, name);
    const l = this.layout(vmId);
    if (l.format !== 'qcow2') throw new FcmError('not_implemented', 'Snapshots need qcow2 disks.');
    await run('qemu-img', ['snapshot', '-a', diskTag(name), l.root]);
    if (await lstat(join(d, 'swap.raw')).catch(() => null)) {
      await run('cp', ['--sparse=always', join(d, 'swap.raw'), l.swap]).catch((e: unknown) => {
        throw asDiskFull(e);
      });
    }
  }

  async remove(vmId: string, name: string, opts: { disk: boolean }): Promise<void> {
    const l = this.layout(vmId);
    if (opts.disk && l.format === 'qcow2' && (await lstat(l.root).catch(() => null))) {
      const tags = (await run('qemu-img', ['snapshot', '-l', '-U', l.root])).stdout;
      if (tags.split('\n').some((line) => line.trim().split(/\s+/)[1] === diskTag(name))) {
        await run('qemu-img', ['snapshot', '-d', diskTag(name), l.root]);
      }
    }
    await rm(this.dir(vmId, name), { recursive: true, force: true });
  }
}
