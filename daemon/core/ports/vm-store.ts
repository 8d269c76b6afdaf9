/**
 * VM rows. Drivers: SqliteVmStore (drivers/sqlite/), PgVmStore (drivers/postgres/); twin: MemoryVmStore
 * (drivers/memory/memory-store.ts); contract: test/unit/contracts/vm-store.test.ts.
 */
import type { NewVm, VmPatch, VmRecord } from '../model.js';

/**
 * The id of a new row, or the tap or MAC derived from it, is already another
 * VM's. Ids are random, so the caller draws another; it is a signal between
 * store and core, not an API error (escaping, it is an opaque 500).
 */
export class VmIdentityTaken extends Error {
  constructor(readonly field: 'id' | 'mac' | 'tap') {
    super(`another VM already has this ${field}`);
    this.name = 'VmIdentityTaken';
  }
}

/**
 * Admission check run inside a write, over every row as it is at that moment
 * (quotas, host capacity): throwing aborts the write. Nothing else can write
 * between the check and the write it guards.
 */
export type AdmitFn = (rows: readonly VmRecord[]) => void;

/**
 * VM rows. IP slots are allocated inside insert, atomically. Stores report
 * conflicts as domain errors (below), never as their own error text.
 */
export interface VmStore {
  /** Throws name_taken, ip_pool_exhausted, domain_taken (FcmError), VmIdentityTaken, or what `admit` throws. */
  insert(vm: NewVm, plan: (slot: number) => { ip: string; mac: string; tap: string }, admit?: AdmitFn): VmRecord;
  /** Throws vm_not_found, domain_taken, not_found (verifying a domain the VM has not claimed), or what `admit` throws. */
  update(id: string, patch: VmPatch, admit?: AdmitFn): VmRecord;
  remove(id: string): void;
  get(nameOrId: string): VmRecord | undefined;
  list(): VmRecord[];
}

/**
 * A store that can say cheaply whether its rows may have changed, so that an
 * answer built from them (GET /v1/vms) can be served again while they have
 * not. `rowsVersion()` returns a different value after every write that can
 * change what `list()` returns (insert, update, remove); null when the store
 * cannot know (rows written by other hosts: PostgreSQL), and then nothing is
 * kept. Versions are only ever compared for equality.
 */
export interface VersionedVmStore extends VmStore {
  rowsVersion(): number | null;
}

export function rowsVersionOf(store: VmStore): () => number | null {
  const v = store as Partial<VersionedVmStore>;
  return typeof v.rowsVersion === 'function' ? () => v.rowsVersion!() : () => null;
}
