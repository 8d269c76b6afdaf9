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

export class SqliteTokenStore implements TokenStore {
  // Every authenticated request looks its token up: prepare that statement once.
  private readonly byHash: Statement;

  constructor(private readonly db: Db) {
    this.byHash = db.prepare('SELECT * FROM tokens WHERE hash = ?');
  }

  insert(t: Omit<TokenRow, 'lastUsedAt' | 'revokedAt'>): void {
    this.db
      .prepare(`INSERT INTO tokens (id, hash, user_id, kind, description, created_at, expires_at)
                VALUES (@id, @hash, @userId, @kind, @description, @createdAt, @expiresAt)`)
      .run(t);
  }

  findByHash(hash: string): TokenRow | undefined {
    const r = this.byHash.get(hash) as Row | undefined;
    return r ? fromRow(r) : undefined;
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
