import { writeFile } from 'node:fs/promises';
import type { NetworkPlan } from '../core/planners/network-plan.js';
import { TAP_PREFIX } from '../core/planners/network-plan.js';
import type { Network } from '../core/ports.js';
import type { Logger } from '../log.js';
import { CommandError, run } from './proc.js';

export interface LinuxNetworkConfig {
  bridge: string;
  /** Gateway address with prefix, e.g. 172.16.0.1/24. */
  gatewayCidr: string;
  subnetCidr: string;
  /** Masquerade guest traffic to the uplink. Never on in tests. */
  nat: boolean;
}

/** nft chain name for a tap (nft identifiers: no dashes needed). */
const chainFor = (tap: string) => `tap_${tap.slice(TAP_PREFIX.length)}`;

/**
 * Host-side ruleset, applied atomically (pure: golden-file tested).
 * - inet fcm/input: guests reach nothing on the host (daemon API, Caddy admin,
 *   sshd) except replies to connections the host opened.
 * - inet fcm/forward: no routed traffic between guests; to/from the uplink
 *   only with NAT on, and only guest-initiated, never to link-local
 *   (cloud instance metadata).
 * - bridge fcm: per-tap anti-spoofing (a guest may only use its own MAC and
 *   IP, IPv4/ARP only); unknown fcm taps are dropped. Bridge port isolation
 *   (set per tap) blocks guest-to-guest frames at L2.
 */
export function planRuleset(cfg: LinuxNetworkConfig): string {
  const br = JSON.stringify(cfg.bridge);
  const natRules = cfg.nat
    ? [
        // Link-local is where clouds serve instance metadata (169.254.169.254: the host's credentials).
        `    iifname ${br} ip daddr 169.254.0.0/16 drop`,
        `    iifname ${br} oifname != ${br} accept`,
      ]
    : [];
  return [
    'table inet fcm',
    'delete table inet fcm',
    'table inet fcm {',
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
    await run('ip', ['addr', 'replace', this.cfg.gatewayCidr, 'dev', bridge]);
    // No IPv6 on the bridge: guests get IPv4 only, and nothing leaks via link-local.
    await writeFile(`/proc/sys/net/ipv6/conf/${bridge}/disable_ipv6`, '1').catch(() => {});
    await run('ip', ['link', 'set', bridge, 'up']);
    await run('nft', ['-f', '-'], { input: planRuleset(this.cfg) });
    if (this.cfg.nat) await writeFile('/proc/sys/net/ipv4/ip_forward', '1');
    this.log.info({ bridge, gateway: this.cfg.gatewayCidr, nat: this.cfg.nat }, 'host network ready');
  }

  async addTap(plan: NetworkPlan): Promise<void> {
    const { tap } = plan;
    if (!(await this.linkExists(tap))) {
      await run('ip', ['tuntap', 'add', 'dev', tap, 'mode', 'tap']);
    }
    await writeFile(`/proc/sys/net/ipv6/conf/${tap}/disable_ipv6`, '1').catch(() => {});
    await run('ip', ['link', 'set', tap, 'master', this.cfg.bridge]);
    await run('ip', ['link', 'set', tap, 'type', 'bridge_slave', 'isolated', 'on']);
    await run('ip', ['link', 'set', tap, 'up']);
    await run('nft', ['-f', '-'], { input: planTapRules(plan) });
    // We know the guest's MAC: seed the host's neighbour entry (STALE = usable now, verified later)
    // so the first packet to a just-restored guest does not wait a 1 s ARP retransmit.
    await run('ip', ['neigh', 'replace', plan.ip, 'lladdr', plan.mac, 'dev', this.cfg.bridge, 'nud', 'stale']);
  }

  async addIsolatedTap(tap: string): Promise<void> {
    if (!tap.startsWith(TAP_PREFIX)) throw new Error(`refusing to create ${tap}: not an fcm tap`);
    if (!(await this.linkExists(tap))) await run('ip', ['tuntap', 'add', 'dev', tap, 'mode', 'tap']);
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
