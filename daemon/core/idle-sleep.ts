import type { Logger } from '../log.js';
import type { VmRecord } from './model.js';
import type { RequestActivity } from './ports/request-activity.js';

export interface IdleSleepDeps {
  vms: { list(): VmRecord[]; onChange(listener: (vmId: string) => void): () => void; get(id: string): VmRecord | undefined };
  activity: RequestActivity;
  /** The host names a VM answers on (its own URL's and its verified custom domains). */
  hostsOf(vm: VmRecord): string[];
  /** Whether something holds the VM awake now: a console attached, a deploy running. */
  busy(vm: VmRecord): boolean;
  sleep(vm: VmRecord): Promise<unknown>;
  log: Logger;
  now: () => number;
  /** How often idleness is checked. */
  intervalMs: number;
}

/**
 * Puts VMs with a `sleepAfterSec` to sleep once they have been idle that
 * long: no request for any of their hosts, no console attached, no deploy
 * running, since they last became `running` (a boot or a wake counts as
 * activity, so a VM is never put back to sleep before it had its chance).
 */
export class IdleSleeper {
  private readonly since = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private readonly off: () => void;
  private closed = false;

  constructor(private readonly d: IdleSleepDeps) {
    this.off = d.vms.onChange((id) => {
      const vm = d.vms.get(id);
      if (!vm || vm.state !== 'running') this.since.delete(id);
      else if (!this.since.has(id)) this.since.set(id, d.now());
    });
  }

  start(): void {
    const loop = () => {
      this.timer = setTimeout(() => void this.tick().finally(() => !this.closed && loop()), this.d.intervalMs);
      this.timer.unref();
    };
    loop();
  }

  close(): void {
    this.closed = true;
    this.off();
    if (this.timer) clearTimeout(this.timer);
  }

  /** One check of every VM (exported for tests); resolves once the VMs due have been put to sleep. */
  async tick(): Promise<void> {
    const now = this.d.now();
    for (const vm of this.d.vms.list()) {
      if (this.closed) return;
      if (vm.state !== 'running' || vm.sleepAfterSec === null) continue;
      if (!this.since.has(vm.id)) this.since.set(vm.id, now); // running when the daemon started
      if (this.d.busy(vm)) {
        this.since.set(vm.id, now);
        continue;
      }
      const requests = this.d.hostsOf(vm).map((h) => this.d.activity.lastRequestAt(h) ?? 0);
      const last = Math.max(this.since.get(vm.id)!, ...requests);
      if (now - last < vm.sleepAfterSec * 1000) continue;
      this.d.log.info({ vmId: vm.id, vm: vm.name, idleSec: Math.round((now - last) / 1000) }, 'idle: putting the VM to sleep');
      await this.d.sleep(vm).catch((err: unknown) => {
        // Try again after another idle period, not at every check.
        this.since.set(vm.id, this.d.now());
        this.d.log.warn({ vmId: vm.id, vm: vm.name, err: (err as Error).message }, 'idle sleep failed');
      });
    }
  }
}
