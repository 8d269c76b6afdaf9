/**
 * Guest egress with NAT on: a real guest tries every blocked range, from
 * inside (through its serial console), and only the allowed ones arrive.
 *
 * Network safety: NAT is on here, so the "outside" is built inside the
 * test's own namespaces and nothing can leave the machine. The daemon's
 * namespace gets a second veth to an "outside" namespace (both ends made
 * inside the namespaces, none in the host's); it routes only the probe
 * addresses (/32 routes) there, and has no default route — checked before
 * any guest runs. The outside namespace owns every probe address (local
 * routes on its loopback) and records what reaches a listener on them.
 * Nothing in either namespace routes anywhere else.
 *
 * Controls: an address outside every blocked range (TEST-NET-3, standing in
 * for "the internet") and one in a blocked range that FCM_EGRESS_ALLOW
 * opens both arrive. And the test shows it would fail without the block:
 * with the egress_block set emptied, the same probes to every range the
 * kernel would forward arrive. (0.0.0.0/8, 127.0.0.0/8, multicast and the
 * limited broadcast never leave a guest or are never forwarded by Linux
 * anyway; they are probed and must not arrive, and the nft rule is defence
 * in depth for them.)
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { EGRESS_BLOCKED } from '../../daemon/drivers/linux-network.js';
import { run } from '../../daemon/drivers/proc.js';
import { hostSkipReason, startHostHarness, type HostHarness } from '../helpers/host-harness.js';
import { GuestShell } from './lib/guest-shell.js';
import { startNsListener, type NsListener } from './lib/ns-listener.js';

const skip = hostSkipReason();
const PORT = 9444;
const TRANSIT_DAEMON = '203.0.113.1';
const OUTSIDE = '203.0.113.2'; // the "public" control: outside every blocked range
const ALLOWED = '10.77.0.5'; // in 10/8, but FCM_EGRESS_ALLOW=10.77.0.0/24

/** One probe address per blocked range (and the metadata addresses by name); `forwarded`: Linux would route it if nft did not drop it. */
const BLOCKED: { ip: string; range: string; forwarded: boolean }[] = [
  { ip: '10.1.2.3', range: '10.0.0.0/8', forwarded: true },
  { ip: '172.31.4.5', range: '172.16.0.0/12', forwarded: true },
  { ip: '192.168.7.8', range: '192.168.0.0/16', forwarded: true },
  { ip: '100.64.1.2', range: '100.64.0.0/10', forwarded: true },
  { ip: '100.100.100.200', range: '100.64.0.0/10', forwarded: true },
  { ip: '169.254.169.254', range: '169.254.0.0/16', forwarded: true },
  { ip: '192.0.0.9', range: '192.0.0.0/24', forwarded: true },
  { ip: '198.18.0.1', range: '198.18.0.0/15', forwarded: true },
  { ip: '198.19.255.1', range: '198.18.0.0/15', forwarded: true },
  { ip: '240.0.0.1', range: '240.0.0.0/4', forwarded: true },
  { ip: '0.1.2.3', range: '0.0.0.0/8', forwarded: false },
  { ip: '127.1.2.3', range: '127.0.0.0/8', forwarded: false },
  { ip: '224.1.2.3', range: '224.0.0.0/4', forwarded: false },
  { ip: '255.255.255.255', range: '240.0.0.0/4', forwarded: false },
];

describe('guest egress with NAT on: private, special and metadata ranges are blocked (real guest)', { skip: skip ?? false }, () => {
  let h: HostHarness;
  let sh: GuestShell;
  let listener: NsListener;
  const outside = `fcmo-${randomBytes(3).toString('hex')}`;
  const vethIn = `eo${randomBytes(3).toString('hex')}`;
  const vethOut = `ei${randomBytes(3).toString('hex')}`;

  before(async () => {
    h = await startHostHarness({ env: { FCM_NAT: 'true', FCM_EGRESS_ALLOW: '10.77.0.0/24' } });
    await run('ip', ['netns', 'add', outside]);
    // Both ends are made inside the namespaces: no interface of this world ever exists in the host's.
    await h.exec('ip', ['link', 'add', vethIn, 'type', 'veth', 'peer', 'name', vethOut, 'netns', outside]);
    await h.exec('ip', ['addr', 'add', `${TRANSIT_DAEMON}/30`, 'dev', vethIn]);
    await h.exec('ip', ['link', 'set', vethIn, 'up']);
    const o = (...args: string[]) => run('ip', ['-n', outside, ...args]);
    await o('addr', 'add', `${OUTSIDE}/30`, 'dev', vethOut);
    await o('link', 'set', vethOut, 'up');
    await o('link', 'set', 'lo', 'up');
    for (const ip of [ALLOWED, ...BLOCKED.filter((b) => b.forwarded).map((b) => b.ip)]) {
      await o('route', 'add', 'local', `${ip}/32`, 'dev', 'lo');
      await h.exec('ip', ['route', 'add', `${ip}/32`, 'via', OUTSIDE, 'dev', vethIn]);
    }
    // The hard rule: no default route anywhere in this world.
    for (const ns of [h.ns, outside]) {
      const { stdout } = await run('ip', ['-n', ns, '-j', 'route', 'show', 'default']);
      assert.deepEqual(JSON.parse(stdout || '[]'), [], `${ns} must have no default route`);
    }
    listener = await startNsListener(outside, { udp: [PORT], tcp: [PORT] });
    const r = await h.api('POST', '/v1/vms', { name: 'egress', memoryMib: 192, swapMib: 0 });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const w = await h.api('GET', '/v1/vms/egress/wait?state=running&timeout=300');
    assert.equal(w.status, 200, JSON.stringify(w.body));
    sh = await GuestShell.open(h.stateDir, r.body.id);
  });

  after(async () => {
    sh?.close();
    await listener?.stop();
    await h?.close();
    await run('ip', ['netns', 'del', outside]).catch(() => {});
  });

  let round = 0;
  /** Sends a UDP datagram to each address from inside the guest; returns the addresses whose datagram arrived outside. */
  async function probe(ips: string[]): Promise<Set<string>> {
    const r = ++round;
    const tag = (ip: string) => `egress-${r}-${ip}`;
    const sends = ips.map((ip) => `send('${ip}')`).join('; ');
    await sh.ok(
      `python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
def send(ip):
    try: s.sendto(('egress-${r}-' + ip).encode(), (ip, ${PORT}))
    except OSError: pass
${sends}
"`,
      30_000,
    );
    // The controls mark when the batch has been through: the others had the same chance.
    for (const ip of ips.filter((x) => x === OUTSIDE || x === ALLOWED)) {
      assert.ok(await listener.waitFor((e) => e.data === tag(ip), 10_000), `control ${ip} did not arrive`);
    }
    await new Promise((res) => setTimeout(res, 1000));
    return new Set(ips.filter((ip) => listener.events.some((e) => e.data === tag(ip))));
  }

  test('the golden ruleset is what the daemon applied: egress_block holds every listed range', async () => {
    const { stdout } = await h.exec('nft', ['-j', 'list', 'set', 'inet', 'fcm', 'egress_block']);
    const text = stdout;
    for (const b of EGRESS_BLOCKED) {
      const [net, len] = b.cidr.split('/');
      assert.ok(text.includes(`"addr": "${net}"`) && text.includes(`"len": ${len}`), `${b.cidr} in egress_block: ${text}`);
    }
  });

  test('controls: a public address and an allowlisted private one are reached (NAT on, masqueraded)', async () => {
    const got = await probe([OUTSIDE, ALLOWED]);
    assert.deepEqual([...got].sort(), [ALLOWED, OUTSIDE].sort());
    const seen = listener.events.find((e) => e.data.endsWith(OUTSIDE));
    assert.equal(seen?.from, TRANSIT_DAEMON, 'masqueraded to the daemon namespace\'s outside address');
    const tcp = await sh.run(`timeout 5 bash -c '</dev/tcp/${OUTSIDE}/${PORT}' && echo open`);
    assert.match(tcp.out, /open/, 'TCP to the public control connects');
  });

  test('every blocked range and metadata address is unreachable from the guest', async () => {
    const got = await probe([OUTSIDE, ALLOWED, ...BLOCKED.map((b) => b.ip)]);
    const leaked = BLOCKED.filter((b) => got.has(b.ip)).map((b) => `${b.ip} (${b.range})`);
    assert.deepEqual(leaked, [], 'blocked destinations reached the outside');
    const tcp = await sh.run(`timeout 5 bash -c '</dev/tcp/169.254.169.254/${PORT}' && echo open || echo closed`);
    assert.match(tcp.out, /closed/, 'TCP to the metadata address');
  });

  test('without the block the same probes arrive (the test can fail)', async () => {
    const forwarded = BLOCKED.filter((b) => b.forwarded).map((b) => b.ip);
    await h.exec('nft', ['flush', 'set', 'inet', 'fcm', 'egress_block']);
    try {
      const got = await probe([OUTSIDE, ...forwarded]);
      assert.deepEqual(forwarded.filter((ip) => !got.has(ip)), [], 'with egress_block empty, every forwarded probe arrives');
    } finally {
      await h.exec('nft', ['add', 'element', 'inet', 'fcm', 'egress_block', `{ ${EGRESS_BLOCKED.map((b) => b.cidr).join(', ')} }`]);
    }
    const again = await probe([OUTSIDE, ...forwarded]);
    assert.deepEqual(forwarded.filter((ip) => again.has(ip)), [], 'blocked again once restored');
  });
});
