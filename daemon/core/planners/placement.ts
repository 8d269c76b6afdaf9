/**
 * Placement: which host a new VM goes to, and its slot there. Pure: the
 * caller runs it inside the write that inserts the row (PgVmStore.insertPlaced,
 * under the VM table's write lock), over the hosts and rows as they are at
 * that moment, so two API nodes creating at once see each other's VMs and
 * can neither overbook a host nor hand out one slot (IP) twice.
 *
 * Rules: only hosts that are `up`; a host fits when memory and vCPUs
 * committed by its VMs holding a process (admission's rule, core/admission.ts)
 * plus the new VM stay within its capacity, the disk sizes of all its VMs
 * plus the new one within its disk, and its subnet has a free slot. Among
 * those, the one with the most memory left after placing wins (spreading);
 * ties go to the host with fewer VMs, then the lower id (deterministic).
 * A `pin` names the only host considered.
 */
import { FcmError } from '../errors.js';
import type { VmRecord } from '../model.js';

/** admission.ts's holdsHost (planners import no services): a VM holds memory and vCPUs unless it has no process. */
const holdsHost = (vm: Pick<VmRecord, 'state'>) => vm.state !== 'stopped' && vm.state !== 'failed' && vm.state !== 'sleeping';

export interface PlacementHost {
  id: string;
  state: 'up' | 'unreachable';
  vcpus: number;
  memoryMib: number;
  diskMib: number;
  /** Usable slots of its subnet. */
  firstSlot: number;
  lastSlot: number;
}

export interface PlacementNeed {
  vcpus: number;
  memoryMib: number;
  diskMib: number;
}

export interface Placement {
  host: string;
  slot: number;
}

/** Why one host does not fit (for the refusal's message), or null when it does. */
function misfit(h: PlacementHost, used: { vcpus: number; memoryMib: number; diskMib: number }, slot: number | null, need: PlacementNeed): string | null {
  if (h.state !== 'up') return `${h.id}: unreachable`;
  if (used.memoryMib + need.memoryMib > h.memoryMib) return `${h.id}: ${h.memoryMib - used.memoryMib} MiB memory free`;
  if (used.vcpus + need.vcpus > h.vcpus) return `${h.id}: ${h.vcpus - used.vcpus} vCPUs free`;
  if (used.diskMib + need.diskMib > h.diskMib) return `${h.id}: ${h.diskMib - used.diskMib} MiB disk free`;
  if (slot === null) return `${h.id}: no free IP address`;
  return null;
}

export function planPlacement(hosts: readonly PlacementHost[], rows: readonly Pick<VmRecord, 'host' | 'slot' | 'state' | 'vcpus' | 'memoryMib' | 'diskMib'>[], need: PlacementNeed, pin?: string): Placement {
  const candidates = pin === undefined ? hosts : hosts.filter((h) => h.id === pin);
  if (pin !== undefined && !candidates.length) {
    throw new FcmError('validation_failed', `There is no host "${pin}" (see fcm cluster hosts).`, { errors: [{ path: '/body/host', message: 'no such host' }] });
  }
  if (pin !== undefined && candidates[0]!.state !== 'up') {
    throw new FcmError('host_unreachable', `Host ${pin} is unreachable (its lease lapsed): a VM pinned to it cannot be created now.`, { retryAfterSec: 30 });
  }
  let best: { host: PlacementHost; slot: number; freeAfter: number; vms: number } | null = null;
  const why: string[] = [];
  for (const h of candidates) {
    const mine = rows.filter((r) => r.host === h.id);
    const used = { vcpus: 0, memoryMib: 0, diskMib: 0 };
    for (const r of mine) {
      used.diskMib += r.diskMib;
      if (holdsHost(r)) {
        used.vcpus += r.vcpus;
        used.memoryMib += r.memoryMib;
      }
    }
    const taken = new Set(mine.map((r) => r.slot));
    let slot: number | null = h.firstSlot;
    while (slot <= h.lastSlot && taken.has(slot)) slot++;
    if (slot > h.lastSlot) slot = null;
    const no = misfit(h, used, slot, need);
    if (no) {
      why.push(no);
      continue;
    }
    const freeAfter = h.memoryMib - used.memoryMib - need.memoryMib;
    if (!best || freeAfter > best.freeAfter || (freeAfter === best.freeAfter && (mine.length < best.vms || (mine.length === best.vms && h.id < best.host.id)))) {
      best = { host: h, slot: slot!, freeAfter, vms: mine.length };
    }
  }
  if (!best) {
    const onlyIps = why.length > 0 && why.every((w) => w.endsWith('no free IP address') || w.endsWith('unreachable')) && why.some((w) => w.endsWith('no free IP address'));
    throw new FcmError(
      onlyIps ? 'ip_pool_exhausted' : 'insufficient_capacity',
      `No host can hold a VM of ${need.memoryMib} MiB, ${need.vcpus} vCPUs and ${need.diskMib} MiB disk${why.length ? ` (${why.join('; ')})` : ' (no host is registered)'}.`,
    );
  }
  return { host: best.host.id, slot: best.slot };
}
