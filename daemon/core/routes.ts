import type { Logger } from '../log.js';
import type { CaddyPlan, RouteVm } from './planners/caddy-config.js';
import type { Proxy } from './ports/proxy.js';
import type { VmStore } from './ports/vm-store.js';

export interface RouteServiceDeps {
  /** The VMs this host's proxy serves: the ones it runs (each host's proxy serves its own). */
  store: Pick<VmStore, 'list'>;
  proxy: Proxy;
  plan: (vms: RouteVm[]) => CaddyPlan;
  log: Logger;
  /** How often to check that the proxy still runs our config (it may have restarted empty). */
  watchIntervalMs: number;
}

/**
 * Keeps the proxy's routes equal to plan(state). Changes are coalesced:
 * many VM events in a burst cause one load. A watch loop notices a proxy
 * that restarted or lost its config and loads it again; meanwhile the API
 * keeps working and health reports the proxy as down.
 */
export class RouteService {
  private appliedId: string | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private status: { ok: boolean; detail: string } = { ok: false, detail: 'routes not applied yet' };

  constructor(private readonly d: RouteServiceDeps) {}

  health(): { ok: boolean; detail?: string } {
    return this.status.ok ? { ok: true } : { ok: false, detail: this.status.detail };
  }

  /** Brings the proxy up to date; concurrent calls coalesce into at most one more load. */
  sync(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.applyOnce(false);
      } while (this.again && !this.closed);
    })().finally(() => (this.running = null));
    return this.running;
  }

  start(): void {
    const tick = async () => {
      if (this.closed) return;
      const plan = this.currentPlan();
      const st = await this.d.proxy.state(plan.id).catch(() => 'unreachable' as const);
      if (st === 'current') {
        if (!this.status.ok) this.d.log.info('proxy config is current again');
        this.status = { ok: true, detail: '' };
        this.appliedId = plan.id;
      } else if (st === 'unreachable') {
        if (this.status.ok) this.d.log.warn('proxy admin API unreachable; will restore routes when it is back');
        this.status = { ok: false, detail: 'Caddy admin API is unreachable' };
        this.appliedId = null;
      } else {
        this.d.log.warn('proxy is not running our config (restarted?); restoring routes');
        await this.applyOnce(true);
      }
    };
    const loop = () => {
      this.timer = setTimeout(() => void tick().finally(() => !this.closed && loop()), this.d.watchIntervalMs);
      this.timer.unref();
    };
    void this.sync();
    loop();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private currentPlan(): CaddyPlan {
    return this.d.plan(
      this.d.store.list().map((v) => ({
        name: v.name, state: v.state, ip: v.ip, port: v.port,
        domains: v.verifiedDomains,
        pendingDomains: v.domains.filter((d) => !v.verifiedDomains.includes(d)),
      })),
    );
  }

  private async applyOnce(force: boolean): Promise<void> {
    const plan = this.currentPlan();
    if (!force && plan.id === this.appliedId) return;
    try {
      await this.d.proxy.load(plan.config);
      this.appliedId = plan.id;
      this.status = { ok: true, detail: '' };
      this.d.log.debug({ id: plan.id }, 'proxy routes applied');
    } catch (err) {
      this.appliedId = null;
      this.status = { ok: false, detail: `Caddy: ${(err as Error).message}` };
      this.d.log.warn({ err: (err as Error).message }, 'could not apply proxy routes; will retry');
    }
  }
}
