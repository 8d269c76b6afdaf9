import Database from 'better-sqlite3';
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

export type Db = Database.Database;

/**
 * Ordered schema migrations; `PRAGMA user_version` records how many ran.
 * Append only: never edit a migration that has shipped.
 */
const MIGRATIONS: string[] = [
  `CREATE TABLE vms (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     owner TEXT NOT NULL,
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
     slot INTEGER NOT NULL UNIQUE,
     ip TEXT NOT NULL UNIQUE,
     mac TEXT NOT NULL UNIQUE,
     tap TEXT NOT NULL UNIQUE,
     last_error TEXT,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE INDEX vms_owner ON vms(owner);`,
  `CREATE TABLE tokens (
     id TEXT PRIMARY KEY,
     hash TEXT NOT NULL UNIQUE,
     user_id TEXT NOT NULL,
     kind TEXT NOT NULL,
     description TEXT,
     created_at TEXT NOT NULL,
     expires_at TEXT,
     last_used_at TEXT,
     revoked_at TEXT
   );`,
  `CREATE TABLE vm_domains (
     domain TEXT PRIMARY KEY,
     vm_id TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE
   );
   CREATE INDEX vm_domains_vm ON vm_domains(vm_id);`,
  `CREATE TABLE users (
     id TEXT PRIMARY KEY,
     issuer TEXT NOT NULL,
     subject TEXT NOT NULL,
     email TEXT,
     name TEXT,
     created_at TEXT NOT NULL,
     last_login_at TEXT NOT NULL,
     UNIQUE (issuer, subject)
   );
   CREATE INDEX tokens_user ON tokens(user_id);`,
  // git push deploys: SSH keys, releases and config vars. Releases and vars
  // go with their VM (ON DELETE CASCADE), even if the daemon dies mid-delete.
  `CREATE TABLE ssh_keys (
     id TEXT PRIMARY KEY,
     owner TEXT NOT NULL,
     name TEXT NOT NULL,
     type TEXT NOT NULL,
     fingerprint TEXT NOT NULL UNIQUE,
     public_key TEXT NOT NULL,
     created_at TEXT NOT NULL
   );
   CREATE INDEX ssh_keys_owner ON ssh_keys(owner);
   CREATE TABLE releases (
     vm_id TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
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
     vm_id TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
     key TEXT NOT NULL,
     value TEXT NOT NULL,
     PRIMARY KEY (vm_id, key)
   );`,
  // Custom domains are claimed (pending) and routed only once verified; a domain may be
  // pending for several VMs (a squatter's claim never blocks the owner) but verified for one.
  // Domains claimed before verification existed start pending.
  `CREATE TABLE vm_domain_claims (
     vm_id TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
     domain TEXT NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('pending', 'verified')),
     PRIMARY KEY (vm_id, domain)
   );
   CREATE UNIQUE INDEX vm_domain_claims_verified ON vm_domain_claims(domain) WHERE status = 'verified';
   CREATE INDEX vm_domain_claims_domain ON vm_domain_claims(domain);
   INSERT INTO vm_domain_claims (vm_id, domain, status) SELECT vm_id, domain, 'pending' FROM vm_domains;
   DROP TABLE vm_domains;`,
  // Per-user quota overrides (JSON object of limit name → value); users without a row get the defaults.
  `CREATE TABLE user_quotas (
     user_id TEXT PRIMARY KEY,
     limits TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );`,
  // Google's hosted-domain claim at the last login: the allowlist checks it on every request
  // (NULL for users from before: a Workspace user logs in once more).
  `ALTER TABLE users ADD COLUMN hd TEXT;`,
  // Idle seconds after which the VM sleeps (NULL: never).
  `ALTER TABLE vms ADD COLUMN sleep_after_sec INTEGER;`,
];

/** Opens (creating 0600) and migrates the state database. */
export function openDb(path: string): Db {
  if (path !== ':memory:') {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    closeSync(openSync(path, 'a', 0o600));
    chmodSync(path, 0o600);
  }
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  const version = db.pragma('user_version', { simple: true }) as number;
  for (let i = version; i < MIGRATIONS.length; i++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[i]!);
      db.pragma(`user_version = ${i + 1}`);
    })();
  }
  return db;
}
