import type { HostInfo, HostRecord, HostRegistry, Registration } from '../../core/ports/host-registry.js';

interface Row extends HostInfo {
  instance: string;
  startedAt: number;
  renewedAt: number;
  expiresAt: number;
  /** The three times as ISO text, formatted when they change: list() runs on every GET /v1/vms (its answer's key) and toISOString is µs each. */
  text: { startedAt: string; renewedAt: string; leaseExpiresAt: string };
}

const iso = (ms: number) => new Date(ms).toISOString();
const textOf = (r: Pick<Row, 'startedAt' | 'renewedAt' | 'expiresAt'>): Row['text'] => ({ startedAt: iso(r.startedAt), renewedAt: iso(r.renewedAt), leaseExpiresAt: iso(r.expiresAt) });

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
    this.rows.set(info.id, { ...info, instance, ...times, text: textOf(times) });
    return { ok: true };
  }

  renew(id: string, instance: string, leaseMs: number): boolean {
    const cur = this.rows.get(id);
    if (!cur || cur.instance !== instance) return false;
    const t = this.now();
    cur.renewedAt = t;
    cur.expiresAt = t + leaseMs;
    cur.text = textOf(cur);
    return true;
  }

  release(id: string, instance: string): void {
    const cur = this.rows.get(id);
    if (cur && cur.instance === instance) {
      cur.expiresAt = Math.min(cur.expiresAt, this.now());
      cur.text = textOf(cur);
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
      .map(({ instance: _i, startedAt: _s, renewedAt: _r, expiresAt, text, ...info }) => ({
        ...info,
        state: expiresAt > t ? 'up' : 'unreachable',
        ...text,
      }));
  }
}
