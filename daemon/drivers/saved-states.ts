import { lstat, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { SavedMachine, SavedStates } from '../core/ports/saved-states.js';
import { allocatedBytes, freshDir, writeSeal } from './sealed-dir.js';

const VM_ID = /^vm_[0-9a-f]+$/;
const NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/**
 * `<disks>/<vm>/saved/<name>/`:
 *
 *   state.bin   the hypervisor's memory + device state (0600: it is the guest's RAM)
 *   meta.json   written last (seal): without it the save is incomplete and ignored
 *
 * Inside the VM's disk directory (root's 0700), so removing the VM's disks
 * removes its saves, and no VM's hypervisor ever sees them (the state is fed
 * to a restored QEMU through an fd the daemon opens).
 */
export class FileSavedStates implements SavedStates {
  constructor(private readonly disksDir: string) {}

  private dir(vmId: string, name: string): string {
    if (!VM_ID.test(vmId)) throw new Error(`bad vm id ${vmId}`);
    if (!NAME.test(name)) throw new Error(`bad save name ${name}`);
    return join(this.disksDir, vmId, 'saved', name);
  }

  async begin(vmId: string, name: string): Promise<string> {
    const d = this.dir(vmId, name);
    await freshDir(d);
    return join(d, 'state.bin');
  }

  async seal(vmId: string, name: string, meta: SavedMachine): Promise<number> {
    const d = this.dir(vmId, name);
    await writeSeal(d, meta);
    return allocatedBytes(d);
  }

  async open(vmId: string, name: string): Promise<{ meta: SavedMachine; statePath: string } | null> {
    const d = this.dir(vmId, name);
    const text = await readFile(join(d, 'meta.json'), 'utf8').catch(() => null);
    const state = await lstat(join(d, 'state.bin')).catch(() => null);
    if (text === null || !state?.isFile()) return null;
    try {
      const meta = JSON.parse(text) as SavedMachine;
      if (!meta || typeof meta !== 'object' || !meta.spec || typeof meta.spec.vmId !== 'string') return null;
      return { meta, statePath: join(d, 'state.bin') };
    } catch {
      return null;
    }
  }

  async remove(vmId: string, name: string): Promise<void> {
    await rm(this.dir(vmId, name), { recursive: true, force: true });
  }
}
