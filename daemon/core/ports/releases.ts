/**
 * Release rows and config vars. Drivers: SqliteReleaseStore, SqliteEnvStore
 * (drivers/sqlite/sqlite-deploy-stores.ts), PgReleaseStore, PgEnvStore (drivers/postgres/); twins: MemoryReleaseStore,
 * MemoryEnvStore (drivers/memory/memory-deploys.ts); contract:
 * test/unit/contracts/deploy-stores.test.ts.
 */
import type { Buildpack } from './app-runtime.js';

export const RELEASE_STATUSES = ['pending', 'building', 'succeeded', 'failed', 'superseded'] as const;
export type ReleaseStatus = (typeof RELEASE_STATUSES)[number];
export type ReleaseKind = 'deploy' | 'rollback' | 'config';

/**
 * One release of a VM's app. Versions count 1, 2, 3… per VM. At most one
 * release is `succeeded` at a time — the one serving; the one it replaced
 * becomes `superseded`. Config changes while the VM is stopped are `pending`
 * until the VM runs again.
 */
export interface ReleaseRecord {
  vmId: string;
  version: number;
  status: ReleaseStatus;
  kind: ReleaseKind;
  commit: string | null;
  description: string;
  buildpack: Buildpack | null;
  processes: Record<string, string>;
  rollbackOf: number | null;
  /** The deploy release whose build runs in this release (the guest keeps builds by that version); null: no code yet. */
  build: number | null;
  /** Build output, capped (see LogBuffer). */
  log: string;
  createdAt: string;
  finishedAt: string | null;
}

export type NewRelease = Omit<ReleaseRecord, 'version' | 'createdAt' | 'finishedAt' | 'log'>;
export type ReleasePatch = Partial<Pick<ReleaseRecord, 'status' | 'buildpack' | 'processes' | 'build' | 'log' | 'finishedAt'>>;

export interface ReleaseStore {
  /** Inserts with the VM's next version (atomically). */
  create(r: NewRelease): ReleaseRecord;
  /** Throws release_not_found when the row is gone (e.g. the VM was deleted meanwhile). */
  update(vmId: string, version: number, patch: ReleasePatch): ReleaseRecord;
  get(vmId: string, version: number): ReleaseRecord | undefined;
  /** Newest first. */
  list(vmId: string): ReleaseRecord[];
  removeVm(vmId: string): void;
}

/** Config vars per VM. Values are secrets: stores never log them. */
export interface EnvStore {
  get(vmId: string): Record<string, string>;
  put(vmId: string, vars: Record<string, string>): void;
  removeVm(vmId: string): void;
}
