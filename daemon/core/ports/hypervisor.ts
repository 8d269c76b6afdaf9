/**
 * The Hypervisor port and the Snapshotter capability. Drivers:
 * QemuHypervisor (drivers/qemu/, also the Snapshotter), FirecrackerHypervisor
 * (drivers/firecracker/); twins: MemoryHypervisor, MemorySnapshotter
 * (drivers/memory/memory-host.ts).
 */
import type { Accel, HypervisorKind } from '../model.js';

export type DiskFormat = 'raw' | 'qcow2';

export interface DriveSpec {
  /** Stable id, also the device order: root (vda), seed (vdb), swap (vdc). */
  id: 'root' | 'seed' | 'swap';
  path: string;
  format: DiskFormat;
  readOnly: boolean;
}

export interface MachineSpec {
  vmId: string;
  vcpus: number;
  memoryMib: number;
  kernelPath: string;
  initrdPath: string | null;
  cmdline: string;
  drives: DriveSpec[];
  /** tap null: a NIC with no backend (snapshot templates: the device exists, nothing can get in or out). */
  net: { tap: string | null; mac: string };
  /** Where guest RAM lives; absent: the hypervisor's own anonymous memory (cold boots, and machines from before this existed). */
  memory?: MemorySpec;
}

/**
 * Guest RAM as a named block whose pages can be shared between machines:
 * - `file`: a template guest's RAM lives in `path` (a shared mapping), so
 *   saving the machine writes only device state and `path` is the RAM image;
 * - `template`: a private copy-on-write view of a template's RAM image —
 *   every machine restored from one template reads the same host pages until
 *   it writes to one (density), and its writes stay its own;
 * - `private`: the same named block in anonymous memory (a saved state of a
 *   `template` machine holds all of its RAM and restores into this, so
 *   it never depends on the template again).
 */
export type MemorySpec = { kind: 'file'; path: string } | { kind: 'template'; path: string } | { kind: 'private' };

export interface MachineStatus {
  running: boolean;
  pid: number | null;
}

export interface ConsoleEndpoint {
  /** Unix stream socket carrying the guest's serial console bytes. */
  socketPath: string;
  /** Append-only log of everything the console printed (for scrollback). */
  logPath: string;
}

/**
 * What a driver can do beyond running machines. The daemon asks this (what
 * disks to make, whether the create fast path exists, where consoles are)
 * instead of checking which driver class it has.
 */
export interface HypervisorCapabilities {
  /** Root disk formats it boots, preferred first (Firecracker: raw only). */
  readonly diskFormats: readonly [DiskFormat, ...DiskFormat[]];
  /** Save/restore of whole machines as the create fast path uses it; null: not available, every VM cold-boots. */
  readonly snapshots: Snapshotter | null;
  /** Where a VM's serial console is (socket + log); null: this driver exposes none. */
  readonly console: ((vmId: string) => ConsoleEndpoint) | null;
  /** Named snapshots of running machines (ports/vm-snapshots.ts); absent/null: `fcm snapshot` is not_implemented. */
  readonly liveSnapshots?: LiveSnapshots | null;
}

/** Runs VMs as detached processes that outlive the daemon. */
export interface Hypervisor {
  readonly kind: HypervisorKind;
  readonly accel: Accel;
  readonly capabilities: HypervisorCapabilities;
  /** Starts the machine; resolves once the process runs and is configured. Throws hypervisor_failed. */
  start(spec: MachineSpec): Promise<MachineStatus>;
  /** Graceful shutdown, forced after timeoutMs (0 = force now). Stopping a gone machine succeeds. */
  stop(vmId: string, timeoutMs: number): Promise<'graceful' | 'forced' | 'absent'>;
  status(vmId: string): Promise<MachineStatus>;
  /** VM ids with a process or leftover runtime state (for orphan cleanup). */
  list(): Promise<string[]>;
  /** Forced stop plus removal of every runtime file (pidfile, sockets, console log). Idempotent. */
  destroy(vmId: string): Promise<void>;
}

/** Save and restore whole machines (QEMU migration state); a hypervisor offers it through its capabilities. */
export interface Snapshotter {
  /** Pauses the machine and writes its complete state to `statePath`; the machine is left paused. */
  saveState(vmId: string, statePath: string): Promise<void>;
  /** Starts a machine from a saved state, left paused (resume() lets it run). */
  restore(spec: MachineSpec, statePath: string): Promise<MachineStatus>;
  resume(vmId: string): Promise<void>;
  /** Stops the guest where it is (the process stays; resume() lets it run on). Warm-pool machines wait this way. */
  pause(vmId: string): Promise<void>;
  /** Resolves when the machine's console has printed `text` (templates announce readiness this way: they have no network). */
  waitConsole(vmId: string, text: string, timeoutMs: number): Promise<void>;
  /**
   * The spec the running machine was started or restored with — a restore of its saved state
   * must launch the very same machine (a pool clone runs with its template's command line);
   * null when unknown (not running, or started by an older daemon).
   */
  launchedSpec(vmId: string): Promise<MachineSpec | null>;
}

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
  /**
   * True when the machine's process runs but its guest is paused and can simply be
   * resumed (QEMU `paused`/`postmigrate`: stopped for a save or a capture, by a
   * daemon that died before resuming it); false when it runs, loads a state, or is gone.
   */
  paused(vmId: string): Promise<boolean>;
}
