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
