/**
 * Network isolation with real guests, driven from *inside* the guests
 * through their serial consoles (see lib/guest-shell.ts), inside the
 * harness's private namespace (nothing is NATed, nothing leaves it).
 *
 * Every "blocked" claim has a control that shows the same probe succeeding
 * where it should, so a missing rule makes the test fail instead of passing
 * for the wrong reason:
 * - the namespace host reaches both guests (ICMP, TCP, UDP);
 * - a test-only hole in the host's input chain (UDP 9999, TCP 9998, the
 *   stand-in for "a host service meant for guests") shows that a guest's
 *   own, unspoofed traffic arrives at a listener in the namespace;
 * - IPv4 forwarding is switched on in the namespace, as it is in
 *   production with NAT, so "guest → gateway → other guest" would be
 *   routed if the forward chain did not drop it.
 *
 * No check waits a fixed time. Positive checks poll until what they expect
 * arrives. A negative check ("X never arrived") is made only after a later
 * datagram on the same path, or to the same receiving socket, has arrived:
 * packets sent before it would have been delivered before it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { bridgeMac } from '../../daemon/core/planners/network-plan.js';
import { hostSkipReason, startHostHarness, type HostHarness } from '../helpers/host-harness.js';
import { eventually } from '../helpers/wait.js';
import { GuestShell } from './lib/guest-shell.js';
import { startNsListener, type NsListener } from './lib/ns-listener.js';

const skip = hostSkipReason();
const GW = '172.16.0.1';
const HOLE_UDP = 9999;
const HOLE_TCP = 9998;
const SSH_STANDIN = 22;
const CLOSED_UDP = 9995;
/** How long a positive check may take to be seen (TCG guests on a loaded machine); it returns as soon as it holds. */
const ARRIVES_MS = 20_000;

interface Guest {
  id: string;
  name: string;
  ip: string;
  mac: string;
  sh: GuestShell;
}

/**
 * Runs TCP connects from inside a guest in parallel; returns "host:port" → open. `timeoutS` bounds
 * each connect (bash's start in a TCG guest included): a probe that expects an open port is a
 * positive check and gets a generous one; blocked ports are dropped, so they cost the full timeout.
 */
async function tcpProbe(g: Guest, targets: [string, number][], timeoutS = 3): Promise<Record<string, boolean>> {
  const script = targets
    .map(([host, port]) => `(timeout ${timeoutS} bash -c '</dev/tcp/${host}/${port}' 2>/dev/null && echo "open ${host}:${port}" || echo "closed ${host}:${port}") &`)
    .join(' ');
  const { out } = await g.sh.run(`${script} wait`, (timeoutS + 15) * 1000);
  const res: Record<string, boolean> = {};
  for (const m of out.matchAll(/^(open|closed) (\S+)$/gm)) res[m[2]!] = m[1] === 'open';
  assert.equal(Object.keys(res).length, targets.length, `probe output incomplete: ${out}`);
  return res;
}

async function ping(g: Guest, ip: string): Promise<boolean> {
  return (await g.sh.run(`/usr/lib/fcm/busybox ping -c 2 -W 2 ${ip} >/dev/null 2>&1`, 20_000)).code === 0;
}

/** Sends one UDP datagram from inside the guest, optionally from a given source address. */
async function udpSend(g: Guest, to: string, port: number, payload: string, from?: string): Promise<void> {
  const bind = from ? `s.bind(('${from}', 0));` : '';
  await g.sh.ok(`python3 -c "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); ${bind} s.sendto(b'${payload}', ('${to}', ${port}))"`);
}

describe('network isolation between guests and the host (real QEMU guests)', { skip: skip ?? false }, () => {
  let h: HostHarness;
  let a: Guest;
  let b: Guest;
  let listener: NsListener;
  let nonce = 0;
  const tag = (what: string) => `${what}-${++nonce}-${process.pid}`;

  before(async () => {
    h = await startHostHarness({ caddy: true });
    const made: { id: string; name: string; ip: string; mac: string }[] = [];
    for (const name of ['iso-a', 'iso-b']) {
      const r = await h.api('POST', '/v1/vms', { name, memoryMib: 192, swapMib: 0 });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      made.push(r.body);
    }
    for (const vm of made) {
      const w = await h.api('GET', `/v1/vms/${vm.name}/wait?state=running&timeout=300`);
      assert.equal(w.status, 200, JSON.stringify(w.body));
    }
    const [va, vb] = made as [Guest, Guest];
    // `running` means the guest agent answered; the web port (the placeholder) comes up a moment later.
    for (const vm of made) {
      const t0 = Date.now();
      await eventually(`${vm.name} serves :8000`, () => h.exec('curl', ['-sS', '--max-time', '5', `http://${vm.ip}:8000/`]), (r) => r.stdout.includes(vm.name), 120_000, 100);
      console.log(`# ${vm.name}: :8000 answered ${Date.now() - t0} ms after the wait for running returned`);
    }
    a = { ...va, sh: await GuestShell.open(h.stateDir, va.id) };
    b = { ...vb, sh: await GuestShell.open(h.stateDir, vb.id) };
    // Production with NAT has forwarding on; without it "routed" guest-to-guest would fail for the wrong reason.
    await h.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    listener = await startNsListener(h.ns, { tcp: [HOLE_TCP, SSH_STANDIN], udp: [HOLE_UDP, CLOSED_UDP] });
    // The test-only hole: a host service guests may use (there is none in fcm today).
    await h.exec('nft', ['insert', 'rule', 'inet', 'fcm', 'input', 'iifname', 'fcm0', 'udp', 'dport', String(HOLE_UDP), 'accept']);
    await h.exec('nft', ['insert', 'rule', 'inet', 'fcm', 'input', 'iifname', 'fcm0', 'tcp', 'dport', String(HOLE_TCP), 'accept']);
    // B records every UDP datagram it gets on 9997, in arrival order; /tmp/udp.ready once it is bound.
    await b.sh.ok(`(python3 -u -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', 9997))
open('/tmp/udp.ready', 'w').close()
while True:
    d, src = s.recvfrom(512)
    with open('/tmp/udp.log', 'a') as f: f.write(src[0] + ' ' + d.decode(errors='replace') + chr(10))
" >/dev/null 2>&1 &)`);
    await eventually('B\'s UDP recorder is bound', () => b.sh.run('test -e /tmp/udp.ready'), (r) => r.code === 0, ARRIVES_MS, 100);
  });

  after(async () => {
    a?.sh.close();
    b?.sh.close();
    await listener?.stop();
    await h?.close();
  });

  const udpLog = async () => (await b.sh.run('cat /tmp/udp.log 2>/dev/null')).out;
  /** Polls B's log until `t` is in it; returns the whole log (everything B received before `t`, and maybe after). */
  const udpLogWith = (t: string) => eventually(`B records ${t}`, udpLog, (log) => log.includes(t), ARRIVES_MS, 200);
  /** A datagram from the namespace host to B, seen arriving: everything sent to B before it has arrived too. */
  const hostToBArrives = async (what: string) => {
    const t = tag(what);
    await h.exec('bash', ['-c', `echo ${t} > /dev/udp/${b.ip}/9997`]);
    return { t, log: await udpLogWith(t) };
  };
  /** A datagram from A to the host's open hole, seen arriving: what A sent the host before it has arrived too. */
  const aToHostArrives = async (what: string) => {
    const t = tag(what);
    await udpSend(a, GW, HOLE_UDP, t);
    const got = await listener.waitFor((e) => e.data === t, ARRIVES_MS);
    assert.ok(got, `A's own datagram ${t} arrives at the host`);
    assert.equal(got.from, a.ip);
    return got;
  };

  test('control: the namespace host reaches both guests over ICMP, TCP and UDP', async () => {
    for (const g of [a, b]) {
      await h.exec('busybox', ['ping', '-c', '1', '-w', '20', g.ip]); // up to 20 s for the first reply
      const page = await h.exec('curl', ['-sS', '--max-time', '10', `http://${g.ip}:8000/`]);
      assert.match(page.stdout, new RegExp(g.name));
    }
    const { t, log } = await hostToBArrives('from-host');
    assert.match(log, new RegExp(`${GW.replace(/\./g, '\\.')} ${t}`), 'B records datagrams from the host, with the gateway as source');
  });

  test('the gateway\'s MAC stays put when taps come and go, so guests\' cached gateway entries stay valid', async () => {
    const brMac = async () => (JSON.parse((await h.exec('ip', ['-j', 'link', 'show', 'fcm0'])).stdout) as { address: string }[])[0]!.address;
    assert.equal(await brMac(), bridgeMac(GW), 'the bridge has the pinned MAC');
    // A guest that talked to the host holds the gateway's MAC in its neighbour table.
    await aToHostArrives('learn-gw');
    assert.match((await a.sh.ok('cat /proc/net/arp')), new RegExp(bridgeMac(GW)), 'A caches the gateway\'s MAC');
    // A port with a lower MAC than any other joins the bridge (as a new VM's tap may) and leaves it (as a deleted one's does).
    const tap = 'fcm-zzlowmac00';
    await h.exec('ip', ['tuntap', 'add', 'dev', tap, 'mode', 'tap']);
    try {
      await h.exec('ip', ['link', 'set', tap, 'address', '00:00:00:00:00:01']);
      await h.exec('ip', ['link', 'set', tap, 'master', 'fcm0']);
      await h.exec('ip', ['link', 'set', tap, 'up']);
      assert.equal(await brMac(), bridgeMac(GW), 'a port joining does not change the bridge\'s MAC');
    } finally {
      await h.exec('ip', ['link', 'del', tap]);
    }
    assert.equal(await brMac(), bridgeMac(GW), 'nor a port leaving');
    // And A's traffic to the host still flows at once (its cached entry is right).
    await aToHostArrives('after-taps');
  });

  test('control: a guest\'s own traffic reaches a host service that is open to guests', async () => {
    await aToHostArrives('normal');
    const probe = await tcpProbe(a, [[GW, HOLE_TCP]], 15);
    assert.equal(probe[`${GW}:${HOLE_TCP}`], true, 'TCP through the hole connects');
  });

  test('guest A cannot reach guest B: ICMP, TCP (agent, app port) and UDP, directly or routed via the gateway', async () => {
    assert.equal(await ping(a, b.ip), false, 'A pings B');
    let probe = await tcpProbe(a, [[b.ip, 8000], [b.ip, 7611]]);
    assert.deepEqual(probe, { [`${b.ip}:8000`]: false, [`${b.ip}:7611`]: false });
    const direct = tag('a-direct');
    await udpSend(a, b.ip, 9997, direct);

    // A knows B's MAC (static neighbour): frames go straight to B's port, which bridge port isolation must drop.
    await a.sh.ok(`ip neigh replace ${b.ip} lladdr ${b.mac} dev eth0 nud permanent`);
    assert.equal(await ping(a, b.ip), false, 'A pings B with a static neighbour entry');
    const l2 = tag('a-l2');
    await udpSend(a, b.ip, 9997, l2);
    await a.sh.ok(`ip neigh del ${b.ip} dev eth0`);

    // A routes B through the gateway: the host would forward it (ip_forward=1) unless the forward chain drops it.
    await a.sh.ok(`ip route replace ${b.ip}/32 via ${GW} dev eth0`);
    assert.equal(await ping(a, b.ip), false, 'A pings B routed via the gateway');
    probe = await tcpProbe(a, [[b.ip, 8000]]);
    assert.equal(probe[`${b.ip}:8000`], false);
    const routed = tag('a-routed');
    await udpSend(a, b.ip, 9997, routed);
    await a.sh.ok(`ip route del ${b.ip}/32`);

    // B still hears the host (the negatives are not a dead listener), and once this later datagram is
    // in B's log, anything A managed to send B seconds earlier would be logged before it.
    const { log } = await hostToBArrives('from-host-again');
    for (const t of [direct, l2, routed]) assert.doesNotMatch(log, new RegExp(t), `B received ${t}`);
  });

  test('a guest cannot reach the daemon API, Caddy (80, 443, admin 2019) or an sshd on the host', async () => {
    const targets: [string, number][] = [];
    for (const ip of [GW, h.daemonIp]) for (const port of [7777, 2019, 80, 443, SSH_STANDIN]) targets.push([ip, port]);
    targets.push([GW, HOLE_TCP]); // control, in the same run
    const probe = await tcpProbe(a, targets, 15);
    const open = Object.entries(probe).filter(([, o]) => o).map(([t]) => t);
    assert.deepEqual(open, [`${GW}:${HOLE_TCP}`], 'only the test hole is reachable');
    assert.equal(await ping(a, GW), false, 'the gateway does not answer guest pings');
    const t = tag('closed-udp');
    await udpSend(a, GW, CLOSED_UDP, t);
    // Same path, sent after it: once this arrives, the closed-port datagram would have too.
    await aToHostArrives('after-closed-udp');
    assert.equal(listener.events.find((e) => e.data === t), undefined, 'UDP to a host port that is not open to guests is dropped');
    // The listeners and services are really there (from the namespace itself).
    assert.equal((await h.exec('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://${GW}:7777/v1/health`])).stdout, '200');
    await h.exec('bash', ['-c', `</dev/tcp/${GW}/${SSH_STANDIN}`]);
    await h.exec('bash', ['-c', `echo ${tag('closed-udp-control')} > /dev/udp/${GW}/${CLOSED_UDP}`]);
    assert.ok(await listener.waitFor((e) => e.proto === 'tcp' && e.port === SSH_STANDIN, ARRIVES_MS), 'the sshd stand-in accepts from the namespace');
    assert.ok(await listener.waitFor((e) => e.port === CLOSED_UDP && e.data.startsWith('closed-udp-control-'), ARRIVES_MS), 'the closed-to-guests UDP port listens (from the namespace)');
    assert.equal(listener.events.filter((e) => e.port === SSH_STANDIN && e.from.startsWith('172.16.')).length, 0, 'no guest connection reached port 22');
  });

  test('a guest cannot send with another VM\'s IP or MAC, nor poison the host\'s ARP cache', async () => {
    const arrived = (t: string) => listener.events.find((e) => e.data === t) ?? null;
    // Source IP of B.
    await a.sh.ok(`ip addr add ${b.ip}/32 dev eth0`);
    const spoofIp = tag('spoof-ip');
    await udpSend(a, GW, HOLE_UDP, spoofIp, b.ip);
    await a.sh.ok(`ip addr del ${b.ip}/32 dev eth0`);

    // MAC of B (own IP), then both.
    await a.sh.ok(`ip link set eth0 address ${b.mac}`);
    const spoofMac = tag('spoof-mac');
    await udpSend(a, GW, HOLE_UDP, spoofMac);
    await a.sh.ok(`ip addr add ${b.ip}/32 dev eth0`);
    const spoofBoth = tag('spoof-both');
    await udpSend(a, GW, HOLE_UDP, spoofBoth, b.ip);
    await a.sh.ok(`ip addr del ${b.ip}/32 dev eth0; ip link set eth0 address ${a.mac}`);
    // A's own datagram, sent after the spoofed ones on the same path: once it is here, they would be too.
    await aToHostArrives('after-spoofing');
    assert.equal(arrived(spoofIp), null, 'a datagram from B\'s address sent by A arrived');
    assert.equal(arrived(spoofMac), null, 'a datagram with B\'s MAC arrived');
    assert.equal(arrived(spoofBoth), null, 'a datagram with B\'s MAC and IP arrived');

    // ARP: "B's IP is at A's MAC", sent to the host as a gratuitous reply (raw frame, bypassing A's stack).
    await h.exec('busybox', ['ping', '-c', '1', '-w', '20', b.ip]); // the host has a fresh entry for B
    const mac = (s: string) => `bytes.fromhex('${s.replace(/:/g, '')}')`;
    const ip4 = (s: string) => `bytes([${s.split('.').join(',')}])`;
    await a.sh.ok(`python3 -c "
import socket
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('eth0', 0))
arp = bytes.fromhex('0001080006040002') + ${mac(a.mac)} + ${ip4(b.ip)} + bytes(6) + ${ip4(GW)}
frame = b'\\xff' * 6 + ${mac(a.mac)} + bytes.fromhex('0806') + arp
for _ in range(3): s.send(frame)
"`);
    // A's own traffic still arrives (the negatives were the filter, not a broken guest); sent after the
    // ARP frames on the same path, so once it is here the host has seen (and judged) them.
    await aToHostArrives('normal-after');
    const neigh = (await h.exec('ip', ['neigh', 'show', b.ip, 'dev', 'fcm0'])).stdout;
    assert.doesNotMatch(neigh, new RegExp(a.mac), `the host now sends B's traffic to A: ${neigh}`);
    const page = await h.exec('curl', ['-sS', '--max-time', '10', `http://${b.ip}:8000/`]);
    assert.match(page.stdout, /iso-b/, 'the host still reaches B');
    assert.equal(listener.events.filter((e) => e.from === b.ip).length, 0, 'nothing ever arrived claiming to be B');
  });
});
