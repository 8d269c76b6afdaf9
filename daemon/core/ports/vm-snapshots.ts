/**
 * Named snapshots of a VM (fcm snapshot): a point-in-time copy of a running
 * machine's memory + device state and of its disks, taken together.
 *
 * - LiveSnapshots: the hypervisor's capability (QemuHypervisor; twin
 *   MemoryLiveSnapshots in drivers/memory/memory-host.ts).
 * - SnapshotFiles: where snapshots live, beside the VM's disks, so deleting
 *   the VM deletes them, and how its disks are rolled back (FileSnapshots in
 *   drivers/vm-snapshots.ts; twin MemorySnapshotFiles).
 */
import type { MachineSpec } from './hypervisor.js';

/** What taking a snapshot cost the guest. */
export interface CaptureResult {
  /** How long the guest did not run, from its pause to its resume (the hypervisor's own clock), in ms. */
  pausedMs: number;
  /** Bytes of the saved memory + device state. */
  stateBytes: number;
}

/**
 * Capture of a running machine: the guest is paused with its disks drained
 * and flushed, the disk snapshot `tag` of its root is taken, `frozen` runs
 * (copies the rest of its writable disks), its memory + device state is
 * written to `statePath`, and it resumes. Any failure leaves the machine
 * running without the disk snapshot.
 */
export interface LiveSnapshots {
  capture(vmId: string, statePath: string, tag: string, frozen: () => Promise<void>): Promise<CaptureResult>;
  /** Deletes disk snapshot `tag` of a *running* machine's root (its hypervisor holds the disk). Idempotent. */
  dropDiskSnapshot(vmId: string, tag: string): Promise<void>;
}

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
