import { writeFile } from 'node:fs/promises';
import type { NetworkPlan } from '../core/planners/network-plan.js';
import { TAP_PREFIX, bridgeMac } from '../core/planners/network-plan.js';
import type { Network } from '../core/ports/network.js';
import type { Logger } from '../log.js';
import { CommandError, run } from './proc.js';

export interface LinuxNetworkConfig {
  bridge: string;
  /** Gateway address with prefix, e.g. 172.16.0.1/24. */
  gatewayCidr: string;
  subnetCidr: string;
  /** Masquerade guest traffic to the uplink. Never on in tests. */
  nat: boolean;
  /** With NAT on: private/special destinations guests may reach anyway (IPv4 CIDRs). */
  egressAllow?: readonly string[];
  /** The guests' resolver: with NAT on it stays reachable on port 53 even inside a blocked range. */
  dns?: string | null;
  /**
   * Who owns new taps (an unprivileged hypervisor may attach only to a tap
   * its uid owns); null: root-only taps (the hypervisor runs as root).
   */
  tapOwner?: { allocate(): Promise<number>; release(uid: number): void } | null;
}

/**
 * Where guests may not go through NAT (IPv4; guests have no IPv6): every
 * private, shared, local and special-purpose range, and with them the
 * places clouds serve instance metadata and credentials —
 * 169.254.169.254 (AWS, GCP, Azure, OpenStack, DigitalOcean…) in
 * link-local, 100.100.100.200 (Alibaba) in 100.64.0.0/10. The operator's
 * own networks (a VPC, the office) are RFC 1918 or CGNAT space too.
 * Non-overlapping, as an nft interval set needs them.
 */
export const EGRESS_BLOCKED: readonly { cidr: string; why: string }[] = [
  { cidr: '0.0.0.0/8', why: '"this network" (RFC 791)' },
  { cidr: '10.0.0.0/8', why: 'private (RFC 1918)' },
  { cidr: '100.64.0.0/10', why: 'shared/CGNAT (RFC 6598), incl. 100.100.100.200 metadata' },
  { cidr: '127.0.0.0/8', why: 'loopback' },
  { cidr: '169.254.0.0/16', why: 'link-local, incl. 169.254.169.254 metadata' },
  { cidr: '172.16.0.0/12', why: 'private (RFC 1918)' },
  { cidr: '192.0.0.0/24', why: 'IETF protocol assignments (RFC 6890)' },
  { cidr: '192.168.0.0/16', why: 'private (RFC 1918)' },
  { cidr: '198.18.0.0/15', why: 'benchmarking (RFC 2544)' },
  { cidr: '224.0.0.0/4', why: 'multicast' },
  { cidr: '240.0.0.0/4', why: 'reserved, incl. 255.255.255.255 broadcast' },
];

function ipInt(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}

/** Whether an IPv4 address lies in a blocked range (pure). */
export function egressBlocked(ip: string): boolean {
  const n = ipInt(ip);
  return EGRESS_BLOCKED.some(({ cidr }) => {
    const [net, bits] = cidr.split('/') as [string, string];
    const size = 2 ** (32 - Number(bits));
    return n >= ipInt(net) && n < ipInt(net) + size;
  });
}

/** nft chain name for a tap (nft identifiers: no dashes needed). */
const chainFor = (tap: string) => `tap_${tap.slice(TAP_PREFIX.length)}`;

/**
 * Host-side ruleset, applied atomically (pure: golden-file tested).
 * - inet fcm/input: guests reach nothing on the host (daemon API, Caddy admin,
 *   sshd) except replies to connections the host opened.
 * - inet fcm/forward: no routed traffic between guests; to/from the uplink
 *   only with NAT on, only guest-initiated, only IPv4, and never to
 *   EGRESS_BLOCKED (private networks, instance metadata) unless the
 *   operator allowed the range (FCM_EGRESS_ALLOW); the guests' DNS server
 *   stays reachable on port 53.
 * - bridge fcm: per-tap anti-spoofing (a guest may only use its own MAC and
 *   IP, IPv4/ARP only); unknown fcm taps are dropped. Bridge port isolation
 *   (set per tap) blocks guest-to-guest frames at L2.
 */
export function planRuleset(cfg: LinuxNetworkConfig): string {
  const br = JSON.stringify(cfg.bridge);
  const allow = cfg.egressAllow ?? [];
  const dnsRule = cfg.dns && egressBlocked(cfg.dns) ? [`    iifname ${br} oifname != ${br} ip daddr ${cfg.dns} meta l4proto { tcp, udp } th dport 53 accept`] : [];
  const natRules = cfg.nat
    ? [
        ...(allow.length ? [`    iifname ${br} oifname != ${br} ip daddr @egress_allow accept`] : []),
        ...dnsRule,
        `    iifname ${br} ip daddr @egress_block drop`,
        `    iifname ${br} oifname != ${br} meta nfproto ipv4 accept`,
      ]
    : [];
  const sets = cfg.nat
    ? [
        '  set egress_block {',
        '    type ipv4_addr; flags interval;',
        '    elements = {',
        ...EGRESS_BLOCKED.map((b, i) => `      ${b.cidr}${i < EGRESS_BLOCKED.length - 1 ? ',' : ''} # ${b.why}`),
        '    }',
        '  }',
        ...(allow.length ? ['  set egress_allow {', '    type ipv4_addr; flags interval;', `    elements = { ${allow.join(', ')} }`, '  }'] : []),
      ]
    : [];
  return [
    'table inet fcm',
    'delete table inet fcm',
    'table inet fcm {',
    ...sets,
    '  chain input {',
    '    type filter hook input priority 0; policy accept;',
    `    iifname ${br} ct state established,related accept`,
    `    iifname ${br} drop`,
    '  }',
    '  chain forward {',
    '    type filter hook forward priority 0; policy accept;',
    `    iifname ${br} oifname ${br} drop`,
    `    oifname ${br} ct state established,related accept`,
    `    oifname ${br} drop`,
    ...natRules,
    `    iifname ${br} drop`,
    '  }',
    ...(cfg.nat
      ? [
          '  chain postrouting {',
          '    type nat hook postrouting priority 100; policy accept;',
          `    ip saddr ${cfg.subnetCidr} oifname != ${br} masquerade`,
          '  }',
        ]
      : []),
    '}',
    'table bridge fcm',
    'delete table bridge fcm',
    'table bridge fcm {',
    '  map taps { type ifname : verdict; }',
    '  chain prerouting {',
    '    type filter hook prerouting priority -200; policy accept;',
    '    iifname vmap @taps',
    `    iifname "${TAP_PREFIX}*" drop`,
    '  }',
    '}',
    '',
  ].join('\n');
}

export function planTapRules(plan: NetworkPlan): string {
  const chain = chainFor(plan.tap);
  return [
    `add chain bridge fcm ${chain}`,
    `flush chain bridge fcm ${chain}`,
    `add rule bridge fcm ${chain} ether saddr != ${plan.mac} drop`,
    `add rule bridge fcm ${chain} ether type arp arp saddr ether != ${plan.mac} drop`,
    `add rule bridge fcm ${chain} ether type arp arp saddr ip != ${plan.ip} drop`,
    `add rule bridge fcm ${chain} ether type ip ip saddr != ${plan.ip} drop`,
    `add rule bridge fcm ${chain} ether type != { ip, arp } drop`,
    `add rule bridge fcm ${chain} accept`,
    `add element bridge fcm taps { "${plan.tap}" : jump ${chain} }`,
    '',
  ].join('\n');
}

/** Bridge + taps with iproute2 and nftables (argv only; names come from planners, never from users). */
export class LinuxNetwork implements Network {
  constructor(
    private readonly cfg: LinuxNetworkConfig,
    private readonly log: Logger,
  ) {}

  async ensureHost(): Promise<void> {
    const { bridge } = this.cfg;
    if (!(await this.linkExists(bridge))) {
      await run('ip', ['link', 'add', bridge, 'type', 'bridge']);
    }
    // Pinned, so taps joining and leaving never change the gateway's MAC under running guests (bridgeMac).
    await run('ip', ['link', 'set', bridge, 'address', bridgeMac(this.cfg.gatewayCidr.split('/')[0]!)]);
    await run('ip', ['addr', 'replace', this.cfg.gatewayCidr, 'dev', bridge]);
    // No IPv6 on the bridge: guests get IPv4 only, and nothing leaks via link-local.
    await writeFile(`/proc/sys/net/ipv6/conf/${bridge}/disable_ipv6`, '1').catch(() => {});
    await run('ip', ['link', 'set', bridge, 'up']);
    await run('nft', ['-f', '-'], { input: planRuleset(this.cfg) });
    if (this.cfg.nat) await writeFile('/proc/sys/net/ipv4/ip_forward', '1');
    this.log.info({ bridge, gateway: this.cfg.gatewayCidr, nat: this.cfg.nat }, 'host network ready');
  }

  /** A new tap, owned by a fresh VMM uid when the hypervisor runs unprivileged. */
  private async createTap(tap: string): Promise<void> {
    const owner = this.cfg.tapOwner ?? null;
    if (!owner) {
      await run('ip', ['tuntap', 'add', 'dev', tap, 'mode', 'tap']);
      return;
    }
    const uid = await owner.allocate();
    try {
      await run('ip', ['tuntap', 'add', 'dev', tap, 'mode', 'tap', 'user', String(uid)]);
    } finally {
      owner.release(uid);
    }
  }

  async addTap(plan: NetworkPlan): Promise<void> {
    const { tap } = plan;
    // One `ip` for the link and neighbour steps and one `nft` for the rules: every process start
    // costs tens of ms on a loaded host, and a warm-pool create waits for these (its tap exists
    // already; a cold boot's is made when the batch finds it missing).
    const batch = `${[
      `link set ${tap} master ${this.cfg.bridge}`,
      `link set ${tap} type bridge_slave isolated on`,
      `link set ${tap} up`,
      // We know the guest's MAC: seed the host's neighbour entry (STALE = usable now, verified later)
      // so the first packet to a just-restored guest does not wait a 1 s ARP retransmit.
      `neigh replace ${plan.ip} lladdr ${plan.mac} dev ${this.cfg.bridge} nud stale`,
    ].join('\n')}\n`;
    const disableIpv6 = () => writeFile(`/proc/sys/net/ipv6/conf/${tap}/disable_ipv6`, '1').catch(() => {});
    await disableIpv6();
    try {
      await run('ip', ['-batch', '-'], { input: batch });
    } catch (e) {
      if (!(e instanceof CommandError && e.stderr.includes(`Cannot find device "${tap}"`))) throw e;
      await this.createTap(tap);
      await disableIpv6();
      await run('ip', ['-batch', '-'], { input: batch });
    }
    await run('nft', ['-f', '-'], { input: planTapRules(plan) });
  }

  async addIsolatedTap(tap: string): Promise<void> {
    if (!tap.startsWith(TAP_PREFIX)) throw new Error(`refusing to create ${tap}: not an fcm tap`);
    if (!(await this.linkExists(tap))) await this.createTap(tap);
    await writeFile(`/proc/sys/net/ipv6/conf/${tap}/disable_ipv6`, '1').catch(() => {});
    // On the bridge but not in the taps verdict map: the prerouting rule drops every frame from it.
    await ignoreMissing(run('nft', ['delete', 'element', 'bridge', 'fcm', 'taps', `{ "${tap}" }`]));
    await run('ip', ['link', 'set', tap, 'master', this.cfg.bridge]);
    await run('ip', ['link', 'set', tap, 'type', 'bridge_slave', 'isolated', 'on']);
    await run('ip', ['link', 'set', tap, 'up']);
  }

  async removeTap(tap: string): Promise<void> {
    if (!tap.startsWith(TAP_PREFIX)) throw new Error(`refusing to remove ${tap}: not an fcm tap`);
    await ignoreMissing(run('ip', ['link', 'del', tap]));
    await ignoreMissing(run('nft', ['delete', 'element', 'bridge', 'fcm', 'taps', `{ "${tap}" }`]));
    await ignoreMissing(run('nft', ['delete', 'chain', 'bridge', 'fcm', chainFor(tap)]));
  }

  async listTaps(): Promise<string[]> {
    const { stdout } = await run('ip', ['-j', 'link', 'show', 'type', 'tun']);
    const links = JSON.parse(stdout || '[]') as { ifname: string }[];
    return links.map((l) => l.ifname).filter((n) => n.startsWith(TAP_PREFIX));
  }

  private async linkExists(name: string): Promise<boolean> {
    try {
      await run('ip', ['link', 'show', 'dev', name]);
      return true;
    } catch (e) {
      if (e instanceof CommandError) return false;
      throw e;
    }
  }
}

async function ignoreMissing(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (e instanceof CommandError && /Cannot find device|No such file or directory|does not exist/i.test(e.stderr)) return;
    throw e;
  }
}
