/** The channel into a booted guest. Driver: AgentGuest (drivers/agent-guest.ts); twin: MemoryGuest (drivers/memory/memory-host.ts). */
import type { VmRecord } from '../model.js';

export interface Guest {
  /** Resolves when the guest agent of `vm` answers; rejects when `signal` aborts. */
  waitReady(vm: Pick<VmRecord, 'id' | 'ip'>, signal: AbortSignal): Promise<void>;
}
