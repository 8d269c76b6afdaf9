/**
 * Who is asking, as far as limits and logs are concerned: the client's IP
 * address under the daemon's trusted-proxy rule.
 *
 * A request that arrives through a reverse proxy (the host's Caddy in front
 * of the API) comes from the proxy's address and names the real client in
 * X-Forwarded-For. That header is believed only from configured proxies
 * (FCM_TRUSTED_PROXIES; loopback by default, which is where a Caddy on the
 * same host connects from): starting at the socket's address, each hop that
 * is a trusted proxy hands over to the address it appended, right to left,
 * and the first untrusted one is the client (what proxy-addr, and so Express
 * and fastify, do). Anyone else's X-Forwarded-For is ignored: a client
 * cannot pick its own address. Caddy ≥ 2.5 also replaces the header of
 * clients it does not trust, so one forged entry never gets through it.
 *
 * For counting, an IPv6 client is its /64 (one subscriber's usual share:
 * counting single addresses would give one attacker 2^64 buckets).
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';

export interface TrustedProxies {
  /** The address is a proxy whose X-Forwarded-For entries are believed. */
  has(address: string): boolean;
  /** As configured, for messages. */
  readonly text: string;
}

/** How many addresses a trusted-proxy rule remembers its answer for. */
const MEMO_MAX = 4096;

/**
 * `loopback` (127.0.0.0/8 and ::1), `none`, or a list of addresses and CIDR
 * blocks (`10.0.0.5, 192.168.0.0/16, fd00::/8`), comma- or space-separated.
 * Throws on anything else.
 */
export function parseTrustedProxies(text: string): TrustedProxies {
  const list = new BlockList();
  const items = text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
  if (items.length === 1 && items[0] === 'none') return { has: () => false, text: 'none' };
  for (const item of items) {
    if (item === 'loopback') {
      list.addSubnet('127.0.0.0', 8, 'ipv4');
      list.addAddress('::1', 'ipv6');
      continue;
    }
    const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(item);
    const addr = m ? normalizeIp(m[1]!) : null;
    if (!m || !addr) throw new Error(`"${item}" is not an IP address, a CIDR block, "loopback" or "none"`);
    const v4 = isIPv4(addr);
    const prefix = m[2] === undefined ? (v4 ? 32 : 128) : Number(m[2]);
    if (prefix > (v4 ? 32 : 128)) throw new Error(`"${item}": the prefix is too long`);
    list.addSubnet(addr, prefix, v4 ? 'ipv4' : 'ipv6');
  }
  // Asked at least twice per request (req.ip for the logs, the limits' client key), mostly for the
  // same few addresses; BlockList.check builds a SocketAddress each time (~4 µs). Answers are kept
  // per address text, at most MEMO_MAX of them (the table starts over when full: addresses come
  // from clients and X-Forwarded-For, so it must not grow without bound).
  const memo = new Map<string, boolean>();
  return {
    has: (address) => {
      let ok = memo.get(address);
      if (ok === undefined) {
        const a = normalizeIp(address);
        ok = a !== null && list.check(a, isIPv4(a) ? 'ipv4' : 'ipv6');
        if (memo.size >= MEMO_MAX) memo.clear();
        memo.set(address, ok);
      }
      return ok;
    },
    text: items.join(','),
  };
}

/** The address in canonical text (IPv4-mapped IPv6 becomes IPv4), or null if it is not an IP address. */
export function normalizeIp(address: string): string | null {
  const a = address.trim();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (mapped && isIPv4(mapped[1]!)) return mapped[1]!;
  if (isIPv4(a)) return a;
  if (isIPv6(a)) return a.toLowerCase();
  return null;
}

/**
 * The client's address: the socket's, or — while the hop is a trusted proxy —
 * the X-Forwarded-For entries from the right. `forwardedFor` is every
 * X-Forwarded-For header line in order (several lines count as one list).
 */
export function clientAddress(socketAddress: string | undefined, forwardedFor: string | string[] | undefined, trusted: TrustedProxies): string {
  let hop = normalizeIp(socketAddress ?? '') ?? 'unknown';
  if (!trusted.has(hop) || forwardedFor === undefined) return hop;
  const entries = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',').map((s) => s.trim()).filter(Boolean);
  for (let i = entries.length - 1; i >= 0; i--) {
    const next = normalizeIp(stripPort(entries[i]!));
    // Garbage from a proxy we trust: stop at the proxy rather than believe it.
    if (next === null) return hop;
    hop = next;
    if (!trusted.has(hop)) return hop;
  }
  return hop;
}

/** `1.2.3.4:5678` and `[::1]:80` → the address (some proxies append ports). */
function stripPort(entry: string): string {
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(entry);
  if (v6) return v6[1]!;
  const v4 = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(entry);
  return v4 ? v4[1]! : entry;
}

/** What limits and fair tables count by: an IPv4 address, or an IPv6 address's /64 (`2001:db8:1:2::/64`). */
export function clientKey(address: string): string {
  if (!isIPv6(address)) return address;
  const groups = expandIpv6(address);
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}

function expandIpv6(a: string): number[] {
  let s = a;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const o = v4[1]!.split('.').map(Number);
    s = `${s.slice(0, -v4[1]!.length)}${((o[0]! << 8) | o[1]!).toString(16)}:${((o[2]! << 8) | o[3]!).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, null];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = tail === null ? [] : Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((g) => parseInt(g, 16));
}
