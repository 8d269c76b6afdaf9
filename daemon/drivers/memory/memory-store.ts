import { FcmError, errors } from '../../core/errors.js';
import { LOCAL_HOST, type NewVm, type VmPatch, type VmRecord } from '../../core/model.js';
import { VmIdentityTaken, type AdmitFn, type VersionedVmStore } from '../../core/ports/vm-store.js';
import type { Subnet } from '../../core/planners/network-plan.js';

/** In-memory twin of SqliteVmStore (same contract suite). */
export class MemoryVmStore implements VersionedVmStore {
  constructor(
    private readonly subnet: Pick<Subnet, 'firstSlot' | 'lastSlot'>,
    /** The host new rows are placed on (tests of several hosts insert through one store per host over shared `rows`). */
    private readonly host: string = LOCAL_HOST,
    private readonly rows: Map<string, VmRecord> = new Map(),
    /** Shared with the other hosts' views of `rows`: any host's write changes it. */
    private readonly writes: { n: number } = { n: 0 },
  ) {}

  /** Another host's view of the same rows (its inserts land on `host`). */
  forHost(host: string, subnet: Pick<Subnet, 'firstSlot' | 'lastSlot'> = this.subnet): MemoryVmStore {
    return new MemoryVmStore(subnet, host, this.rows, this.writes);
  }

  rowsVersion(): number {
    return this.writes.n;
  }

  insert(vm: NewVm, plan: (slot: number) => { ip: string; mac: string; tap: string }, admit?: AdmitFn): VmRecord {
    const all = [...this.rows.values()];
    admit?.(all.map(copy));
    if (all.some((r) => r.name === vm.name)) throw errors.nameTaken(vm.name);
    const used = new Set(all.filter((r) => r.host === this.host).map((r) => r.slot));
    let slot = this.subnet.firstSlot;
    while (used.has(slot)) slot++;
    if (slot > this.subnet.lastSlot) throw new FcmError('ip_pool_exhausted', 'Every address in the VM subnet is in use.');
    const now = new Date().toISOString();
    const rec: VmRecord = { ...vm, slot, ...plan(slot), createdAt: now, updatedAt: now, verifiedDomains: [], host: this.host };
    for (const k of ['id', 'mac', 'tap'] as const) {
      if (all.some((r) => r[k] === rec[k])) throw new VmIdentityTaken(k);
    }
    this.checkDomains(rec.id, rec.domains);
    rec.domains = [...rec.domains].sort();
    this.rows.set(rec.id, rec);
    this.writes.n++;
    return copy(rec);
  }

  update(id: string, patch: VmPatch, admit?: AdmitFn): VmRecord {
    const cur = this.rows.get(id);
    if (!cur) throw new FcmError('vm_not_found', `VM ${id} is gone.`);
    admit?.([...this.rows.values()].map(copy));
    if (patch.domains) this.checkDomains(id, patch.domains);
    const domains = patch.domains ? [...patch.domains].sort() : cur.domains;
    let verified = cur.verifiedDomains.filter((d) => domains.includes(d));
    if (patch.verifiedDomains) {
      for (const d of patch.verifiedDomains) if (!domains.includes(d)) throw new FcmError('not_found', `${d} is not a domain of this VM.`);
      this.checkDomains(id, patch.verifiedDomains);
      verified = [...patch.verifiedDomains].sort();
    }
    const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
    const next = { ...cur, ...defined, domains, verifiedDomains: verified, updatedAt: new Date().toISOString() };
    this.rows.set(id, next);
    this.writes.n++;
    return copy(next);
  }

  remove(id: string): void {
    this.rows.delete(id);
    this.writes.n++;
  }

  get(nameOrId: string): VmRecord | undefined {
    const r = this.rows.get(nameOrId) ?? [...this.rows.values()].find((v) => v.name === nameOrId);
    return r ? copy(r) : undefined;
  }

  list(): VmRecord[] {
    return [...this.rows.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.slot - b.slot).map(copy);
  }

  /** A domain verified for another VM cannot be claimed or verified here (pending claims elsewhere do not block). */
  private checkDomains(id: string, domains: string[]): void {
    for (const d of domains) {
      if ([...this.rows.values()].some((r) => r.id !== id && r.verifiedDomains.includes(d))) {
        throw new FcmError('domain_taken', `The domain ${d} is already verified for another VM.`);
      }
    }
  }
}

const copy = (r: VmRecord): VmRecord => ({ ...r, domains: [...r.domains], verifiedDomains: [...r.verifiedDomains] });
