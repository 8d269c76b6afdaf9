import type { Logger } from '../log.js';
import type { KeyedMutex } from './locks.js';
import type { VmRecord } from './model.js';
import type { Disks } from './ports/disks.js';
import type { Hypervisor, Snapshotter } from './ports/hypervisor.js';
import type { SavedStates } from './ports/saved-states.js';
import { SLEEP_SAVE } from './vm-lifecycle.js';
import type { Network } from './ports/network.js';
import type { VmPlans } from './vm-plans.js';
import type { VmRecords } from './vm-records.js';

export interface ReconcileResult {
  adopted: number;
  rolledBack: number;
  restarted: number;
  orphans: number;
}

export interface VmReconcilerDeps {
  records: VmRecords;
  locks: KeyedMutex;
  plans: Pick<VmPlans, 'net'>;
  hypervisor: Pick<Hypervisor, 'status' | 'stop' | 'list' | 'destroy'>;
  network: Pick<Network, 'ensureHost' | 'addTap' | 'removeTap' | 'listTaps'>;
  disks: Pick<Disks, 'list' | 'remove'>;
  /** From VmLifecycle: free a VM's process, tap and disks (idempotent); start a VM known dead. */
  lifecycle: { release(vm: VmRecord): Promise<void>; recover(id: string): Promise<VmRecord> };
  /** From VmSupervisor: watch an adopted VM's boot; the restart policy. */
  supervisor: { watch(vm: VmRecord): void; mayRestart(id: string): boolean };
  /** What an interrupted snapshot left (VmSnapshots.recoverInterrupted): a paused guest, unsealed files. */
  snapshots?: { recoverInterrupted(vm: VmRecord, st: { running: boolean; resume: boolean }): Promise<void> };
  /** What an interrupted fork left in its parent (VmForks.recoverInterrupted): the disk snapshot it was read from. */
  forks?: { recoverInterrupted(parent: VmRecord, forkIds: readonly string[]): Promise<void> };
  /** Where sleeping VMs' saves are, and resuming a guest a save had paused. */
  sleep?: { saved: Pick<SavedStates, 'remove'>; snapshots: Pick<Snapshotter, 'resume'> };
  log: Logger;
}

/**
 * Brings the host in line with the stored state after a daemon (re)start:
 * adopts VMs whose hypervisor still runs, finishes interrupted creates
 * (rolled back) and deletes, restarts dead VMs per policy, and removes
 * orphaned processes, taps and disks that no VM owns.
 */
export class VmReconciler {
  constructor(private readonly d: VmReconcilerDeps) {}

  async reconcile(): Promise<ReconcileResult> {
    const r = { adopted: 0, rolledBack: 0, restarted: 0, orphans: 0 };
    const interrupted: string[] = [];
    await this.d.network.ensureHost();
    // Only this host's VMs: another host's are its own to reconcile (and may be running there right now).
    for (const vm of this.d.records.listLocal()) {
      await this.d.locks.run(vm.id, async () => {
        const log = this.d.log.child({ vmId: vm.id, vm: vm.name });
        if (vm.state === 'creating' || vm.state === 'deleting') {
          await this.d.lifecycle.release(vm);
          this.d.records.removeQuietly(vm.id);
          if (vm.state === 'creating') {
            r.rolledBack++;
            interrupted.push(vm.id);
          }
          log.info({ state: vm.state }, 'finished interrupted operation');
          return;
        }
        const st = await this.d.hypervisor.status(vm.id);
        // A sleeping VM's paused guest is the sleep branch's to resume (it drops the save first).
        await this.d.snapshots
          ?.recoverInterrupted(vm, { running: st.running, resume: vm.state !== 'sleeping' && vm.desired === 'running' })
          .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'cannot clean up after an interrupted snapshot'));
        if (vm.state === 'sleeping') {
          if (st.running) {
            // The daemon ended while putting it to sleep: the guest is only paused. Let it run on.
            await this.d.sleep?.saved.remove(vm.id, SLEEP_SAVE);
            await this.d.network.addTap(this.d.plans.net(vm));
            await this.d.sleep?.snapshots.resume(vm.id).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'cannot resume'));
            this.d.supervisor.watch(this.d.records.save(vm.id, { state: 'starting' }));
            r.adopted++;
            log.info({ pid: st.pid }, 'sleep was interrupted; the VM runs on');
          } else {
            // Asleep: no process, no tap. A wake restores its save (or cold-boots if it is gone).
            await this.d.network.removeTap(vm.tap);
          }
          return;
        }
        if (st.running && vm.desired === 'running') {
          await this.d.network.addTap(this.d.plans.net(vm));
          r.adopted++;
          log.info({ pid: st.pid }, 'adopted running VM');
          const cur = vm.state === 'running' ? vm : this.d.records.save(vm.id, { state: 'starting' });
          if (cur.state === 'starting') this.d.supervisor.watch(cur);
        } else if (st.running) {
          await this.d.hypervisor.stop(vm.id, 10_000);
          await this.d.network.removeTap(vm.tap);
          this.d.records.save(vm.id, { state: 'stopped' });
        } else if (vm.desired === 'running') {
          await this.d.network.removeTap(vm.tap);
          this.d.records.save(vm.id, { state: 'failed', lastError: 'the hypervisor was not running when the daemon started' });
          if (this.d.supervisor.mayRestart(vm.id)) {
            await this.d.lifecycle.recover(vm.id).catch((err) => log.error({ err }, 'restart after reconcile failed'));
            r.restarted++;
          }
        } else {
          await this.d.network.removeTap(vm.tap);
          if (vm.state !== 'stopped') this.d.records.save(vm.id, { state: 'stopped' });
        }
      });
    }
    if (interrupted.length > 0) await this.dropForkLeftovers(interrupted);
    r.orphans = await this.removeOrphans();
    this.d.log.info(r, 'reconciled');
    return r;
  }

  /**
   * A create rolled back above may have been a fork: its parent's root then holds the disk
   * snapshot the fork was being read from (taken at the capture, dropped once the fork's
   * disk was copied), which would keep the parent's old clusters for good. The row does not
   * say which VM was the parent, so every VM whose hypervisor runs (after the loop above:
   * resumed if a capture had paused it) is asked to drop those tags; a drop of a tag that is
   * not there is a no-op. A parent that is not running keeps the tag (its QEMU died with the
   * daemon: a host crash); it is small, and `qemu-img snapshot -l` shows it.
   */
  private async dropForkLeftovers(ids: readonly string[]): Promise<void> {
    const forks = this.d.forks;
    if (!forks) return;
    for (const vm of this.d.records.listLocal()) {
      await this.d.locks.run(vm.id, async () => {
        if (!(await this.d.hypervisor.status(vm.id)).running) return;
        await forks.recoverInterrupted(vm, ids).catch((err: unknown) => this.d.log.warn({ vmId: vm.id, vm: vm.name, err: (err as Error).message }, 'cannot drop what an interrupted fork left in its parent'));
      });
    }
  }

  /** Processes, taps and disks no VM row owns (e.g. a previous daemon's warm pool). */
  private async removeOrphans(): Promise<number> {
    const known = new Set(this.d.records.list().map((v) => v.id));
    const knownTaps = new Set(this.d.records.list().map((v) => v.tap));
    let n = 0;
    for (const id of await this.d.hypervisor.list()) {
      if (known.has(id)) continue;
      await this.d.hypervisor.destroy(id);
      n++;
    }
    for (const tap of await this.d.network.listTaps()) {
      if (knownTaps.has(tap)) continue;
      await this.d.network.removeTap(tap);
      n++;
    }
    for (const id of await this.d.disks.list()) {
      if (known.has(id)) continue;
      await this.d.disks.remove(id);
      n++;
    }
    if (n) this.d.log.warn({ orphans: n }, 'removed orphaned resources');
    return n;
  }
}
