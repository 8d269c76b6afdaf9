import type { QuotaOverrides, QuotaStore } from '../../core/ports/quota-store.js';
import type { Db } from './db.js';

/** Quota overrides per user, one JSON row each. */
export class SqliteQuotaStore implements QuotaStore {
  constructor(private readonly db: Db) {}

  get(userId: string): QuotaOverrides {
    const text = this.db.prepare('SELECT limits FROM user_quotas WHERE user_id = ?').pluck().get(userId) as string | undefined;
    return text ? (JSON.parse(text) as QuotaOverrides) : {};
  }

  set(userId: string, overrides: QuotaOverrides): void {
    if (!Object.keys(overrides).length) {
      this.db.prepare('DELETE FROM user_quotas WHERE user_id = ?').run(userId);
      return;
    }
    this.db
      .prepare(`INSERT INTO user_quotas (user_id, limits, updated_at) VALUES (?, ?, ?)
                ON CONFLICT (user_id) DO UPDATE SET limits = excluded.limits, updated_at = excluded.updated_at`)
      .run(userId, JSON.stringify(overrides), new Date().toISOString());
  }
}
