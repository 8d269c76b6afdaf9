/**
 * Ports: what the core needs from the host, by capability. Each has a real
 * driver (daemon/drivers/*) and an in-memory twin (daemon/drivers/memory/*)
 * that pass the same contract suite (test/unit/contracts/*).
 */
import type { Accel, HypervisorKind, NewVm, VmPatch, VmRecord } from './model.js';
import type { NetworkPlan } from './planners/network-plan.js';

export interface DriveSpec {
  /** Stable id, also the device order: root (vda), seed (vdb), swap (vdc). */
  id: 'root' | 'seed' | 'swap';
  path: string;
  format: 'raw' | 'qcow2';
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
}

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

/** Runs VMs as detached processes that outlive the daemon. */
export interface Hypervisor {
  readonly kind: HypervisorKind;
  readonly accel: Accel;
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

/** Bridge and taps. Idempotent: adding an existing tap or removing a missing one succeeds. */
export interface Network {
  ensureHost(): Promise<void>;
  addTap(plan: NetworkPlan): Promise<void>;
  /** A tap on the bridge whose frames are all dropped until addTap() gives it an identity (warm pool VMs). */
  addIsolatedTap(tap: string): Promise<void>;
  removeTap(tap: string): Promise<void>;
  /** Taps this daemon owns (by name prefix). */
  listTaps(): Promise<string[]>;
}

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
  createFromTemplate(vmId: string, template: { rootPath: string; swapPath: string | null }, sizes: { diskMib: number; swapMib: number }, seed: Buffer): Promise<VmDisks>;
  remove(vmId: string): Promise<void>;
  list(): Promise<string[]>;
}

export interface ImageInfo {
  name: string;
  dir: string;
  kernelPath: string;
  initrdPath: string | null;
  rootfsPath: string;
}

export interface Images {
  /** Throws image_missing. */
  resolve(name: string): ImageInfo;
  /** The image a VM was created from (by its stored directory). */
  fromDir(name: string, dir: string): ImageInfo;
}

/** The channel into a booted guest. */
export interface Guest {
  /** Resolves when the guest agent of `vm` answers; rejects when `signal` aborts. */
  waitReady(vm: Pick<VmRecord, 'id' | 'ip'>, signal: AbortSignal): Promise<void>;
}

/**
 * Admission check run inside a write, over every row as it is at that moment
 * (quotas, host capacity): throwing aborts the write. Nothing else can write
 * between the check and the write it guards.
 */
export type AdmitFn = (rows: readonly VmRecord[]) => void;

/** VM rows. IP slots are allocated inside insert, atomically. */
export interface VmStore {
  /** Throws name_taken, ip_pool_exhausted, or what `admit` throws. */
  insert(vm: NewVm, plan: (slot: number) => { ip: string; mac: string; tap: string }, admit?: AdmitFn): VmRecord;
  update(id: string, patch: VmPatch, admit?: AdmitFn): VmRecord;
  remove(id: string): void;
  get(nameOrId: string): VmRecord | undefined;
  list(): VmRecord[];
}

/** Save and restore whole running machines (QEMU migration state / Firecracker snapshots). */
export interface Snapshotter {
  /** Pauses the machine and writes its complete state to `statePath`; the machine is left paused. */
  saveState(vmId: string, statePath: string): Promise<void>;
  /** Starts a machine from a saved state, left paused (resume() lets it run). */
  restore(spec: MachineSpec, statePath: string): Promise<MachineStatus>;
  resume(vmId: string): Promise<void>;
  /** Resolves when the machine's console has printed `text` (templates announce readiness this way: they have no network). */
  waitConsole(vmId: string, text: string, timeoutMs: number): Promise<void>;
}

export interface TemplateFiles {
  /** The id the template guest booted with; restored copies keep it until their seed names another. */
  templateVmId: string;
  rootPath: string;
  swapPath: string | null;
  seedPath: string;
  statePath: string;
}

/** Snapshot templates on disk: built in a scratch dir, published atomically, found by key. */
export interface TemplateStore {
  /** A complete template, or null. */
  get(key: string): TemplateFiles | null;
  /** A fresh scratch template with its disks (overlay on the image, sparse swap, seed). */
  begin(key: string, base: ImageInfo, sizes: { diskMib: number; swapMib: number }, seed: Buffer): Promise<TemplateFiles>;
  /** Publishes the scratch template under its key (atomic rename). */
  commit(key: string): Promise<TemplateFiles>;
  /** Deletes the scratch or published template (a broken template is thrown away and rebuilt). */
  discard(key: string): Promise<void>;
}

/** The HTTPS front (Caddy): replaced whole from daemon state, so it can always be rebuilt. */
export interface Proxy {
  /** Loads a complete config. Throws when the proxy is unreachable or rejects it. */
  load(config: Record<string, unknown>): Promise<void>;
  /** Whether the proxy is running the config stamped with `id`. */
  state(id: string): Promise<'current' | 'stale' | 'unreachable'>;
}
