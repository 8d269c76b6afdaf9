/**
 * VMs, as routes and other services see them: one class with the public
 * operations, ownership checked here (`resolve`) for every operation on a
 * named VM. The work is done by three modules with narrow seams:
 *
 * - vm-lifecycle.ts   create / start / stop / update / delete (under the VM's lock)
 * - vm-supervisor.ts  boot watch, process monitor, restart policy
 * - vm-reconcile.ts   adopt / repair after a daemon start, orphan sweep
 *
 * sharing the rows and their change events (vm-records.ts), the per-VM lock
 * and the host plans of a VM (vm-plans.ts). Reads never lock.
 */
import type { Logger } from '../log.js';
import type { HostAdmission } from './admission.js';
import type { AgentKeys } from './agent-keys.js';
import type { Reserved } from './domains.js';
import { FcmError, errors } from './errors.js';
import type { FastBootService } from './fast-boot.js';
import { KeyedMutex } from './locks.js';
import { newVmId } from './names.js';
import type { Principal, VmRecord, VmState } from './model.js';
import type { Subnet } from './planners/network-plan.js';
import type { QuotaService } from './quotas.js';
import type { Disks, VmDisks } from './ports/disks.js';
import type { Guest } from './ports/guest.js';
import type { Hypervisor } from './ports/hypervisor.js';
import type { Images } from './ports/images.js';
import type { Network } from './ports/network.js';
import type { SavedStates } from './ports/saved-states.js';
import type { VmStore } from './ports/vm-store.js';
import type { HostRecord } from './ports/host-registry.js';
import { unreachableReason } from './hosts.js';
import { VmLifecycle, type CreateVmInput, type ResumeFrom, type StopOptions, type UpdateVmInput } from './vm-lifecycle.js';
import { VmPlans } from './vm-plans.js';
import { VmReconciler, type ReconcileResult } from './vm-reconcile.js';
import { VmRecords } from './vm-records.js';
import { VmSupervisor } from './vm-supervisor.js';
import type { SnapshotFiles } from './ports/vm-snapshots.js';
import { VmSnapshots, type SnapshotInfo } from './vm-snapshots.js';
import type { DiskForks } from './ports/disks.js';
import { VmForks, type ForkApp, type ForkInput, type ForkResult } from './vm-forks.js';

export type { CreateVmInput, StopOptions, UpdateVmInput } from './vm-lifecycle.js';

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
  /** Where sleeping VMs' memory goes; absent (or a hypervisor without snapshots) → VMs cannot sleep. */
  saved?: SavedStates;
  /** Per-user limits (core/quotas.ts); absent → none. */
  quotas?: QuotaService;
  /** Host capacity (core/admission.ts); absent → unchecked. */
  host?: HostAdmission;
  /** Where named snapshots go (with the hypervisor's liveSnapshots capability); absent → fcm snapshot is not_implemented. */
  snapshotFiles?: SnapshotFiles;
  /** Snapshots kept per VM at most (config vmSnapshots.maxPerVm). */
  maxSnapshotsPerVm?: number;
  /** How forks copy disks (with the hypervisor's liveSnapshots capability); absent → fcm fork is not_implemented. */
  diskForks?: DiskForks;
  log: Logger;
  config: VmServiceConfig;
  /** This daemon's host id (FCM_HOST_ID): it drives only the VMs whose row names it. */
  hostId?: string;
  /** The cluster's hosts, to say where a VM of another host runs and whether that host is up. */
  hosts?: { get(id: string): HostRecord | undefined };
  /** The clock (restart window, the guest's seed) and the VM id source; tests inject their own. */
  now?: () => number;
  newId?: () => string;
}

export class VmService {
  private readonly records: VmRecords;
  private readonly lifecycle: VmLifecycle;
  private readonly supervisor: VmSupervisor;
  private readonly reconciler: VmReconciler;
  private readonly snapshots: VmSnapshots;
  private readonly forks: VmForks;

  constructor(private readonly d: VmServiceDeps) {
    const c = d.config;
    const now = d.now ?? Date.now;
    const records = (this.records = new VmRecords(d.store, d.hostId));
    const locks = new KeyedMutex();
    const plans = new VmPlans({ subnet: c.subnet, agentPort: c.agentPort, dns: c.dns, tscKhz: c.tscKhz, accel: d.hypervisor.accel }, d.agentKeys, now);
    const supervisor: VmSupervisor = (this.supervisor = new VmSupervisor({
      records,
      locks,
      hypervisor: d.hypervisor,
      network: d.network,
      guest: d.guest,
      recover: (id): Promise<VmRecord> => lifecycle.recover(id),
      log: d.log,
      config: c,
      now,
    }));
    const lifecycle: VmLifecycle = (this.lifecycle = new VmLifecycle({
      records,
      locks,
      plans,
      hypervisor: d.hypervisor,
      network: d.network,
      disks: d.disks,
      images: d.images,
      ...(d.fastBoot ? { fastBoot: d.fastBoot } : {}),
      ...(d.saved && d.hypervisor.capabilities.snapshots ? { saved: d.saved, snapshots: d.hypervisor.capabilities.snapshots } : {}),
      ...(d.quotas ? { quotas: d.quotas } : {}),
      ...(d.host ? { host: d.host } : {}),
      boots: supervisor,
      guest: d.guest,
      log: d.log,
      config: c,
      newId: d.newId ?? newVmId,
      now,
    }));
    const snapshotter = d.hypervisor.capabilities.snapshots;
    this.snapshots = new VmSnapshots({
      records,
      locks,
      plans,
      hypervisor: d.hypervisor,
      network: d.network,
      snapshotter,
      live: snapshotter ? (d.hypervisor.capabilities.liveSnapshots ?? null) : null,
      files: d.snapshotFiles ?? null,
      ...(d.saved ? { saved: d.saved } : {}),
      ...(d.host ? { host: d.host } : {}),
      boots: supervisor,
      log: d.log.child({ op: 'snapshot' }),
      maxPerVm: d.maxSnapshotsPerVm ?? 10,
      now,
    });
    this.forks = new VmForks({
      records,
      locks,
      plans,
      images: d.images,
      hypervisor: d.hypervisor,
      network: d.network,
      disks: d.disks,
      guest: d.guest,
      snapshotter,
      live: snapshotter ? (d.hypervisor.capabilities.liveSnapshots ?? null) : null,
      diskForks: d.diskForks ?? null,
      insert: (p, input, image) => lifecycle.insertWithName(p, input, image, null),
      boots: supervisor,
      log: d.log,
    });
    this.reconciler = new VmReconciler({
      records,
      locks,
      plans,
      hypervisor: d.hypervisor,
      network: d.network,
      disks: d.disks,
      lifecycle,
      supervisor,
      snapshots: this.snapshots,
      forks: this.forks,
      ...(d.saved && d.hypervisor.capabilities.snapshots ? { sleep: { saved: d.saved, snapshots: d.hypervisor.capabilities.snapshots } } : {}),
      log: d.log,
    });
  }

  // ---- reads -------------------------------------------------------------

  list(p: Principal): VmRecord[] {
    return this.records.list().filter((vm) => canSee(p, vm));
  }

  get(p: Principal, name: string): VmRecord {
    return this.resolve(p, name);
  }

  /** Counts for health; not filtered by owner. */
  counts(): { total: number; running: number; sleeping: number } {
    const all = this.records.list();
    return { total: all.length, running: all.filter((v) => v.state === 'running').length, sleeping: all.filter((v) => v.state === 'sleeping').length };
  }

  /** Called with the VM id after every state or config change (route sync, consoles). */
  onChange(listener: (vmId: string) => void): () => void {
    return this.records.onChange(listener);
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
      const timer = setTimeout(
        () => done(new FcmError('wait_timeout', `VM "${name}" did not become ${state} within ${Math.round(timeoutMs / 1000)}s.`)),
        timeoutMs,
      );
      const onAbort = () => done(new FcmError('wait_timeout', 'The client went away.'));
      const done = (err: Error | null, result?: VmRecord) => {
        clearTimeout(timer);
        off();
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(result!);
      };
      const off = this.records.onChange((id) => {
        if (id === vm.id) check(this.records.get(vm.id));
      });
      signal?.addEventListener('abort', onAbort);
      check(this.records.get(vm.id));
    });
  }

  // ---- lifecycle (vm-lifecycle.ts) ---------------------------------------

  async create(p: Principal, input: CreateVmInput): Promise<VmRecord> {
    // A create pinned elsewhere reaches this host only when forwarding could not take it there.
    if (input.host !== undefined && input.host !== this.records.host) {
      const h = this.d.hosts?.get(input.host);
      if (!h) throw new FcmError('validation_failed', `There is no host "${input.host}" (see fcm cluster hosts).`, { errors: [{ path: '/body/host', message: 'no such host' }] });
      if (h.state === 'unreachable') throw new FcmError('host_unreachable', `Host ${input.host} is unreachable (its lease lapsed).`, { retryAfterSec: 30 });
      throw new FcmError('wrong_host', `Host ${input.host} takes its creates at ${h.apiUrl}.`);
    }
    return this.lifecycle.create(p, input);
  }

  async start(p: Principal, name: string): Promise<VmRecord> {
    return this.lifecycle.start(this.here(this.resolve(p, name)));
  }

  /** A new VM of `p` booting from disks made by `makeDisks` (a backup import); see VmLifecycle.createWithDisks. */
  createWithDisks(
    p: Principal,
    input: CreateVmInput,
    makeDisks: (vmId: string, seed: Buffer) => Promise<VmDisks>,
    note: string | null = null,
    resume: ResumeFrom | null = null,
  ): Promise<VmRecord> {
    return this.lifecycle.createWithDisks(p, input, makeDisks, note, resume);
  }

  /**
   * Runs `fn` with the VM's disk at rest and holding everything the guest wrote: a
   * sleeping VM is woken first (its unsynced writes live in its saved memory, not on its
   * disk), a running one has its page cache synced (guest agent) and is put to sleep
   * (VmLifecycle.quiet); a stopped one is taken as it is.
   */
  async quiet<T>(p: Principal, name: string, fn: (vm: VmRecord) => Promise<T>, opts: { identityWatch?: boolean } = {}): Promise<T> {
    // Its disks are on its own host (a stopped VM's too).
    let vm = this.here(this.resolve(p, name));
    if (vm.state === 'sleeping' || vm.state === 'starting') vm = await this.awake(p, name, this.d.config.bootTimeoutMs);
    if (vm.state === 'running') {
      try {
        await this.d.guest.syncDisks(vm, AbortSignal.timeout(120_000));
      } catch (e) {
        throw new FcmError('hypervisor_failed', `VM "${name}": its guest did not write its cached data to disk (${(e as Error).message}); not exported.`);
      }
    }
    return this.lifecycle.quiet(vm, fn, opts);
  }

  /** Saves the VM's memory to disk and ends its process (state `sleeping`); see VmLifecycle.sleep. */
  async sleep(p: Principal, name: string): Promise<VmRecord> {
    return this.lifecycle.sleep(this.here(this.resolve(p, name)));
  }

  /**
   * For operations that need the guest (console, logs, deploys): a sleeping
   * VM is woken and this resolves once it runs again (vm_failed, wait_timeout
   * otherwise); any other VM is returned as it is.
   */
  async awake(p: Principal, name: string, timeoutMs: number, signal?: AbortSignal): Promise<VmRecord> {
    const vm = await this.lifecycle.wake(this.here(this.resolve(p, name)));
    // Waking (or starting): the caller wants the guest, so wait for it.
    if (vm.state === 'starting' || vm.state === 'sleeping') return this.wait(p, name, 'running', timeoutMs, signal);
    return vm;
  }

  /** awakeForRequest() for a VM already resolved for its caller (a console attaching), bounded by the boot timeout. */
  awakeVm(vm: VmRecord): Promise<VmRecord> {
    this.here(vm);
    return this.awakeForRequest(vm.name, this.d.config.bootTimeoutMs);
  }

  /**
   * awake() without an ownership check, by name: for the wake path of a
   * sleeping VM's URL (anyone who can reach the URL may wake the VM — that is
   * what a request to it is for) and for operations already authorized (a
   * push). Tells nothing but the VM as it now is.
   */
  async awakeForRequest(name: string, timeoutMs: number, signal?: AbortSignal): Promise<VmRecord> {
    const vm = this.records.get(name);
    if (!vm || vm.name !== name) throw errors.vmNotFound(name);
    return this.awake({ userId: vm.owner, email: null, admin: false }, name, timeoutMs, signal);
  }

  async stop(p: Principal, name: string, opts: StopOptions): Promise<VmRecord> {
    return this.lifecycle.stop(this.here(this.resolve(p, name)), opts);
  }

  async restart(p: Principal, name: string, opts: StopOptions): Promise<VmRecord> {
    return this.lifecycle.restart(this.here(this.resolve(p, name)), opts);
  }

  /** Resize (restarting a running VM so it takes effect) and/or replace custom domains. */
  async update(p: Principal, name: string, input: UpdateVmInput, stop: StopOptions): Promise<VmRecord> {
    return this.lifecycle.update(this.here(this.resolve(p, name)), input, stop);
  }

  /**
   * A VM of a host whose lease lapsed is deleted here at the owner's request: only its
   * row goes (and with it its name, address and place in quotas and usage). Nothing is
   * moved, started or stopped; its host, when it returns, finds the process, tap and
   * disks no row owns and removes them in its reconcile, and its Caddy drops the route
   * (routes follow the rows). Every other operation on such a VM stays host_unreachable.
   */
  async delete(p: Principal, name: string): Promise<void> {
    const found = this.resolve(p, name);
    if (found.host !== this.records.host) {
      const h = this.d.hosts?.get(found.host);
      if (h && h.state === 'unreachable') {
        this.records.remove(found.id);
        this.d.log.info({ vmId: found.id, vm: found.name, host: found.host }, 'VM of an unreachable host deleted; its host cleans up when it returns');
        return;
      }
    }
    const vm = this.here(found);
    await this.lifecycle.delete(vm);
    await this.snapshots.forget(vm.id);
  }

  // ---- snapshots (vm-snapshots.ts) ---------------------------------------

  async listSnapshots(p: Principal, name: string): Promise<SnapshotInfo[]> {
    return this.snapshots.list(this.here(this.resolve(p, name)));
  }

  async createSnapshot(p: Principal, name: string, snapshot?: string): Promise<SnapshotInfo> {
    return this.snapshots.create(this.here(this.resolve(p, name)), snapshot);
  }

  /** Rolls the VM back to the snapshot (memory + disk); the VM is `starting` until its agent answers. */
  async restoreSnapshot(p: Principal, name: string, snapshot: string): Promise<VmRecord> {
    return this.snapshots.restore(this.here(this.resolve(p, name)), snapshot);
  }

  async deleteSnapshot(p: Principal, name: string, snapshot: string): Promise<void> {
    return this.snapshots.remove(this.here(this.resolve(p, name)), snapshot);
  }

  // ---- forks (vm-forks.ts) ------------------------------------------------

  /**
   * A new VM of `p` from running VM `name`'s live state (memory and disks of one instant),
   * with its own identity; `app` copies what belongs to the app (config vars, releases,
   * repository). The fork is `starting` until its guest answers as itself.
   */
  async fork(p: Principal, name: string, input: ForkInput, app: ForkApp): Promise<ForkResult> {
    return this.forks.fork(p, this.here(this.resolve(p, name)), input, app);
  }

  // ---- supervision and reconcile (vm-supervisor.ts, vm-reconcile.ts) ----

  /** Periodically notices hypervisors that died under a VM that should run. */
  startMonitor(): void {
    this.supervisor.startMonitor();
  }

  /** After a daemon (re)start: see VmReconciler. */
  reconcile(): Promise<ReconcileResult> {
    return this.reconciler.reconcile();
  }

  async close(): Promise<void> {
    this.supervisor.close();
    await this.d.fastBoot?.close();
  }

  // ---- helpers -----------------------------------------------------------

  /**
   * `vm` if this host runs it. A VM of another host is that host's to
   * drive: host_unreachable while its lease has lapsed (nothing here may
   * start, move or delete it behind that host's back), wrong_host otherwise
   * (the request belongs on the owning host's API).
   */
  here(vm: VmRecord): VmRecord {
    if (vm.host === this.records.host) return vm;
    const h = this.d.hosts?.get(vm.host);
    if (!h || h.state === 'unreachable') {
      throw new FcmError('host_unreachable', h ? `VM "${vm.name}" runs on ${unreachableReason(h)}` : `VM "${vm.name}" runs on host ${vm.host}, which is not registered.`, { retryAfterSec: 30 });
    }
    throw new FcmError('wrong_host', `VM "${vm.name}" runs on host ${vm.host}: send this request to ${h.apiUrl}.`);
  }

  /** The one ownership check: a VM the caller may not see does not exist for them. */
  private resolve(p: Principal, name: string): VmRecord {
    const vm = this.records.get(name);
    if (!vm || vm.name !== name || !canSee(p, vm)) throw errors.vmNotFound(name);
    return vm;
  }
}

export function canSee(p: Principal, vm: VmRecord): boolean {
  return p.admin || vm.owner === p.userId;
}
