/**
 * Save and restore whole running machines (QEMU migration state / Firecracker
 * snapshots). Driver: QemuHypervisor; twin: MemorySnapshotter
 * (drivers/memory/memory-host.ts).
 */
import type { MachineSpec, MachineStatus } from './hypervisor.js';

export interface Snapshotter {
  /** Pauses the machine and writes its complete state to `statePath`; the machine is left paused. */
  saveState(vmId: string, statePath: string): Promise<void>;
  /** Starts a machine from a saved state, left paused (resume() lets it run). */
  restore(spec: MachineSpec, statePath: string): Promise<MachineStatus>;
  resume(vmId: string): Promise<void>;
  /** Resolves when the machine's console has printed `text` (templates announce readiness this way: they have no network). */
  waitConsole(vmId: string, text: string, timeoutMs: number): Promise<void>;
}
