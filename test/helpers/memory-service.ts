import { pino } from 'pino';
import type { Principal } from '../../daemon/core/model.js';
import { parseSubnet } from '../../daemon/core/planners/network-plan.js';
import type { VmStore } from '../../daemon/core/ports.js';
import { VmService, type VmServiceConfig } from '../../daemon/core/vm-service.js';
import { MemoryDisks, MemoryGuest, MemoryHypervisor, MemoryImages, MemoryNetwork } from '../../daemon/drivers/memory/memory-host.js';
import { MemoryVmStore } from '../../daemon/drivers/memory/memory-store.js';
import { AgentKeys } from '../../daemon/core/agent-keys.js';
import { FastBootService } from '../../daemon/core/fast-boot.js';
import { MemorySnapshotter, MemoryTemplateStore } from '../../daemon/drivers/memory/memory-host.js';

export const ALICE: Principal = { userId: 'u_alice', email: 'alice@example.com', admin: false };
export const BOB: Principal = { userId: 'u_bob', email: 'bob@example.com', admin: false };
export const ROOT: Principal = { userId: 'admin', email: null, admin: true };

export const DEFAULTS = { vcpus: 1, memoryMib: 1024, diskMib: 2048, swapMib: 512, port: 8000, image: 'base' };

export function memoryService(opts: { subnet?: string; store?: VmStore; config?: Partial<VmServiceConfig>; fastBoot?: { poolSize: number } } = {}) {
  const subnet = parseSubnet(opts.subnet ?? '172.16.0.0/24');
  const hypervisor = new MemoryHypervisor();
  const network = new MemoryNetwork();
  const disks = new MemoryDisks();
  const guest = new MemoryGuest();
  const store = opts.store ?? new MemoryVmStore(subnet);
  const log = pino({ level: 'silent' });
  const agentKeys = new AgentKeys(Buffer.alloc(32, 7));
  const snapshotter = new MemorySnapshotter(hypervisor);
  const templates = new MemoryTemplateStore();
  const fastBoot = opts.fastBoot
    ? new FastBootService({
        hypervisor, snapshotter, disks, network, templates, agentKeys, log,
        config: { shapes: [{ vcpus: 1, memoryMib: 1024, diskMib: 2048, swapMib: 512, port: 8000 }], poolSize: opts.fastBoot.poolSize, accel: 'tcg', tscKhz: 2600000, agentPort: 7611, buildTimeoutMs: 1000, refillDelayMs: 10 },
      })
    : undefined;
  const make = () =>
    new VmService({
      fastBoot,
      store, hypervisor, network, disks, guest, images: new MemoryImages(), log, agentKeys,
      config: {
        subnet, agentPort: 7611, dns: null, tscKhz: 2600000, bootTimeoutMs: 2000, restartPolicy: 'never',
        maxRestarts: 3, restartWindowMs: 60_000, monitorIntervalMs: 20,
        reservedDomainSuffix: '.64-34-93-45.sslip.io', ...opts.config,
      },
    });
  return { service: make(), make, hypervisor, network, disks, guest, store, snapshotter, templates, fastBoot, images: new MemoryImages() };
}
