/**
 * GET /v1/vms keeps its answer as bytes per (caller, rows version, hosts)
 * (http/answer-cache.ts). Every kind of change must show at once: create,
 * delete, a config change, a state change the supervisor makes on its own, a
 * domain verified, a host's lease lapsing, a user made admin; one user never
 * gets another's list; a revoked token fails at once; ETag / 304 / gzip.
 */
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { acceptsGzip, noneMatch } from '../../daemon/http/answer-cache.js';
import { memoryApi } from '../helpers/memory-api.js';
import { eventually } from '../helpers/wait.js';

let api: Awaited<ReturnType<typeof memoryApi>>;
before(async () => {
  api = await memoryApi();
});
after(async () => {
  await api.app.close();
  await api.h.service.close();
});

const call = (method: string, url: string, headers: Record<string, string>, payload?: unknown) =>
  api.app.inject({ method: method as 'GET', url, headers, ...(payload === undefined ? {} : { payload: payload as string }) });
const list = async (headers: Record<string, string>, extra: Record<string, string> = {}) => {
  const r = await call('GET', '/v1/vms', { ...headers, ...extra });
  assert.equal(r.statusCode, 200, r.body);
  return { etag: String(r.headers.etag), vms: r.json().vms as { name: string; state: string; sleepAfter: string; pendingDomains: string[] }[], raw: r };
};
const names = (l: { vms: { name: string }[] }) => l.vms.map((v) => v.name).sort();

test('ETag: the same list twice has the same tag; If-None-Match answers 304 without a body (weak form, lists, *); another tag gets the list', async () => {
  const a = await list(api.auth);
  const b = await list(api.auth);
  assert.match(a.etag, /^"[A-Za-z0-9_-]{27}"$/);
  assert.equal(b.etag, a.etag);
  assert.equal(b.raw.body, a.raw.body);
  assert.equal(a.raw.headers['cache-control'], 'private, no-cache');
  for (const inm of [a.etag, `W/${a.etag}`, `"nope", ${a.etag}`, '*']) {
    const r = await call('GET', '/v1/vms', { ...api.auth, 'if-none-match': inm });
    assert.equal(r.statusCode, 304, inm);
    assert.equal(r.body, '');
    assert.equal(r.headers.etag, a.etag);
  }
  const other = await call('GET', '/v1/vms', { ...api.auth, 'if-none-match': '"something-else"' });
  assert.equal(other.statusCode, 200);
  assert.equal(other.body, a.raw.body);
  // No token, no list and no 304 either.
  const anon = await call('GET', '/v1/vms', { 'if-none-match': a.etag });
  assert.equal(anon.statusCode, 401);
});

test('create, config change, state change by the supervisor, delete: each shows in the next list, with a new tag', async () => {
  const before = await list(api.auth);
  const c = await call('POST', '/v1/vms', api.auth, { name: 'cached-a' });
  assert.equal(c.statusCode, 201, c.body);
  const created = await list(api.auth, { 'if-none-match': before.etag });
  assert.ok(names(created).includes('cached-a'), 'a created VM is listed (not a 304, not the old list)');
  assert.notEqual(created.etag, before.etag);

  await call('GET', '/v1/vms/cached-a/wait?state=running&timeout=5', api.auth);
  const running = await list(api.auth);
  assert.equal(running.vms.find((v) => v.name === 'cached-a')?.state, 'running');

  const p = await call('PATCH', '/v1/vms/cached-a', api.auth, { sleepAfter: '15m' });
  assert.equal(p.statusCode, 200, p.body);
  const patched = await list(api.auth, { 'if-none-match': running.etag });
  assert.equal(patched.vms.find((v) => v.name === 'cached-a')?.sleepAfter, '15m');

  // A state change nobody asked for through the API: the hypervisor dies, the monitor records it.
  const vm = api.h.store.get('cached-a')!;
  api.h.service.startMonitor();
  api.h.hypervisor.crash(vm.id);
  const after = await eventually('the crash shows in the list', () => list(api.auth), (l) => l.vms.find((v) => v.name === 'cached-a')?.state !== 'running', 10_000, 20);
  assert.notEqual(after.etag, patched.etag);

  assert.equal((await call('DELETE', '/v1/vms/cached-a', api.auth)).statusCode, 204);
  const deleted = await list(api.auth);
  assert.ok(!names(deleted).includes('cached-a'), 'a deleted VM is gone from the list');
});

test("one user never gets another's list; an admin sees both; making a user admin (reload) widens their list at once", async () => {
  const alice = api.loginAs('alice@example.com');
  const bob = api.loginAs('bob@example.com');
  const emptyBob = await list(bob.headers);
  assert.deepEqual(names(emptyBob), []);
  assert.equal((await call('POST', '/v1/vms', alice.headers, { name: 'alices', memoryMib: 256 })).statusCode, 201);
  assert.equal((await call('POST', '/v1/vms', bob.headers, { name: 'bobs', memoryMib: 256 })).statusCode, 201);
  for (let i = 0; i < 2; i++) {
    assert.deepEqual(names(await list(alice.headers)), ['alices']);
    assert.deepEqual(names(await list(bob.headers)), ['bobs']);
  }
  // Bob's tag does not let him see Alice's list change, nor hers his.
  const a = await list(alice.headers);
  const b = await list(bob.headers);
  assert.notEqual(a.etag, b.etag);
  assert.equal((await call('GET', '/v1/vms', { ...bob.headers, 'if-none-match': a.etag })).statusCode, 200);
  const all = await list(api.auth);
  assert.ok(names(all).includes('alices') && names(all).includes('bobs'));

  api.reloadAccess({ emails: ['alice@example.com', 'bob@example.com'], domains: [], adminEmails: ['alice@example.com'] });
  try {
    const widened = await list(alice.headers);
    assert.ok(names(widened).includes('bobs'), 'Alice, now an admin, sees every VM at once');
  } finally {
    api.reloadAccess({ emails: ['alice@example.com', 'bob@example.com'], domains: [], adminEmails: ['admin@example.com'] });
  }
  assert.deepEqual(names(await list(alice.headers)), ['alices'], 'and no longer once that is undone');
});

test('a revoked token fails at once, even right after its list was served from what was kept', async () => {
  const carol = api.loginAs('alice@example.com');
  const l = await list(carol.headers);
  await list(carol.headers);
  assert.equal((await call('POST', '/v1/auth/logout', carol.headers)).statusCode, 204);
  const r = await call('GET', '/v1/vms', { ...carol.headers, 'if-none-match': l.etag });
  assert.equal(r.statusCode, 401);
  assert.equal(r.json().code, 'unauthorized');
});

test("a verified domain leaves pendingDomains, and a host whose lease lapsed shows its VMs unreachable, at once", async () => {
  const alice = api.loginAs('alice@example.com');
  assert.equal((await call('POST', '/v1/vms', alice.headers, { name: 'shop', memoryMib: 256, domains: ['shop.example.com'] })).statusCode, 201);
  assert.deepEqual((await list(alice.headers)).vms.find((v) => v.name === 'shop')?.pendingDomains, ['shop.example.com']);
  const rec = (await call('GET', '/v1/vms/shop/domains', alice.headers)).json().domains[0];
  api.txt.records.set('_fcm-challenge.shop.example.com', [rec.recordValue]);
  assert.equal((await call('POST', '/v1/vms/shop/domains/shop.example.com/verify', alice.headers)).statusCode, 200);
  assert.deepEqual((await list(alice.headers)).vms.find((v) => v.name === 'shop')?.pendingDomains, []);

  const up = await list(alice.headers);
  assert.notEqual(up.vms.find((v) => v.name === 'shop')?.state, 'unreachable');
  // No write at all: the host's lease lapses as time passes.
  api.cluster.advance(10 * 60_000);
  const down = await list(alice.headers, { 'if-none-match': up.etag });
  assert.equal(down.vms.find((v) => v.name === 'shop')?.state, 'unreachable');
  assert.notEqual(down.etag, up.etag);
});

test('gzip for clients that accept it (fetch, browsers): the same list, its own tag, Vary; either tag answers 304', async () => {
  for (let i = 0; i < 4; i++) await call('POST', '/v1/vms', api.auth, { name: `gz-${i}`, memoryMib: 256 });
  const plain = await list(api.auth);
  assert.equal(plain.raw.headers['content-encoding'], undefined);
  const gz = await call('GET', '/v1/vms', { ...api.auth, 'accept-encoding': 'gzip, deflate' });
  assert.equal(gz.statusCode, 200);
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.equal(gz.headers.vary, 'Accept-Encoding');
  assert.equal(gunzipSync(gz.rawPayload).toString(), plain.raw.body);
  assert.notEqual(gz.headers.etag, plain.etag);
  for (const tag of [plain.etag, String(gz.headers.etag)]) {
    assert.equal((await call('GET', '/v1/vms', { ...api.auth, 'accept-encoding': 'gzip', 'if-none-match': tag })).statusCode, 304);
    assert.equal((await call('GET', '/v1/vms', { ...api.auth, 'if-none-match': tag })).statusCode, 304);
  }
  assert.equal((await call('GET', '/v1/vms', { ...api.auth, 'accept-encoding': 'gzip;q=0, identity' })).headers['content-encoding'], undefined);
});

test('Accept-Encoding and If-None-Match parsing (RFC 9110)', () => {
  assert.equal(acceptsGzip(undefined), false);
  assert.equal(acceptsGzip('gzip'), true);
  assert.equal(acceptsGzip('br, GZIP;q=0.5'), true);
  assert.equal(acceptsGzip('gzip;q=0'), false);
  assert.equal(acceptsGzip('gzip;q=0, *'), false);
  assert.equal(acceptsGzip('*'), true);
  assert.equal(acceptsGzip('*;q=0'), false);
  assert.equal(acceptsGzip('identity, deflate'), false);
  assert.equal(acceptsGzip('x-gzip'), true);
  // The last header's verdict is remembered: the same header again, then others, then back.
  for (const [h, want] of [['gzip, deflate', true], ['gzip, deflate', true], ['gzip;q=0', false], ['gzip;q=0', false], ['gzip, deflate', true], [['identity', 'gzip'], true], ['identity', false]] as const) {
    assert.equal(acceptsGzip(h as string | string[]), want, String(h));
  }
  assert.equal(noneMatch(undefined, '"a"'), false);
  assert.equal(noneMatch('"a"', '"a"'), true);
  assert.equal(noneMatch('W/"a"', '"a"'), true);
  assert.equal(noneMatch('"b", W/"a"', '"a"'), true);
  assert.equal(noneMatch('"ab"', '"a"'), false);
  assert.equal(noneMatch('*', '"a"'), true);
});

/** One request on its own connection, the response's bytes as they came (Connection: close). */
async function rawExchange(port: number, head: string): Promise<{ status: string; names: string[]; headers: Record<string, string>; body: Buffer }> {
  const { connect } = await import('node:net');
  const bytes: Buffer = await new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(`${head}Host: x\r\nConnection: close\r\n\r\n`));
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('end', () => resolve(Buffer.concat(parts)));
    s.on('error', reject);
  });
  const at = bytes.indexOf('\r\n\r\n');
  const [status, ...lines] = bytes.subarray(0, at).toString('latin1').split('\r\n');
  const names = lines.map((l) => l.slice(0, l.indexOf(':')));
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
  return { status: status!, names, headers, body: bytes.subarray(at + 4) };
}

test('the kept answer on the wire: the status line, headers in the order fastify wrote them, the body; gzip; HEAD without a body', async () => {
  const dave = api.loginAs('alice@example.com');
  const expected = (await list(dave.headers)).vms;
  const address = await api.app.listen({ host: '127.0.0.1', port: 0 });
  const port = Number(new URL(address).port);
  const get = `GET /v1/vms HTTP/1.1\r\nAuthorization: ${dave.headers.authorization}\r\n`;
  for (const round of ['built or kept', 'kept']) {
    const plain = await rawExchange(port, get);
    assert.equal(plain.status, 'HTTP/1.1 200 OK', round);
    assert.deepEqual(plain.names, ['etag', 'cache-control', 'vary', 'content-type', 'content-length', 'Date', 'Connection'], round);
    assert.equal(plain.headers['cache-control'], 'private, no-cache');
    assert.equal(plain.headers.vary, 'Accept-Encoding');
    assert.equal(plain.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(plain.headers.Connection, 'close');
    assert.equal(Number(plain.headers['content-length']), plain.body.length);
    assert.deepEqual(JSON.parse(plain.body.toString()).vms, expected, round);

    const gz = await rawExchange(port, `${get}Accept-Encoding: gzip, deflate\r\n`);
    assert.equal(gz.status, 'HTTP/1.1 200 OK');
    assert.deepEqual(gz.names, ['etag', 'cache-control', 'vary', 'content-encoding', 'content-type', 'content-length', 'Date', 'Connection']);
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.equal(Number(gz.headers['content-length']), gz.body.length);
    assert.notEqual(gz.headers.etag, plain.headers.etag, 'each coding has its own tag');
    assert.deepEqual(JSON.parse(gunzipSync(gz.body).toString()).vms, expected);

    const head = await rawExchange(port, `HEAD /v1/vms HTTP/1.1\r\nAuthorization: ${dave.headers.authorization}\r\n`);
    assert.equal(head.status, 'HTTP/1.1 200 OK');
    assert.deepEqual(head.names, plain.names);
    assert.equal(head.headers['content-length'], plain.headers['content-length']);
    assert.equal(head.body.length, 0, 'HEAD: no body');

    const notModified = await rawExchange(port, `${get}If-None-Match: ${plain.headers.etag}\r\n`);
    assert.equal(notModified.status, 'HTTP/1.1 304 Not Modified');
    assert.equal(notModified.body.length, 0);
  }
});

test('revocation: a list built afresh is held (live sessions) while it runs; a kept answer, written in the turn that authenticated it, is not registered; other operations are', async () => {
  const open = api.sessions.open.bind(api.sessions);
  let opened = 0;
  api.sessions.open = (p, end) => {
    opened++;
    return open(p, end);
  };
  try {
    const c = await call('POST', '/v1/vms', api.auth, { name: 'held-a' });
    assert.equal(c.statusCode, 201, c.body);
    // (Running, so the list stays the same between the two GETs below.)
    await call('GET', '/v1/vms/held-a/wait?state=running&timeout=5', api.auth);
    let n = opened;
    const built = await list(api.auth);
    assert.equal(opened, n + 1, 'the first list after a change is built, and held');
    n = opened;
    const kept = await list(api.auth);
    assert.equal(kept.etag, built.etag);
    assert.equal(opened, n, 'the kept answer is not registered');
    n = opened;
    assert.equal((await call('GET', '/v1/vms/held-a', api.auth)).statusCode, 200);
    assert.equal(opened, n + 1, 'another operation is held as before');
  } finally {
    api.sessions.open = open;
  }
});
