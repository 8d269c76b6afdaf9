import { createHash } from 'node:crypto';
import { FcmError } from '../errors.js';

/** Host-side addressing for guests: one bridge, one /N subnet, gateway = first host address. */
export interface SubnetConfig {
  /** CIDR, e.g. 172.16.0.0/24 (the bridge takes .1). */
  subnet: string;
}

export interface NetworkPlan {
  slot: number;
  ip: string;
  prefix: number;
  gateway: string;
  mac: string;
  tap: string;
}

export const TAP_PREFIX = 'fcm-';

export interface Subnet {
  network: number;
  prefix: number;
  gateway: string;
  /** Usable guest slots: offsets from the network address (gateway is slot 1). */
  firstSlot: number;
  lastSlot: number;
}

export function ipToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4) throw new Error(`not an IPv4 address: ${ip}`);
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new Error(`not an IPv4 address: ${ip}`);
    n = n * 256 + Number(p);
  }
  return n;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parseSubnet(cidr: string): Subnet {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(cidr);
  if (!m) throw new Error(`subnet must be a.b.c.d/N, got ${cidr}`);
  const prefix = Number(m[2]);
  if (prefix < 16 || prefix > 30) throw new Error(`subnet prefix must be between /16 and /30, got /${prefix}`);
  const size = 2 ** (32 - prefix);
  const network = ipToInt(m[1]!) - (ipToInt(m[1]!) % size);
  return { network, prefix, gateway: intToIp(network + 1), firstSlot: 2, lastSlot: size - 2 };
}

/** MAC from the VM id: locally administered unicast (02:), fc marker, 4 bytes of sha256(id). */
export function macForVm(vmId: string): string {
  const h = createHash('sha256').update(vmId).digest();
  return ['02', 'fc', ...[0, 1, 2, 3].map((i) => h[i]!.toString(16).padStart(2, '0'))].join(':');
}

/**
 * The host bridge's own MAC, set explicitly: a Linux bridge without one takes the lowest MAC
 * of its ports and changes it whenever a tap comes or goes — every create, delete, sleep or
 * pool refill — and each running guest's cached gateway MAC then points nowhere until its
 * ARP entry is re-learned (seconds of lost answers to everyone; a just-claimed VM's first
 * answer waited 2–3 s for it). Locally administered, `06:fc` + the gateway's IPv4 bytes:
 * stable across restarts, and never a guest's (those are `02:fc`, macForVm).
 */
export function bridgeMac(gatewayIp: string): string {
  const n = ipToInt(gatewayIp);
  return ['06', 'fc', ...[24, 16, 8, 0].map((shift) => ((n >>> shift) & 255).toString(16).padStart(2, '0'))].join(':');
}

/** Tap names must fit IFNAMSIZ (15 chars): `fcm-` + 11 hex chars of the id. */
export function tapForVm(vmId: string): string {
  const hex = vmId.replace(/^vm_/, '');
  if (!/^[0-9a-f]{11,}$/.test(hex)) throw new Error(`unexpected vm id ${vmId}`);
  return TAP_PREFIX + hex.slice(0, 11);
}

export function planNetwork(vmId: string, slot: number, subnet: Subnet): NetworkPlan {
  if (slot < subnet.firstSlot || slot > subnet.lastSlot) {
    throw new FcmError('ip_pool_exhausted', `Slot ${slot} is outside the subnet.`);
  }
  return {
    slot,
    ip: intToIp(subnet.network + slot),
    prefix: subnet.prefix,
    gateway: subnet.gateway,
    mac: macForVm(vmId),
    tap: tapForVm(vmId),
  };
}
