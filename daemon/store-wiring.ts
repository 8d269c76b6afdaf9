/**
 * Which database holds the daemon's state: the SQLite file in the state dir
 * (the default, one host), or PostgreSQL when FCM_DATABASE_URL is set. Both
 * give the same store ports (core/ports/*), which pass the same contract
 * suites (test/unit/contracts/*).
 */
import { join } from 'node:path';
import type { Config } from './config.js';
import type { EnvStore, ReleaseStore } from './core/ports/releases.js';
import type { KeyStore } from './core/ports/key-store.js';
import type { QuotaStore } from './core/ports/quota-store.js';
import type { TokenStore } from './core/ports/token-store.js';
import type { UserStore } from './core/ports/user-store.js';
import type { VmStore } from './core/ports/vm-store.js';
import { openPg } from './drivers/postgres/pg-db.js';
import type { HostRegistry } from './core/ports/host-registry.js';
import { PgHostRegistry } from './drivers/postgres/pg-host-registry.js';
import { MemoryHostRegistry } from './drivers/memory/memory-host-registry.js';
import { PgQuotaStore, PgTokenStore, PgUserStore } from './drivers/postgres/pg-account-stores.js';
import { PgEnvStore, PgKeyStore, PgReleaseStore } from './drivers/postgres/pg-deploy-stores.js';
import { PgVmStore } from './drivers/postgres/pg-vm-store.js';
import { openDb } from './drivers/sqlite/db.js';
import { SqliteEnvStore, SqliteKeyStore, SqliteReleaseStore } from './drivers/sqlite/sqlite-deploy-stores.js';
import { SqliteQuotaStore } from './drivers/sqlite/sqlite-quota-store.js';
import { SqliteTokenStore } from './drivers/sqlite/sqlite-token-store.js';
import { SqliteUserStore } from './drivers/sqlite/sqlite-user-store.js';
import { SqliteVmStore } from './drivers/sqlite/sqlite-vm-store.js';

export interface Stores {
  kind: 'sqlite' | 'postgres';
  vms: VmStore;
  tokens: TokenStore;
  users: UserStore;
  quotas: QuotaStore;
  releases: ReleaseStore;
  env: EnvStore;
  keys: KeyStore;
  /** The cluster's hosts: PostgreSQL's shared table, or SQLite's one implicit host (in memory). */
  hosts: HostRegistry;
  close(): void;
}

/** The SQLite file the daemon keeps its state in without FCM_DATABASE_URL. */
export const sqlitePath = (stateDir: string): string => join(stateDir, 'fcm.db');

export function openStores(cfg: Pick<Readonly<Config>, 'stateDir' | 'databaseUrl' | 'network' | 'host'>): Stores {
  if (cfg.databaseUrl) {
    const db = openPg({ url: cfg.databaseUrl, applicationName: 'fcm-daemon' });
    return {
      kind: 'postgres',
      vms: new PgVmStore(db, cfg.network.subnet, cfg.host.id),
      hosts: new PgHostRegistry(db),
      tokens: new PgTokenStore(db),
      users: new PgUserStore(db),
      quotas: new PgQuotaStore(db),
      releases: new PgReleaseStore(db),
      env: new PgEnvStore(db),
      keys: new PgKeyStore(db),
      close: () => db.close(),
    };
  }
  const db = openDb(sqlitePath(cfg.stateDir));
  return {
    kind: 'sqlite',
    vms: new SqliteVmStore(db, cfg.network.subnet, cfg.host.id),
    hosts: new MemoryHostRegistry(),
    tokens: new SqliteTokenStore(db),
    users: new SqliteUserStore(db),
    quotas: new SqliteQuotaStore(db),
    releases: new SqliteReleaseStore(db),
    env: new SqliteEnvStore(db),
    keys: new SqliteKeyStore(db),
    close: () => db.close(),
  };
}
