import type { HostInfo, HostRecord, HostRegistry, Registration } from '../../core/ports/host-registry.js';

interface Row extends HostInfo {
  instance: string;
  startedAt: number;
  renewedAt: number;
  expiresAt: number;
  /**
   * What list() returns for it (state set there), made when the row changes: list() runs on every
   * GET /v1/vms (its answer's key) and the three toISOString alone were µs each.
   */
  record: HostRecord;
}

const iso = (ms: number) => new Date(ms).toISOString();
const recordOf = (info: HostInfo, r: Pick<Row, 'startedAt' | 'renewedAt' | 'expiresAt'>): HostRecord => ({
  ...info,
  state: 'up',
  startedAt: iso(r.startedAt),
  renewedAt: iso(r.renewedAt),
  leaseExpiresAt: iso(r.expiresAt),
});

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
    this.rows.set(info.id, { ...info, instance, ...times, record: recordOf(info, times) });
    return { ok: true };
  }

  renew(id: string, instance: string, leaseMs: number): boolean {
    const cur = this.rows.get(id);
    if (!cur || cur.instance !== instance) return false;
    const t = this.now();
    cur.renewedAt = t;
    cur.expiresAt = t + leaseMs;
    cur.record = recordOf(cur.record, cur);
    return true;
  }

  release(id: string, instance: string): void {
    const cur = this.rows.get(id);
    if (cur && cur.instance === instance) {
      cur.expiresAt = Math.min(cur.expiresAt, this.now());
      cur.record = recordOf(cur.record, cur);
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
      .map((r) => ({ ...r.record, state: r.expiresAt > t ? 'up' : 'unreachable' }));
  }
}
