import type { Logger } from '../log.js';
import type { KeyedMutex } from './locks.js';
import type { VmRecord } from './model.js';
import type { Guest } from './ports/guest.js';
import type { Hypervisor } from './ports/hypervisor.js';
import type { Network } from './ports/network.js';
import type { VmRecords } from './vm-records.js';

export interface VmSupervisorConfig {
  /** How long a guest may take from hypervisor start to its agent answering. */
  bootTimeoutMs: number;
  /** Restart VMs whose hypervisor died while they should run. */
  restartPolicy: 'always' | 'never';
  /** At most this many automatic restarts per VM within restartWindowMs, then it stays failed. */
  maxRestarts: number;
  restartWindowMs: number;
  /** How often running VMs' processes are checked. */
  monitorIntervalMs: number;
}

export interface VmSupervisorDeps {
  records: VmRecords;
  locks: KeyedMutex;
  hypervisor: Pick<Hypervisor, 'status' | 'stop'>;
  network: Pick<Network, 'removeTap'>;
  guest: Guest;
  /** Starts a VM whose process is known dead, whatever its recorded state (VmLifecycle.recover); called under the VM's lock. */
  recover(id: string): Promise<VmRecord>;
  log: Logger;
  config: VmSupervisorConfig;
  now: () => number;
}

export interface WatchOptions {
  /**
   * The machine was restored from a saved state (a wake, a pool clone): its wall clock is
   * as old as the save. Once the agent answers, the guest's clock is set from the host's
   * before the VM counts as running (so no request held by the wake sees the old time).
   */
  restored?: boolean;
}

/** What the lifecycle needs from the supervisor. */
export interface BootWatch {
  /** Watches a `starting` VM until its guest answers (→ running) or the boot timeout (→ failed). */
  watch(vm: VmRecord, opts?: WatchOptions): void;
  cancel(id: string): void;
  /** The VM is gone: forget its restart history. */
  forget(id: string): void;
}

/**
 * Watches VMs after their hypervisor started: the boot watch turns
 * `starting` into `running` once the guest agent answers (or `failed` after
 * the boot timeout); the monitor notices hypervisors that died under a VM
 * that should run, and the restart policy decides whether it comes back.
 */
export class VmSupervisor implements BootWatch {
  private readonly boots = new Map<string, AbortController>();
  private readonly restarts = new Map<string, number[]>();
  private monitor: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly d: VmSupervisorDeps) {}

  watch(vm: VmRecord, opts: WatchOptions = {}): void {
    this.cancel(vm.id);
    const ac = new AbortController();
    this.boots.set(vm.id, ac);
    const timer = setTimeout(() => ac.abort(new Error('boot timeout')), this.d.config.bootTimeoutMs);
    const started = this.d.now();
    this.d.guest
      .waitReady(vm, ac.signal)
      .then(async () => {
        if (opts.restored && !ac.signal.aborted) await this.syncClock(vm, ac.signal);
        const cur = this.d.records.get(vm.id);
        if (!ac.signal.aborted && cur?.state === 'starting') {
          this.d.records.save(vm.id, { state: 'running' });
          this.d.log.info({ vmId: vm.id, vm: vm.name, bootMs: this.d.now() - started }, 'guest ready');
        }
      })
      .catch(async () => {
        if (ac.signal.reason instanceof Error && ac.signal.reason.message === 'boot timeout') {
          await this.d.locks.run(vm.id, async () => {
            const cur = this.d.records.get(vm.id);
            if (cur?.state !== 'starting') return;
            const msg = `guest did not answer within ${Math.round(this.d.config.bootTimeoutMs / 1000)}s (see the console log)`;
            this.d.log.warn({ vmId: vm.id, vm: vm.name }, msg);
            await this.d.hypervisor.stop(vm.id, 0);
            await this.d.network.removeTap(cur.tap);
            this.d.records.save(vm.id, { state: 'failed', lastError: msg });
          });
        }
      })
      .finally(() => {
        clearTimeout(timer);
        if (this.boots.get(vm.id) === ac) this.boots.delete(vm.id);
      });
  }

  /**
   * Sets a restored guest's clock from the host's. A guest that cannot (an image older
   * than the clock route) still runs, with a warning: a wrong clock is no reason to fail it.
   */
  private async syncClock(vm: VmRecord, signal: AbortSignal): Promise<void> {
    const nowMs = this.d.now();
    try {
      const before = await this.d.guest.setClock(vm, nowMs, signal);
      this.d.log.info({ vmId: vm.id, vm: vm.name, clockSkewMs: nowMs - before }, 'guest clock set from the host');
    } catch (err) {
      if (!signal.aborted) this.d.log.warn({ vmId: vm.id, vm: vm.name, err: (err as Error).message }, 'cannot set the restored guest\'s clock; it lags by the time it was saved');
    }
  }

  cancel(id: string): void {
    this.boots.get(id)?.abort(new Error('cancelled'));
    this.boots.delete(id);
  }

  forget(id: string): void {
    this.restarts.delete(id);
  }

  /** Periodically notices hypervisors that died under a VM that should run. */
  startMonitor(): void {
    if (this.monitor) return;
    const tick = async () => {
      for (const vm of this.d.records.listLocal()) {
        if (this.closed) return;
        if ((vm.state !== 'running' && vm.state !== 'starting') || this.d.locks.isLocked(vm.id)) continue;
        const st = await this.d.hypervisor.status(vm.id).catch(() => null);
        if (st && !st.running) await this.d.locks.run(vm.id, () => this.handleDeath(vm.id)).catch(() => {});
      }
    };
    const loop = () => {
      this.monitor = setTimeout(() => void tick().finally(() => !this.closed && loop()), this.d.config.monitorIntervalMs);
      this.monitor.unref();
    };
    loop();
  }

  /** Restart policy: true (and counted) if the VM may be restarted automatically now. */
  mayRestart(id: string): boolean {
    if (this.d.config.restartPolicy !== 'always') return false;
    const now = this.d.now();
    const recent = (this.restarts.get(id) ?? []).filter((t) => now - t < this.d.config.restartWindowMs);
    if (recent.length >= this.d.config.maxRestarts) return false;
    recent.push(now);
    this.restarts.set(id, recent);
    return true;
  }

  /** Stops the monitor and every boot watch. */
  close(): void {
    this.closed = true;
    if (this.monitor) clearTimeout(this.monitor);
    for (const ac of this.boots.values()) ac.abort(new Error('daemon closing'));
    this.boots.clear();
  }

  private async handleDeath(id: string): Promise<void> {
    const vm = this.d.records.get(id);
    if (!vm || (vm.state !== 'running' && vm.state !== 'starting')) return;
    const st = await this.d.hypervisor.status(id);
    if (st.running) return;
    this.cancel(id);
    await this.d.hypervisor.stop(id, 0);
    await this.d.network.removeTap(vm.tap);
    const why = 'the hypervisor process exited unexpectedly';
    this.d.log.warn({ vmId: id, vm: vm.name }, 'hypervisor died');
    if (this.mayRestart(id)) {
      // Straight back to starting: waiters for `running` should not see a transient failure.
      this.d.log.info({ vmId: id, vm: vm.name }, 'restarting VM (restart policy)');
      // Not `running` while there is no process: a wait for running must wait for the new boot.
      this.d.records.save(id, { state: 'starting' });
      try {
        await this.d.recover(id);
        this.d.records.save(id, { lastError: `${why}; restarted automatically` });
        return;
      } catch (err) {
        this.d.log.error({ err, vmId: id }, 'automatic restart failed');
      }
    }
    this.d.records.save(id, { state: 'failed', lastError: why });
  }
}
