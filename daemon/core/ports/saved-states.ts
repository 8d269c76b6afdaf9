/**
 * Saved machines of a VM (sleep; later snapshots): the hypervisor's memory +
 * device state and the machine it belongs to, kept beside the VM's disks so
 * deleting the VM deletes them. Driver: FileSavedStates
 * (drivers/saved-states.ts); twin: MemorySavedStates
 * (drivers/memory/memory-host.ts); contract: test/unit/contracts/saved-states.test.ts.
 */
import type { MachineSpec } from './hypervisor.js';

/** What a restore needs besides the state file. */
export interface SavedMachine {
  /** The machine the state was saved from: a restore must launch the very same one (devices, memory, command line). */
  spec: MachineSpec;
  savedAt: string;
  /**
   * The guest's identity watch (agent POST /v1/identity/watch) was armed just before the save
   * (an export --with-memory): a copy restored with a seed of its own takes that seed's identity.
   * The VM itself disarms it when it wakes from this save.
   */
  identityWatch?: boolean;
}

export interface SavedStates {
  /** A fresh place for save `name` of `vmId` (any earlier one is dropped): the path the hypervisor writes the state to. */
  begin(vmId: string, name: string): Promise<string>;
  /** Marks the save complete (written last: a save without it does not exist); returns the bytes it takes on disk. */
  seal(vmId: string, name: string, meta: SavedMachine): Promise<number>;
  /** A sealed save: its meta and state path; null when missing or incomplete. */
  open(vmId: string, name: string): Promise<{ meta: SavedMachine; statePath: string } | null>;
  /** Deletes the save. Idempotent. */
  remove(vmId: string, name: string): Promise<void>;
}
