import { randomBytes } from 'node:crypto';
import type { AgentKeys } from './agent-keys.js';
import type { Accel, VmRecord } from './model.js';
import { planCmdline } from './planners/kernel-cmdline.js';
import { planMachine } from './planners/machine-spec.js';
import { planNetwork, type NetworkPlan, type Subnet } from './planners/network-plan.js';
import { planSeed } from './planners/seed.js';
import type { ImageInfo } from './ports/images.js';
import type { MachineSpec } from './ports/hypervisor.js';
import type { VmDisks } from './ports/disks.js';

export interface VmPlansConfig {
  subnet: Subnet;
  agentPort: number;
  dns: string | null;
  tscKhz: number | null;
  accel: Accel;
}

/** What a VM's row turns into on the host: its network plan, its seed, its machine. */
export class VmPlans {
  constructor(
    private readonly c: VmPlansConfig,
    private readonly agentKeys: AgentKeys,
    private readonly now: () => number,
  ) {}

  net(vm: Pick<VmRecord, 'id' | 'slot'>): NetworkPlan {
    return planNetwork(vm.id, vm.slot, this.c.subnet);
  }

  /** The seed drive: identity, network and fresh entropy, read by the guest at boot (or on resume). */
  seed(vm: VmRecord): Buffer {
    const net = this.net(vm);
    return planSeed({
      vmId: vm.id,
      hostname: vm.name,
      agentToken: this.agentKeys.tokenFor(vm.id),
      port: vm.port,
      net: { ip: net.ip, prefix: net.prefix, gateway: net.gateway, dns: this.c.dns ? [this.c.dns] : [] },
      mac: net.mac,
      nowMs: this.now(),
      entropy: randomBytes(32).toString('base64'),
    });
  }

  machine(vm: VmRecord, image: ImageInfo, disks: VmDisks): MachineSpec {
    const net = this.net(vm);
    return planMachine({
      vmId: vm.id,
      vcpus: vm.vcpus,
      memoryMib: vm.memoryMib,
      image,
      cmdline: planCmdline({
        vmId: vm.id,
        hostname: vm.name,
        ip: net.ip,
        prefix: net.prefix,
        gateway: net.gateway,
        dns: this.c.dns,
        agentPort: this.c.agentPort,
        accel: this.c.accel,
        tscKhz: this.c.tscKhz,
      }),
      disks,
      net: { tap: net.tap, mac: net.mac },
    });
  }
}
