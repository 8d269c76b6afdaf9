import type { Logger } from '../log.js';
import { FcmError, errors, isFcmError } from './errors.js';
import type { FastBootService } from './fast-boot.js';
import type { KeyedMutex } from './locks.js';
import { holdsHost, type HostAdmission } from './admission.js';
import { checkClaimable, pendingAfter, type Reserved } from './domains.js';
import type { Principal, VmRecord, VmSize } from './model.js';
import { randomName, randomNameWithSuffix } from './names.js';
import { planNetwork, type Subnet } from './planners/network-plan.js';
import type { Disks, VmDisks } from './ports/disks.js';
import type { Guest } from './ports/guest.js';
import type { Hypervisor, Snapshotter } from './ports/hypervisor.js';
import type { SavedStates } from './ports/saved-states.js';
import type { ImageInfo, Images } from './ports/images.js';
import type { Network } from './ports/network.js';
import type { QuotaService } from './quotas.js';
import { VmIdentityTaken } from './ports/vm-store.js';
import { UndoStack } from './undo.js';
import type { VmPlans } from './vm-plans.js';
import type { VmRecords } from './vm-records.js';
import type { BootWatch } from './vm-supervisor.js';

export interface CreateVmInput {
  name?: string;
  vcpus: number;
  memoryMib: number;
  diskMib: number;
  swapMib: number;
  port: number;
  image: string;
  domains?: string[];
  /** Idle seconds before it sleeps; null/absent: never. */
  sleepAfterSec?: number | null;
  /** The host it must run on (a cluster's placement chose it, or the caller pinned it): this one, or wrong_host. */
  host?: string;
}

export interface UpdateVmInput {
  vcpus?: number;
  memoryMib?: number;
  domains?: string[];
  /** null: never sleep when idle. */
  sleepAfterSec?: number | null;
}

export interface StopOptions {
  timeoutMs: number;
  force: boolean;
}

export interface VmLifecycleConfig {
  subnet: Subnet;
  /** VM URLs live under this suffix (e.g. `.64-34-93-45.sslip.io`): custom domains may not. */
  reservedDomainSuffix: string | null;
  /** Names nobody may claim as custom domains: the daemon's own host name, the VM base domain (core/domains.ts). */
  reservedDomains?: Reserved;
}

export interface VmLifecycleDeps {
  records: VmRecords;
  locks: KeyedMutex;
  plans: VmPlans;
  hypervisor: Pick<Hypervisor, 'kind' | 'start' | 'stop' | 'destroy'>;
  network: Pick<Network, 'addTap' | 'removeTap'>;
  disks: Pick<Disks, 'create' | 'prepare' | 'remove'>;
  images: Images;
  /** Snapshot restore + warm pool; absent → every VM cold-boots. */
  fastBoot?: FastBootService;
  /** Save/restore of a whole machine (the hypervisor's capability) and where saves go: both needed to sleep VMs. */
  snapshots?: Pick<Snapshotter, 'saveState' | 'restore' | 'resume' | 'launchedSpec'>;
  saved?: SavedStates;
  /** Per-user limits (core/quotas.ts); absent → none. */
  quotas?: QuotaService;
  /** Host capacity (core/admission.ts); absent → unchecked. */
  host?: HostAdmission;
  boots: BootWatch;
  /** The guest agent: arms/disarms the identity watch around a save that may be restored elsewhere, and sees a resumed import answer. */
  guest?: Pick<Guest, 'armIdentityWatch' | 'disarmIdentityWatch' | 'waitReady'>;
  log: Logger;
  config: VmLifecycleConfig;
  /** New VM ids. */
  newId: () => string;
  now: () => number;
}

/** The name of a VM's sleep save (SavedStates). */
export const SLEEP_SAVE = 'sleep';

/** How a sleeping VM came back. */
export type WakeHow = 'restore' | 'cold';

/** A memory state a new VM (a backup import) is resumed from instead of booting. */
export interface ResumeFrom {
  /** The state file (memory + device state, as a sleep saves it). */
  statePath: string;
  /** The saved machine's RAM was a named block (restored into private memory of that name), not anonymous. */
  namedRam: boolean;
}

/**
 * How long the identity watch armed before a save that may be resumed elsewhere waits, in
 * guest time (which stands still while the machine is saved): only arming → the save's pause
 * counts in this VM, and a resumed copy sees its seed at once. As FORK_WATCH_SECONDS (vm-forks.ts).
 */
export const SAVE_WATCH_SECONDS = 120;

/** How long a resumed import may take to answer as itself (its new vmId) before it is booted from its disk instead. */
const RESUME_READY_MS = 180_000;

const MAX_NAME_ATTEMPTS = 30;

/**
 * Create, start, stop, update and delete. Callers have checked ownership;
 * every operation on an existing VM runs under the VM's lock. After the
 * hypervisor started, the boot watch (VmSupervisor) takes over.
 */
export class VmLifecycle {
  /** Disarms of identity watches under way (disarmWhenUp), by VM: a new arm waits for them, so none lands after it. */
  private readonly disarming = new Map<string, Promise<void>>();

  constructor(private readonly d: VmLifecycleDeps) {}

  async create(p: Principal, input: CreateVmInput): Promise<VmRecord> {
    const log = this.d.log.child({ op: 'create' });
    this.checkDomains(input.domains ?? []);
    const image = this.d.images.resolve(input.image);
    const undo = new UndoStack(log);
    let vm: VmRecord | undefined;
    try {
      const shape = { vcpus: input.vcpus, memoryMib: input.memoryMib, diskMib: input.diskMib, swapMib: input.swapMib, port: input.port };
      const fast = this.d.fastBoot?.serves(shape) ? this.d.fastBoot : null;
      // Fast path 1: a warm, restored, paused machine; its id becomes the VM's id.
      const pooledId = fast?.claim(shape, image) ?? null;
      if (pooledId) undo.push('pooled machine', () => fast!.discard(pooledId));
      vm = this.insertWithName(p, input, image, pooledId);
      const id = vm.id;
      undo.push('row', () => this.d.records.removeQuietly(id));
      const vlog = log.child({ vmId: id, vm: vm.name });
      let how: 'pool' | 'restore' | 'cold';
      if (pooledId) {
        // Its seed names no one yet: give it this VM's identity and open its tap (independent: at once), let it run.
        const claimed = vm;
        await Promise.all([this.d.disks.prepare(id, claimed.swapMib, this.d.plans.seed(claimed)), this.d.network.addTap(this.d.plans.net(claimed))]);
        await fast!.resume(id);
        how = 'pool';
      } else {
        // Fast path 2: restore the template now. Otherwise boot.
        const restored = fast
          ? await fast.restoreNow(id, shape, image, this.d.plans.seed(vm)).catch((err) => {
              // A template that cannot be restored is discarded by FastBoot; this VM just boots.
              vlog.warn({ err: (err as Error).message }, 'restore failed; cold-booting instead');
              return null;
            })
          : null;
        if (restored) {
          undo.push('restored machine', () => fast!.discard(id));
          await this.d.network.addTap(this.d.plans.net(vm));
          await fast!.resume(id);
          how = 'restore';
        } else {
          const disks = await this.d.disks.create(id, image, { diskMib: vm.diskMib, swapMib: vm.swapMib }, this.d.plans.seed(vm));
          undo.push('disks', () => this.d.disks.remove(id));
          await this.d.network.addTap(this.d.plans.net(vm));
          undo.push('tap', () => this.d.network.removeTap(vm!.tap));
          await this.d.hypervisor.start(this.d.plans.machine(vm, image, disks));
          undo.push('hypervisor', () => this.d.hypervisor.destroy(id));
          how = 'cold';
        }
      }

      vm = this.d.records.save(id, { state: 'starting' });
      undo.commit();
      this.d.boots.watch(vm, { restored: how !== 'cold' });
      vlog.info({ ip: vm.ip, boot: how }, 'hypervisor started; guest booting');
      return vm;
    } catch (err) {
      await undo.unwind();
      throw err;
    }
  }

  /**
   * A VM whose root disk comes from elsewhere (a backup import): `makeDisks` makes
   * its disks (with this seed) once the row exists; then it cold-boots. All or
   * nothing, as create: a failure at any step leaves no row, disk, tap or process.
   * `note`: what the VM's lastError says about how it came up (e.g. why it cold-boots).
   */
  async createWithDisks(
    p: Principal,
    input: CreateVmInput,
    makeDisks: (vmId: string, seed: Buffer) => Promise<VmDisks>,
    note: string | null = null,
    resume: ResumeFrom | null = null,
  ): Promise<VmRecord> {
    const log = this.d.log.child({ op: 'import' });
    const image = this.d.images.resolve(input.image);
    const undo = new UndoStack(log);
    try {
      let vm = this.insertWithName(p, input, image, null);
      const id = vm.id;
      undo.push('row', () => this.d.records.removeQuietly(id));
      const disks = await makeDisks(id, this.d.plans.seed(vm));
      undo.push('disks', () => this.d.disks.remove(id));
      await this.d.network.addTap(this.d.plans.net(vm));
      undo.push('tap', () => this.d.network.removeTap(vm.tap));
      undo.push('hypervisor', () => this.d.hypervisor.destroy(id));
      let resumed = false;
      if (resume) {
        const why = await this.resumeImport(vm, image, disks, resume, log);
        if (why === null) resumed = true;
        else note = `imported by a cold boot: its memory state was not resumed: ${why}`;
      }
      if (!resumed) await this.d.hypervisor.start(this.d.plans.machine(vm, image, disks));
      vm = this.d.records.save(id, { state: 'starting', lastError: note });
      undo.commit();
      this.d.boots.watch(vm, { restored: resumed });
      log.info({ vmId: id, vm: vm.name, ip: vm.ip, memory: resumed ? 'resumed' : resume ? 'cold' : null, ...(note ? { note } : {}) }, resumed ? 'imported memory state resumed; guest answers as itself' : 'imported disk; guest booting');
      return vm;
    } catch (err) {
      await undo.unwind();
      throw err;
    }
  }

  /**
   * Resumes imported memory state `from` as new VM `vm`: the very machine the VM would boot
   * (its own disks, seed, tap and MAC), loaded with the state instead of booted. The saved
   * guest had its identity watch armed (BackupService), so on resume it reads this VM's seed
   * and takes its identity (address, MAC, hostname, machine-id, agent token, entropy), as a
   * fork does; it must then answer as this VM (its vmId at its own address) within
   * RESUME_READY_MS. Answers null when it does, else why not — the process is then gone
   * (the caller boots from the disk).
   */
  private async resumeImport(vm: VmRecord, image: ImageInfo, disks: VmDisks, from: ResumeFrom, log: Logger): Promise<string | null> {
    const { snapshots, guest } = this.d;
    if (!snapshots || !guest) return `the ${this.d.hypervisor.kind} driver cannot restore machines`;
    const started = this.d.now();
    try {
      const spec = this.d.plans.machine(vm, image, disks);
      await snapshots.restore(from.namedRam ? { ...spec, memory: { kind: 'private' } } : spec, from.statePath);
      await snapshots.resume(vm.id);
      await guest.waitReady(vm, AbortSignal.timeout(RESUME_READY_MS));
      log.info({ vmId: vm.id, ms: this.d.now() - started }, 'imported memory state resumed');
      return null;
    } catch (err) {
      await this.d.hypervisor.destroy(vm.id).catch(() => {});
      const why = `resuming it failed (${errMessage(err)})`;
      log.warn({ vmId: vm.id, why }, 'cannot resume the imported memory state; booting from the disk');
      return why;
    }
  }

  /**
   * Runs `fn` under the VM's lock with its disk at rest: a running VM is put to sleep
   * first (its disk writes flushed; the next request wakes it), a stopped, sleeping or
   * failed one is taken as it is; other states are invalid_state.
   */
  quiet<T>(vm: VmRecord, fn: (vm: VmRecord) => Promise<T>, opts: { identityWatch?: boolean } = {}): Promise<T> {
    return this.d.locks.run(vm.id, async () => {
      let cur = this.d.records.mustGet(vm.id);
      if (cur.state === 'running') {
        // `identityWatch`: the save may be resumed as another VM (export --with-memory): the guest
        // watches its seed from just before it, so such a copy takes its own identity. The save
        // says whether it was armed; this VM disarms it when it wakes (wakeLocked).
        let armed = false;
        if (opts.identityWatch && this.d.guest) {
          await this.disarming.get(cur.id);
          armed = await this.d.guest
            .armIdentityWatch(cur, SAVE_WATCH_SECONDS, AbortSignal.timeout(30_000))
            .then(() => true)
            .catch((e: unknown) => {
              this.d.log.warn({ vmId: cur.id, vm: cur.name, err: errMessage(e) }, 'cannot arm the identity watch before the save; a copy of it cannot be resumed');
              return false;
            });
        }
        try {
          cur = await this.sleepLocked(vm.id, armed);
        } catch (err) {
          if (armed) this.disarmWhenUp(cur);
          throw err;
        }
      }
      if (cur.state !== 'stopped' && cur.state !== 'sleeping' && cur.state !== 'failed') throw errors.invalidState(cur.name, cur.state, 'running, sleeping or stopped');
      return fn(cur);
    });
  }

  /**
   * The row of a new VM ('creating'), its quotas and host admission checked inside the
   * store write. `fixedId`: the id of a pooled machine the VM takes over. Also the first
   * step of a fork (vm-forks.ts).
   */
  insertWithName(p: Principal, input: CreateVmInput, image: ImageInfo, fixedId: string | null): VmRecord {
    const base = {
      owner: p.userId,
      state: 'creating' as const,
      desired: 'running' as const,
      vcpus: input.vcpus,
      memoryMib: input.memoryMib,
      diskMib: input.diskMib,
      swapMib: input.swapMib,
      port: input.port,
      image: image.name,
      imageDir: image.dir,
      hypervisor: this.d.hypervisor.kind,
      lastError: null,
      domains: input.domains ?? [],
      sleepAfterSec: input.sleepAfterSec ?? null,
    };
    for (let attempt = 0; ; attempt++) {
      const name = input.name ?? (attempt < MAX_NAME_ATTEMPTS / 2 ? randomName() : randomNameWithSuffix());
      const id = fixedId ?? this.d.newId();
      try {
        return this.d.records.insert({ ...base, id, name }, (slot) => planNetwork(id, slot, this.d.config.subnet), (rows) => {
          this.admit(p.userId, rows, input);
          this.d.quotas?.checkPendingDomains(p.userId, rows, pendingAfter(rows, p.userId, null, base.domains));
        });
      } catch (err) {
        if (input.name === undefined && isFcmError(err, 'name_taken') && attempt < MAX_NAME_ATTEMPTS) continue;
        // A random id whose derived tap/MAC collides with another VM's: draw a new id.
        if (!fixedId && err instanceof VmIdentityTaken && attempt < MAX_NAME_ATTEMPTS) continue;
        throw err;
      }
    }
  }

  start(vm: VmRecord): Promise<VmRecord> {
    return this.d.locks.run(vm.id, () => this.startLocked(vm.id));
  }

  stop(vm: VmRecord, opts: StopOptions): Promise<VmRecord> {
    return this.d.locks.run(vm.id, () => this.stopLocked(vm.id, opts));
  }

  restart(vm: VmRecord, opts: StopOptions): Promise<VmRecord> {
    return this.d.locks.run(vm.id, async () => {
      // Its capacity stays reserved while it is down, so the start cannot be refused for it.
      const cur = this.d.records.mustGet(vm.id);
      const release = holdsHost(cur) ? this.d.host?.hold(cur.id, cur) : undefined;
      try {
        await this.stopLocked(vm.id, opts);
        return await this.startLocked(vm.id, false, release !== undefined);
      } finally {
        release?.();
      }
    });
  }

  /** Resize (restarting a running VM so it takes effect) and/or replace custom domains. */
  update(vm: VmRecord, input: UpdateVmInput, stop: StopOptions): Promise<VmRecord> {
    if (input.domains) this.checkDomains(input.domains);
    return this.d.locks.run(vm.id, async () => {
      const cur = this.d.records.mustGet(vm.id);
      if (cur.state === 'creating' || cur.state === 'deleting') throw errors.invalidState(cur.name, cur.state, 'running or stopped');
      const resized =
        (input.vcpus !== undefined && input.vcpus !== cur.vcpus) || (input.memoryMib !== undefined && input.memoryMib !== cur.memoryMib);
      const next = { ...cur, vcpus: input.vcpus ?? cur.vcpus, memoryMib: input.memoryMib ?? cur.memoryMib };
      const updated = this.d.records.save(vm.id, { vcpus: input.vcpus, memoryMib: input.memoryMib, domains: input.domains, sleepAfterSec: input.sleepAfterSec }, (rows) => {
        if (resized) this.admit(cur.owner, rows, next, cur);
        if (input.domains) this.d.quotas?.checkPendingDomains(cur.owner, rows, pendingAfter(rows, cur.owner, cur.id, input.domains));
      });
      if (resized && (cur.state === 'running' || cur.state === 'starting')) {
        this.d.log.info({ vmId: vm.id, vm: vm.name, vcpus: updated.vcpus, memoryMib: updated.memoryMib }, 'restarting to resize');
        const release = this.d.host?.hold(vm.id, next);
        try {
          await this.stopLocked(vm.id, stop);
          return await this.startLocked(vm.id, false, true);
        } finally {
          release?.();
        }
      }
      return updated;
    });
  }

  /**
   * Saves a running VM's memory and device state to disk and ends its
   * process, freeing its memory (state `sleeping`). The hypervisor pauses the
   * guest, writes its state and flushes its disks (the migration's last
   * step), so nothing the guest wrote is lost; the tap goes too. The row says
   * `sleeping` from the moment the save begins, so the VM's route already
   * leads to the wake path: a request arriving meanwhile waits for this lock
   * and wakes it again. A failed save resumes the guest: it keeps running.
   */
  sleep(vm: VmRecord): Promise<VmRecord> {
    return this.d.locks.run(vm.id, () => this.sleepLocked(vm.id));
  }

  /**
   * Wakes the VM if it sleeps (see wakeLocked); any other VM is returned as
   * it is (a stopped VM stays stopped). Under the VM's lock, so a call that
   * arrives while the VM falls asleep waits for the save, then wakes it.
   */
  wake(vm: VmRecord): Promise<VmRecord> {
    return this.d.locks.run(vm.id, async () => {
      const cur = this.d.records.mustGet(vm.id);
      return cur.state === 'sleeping' ? this.wakeLocked(vm.id, false) : cur;
    });
  }

  async delete(vm: VmRecord): Promise<void> {
    await this.d.locks.run(vm.id, () => this.deleteLocked(vm.id));
  }

  /** The process is known dead (monitor/reconcile): start regardless of the recorded state. Call under the VM's lock. */
  recover(id: string): Promise<VmRecord> {
    return this.startLocked(id, true);
  }

  /** Idempotent: every step succeeds when its resource is already gone. */
  async release(vm: VmRecord): Promise<void> {
    await this.d.hypervisor.destroy(vm.id);
    await this.d.network.removeTap(vm.tap);
    await this.d.disks.remove(vm.id);
  }

  private checkDomains(domains: string[]): void {
    if (this.d.config.reservedDomains) checkClaimable(domains, this.d.config.reservedDomains);
    const suffix = this.d.config.reservedDomainSuffix;
    for (const d of domains) {
      if (suffix && (d.endsWith(suffix) || `.${d}` === suffix)) {
        throw new FcmError('validation_failed', `${d} is under ${suffix.slice(1)}, which is reserved for VM URLs.`, {
          errors: [{ path: '/body/domains', message: `${d} is reserved for VM URLs` }],
        });
      }
    }
  }

  /** Quotas of the owner, and host capacity when the VM holds (or will hold) a hypervisor. Runs inside the store write. */
  private admit(owner: string, rows: readonly VmRecord[], next: VmSize, current?: VmRecord): void {
    this.d.quotas?.checkVm(owner, rows, next, current);
    if (!current || holdsHost(current)) this.d.host?.check(rows, next, current?.id);
  }

  /**
   * `recover`: the process is known dead (monitor/reconcile) — start regardless of the recorded state.
   * `admitted`: the host capacity is already reserved (resize/restart, or a VM that held it when it died).
   */
  private async startLocked(id: string, recover = false, admitted = recover): Promise<VmRecord> {
    const vm = this.d.records.mustGet(id);
    if (!recover) {
      if (vm.state === 'running' || vm.state === 'starting') return vm;
      if (vm.state === 'sleeping') return this.wakeLocked(id, admitted);
      if (vm.state !== 'stopped' && vm.state !== 'failed') throw errors.invalidState(vm.name, vm.state, 'stopped');
    }
    const image = this.d.images.fromDir(vm.image, vm.imageDir);
    // Checked and reserved in one synchronous step; released once the row says starting (or failed).
    const release = admitted ? undefined : this.d.host?.reserve(this.d.records.list(), id, vm);
    try {
      return await this.startAdmitted(vm, image);
    } finally {
      release?.();
    }
  }

  private async startAdmitted(vm: VmRecord, image: ImageInfo): Promise<VmRecord> {
    const id = vm.id;
    this.d.records.save(id, { desired: 'running', lastError: null });
    try {
      const disks = await this.d.disks.prepare(vm.id, vm.swapMib, this.d.plans.seed(vm));
      await this.d.network.addTap(this.d.plans.net(vm));
      // A failed VM may still have a (hung) process: make sure it is gone first.
      await this.d.hypervisor.stop(id, 0);
      await this.d.hypervisor.start(this.d.plans.machine(vm, image, disks));
    } catch (err) {
      await this.d.network.removeTap(vm.tap).catch(() => {});
      this.d.records.save(id, { state: 'failed', lastError: errMessage(err) });
      throw err;
    }
    const started = this.d.records.save(id, { state: 'starting' });
    this.d.boots.watch(started);
    return started;
  }

  private sleepParts(name: string): { snapshots: NonNullable<VmLifecycleDeps['snapshots']>; saved: SavedStates } {
    const { snapshots, saved } = this.d;
    if (!snapshots || !saved) throw new FcmError('not_implemented', `VM "${name}" cannot sleep: the ${this.d.hypervisor.kind} driver cannot save machines.`);
    return { snapshots, saved };
  }

  private async sleepLocked(id: string, identityWatch = false): Promise<VmRecord> {
    const vm = this.d.records.mustGet(id);
    if (vm.state === 'sleeping') return vm;
    if (vm.state !== 'running') throw errors.invalidState(vm.name, vm.state, 'running');
    const { snapshots, saved } = this.sleepParts(vm.name);
    const spec = await snapshots.launchedSpec(id);
    if (!spec) throw new FcmError('hypervisor_failed', `VM "${vm.name}" cannot sleep: its hypervisor process is not known to this daemon (start it again first).`);
    const log = this.d.log.child({ vmId: id, vm: vm.name });
    const started = this.d.now();
    this.d.boots.cancel(id);
    this.d.records.save(id, { state: 'sleeping' });
    let bytes: number;
    try {
      const statePath = await saved.begin(id, SLEEP_SAVE);
      await snapshots.saveState(id, statePath);
      bytes = await saved.seal(id, SLEEP_SAVE, { spec, savedAt: new Date(this.d.now()).toISOString(), ...(identityWatch ? { identityWatch: true } : {}) });
    } catch (err) {
      // The guest was only paused: let it run on, as if nothing happened.
      await saved.remove(id, SLEEP_SAVE).catch(() => {});
      await snapshots.resume(id).catch((e: unknown) => log.warn({ err: (e as Error).message }, 'cannot resume after a failed save'));
      this.d.records.save(id, { state: 'running' });
      log.warn({ err: errMessage(err) }, 'could not put the VM to sleep; it keeps running');
      throw err;
    }
    await this.d.hypervisor.stop(id, 0);
    await this.d.network.removeTap(vm.tap);
    log.info({ stateBytes: bytes, ms: this.d.now() - started }, 'VM asleep');
    return this.d.records.save(id, { state: 'sleeping', lastError: null });
  }

  /**
   * Restores a sleeping VM from its save (tap back, the very machine it was,
   * resumed where it paused); the boot watch then sees its agent answer. A
   * save that is missing, belongs to another machine (resized while asleep)
   * or does not load (corrupt, hypervisor changed) is dropped and the VM
   * cold-boots from its disk instead — `lastError` says so.
   */
  private async wakeLocked(id: string, admitted: boolean): Promise<VmRecord> {
    const vm = this.d.records.mustGet(id);
    const image = this.d.images.fromDir(vm.image, vm.imageDir);
    const release = admitted ? undefined : this.d.host?.reserve(this.d.records.list(), id, vm);
    const log = this.d.log.child({ vmId: id, vm: vm.name });
    const started = this.d.now();
    try {
      let how: WakeHow = 'cold';
      let why: string | null = null;
      try {
        const save = (await this.d.saved?.open(id, SLEEP_SAVE)) ?? null;
        if (!save || !this.d.snapshots) why = 'its saved state is missing';
        else if (save.meta.spec.vcpus !== vm.vcpus || save.meta.spec.memoryMib !== vm.memoryMib) why = 'it was resized while asleep';
        else {
          try {
            await this.d.network.addTap(this.d.plans.net(vm));
            await this.d.hypervisor.stop(id, 0);
            await this.d.snapshots.restore(save.meta.spec, save.statePath);
            await this.d.snapshots.resume(id);
            how = 'restore';
            // Saved with the identity watch armed (an export --with-memory): this VM keeps its identity.
            if (save.meta.identityWatch) this.disarmWhenUp(vm);
          } catch (err) {
            why = `restoring its saved state failed (${errMessage(err)})`;
            await this.d.hypervisor.stop(id, 0).catch(() => {});
          }
        }
        if (how === 'cold') {
          log.warn({ why }, 'cannot restore the sleeping VM; cold-booting it instead');
          const disks = await this.d.disks.prepare(id, vm.swapMib, this.d.plans.seed(vm));
          await this.d.network.addTap(this.d.plans.net(vm));
          await this.d.hypervisor.start(this.d.plans.machine(vm, image, disks));
        }
      } catch (err) {
        await this.d.network.removeTap(vm.tap).catch(() => {});
        this.d.records.save(id, { state: 'failed', desired: 'running', lastError: errMessage(err) });
        throw err;
      }
      // The disk has moved on since the save: it can never be restored again.
      await this.d.saved?.remove(id, SLEEP_SAVE).catch((e: unknown) => log.warn({ err: (e as Error).message }, 'cannot remove the used save'));
      const woken = this.d.records.save(id, { state: 'starting', desired: 'running', lastError: why ? `woke by a cold boot: ${why}` : null });
      this.d.boots.watch(woken, { restored: how === 'restore' });
      log.info({ wake: how, ms: this.d.now() - started }, 'VM waking');
      return woken;
    } finally {
      release?.();
    }
  }

  /**
   * Disarms the identity watch of `vm`'s guest once its agent answers (in the background:
   * a wake or a failed save is not held for it). Best effort: the watch ends at its deadline
   * anyway, and in this VM the seed never changes.
   */
  private disarmWhenUp(vm: VmRecord): void {
    const guest = this.d.guest;
    if (!guest) return;
    const signal = AbortSignal.timeout(RESUME_READY_MS);
    const done = guest
      .waitReady(vm, signal)
      .then(() => guest.disarmIdentityWatch(vm, AbortSignal.timeout(10_000)))
      .then(
        () => this.d.log.info({ vmId: vm.id, vm: vm.name }, 'identity watch disarmed; the VM keeps its identity'),
        (e: unknown) => this.d.log.warn({ vmId: vm.id, vm: vm.name, err: errMessage(e) }, 'cannot disarm the identity watch (it ends at its deadline)'),
      )
      .finally(() => {
        if (this.disarming.get(vm.id) === done) this.disarming.delete(vm.id);
      });
    this.disarming.set(vm.id, done);
  }

  private async stopLocked(id: string, opts: StopOptions): Promise<VmRecord> {
    const vm = this.d.records.mustGet(id);
    if (vm.state === 'stopped') return vm;
    if (vm.state === 'sleeping') {
      // No process to stop: its saved memory is dropped (the disk was flushed when it fell asleep).
      await this.d.saved?.remove(id, SLEEP_SAVE);
      await this.d.network.removeTap(vm.tap);
      this.d.log.info({ vmId: id, vm: vm.name }, 'sleeping VM stopped; its saved memory is dropped');
      return this.d.records.save(id, { state: 'stopped', desired: 'stopped' });
    }
    if (vm.state === 'creating' || vm.state === 'deleting') throw errors.invalidState(vm.name, vm.state, 'running');
    this.d.boots.cancel(id);
    this.d.records.save(id, { state: 'stopping', desired: 'stopped' });
    const how = await this.d.hypervisor.stop(id, opts.force ? 0 : opts.timeoutMs);
    await this.d.network.removeTap(vm.tap);
    this.d.log.info({ vmId: id, vm: vm.name, how }, 'VM stopped');
    return this.d.records.save(id, { state: 'stopped' });
  }

  private async deleteLocked(id: string): Promise<void> {
    const vm = this.d.records.get(id);
    if (!vm) return;
    this.d.boots.cancel(id);
    this.d.records.save(id, { state: 'deleting', desired: 'stopped' });
    await this.release(vm);
    await this.d.saved?.remove(id, SLEEP_SAVE);
    this.d.boots.forget(id);
    this.d.records.remove(id);
    this.d.log.info({ vmId: id, vm: vm.name }, 'VM deleted');
  }
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
