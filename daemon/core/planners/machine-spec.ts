import type { VmDisks } from '../ports/disks.js';
import type { MachineSpec, MemorySpec } from '../ports/hypervisor.js';
import type { ImageInfo } from '../ports/images.js';

export interface MachineInput {
  vmId: string;
  vcpus: number;
  memoryMib: number;
  image: Pick<ImageInfo, 'kernelPath' | 'initrdPath'>;
  cmdline: string;
  /** As the Disks driver (or TemplateStore) made them: paths and formats are theirs, not core's. */
  disks: VmDisks;
  /** tap null: a NIC with no backend (snapshot templates). */
  net: { tap: string | null; mac: string };
  /** Guest RAM (ports/hypervisor.ts MemorySpec); absent: anonymous. */
  memory?: MemorySpec;
}

/**
 * The one place a machine is put together (cold boot, snapshot restore,
 * template build). Drive order is the guest's device order: root (vda),
 * seed (vdb), swap (vdc) — the guest init finds them by it.
 */
export function planMachine(m: MachineInput): MachineSpec {
  return {
    vmId: m.vmId,
    vcpus: m.vcpus,
    memoryMib: m.memoryMib,
    kernelPath: m.image.kernelPath,
    initrdPath: m.image.initrdPath,
    cmdline: m.cmdline,
    drives: [m.disks.root, m.disks.seed, ...(m.disks.swap ? [m.disks.swap] : [])],
    net: { tap: m.net.tap, mac: m.net.mac },
    ...(m.memory ? { memory: m.memory } : {}),
  };
}
