/**
 * Request limits on the real HTTP layer, played as an attacker: every
 * operation openapi.yaml lets in without a token is limited per client
 * address (the list comes from the spec's `security`, not from this file),
 * so are the routes outside the spec, the console WebSocket opened with a
 * ticket, and every user's token per user. X-Forwarded-For counts only from
 * a trusted proxy. With the daemon's defaults, 1000 login starts from one
 * address leave another address able to log in.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import { spec } from '../../api/spec.gen.js';
import type { DevicePoll, IdentityProvider, IdTokenClaims } from '../../daemon/core/ports/identity.js';
import { parseRate } from '../../daemon/core/rate-limit.js';
import { defaultLimits, RequestLimits } from '../../daemon/http/limits.js';
import { operationRoutes } from '../../daemon/http/openapi-routes.js';
import { startConsoleApi } from '../helpers/console-api.js';
import { ConsoleWs, UpgradeRefused } from '../helpers/console-ws.js';
import { memoryApi } from '../helpers/memory-api.js';

/** A stand-in issuer: authorization URLs, and every code redeems to alice. */
class StubIdp implements IdentityProvider {
  lastState = '';
  async capabilities() {
    return { browser: true, device: true };
  }
  async authorizationUrl(p: { state: string }) {
    this.lastState = p.state;
    return `https://issuer.test/auth?state=${p.state}`;
  }
  async redeemCode(): Promise<IdTokenClaims> {
    return { issuer: 'https://issuer.test', subject: 'alice', email: 'alice@example.com', emailVerified: true, name: 'Alice', hd: undefined };
  }
  async startDevice() {
    return { deviceCode: 'dc', userCode: 'ABCD-EFGH', verificationUri: 'https://issuer.test/device', verificationUriComplete: null, intervalSec: 5, expiresInSec: 600 };
  }
  async pollDevice(): Promise<DevicePoll> {
    return { status: 'pending' };
  }
}

/**
 * The limits' clock stands still: each test is an attack that happens at one instant,
 * however long this (shared, loaded) machine takes to send its requests.
 */
const frozen = () => {
  const t = Date.now();
  return () => t;
};
const small = () =>
  new RequestLimits({ trustedProxies: 'loopback', login: parseRate('3/min'), public: parseRate('5/min'), user: parseRate('4/min') }, frozen());

const closers: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of closers) await c();
});

async function api(limits: RequestLimits) {
  const a = await memoryApi({ limits, idp: new StubIdp(), auth: { oidc: { issuer: 'https://issuer.test', clientId: 'x', clientSecret: null, deviceClientId: null, deviceClientSecret: null, googleHostedDomains: false } } });
  closers.push(async () => {
    await a.app.close();
    await a.h.service.close();
  });
  return a;
}

const pkce = () => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};
const loginBody = () => ({ redirectUri: 'http://127.0.0.1:4711/cb', state: 'state-0123456789abcdef', codeChallenge: pkce().challenge });

/** A request for an operation: path parameters filled in; the body need not be valid (limits come before validation). */
function requestFor(r: ReturnType<typeof operationRoutes>[number]) {
  const url = r.url.replace(/:([A-Za-z]+)/g, 'x');
  return { method: r.method, url, ...(r.method === 'POST' ? { payload: r.operationId === 'startLogin' ? loginBody() : {} } : {}) };
}

function assertRateLimited(res: { statusCode: number; headers: Record<string, unknown>; body: string }, what: string) {
  assert.equal(res.statusCode, 429, `${what}: ${res.body}`);
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  assert.equal(JSON.parse(res.body).code, 'rate_limited');
  assert.match(String(res.headers['retry-after']), /^[1-9]\d*$/, `${what}: Retry-After in whole seconds`);
}

test('every operation the spec lets in without a token is limited per client address; another address is not affected', async () => {
  const a = await api(small());
  const anonymous = operationRoutes(spec).filter((r) => !r.auth && !r.websocket);
  assert.ok(anonymous.length >= 6, `the spec has ${anonymous.length} operations without a token`);
  const classes = Object.fromEntries(anonymous.map((r) => [r.operationId, r.rateLimit]));
  assert.equal(classes.startLogin, 'login');
  assert.equal(classes.startDeviceLogin, 'login');
  assert.equal(classes.getHealth, 'public');
  let n = 0;
  for (const r of anonymous) {
    const attacker = `192.0.2.${++n}`;
    const allowed = r.rateLimit === 'login' ? 3 : 5;
    for (let i = 0; i < allowed; i++) {
      const res = await a.app.inject({ ...requestFor(r), remoteAddress: attacker });
      assert.notEqual(res.statusCode, 429, `${r.operationId} request ${i + 1} of ${allowed}: ${res.body}`);
    }
    assertRateLimited(await a.app.inject({ ...requestFor(r), remoteAddress: attacker }), r.operationId);
    // Another address of its own per operation: the login class is one allowance across its operations.
    const other = await a.app.inject({ ...requestFor(r), remoteAddress: `198.51.100.${100 + n}` });
    assert.notEqual(other.statusCode, 429, `${r.operationId} from another address`);
  }
  // Login starts have their own, smaller allowance: health checks do not use it up, nor the other way round.
  const mixed = '203.0.113.50';
  for (let i = 0; i < 5; i++) assert.equal((await a.app.inject({ method: 'GET', url: '/v1/health', remoteAddress: mixed })).statusCode, 200);
  assert.equal((await a.app.inject({ method: 'POST', url: '/v1/auth/login', payload: loginBody(), remoteAddress: mixed })).statusCode, 201);
});

test('routes outside the spec that need no token are limited too (docs, the spec, the web console page, unknown paths, git over HTTPS)', async () => {
  const a = await api(small());
  const urls = ['/docs', '/openapi.json', '/console/web', '/console/assets/console.js', '/no/such/path', '/git/web.git/info/refs?service=git-upload-pack'];
  let n = 0;
  for (const url of urls) {
    const attacker = `192.0.2.${100 + ++n}`;
    for (let i = 0; i < 5; i++) assert.notEqual((await a.app.inject({ url, remoteAddress: attacker })).statusCode, 429, url);
    assertRateLimited(await a.app.inject({ url, remoteAddress: attacker }), url);
  }
});

test('X-Forwarded-For counts only from a trusted proxy: a client cannot dodge its limit, or spend someone else\'s, by naming addresses', async () => {
  const a = await api(small());
  const health = (remoteAddress: string, xff?: string) =>
    a.app.inject({ url: '/v1/health', remoteAddress, ...(xff ? { headers: { 'x-forwarded-for': xff } } : {}) });
  // Straight to the daemon from the internet, a new made-up X-Forwarded-For each time: one address.
  for (let i = 0; i < 5; i++) assert.equal((await health('203.0.113.7', `10.0.0.${i}`)).statusCode, 200);
  assertRateLimited(await health('203.0.113.7', '10.0.0.99'), 'rotating X-Forwarded-For');
  // Naming the victim spends nothing of the victim's.
  for (let i = 0; i < 10; i++) await health('203.0.113.8', '198.51.100.9');
  assert.equal((await health('198.51.100.9')).statusCode, 200, 'the victim is unaffected');
  // Through the local proxy (loopback, trusted): each client its own allowance, by the address the proxy names.
  for (let i = 0; i < 5; i++) assert.equal((await health('127.0.0.1', '198.51.100.10')).statusCode, 200);
  assertRateLimited(await health('127.0.0.1', '198.51.100.10'), 'a client behind the proxy');
  assert.equal((await health('127.0.0.1', '198.51.100.11')).statusCode, 200, 'another client behind the same proxy');
  // The client's own X-Forwarded-For, passed on by a proxy that appends: only the proxy's entry counts.
  assert.equal((await health('127.0.0.1', '198.51.100.10, 198.51.100.12')).statusCode, 200);
});

test('per user: a user\'s token has its own allowance across operations; other users and the admin token are unaffected', async () => {
  const a = await api(small());
  const alice = a.loginAs('alice@example.com');
  const alice2 = a.loginAs('alice@example.com'); // a second token of the same user shares the allowance
  const bob = a.loginAs('bob@example.com');
  for (let i = 0; i < 2; i++) assert.equal((await a.app.inject({ url: '/v1/vms', headers: alice.headers })).statusCode, 200);
  for (let i = 0; i < 2; i++) assert.equal((await a.app.inject({ url: '/v1/keys', headers: alice2.headers })).statusCode, 200);
  assertRateLimited(await a.app.inject({ url: '/v1/auth/whoami', headers: alice.headers }), 'alice');
  assertRateLimited(await a.app.inject({ url: '/v1/vms', headers: alice2.headers }), 'alice, another token');
  assert.equal((await a.app.inject({ url: '/v1/vms', headers: bob.headers })).statusCode, 200, 'bob has his own');
  for (let i = 0; i < 20; i++) assert.equal((await a.app.inject({ url: '/v1/vms', headers: a.auth })).statusCode, 200, 'the admin token is not limited');
  // Requests without a valid token are not charged to anyone's account.
  assert.equal((await a.app.inject({ url: '/v1/vms', headers: { authorization: 'Bearer fcm_not-a-real-token-xxxxxxxxxxxxxx' } })).statusCode, 401);
});

test('the console WebSocket: with a ticket (or nothing) it counts against the address, with a bearer against the user', async () => {
  const c = await startConsoleApi({ limits: small() });
  closers.push(c.close);
  await c.runningVm('ws-limits');
  const url = `${c.base}/v1/vms/ws-limits/console`;
  const refusedWith = async (p: Promise<unknown>) => {
    const e = await p.then(() => assert.fail('the upgrade was accepted'), (err: unknown) => err);
    assert.ok(e instanceof UpgradeRefused, String(e));
    return e as UpgradeRefused & { headers: Record<string, string> };
  };
  // 5 anonymous upgrades from 127.0.0.2 (bad tickets: 401), then 429 with Retry-After.
  for (let i = 0; i < 5; i++) assert.equal((await refusedWith(ConsoleWs.open(url, { ticket: `fct_madeup-${i}-xxxxxxxxxx`, localAddress: '127.0.0.2' }))).status, 401);
  const limited = await refusedWith(ConsoleWs.open(url, { ticket: 'fct_madeup-x-xxxxxxxxxx', localAddress: '127.0.0.2' }));
  assert.deepEqual([limited.status, limited.body.code], [429, 'rate_limited']);
  assert.match(limited.headers['retry-after']!, /^[1-9]\d*$/);
  // Alice's own ticket from another address works.
  const tk = (await c.api('POST', '/v1/vms/ws-limits/console/tickets', c.tok.alice)).body.ticket;
  const ok = await ConsoleWs.open(url, { ticket: tk, localAddress: '127.0.0.3' });
  await ok.close();
  // Bearer: alice's allowance (4/min, one spent on the ticket above, one on runningVm's two calls... all hers).
  let status = 0;
  for (let i = 0; i < 6 && status !== 429; i++) {
    try {
      const w = await ConsoleWs.open(url, { token: c.tok.alice });
      await w.close();
    } catch (e) {
      status = (e as UpgradeRefused).status;
    }
  }
  assert.equal(status, 429, 'alice ran out');
  const bob = await refusedWith(ConsoleWs.open(url, { token: c.tok.bob }));
  assert.equal(bob.status, 404, 'bob is not limited by alice\'s use (and it is not his VM)');
});

test('defaults: 1000 anonymous login starts from one address leave a second address able to log in (browser and device)', async () => {
  const a = await memoryApi({ limits: defaultLimits(frozen()), idp: new StubIdp(), auth: { oidc: { issuer: 'https://issuer.test', clientId: 'x', clientSecret: null, deviceClientId: null, deviceClientSecret: null, googleHostedDomains: false } } });
  closers.push(async () => {
    await a.app.close();
    await a.h.service.close();
  });
  const statuses: Record<number, number> = {};
  let retryAfter = '';
  for (let i = 0; i < 1000; i++) {
    const r = await a.app.inject({ method: 'POST', url: i % 2 ? '/v1/auth/login' : '/v1/auth/device', payload: i % 2 ? loginBody() : undefined, remoteAddress: '192.0.2.66' });
    statuses[r.statusCode] = (statuses[r.statusCode] ?? 0) + 1;
    if (r.statusCode === 429) retryAfter = String(r.headers['retry-after']);
  }
  assert.deepEqual(statuses, { 201: 10, 429: 990 }, 'ten starts per minute, the rest refused');
  assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 60, retryAfter);
  const pending = a.login.pending('192.0.2.66');
  assert.ok(pending.logins + pending.devices <= 10, JSON.stringify(pending));

  // The victim, from another address, logs in all the way: start → the issuer comes back → the token.
  const { verifier, challenge } = pkce();
  const start = await a.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { ...loginBody(), codeChallenge: challenge }, remoteAddress: '198.51.100.20' });
  assert.equal(start.statusCode, 201, start.body);
  const state = new URL(start.json().authorizeUrl).searchParams.get('state')!;
  const back = await a.app.inject({ url: `/v1/auth/callback?code=c&state=${state}`, remoteAddress: '198.51.100.21' });
  assert.equal(back.statusCode, 302, back.body);
  const code = new URL(String(back.headers.location)).searchParams.get('code')!;
  const grant = await a.app.inject({ method: 'POST', url: '/v1/auth/token', payload: { code, codeVerifier: verifier }, remoteAddress: '198.51.100.20' });
  assert.equal(grant.statusCode, 200, grant.body);
  assert.equal((await a.app.inject({ url: '/v1/auth/whoami', headers: { authorization: `Bearer ${grant.json().token}` } })).json().user.email, 'alice@example.com');
  const device = await a.app.inject({ method: 'POST', url: '/v1/auth/device', remoteAddress: '198.51.100.20' });
  assert.equal(device.statusCode, 201, device.body);
});
