/**
 * Named snapshots of a VM (fcm snapshot create|ls|restore|rm): a running
 * machine's memory + device state and its disks at one instant, taken with
 * the guest paused only for the last moment (LiveSnapshots), kept beside the
 * VM's disks (SnapshotFiles). Callers (VmService) have checked ownership;
 * every change runs under the VM's lock, so a snapshot never races a stop,
 * a sleep, a resize or a delete of the same VM.
 */
import type { Logger } from '../log.js';
import { holdsHost, type HostAdmission } from './admission.js';
import { FcmError, errors } from './errors.js';
import type { KeyedMutex } from './locks.js';
import type { VmRecord } from './model.js';
import type { Hypervisor, Snapshotter } from './ports/hypervisor.js';
import type { Network } from './ports/network.js';
import type { SavedStates } from './ports/saved-states.js';
import { diskTag, type LiveSnapshots, type SnapshotFiles, type SnapshotMeta } from './ports/vm-snapshots.js';
import { UndoStack } from './undo.js';
import { SLEEP_SAVE } from './vm-lifecycle.js';
import type { VmPlans } from './vm-plans.js';
import type { VmRecords } from './vm-records.js';
import type { BootWatch } from './vm-supervisor.js';

export interface VmSnapshotsDeps {
  records: VmRecords;
  locks: KeyedMutex;
  plans: VmPlans;
  hypervisor: Pick<Hypervisor, 'kind' | 'stop' | 'status'>;
  network: Pick<Network, 'addTap' | 'removeTap'>;
  /** All three or nothing: without them every snapshot operation is not_implemented. */
  snapshotter: Pick<Snapshotter, 'restore' | 'resume' | 'launchedSpec'> | null;
  live: LiveSnapshots | null;
  files: SnapshotFiles | null;
  /** A sleeping VM's save, dropped when a snapshot is restored over it. */
  saved?: SavedStates;
  host?: HostAdmission;
  boots: BootWatch;
  log: Logger;
  /** At most this many snapshots per VM (quota_exceeded, limit snapshotsPerVm). */
  maxPerVm: number;
  now: () => number;
}

/** What a snapshot looks like to callers (its machine spec and files stay inside). */
export type SnapshotInfo = Omit<SnapshotMeta, 'spec'> & { vm: string };

/** A default name from the time: `snap-20261206-121530`. */
export function defaultSnapshotName(nowMs: number, taken: ReadonlySet<string>): string {
  const base = `snap-${new Date(nowMs).toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-')}`;
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base}-${i}`)) return `${base}-${i}`;
}

export class VmSnapshots {
  constructor(private readonly d: VmSnapshotsDeps) {}

  async list(vm: VmRecord): Promise<SnapshotInfo[]> {
    if (!this.d.files) return [];
    return (await this.d.files.list(vm.id)).map((s) => info(vm, s));
  }

  /** Takes snapshot `name` (default: from the time) of a running VM; all-or-nothing. */
  async create(vm: VmRecord, name?: string): Promise<SnapshotInfo> {
    const { live, files, snapshotter } = this.parts(vm.name);
    return this.d.locks.run(vm.id, async () => {
      const cur = this.d.records.mustGet(vm.id);
      if (cur.state !== 'running') throw errors.invalidState(cur.name, cur.state, 'running (a snapshot is of a running VM; fcm start wakes or starts it)');
      const existing = await files.list(cur.id);
      const max = this.d.maxPerVm;
      if (existing.length + 1 > max) {
        throw new FcmError('quota_exceeded', `VM "${cur.name}" has ${existing.length} snapshots; at most ${max} are kept per VM. Delete one first (fcm snapshot rm).`, {
          limit: { name: 'snapshotsPerVm', value: max, usage: existing.length, requested: 1, unit: 'snapshots' },
        });
      }
      const snap = name ?? defaultSnapshotName(this.d.now(), new Set(existing.map((s) => s.name)));
      if (existing.some((s) => s.name === snap)) throw new FcmError('name_taken', `VM "${cur.name}" already has a snapshot named "${snap}".`);
      const spec = await snapshotter.launchedSpec(cur.id);
      if (!spec) throw new FcmError('hypervisor_failed', `VM "${cur.name}" cannot be snapshotted: its hypervisor process is not known to this daemon (restart it first).`);
      const log = this.d.log.child({ vmId: cur.id, vm: cur.name, snapshot: snap });
      const undo = new UndoStack(log);
      try {
        const { statePath, freeze } = await files.begin(cur.id, snap);
        undo.push('snapshot files', () => files.remove(cur.id, snap, { disk: false }));
        // No sealed snapshot has this name: a disk snapshot of it is left from a daemon that died mid-snapshot.
        await live.dropDiskSnapshot(cur.id, diskTag(snap));
        // On failure capture() itself drops the disk snapshot and resumes the guest.
        const r = await live.capture(cur.id, statePath, diskTag(snap), freeze);
        undo.push('disk snapshot', () => live.dropDiskSnapshot(cur.id, diskTag(snap)));
        const meta = await files.seal(cur.id, snap, { name: snap, spec, createdAt: new Date(this.d.now()).toISOString(), pausedMs: r.pausedMs, stateBytes: r.stateBytes });
        undo.commit();
        log.info({ pausedMs: r.pausedMs, stateBytes: r.stateBytes, sizeBytes: meta.sizeBytes }, 'snapshot taken');
        return info(cur, meta);
      } catch (err) {
        await undo.unwind();
        log.warn({ err: (err as Error).message }, 'snapshot failed; nothing kept, the VM runs on');
        throw err;
      }
    });
  }

  /**
   * Rolls the VM back to snapshot `name`: its process (if any) ends, its
   * disks go back to the snapshot, the saved machine is restored and resumed;
   * the boot watch then sees its agent answer (state starting → running).
   * A failure leaves the VM failed with lastError (fcm start cold-boots it).
   */
  async restore(vm: VmRecord, name: string): Promise<VmRecord> {
    const { files, snapshotter } = this.parts(vm.name);
    return this.d.locks.run(vm.id, async () => {
      const cur = this.d.records.mustGet(vm.id);
      if (cur.state === 'creating' || cur.state === 'deleting' || cur.state === 'stopping') throw errors.invalidState(cur.name, cur.state, 'running, stopped, failed or sleeping');
      const snap = (await files.list(cur.id)).find((s) => s.name === name);
      if (!snap) throw snapshotNotFound(cur.name, name);
      if (snap.spec.vcpus !== cur.vcpus || snap.spec.memoryMib !== cur.memoryMib) {
        throw new FcmError('invalid_state', `VM "${cur.name}" was resized since snapshot "${name}" (${snap.spec.vcpus} vCPU, ${snap.spec.memoryMib} MiB then); resize it back to restore it.`);
      }
      const log = this.d.log.child({ vmId: cur.id, vm: cur.name, snapshot: name });
      // A VM that holds no host capacity now (stopped, failed, sleeping) must be admitted again.
      const release = holdsHost(cur) ? undefined : this.d.host?.reserve(this.d.records.list(), cur.id, cur);
      const started = this.d.now();
      try {
        this.d.boots.cancel(cur.id);
        this.d.records.save(cur.id, { desired: 'running', lastError: null });
        try {
          await this.d.hypervisor.stop(cur.id, 0);
          await files.revert(cur.id, name);
          // Its memory and disk are the snapshot's now: a sleep save is of another past.
          if (cur.state === 'sleeping') await this.d.saved?.remove(cur.id, SLEEP_SAVE);
          await this.d.network.addTap(this.d.plans.net(cur));
          await snapshotter.restore(snap.spec, snap.statePath);
          await snapshotter.resume(cur.id);
        } catch (err) {
          await this.d.hypervisor.stop(cur.id, 0).catch(() => {});
          await this.d.network.removeTap(cur.tap).catch(() => {});
          this.d.records.save(cur.id, { state: 'failed', lastError: `restoring snapshot ${name} failed: ${(err as Error).message}` });
          log.warn({ err: (err as Error).message }, 'snapshot restore failed');
          throw err;
        }
        const restored = this.d.records.save(cur.id, { state: 'starting' });
        this.d.boots.watch(restored, { restored: true });
        log.info({ ms: this.d.now() - started }, 'snapshot restored');
        return restored;
      } finally {
        release?.();
      }
    });
  }

  /** Deletes snapshot `name` (its files and its disk snapshot); the VM is not touched. */
  async remove(vm: VmRecord, name: string): Promise<void> {
    const { files, live } = this.parts(vm.name);
    return this.d.locks.run(vm.id, async () => {
      const cur = this.d.records.mustGet(vm.id);
      if (cur.state === 'creating' || cur.state === 'deleting') throw errors.invalidState(cur.name, cur.state, 'running, stopped, failed or sleeping');
      if (!(await files.list(cur.id)).some((s) => s.name === name)) throw snapshotNotFound(cur.name, name);
      // A running QEMU holds the root disk: its snapshot goes through QEMU; otherwise the files' driver drops it.
      if ((await this.d.hypervisor.status(cur.id)).running) {
        await live.dropDiskSnapshot(cur.id, diskTag(name));
        await files.remove(cur.id, name, { disk: false });
      } else {
        await files.remove(cur.id, name, { disk: true });
      }
      this.d.log.info({ vmId: cur.id, vm: cur.name, snapshot: name }, 'snapshot deleted');
    });
  }

  /**
   * After a daemon (re)start, under the VM's lock (VmReconciler): what a daemon killed
   * in the middle of a snapshot left. Its guest may still be paused (`resume`: when the
   * VM should run, and only for a process that runs and is paused, not one loading a
   * state) — it is resumed; the snapshot it was taking (files, root disk snapshot) was
   * never sealed — it is dropped, through the running hypervisor when it holds the disk.
   */
  async recoverInterrupted(vm: VmRecord, st: { running: boolean; resume: boolean }): Promise<void> {
    const { live, files, snapshotter } = this.d;
    if (!live || !files || !snapshotter) return;
    const log = this.d.log.child({ vmId: vm.id, vm: vm.name });
    if (st.running && st.resume && (await live.paused(vm.id))) {
      await snapshotter.resume(vm.id);
      log.warn('the guest was left paused by an interrupted daemon (snapshot or save); resumed');
    }
    for (const name of await files.unsealed(vm.id)) {
      if (st.running) {
        await live.dropDiskSnapshot(vm.id, diskTag(name));
        await files.remove(vm.id, name, { disk: false });
      } else {
        await files.remove(vm.id, name, { disk: true });
      }
      log.warn({ snapshot: name }, 'dropped a snapshot an interrupted daemon left half-made');
    }
  }

  /** After the VM was deleted: whatever of its snapshots is left (the real files went with its disk directory). */
  async forget(vmId: string): Promise<void> {
    const files = this.d.files;
    if (!files) return;
    for (const s of await files.list(vmId).catch(() => [])) await files.remove(vmId, s.name, { disk: false });
  }

  private parts(name: string): { live: LiveSnapshots; files: SnapshotFiles; snapshotter: NonNullable<VmSnapshotsDeps['snapshotter']> } {
    const { live, files, snapshotter } = this.d;
    if (!live || !files || !snapshotter) throw new FcmError('not_implemented', `VM "${name}" cannot be snapshotted: the ${this.d.hypervisor.kind} driver cannot take live snapshots.`);
    return { live, files, snapshotter };
  }
}

function snapshotNotFound(vm: string, name: string): FcmError {
  return new FcmError('snapshot_not_found', `VM "${vm}" has no snapshot named "${name}".`);
}

function info(vm: Pick<VmRecord, 'name'>, s: SnapshotMeta): SnapshotInfo {
  return { name: s.name, vm: vm.name, createdAt: s.createdAt, pausedMs: s.pausedMs, stateBytes: s.stateBytes, sizeBytes: s.sizeBytes };
}
