/**
 * User rows. Drivers: SqliteUserStore (drivers/sqlite/), PgUserStore (drivers/postgres/); twin: MemoryUserStore
 * (drivers/memory/memory-user-store.ts); contract: test/unit/contracts/account-stores.test.ts.
 */

export interface UserRow {
  /** `usr_` + 12 hex; what VMs and tokens point at. */
  id: string;
  /** A user is (issuer, subject): emails can change, subjects do not. */
  issuer: string;
  subject: string;
  email: string | null;
  name: string | null;
  /** Google's hosted-domain claim at the last login (null: none); the allowlist needs it on every request. */
  hd: string | null;
  createdAt: string;
  lastLoginAt: string;
}

export interface UserStore {
  /** Creates the user for (issuer, subject) or refreshes its email, name, hd and lastLoginAt. */
  upsert(u: { issuer: string; subject: string; email: string | null; name: string | null; hd?: string | null }, now: string): UserRow;
  get(id: string): UserRow | undefined;
  /** Users with this email (compared lower-cased); an email can belong to accounts at several issuers. */
  byEmail(email: string): UserRow[];
}
