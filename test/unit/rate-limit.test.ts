/** The pure pieces of request limiting: token buckets, fair tables, rates, and the trusted-proxy rule for client addresses. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Fastify from 'fastify';
import { FairTable, parseRate, RateBuckets } from '../../daemon/core/rate-limit.js';
import { clientAddress, clientKey, normalizeIp, parseTrustedProxies } from '../../daemon/http/client-address.js';

test('token bucket: a burst of `count`, then one per period/count; keys are independent; Retry-After says when', () => {
  let now = 0;
  const b = new RateBuckets({ count: 10, perMs: 60_000 }, () => now);
  for (let i = 0; i < 10; i++) assert.deepEqual(b.take('a'), { ok: true }, `request ${i + 1}`);
  assert.deepEqual(b.take('a'), { ok: false, retryAfterMs: 6000 });
  assert.deepEqual(b.take('b'), { ok: true }, 'another key has its own bucket');
  now += 5999;
  assert.deepEqual(b.take('a'), { ok: false, retryAfterMs: 1 });
  now += 1; // 6 s after it ran dry: one request again (a refused request costs nothing)
  assert.deepEqual(b.take('a'), { ok: true });
  assert.equal(b.take('a').ok, false);
  now += 10 * 60_000;
  for (let i = 0; i < 10; i++) assert.equal(b.take('a').ok, true, 'full again, never above count');
  assert.equal(b.take('a').ok, false);
});

test('token bucket memory is bounded: full buckets are forgotten first, then the least recently used', () => {
  let now = 0;
  const b = new RateBuckets({ count: 2, perMs: 1000 }, () => now, 100);
  for (let i = 0; i < 100; i++) b.take(`k${i}`);
  assert.equal(b.size, 100);
  now += 1000; // all full again
  b.take('new');
  assert.equal(b.size, 1, 'full buckets are the same as unknown ones');
  for (let i = 0; i < 200; i++) (b.take(`x${i}`), b.take(`x${i}`));
  assert.ok(b.size <= 100, `${b.size}`);
  assert.equal(b.take('x199').ok, false, 'the most recent keys are remembered');
});

test('fair table: an owner\'s overflow evicts its own oldest; a full table takes from the largest owner; expired first', () => {
  const t = new FairTable<{ expiresAt: number }>({ perOwner: 3, max: 5 });
  t.put('victim', 'v1', { expiresAt: 100 }, 0);
  for (let i = 0; i < 1000; i++) t.put('attacker', `a${i}`, { expiresAt: 100 }, 0);
  assert.deepEqual([t.sizeOf('attacker'), t.sizeOf('victim'), t.size], [3, 1, 4]);
  assert.equal(t.get('a0'), undefined, 'the attacker\'s oldest went');
  assert.ok(t.get('a999'));
  assert.ok(t.get('v1'), 'the victim\'s entry is untouched');
  t.put('other', 'o1', { expiresAt: 100 }, 0);
  t.put('other', 'o2', { expiresAt: 100 }, 0); // table full: the largest owner (attacker, 3) gives one up
  assert.deepEqual([t.sizeOf('attacker'), t.sizeOf('other'), t.sizeOf('victim'), t.size], [2, 2, 1, 5]);
  assert.equal(t.ownerOf('v1'), 'victim');
  assert.ok(t.take('v1'));
  assert.equal(t.take('v1'), undefined, 'single use');
  t.put('late', 'l1', { expiresAt: 200 }, 150); // 4 entries, not full: nothing swept
  t.put('late', 'l2', { expiresAt: 200 }, 150); // full: the expired ones go, not a live one
  assert.deepEqual([t.size, t.sizeOf('late')], [2, 2]);
});

test('rates: N/unit and N/<n>unit, off; nonsense refused', () => {
  assert.deepEqual(parseRate('10/min'), { count: 10, perMs: 60_000 });
  assert.deepEqual(parseRate('5/s'), { count: 5, perMs: 1000 });
  assert.deepEqual(parseRate('300 / 10min'), { count: 300, perMs: 600_000 });
  assert.deepEqual(parseRate('1000/h'), { count: 1000, perMs: 3_600_000 });
  assert.equal(parseRate('off'), null);
  for (const bad of ['', '10', '0/min', '10/0min', 'ten/min', '10/day', '-1/s', '1e3/s']) assert.throws(() => parseRate(bad), Error, bad);
});

test('trusted proxies: loopback, none, addresses and CIDRs (v4, v6, v4-mapped); nonsense refused', () => {
  const lo = parseTrustedProxies('loopback');
  for (const a of ['127.0.0.1', '127.9.9.9', '::1', '::ffff:127.0.0.1']) assert.equal(lo.has(a), true, a);
  for (const a of ['10.0.0.1', '::2', 'localhost', '']) assert.equal(lo.has(a), false, a);
  const l = parseTrustedProxies('10.0.0.5, 192.168.0.0/16 fd00::/8');
  for (const a of ['10.0.0.5', '192.168.44.1', 'fd12::1', '::ffff:192.168.1.1']) assert.equal(l.has(a), true, a);
  for (const a of ['10.0.0.6', '127.0.0.1', 'fe80::1']) assert.equal(l.has(a), false, a);
  assert.equal(parseTrustedProxies('none').has('127.0.0.1'), false);
  for (const bad of ['localhost', '10.0.0.0/33', '::/129', '1.2.3', 'none,loopback', '10.0.0.1/x']) assert.throws(() => parseTrustedProxies(bad), Error, bad);
});

test('client address: X-Forwarded-For is believed only from trusted proxies, right to left; a client cannot choose its address', () => {
  const lo = parseTrustedProxies('loopback');
  const cases: [string, string | string[] | undefined, string][] = [
    ['203.0.113.5', undefined, '203.0.113.5'],
    ['203.0.113.5', '198.51.100.1', '203.0.113.5'], // not from a proxy: ignored
    ['127.0.0.1', '198.51.100.1', '198.51.100.1'], // the local Caddy says who it was
    ['127.0.0.1', '10.6.6.6, 198.51.100.1', '198.51.100.1'], // left entries came from the client: not believed
    ['127.0.0.1', ['10.6.6.6', '198.51.100.1'], '198.51.100.1'], // several header lines are one list
    ['127.0.0.1', '198.51.100.1, 127.0.0.1', '198.51.100.1'], // a chain of trusted hops
    ['127.0.0.1', '127.0.0.2', '127.0.0.2'], // all trusted: the leftmost
    ['127.0.0.1', '', '127.0.0.1'],
    ['127.0.0.1', 'garbage, 198.51.100.1', '198.51.100.1'],
    ['127.0.0.1', '198.51.100.1, garbage', '127.0.0.1'], // the proxy sent nonsense: stop at the proxy
    ['127.0.0.1', '198.51.100.1:4711', '198.51.100.1'],
    ['127.0.0.1', '[2001:db8::1]:443', '2001:db8::1'],
    ['::ffff:127.0.0.1', '::ffff:198.51.100.1', '198.51.100.1'],
    [undefined as unknown as string, undefined, 'unknown'],
  ];
  for (const [sock, xff, want] of cases) assert.equal(clientAddress(sock, xff, lo), want, `${sock} ${JSON.stringify(xff)}`);
  assert.equal(clientAddress('127.0.0.1', '198.51.100.1', parseTrustedProxies('none')), '127.0.0.1');
  assert.equal(normalizeIp('::FFFF:10.0.0.1'), '10.0.0.1');
});

test('client address agrees with fastify\'s req.ip (proxy-addr) under the same trust, so logs and limits name the same client', async () => {
  const trusted = parseTrustedProxies('loopback, 10.0.0.0/8');
  const app = Fastify({ trustProxy: (a: string) => trusted.has(a) });
  app.get('/', async (req) => ({ ip: req.ip, ours: clientAddress(req.raw.socket.remoteAddress, req.headers['x-forwarded-for'], trusted) }));
  const cases: [string, string | undefined][] = [
    ['127.0.0.1', '198.51.100.1'], ['127.0.0.1', '10.1.1.1, 198.51.100.1, 10.2.2.2'], ['203.0.113.9', '10.0.0.1'],
    ['127.0.0.1', '127.0.0.2, 10.0.0.3'], ['10.0.0.1', undefined], ['127.0.0.1', '2001:db8::7'],
  ];
  for (const [remoteAddress, xff] of cases) {
    const r = (await app.inject({ url: '/', remoteAddress, headers: xff ? { 'x-forwarded-for': xff } : {} })).json() as { ip: string; ours: string };
    assert.equal(r.ours, r.ip, `${remoteAddress} ${xff}`);
  }
  await app.close();
});

test('counting key: IPv4 as is, IPv6 by its /64', () => {
  assert.equal(clientKey('198.51.100.1'), '198.51.100.1');
  assert.equal(clientKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:db8:1:2::9'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(clientKey('::1'), '0:0:0:0::/64');
  assert.equal(clientKey('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
});
