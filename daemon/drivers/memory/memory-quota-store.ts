import type { QuotaOverrides, QuotaStore } from '../../core/ports/quota-store.js';

/** In-memory twin of SqliteQuotaStore. */
export class MemoryQuotaStore implements QuotaStore {
  private readonly rows = new Map<string, QuotaOverrides>();

  get(userId: string): QuotaOverrides {
    return { ...this.rows.get(userId) };
  }

  set(userId: string, overrides: QuotaOverrides): void {
    if (Object.keys(overrides).length) this.rows.set(userId, { ...overrides });
    else this.rows.delete(userId);
  }
}
