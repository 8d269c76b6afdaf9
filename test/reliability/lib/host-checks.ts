/**
 * "Nothing leaked or half-made", checked against the real host: every VM
 * the API lists is in a settled state and owns exactly the resources that
 * state implies (process, tap, nft chain, disk, route), and no process, tap,
 * chain, disk or route exists for a VM the API does not list.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { tapForVm } from '../../../daemon/core/planners/network-plan.js';
import { hostLeftovers, namespacePids, type HostHarness } from '../../helpers/host-harness.js';

export interface ApiVm {
  id: string;
  name: string;
  state: string;
  ip: string;
  mac: string;
  lastError: string | null;
}

/** Every QEMU process in the namespace that names a VM (QEMU's -name carries the id). */
async function qemuClaims(h: HostHarness): Promise<{ pid: number; vmId: string }[]> {
  const out: { pid: number; vmId: string }[] = [];
  for (const pid of await namespacePids(h.ns)) {
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    const m = /^qemu-system[^\0]*\0[\s\S]*?fcm-(vm_[0-9a-f]+)/.exec(cmd);
    if (m) out.push({ pid, vmId: m[1]! });
  }
  return out;
}

/** vm id → QEMU pid. */
export async function qemuByVm(h: HostHarness): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const { pid, vmId } of await qemuClaims(h)) {
    // While QEMU -daemonize starts, its short-lived parent has the same command line: when
    // two processes claim a VM, the one its pidfile names is the machine itself. A process
    // without a pidfile still counts (a leak check must see it).
    if (!out.has(vmId) || pidfileOf(h, vmId) === pid) out.set(vmId, pid);
  }
  return out;
}

/**
 * The pid of the VM's QEMU once it has settled: exactly one process claims the VM
 * and it is the one its pidfile names (the daemon writes run/<vm>/qemu.pid when its
 * start has completed). Killing anything earlier kills a start in progress.
 */
export async function settledQemu(h: HostHarness, vmId: string): Promise<number | undefined> {
  const claimants = (await qemuClaims(h)).filter((c) => c.vmId === vmId).map((c) => c.pid);
  return claimants.length === 1 && pidfileOf(h, vmId) === claimants[0] ? claimants[0] : undefined;
}

function pidfileOf(h: HostHarness, vmId: string): number | null {
  try {
    return Number(readFileSync(join(h.stateDir, 'run', vmId, 'qemu.pid'), 'utf8').trim());
  } catch {
    return null;
  }
}

/** Per-tap nft chains in the bridge table (tap_<hex>). */
export async function tapChains(h: HostHarness): Promise<string[]> {
  const { stdout } = await h.exec('nft', ['-j', 'list', 'table', 'bridge', 'fcm']);
  const items = (JSON.parse(stdout) as { nftables: { chain?: { name: string } }[] }).nftables;
  return items.map((i) => i.chain?.name).filter((n): n is string => !!n && n.startsWith('tap_')).sort();
}

/** `@id`s of the VM routes Caddy is serving (null if Caddy is unreachable). */
export async function caddyRoutes(h: HostHarness): Promise<string[] | null> {
  try {
    const { stdout } = await h.exec('curl', ['-sS', '--max-time', '5', 'http://127.0.0.1:2019/config/apps/http/servers/fcm/routes']);
    const routes = JSON.parse(stdout || 'null') as { '@id'?: string }[] | null;
    return (routes ?? []).map((r) => r['@id']).filter((id): id is string => !!id && id.startsWith('vm-')).sort();
  } catch {
    return null;
  }
}

export async function listVms(h: HostHarness): Promise<ApiVm[]> {
  const r = await h.api('GET', '/v1/vms');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.vms;
}

export async function assertConsistent(h: HostHarness, opts: { caddy?: boolean; context?: string } = {}): Promise<ApiVm[]> {
  const ctx = opts.context ? `${opts.context}: ` : '';
  const vms = await listVms(h);
  const left = await hostLeftovers(h);
  const qemus = await qemuByVm(h);
  const chains = await tapChains(h);
  const problems: string[] = [];
  const ids = new Set(vms.map((v) => v.id));
  const names = new Set<string>();
  const ips = new Set<string>();
  for (const vm of vms) {
    if (names.has(vm.name)) problems.push(`duplicate name ${vm.name}`);
    if (ips.has(vm.ip)) problems.push(`duplicate ip ${vm.ip}`);
    names.add(vm.name);
    ips.add(vm.ip);
    const up = vm.state === 'running' || vm.state === 'starting';
    if (!['running', 'starting', 'sleeping', 'stopped', 'failed'].includes(vm.state)) problems.push(`${vm.name} is ${vm.state}`);
    const tap = tapForVm(vm.id);
    if (qemus.has(vm.id) !== up) problems.push(`${vm.name} (${vm.state}) ${up ? 'has no' : 'still has a'} QEMU process`);
    if (left.taps.includes(tap) !== up) problems.push(`${vm.name} (${vm.state}) ${up ? 'has no' : 'still has its'} tap`);
    if (chains.includes(`tap_${tap.slice(4)}`) !== up) problems.push(`${vm.name} (${vm.state}) ${up ? 'has no' : 'still has its'} nft chain`);
    if (!left.disks.includes(vm.id)) problems.push(`${vm.name} has no disk`);
  }
  for (const [id, pid] of qemus) if (!ids.has(id)) problems.push(`QEMU ${pid} for unknown VM ${id}`);
  for (const pid of left.qemus) if (![...qemus.values()].includes(pid)) problems.push(`QEMU ${pid} without a VM id`);
  const knownTaps = new Set(vms.map((v) => tapForVm(v.id)));
  for (const t of left.taps) if (!knownTaps.has(t)) problems.push(`tap ${t} for no VM`);
  for (const c of chains) if (![...knownTaps].some((t) => `tap_${t.slice(4)}` === c)) problems.push(`nft chain ${c} for no VM`);
  for (const d of left.disks) if (!ids.has(d)) problems.push(`disk of unknown VM ${d}`);
  for (const d of left.runDirs) if (!ids.has(d)) problems.push(`run dir of unknown VM ${d}`);
  if (opts.caddy) {
    const routes = await caddyRoutes(h);
    const want = vms.map((v) => `vm-${v.name}`).sort();
    if (routes === null) problems.push('Caddy unreachable');
    else if (JSON.stringify(routes) !== JSON.stringify(want)) problems.push(`Caddy routes ${JSON.stringify(routes)} != VMs ${JSON.stringify(want)}`);
  }
  assert.deepEqual(problems, [], `${ctx}inconsistent host state\nVMs: ${JSON.stringify(vms.map((v) => [v.name, v.id, v.state]))}`);
  return vms;
}

export { eventually } from '../../helpers/wait.js';

/** Daemon RSS in KiB, from /proc. */
export function rssKib(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}
