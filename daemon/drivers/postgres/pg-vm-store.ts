import { FcmError, errors } from '../../core/errors.js';
import { LOCAL_HOST, type NewVm, type VmPatch, type VmRecord } from '../../core/model.js';
import { VmIdentityTaken, type AdmitFn, type VmStore } from '../../core/ports/vm-store.js';
import { parseSubnet, type Subnet } from '../../core/planners/network-plan.js';
import type { Placement, PlacementHost } from '../../core/planners/placement.js';
import { uniqueViolation, type PgDb } from './pg-db.js';

interface Row {
  id: string; name: string; owner: string; state: string; desired: string;
  vcpus: number; memory_mib: number; disk_mib: number; swap_mib: number; port: number;
  image: string; image_dir: string; hypervisor: string; slot: number; ip: string; mac: string; tap: string;
  last_error: string | null; created_at: string; updated_at: string; domains: string[]; verified: string[]; sleep_after_sec: number | null; host_id: string | null;
}

const fromRow = (r: Row, host: string): VmRecord => ({
  id: r.id, name: r.name, owner: r.owner, state: r.state as VmRecord['state'], desired: r.desired as VmRecord['desired'],
  vcpus: r.vcpus, memoryMib: r.memory_mib, diskMib: r.disk_mib, swapMib: r.swap_mib, port: r.port,
  image: r.image, imageDir: r.image_dir, hypervisor: r.hypervisor as VmRecord['hypervisor'],
  slot: r.slot, ip: r.ip, mac: r.mac, tap: r.tap, lastError: r.last_error,
  domains: [...r.domains].sort(), verifiedDomains: [...r.verified].sort(),
  createdAt: r.created_at, updatedAt: r.updated_at, sleepAfterSec: r.sleep_after_sec ?? null,
  // NULL: moved from SQLite and not yet adopted (PgHostRegistry.register) — it runs where it was moved from, which is here.
  host: r.host_id ?? host,
});

const SELECT = `SELECT vms.*, COALESCE(d.domains, '{}') AS domains, COALESCE(d.verified, '{}') AS verified
  FROM vms LEFT JOIN (
    SELECT vm_id, array_agg(domain) AS domains, array_agg(domain) FILTER (WHERE status = 'verified') AS verified
    FROM vm_domain_claims GROUP BY vm_id
  ) d ON d.vm_id = vms.id`;

const PATCH_COLUMNS: Record<Exclude<keyof VmPatch, 'domains' | 'verifiedDomains'>, string> = {
  state: 'state', desired: 'desired', lastError: 'last_error', vcpus: 'vcpus', memoryMib: 'memory_mib', sleepAfterSec: 'sleep_after_sec',
};

/**
 * Every write to VM rows (and their domain claims) takes this lock first: it
 * conflicts with itself and with plain row writes, not with reads. So an
 * insert's admission check, slot choice and INSERT see no other writer —
 * another daemon on the same database included — which is what
 * better-sqlite3's BEGIN IMMEDIATE gives the SQLite store.
 */
const WRITE_LOCK = 'LOCK TABLE vms IN SHARE ROW EXCLUSIVE MODE';

type Plan = (slot: number) => { ip: string; mac: string; tap: string };

/**
 * VM rows in PostgreSQL. Same contract as SqliteVmStore. Unlike it, reads are
 * not served from an in-process snapshot: another daemon may write the same
 * database, so every read asks the server (one round trip).
 */
export class PgVmStore implements VmStore {
  /** `host`: this daemon's id (FCM_HOST_ID); the rows it inserts run here. Slots and IPs are unique per host. */
  constructor(private readonly db: PgDb, private readonly subnet: Pick<Subnet, 'firstSlot' | 'lastSlot'>, private readonly host: string = LOCAL_HOST) {}

  private current(): VmRecord[] {
    return this.db.query<Row>(`${SELECT} ORDER BY vms.created_at, vms.slot`).rows.map((r) => fromRow(r, this.host));
  }

  private taken(id: string, d: string): void {
    const owner = this.db.query<{ vm_id: string }>("SELECT vm_id FROM vm_domain_claims WHERE domain = $1 AND status = 'verified'", [d]).rows[0]?.vm_id;
    if (owner && owner !== id) throw new FcmError('domain_taken', `The domain ${d} is already verified for another VM.`);
  }

  private claimsOf(id: string): string[] {
    return this.db.query<{ domain: string }>('SELECT domain FROM vm_domain_claims WHERE vm_id = $1', [id]).rows.map((r) => r.domain);
  }

  private setDomains(id: string, domains: string[]): void {
    for (const d of domains) this.taken(id, d);
    this.db.query('DELETE FROM vm_domain_claims WHERE vm_id = $1 AND NOT (domain = ANY($2::text[]))', [id, domains]);
    this.db.query(
      "INSERT INTO vm_domain_claims (vm_id, domain, status) SELECT $1, d, 'pending' FROM unnest($2::text[]) AS d ON CONFLICT (vm_id, domain) DO NOTHING",
      [id, domains],
    );
  }

  private setVerified(id: string, verified: string[]): void {
    const claimed = this.claimsOf(id);
    for (const d of verified) {
      if (!claimed.includes(d)) throw new FcmError('not_found', `${d} is not a domain of this VM.`);
      this.taken(id, d);
    }
    this.db.query("UPDATE vm_domain_claims SET status = CASE WHEN domain = ANY($2::text[]) THEN 'verified' ELSE 'pending' END WHERE vm_id = $1", [id, verified]);
  }

  insert(vm: NewVm, plan: Plan, admit?: AdmitFn): VmRecord {
    try {
      return this.db.transaction(() => {
        this.db.query(WRITE_LOCK);
        if (this.db.query('SELECT 1 FROM vms WHERE name = $1', [vm.name]).rowCount) throw errors.nameTaken(vm.name);
        admit?.(this.current());
        // The lowest free slot: the first gap in the used ones, from firstSlot.
        const used = this.db.query<{ slot: number }>('SELECT slot FROM vms WHERE host_id = $2 AND slot >= $1 ORDER BY slot', [this.subnet.firstSlot, this.host]).rows;
        let slot = this.subnet.firstSlot;
        for (const r of used) {
          if (r.slot === slot) slot++;
          else if (r.slot > slot) break;
        }
        if (slot > this.subnet.lastSlot) throw new FcmError('ip_pool_exhausted', 'Every address in the VM subnet is in use.');
        const now = new Date().toISOString();
        const rec: VmRecord = { ...vm, slot, ...plan(slot), createdAt: now, updatedAt: now, verifiedDomains: [], host: this.host };
        this.insertRow(rec);
        this.setDomains(rec.id, rec.domains);
        return { ...rec, domains: [...rec.domains].sort() };
      });
    } catch (err) {
      throw domainError(err, vm);
    }
  }

  /**
   * Inserts a VM on the host `place` picks (core/planners/placement.ts),
   * deciding inside the write: under the write lock every other inserting
   * daemon waits, so the hosts and rows `place` sees are the ones the
   * insert lands beside — no host is overbooked, no (host, slot) given twice.
   * `plan` turns the host's slot into its address (each host has its subnet).
   */
  insertPlaced(vm: NewVm, place: (hosts: PlacementHost[], rows: VmRecord[]) => Placement, plan: (host: PlacementHost & { subnetCidr: string }, slot: number) => { ip: string; mac: string; tap: string }, admit?: AdmitFn): VmRecord {
    try {
      return this.db.transaction(() => {
        this.db.query(WRITE_LOCK);
        if (this.db.query('SELECT 1 FROM vms WHERE name = $1', [vm.name]).rowCount) throw errors.nameTaken(vm.name);
        const rows = this.current();
        admit?.(rows);
        const hosts = this.db
          .query<{ id: string; up: boolean; vcpus: number; memory_mib: number; disk_mib: number; subnet_cidr: string }>('SELECT id, vcpus, memory_mib, disk_mib, subnet_cidr, lease_expires_at > now() AS up FROM hosts ORDER BY id')
          .rows.map((h) => {
            const s = parseSubnet(h.subnet_cidr);
            return { id: h.id, state: h.up ? ('up' as const) : ('unreachable' as const), vcpus: h.vcpus, memoryMib: h.memory_mib, diskMib: h.disk_mib, firstSlot: s.firstSlot, lastSlot: s.lastSlot, subnetCidr: h.subnet_cidr };
          });
        const at = place(hosts, rows);
        const host = hosts.find((h) => h.id === at.host)!;
        const now = new Date().toISOString();
        const rec: VmRecord = { ...vm, slot: at.slot, ...plan(host, at.slot), createdAt: now, updatedAt: now, verifiedDomains: [], host: at.host };
        this.insertRow(rec);
        this.setDomains(rec.id, rec.domains);
        return { ...rec, domains: [...rec.domains].sort() };
      });
    } catch (err) {
      throw domainError(err, vm);
    }
  }

  private insertRow(rec: VmRecord): void {
    this.db.query(
      `INSERT INTO vms (id, name, owner, state, desired, vcpus, memory_mib, disk_mib, swap_mib, port,
         image, image_dir, hypervisor, slot, ip, mac, tap, last_error, created_at, updated_at, sleep_after_sec, host_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`,
      [rec.id, rec.name, rec.owner, rec.state, rec.desired, rec.vcpus, rec.memoryMib, rec.diskMib, rec.swapMib, rec.port,
        rec.image, rec.imageDir, rec.hypervisor, rec.slot, rec.ip, rec.mac, rec.tap, rec.lastError, rec.createdAt, rec.updatedAt, rec.sleepAfterSec ?? null, rec.host],
    );
  }

  update(id: string, patch: VmPatch, admit?: AdmitFn): VmRecord {
    return this.db.transaction(() => {
      this.db.query(WRITE_LOCK);
      admit?.(this.current());
      const sets: string[] = ['updated_at = $2'];
      const params: unknown[] = [id, new Date().toISOString()];
      for (const [k, v] of Object.entries(patch) as [keyof VmPatch, unknown][]) {
        if (v === undefined || k === 'domains' || k === 'verifiedDomains') continue;
        if (!(k in PATCH_COLUMNS)) throw new Error(`unknown VM field ${k}`);
        params.push(v);
        sets.push(`${PATCH_COLUMNS[k]} = $${params.length}`);
      }
      if (!this.db.query(`UPDATE vms SET ${sets.join(', ')} WHERE id = $1`, params).rowCount) throw new FcmError('vm_not_found', `VM ${id} is gone.`);
      if (patch.domains) this.setDomains(id, patch.domains);
      if (patch.verifiedDomains) this.setVerified(id, patch.verifiedDomains);
      return this.get(id)!;
    });
  }

  remove(id: string): void {
    this.db.query('DELETE FROM vms WHERE id = $1', [id]);
  }

  get(nameOrId: string): VmRecord | undefined {
    // An id match wins over a name match (as in the other stores).
    const r = this.db.query<Row>(`${SELECT} WHERE vms.id = $1 OR vms.name = $1 ORDER BY (vms.id = $1) DESC LIMIT 1`, [nameOrId]).rows[0];
    return r ? fromRow(r, this.host) : undefined;
  }

  list(): VmRecord[] {
    return this.current();
  }
}

/**
 * PostgreSQL's unique violations as the port's domain errors: name_taken (the
 * transaction checks first; the constraint backs it up) and VmIdentityTaken
 * for an id, or the tap/MAC derived from it, already in use.
 */
function domainError(err: unknown, vm: NewVm): unknown {
  switch (uniqueViolation(err)) {
    case 'vms_name_key': return errors.nameTaken(vm.name);
    case 'vms_pkey': return new VmIdentityTaken('id');
    case 'vms_mac_key': return new VmIdentityTaken('mac');
    case 'vms_tap_key': return new VmIdentityTaken('tap');
    default: return err;
  }
}
