/**
 * Per-VM cgroup limits for a hypervisor process (pure; golden-file tested).
 * Used for QEMU (the driver makes the cgroups) and for Firecracker (the
 * jailer makes them from `--cgroup file=value`).
 */
export type CgroupVersion = 1 | 2;
export type CgroupController = 'cpu' | 'memory' | 'pids';

export interface CgroupLimit {
  controller: CgroupController;
  file: string;
  value: string;
  /** Written only if the kernel offers the file (v1 memsw needs swap accounting). */
  optional?: boolean;
}

const CPU_PERIOD_US = 100_000;
/**
 * QEMU's block layer thread pool grows to 64 workers (aio=threads); plus one
 * thread per vCPU, the main loop, RCU, monitor and helper threads, the bwrap
 * parent. A bound far above what a working QEMU uses, far below a fork bomb.
 */
const PIDS_BASE = 96;

/**
 * A cgroup competes for CPU as one scheduling entity with its weight (v1
 * cpu.shares, default 1024; v2 cpu.weight, default 100) — the weight of one
 * plain task. A VM is given one task's weight per vCPU, so under contention
 * it gets what its vCPU threads got before they were grouped (and the
 * parent of all VM cgroups is given the sum of its children's:
 * cgroups.ts parentWeight()).
 */
export const CPU_WEIGHT_PER_VCPU = { 1: 1024, 2: 100 } as const;
export const CPU_WEIGHT_MAX = { 1: 262_144, 2: 10_000 } as const;

/**
 * Per-VM limits (pure): CPU = its vCPUs' worth of time per period (all of
 * QEMU's threads together) and weight, memory = guest RAM + a bounded overhead for
 * QEMU itself (TCG's translation cache, device state, I/O buffers), no host
 * swap beyond that, and a pids cap.
 */
export function planCgroupLimits(version: CgroupVersion, vcpus: number, memoryMib: number, overheadMib: number): CgroupLimit[] {
  const bytes = String((memoryMib + overheadMib) * 1024 * 1024);
  const pids = String(PIDS_BASE + vcpus);
  if (version === 2) {
    return [
      { controller: 'cpu', file: 'cpu.max', value: `${vcpus * CPU_PERIOD_US} ${CPU_PERIOD_US}` },
      { controller: 'cpu', file: 'cpu.weight', value: String(Math.min(CPU_WEIGHT_MAX[2], vcpus * CPU_WEIGHT_PER_VCPU[2])) },
      { controller: 'memory', file: 'memory.max', value: bytes },
      { controller: 'memory', file: 'memory.swap.max', value: '0', optional: true },
      { controller: 'pids', file: 'pids.max', value: pids },
    ];
  }
  return [
    { controller: 'cpu', file: 'cpu.cfs_period_us', value: String(CPU_PERIOD_US) },
    { controller: 'cpu', file: 'cpu.cfs_quota_us', value: String(vcpus * CPU_PERIOD_US) },
    { controller: 'cpu', file: 'cpu.shares', value: String(Math.min(CPU_WEIGHT_MAX[1], vcpus * CPU_WEIGHT_PER_VCPU[1])) },
    { controller: 'memory', file: 'memory.limit_in_bytes', value: bytes },
    // Must follow limit_in_bytes (memsw may never be below it).
    { controller: 'memory', file: 'memory.memsw.limit_in_bytes', value: bytes, optional: true },
    { controller: 'pids', file: 'pids.max', value: pids },
  ];
}


/** The parent's CPU weight: the sum of its VMs' (at least the default of one task, at most the kernel's maximum). */
export function parentCpuWeight(version: CgroupVersion, childWeights: number[]): number {
  const sum = childWeights.reduce((a, b) => a + b, 0);
  return Math.max(CPU_WEIGHT_PER_VCPU[version], Math.min(CPU_WEIGHT_MAX[version], sum));
}
