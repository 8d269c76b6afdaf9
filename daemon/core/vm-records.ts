import { EventEmitter } from 'node:events';
import { FcmError } from './errors.js';
import { LOCAL_HOST, type NewVm, type VmPatch, type VmRecord } from './model.js';
import type { AdmitFn, VmStore } from './ports/vm-store.js';

/**
 * The VM rows as the VM modules share them: every write goes through
 * `save`/`remove`, which tell listeners (route sync, consoles, deploys,
 * waiters) which VM changed.
 */
export class VmRecords {
  private readonly events = new EventEmitter();

  constructor(
    private readonly store: VmStore,
    /** This daemon's host id: `listLocal` is the VMs it drives. */
    readonly host: string = LOCAL_HOST,
  ) {
    this.events.setMaxListeners(0);
  }

  get(nameOrId: string): VmRecord | undefined {
    return this.store.get(nameOrId);
  }

  /** Every VM of the cluster (quotas, names, listings). */
  list(): VmRecord[] {
    return this.store.list();
  }

  /** The VMs this host runs: the only ones its monitor, reconcile and admission look at. */
  listLocal(): VmRecord[] {
    return this.store.list().filter((v) => v.host === this.host);
  }

  /** The row by id; vm_not_found when it is gone. */
  mustGet(id: string): VmRecord {
    const vm = this.store.get(id);
    if (!vm) throw new FcmError('vm_not_found', `VM ${id} is gone.`);
    return vm;
  }

  /** Throws name_taken, ip_pool_exhausted, or what `admit` throws (see VmStore.insert). */
  insert(vm: NewVm, plan: (slot: number) => { ip: string; mac: string; tap: string }, admit?: AdmitFn): VmRecord {
    return this.store.insert(vm, plan, admit);
  }

  /** `admit` runs inside the write over every row (quotas, host capacity); throwing aborts it. */
  save(id: string, patch: VmPatch, admit?: AdmitFn): VmRecord {
    const vm = this.store.update(id, patch, admit);
    this.events.emit('vm', id);
    return vm;
  }

  /** Removes the row without telling anyone (a create rolled back, reconcile). */
  removeQuietly(id: string): void {
    this.store.remove(id);
  }

  /** Removes the row and tells listeners. */
  remove(id: string): void {
    this.store.remove(id);
    this.events.emit('vm', id);
  }

  /** Called with the VM id after every state or config change. */
  onChange(listener: (vmId: string) => void): () => void {
    this.events.on('vm', listener);
    return () => this.events.off('vm', listener);
  }
}
