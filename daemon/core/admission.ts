/**
 * Host admission: a VM is only created, grown or started when the host can
 * hold what it promises. Guest memory cannot be taken back from a running
 * guest, so committing more than the host has ends with the kernel's OOM
 * killer choosing among other tenants' VMs (or the daemon); CPU time is
 * shared, so vCPUs may be overcommitted further.
 *
 *   memory capacity = host RAM × FCM_MEMORY_OVERCOMMIT − FCM_MEMORY_RESERVE_MIB
 *   vCPU capacity   = host CPUs × FCM_CPU_OVERCOMMIT
 *
 * What counts as committed: every VM that holds (or is about to hold) a
 * hypervisor process — any state but `stopped`, `failed` and `sleeping` — plus machines
 * waiting in the snapshot warm pool, plus reservations: a start or a
 * resize-restart reserves its VM's new size from the check until the VM is
 * running again, so the moment it is `stopped` in between cannot be taken
 * by someone else. Checks and reservations are synchronous with the row
 * they guard (see VmStore `admit`), so concurrent requests cannot overshoot.
 *
 * Refusals are `insufficient_capacity` with a `limit` member.
 */
import { FcmError } from './errors.js';
import type { VmRecord } from './model.js';

export interface HostCapacity {
  /** Guest memory the host may commit, MiB. */
  memoryMib: number;
  /** vCPUs the host may commit. */
  vcpus: number;
}

export interface AdmissionConfig {
  hostMemoryMib: number;
  hostCpus: number;
  memoryOvercommit: number;
  memoryReserveMib: number;
  cpuOvercommit: number;
}

/** Pure: the capacity a host of this size offers under this policy. */
export function hostCapacity(c: AdmissionConfig): HostCapacity {
  return {
    memoryMib: Math.max(0, Math.floor(c.hostMemoryMib * c.memoryOvercommit - c.memoryReserveMib)),
    vcpus: Math.max(0, Math.floor(c.hostCpus * c.cpuOvercommit)),
  };
}

export type Need = { vcpus: number; memoryMib: number };

/**
 * A VM holds host resources unless it is stopped, failed or sleeping (no
 * process; a sleeping VM's memory is on disk, and waking it is admitted like a start).
 */
export function holdsHost(vm: Pick<VmRecord, 'state'>): boolean {
  return vm.state !== 'stopped' && vm.state !== 'failed' && vm.state !== 'sleeping';
}

export class HostAdmission {
  private readonly reserved = new Map<string, Need>();

  constructor(
    readonly capacity: HostCapacity,
    /** Held outside VM rows (warm-pool machines). */
    private readonly extra: () => Need = () => ({ vcpus: 0, memoryMib: 0 }),
    /** Only rows on this host count (rows are the cluster's); undefined: all. */
    private readonly host?: string,
  ) {}

  /** What is committed now, leaving out VM `except` (whose new size is being checked). */
  committed(rows: readonly VmRecord[], except?: string): Need {
    const e = this.extra();
    let vcpus = e.vcpus;
    let memoryMib = e.memoryMib;
    const seen = new Set<string>();
    for (const vm of rows) {
      if (vm.id === except || (this.host !== undefined && vm.host !== this.host)) continue;
      seen.add(vm.id);
      const r = this.reserved.get(vm.id);
      if (r) {
        vcpus += r.vcpus;
        memoryMib += r.memoryMib;
      } else if (holdsHost(vm)) {
        vcpus += vm.vcpus;
        memoryMib += vm.memoryMib;
      }
    }
    // A reservation whose row is already gone (deleted mid-start) still holds until released.
    for (const [id, r] of this.reserved) {
      if (id === except || seen.has(id)) continue;
      vcpus += r.vcpus;
      memoryMib += r.memoryMib;
    }
    return { vcpus, memoryMib };
  }

  /**
   * Throws insufficient_capacity unless `need` fits beside everything else.
   * `self`: the VM being resized or started — what it holds now is replaced
   * by `need`, and the refusal reports only the growth as requested.
   */
  check(rows: readonly VmRecord[], need: Need, self?: string): void {
    const others = this.committed(rows, self);
    const row = self ? rows.find((v) => v.id === self) : undefined;
    const held: Need = (self ? this.reserved.get(self) : undefined) ?? (row && holdsHost(row) ? row : { vcpus: 0, memoryMib: 0 });
    const cap = this.capacity;
    const refuse = (name: 'memoryMib' | 'vcpus', unit: string, hint: string) => {
      const usage = others[name] + held[name];
      const requested = need[name] - held[name];
      return new FcmError('insufficient_capacity', `This host cannot hold ${requested} ${unit} more: ${usage} of ${cap[name]} ${unit} are committed. ${hint}`, {
        limit: { name, value: cap[name], usage, requested, unit },
      });
    };
    if (others.memoryMib + need.memoryMib > cap.memoryMib) {
      throw refuse('memoryMib', 'MiB', 'Stop or shrink VMs, or ask the operator (FCM_MEMORY_OVERCOMMIT, FCM_MEMORY_RESERVE_MIB).');
    }
    if (others.vcpus + need.vcpus > cap.vcpus) throw refuse('vcpus', 'vCPUs', 'Stop or shrink VMs, or ask the operator (FCM_CPU_OVERCOMMIT).');
  }

  /**
   * Checks and reserves in one step (synchronous: nothing can run between).
   * The reservation counts as committed until the returned release is
   * called — by then the VM's own row (starting/running, or failed) says it.
   */
  reserve(rows: readonly VmRecord[], id: string, need: Need): () => void {
    this.check(rows, need, id);
    return this.hold(id, need);
  }

  /** Reserves without checking (the size was admitted already, e.g. a resize about to restart). */
  hold(id: string, need: Need): () => void {
    const r = { vcpus: need.vcpus, memoryMib: need.memoryMib };
    this.reserved.set(id, r);
    return () => {
      if (this.reserved.get(id) === r) this.reserved.delete(id);
    };
  }
}
