import type { Handler } from '../server.js';

export interface HealthSource {
  version: string;
  hypervisor: 'qemu' | 'firecracker';
  accel: 'kvm' | 'tcg';
  counts(): { total: number; running: number };
  checks(): Promise<Record<string, { ok: boolean; detail?: string }>>;
}

export function systemHandlers(h: HealthSource): Record<string, Handler> {
  return {
    getHealth: async () => {
      const checks = await h.checks();
      return {
        status: Object.values(checks).every((c) => c.ok) ? 'ok' : 'degraded',
        version: h.version,
        hypervisor: h.hypervisor,
        accel: h.accel,
        vms: h.counts(),
        checks,
      };
    },
  };
}
