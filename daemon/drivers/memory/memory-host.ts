import { createHash } from 'node:crypto';
import { FcmError } from '../../core/errors.js';
import type { Accel } from '../../core/model.js';
import type { NetworkPlan } from '../../core/planners/network-plan.js';
import type { DiskForks, Disks, VmDisks } from '../../core/ports/disks.js';
import type { DiskArchive, ExportedDisk, ImportStaging } from '../../core/ports/disk-archive.js';
import type { Guest } from '../../core/ports/guest.js';
import type { Hypervisor, HypervisorCapabilities, MachineSpec, MachineStatus, Snapshotter } from '../../core/ports/hypervisor.js';
import type { ImageInfo, Images } from '../../core/ports/images.js';
import type { Network } from '../../core/ports/network.js';
import type { SavedMachine, SavedStates } from '../../core/ports/saved-states.js';
import type { TemplateFiles, TemplateStore } from '../../core/ports/templates.js';
import type { CaptureResult, LiveSnapshots, SnapshotFiles, SnapshotMeta } from '../../core/ports/vm-snapshots.js';

/**
 * In-memory twins of the host drivers, for fast tests of core logic. They
 * keep the same observable contract as the real drivers (test/unit/contracts).
 * `fail` injects a failure into the next call of the named operation.
 */
export class MemoryHypervisor implements Hypervisor {
  readonly kind = 'qemu' as const;
  /** No snapshots or console of its own; offerSnapshots() adds a MemorySnapshotter (tests of sleep and wake). */
  capabilities: HypervisorCapabilities = { diskFormats: ['qcow2', 'raw'], snapshots: null, console: null };
  readonly machines = new Map<string, MachineSpec>();
  fail: 'start' | null = null;
  private nextPid = 1000;

  constructor(readonly accel: Accel = 'tcg') {}

  async start(spec: MachineSpec): Promise<MachineStatus> {
    if (this.fail === 'start') {
      this.fail = null;
      throw new FcmError('hypervisor_failed', 'injected start failure');
    }
    if (this.machines.has(spec.vmId)) throw new FcmError('hypervisor_failed', `${spec.vmId} is already running`);
    this.machines.set(spec.vmId, spec);
    return { running: true, pid: this.nextPid++ };
  }

  async stop(vmId: string, _timeoutMs: number): Promise<'graceful' | 'forced' | 'absent'> {
    if (!this.machines.delete(vmId)) return 'absent';
    return _timeoutMs > 0 ? 'graceful' : 'forced';
  }

  async status(vmId: string): Promise<MachineStatus> {
    return this.machines.has(vmId) ? { running: true, pid: 1 } : { running: false, pid: null };
  }

  async list(): Promise<string[]> {
    return [...this.machines.keys()];
  }

  async destroy(vmId: string): Promise<void> {
    this.machines.delete(vmId);
  }

  /** Offers `l` as this hypervisor's live (named) snapshot capability. */
  offerLiveSnapshots(l: LiveSnapshots): this {
    this.capabilities = { ...this.capabilities, liveSnapshots: l };
    return this;
  }

  /** Offers `s` as this hypervisor's snapshot capability. */
  offerSnapshots(s: Snapshotter): this {
    this.capabilities = { ...this.capabilities, snapshots: s };
    return this;
  }

  /** Simulates the process dying on its own. */
  crash(vmId: string): void {
    this.machines.delete(vmId);
  }
}

export class MemoryNetwork implements Network {
  readonly taps = new Map<string, NetworkPlan>();
  hostReady = false;

  async ensureHost(): Promise<void> {
    this.hostReady = true;
  }
  async addTap(plan: NetworkPlan): Promise<void> {
    this.isolated.delete(plan.tap);
    this.taps.set(plan.tap, plan);
  }
  readonly isolated = new Set<string>();
  async addIsolatedTap(tap: string): Promise<void> {
    this.isolated.add(tap);
  }
  async removeTap(tap: string): Promise<void> {
    this.taps.delete(tap);
    this.isolated.delete(tap);
  }
  async listTaps(): Promise<string[]> {
    return [...new Set([...this.taps.keys(), ...this.isolated])];
  }
}

export class MemoryDisks implements Disks, DiskForks {
  readonly disks = new Map<string, VmDisks>();
  fail: 'create' | 'fork' | null = null;
  /** Set by a test: finishFork waits for it (a daemon that dies mid-fork never gets past it). */
  holdFork: Promise<void> | null = null;
  /** Forks made: the fork, its parent and the parent's disk snapshot its root came from; the states not dropped yet. */
  readonly forks: { forkId: string; parentId: string; tag: string }[] = [];
  readonly forkStates = new Set<string>();
  /** Fork directories begun (the fork's disks exist from beginFork on, as a directory does). */
  private readonly forkDirs = new Set<string>();

  async beginFork(forkId: string, parentId: string): Promise<{ statePath: string; freeze: () => Promise<void> }> {
    if (!this.disks.has(parentId)) throw new Error(`${parentId} has no disks`);
    if (this.disks.has(forkId) || this.forkDirs.has(forkId)) throw new Error(`${forkId} already has disks`);
    this.forkDirs.add(forkId);
    const statePath = `/mem/${forkId}/fork-state.bin`;
    this.forkStates.add(forkId);
    return { statePath, freeze: async () => {} };
  }
  async finishFork(forkId: string, parentId: string, tag: string, swapMib: number, seed: Buffer): Promise<VmDisks> {
    if (this.holdFork) await this.holdFork;
    if (this.fail === 'fork') {
      this.fail = null;
      throw new FcmError('disk_full', 'injected: no space left on device');
    }
    if (!this.disks.has(parentId)) throw new Error(`${parentId} has no disks`);
    const d = this.paths(forkId, swapMib);
    this.disks.set(forkId, d);
    this.seeds.set(forkId, seed);
    this.forks.push({ forkId, parentId, tag });
    return d;
  }
  async dropForkState(forkId: string): Promise<void> {
    this.forkStates.delete(forkId);
  }

  readonly seeds = new Map<string, Buffer>();

  async create(vmId: string, _base: ImageInfo, sizes: { diskMib: number; swapMib: number }, seed: Buffer): Promise<VmDisks> {
    if (this.fail === 'create') {
      this.fail = null;
      throw new FcmError('disk_full', 'injected: no space left on device');
    }
    const d = this.paths(vmId, sizes.swapMib);
    this.disks.set(vmId, d);
    this.seeds.set(vmId, seed);
    return d;
  }
  async createFromTemplate(vmId: string, _t: Pick<VmDisks, 'root' | 'swap'>, sizes: { diskMib: number; swapMib: number }, seed: Buffer): Promise<VmDisks> {
    return this.create(vmId, { name: 'template', dir: '', kernelPath: '', initrdPath: null, rootfsPath: '' }, sizes, seed);
  }
  async prepare(vmId: string, swapMib: number, seed: Buffer): Promise<VmDisks> {
    this.seeds.set(vmId, seed);
    return this.paths(vmId, swapMib);
  }
  private paths(vmId: string, swapMib: number): VmDisks {
    return {
      root: { id: 'root', path: `/mem/${vmId}/root.qcow2`, format: 'qcow2', readOnly: false },
      seed: { id: 'seed', path: `/mem/${vmId}/seed.raw`, format: 'raw', readOnly: true },
      swap: swapMib > 0 ? { id: 'swap', path: `/mem/${vmId}/swap.raw`, format: 'raw', readOnly: false } : null,
    };
  }
  async remove(vmId: string): Promise<void> {
    this.disks.delete(vmId);
    this.seeds.delete(vmId);
    this.forkDirs.delete(vmId);
    this.forkStates.delete(vmId);
  }
  async list(): Promise<string[]> {
    return [...new Set([...this.disks.keys(), ...this.forkDirs])];
  }
}

export class MemoryImages implements Images {
  constructor(private readonly names: string[] = ['base']) {}
  resolve(name: string): ImageInfo {
    if (!this.names.includes(name)) throw new FcmError('image_missing', `No image named "${name}".`);
    return this.fromDir(name, `/images/${name}`);
  }
  fromDir(name: string, dir: string): ImageInfo {
    return { name, dir, kernelPath: `${dir}/vmlinuz`, initrdPath: `${dir}/initrd.img`, rootfsPath: `${dir}/rootfs.ext4` };
  }
}

/** Guests become ready after `bootMs` (and once `gate` settles, when set) unless `never` is set. */
export class MemoryGuest implements Guest {
  never = false;
  /** Tests that must observe a boot in progress hold it here until they have seen it (not a timer that a loaded machine outruns). */
  gate: Promise<void> | null = null;
  /** Each guest's clock offset from the host's, in ms (a woken guest: minus the time it slept). */
  readonly clockOffsetMs = new Map<string, number>();
  /** Clocks set, in order. */
  readonly clockSets: { vmId: string; epochMs: number }[] = [];
  failClock = false;
  /** VMs whose disks were synced, in order. */
  readonly syncs: string[] = [];
  /** Fork watches armed (vmId, seconds) and disarmed, in order; `failWatch`: the agent cannot (an old image). */
  readonly watches: { vmId: string; seconds: number }[] = [];
  readonly disarmed: string[] = [];
  failWatch = false;
  constructor(public bootMs = 0) {}
  async armIdentityWatch(vm: { id: string; ip: string }, seconds: number): Promise<void> {
    if (this.failWatch) throw new Error('its guest agent cannot take a new identity');
    this.watches.push({ vmId: vm.id, seconds });
  }
  async disarmIdentityWatch(vm: { id: string; ip: string }): Promise<void> {
    this.disarmed.push(vm.id);
  }
  async syncDisks(vm: { id: string; ip: string }): Promise<void> {
    this.syncs.push(vm.id);
  }
  async setClock(vm: { id: string; ip: string }, epochMs: number): Promise<number> {
    if (this.failClock) throw new Error('the guest agent has no clock route');
    const before = Date.now() + (this.clockOffsetMs.get(vm.id) ?? 0);
    this.clockSets.push({ vmId: vm.id, epochMs });
    this.clockOffsetMs.set(vm.id, epochMs - Date.now());
    return before;
  }
  waitReady(_vm: { id: string; ip: string }, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const gate = this.gate;
      const t = this.never ? null : setTimeout(() => (gate ? void gate.then(() => resolve()) : resolve()), this.bootMs);
      signal.addEventListener('abort', () => {
        if (t) clearTimeout(t);
        reject(signal.reason);
      });
    });
  }
}

/** Snapshot twin: "restored" machines are MemoryHypervisor machines that start paused. */
export class MemorySnapshotter implements Snapshotter {
  readonly paused = new Set<string>();
  readonly saved = new Map<string, string>();
  failRestore = false;
  failSave = false;
  /** Restores done, in order (vmId, the spec it was restored as). */
  readonly restores: { vmId: string; spec: MachineSpec }[] = [];
  constructor(private readonly hv: MemoryHypervisor) {}
  async saveState(vmId: string, statePath: string): Promise<void> {
    if (!this.hv.machines.has(vmId)) throw new FcmError('hypervisor_failed', `cannot save ${vmId}: not running`);
    // Like QEMU: the machine is paused first; a failed save leaves it paused.
    this.paused.add(vmId);
    if (this.failSave) throw new FcmError('hypervisor_failed', 'injected save failure');
    this.saved.set(statePath, vmId);
  }
  async restore(spec: MachineSpec, statePath: string): Promise<MachineStatus> {
    if (this.failRestore) throw new FcmError('hypervisor_failed', 'injected restore failure');
    if (!this.saved.has(statePath)) throw new FcmError('hypervisor_failed', `no saved state at ${statePath}`);
    const st = await this.hv.start(spec);
    this.paused.add(spec.vmId);
    this.restores.push({ vmId: spec.vmId, spec });
    return st;
  }
  async resume(vmId: string): Promise<void> {
    if (!this.paused.delete(vmId)) throw new Error(`${vmId} is not paused`);
  }
  async pause(vmId: string): Promise<void> {
    if (!this.hv.machines.has(vmId)) throw new FcmError('hypervisor_failed', `cannot pause ${vmId}: not running`);
    this.paused.add(vmId);
  }
  /** Console lines waited for, in order (vmId, text). */
  readonly waited: { vmId: string; text: string }[] = [];
  /** Texts that never appear (a guest that does not say it). */
  failWaitConsole: (text: string) => boolean = () => false;
  async waitConsole(vmId: string, text: string): Promise<void> {
    this.waited.push({ vmId, text });
    if (this.failWaitConsole(text)) throw new FcmError('hypervisor_failed', `${vmId} did not print "${text}"`);
  }
  async launchedSpec(vmId: string): Promise<MachineSpec | null> {
    const spec = this.hv.machines.get(vmId) ?? null;
    // Like QEMU: a saved state of a machine on a template's (or its own file's) RAM holds all of it and restores into private memory.
    return spec?.memory && spec.memory.kind !== 'private' ? { ...spec, memory: { kind: 'private' } } : spec;
  }
}

export class MemoryTemplateStore implements TemplateStore {
  readonly published = new Map<string, TemplateFiles>();
  private readonly scratch = new Map<string, TemplateFiles>();
  get(key: string): TemplateFiles | null {
    return this.published.get(key) ?? null;
  }
  async begin(key: string, _base: ImageInfo, sizes: { diskMib: number; swapMib: number; ramMib?: number }, seed: Buffer): Promise<TemplateFiles> {
    const f: TemplateFiles = {
      templateVmId: JSON.parse(seed.toString('utf8').split('\n')[1]!).vmId as string,
      disks: {
        root: { id: 'root' as const, path: `/tmpl/${key}/root.qcow2`, format: 'qcow2' as const, readOnly: false },
        seed: { id: 'seed' as const, path: `/tmpl/${key}/seed.raw`, format: 'raw' as const, readOnly: true },
        swap: sizes.swapMib ? { id: 'swap' as const, path: `/tmpl/${key}/swap.raw`, format: 'raw' as const, readOnly: false } : null,
      },
      statePath: `/tmpl/${key}/state.bin`,
      ramPath: sizes.ramMib ? `/tmpl/${key}/ram.raw` : null,
    };
    this.scratch.set(key, f);
    return f;
  }
  async commit(key: string): Promise<TemplateFiles> {
    const f = this.scratch.get(key)!;
    this.published.set(key, f);
    return f;
  }
  discards = 0;
  async discard(key: string): Promise<void> {
    this.discards++;
    this.scratch.delete(key);
    this.published.delete(key);
  }
}

/** Saves in memory: a save exists once sealed; begin drops an earlier one of the same name. */
export class MemorySavedStates implements SavedStates {
  readonly sealed = new Map<string, SavedMachine>();
  private key(vmId: string, name: string): string {
    return `${vmId}/${name}`;
  }
  async begin(vmId: string, name: string): Promise<string> {
    this.sealed.delete(this.key(vmId, name));
    return `/mem/${vmId}/saved/${name}/state.bin`;
  }
  async seal(vmId: string, name: string, meta: SavedMachine): Promise<number> {
    this.sealed.set(this.key(vmId, name), structuredClone(meta));
    return 4096;
  }
  async open(vmId: string, name: string): Promise<{ meta: SavedMachine; statePath: string } | null> {
    const meta = this.sealed.get(this.key(vmId, name));
    return meta ? { meta: structuredClone(meta), statePath: `/mem/${vmId}/saved/${name}/state.bin` } : null;
  }
  async remove(vmId: string, name: string): Promise<void> {
    this.sealed.delete(this.key(vmId, name));
  }
  /** Every save of a VM goes with its disks (what FileSavedStates gets from living in the VM's disk dir). */
  dropVm(vmId: string): void {
    for (const k of [...this.sealed.keys()]) if (k.startsWith(`${vmId}/`)) this.sealed.delete(k);
  }
}

/**
 * Named snapshots in memory. A VM's "disk" is `disk.get(vmId)` (a string a
 * test sets, standing for root + swap); freeze copies it and revert puts the
 * copy back, as the file driver does with the swap file and the root's
 * internal snapshot. `tags` are the root disk snapshots (`<vmId>/<tag>`),
 * shared with MemoryLiveSnapshots as root.qcow2 is shared with QEMU.
 */
export class MemorySnapshotFiles implements SnapshotFiles {
  readonly disk = new Map<string, string>();
  readonly tags = new Set<string>();
  private readonly frozen = new Map<string, string | undefined>();
  private readonly sealed = new Map<string, SnapshotMeta>();
  /** Begun and not (yet) sealed: what a daemon that died mid-snapshot leaves. */
  private readonly begun = new Set<string>();
  failSeal = false;
  private key(vmId: string, name: string): string {
    return `${vmId}/${name}`;
  }
  async begin(vmId: string, name: string): Promise<{ statePath: string; freeze: () => Promise<void> }> {
    const k = this.key(vmId, name);
    if (this.sealed.has(k)) throw new FcmError('name_taken', `A snapshot named "${name}" already exists.`);
    this.frozen.delete(k);
    this.begun.add(k);
    return {
      statePath: `/mem/${vmId}/snapshots/${name}/state.bin`,
      freeze: async () => {
        this.frozen.set(k, this.disk.get(vmId));
      },
    };
  }
  async seal(vmId: string, name: string, meta: Omit<SnapshotMeta, 'sizeBytes'>): Promise<SnapshotMeta> {
    if (this.failSeal) throw new FcmError('disk_full', 'injected: no space left on device');
    const m = { ...structuredClone(meta), sizeBytes: 4096 };
    this.sealed.set(this.key(vmId, name), m);
    this.begun.delete(this.key(vmId, name));
    return structuredClone(m);
  }
  async list(vmId: string): Promise<(SnapshotMeta & { statePath: string })[]> {
    return [...this.sealed.entries()]
      .filter(([k]) => k.startsWith(`${vmId}/`))
      .map(([, m]) => ({ ...structuredClone(m), statePath: `/mem/${vmId}/snapshots/${m.name}/state.bin` }))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.name.localeCompare(b.name));
  }
  async unsealed(vmId: string): Promise<string[]> {
    return [...this.begun].filter((k) => k.startsWith(`${vmId}/`)).map((k) => k.slice(vmId.length + 1)).sort();
  }
  async revert(vmId: string, name: string): Promise<void> {
    const k = this.key(vmId, name);
    if (!this.tags.has(`${vmId}/fcm-${name}`)) throw new Error(`no disk snapshot fcm-${name} of ${vmId}`);
    const d = this.frozen.get(k);
    if (d === undefined) this.disk.delete(vmId);
    else this.disk.set(vmId, d);
  }
  async remove(vmId: string, name: string, opts: { disk: boolean }): Promise<void> {
    if (opts.disk) this.tags.delete(`${vmId}/fcm-${name}`);
    this.sealed.delete(this.key(vmId, name));
    this.frozen.delete(this.key(vmId, name));
    this.begun.delete(this.key(vmId, name));
  }
  /** What FileSnapshots gets from living in the VM's disk directory: the VM's disks go, its snapshots go. */
  dropVm(vmId: string): void {
    for (const k of [...this.sealed.keys()]) if (k.startsWith(`${vmId}/`)) this.sealed.delete(k);
    for (const k of [...this.begun]) if (k.startsWith(`${vmId}/`)) this.begun.delete(k);
    for (const t of [...this.tags]) if (t.startsWith(`${vmId}/`)) this.tags.delete(t);
    this.disk.delete(vmId);
  }
}

/** Live snapshot twin: the "machine" must run; the root tag goes into the files twin's `tags`; the state becomes restorable. */
export class MemoryLiveSnapshots implements LiveSnapshots {
  fail = false;
  /** The guest was paused while `frozen` ran (tests check it is resumed afterwards). */
  readonly captures: { vmId: string; tag: string }[] = [];
  constructor(
    private readonly hv: MemoryHypervisor,
    private readonly snapshotter: MemorySnapshotter,
    private readonly files: MemorySnapshotFiles,
  ) {}
  async capture(vmId: string, statePath: string, tag: string, frozen: () => Promise<void>): Promise<CaptureResult> {
    if (!this.hv.machines.has(vmId)) throw new FcmError('hypervisor_failed', `cannot snapshot ${vmId}: not running`);
    if (this.fail) throw new FcmError('hypervisor_failed', 'injected capture failure');
    const t = `${vmId}/${tag}`;
    if (this.files.tags.has(t)) throw new FcmError('hypervisor_failed', `disk snapshot ${tag} exists`);
    this.files.tags.add(t);
    try {
      await frozen();
    } catch (e) {
      // Like QEMU's driver: a failure in the pause drops the disk snapshot and resumes the guest.
      this.files.tags.delete(t);
      throw e;
    }
    this.snapshotter.saved.set(statePath, vmId);
    this.captures.push({ vmId, tag });
    return { pausedMs: 12.5, stateBytes: 4096 };
  }
  async dropDiskSnapshot(vmId: string, tag: string): Promise<void> {
    if (!this.hv.machines.has(vmId)) throw new FcmError('hypervisor_failed', `${vmId} is not running`);
    this.files.tags.delete(`${vmId}/${tag}`);
  }
  async paused(vmId: string): Promise<boolean> {
    return this.hv.machines.has(vmId) && this.snapshotter.paused.has(vmId);
  }
}

/** Request times set by the test. */
export class MemoryRequestActivity {
  readonly last = new Map<string, number>();
  lastRequestAt(host: string): number | null {
    return this.last.get(host) ?? null;
  }
}

/**
 * DiskArchive twin: each VM's root disk is a buffer (`roots`; a VM without one exports a
 * small made-up qcow2: the magic, then its id). Imports check the qcow2 magic only.
 */
export class MemoryDiskArchive implements DiskArchive {
  readonly roots = new Map<string, Buffer>();
  /** Stagings not yet removed. */
  readonly open = new Set<object>();
  constructor(private readonly disks: MemoryDisks) {}

  async exportRoot(vmId: string): Promise<ExportedDisk> {
    const b = this.roots.get(vmId) ?? Buffer.concat([Buffer.from('QFI\xfb', 'latin1'), Buffer.from(`root of ${vmId}`)]);
    return { bytes: b.length, sha256: createHash('sha256').update(b).digest('hex'), read: async function* () { yield b; }, remove: async () => {} };
  }

  async exportFile(vmId: string, path: string): Promise<ExportedDisk> {
    const b = Buffer.from(`state of ${vmId} at ${path}`);
    return { bytes: b.length, sha256: createHash('sha256').update(b).digest('hex'), read: async function* () { yield b; }, remove: async () => {} };
  }

  /** Stagings a killed daemon left (a test adds them); the live ones (`open`) stay. */
  readonly left = new Set<object>();
  async sweepStagings(): Promise<number> {
    const n = this.left.size;
    this.left.clear();
    return n;
  }

  async staging(): Promise<ImportStaging> {
    const parts: Buffer[] = [];
    let staged = false;
    const s: ImportStaging & { parts: Buffer[] } = {
      parts,
      openDisk: async () => ({ write: async (c: Buffer) => void parts.push(Buffer.from(c)), close: async () => {} }),
      // The twin keeps no bytes of it: a restore from this path fails like a state QEMU cannot load (the cold-boot fallback).
      openMemory: async () => {
        staged = true;
        return { write: async () => {}, close: async () => {} };
      },
      memoryPath: () => (staged ? 'memory-staging:memory.bin' : null),
      remove: async () => void this.open.delete(s),
    };
    this.open.add(s);
    return s;
  }

  async importRoot(vmId: string, staging: ImportStaging, sizes: { diskMib: number; swapMib: number }, seed: Buffer): Promise<VmDisks> {
    const b = Buffer.concat((staging as ImportStaging & { parts: Buffer[] }).parts);
    if (b.subarray(0, 4).toString('latin1') !== 'QFI\xfb') throw new FcmError('backup_invalid', 'The backup archive is not valid: disk.qcow2 is not a qcow2 image. Nothing was created.');
    const d = await this.disks.create(vmId, { name: 'import', dir: '', kernelPath: '', initrdPath: null, rootfsPath: '' }, sizes, seed);
    this.roots.set(vmId, b);
    return d;
  }
}
