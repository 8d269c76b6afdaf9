import { randomBytes } from 'node:crypto';
import type { QuotaOverrides, QuotaStore } from '../../core/ports/quota-store.js';
import type { TokenRow, TokenStore } from '../../core/ports/token-store.js';
import type { UserRow, UserStore } from '../../core/ports/user-store.js';
import type { PgDb } from './pg-db.js';

interface TokenDbRow {
  id: string; hash: string; user_id: string; kind: string; description: string | null;
  created_at: string; expires_at: string | null; last_used_at: string | null; revoked_at: string | null;
}

const tokenFromRow = (r: TokenDbRow): TokenRow => ({
  id: r.id, hash: r.hash, userId: r.user_id, kind: r.kind as TokenRow['kind'], description: r.description,
  createdAt: r.created_at, expiresAt: r.expires_at, lastUsedAt: r.last_used_at, revokedAt: r.revoked_at,
});

/** API tokens (hashes only) in PostgreSQL. Every lookup asks the server: a revocation through another daemon applies at once. */
export class PgTokenStore implements TokenStore {
  constructor(private readonly db: PgDb) {}

  insert(t: Omit<TokenRow, 'lastUsedAt' | 'revokedAt'>): void {
    this.db.query('INSERT INTO tokens (id, hash, user_id, kind, description, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
      t.id, t.hash, t.userId, t.kind, t.description, t.createdAt, t.expiresAt,
    ]);
  }

  findByHash(hash: string): TokenRow | undefined {
    const r = this.db.query<TokenDbRow>('SELECT * FROM tokens WHERE hash = $1', [hash]).rows[0];
    return r ? tokenFromRow(r) : undefined;
  }

  list(userId: string | null): TokenRow[] {
    const rows = userId === null
      ? this.db.query<TokenDbRow>('SELECT * FROM tokens ORDER BY created_at, id').rows
      : this.db.query<TokenDbRow>('SELECT * FROM tokens WHERE user_id = $1 ORDER BY created_at, id', [userId]).rows;
    return rows.map(tokenFromRow);
  }

  revoke(id: string): void {
    this.db.query('UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [new Date().toISOString(), id]);
  }

  revokeAdminExcept(hash: string): number {
    return this.db.query("UPDATE tokens SET revoked_at = $1 WHERE kind = 'admin' AND hash != $2 AND revoked_at IS NULL", [new Date().toISOString(), hash]).rowCount;
  }
}

interface UserDbRow {
  id: string; issuer: string; subject: string; email: string | null; name: string | null; hd: string | null; created_at: string; last_login_at: string;
}

const userFromRow = (r: UserDbRow): UserRow => ({
  id: r.id, issuer: r.issuer, subject: r.subject, email: r.email, name: r.name, hd: r.hd, createdAt: r.created_at, lastLoginAt: r.last_login_at,
});

export class PgUserStore implements UserStore {
  constructor(private readonly db: PgDb) {}

  upsert(u: { issuer: string; subject: string; email: string | null; name: string | null; hd?: string | null }, now: string): UserRow {
    const r = this.db.query<UserDbRow>(
      `INSERT INTO users (id, issuer, subject, email, name, hd, created_at, last_login_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
       ON CONFLICT (issuer, subject) DO UPDATE SET email = excluded.email, name = excluded.name, hd = excluded.hd, last_login_at = excluded.last_login_at
       RETURNING *`,
      [`usr_${randomBytes(6).toString('hex')}`, u.issuer, u.subject, u.email, u.name, u.hd ?? null, now],
    ).rows[0]!;
    return userFromRow(r);
  }

  get(id: string): UserRow | undefined {
    const r = this.db.query<UserDbRow>('SELECT * FROM users WHERE id = $1', [id]).rows[0];
    return r ? userFromRow(r) : undefined;
  }

  byEmail(email: string): UserRow[] {
    return this.db.query<UserDbRow>('SELECT * FROM users WHERE lower(email) = lower($1) ORDER BY created_at', [email]).rows.map(userFromRow);
  }
}

/** Quota overrides per user, one JSON row each. */
export class PgQuotaStore implements QuotaStore {
  constructor(private readonly db: PgDb) {}

  get(userId: string): QuotaOverrides {
    const text = this.db.query<{ limits: string }>('SELECT limits FROM user_quotas WHERE user_id = $1', [userId]).rows[0]?.limits;
    return text ? (JSON.parse(text) as QuotaOverrides) : {};
  }

  set(userId: string, overrides: QuotaOverrides): void {
    if (!Object.keys(overrides).length) {
      this.db.query('DELETE FROM user_quotas WHERE user_id = $1', [userId]);
      return;
    }
    this.db.query(
      `INSERT INTO user_quotas (user_id, limits, updated_at) VALUES ($1, $2, $3)
       ON CONFLICT (user_id) DO UPDATE SET limits = excluded.limits, updated_at = excluded.updated_at`,
      [userId, JSON.stringify(overrides), new Date().toISOString()],
    );
  }
}
