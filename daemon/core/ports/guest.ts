/** The channel into a booted guest. Driver: AgentGuest (drivers/agent-guest.ts); twin: MemoryGuest (drivers/memory/memory-host.ts). */
import type { VmRecord } from '../model.js';

export interface Guest {
  /** Resolves when the guest agent of `vm` answers; rejects when `signal` aborts. */
  waitReady(vm: Pick<VmRecord, 'id' | 'ip'>, signal: AbortSignal): Promise<void>;
  /**
   * Sets the guest's wall clock to `epochMs` (a guest restored from a saved state resumes
   * with the clock it had when saved); resolves with the guest's clock just before, so the
   * caller can say how far it was off. Rejects when the guest cannot (an older agent).
   */
  setClock(vm: Pick<VmRecord, 'id' | 'ip'>, epochMs: number, signal: AbortSignal): Promise<number>;
  /** Writes the guest's cached file data to its disks (before a disk copy of a running guest). */
  syncDisks(vm: Pick<VmRecord, 'id' | 'ip'>, signal: AbortSignal): Promise<void>;
  /**
   * Arms the guest's fork watcher for `seconds` of guest time (agent POST /v1/identity/watch):
   * a fork restored from a capture taken after this takes on the identity of its own seed,
   * as a pool clone does. Rejects when the guest cannot (an image older than forks).
   */
  armIdentityWatch(vm: Pick<VmRecord, 'id' | 'ip'>, seconds: number, signal: AbortSignal): Promise<void>;
  /** Stops the watcher (the capture is over; this VM keeps its identity). */
  disarmIdentityWatch(vm: Pick<VmRecord, 'id' | 'ip'>, signal: AbortSignal): Promise<void>;
}
