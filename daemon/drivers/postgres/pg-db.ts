import { SyncPg, type SyncPgOptions } from './sync-pg.js';
import { isFcmError } from '../../core/errors.js';

/**
 * Ordered schema migrations; `fcm_schema.version` records how many ran.
 * Append only: never edit a migration that has shipped.
 *
 * The first one is the SQLite schema as it stands after its eighth
 * migration (drivers/sqlite/db.ts), column for column, so
 * `fcm daemon migrate-to-postgres` copies rows as they are. Text keys and
 * the columns listings sort by are COLLATE "C" (byte order, as SQLite
 * compares): a database created with a language collation would otherwise
 * order `tok_a`, `Tok_b` or `a-b`/`a_b` differently from SQLite and the twins.
 */
const T = 'TEXT COLLATE "C"';
export const PG_MIGRATIONS: string[] = [
  `CREATE TABLE vms (
     id ${T} CONSTRAINT vms_pkey PRIMARY KEY,
     name ${T} NOT NULL CONSTRAINT vms_name_key UNIQUE,
     owner ${T} NOT NULL,
     state TEXT NOT NULL,
     desired TEXT NOT NULL,
     vcpus INTEGER NOT NULL,
     memory_mib INTEGER NOT NULL,
     disk_mib INTEGER NOT NULL,
     swap_mib INTEGER NOT NULL,
     port INTEGER NOT NULL,
     image TEXT NOT NULL,
     image_dir TEXT NOT NULL,
     hypervisor TEXT NOT NULL,
     slot INTEGER NOT NULL CONSTRAINT vms_slot_key UNIQUE,
     ip TEXT NOT NULL CONSTRAINT vms_ip_key UNIQUE,
     mac TEXT NOT NULL CONSTRAINT vms_mac_key UNIQUE,
     tap TEXT NOT NULL CONSTRAINT vms_tap_key UNIQUE,
     last_error TEXT,
     created_at ${T} NOT NULL,
     updated_at ${T} NOT NULL
   );
   CREATE INDEX vms_owner ON vms(owner);
   CREATE TABLE tokens (
     id ${T} PRIMARY KEY,
     hash TEXT NOT NULL CONSTRAINT tokens_hash_key UNIQUE,
     user_id ${T} NOT NULL,
     kind TEXT NOT NULL,
     description TEXT,
     created_at ${T} NOT NULL,
     expires_at TEXT,
     last_used_at TEXT,
     revoked_at TEXT
   );
   CREATE INDEX tokens_user ON tokens(user_id);
   CREATE TABLE users (
     id ${T} PRIMARY KEY,
     issuer TEXT NOT NULL,
     subject TEXT NOT NULL,
     email TEXT,
     name TEXT,
     created_at ${T} NOT NULL,
     last_login_at TEXT NOT NULL,
     hd TEXT,
     UNIQUE (issuer, subject)
   );
   CREATE INDEX users_email ON users(lower(email));
   CREATE TABLE ssh_keys (
     id ${T} PRIMARY KEY,
     owner ${T} NOT NULL,
     name TEXT NOT NULL,
     type TEXT NOT NULL,
     fingerprint TEXT NOT NULL CONSTRAINT ssh_keys_fingerprint_key UNIQUE,
     public_key TEXT NOT NULL,
     created_at ${T} NOT NULL
   );
   CREATE INDEX ssh_keys_owner ON ssh_keys(owner);
   CREATE TABLE releases (
     vm_id ${T} NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
     version INTEGER NOT NULL,
     status TEXT NOT NULL,
     kind TEXT NOT NULL,
     commit_sha TEXT,
     description TEXT NOT NULL,
     buildpack TEXT,
     processes TEXT NOT NULL,
     rollback_of INTEGER,
     build INTEGER,
     log TEXT NOT NULL DEFAULT '',
     created_at TEXT NOT NULL,
     finished_at TEXT,
     PRIMARY KEY (vm_id, version)
   );
   CREATE TABLE env_vars (
     vm_id ${T} NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
     key ${T} NOT NULL,
     value TEXT NOT NULL,
     PRIMARY KEY (vm_id, key)
   );
   CREATE TABLE vm_domain_claims (
     vm_id ${T} NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
     domain ${T} NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('pending', 'verified')),
     PRIMARY KEY (vm_id, domain)
   );
   CREATE UNIQUE INDEX vm_domain_claims_verified ON vm_domain_claims(domain) WHERE status = 'verified';
   CREATE INDEX vm_domain_claims_domain ON vm_domain_claims(domain);
   CREATE TABLE user_quotas (
     user_id ${T} PRIMARY KEY,
     limits TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );`,
  // Idle sleep (VmRecord.sleepAfterSec); null: never.
  `ALTER TABLE vms ADD COLUMN sleep_after_sec INTEGER;`,
  // Hosts (core/ports/host-registry.ts) and the host each VM runs on. Slots and IPs are per host
  // (each has its own subnet and bridge). host_id NULL: a row moved from a single host's SQLite
  // state (migrate-to-postgres), adopted by the first host that registers.
  `CREATE TABLE hosts (
     id ${T} PRIMARY KEY,
     public_ip TEXT NOT NULL,
     api_url TEXT NOT NULL,
     vcpus INTEGER NOT NULL,
     memory_mib INTEGER NOT NULL,
     disk_mib INTEGER NOT NULL,
     subnet_cidr TEXT NOT NULL,
     instance TEXT NOT NULL,
     started_at TIMESTAMPTZ NOT NULL,
     renewed_at TIMESTAMPTZ NOT NULL,
     lease_expires_at TIMESTAMPTZ NOT NULL
   );
   ALTER TABLE vms ADD COLUMN host_id ${T};
   ALTER TABLE vms DROP CONSTRAINT vms_slot_key, DROP CONSTRAINT vms_ip_key;
   ALTER TABLE vms ADD CONSTRAINT vms_host_slot_key UNIQUE (host_id, slot), ADD CONSTRAINT vms_host_ip_key UNIQUE (host_id, ip);`,
  // The cluster key hosts sign forwarded requests with (core/cluster-auth.ts): one row, made by the first host.
  `CREATE TABLE cluster_key (one BOOLEAN PRIMARY KEY CHECK (one), key TEXT NOT NULL);`,
];

/** The tables, in an order that satisfies their foreign keys (for copying into them). */
export const PG_TABLES = ['vms', 'vm_domain_claims', 'releases', 'env_vars', 'tokens', 'users', 'ssh_keys', 'user_quotas'] as const;

export type PgDb = SyncPg;

/** Arbitrary, fixed: the advisory lock daemons sharing one database migrate under. */
const MIGRATION_LOCK = 0x66636d01;

/**
 * Connects and migrates. Several daemons may start against one database at
 * once: the migrations run in one transaction under an advisory lock, so one
 * of them migrates and the others find the work done. A database whose
 * schema is newer than this daemon knows is refused (an older daemon must
 * not write rows a newer schema does not expect).
 */
export function openPg(opts: SyncPgOptions): PgDb {
  const db = new SyncPg(opts);
  try {
    db.transaction(() => {
      db.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      db.query('CREATE TABLE IF NOT EXISTS fcm_schema (version INTEGER NOT NULL)');
      const row = db.query<{ version: number }>('SELECT version FROM fcm_schema').rows[0];
      if (!row) db.query('INSERT INTO fcm_schema (version) VALUES (0)');
      const version = row?.version ?? 0;
      if (version > PG_MIGRATIONS.length) {
        throw new Error(`the PostgreSQL schema is at version ${version}, newer than this daemon knows (${PG_MIGRATIONS.length}): upgrade fcm`);
      }
      for (let i = version; i < PG_MIGRATIONS.length; i++) db.query(PG_MIGRATIONS[i]!);
      db.query('UPDATE fcm_schema SET version = $1', [PG_MIGRATIONS.length]);
    });
  } catch (e) {
    db.close();
    // At start-up the operator needs PostgreSQL's own reason (refused, no such host, password), not the API's 503.
    throw isFcmError(e, 'database_unavailable') && e.cause ? e.cause : e;
  }
  return db;
}

/** Maps a unique-violation (SQLSTATE 23505) to its constraint's name; anything else → undefined. */
export function uniqueViolation(e: unknown): string | undefined {
  const err = e as { code?: string; constraint?: string };
  return err?.code === '23505' ? err.constraint ?? '' : undefined;
}
