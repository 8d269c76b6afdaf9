import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { FcmError, errors, isFcmError } from './errors.js';
import { KeyedMutex } from './locks.js';
import type { Principal, VmPatch, VmRecord, VmState } from './model.js';
import { newVmId, randomName, randomNameWithSuffix } from './names.js';
import { planCmdline } from './planners/kernel-cmdline.js';
import { planNetwork, type NetworkPlan, type Subnet } from './planners/network-plan.js';
import type { Disks, Guest, Hypervisor, ImageInfo, Images, MachineSpec, Network, VmDisks, VmStore } from './ports.js';
import { UndoStack } from './undo.js';
import type { AgentKeys } from './agent-keys.js';
import type { FastBootService } from './fast-boot.js';
import { planSeed } from './planners/seed.js';
import type { Logger } from '../log.js';
import { holdsHost, type HostAdmission } from './admission.js';
import type { QuotaService } from './quotas.js';
import { checkClaimable, pendingAfter, type Reserved } from './domains.js';
import type { VmSize } from './model.js';

export interface CreateVmInput {
  name?: string;
  vcpus: number;
  memoryMib: number;
  diskMib: number;
  swapMib: number;
  port: number;
  image: string;
  domains?: string[];
}

export interface UpdateVmInput {
  vcpus?: number;
  memoryMib?: number;
  domains?: string[];
}

export interface StopOptions {
  timeoutMs: number;
  force: boolean;
}

export interface VmServiceConfig {
  subnet: Subnet;
  agentPort: number;
  dns: string | null;
  tscKhz: number | null;
  /** How long a guest may take from hypervisor start to its agent answering. */
  bootTimeoutMs: number;
  /** Restart VMs whose hypervisor died while they should run. */
  restartPolicy: 'always' | 'never';
  /** At most this many automatic restarts per VM within restartWindowMs, then it stays failed. */
  maxRestarts: number;
  restartWindowMs: number;
  /** How often running VMs' processes are checked. */
  monitorIntervalMs: number;
  /** VM URLs live under this suffix (e.g. `.64-34-93-45.sslip.io`): custom domains may not. */
  reservedDomainSuffix: string | null;
  /** Names nobody may claim as custom domains: the daemon's own host name, the VM base domain (core/domains.ts). */
  reservedDomains?: Reserved;
}

export interface VmServiceDeps {
  store: VmStore;
  hypervisor: Hypervisor;
  network: Network;
  disks: Disks;
  images: Images;
  guest: Guest;
  agentKeys: AgentKeys;
  /** Snapshot restore + warm pool; absent → every VM cold-boots. */
  fastBoot?: FastBootService;
  /** Per-user limits (core/quotas.ts); absent → none. */
  quotas?: QuotaService;
  /** Host capacity (core/admission.ts); absent → unchecked. */
  host?: HostAdmission;
  log: Logger;
  config: VmServiceConfig;
}

const MAX_NAME_ATTEMPTS = 30;

/**
 * VM lifecycle. Every operation takes the VM's lock; reads never do.
 * Ownership is enforced here (`resolve`) for every operation on a named VM.
 */
export class VmService {
  private readonly locks = new KeyedMutex();
  private readonly events = new EventEmitter();
  private readonly boots = new Map<string, AbortController>();
  private readonly restarts = new Map<string, number[]>();
  private monitor: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly d: VmServiceDeps) {
    this.events.setMaxListeners(0);
  }

  // ---- reads -------------------------------------------------------------

  list(p: Principal): VmRecord[] {
    return this.d.store.list().filter((vm) => canSee(p, vm));
  }

  get(p: Principal, name: string): VmRecord {
    return this.resolve(p, name);
  }

  /** Counts for health; not filtered by owner. */
  counts(): { total: number; running: number } {
    const all = this.d.store.list();
    return { total: all.length, running: all.filter((v) => v.state === 'running').length };
  }

  // ---- create ------------------------------------------------------------

  /** Called with the VM id after every state or config change (route sync, consoles). */
  onChange(listener: (vmId: string) => void): () => void {
    this.events.on('vm', listener);
    return () => this.events.off('vm', listener);
  }

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
      undo.push('row', () => this.d.store.remove(id));
      const vlog = log.child({ vmId: id, vm: vm.name });
      let how: 'pool' | 'restore' | 'cold';
      if (pooledId) {
        // Its seed still names the template: give it this VM's identity, open its tap, let it run.
        await this.d.disks.prepare(id, vm.swapMib, this.seedFor(vm));
        await this.d.network.addTap(this.netPlan(vm));
        await fast!.resume(id);
        how = 'pool';
      } else {
        // Fast path 2: restore the template now. Otherwise boot.
        const restored = fast
          ? await fast.restoreNow(id, shape, image, this.seedFor(vm)).catch((err) => {
              // A template that cannot be restored is discarded by FastBoot; this VM just boots.
              vlog.warn({ err: (err as Error).message }, 'restore failed; cold-booting instead');
              return null;
            })
          : null;
        if (restored) {
          undo.push('restored machine', () => fast!.discard(id));
          await this.d.network.addTap(this.netPlan(vm));
          await fast!.resume(id);
          how = 'restore';
        } else {
          const disks = await this.d.disks.create(id, image, { diskMib: vm.diskMib, swapMib: vm.swapMib }, this.seedFor(vm));
          undo.push('disks', () => this.d.disks.remove(id));
          await this.d.network.addTap(this.netPlan(vm));
          undo.push('tap', () => this.d.network.removeTap(vm!.tap));
          await this.d.hypervisor.start(this.machineSpec(vm, image, disks));
          undo.push('hypervisor', () => this.d.hypervisor.destroy(id));
          how = 'cold';
        }
      }

      vm = this.save(id, { state: 'starting' });
      undo.commit();
      this.watchBoot(vm);
      vlog.info({ ip: vm.ip, boot: how }, 'hypervisor started; guest booting');
      return vm;
    } catch (err) {
      await undo.unwind();
      throw err;
    }
  }

  /** `fixedId`: the id of a pooled machine the VM takes over. */
  private insertWithName(p: Principal, input: CreateVmInput, image: ImageInfo, fixedId: string | null): VmRecord {
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
    };
    for (let attempt = 0; ; attempt++) {
      const name = input.name ?? (attempt < MAX_NAME_ATTEMPTS / 2 ? randomName() : randomNameWithSuffix());
      const id = fixedId ?? newVmId();
      try {
        return this.d.store.insert({ ...base, id, name }, (slot) => planNetwork(id, slot, this.d.config.subnet), (rows) => {
          this.admit(p.userId, rows, input);
          this.d.quotas?.checkPendingDomains(p.userId, rows, pendingAfter(rows, p.userId, null, base.domains));
        });
      } catch (err) {
        if (input.name === undefined && isFcmError(err, 'name_taken') && attempt < MAX_NAME_ATTEMPTS) continue;
        // A random id whose derived tap/MAC collides with another VM's: draw a new id.
        if (!fixedId && err instanceof Error && /UNIQUE constraint failed: vms\.(id|mac|tap)/.test(err.message) && attempt < MAX_NAME_ATTEMPTS) continue;
        throw err;
      }
    }
  }

  // ---- lifecycle ---------------------------------------------------------

  async start(p: Principal, name: string): Promise<VmRecord> {
    const vm = this.resolve(p, name);
    return this.locks.run(vm.id, () => this.startLocked(vm.id));
  }

  async stop(p: Principal, name: string, opts: StopOptions): Promise<VmRecord> {
    const vm = this.resolve(p, name);
    return this.locks.run(vm.id, () => this.stopLocked(vm.id, opts));
  }

  async restart(p: Principal, name: string, opts: StopOptions): Promise<VmRecord> {
    const vm = this.resolve(p, name);
    return this.locks.run(vm.id, async () => {
      // Its capacity stays reserved while it is down, so the start cannot be refused for it.
      const cur = this.mustGet(vm.id);
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
  async update(p: Principal, name: string, input: UpdateVmInput, stop: StopOptions): Promise<VmRecord> {
    const vm = this.resolve(p, name);
    if (input.domains) this.checkDomains(input.domains);
    return this.locks.run(vm.id, async () => {
      const cur = this.mustGet(vm.id);
      if (cur.state === 'creating' || cur.state === 'deleting') throw errors.invalidState(cur.name, cur.state, 'running or stopped');
      const resized =
        (input.vcpus !== undefined && input.vcpus !== cur.vcpus) || (input.memoryMib !== undefined && input.memoryMib !== cur.memoryMib);
      const next = { ...cur, vcpus: input.vcpus ?? cur.vcpus, memoryMib: input.memoryMib ?? cur.memoryMib };
      const updated = this.save(vm.id, { vcpus: input.vcpus, memoryMib: input.memoryMib, domains: input.domains }, (rows) => {
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

  async delete(p: Principal, name: string): Promise<void> {
    const vm = this.resolve(p, name);
    await this.locks.run(vm.id, () => this.deleteLocked(vm.id));
  }

  /** Resolves when the VM is in `state`; wait_timeout after timeoutMs; vm_failed if it fails instead. */
  async wait(p: Principal, name: string, state: VmState, timeoutMs: number, signal?: AbortSignal): Promise<VmRecord> {
    const vm = this.resolve(p, name);
    return new Promise<VmRecord>((resolve, reject) => {
      const check = (cur: VmRecord | undefined): boolean => {
        if (!cur) {
          done(errors.vmNotFound(name));
          return true;
        }
        if (cur.state === state) {
          done(null, cur);
          return true;
        }
        if (cur.state === 'failed') {
          done(new FcmError('vm_failed', `VM "${name}" failed: ${cur.lastError ?? 'unknown error'}`));
          return true;
        }
        return false;
      };
      const onEvent = (id: string) => {
        if (id === vm.id) check(this.d.store.get(vm.id));
      };
      const timer = setTimeout(
        () => done(new FcmError('wait_timeout', `VM "${name}" did not become ${state} within ${Math.round(timeoutMs / 1000)}s.`)),
        timeoutMs,
      );
      const onAbort = () => done(new FcmError('wait_timeout', 'The client went away.'));
      const done = (err: Error | null, result?: VmRecord) => {
        clearTimeout(timer);
        this.events.off('vm', onEvent);
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(result!);
      };
      this.events.on('vm', onEvent);
      signal?.addEventListener('abort', onAbort);
      check(this.d.store.get(vm.id));
    });
  }

  /**
   * `recover`: the process is known dead (monitor/reconcile) — start regardless of the recorded state.
   * `admitted`: the host capacity is already reserved (resize/restart, or a VM that held it when it died).
   */
  private async startLocked(id: string, recover = false, admitted = recover): Promise<VmRecord> {
    const vm = this.mustGet(id);
    if (!recover) {
      if (vm.state === 'running' || vm.state === 'starting') return vm;
      if (vm.state !== 'stopped' && vm.state !== 'failed') throw errors.invalidState(vm.name, vm.state, 'stopped');
    }
    const image = this.d.images.fromDir(vm.image, vm.imageDir);
    // Checked and reserved in one synchronous step; released once the row says starting (or failed).
    const release = admitted ? undefined : this.d.host?.reserve(this.d.store.list(), id, vm);
    try {
      return await this.startAdmitted(vm, image);
    } finally {
      release?.();
    }
  }

  private async startAdmitted(vm: VmRecord, image: ImageInfo): Promise<VmRecord> {
    const id = vm.id;
    this.save(id, { desired: 'running', lastError: null });
    try {
      const disks = await this.d.disks.prepare(vm.id, vm.swapMib, this.seedFor(vm));
      await this.d.network.addTap(this.netPlan(vm));
      // A failed VM may still have a (hung) process: make sure it is gone first.
      await this.d.hypervisor.stop(id, 0);
      await this.d.hypervisor.start(this.machineSpec(vm, image, disks));
    } catch (err) {
      await this.d.network.removeTap(vm.tap).catch(() => {});
      this.save(id, { state: 'failed', lastError: errMessage(err) });
      throw err;
    }
    const started = this.save(id, { state: 'starting' });
    this.watchBoot(started);
    return started;
  }

  private async stopLocked(id: string, opts: StopOptions): Promise<VmRecord> {
    const vm = this.mustGet(id);
    if (vm.state === 'stopped') return vm;
    if (vm.state === 'creating' || vm.state === 'deleting') throw errors.invalidState(vm.name, vm.state, 'running');
    this.cancelBoot(id);
    this.save(id, { state: 'stopping', desired: 'stopped' });
    const how = await this.d.hypervisor.stop(id, opts.force ? 0 : opts.timeoutMs);
    await this.d.network.removeTap(vm.tap);
    this.d.log.info({ vmId: id, vm: vm.name, how }, 'VM stopped');
    return this.save(id, { state: 'stopped' });
  }

  private async deleteLocked(id: string): Promise<void> {
    const vm = this.d.store.get(id);
    if (!vm) return;
    this.cancelBoot(id);
    this.save(id, { state: 'deleting', desired: 'stopped' });
    await this.releaseAll(vm);
    this.d.store.remove(id);
    this.restarts.delete(id);
    this.events.emit('vm', id);
    this.d.log.info({ vmId: id, vm: vm.name }, 'VM deleted');
  }

  /** Idempotent: every step succeeds when its resource is already gone. */
  private async releaseAll(vm: VmRecord): Promise<void> {
    await this.d.hypervisor.destroy(vm.id);
    await this.d.network.removeTap(vm.tap);
    await this.d.disks.remove(vm.id);
  }

  // ---- boot watching and the process monitor ---------------------------

  private watchBoot(vm: VmRecord): void {
    this.cancelBoot(vm.id);
    const ac = new AbortController();
    this.boots.set(vm.id, ac);
    const timer = setTimeout(() => ac.abort(new Error('boot timeout')), this.d.config.bootTimeoutMs);
    const started = Date.now();
    this.d.guest
      .waitReady(vm, ac.signal)
      .then(() => {
        const cur = this.d.store.get(vm.id);
        if (!ac.signal.aborted && cur?.state === 'starting') {
          this.save(vm.id, { state: 'running' });
          this.d.log.info({ vmId: vm.id, vm: vm.name, bootMs: Date.now() - started }, 'guest ready');
        }
      })
      .catch(async () => {
        if (ac.signal.reason instanceof Error && ac.signal.reason.message === 'boot timeout') {
          await this.locks.run(vm.id, async () => {
            const cur = this.d.store.get(vm.id);
            if (cur?.state !== 'starting') return;
            const msg = `guest did not answer within ${Math.round(this.d.config.bootTimeoutMs / 1000)}s (see the console log)`;
            this.d.log.warn({ vmId: vm.id, vm: vm.name }, msg);
            await this.d.hypervisor.stop(vm.id, 0);
            await this.d.network.removeTap(cur.tap);
            this.save(vm.id, { state: 'failed', lastError: msg });
          });
        }
      })
      .finally(() => {
        clearTimeout(timer);
        if (this.boots.get(vm.id) === ac) this.boots.delete(vm.id);
      });
  }

  private cancelBoot(id: string): void {
    this.boots.get(id)?.abort(new Error('cancelled'));
    this.boots.delete(id);
  }

  /** Periodically notices hypervisors that died under a VM that should run. */
  startMonitor(): void {
    if (this.monitor) return;
    const tick = async () => {
      for (const vm of this.d.store.list()) {
        if (this.closed) return;
        if ((vm.state !== 'running' && vm.state !== 'starting') || this.locks.isLocked(vm.id)) continue;
        const st = await this.d.hypervisor.status(vm.id).catch(() => null);
        if (st && !st.running) await this.locks.run(vm.id, () => this.handleDeath(vm.id)).catch(() => {});
      }
    };
    const loop = () => {
      this.monitor = setTimeout(() => void tick().finally(() => !this.closed && loop()), this.d.config.monitorIntervalMs);
      this.monitor.unref();
    };
    loop();
  }

  private async handleDeath(id: string): Promise<void> {
    const vm = this.d.store.get(id);
    if (!vm || (vm.state !== 'running' && vm.state !== 'starting')) return;
    const st = await this.d.hypervisor.status(id);
    if (st.running) return;
    this.cancelBoot(id);
    await this.d.hypervisor.stop(id, 0);
    await this.d.network.removeTap(vm.tap);
    const why = 'the hypervisor process exited unexpectedly';
    this.d.log.warn({ vmId: id, vm: vm.name }, 'hypervisor died');
    if (this.shouldRestart(id)) {
      // Straight back to starting: waiters for `running` should not see a transient failure.
      this.d.log.info({ vmId: id, vm: vm.name }, 'restarting VM (restart policy)');
      // Not `running` while there is no process: a wait for running must wait for the new boot.
      this.save(id, { state: 'starting' });
      try {
        await this.startLocked(id, true);
        this.save(id, { lastError: `${why}; restarted automatically` });
        return;
      } catch (err) {
        this.d.log.error({ err, vmId: id }, 'automatic restart failed');
      }
    }
    this.save(id, { state: 'failed', lastError: why });
  }

  private shouldRestart(id: string): boolean {
    if (this.d.config.restartPolicy !== 'always') return false;
    const now = Date.now();
    const recent = (this.restarts.get(id) ?? []).filter((t) => now - t < this.d.config.restartWindowMs);
    if (recent.length >= this.d.config.maxRestarts) return false;
    recent.push(now);
    this.restarts.set(id, recent);
    return true;
  }

  // ---- reconcile ---------------------------------------------------------

  /**
   * Brings the host in line with the stored state after a daemon (re)start:
   * adopts VMs whose hypervisor still runs, finishes interrupted creates
   * (rolled back) and deletes, restarts dead VMs per policy, and removes
   * orphaned processes, taps and disks that no VM owns.
   */
  async reconcile(): Promise<{ adopted: number; rolledBack: number; restarted: number; orphans: number }> {
    const r = { adopted: 0, rolledBack: 0, restarted: 0, orphans: 0 };
    await this.d.network.ensureHost();
    for (const vm of this.d.store.list()) {
      await this.locks.run(vm.id, async () => {
        const log = this.d.log.child({ vmId: vm.id, vm: vm.name });
        if (vm.state === 'creating' || vm.state === 'deleting') {
          await this.releaseAll(vm);
          this.d.store.remove(vm.id);
          if (vm.state === 'creating') r.rolledBack++;
          log.info({ state: vm.state }, 'finished interrupted operation');
          return;
        }
        const st = await this.d.hypervisor.status(vm.id);
        if (st.running && vm.desired === 'running') {
          await this.d.network.addTap(this.netPlan(vm));
          r.adopted++;
          log.info({ pid: st.pid }, 'adopted running VM');
          const cur = vm.state === 'running' ? vm : this.save(vm.id, { state: 'starting' });
          if (cur.state === 'starting') this.watchBoot(cur);
        } else if (st.running) {
          await this.d.hypervisor.stop(vm.id, 10_000);
          await this.d.network.removeTap(vm.tap);
          this.save(vm.id, { state: 'stopped' });
        } else if (vm.desired === 'running') {
          await this.d.network.removeTap(vm.tap);
          this.save(vm.id, { state: 'failed', lastError: 'the hypervisor was not running when the daemon started' });
          if (this.shouldRestart(vm.id)) {
            await this.startLocked(vm.id, true).catch((err) => log.error({ err }, 'restart after reconcile failed'));
            r.restarted++;
          }
        } else {
          await this.d.network.removeTap(vm.tap);
          if (vm.state !== 'stopped') this.save(vm.id, { state: 'stopped' });
        }
      });
    }
    r.orphans = await this.removeOrphans();
    this.d.log.info(r, 'reconciled');
    return r;
  }

  private async removeOrphans(): Promise<number> {
    const known = new Set(this.d.store.list().map((v) => v.id));
    const knownTaps = new Set(this.d.store.list().map((v) => v.tap));
    let n = 0;
    for (const id of await this.d.hypervisor.list()) {
      if (known.has(id)) continue;
      await this.d.hypervisor.destroy(id);
      n++;
    }
    for (const tap of await this.d.network.listTaps()) {
      if (knownTaps.has(tap)) continue;
      await this.d.network.removeTap(tap);
      n++;
    }
    for (const id of await this.d.disks.list()) {
      if (known.has(id)) continue;
      await this.d.disks.remove(id);
      n++;
    }
    if (n) this.d.log.warn({ orphans: n }, 'removed orphaned resources');
    return n;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.d.fastBoot?.close();
    if (this.monitor) clearTimeout(this.monitor);
    for (const ac of this.boots.values()) ac.abort(new Error('daemon closing'));
    this.boots.clear();
  }

  // ---- helpers -----------------------------------------------------------

  /** The one ownership check: a VM the caller may not see does not exist for them. */
  private resolve(p: Principal, name: string): VmRecord {
    const vm = this.d.store.get(name);
    if (!vm || vm.name !== name || !canSee(p, vm)) throw errors.vmNotFound(name);
    return vm;
  }

  private mustGet(id: string): VmRecord {
    const vm = this.d.store.get(id);
    if (!vm) throw new FcmError('vm_not_found', `VM ${id} is gone.`);
    return vm;
  }

  private save(id: string, patch: VmPatch, admit?: (rows: readonly VmRecord[]) => void): VmRecord {
    const vm = this.d.store.update(id, patch, admit);
    this.events.emit('vm', id);
    return vm;
  }

  /** Quotas of the owner, and host capacity when the VM holds (or will hold) a hypervisor. Runs inside the store write. */
  private admit(owner: string, rows: readonly VmRecord[], next: VmSize, current?: VmRecord): void {
    this.d.quotas?.checkVm(owner, rows, next, current);
    if (!current || holdsHost(current)) this.d.host?.check(rows, next, current?.id);
  }

  private seedFor(vm: VmRecord): Buffer {
    const net = this.netPlan(vm);
    return planSeed({
      vmId: vm.id,
      hostname: vm.name,
      agentToken: this.d.agentKeys.tokenFor(vm.id),
      port: vm.port,
      net: { ip: net.ip, prefix: net.prefix, gateway: net.gateway, dns: this.d.config.dns ? [this.d.config.dns] : [] },
      mac: net.mac,
      nowMs: Date.now(),
      entropy: randomBytes(32).toString('base64'),
    });
  }

  private netPlan(vm: VmRecord): NetworkPlan {
    return planNetwork(vm.id, vm.slot, this.d.config.subnet);
  }

  private machineSpec(vm: VmRecord, image: ImageInfo, disks: VmDisks): MachineSpec {
    const net = this.netPlan(vm);
    return {
      vmId: vm.id,
      vcpus: vm.vcpus,
      memoryMib: vm.memoryMib,
      kernelPath: image.kernelPath,
      initrdPath: image.initrdPath,
      cmdline: planCmdline({
        vmId: vm.id,
        hostname: vm.name,
        ip: net.ip,
        prefix: net.prefix,
        gateway: net.gateway,
        dns: this.d.config.dns,
        agentPort: this.d.config.agentPort,
        accel: this.d.hypervisor.accel,
        tscKhz: this.d.config.tscKhz,
      }),
      drives: [disks.root, disks.seed, ...(disks.swap ? [disks.swap] : [])],
      net: { tap: net.tap, mac: net.mac },
    };
  }
}

export function canSee(p: Principal, vm: VmRecord): boolean {
  return p.admin || vm.owner === p.userId;
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
