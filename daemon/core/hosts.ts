/**
 * This daemon as one host of a cluster: it registers itself in the shared
 * database, renews its lease, and tells which hosts are up. A host whose
 * lease lapsed is `unreachable`: its VMs are shown so, and nothing else
 * touches them — no other host deletes, recreates or starts them — until
 * it renews again (it restarts, or the database comes back) and reconciles
 * them itself.
 *
 * One daemon with SQLite is a cluster of one (its registry is the
 * in-memory twin): the same listing, always up.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.js';
import { holdsHost } from './admission.js';
import type { VmRecord } from './model.js';
import type { HostInfo, HostRecord, HostRegistry } from './ports/host-registry.js';

export interface HostUsage {
  vms: number;
  /** Committed by VMs holding a hypervisor process (admission's rule). */
  vcpus: number;
  memoryMib: number;
  /** Disk sizes of every VM on the host (a stopped VM keeps its disk). */
  diskMib: number;
}

export interface HostView extends HostRecord {
  usage: HostUsage;
}

export interface HostServiceConfig {
  /** How long a lease runs without renewal. */
  leaseMs: number;
  /** How often it is renewed (less than half the lease, so one missed renewal does not lapse it). */
  renewMs: number;
}

export interface HostServiceDeps {
  registry: HostRegistry;
  self: HostInfo;
  vms: () => VmRecord[];
  log: Logger;
  config: HostServiceConfig;
  /** The lease was taken by another process with this host id: this one must stop driving VMs. */
  onLost: () => void;
  instance?: string;
}

/** Pure: what each host's VMs use. */
export function hostUsage(vms: readonly VmRecord[]): Map<string, HostUsage> {
  const out = new Map<string, HostUsage>();
  for (const vm of vms) {
    const u = out.get(vm.host) ?? { vms: 0, vcpus: 0, memoryMib: 0, diskMib: 0 };
    u.vms++;
    u.diskMib += vm.diskMib;
    if (holdsHost(vm)) {
      u.vcpus += vm.vcpus;
      u.memoryMib += vm.memoryMib;
    }
    out.set(vm.host, u);
  }
  return out;
}

export class HostService {
  readonly id: string;
  private readonly instance: string;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private joined = false;

  constructor(private readonly d: HostServiceDeps) {
    this.id = d.self.id;
    this.instance = d.instance ?? randomBytes(8).toString('hex');
  }

  /**
   * Registers this host. While another live process holds the id (a
   * daemon killed a moment ago whose lease has not lapsed, or a second
   * machine configured with the same FCM_HOST_ID) it waits, retrying each
   * renew interval, up to `maxWaitMs`, then throws.
   */
  async join(maxWaitMs: number): Promise<void> {
    const deadline = Date.now() + maxWaitMs;
    let warned = false;
    for (;;) {
      const r = this.d.registry.register(this.d.self, this.instance, this.d.config.leaseMs);
      if (r.ok) break;
      if (Date.now() >= deadline) {
        throw new Error(`host id "${this.id}" is held by another fcm daemon until ${r.heldUntil}: give each host its own FCM_HOST_ID`);
      }
      if (!warned) this.d.log.warn({ host: this.id, heldUntil: r.heldUntil }, 'another daemon holds this host id; waiting for its lease to lapse');
      warned = true;
      await new Promise((res) => setTimeout(res, this.d.config.renewMs));
    }
    this.joined = true;
    this.d.log.info({ host: this.id, leaseMs: this.d.config.leaseMs }, 'host registered');
    const tick = () => {
      if (this.closed) return;
      try {
        if (!this.d.registry.renew(this.id, this.instance, this.d.config.leaseMs)) {
          this.d.log.fatal({ host: this.id }, 'this host lost its lease to another process with the same host id');
          this.closed = true;
          this.d.onLost();
          return;
        }
      } catch (err) {
        // The database is away: keep trying. VMs run on; others see this host unreachable once the lease lapses.
        this.d.log.warn({ err: (err as Error).message }, 'cannot renew the host lease');
      }
      this.timer = setTimeout(tick, this.d.config.renewMs);
      this.timer.unref();
    };
    this.timer = setTimeout(tick, this.d.config.renewMs);
    this.timer.unref();
  }

  /** Records changed facts about this host (its API URL once its port is known); keeps the lease. */
  update(info: HostInfo): void {
    this.d.registry.register(info, this.instance, this.d.config.leaseMs);
  }

  /** Every host with what its VMs use. */
  list(): HostView[] {
    const usage = hostUsage(this.d.vms());
    return this.d.registry.list().map((h) => ({ ...h, usage: usage.get(h.id) ?? { vms: 0, vcpus: 0, memoryMib: 0, diskMib: 0 } }));
  }

  /** Hosts whose lease lapsed, by id, with why (for VM views: one registry read per request). */
  unreachable(): Map<string, string> {
    const out = new Map<string, string>();
    for (const h of this.d.registry.list()) {
      if (h.state === 'unreachable') out.set(h.id, unreachableReason(h));
    }
    return out;
  }

  /** The host record of `id`, if registered. */
  get(id: string): HostRecord | undefined {
    return this.d.registry.list().find((h) => h.id === id);
  }

  /** Stops renewing and ends the lease at once (a clean stop: others see it unreachable now, not a lease later). */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.closed) return;
    this.closed = true;
    if (!this.joined) return;
    try {
      this.d.registry.release(this.id, this.instance);
    } catch (err) {
      this.d.log.warn({ err: (err as Error).message }, 'cannot release the host lease (it lapses on its own)');
    }
  }
}

export function unreachableReason(h: Pick<HostRecord, 'id' | 'publicIp' | 'renewedAt'>): string {
  return `host ${h.id} (${h.publicIp}) has not renewed its lease since ${h.renewedAt}: it is down or cut off. Its VMs are left as they are until it returns.`;
}
