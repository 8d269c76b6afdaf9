/** The Network port. Driver: LinuxNetwork (drivers/linux-network.ts); twin: MemoryNetwork (drivers/memory/memory-host.ts). */
import type { NetworkPlan } from '../planners/network-plan.js';

/** Bridge and taps. Idempotent: adding an existing tap or removing a missing one succeeds. */
export interface Network {
  ensureHost(): Promise<void>;
  addTap(plan: NetworkPlan): Promise<void>;
  /** A tap on the bridge whose frames are all dropped until addTap() gives it an identity (warm pool VMs). */
  addIsolatedTap(tap: string): Promise<void>;
  removeTap(tap: string): Promise<void>;
  /** Taps this daemon owns (by name prefix). */
  listTaps(): Promise<string[]>;
}
