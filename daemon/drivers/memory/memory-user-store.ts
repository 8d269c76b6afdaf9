import { randomBytes } from 'node:crypto';
import type { UserRow, UserStore } from '../../core/ports/user-store.js';

export class MemoryUserStore implements UserStore {
  readonly rows = new Map<string, UserRow>();

  upsert(u: { issuer: string; subject: string; email: string | null; name: string | null; hd?: string | null }, now: string): UserRow {
    const found = [...this.rows.values()].find((r) => r.issuer === u.issuer && r.subject === u.subject);
    const row: UserRow = found
      ? { ...found, email: u.email, name: u.name, hd: u.hd ?? null, lastLoginAt: now }
      : { id: `usr_${randomBytes(6).toString('hex')}`, ...u, hd: u.hd ?? null, createdAt: now, lastLoginAt: now };
    this.rows.set(row.id, row);
    return { ...row };
  }

  get(id: string): UserRow | undefined {
    const r = this.rows.get(id);
    return r ? { ...r } : undefined;
  }

  byEmail(email: string): UserRow[] {
    return [...this.rows.values()].filter((r) => r.email?.toLowerCase() === email.toLowerCase()).map((r) => ({ ...r }));
  }
}
