/**
 * Per-user quota overrides. Drivers: SqliteQuotaStore (drivers/sqlite/), PgQuotaStore (drivers/postgres/);
 * twin: MemoryQuotaStore (drivers/memory/memory-quota-store.ts); contract:
 * test/unit/contracts/domain-ports.test.ts. The limits themselves and their
 * checks are core/quotas.ts.
 */

/** Every limit, its unit and what it counts. Order = the order checks and listings use. */
export const QUOTA_LIMITS = {
  vms: { unit: 'VMs', what: 'VMs' },
  vcpus: { unit: 'vCPUs', what: 'vCPUs over all your VMs' },
  memoryMib: { unit: 'MiB', what: 'guest memory over all your VMs' },
  diskMib: { unit: 'MiB', what: 'root + swap disk over all your VMs' },
  configVarsPerApp: { unit: 'vars', what: 'config vars of one app' },
  configBytesPerApp: { unit: 'bytes', what: 'config var keys and values of one app' },
  repoMibPerApp: { unit: 'MiB', what: 'git repository of one app' },
  repoMibTotal: { unit: 'MiB', what: 'git repositories of all your apps' },
  pendingDomains: { unit: 'domains', what: 'custom domains waiting for verification' },
} as const;

export type QuotaName = keyof typeof QUOTA_LIMITS;
export type QuotaOverrides = Partial<Record<QuotaName, number>>;

/** Per-user overrides (an admin's PUT /v1/users/{user}/quota). */
export interface QuotaStore {
  get(userId: string): QuotaOverrides;
  /** Replaces the user's overrides; an empty object removes them. */
  set(userId: string, overrides: QuotaOverrides): void;
}
