/** The Disks port. Driver: CowDisks (drivers/cow-disks.ts); twin: MemoryDisks (drivers/memory/memory-host.ts). */
import type { DriveSpec } from './hypervisor.js';
import type { ImageInfo } from './images.js';

export interface VmDisks {
  root: DriveSpec;
  seed: DriveSpec;
  swap: DriveSpec | null;
}

/** Per-VM disks: copy-on-write root over the base image, the seed, sparse swap. */
export interface Disks {
  create(vmId: string, base: ImageInfo, sizes: { diskMib: number; swapMib: number }, seed: Buffer): Promise<VmDisks>;
  /** Paths for an existing VM, rewriting its seed (config may have changed since the last boot). */
  prepare(vmId: string, swapMib: number, seed: Buffer): Promise<VmDisks>;
  /** Disks for a VM restored from a snapshot template (overlay on the template's root, copy of its swap). */
  createFromTemplate(vmId: string, template: Pick<VmDisks, 'root' | 'swap'>, sizes: { diskMib: number; swapMib: number }, seed: Buffer): Promise<VmDisks>;
  remove(vmId: string): Promise<void>;
  list(): Promise<string[]>;
}

/**
 * Disks of a fork (core/vm-forks.ts): a point-in-time copy of a running VM's
 * disks, made around a LiveSnapshots capture of it. Driver: CowDisks; twin:
 * MemoryDisks. The fork's disks live in its own directory and never depend on
 * the parent's files (deleting the parent leaves the fork whole).
 */
export interface DiskForks {
  /**
   * Makes the fork's (empty) disk directory; answers where the captured memory
   * state is written and `freeze`, which copies the parent's swap (call it while
   * the parent is paused: LiveSnapshots `frozen`).
   */
  beginFork(forkId: string, parentId: string): Promise<{ statePath: string; freeze: () => Promise<void> }>;
  /**
   * After the capture: the fork's root from disk snapshot `tag` of the parent's
   * root — standalone, over the parent's own backing file (the base image or a
   * template), never over the parent's disk — and the fork's seed.
   */
  finishFork(forkId: string, parentId: string, tag: string, swapMib: number, seed: Buffer): Promise<VmDisks>;
  /** The captured memory state, once a restore has loaded it (it is the parent's RAM: not kept). Idempotent. */
  dropForkState(forkId: string): Promise<void>;
}
