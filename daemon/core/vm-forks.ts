/**
 * Forks (fcm fork): a new VM from a running VM's live state — its memory,
 * processes and disks of one instant — with an identity of its own.
 *
 * The parent is captured exactly as for a named snapshot (LiveSnapshots:
 * QEMU stop → qcow2 internal snapshot of the root, swap copied → memory +
 * device state written → cont), so its pause is that one. Before it, the
 * parent's guest arms its fork watcher (Guest.armIdentityWatch); the fork is
 * restored from the capture with its own disks, seed, tap and MAC, and the
 * watcher's copy in it applies the seed's identity exactly as a pool clone
 * does (rootfs/guest/identity.py: clock, entropy, hostname, machine-id, MAC,
 * address, agent token). The parent keeps running throughout and keeps its
 * identity (the watcher is disarmed after the capture, and would see no new
 * seed anyway).
 *
 * Disks: the fork's root is a standalone qcow2 over the parent's own backing
 * file (the image or a template, read-only and shared by every VM made from
 * it), holding a copy of what the parent's overlay held at the capture
 * (DiskForks.finishFork); the parent's disk snapshot is dropped once read.
 * Nothing of the fork refers to the parent's files, so deleting the parent
 * (which removes its disk directory) leaves the fork running and restartable.
 * A backing chain on the parent's disk would have avoided the copy, but its
 * lifetime would then tie the two VMs together (the parent's deletion, its
 * snapshot restores and backups would all have to respect its forks).
 *
 * All or nothing: the row (quotas and host admission checked in its write,
 * as for a create), the app's copy (config vars, releases, repository), the
 * disks, the tap and the process are each undone on a failure; the parent's
 * disk snapshot is dropped and its guest resumes whatever happens.
 */
import type { Logger } from '../log.js';
import { FcmError, errors } from './errors.js';
import type { KeyedMutex } from './locks.js';
import type { Principal, VmRecord } from './model.js';
import { planForkMachine } from './planners/machine-spec.js';
import type { DiskForks, Disks } from './ports/disks.js';
import type { Guest } from './ports/guest.js';
import type { Hypervisor, LiveSnapshots, Snapshotter } from './ports/hypervisor.js';
import type { Images } from './ports/images.js';
import type { Network } from './ports/network.js';
import { UndoStack } from './undo.js';
import type { CreateVmInput } from './vm-lifecycle.js';
import type { VmPlans } from './vm-plans.js';
import type { VmRecords } from './vm-records.js';
import type { BootWatch } from './vm-supervisor.js';

export interface ForkInput {
  /** The fork's name (name_taken when in use). */
  name: string;
}

/** The app around a VM (config vars, releases, repository): copied to a fork, dropped if the fork fails. */
export interface ForkApp {
  copy(fromVmId: string, toVmId: string): Promise<void>;
  /** Removes whatever copy() made for `vmId`. Idempotent. */
  drop(vmId: string): Promise<void>;
}

export interface ForkResult {
  vm: VmRecord;
  /** How long the parent's guest was paused for the capture (the hypervisor's own clock), ms. */
  parentPausedMs: number;
}

export interface VmForksDeps {
  records: VmRecords;
  locks: KeyedMutex;
  plans: VmPlans;
  images: Pick<Images, 'fromDir'>;
  hypervisor: Pick<Hypervisor, 'kind' | 'destroy'>;
  network: Pick<Network, 'addTap' | 'removeTap'>;
  disks: Pick<Disks, 'remove'>;
  guest: Pick<Guest, 'armIdentityWatch' | 'disarmIdentityWatch'>;
  /** All three or nothing: without them forks are not_implemented. */
  snapshotter: Pick<Snapshotter, 'restore' | 'resume' | 'launchedSpec'> | null;
  live: LiveSnapshots | null;
  diskForks: DiskForks | null;
  /** The row of a new VM (VmLifecycle.insertWithName: quotas and host admission in its write). */
  insert(p: Principal, input: CreateVmInput, image: ReturnType<Images['fromDir']>): VmRecord;
  boots: BootWatch;
  log: Logger;
}

/**
 * How long the parent's watcher may wait for a new seed, in guest time (which stands
 * still while the guest is paused or saved): only the time from arming to the capture's
 * pause counts in the parent, and the fork sees its seed at once. Disarmed after the capture.
 */
export const FORK_WATCH_SECONDS = 120;

/** The parent root's disk snapshot a fork is read from (dropped once read). */
export function forkDiskTag(forkId: string): string {
  return `fcm-fork-${forkId}`;
}

export class VmForks {
  constructor(private readonly d: VmForksDeps) {}

  /** Forks running VM `parent` (ownership already checked) into a new VM of `p` named `input.name`. */
  async fork(p: Principal, parent: VmRecord, input: ForkInput, app: ForkApp): Promise<ForkResult> {
    const { live, diskForks, snapshotter } = this.parts(parent.name);
    return this.d.locks.run(parent.id, async () => {
      const cur = this.d.records.mustGet(parent.id);
      if (cur.state !== 'running') throw errors.invalidState(cur.name, cur.state, 'running (a fork is made from a running VM; fcm start wakes or starts it)');
      const spec = await snapshotter.launchedSpec(cur.id);
      if (!spec) throw new FcmError('hypervisor_failed', `VM "${cur.name}" cannot be forked: its hypervisor process is not known to this daemon (restart it first).`);
      const image = this.d.images.fromDir(cur.image, cur.imageDir);
      const log = this.d.log.child({ op: 'fork', parentId: cur.id, parent: cur.name });
      const undo = new UndoStack(log);
      let armed = false;
      try {
        let vm = this.d.insert(
          p,
          { name: input.name, vcpus: cur.vcpus, memoryMib: cur.memoryMib, diskMib: cur.diskMib, swapMib: cur.swapMib, port: cur.port, image: cur.image, domains: [], sleepAfterSec: cur.sleepAfterSec },
          image,
        );
        const id = vm.id;
        undo.push('row', () => this.d.records.removeQuietly(id));
        const vlog = log.child({ vmId: id, vm: vm.name });
        // Undo first: a copy or a directory that fails halfway leaves part of itself (both undos are idempotent).
        undo.push('app', () => app.drop(id));
        await app.copy(cur.id, id);
        undo.push('disks', () => this.d.disks.remove(id));
        const { statePath, freeze } = await diskForks.beginFork(id, cur.id);
        await this.d.guest.armIdentityWatch(cur, FORK_WATCH_SECONDS, AbortSignal.timeout(30_000)).catch((e: Error) => {
          throw new FcmError('invalid_state', `VM "${cur.name}" cannot be forked: ${e.message}.`);
        });
        armed = true;
        const tag = forkDiskTag(id);
        // On failure capture() itself drops the disk snapshot and resumes the parent.
        const captured = await live.capture(cur.id, statePath, tag, freeze);
        await this.disarm(cur, vlog);
        armed = false;
        let disks;
        try {
          disks = await diskForks.finishFork(id, cur.id, tag, vm.swapMib, this.d.plans.seed(vm));
        } finally {
          await live.dropDiskSnapshot(cur.id, tag).catch((e: unknown) => vlog.warn({ err: (e as Error).message, tag }, 'cannot drop the parent\'s fork disk snapshot'));
        }
        const net = this.d.plans.net(vm);
        await this.d.network.addTap(net);
        undo.push('tap', () => this.d.network.removeTap(net.tap));
        undo.push('hypervisor', () => this.d.hypervisor.destroy(id));
        await snapshotter.restore(planForkMachine(spec, { vmId: id, disks, net: { tap: net.tap, mac: net.mac } }), statePath);
        // Loaded: the parent's RAM is not kept on disk beside the fork.
        await diskForks.dropForkState(id);
        await snapshotter.resume(id);
        vm = this.d.records.save(id, { state: 'starting' });
        undo.commit();
        this.d.boots.watch(vm, { restored: true });
        vlog.info({ parentPausedMs: captured.pausedMs, stateBytes: captured.stateBytes }, 'forked; the fork takes its identity');
        return { vm, parentPausedMs: captured.pausedMs };
      } catch (err) {
        if (armed) await this.disarm(cur, log);
        await undo.unwind();
        log.warn({ err: (err as Error).message }, 'fork failed; nothing kept, the parent runs on');
        throw err;
      }
    });
  }

  /**
   * After a daemon (re)start, under `parent`'s lock, its process running (VmReconciler):
   * drops the disk snapshots of forks `forkIds` (creates a killed daemon left half-made,
   * their rows already rolled back) from its root, where they exist. Idempotent.
   */
  async recoverInterrupted(parent: VmRecord, forkIds: readonly string[]): Promise<void> {
    const live = this.d.live;
    if (!live) return;
    for (const id of forkIds) await live.dropDiskSnapshot(parent.id, forkDiskTag(id));
  }

  private async disarm(vm: VmRecord, log: Logger): Promise<void> {
    // Best effort: an armed watcher ends at its deadline anyway, and sees no new seed in the parent.
    await this.d.guest.disarmIdentityWatch(vm, AbortSignal.timeout(10_000)).catch((e: unknown) => log.warn({ err: (e as Error).message }, 'cannot disarm the parent\'s identity watch'));
  }

  private parts(name: string): { live: LiveSnapshots; diskForks: DiskForks; snapshotter: NonNullable<VmForksDeps['snapshotter']> } {
    const { live, diskForks, snapshotter } = this.d;
    if (!live || !diskForks || !snapshotter) throw new FcmError('not_implemented', `VM "${name}" cannot be forked: the ${this.d.hypervisor.kind} driver cannot take live snapshots.`);
    return { live, diskForks, snapshotter };
  }
}
