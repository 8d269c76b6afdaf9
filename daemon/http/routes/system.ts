import type { Handler } from '../server.js';

export interface HealthSource {
  version: string;
  hypervisor: 'qemu' | 'firecracker';
  accel: 'kvm' | 'tcg';
  confinement?: Confinement;
  counts(): { total: number; running: number; sleeping: number };
  checks(): Promise<Record<string, { ok: boolean; detail?: string }>>;
}

/** What confines the hypervisor processes (see openapi.yaml Health.confinement). */
export interface Confinement {
  user: 'per-vm' | 'shared' | 'root';
  seccomp: boolean;
  mountNamespace: boolean;
  jailer: boolean;
  cgroups: { version: 'v1' | 'v2' | null; limits: ('cpu' | 'memory' | 'pids')[]; detail: string | null };
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
        confinement: h.confinement,
        vms: h.counts(),
        checks,
      };
    },
  };
}
