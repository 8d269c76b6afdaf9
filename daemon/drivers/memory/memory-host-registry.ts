import type { HostInfo, HostRecord, HostRegistry, Registration } from '../../core/ports/host-registry.js';

interface Row extends HostInfo {
  instance: string;
  startedAt: number;
  renewedAt: number;
  expiresAt: number;
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
    this.rows.set(info.id, { ...info, instance, startedAt: t, renewedAt: t, expiresAt: t + leaseMs });
    return { ok: true };
  }

  renew(id: string, instance: string, leaseMs: number): boolean {
    const cur = this.rows.get(id);
    if (!cur || cur.instance !== instance) return false;
    const t = this.now();
    cur.renewedAt = t;
    cur.expiresAt = t + leaseMs;
    return true;
  }

  release(id: string, instance: string): void {
    const cur = this.rows.get(id);
    if (cur && cur.instance === instance) cur.expiresAt = Math.min(cur.expiresAt, this.now());
  }

  private key: Buffer | null = null;

  clusterKey(candidate: Buffer): Buffer {
    return (this.key ??= Buffer.from(candidate));
  }

  list(): HostRecord[] {
    const t = this.now();
    return [...this.rows.values()]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map(({ instance: _i, startedAt, renewedAt, expiresAt, ...info }) => ({
        ...info,
        state: expiresAt > t ? 'up' : 'unreachable',
        startedAt: new Date(startedAt).toISOString(),
        renewedAt: new Date(renewedAt).toISOString(),
        leaseExpiresAt: new Date(expiresAt).toISOString(),
      }));
  }
}
