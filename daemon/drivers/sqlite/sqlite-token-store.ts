import type { TokenRow, TokenStore } from '../../core/ports/token-store.js';
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';

interface Row {
  id: string; hash: string; user_id: string; kind: string; description: string | null;
  created_at: string; expires_at: string | null; last_used_at: string | null; revoked_at: string | null;
}

const fromRow = (r: Row): TokenRow => ({
  id: r.id, hash: r.hash, userId: r.user_id, kind: r.kind as TokenRow['kind'], description: r.description,
  createdAt: r.created_at, expiresAt: r.expires_at, lastUsedAt: r.last_used_at, revokedAt: r.revoked_at,
});

/** At most this many token rows are kept (the table starts over when full). */
const KEPT_MAX = 1024;

export class SqliteTokenStore implements TokenStore {
  // Every authenticated request looks its token up: prepare that statement once.
  private readonly byHash: Statement;
  /**
   * Rows found by hash, kept while the database is unchanged: a request's lookup then costs one
   * cheap statement (~5 µs) instead of the row query and its object (~12 µs, most of the auth
   * cost of a kept GET /v1/vms). "Unchanged" is SQLite's own word for it: data_version moves
   * when another connection (another process) commits, total_changes when this connection
   * writes anything (a revocation through any store on it) — either empties the table, so a
   * revoked token is refused on its very next request, wherever it was revoked.
   * Two prepared statements, not `SELECT … FROM pragma_data_version()`: that table-valued form
   * prepares the PRAGMA again inside every step (SQL parsed on every request).
   */
  private readonly dataVersion: Statement;
  private readonly totalChanges: Statement;
  private readonly kept = new Map<string, TokenRow>();
  private keptVersion = -1;
  private keptChanges = -1;

  constructor(private readonly db: Db) {
    this.byHash = db.prepare('SELECT * FROM tokens WHERE hash = ?');
    this.dataVersion = db.prepare('PRAGMA data_version').pluck();
    this.totalChanges = db.prepare('SELECT total_changes()').pluck();
  }

  insert(t: Omit<TokenRow, 'lastUsedAt' | 'revokedAt'>): void {
    this.db
      .prepare(`INSERT INTO tokens (id, hash, user_id, kind, description, created_at, expires_at)
                VALUES (@id, @hash, @userId, @kind, @description, @createdAt, @expiresAt)`)
      .run(t);
  }

  findByHash(hash: string): TokenRow | undefined {
    const version = this.dataVersion.get() as number;
    const changes = this.totalChanges.get() as number;
    if (version !== this.keptVersion || changes !== this.keptChanges) {
      this.kept.clear();
      this.keptVersion = version;
      this.keptChanges = changes;
    }
    // Callers get copies (the store's contract): what they change is not kept.
    const hit = this.kept.get(hash);
    if (hit) return { ...hit };
    const r = this.byHash.get(hash) as Row | undefined;
    if (!r) return undefined;
    const row = fromRow(r);
    if (this.kept.size >= KEPT_MAX) this.kept.clear();
    this.kept.set(hash, row);
    return { ...row };
  }

  list(userId: string | null): TokenRow[] {
    const rows = userId === null
      ? this.db.prepare('SELECT * FROM tokens ORDER BY created_at, id').all()
      : this.db.prepare('SELECT * FROM tokens WHERE user_id = ? ORDER BY created_at, id').all(userId);
    return (rows as Row[]).map(fromRow);
  }

  revoke(id: string): void {
    this.db.prepare('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(new Date().toISOString(), id);
  }

  revokeAdminExcept(hash: string): number {
    return this.db
      .prepare("UPDATE tokens SET revoked_at = ? WHERE kind = 'admin' AND hash != ? AND revoked_at IS NULL")
      .run(new Date().toISOString(), hash).changes;
  }
}
