import type { HostInfo, HostRecord, HostRegistry, Registration } from '../../core/ports/host-registry.js';

interface Row extends HostInfo {
  instance: string;
  startedAt: number;
  renewedAt: number;
  expiresAt: number;
  /**
   * What list() returns for it while its lease runs and once it lapsed, made when the row
   * changes. list() runs on every GET /v1/vms (its answer's key): the three toISOString alone
   * were µs each, and handing out the same objects until the row changes lets the caller keep
   * what it built from them (main.ts, the hosts view).
   */
  up: HostRecord;
  unreachable: HostRecord;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * One literal with every field in one order, frozen (the objects are shared by every caller):
 * a record made from a spread took the shape of whatever it was spread from, so records made at
 * register and at renew differed, and each renewal deoptimized the code reading them per request.
 */
function recordOf(info: HostInfo, r: Pick<Row, 'startedAt' | 'renewedAt' | 'expiresAt'>, state: HostRecord['state']): HostRecord {
  return Object.freeze({
    id: info.id,
    publicIp: info.publicIp,
    apiUrl: info.apiUrl,
    vcpus: info.vcpus,
    memoryMib: info.memoryMib,
    diskMib: info.diskMib,
    subnetCidr: info.subnetCidr,
    state,
    startedAt: iso(r.startedAt),
    renewedAt: iso(r.renewedAt),
    leaseExpiresAt: iso(r.expiresAt),
  });
}

function withRecords(row: Omit<Row, 'up' | 'unreachable'> & Partial<Row>): Row {
  row.up = recordOf(row, row, 'up');
  row.unreachable = recordOf(row, row, 'unreachable');
  return row as Row;
}

/**
 * In-memory twin of PgHostRegistry (same contract suite). A SQLite daemon
 * uses it too: its one implicit host, itself, registered at start.
 */
export class MemoryHostRegistry implements HostRegistry {
  private readonly rows = new Map<string, Row>();

  constructor(private readonly now: () => number = Date.now) {}

  register(info: HostInfo, instance: string, leaseMs: number): Registration {
    const t = this.now();
    const cur = this.rows.get(info.id);
    if (cur && cur.instance !== instance && cur.expiresAt > t) return { ok: false, heldUntil: new Date(cur.expiresAt).toISOString() };
    const times = { startedAt: t, renewedAt: t, expiresAt: t + leaseMs };
    this.rows.set(info.id, withRecords({ ...info, instance, ...times }));
    return { ok: true };
  }

  renew(id: string, instance: string, leaseMs: number): boolean {
    const cur = this.rows.get(id);
    if (!cur || cur.instance !== instance) return false;
    const t = this.now();
    cur.renewedAt = t;
    cur.expiresAt = t + leaseMs;
    withRecords(cur);
    return true;
  }

  release(id: string, instance: string): void {
    const cur = this.rows.get(id);
    if (cur && cur.instance === instance) {
      cur.expiresAt = Math.min(cur.expiresAt, this.now());
      withRecords(cur);
    }
  }

  private key: Buffer | null = null;

  clusterKey(candidate: Buffer): Buffer {
    return (this.key ??= Buffer.from(candidate));
  }

  list(): HostRecord[] {
    const t = this.now();
    return [...this.rows.values()]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((r) => (r.expiresAt > t ? r.up : r.unreachable));
  }
}
