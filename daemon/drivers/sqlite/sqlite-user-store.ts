import { randomBytes } from 'node:crypto';
import type { UserRow, UserStore } from '../../core/ports/user-store.js';
import type { Db } from './db.js';

interface Row {
  id: string; issuer: string; subject: string; email: string | null; name: string | null; hd: string | null; created_at: string; last_login_at: string;
}

const fromRow = (r: Row): UserRow => ({
  id: r.id, issuer: r.issuer, subject: r.subject, email: r.email, name: r.name, hd: r.hd, createdAt: r.created_at, lastLoginAt: r.last_login_at,
});

export class SqliteUserStore implements UserStore {
  constructor(private readonly db: Db) {}

  upsert(u: { issuer: string; subject: string; email: string | null; name: string | null; hd?: string | null }, now: string): UserRow {
    this.db
      .prepare(`INSERT INTO users (id, issuer, subject, email, name, hd, created_at, last_login_at)
                VALUES (@id, @issuer, @subject, @email, @name, @hd, @now, @now)
                ON CONFLICT (issuer, subject) DO UPDATE SET email = excluded.email, name = excluded.name, hd = excluded.hd, last_login_at = excluded.last_login_at`)
      .run({ id: `usr_${randomBytes(6).toString('hex')}`, ...u, hd: u.hd ?? null, now });
    return fromRow(this.db.prepare('SELECT * FROM users WHERE issuer = ? AND subject = ?').get(u.issuer, u.subject) as Row);
  }

  get(id: string): UserRow | undefined {
    const r = this.db.prepare('SELECT * FROM users WHERE id = ?').get(id) as Row | undefined;
    return r ? fromRow(r) : undefined;
  }

  byEmail(email: string): UserRow[] {
    return (this.db.prepare('SELECT * FROM users WHERE lower(email) = lower(?) ORDER BY created_at').all(email) as Row[]).map(fromRow);
  }
}
