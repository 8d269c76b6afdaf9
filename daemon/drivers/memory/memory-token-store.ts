import type { TokenRow, TokenStore } from '../../core/ports/token-store.js';

/** In-memory twin of SqliteTokenStore (same contract suite: test/unit/contracts/account-stores.test.ts). */
export class MemoryTokenStore implements TokenStore {
  /** The rows as stored (tests inspect them); callers of the port get copies. */
  readonly rows: TokenRow[] = [];

  insert(t: Omit<TokenRow, 'lastUsedAt' | 'revokedAt'>): void {
    if (this.rows.some((r) => r.id === t.id || r.hash === t.hash)) throw new Error(`token ${t.id} already exists`);
    this.rows.push({ ...t, lastUsedAt: null, revokedAt: null });
  }

  findByHash(hash: string): TokenRow | undefined {
    const r = this.rows.find((x) => x.hash === hash);
    return r ? { ...r } : undefined;
  }

  list(userId: string | null): TokenRow[] {
    return this.rows
      .filter((r) => userId === null || r.userId === userId)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id))
      .map((r) => ({ ...r }));
  }

  revoke(id: string): void {
    const r = this.rows.find((x) => x.id === id);
    if (r && !r.revokedAt) r.revokedAt = new Date().toISOString();
  }

  revokeAdminExcept(hash: string): number {
    let n = 0;
    for (const r of this.rows) {
      if (r.kind === 'admin' && r.hash !== hash && !r.revokedAt) {
        r.revokedAt = new Date().toISOString();
        n++;
      }
    }
    return n;
  }
}
