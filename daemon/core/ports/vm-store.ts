/**
 * VM rows. Driver: SqliteVmStore (drivers/sqlite/); twin: MemoryVmStore
 * (drivers/memory/memory-store.ts); contract: test/unit/contracts/vm-store.test.ts.
 */
import type { NewVm, VmPatch, VmRecord } from '../model.js';

/**
 * Admission check run inside a write, over every row as it is at that moment
 * (quotas, host capacity): throwing aborts the write. Nothing else can write
 * between the check and the write it guards.
 */
export type AdmitFn = (rows: readonly VmRecord[]) => void;

/** VM rows. IP slots are allocated inside insert, atomically. */
export interface VmStore {
  /** Throws name_taken, ip_pool_exhausted, or what `admit` throws. */
  insert(vm: NewVm, plan: (slot: number) => { ip: string; mac: string; tap: string }, admit?: AdmitFn): VmRecord;
  update(id: string, patch: VmPatch, admit?: AdmitFn): VmRecord;
  remove(id: string): void;
  get(nameOrId: string): VmRecord | undefined;
  list(): VmRecord[];
}
