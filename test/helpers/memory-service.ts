import { pino } from 'pino';
import type { Principal } from '../../daemon/core/model.js';
import { parseSubnet } from '../../daemon/core/planners/network-plan.js';
import type { VmStore } from '../../daemon/core/ports/vm-store.js';
import { VmService, type VmServiceConfig } from '../../daemon/core/vm-service.js';
import { MemoryDisks, MemoryGuest, MemoryHypervisor, MemoryImages, MemoryNetwork } from '../../daemon/drivers/memory/memory-host.js';
import { MemoryVmStore } from '../../daemon/drivers/memory/memory-store.js';
import { AgentKeys } from '../../daemon/core/agent-keys.js';
import { FastBootService } from '../../daemon/core/fast-boot.js';
import { MemoryLiveSnapshots, MemorySavedStates, MemorySnapshotFiles, MemorySnapshotter, MemoryTemplateStore } from '../../daemon/drivers/memory/memory-host.js';
import { HostAdmission, type HostCapacity } from '../../daemon/core/admission.js';
import { QuotaService, type QuotaDeps, type QuotaLimits } from '../../daemon/core/quotas.js';
import { MemoryQuotaStore } from '../../daemon/drivers/memory/memory-quota-store.js';
import { loadConfig } from '../../daemon/config.js';
import type { HostRecord } from '../../daemon/core/ports/host-registry.js';

/** The daemon's default limits (FCM_QUOTA_* unset). */
export const DEFAULT_QUOTAS: QuotaLimits = loadConfig({}).quotaDefaults;

export const ALICE: Principal = { userId: 'u_alice', email: 'alice@example.com', admin: false };
export const BOB: Principal = { userId: 'u_bob', email: 'bob@example.com', admin: false };
export const ROOT: Principal = { userId: 'admin', email: null, admin: true };

export const DEFAULTS = { vcpus: 1, memoryMib: 1024, diskMib: 2048, swapMib: 512, port: 8000, image: 'base' };

export interface MemoryServiceOptions {
  subnet?: string;
  store?: VmStore;
  config?: Partial<VmServiceConfig>;
  fastBoot?: { poolSize: number; refillDelayMs?: number };
  /** Per-user limits (default: none); `admins` are unlimited (default: the ROOT principal's id). */
  quotas?: { limits?: Partial<QuotaLimits>; admins?: string[] } & Partial<Pick<QuotaDeps, 'env' | 'repoBytes' | 'users' | 'isAdmin'>>;
  /** Host capacity (default: unchecked). */
  host?: HostCapacity;
  /** The services' clock and VM id source (default: Date.now, random ids). */
  now?: () => number;
  newId?: () => string;
  /** VMs can sleep: the hypervisor offers the snapshotter, saves go to MemorySavedStates. */
  sleep?: boolean;
  /** This service as one host of a cluster: its id and the cluster's hosts (default: host `local` alone). */
  cluster?: { hostId: string; hosts: { get(id: string): HostRecord | undefined } };
  /** Named snapshots and forks (implies sleep): the hypervisor offers MemoryLiveSnapshots, files go to MemorySnapshotFiles (at most maxPerVm each), forks' disks to MemoryDisks. */
  snapshots?: { maxPerVm?: number };
}

export function memoryService(opts: MemoryServiceOptions = {}) {
  const clockAndIds = { ...(opts.now ? { now: opts.now } : {}), ...(opts.newId ? { newId: opts.newId } : {}) };
  const subnet = parseSubnet(opts.subnet ?? '172.16.0.0/24');
  const hypervisor = new MemoryHypervisor();
  const network = new MemoryNetwork();
  const disks = new MemoryDisks();
  const guest = new MemoryGuest();
  const store = opts.store ?? new MemoryVmStore(subnet);
  const log = pino({ level: 'silent' });
  const agentKeys = new AgentKeys(Buffer.alloc(32, 7));
  const snapshotter = new MemorySnapshotter(hypervisor);
  const templates = new MemoryTemplateStore();
  const saved = new MemorySavedStates();
  const snapshotFiles = new MemorySnapshotFiles();
  const live = new MemoryLiveSnapshots(hypervisor, snapshotter, snapshotFiles);
  if (opts.sleep || opts.snapshots) hypervisor.offerSnapshots(snapshotter);
  if (opts.snapshots) hypervisor.offerLiveSnapshots(live);
  // The disk directory holds the snapshots: removing a VM's disks removes them (as CowDisks + FileSnapshots do).
  const removeDisks = disks.remove.bind(disks);
  disks.remove = async (vmId: string) => {
    await removeDisks(vmId);
    snapshotFiles.dropVm(vmId);
  };
  const fastBoot = opts.fastBoot
    ? new FastBootService({
        hypervisor, snapshotter, disks, network, templates, agentKeys, log, ...clockAndIds,
        config: { shapes: [{ vcpus: 1, memoryMib: 1024, diskMib: 2048, swapMib: 512, port: 8000 }], poolSize: opts.fastBoot.poolSize, accel: 'tcg', tscKhz: 2600000, agentPort: 7611, buildTimeoutMs: 1000, refillDelayMs: opts.fastBoot.refillDelayMs ?? 10 },
      })
    : undefined;
  const quotaStore = new MemoryQuotaStore();
  const quotas = opts.quotas
    ? new QuotaService({
        defaults: { ...DEFAULT_QUOTAS, ...opts.quotas.limits },
        overrides: quotaStore,
        vms: () => store.list(),
        isAdmin: opts.quotas.isAdmin ?? ((id) => (opts.quotas!.admins ?? [ROOT.userId]).includes(id)),
        ...(opts.quotas.env ? { env: opts.quotas.env } : {}),
        ...(opts.quotas.repoBytes ? { repoBytes: opts.quotas.repoBytes } : {}),
        ...(opts.quotas.users ? { users: opts.quotas.users } : {}),
      })
    : undefined;
  const host = opts.host ? new HostAdmission(opts.host, undefined, opts.cluster?.hostId) : undefined;
  const make = () =>
    new VmService({
      fastBoot,
      ...(quotas ? { quotas } : {}),
      ...(host ? { host } : {}),
      ...(opts.sleep || opts.snapshots ? { saved } : {}),
      ...(opts.snapshots ? { snapshotFiles, diskForks: disks, ...(opts.snapshots.maxPerVm !== undefined ? { maxSnapshotsPerVm: opts.snapshots.maxPerVm } : {}) } : {}),
      ...(opts.cluster ? { hostId: opts.cluster.hostId, hosts: opts.cluster.hosts } : {}),
      store, hypervisor, network, disks, guest, images: new MemoryImages(), log, agentKeys, ...clockAndIds,
      config: {
        subnet, agentPort: 7611, dns: null, tscKhz: 2600000, bootTimeoutMs: 2000, restartPolicy: 'never',
        maxRestarts: 3, restartWindowMs: 60_000, monitorIntervalMs: 20,
        reservedDomainSuffix: '.64-34-93-45.sslip.io', ...opts.config,
      },
    });
  return { service: make(), make, quotas, quotaStore, admission: host, hypervisor, network, disks, guest, store, snapshotter, templates, saved, fastBoot, snapshotFiles, live, images: new MemoryImages() };
}
