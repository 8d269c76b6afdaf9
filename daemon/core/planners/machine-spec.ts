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

/**
 * A fork's machine: the parent's as it was launched (kernel, command line,
 * size, memory kind: a restore of the parent's captured state must launch the
 * very same machine), with the fork's id, its own disks (same devices, same
 * order: the guest's vda/vdb/vdc) and its own NIC (tap and MAC). Throws when
 * the fork's disks do not match the parent's devices one to one.
 */
export function planForkMachine(parent: MachineSpec, fork: { vmId: string; disks: VmDisks; net: { tap: string; mac: string } }): MachineSpec {
  const mine = [fork.disks.root, fork.disks.seed, ...(fork.disks.swap ? [fork.disks.swap] : [])];
  const drives = parent.drives.map((d) => {
    const own = mine.find((m) => m.id === d.id);
    if (!own || own.format !== d.format || own.readOnly !== d.readOnly) throw new Error(`the fork has no ${d.format} ${d.id} drive like its parent's`);
    return own;
  });
  if (drives.length !== mine.length) throw new Error('the fork has drives its parent does not');
  return { ...parent, vmId: fork.vmId, drives, net: { tap: fork.net.tap, mac: fork.net.mac } };
}
