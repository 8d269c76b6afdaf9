/**
 * API token rows (only hashes). Drivers: SqliteTokenStore (drivers/sqlite/), PgTokenStore (drivers/postgres/);
 * twin: MemoryTokenStore (drivers/memory/memory-token-store.ts); contract:
 * test/unit/contracts/account-stores.test.ts.
 */

export interface TokenRow {
  id: string;
  hash: string;
  userId: string;
  kind: 'admin' | 'user';
  description: string | null;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface TokenStore {
  insert(row: Omit<TokenRow, 'lastUsedAt' | 'revokedAt'>): void;
  findByHash(hash: string): TokenRow | undefined;
  /** One user's tokens, or every token (null), oldest first. */
  list(userId: string | null): TokenRow[];
  revoke(id: string): void;
  /** Revokes every admin token except the one with this hash. */
  revokeAdminExcept(hash: string): number;
}
