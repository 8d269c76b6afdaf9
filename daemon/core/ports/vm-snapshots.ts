/**
 * Named snapshots of a VM (fcm snapshot): a point-in-time copy of a running
 * machine's memory + device state and of its disks, taken together.
 *
 * - LiveSnapshots: the hypervisor's capability (ports/hypervisor.ts;
 *   QemuHypervisor; twin MemoryLiveSnapshots in drivers/memory/memory-host.ts).
 * - SnapshotFiles: where snapshots live, beside the VM's disks, so deleting
 *   the VM deletes them, and how its disks are rolled back (FileSnapshots in
 *   drivers/vm-snapshots.ts; twin MemorySnapshotFiles).
 */
import type { MachineSpec } from './hypervisor.js';

export type { CaptureResult, LiveSnapshots } from './hypervisor.js';

export interface SnapshotMeta {
  /** The snapshot's name (unique per VM). */
  name: string;
  /** The machine the state was saved from: a restore launches the very same one. */
  spec: MachineSpec;
  createdAt: string;
  pausedMs: number;
  stateBytes: number;
  /** Disk the snapshot takes besides the VM's own (memory state + swap copy). */
  sizeBytes: number;
}

export interface SnapshotFiles {
  /**
   * A fresh place for snapshot `name` of `vmId` (name_taken if it exists): the
   * path the hypervisor writes the state to, and `freeze`, which makes
   * point-in-time copies of the VM's disks besides the root (swap) — to be
   * called while the machine is paused (LiveSnapshots `frozen`).
   */
  begin(vmId: string, name: string): Promise<{ statePath: string; freeze: () => Promise<void> }>;
  /** Marks the snapshot complete (written last: without it the snapshot does not exist); returns it with its size. */
  seal(vmId: string, name: string, meta: Omit<SnapshotMeta, 'sizeBytes'>): Promise<SnapshotMeta>;
  /** Sealed snapshots of the VM, oldest first, each with its state file (for a restore). */
  list(vmId: string): Promise<(SnapshotMeta & { statePath: string })[]>;
  /**
   * Names of the VM's snapshots begun and never sealed: a daemon died while taking them,
   * and left their files (and maybe their root disk snapshot) behind. remove() drops them.
   */
  unsealed(vmId: string): Promise<string[]>;
  /** Rolls the VM's disks back to the snapshot (the machine is not running): root to its disk snapshot, swap to its copy. */
  revert(vmId: string, name: string): Promise<void>;
  /**
   * Deletes the snapshot's files, and its root disk snapshot when `disk` (the
   * machine is not running; a running one's goes through LiveSnapshots). Idempotent.
   */
  remove(vmId: string, name: string, opts: { disk: boolean }): Promise<void>;
}

/** The root disk's snapshot tag for a snapshot name (qcow2 internal snapshot). */
export function diskTag(name: string): string {
  return `fcm-${name}`;
}
