import type { TokenRow, TokenStore } from '../../core/ports/token-store.js';
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import { CommitWatch } from './commit-watch.js';

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
   * Rows found by hash, kept while the database is unchanged: a request's lookup then costs a
   * look at the database's commit counter instead of the row query and its object (~12 µs, most
   * of the auth cost of a kept GET /v1/vms). "Unchanged": no connection committed since
   * (CommitWatch: another process's commits included), and total_changes() of this connection
   * did not move (a write through any store on it, even inside a transaction not yet
   * committed) — either empties the table, so a revoked token is refused on its very next
   * request, wherever it was revoked.
   */
  private readonly commits: CommitWatch;
  private readonly totalChanges: Statement;
  private readonly kept = new Map<string, TokenRow>();
  private keptChanges = -1;

  constructor(private readonly db: Db) {
    this.byHash = db.prepare('SELECT * FROM tokens WHERE hash = ?');
    this.commits = new CommitWatch(db);
    this.totalChanges = db.prepare('SELECT total_changes()').pluck();
  }

  insert(t: Omit<TokenRow, 'lastUsedAt' | 'revokedAt'>): void {
    this.db
      .prepare(`INSERT INTO tokens (id, hash, user_id, kind, description, created_at, expires_at)
                VALUES (@id, @hash, @userId, @kind, @description, @createdAt, @expiresAt)`)
      .run(t);
  }

  findByHash(hash: string): TokenRow | undefined {
    const committed = this.commits.changed();
    // This connection's own writes show in the -shm header once committed; only inside an open
    // transaction (or without the -shm file: data_version ignores this connection) does
    // total_changes() have to be asked (a statement run per request, ~1.5 µs).
    const open = this.db.inTransaction || !this.commits.seesOwnCommits;
    const changes = open ? (this.totalChanges.get() as number) : this.keptChanges;
    if (committed || changes !== this.keptChanges) {
      this.kept.clear();
      this.keptChanges = changes;
    }
    // Callers get copies (the store's contract): what they change is not kept.
    const hit = this.kept.get(hash);
    if (hit) return { ...hit };
    const r = this.byHash.get(hash) as Row | undefined;
    if (!r) return undefined;
    const row = fromRow(r);
    // Read inside an open transaction: not kept (a rollback would leave it unseen by any counter).
    if (this.db.inTransaction) return row;
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
