import { FcmError } from '../../core/errors.js';
import { unreachableReason } from '../../core/hosts.js';
import type { HostRecord } from '../../core/ports/host-registry.js';
import type { VmRecord } from '../../core/model.js';
import type { VmService } from '../../core/vm-service.js';
import type { SnapshotInfo } from '../../core/vm-snapshots.js';
import type { Handler, HandlerContext } from '../server.js';

export interface VmView {
  /** `hostIp`: the public IP of the host the VM runs on (its URL embeds it); default this host's. */
  urlFor(name: string, hostIp?: string): string;
  gitUrls(name: string): { ssh: string; http: string };
  /** The cluster's hosts as VM views need them (read once per request); absent: one host, always up. */
  hosts?(): HostsContext;
  /**
   * The version of the VM rows (ports/vm-store.ts VersionedVmStore): changes with every
   * write; null (or absent) when it cannot be known, and then lists are built afresh.
   */
  rowsVersion?(): number | null;
}

export interface HostsContext {
  /** Hosts whose lease lapsed → why. */
  unreachable: Map<string, string>;
  /** Host id → public IP. */
  ipOf: Map<string, string>;
}

const NO_HOSTS: HostsContext = { unreachable: new Map(), ipOf: new Map() };

/**
 * `VmView.hosts` from a host registry's list. The maps are built again only when the list holds
 * other objects than last time: a registry that hands out the same records until a row changes
 * (MemoryHostRegistry, a SQLite daemon's) costs a GET /v1/vms one list() and no maps; one that
 * reads fresh rows per call (PostgreSQL's) is built per call.
 */
export function hostsView(list: () => readonly HostRecord[]): () => HostsContext {
  let seen: readonly HostRecord[] = [];
  let view: HostsContext | null = null;
  return () => {
    const now = list();
    let same = view !== null && now.length === seen.length;
    for (let i = 0; same && i < now.length; i++) same = now[i] === seen[i];
    seen = now;
    if (!same || view === null) {
      view = {
        unreachable: new Map(now.filter((h) => h.state === 'unreachable').map((h) => [h.id, unreachableReason(h)])),
        ipOf: new Map(now.map((h) => [h.id, h.publicIp])),
      };
    }
    return view;
  };
}

const UNIT_SEC = { s: 1, m: 60, h: 3600 } as const;
/** The shortest idle time a VM may sleep after (a shorter one would put it to sleep between requests). */
export const MIN_SLEEP_AFTER_SEC = 10;

/** `SleepAfter` (already matched against the spec's pattern) → seconds; `off` → null. */
export function parseSleepAfter(v: string): number | null {
  if (v === 'off') return null;
  const sec = Number(v.slice(0, -1)) * UNIT_SEC[v.slice(-1) as keyof typeof UNIT_SEC];
  if (!(sec >= MIN_SLEEP_AFTER_SEC)) {
    throw new FcmError('validation_failed', `sleepAfter must be at least ${MIN_SLEEP_AFTER_SEC}s (or off).`, { errors: [{ path: '/body/sleepAfter', message: `must be at least ${MIN_SLEEP_AFTER_SEC}s` }] });
  }
  return sec;
}

/** Seconds → the shortest `SleepAfter` spelling (`900` → `15m`); null → `off`. */
export function formatSleepAfter(sec: number | null): string {
  if (sec === null) return 'off';
  return sec % 3600 === 0 ? `${sec / 3600}h` : sec % 60 === 0 ? `${sec / 60}m` : `${sec}s`;
}

/** API shape of a VM (openapi.yaml `Vm`): internal fields (owner, slot, tap, imageDir) stay inside. */
export function toApiVm(vm: VmRecord, view: VmView, hosts: HostsContext = NO_HOSTS) {
  const down = hosts.unreachable.get(vm.host);
  return {
    id: vm.id,
    name: vm.name,
    state: down ? ('unreachable' as const) : vm.state,
    stateReason: down ?? null,
    host: vm.host,
    vcpus: vm.vcpus,
    memoryMib: vm.memoryMib,
    diskMib: vm.diskMib,
    swapMib: vm.swapMib,
    port: vm.port,
    image: vm.image,
    ip: vm.ip,
    mac: vm.mac,
    url: view.urlFor(vm.name, hosts.ipOf.get(vm.host)),
    domains: vm.domains,
    pendingDomains: vm.domains.filter((d) => !vm.verifiedDomains.includes(d)),
    gitUrl: view.gitUrls(vm.name).ssh,
    gitHttpUrl: view.gitUrls(vm.name).http,
    hypervisor: vm.hypervisor,
    sleepAfter: formatSleepAfter(vm.sleepAfterSec),
    lastError: vm.lastError,
    createdAt: vm.createdAt,
    updatedAt: vm.updatedAt,
  };
}

/** API shape of a snapshot (openapi.yaml `Snapshot`). */
export function toApiSnapshot(s: SnapshotInfo) {
  return { snapshot: s.name, vm: s.vm, createdAt: s.createdAt, pausedMs: s.pausedMs, stateBytes: s.stateBytes, sizeBytes: s.sizeBytes };
}

/** Thin handlers: validated input in, one service call, API shape out. */
export function vmHandlers(vms: VmService, view: VmView): Record<string, Handler> {
  const out = (vm: VmRecord) => toApiVm(vm, view, view.hosts?.());
  return {
    listVms: Object.assign(
      ({ principal }: HandlerContext) => {
        const hosts = view.hosts?.();
        return { vms: vms.list(principal).map((vm) => toApiVm(vm, view, hosts)) };
      },
      {
        // What the list is built from: which rows the caller sees (who, and whether admin), the rows'
        // version, and the hosts' addresses and reachability (a lease lapses without any write).
        answerKey: ({ principal }: HandlerContext) => {
          const version = view.rowsVersion?.() ?? null;
          if (version === null) return null;
          const hosts = view.hosts?.();
          let key = `${principal.userId}\n${principal.admin}\n${version}\n`;
          if (hosts) {
            // (What `${[...ipOf].join(';')}|${[...unreachable].join(';')}` spells, without the arrays.)
            let sep = '';
            for (const [id, ip] of hosts.ipOf) {
              key += `${sep}${id},${ip}`;
              sep = ';';
            }
            key += '|';
            sep = '';
            for (const [id, why] of hosts.unreachable) {
              key += `${sep}${id},${why}`;
              sep = ';';
            }
          }
          return key;
        },
      },
    ),
    createVm: async ({ principal, body }) =>
      out(
        await vms.create(principal, {
          name: body.name,
          vcpus: body.vcpus,
          memoryMib: body.memoryMib,
          diskMib: body.diskMib,
          swapMib: body.swapMib,
          port: body.port,
          image: body.image,
          domains: body.domains,
          sleepAfterSec: body.sleepAfter === undefined ? null : parseSleepAfter(body.sleepAfter),
          ...(body.host === undefined ? {} : { host: body.host }),
        }),
      ),
    getVm: ({ principal, params }) => out(vms.get(principal, params.name)),
    updateVm: async ({ principal, params, body }) => {
      const { sleepAfter, ...rest } = body;
      const input = sleepAfter === undefined ? rest : { ...rest, sleepAfterSec: parseSleepAfter(sleepAfter) };
      return out(await vms.update(principal, params.name, input, { timeoutMs: 10_000, force: false }));
    },
    deleteVm: async ({ principal, params }) => {
      await vms.delete(principal, params.name);
    },
    startVm: async ({ principal, params }) => out(await vms.start(principal, params.name)),
    sleepVm: async ({ principal, params }) => out(await vms.sleep(principal, params.name)),
    stopVm: async ({ principal, params, body }) =>
      out(await vms.stop(principal, params.name, { timeoutMs: body.timeoutMs, force: body.force })),
    restartVm: async ({ principal, params, body }) =>
      out(await vms.restart(principal, params.name, { timeoutMs: body.timeoutMs, force: body.force })),
    listSnapshots: async ({ principal, params }) => ({ snapshots: (await vms.listSnapshots(principal, params.name)).map(toApiSnapshot) }),
    createSnapshot: async ({ principal, params, body }) => toApiSnapshot(await vms.createSnapshot(principal, params.name, body?.snapshot)),
    restoreSnapshot: async ({ principal, params }) => out(await vms.restoreSnapshot(principal, params.name, params.snapshot)),
    deleteSnapshot: async ({ principal, params }) => {
      await vms.deleteSnapshot(principal, params.name, params.snapshot);
    },
    waitVm: async ({ principal, params, query, reply }) => {
      // Before we answer, 'close' on the response means the client went away.
      const ac = new AbortController();
      const onClose = () => ac.abort();
      reply.raw.once('close', onClose);
      try {
        return out(await vms.wait(principal, params.name, query.state, query.timeout * 1000, ac.signal));
      } finally {
        reply.raw.off('close', onClose);
      }
    },
  };
}
