/** LoginService and AccountService over a fake identity provider: the protocol rules, one at a time. */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { pino } from 'pino';
import { LoginPolicy } from '../../../daemon/core/access.js';
import { AccountService } from '../../../daemon/core/accounts.js';
import { isFcmError } from '../../../daemon/core/errors.js';
import { IdTokenError } from '../../../daemon/core/id-token.js';
import { type IdTokenClaims } from '../../../daemon/core/ports/identity.js';
import type { DevicePoll, IdentityProvider } from '../../../daemon/core/ports/identity.js';
import { LoginService } from '../../../daemon/core/login-service.js';
import { TokenAuthenticator } from '../../../daemon/core/tokens.js';
import { MemoryUserStore } from '../../../daemon/drivers/memory/memory-user-store.js';
import { MemoryTokenStore } from '../../../daemon/drivers/memory/memory-token-store.js';

const ISSUER = 'https://issuer.test';
const claims = (email: string, over: Partial<IdTokenClaims> = {}): IdTokenClaims => ({
  issuer: ISSUER, subject: `sub-${email}`, email, emailVerified: true, name: email.split('@')[0]!, hd: undefined, ...over,
});

class FakeIdp implements IdentityProvider {
  lastAuth: { redirectUri: string; state: string; nonce: string; codeChallenge: string } | null = null;
  redeemed: { code: string; codeVerifier: string; nonce: string }[] = [];
  next: IdTokenClaims | Error = claims('alice@example.com');
  polls: DevicePoll[] = [];
  device = true;
  async capabilities() {
    return { browser: true, device: this.device };
  }
  async authorizationUrl(p: { redirectUri: string; state: string; nonce: string; codeChallenge: string }) {
    this.lastAuth = p;
    return `${ISSUER}/auth?state=${p.state}`;
  }
  async redeemCode(p: { code: string; codeVerifier: string; redirectUri: string; nonce: string }) {
    this.redeemed.push(p);
    if (this.next instanceof Error) throw this.next;
    return this.next;
  }
  async startDevice() {
    return { deviceCode: 'issuer-device-code', userCode: 'ABCD-EFGH', verificationUri: `${ISSUER}/device`, verificationUriComplete: null, intervalSec: 5, expiresInSec: 600 };
  }
  async pollDevice(deviceCode: string): Promise<DevicePoll> {
    assert.equal(deviceCode, 'issuer-device-code', 'the issuer\'s device code stays inside the daemon');
    return this.polls.shift() ?? { status: 'pending' };
  }
}

function setup(opts: { idp?: FakeIdp | null; maxPending?: number; pendingPerAddress?: number; google?: boolean } = {}) {
  let now = Date.parse('2030-01-01T00:00:00Z');
  const clock = { now: () => now, advance: (ms: number) => (now += ms) };
  const idp = opts.idp === undefined ? new FakeIdp() : opts.idp;
  const users = new MemoryUserStore();
  const tokens = new MemoryTokenStore();
  const policy = new LoginPolicy({ emails: ['alice@example.com'], domains: ['corp.example'], adminEmails: ['root@example.com'] }, opts.google ?? false);
  let ids = 0;
  const accounts = new AccountService({ users, tokens, policy, tokenTtlMs: 86_400_000, now: clock.now, newId: () => `tok_${String(++ids).padStart(12, '0')}` });
  const login = new LoginService({
    idp, issuer: idp ? ISSUER : null, callbackUrl: 'https://fcm.example/v1/auth/callback', policy, users, accounts,
    log: pino({ level: 'silent' }), now: clock.now,
    limits: { ...(opts.maxPending ? { maxPending: opts.maxPending } : {}), ...(opts.pendingPerAddress ? { pendingPerAddress: opts.pendingPerAddress } : {}) },
  });
  const auth = new TokenAuthenticator(tokens, (id) => accounts.principalFor(id), clock.now);
  return { idp: idp!, users, tokens, policy, accounts, login, auth, clock };
}

const pkce = () => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};
const CLI = 'http://127.0.0.1:45678/callback';
/** The caller's address (HandlerContext.client). */
const HERE = '198.51.100.7';

async function rejects(p: Promise<unknown> | (() => unknown), code: string) {
  await assert.rejects(async () => (typeof p === 'function' ? p() : p), (e) => isFcmError(e) && e.code === code);
}

/** startLogin → the issuer comes back → the redirect to the CLI. */
async function browserRound(s: ReturnType<typeof setup>, cliState = 'cli-state-0123456789') {
  const { verifier, challenge } = pkce();
  const started = await s.login.startLogin({ redirectUri: CLI, state: cliState, codeChallenge: challenge }, HERE);
  const st = s.idp.lastAuth!;
  const location = new URL(await s.login.callback({ code: 'issuer-code', state: st.state }));
  return { verifier, challenge, started, location, issuerState: st.state };
}

test('browser login: the daemon runs its own state, nonce and PKCE; the CLI gets a one-time code, then a token', async () => {
  const s = setup();
  const r = await browserRound(s);
  const a = s.idp.lastAuth!;
  assert.equal(a.redirectUri, 'https://fcm.example/v1/auth/callback');
  assert.notEqual(a.codeChallenge, r.challenge, 'the issuer never sees the CLI\'s challenge');
  assert.equal(s.idp.redeemed[0]!.nonce, a.nonce, 'the nonce sent is the nonce checked');
  assert.equal(createHash('sha256').update(s.idp.redeemed[0]!.codeVerifier).digest('base64url'), a.codeChallenge, 'PKCE with the issuer');
  assert.equal(`${r.location.origin}${r.location.pathname}`, CLI);
  assert.equal(r.location.searchParams.get('state'), 'cli-state-0123456789');
  const code = r.location.searchParams.get('code')!;
  assert.match(code, /^flc_[A-Za-z0-9_-]{43}$/);
  assert.ok(![...r.location.searchParams.keys()].some((k) => /token/.test(k)));
  const grant = s.login.exchange({ code, codeVerifier: r.verifier });
  assert.match(grant.token, /^fcm_/);
  assert.deepEqual({ ...grant.user, id: 'x' }, { id: 'x', email: 'alice@example.com', name: 'alice', admin: false });
  assert.equal(grant.expiresAt, new Date(s.clock.now() + 86_400_000).toISOString());
  const p = s.auth.authenticate(grant.token)!;
  assert.equal(p.email, 'alice@example.com');
  assert.equal(s.tokens.rows.find((t) => t.id === p.tokenId)!.hash, createHash('sha256').update(grant.token).digest('hex'));
  assert.ok(!JSON.stringify(s.tokens.rows).includes(grant.token), 'only the hash is stored');
});

test('one-time codes: single use, bound to the CLI\'s PKCE challenge, dead after 60 s', async () => {
  const s = setup();
  const r1 = await browserRound(s);
  const code1 = r1.location.searchParams.get('code')!;
  s.login.exchange({ code: code1, codeVerifier: r1.verifier });
  await rejects(() => s.login.exchange({ code: code1, codeVerifier: r1.verifier }), 'login_failed');

  const r2 = await browserRound(s);
  const code2 = r2.location.searchParams.get('code')!;
  await rejects(() => s.login.exchange({ code: code2, codeVerifier: pkce().verifier }), 'login_failed');
  await rejects(() => s.login.exchange({ code: code2, codeVerifier: r2.verifier }), 'login_failed'); // a failed try burns it

  const r3 = await browserRound(s);
  s.clock.advance(61_000);
  await rejects(() => s.login.exchange({ code: r3.location.searchParams.get('code')!, codeVerifier: r3.verifier }), 'expired_token');
  assert.throws(() => new LoginService({ limits: { codeTtlMs: 121_000 } } as unknown as ConstructorParameters<typeof LoginService>[0]), /2 minutes/);
});

test('callback: unknown, replayed or expired state is refused; issuer errors, mix-ups and bad ID tokens go back to the CLI as errors', async () => {
  const s = setup();
  await rejects(s.login.callback({ code: 'c', state: 'made-up' }), 'login_failed');
  await rejects(s.login.callback({ code: 'c' }), 'login_failed');
  const r = await browserRound(s);
  await rejects(s.login.callback({ code: 'issuer-code', state: r.issuerState }), 'login_failed');

  await s.login.startLogin({ redirectUri: CLI, state: 'cli-state-0123456789', codeChallenge: pkce().challenge }, HERE);
  s.clock.advance(10 * 60_000 + 1);
  await rejects(s.login.callback({ code: 'c', state: s.idp.lastAuth!.state }), 'login_failed');

  const errorOf = async (q: { code?: string; error?: string; iss?: string }) => {
    await s.login.startLogin({ redirectUri: CLI, state: 'cli-state-0123456789', codeChallenge: pkce().challenge }, HERE);
    const u = new URL(await s.login.callback({ ...q, state: s.idp.lastAuth!.state }));
    assert.equal(u.searchParams.get('state'), 'cli-state-0123456789');
    assert.ok(!u.searchParams.get('error') !== !u.searchParams.get('code'), 'an error or a code, never both');
    return u.searchParams.get('error');
  };
  assert.equal(await errorOf({ error: 'access_denied' }), 'access_denied');
  assert.equal(await errorOf({ error: 'server_error' }), 'login_failed');
  assert.equal(await errorOf({}), 'login_failed');
  assert.equal(await errorOf({ code: 'c', iss: 'https://evil.example' }), 'login_failed');
  assert.equal(await errorOf({ code: 'c', iss: ISSUER }), null);
  s.idp.next = new IdTokenError('ID token refused: nonce mismatch');
  assert.equal(await errorOf({ code: 'c' }), 'login_failed');
});

test('only loopback redirect URIs (no open redirector), only S256', async () => {
  const s = setup();
  for (const redirectUri of ['http://evil.example/cb', 'https://127.0.0.1:4000/cb', 'http://localhost:4000/cb', 'http://127.0.0.1.evil.example:80/cb', 'http://127.0.0.1:4000@evil.example/', 'http://127.0.0.1:99999/cb', 'http://127.0.0.1:4000/cb?x=1']) {
    await rejects(s.login.startLogin({ redirectUri, state: 'cli-state-0123456789', codeChallenge: pkce().challenge }, HERE), 'validation_failed');
  }
  await rejects(s.login.startLogin({ redirectUri: CLI, state: 'cli-state-0123456789', codeChallenge: pkce().challenge, codeChallengeMethod: 'plain' }, HERE), 'validation_failed');
});

test('the allowlist decides: not listed, unverified or no email → access_denied and no user; admins from FCM_ADMIN_EMAILS', async () => {
  const s = setup();
  const denied = async (c: IdTokenClaims) => {
    s.idp.next = c;
    const r = await browserRound(s);
    assert.equal(r.location.searchParams.get('error'), 'access_denied', c.email ?? 'no email');
  };
  await denied(claims('mallory@evil.example'));
  await denied(claims('alice@example.com', { emailVerified: false }));
  await denied(claims('x@sub.corp.example'));
  await denied({ ...claims('x@x'), email: null });
  assert.equal(s.users.rows.size, 0, 'refused logins create no user');
  s.idp.next = claims('root@example.com');
  const r = await browserRound(s);
  const grant = s.login.exchange({ code: r.location.searchParams.get('code')!, codeVerifier: r.verifier });
  assert.equal(grant.user.admin, true);
  assert.equal(s.auth.authenticate(grant.token)!.admin, true);
  s.idp.next = claims('bob@corp.example');
  const r2 = await browserRound(s);
  assert.ok(r2.location.searchParams.get('code'), 'a listed domain is enough');
});

test('attacker (Google): a consumer account with a corporate address is refused, never admin; the Workspace account passes and its hd is kept for later requests', async () => {
  const s = setup({ google: true });
  for (const email of ['root@example.com', 'alice@example.com', 'x@corp.example']) {
    s.idp.next = claims(email);
    const r = await browserRound(s);
    assert.equal(r.location.searchParams.get('error'), 'access_denied', email);
    assert.match(r.location.searchParams.get('error_description')!, /not an account managed by/);
  }
  s.idp.next = claims('\u212Aate@corp.example', { hd: 'corp.example' });
  assert.equal((await browserRound(s)).location.searchParams.get('error'), 'access_denied', 'Kelvin sign');
  assert.equal(s.users.rows.size, 0, 'refused logins create no user');

  s.idp.next = claims('root@example.com', { hd: 'example.com' });
  const r = await browserRound(s);
  const grant = s.login.exchange({ code: r.location.searchParams.get('code')!, codeVerifier: r.verifier });
  assert.equal(grant.user.admin, true);
  const p = s.auth.authenticate(grant.token)!;
  assert.equal(p.admin, true, 'the stored hd lets the token through on later requests');
  assert.equal([...s.users.rows.values()][0]!.hd, 'example.com');
  // Without hd it is refused again; and a row stored without hd (a user from before this rule,
  // the users.hd migration leaves it NULL) opens nothing with its old token until its next login.
  s.idp.next = claims('root@example.com');
  assert.equal((await browserRound(s)).location.searchParams.get('error'), 'access_denied');
  s.users.upsert({ issuer: ISSUER, subject: 'sub-root@example.com', email: 'root@example.com', name: null, hd: null }, 'now');
  assert.equal(s.auth.authenticate(grant.token), null);
});

test('a user removed from the allowlist loses access with their existing tokens', async () => {
  const s = setup();
  const r = await browserRound(s);
  const grant = s.login.exchange({ code: r.location.searchParams.get('code')!, codeVerifier: r.verifier });
  assert.ok(s.auth.authenticate(grant.token));
  const stricter = new AccountService({ users: s.users, tokens: s.tokens, policy: new LoginPolicy({ emails: [], domains: [], adminEmails: [] }), tokenTtlMs: 1 });
  assert.equal(new TokenAuthenticator(s.tokens, (id) => stricter.principalFor(id)).authenticate(grant.token), null);
});

test('tokens: whoami, list (own only; admin all), revoke (others\' → not_found), logout; expired tokens stop working', async () => {
  const s = setup();
  const mint = (email: string) => s.accounts.mint(s.users.upsert({ issuer: ISSUER, subject: email, email, name: null }, 'now'), 'test').token;
  const alice = mint('alice@example.com');
  const bob = mint('bob@corp.example');
  const root = mint('root@example.com');
  const pa = s.auth.authenticate(alice)!;
  const pb = s.auth.authenticate(bob)!;
  const pr = s.auth.authenticate(root)!;
  assert.equal(s.accounts.whoami(pa).user.email, 'alice@example.com');
  assert.equal(s.accounts.whoami(pa).token.id, pa.tokenId);
  assert.deepEqual(s.accounts.list(pa).map((t) => t.id), [pa.tokenId]);
  assert.deepEqual(s.accounts.list(pr).map((t) => t.id), ['tok_000000000001', 'tok_000000000002', 'tok_000000000003'], 'all, oldest first (ids from the injected source)');
  await rejects(() => s.accounts.revoke(pb, pa.tokenId!), 'not_found');
  assert.ok(s.auth.authenticate(alice));
  s.accounts.revoke(pr, pa.tokenId!);
  assert.equal(s.auth.authenticate(alice), null, 'an admin can revoke anyone\'s token');
  s.accounts.logout(pb);
  assert.equal(s.auth.authenticate(bob), null);
  s.clock.advance(86_400_000);
  assert.equal(s.auth.authenticate(root), null, 'expired');
});

test('device login: pending, slow_down (ours and the issuer\'s), approval, refusal, expiry; the issuer\'s device code stays inside', async () => {
  const s = setup();
  const d = await s.login.startDevice(HERE);
  assert.match(d.deviceCode, /^fdc_/);
  assert.equal(d.userCode, 'ABCD-EFGH');
  assert.equal(d.interval, 5);
  await rejects(s.login.pollDevice(d.deviceCode), 'authorization_pending');
  s.clock.advance(1000);
  await rejects(s.login.pollDevice(d.deviceCode), 'slow_down'); // too soon: interval now 10 s
  s.clock.advance(5000);
  await rejects(s.login.pollDevice(d.deviceCode), 'slow_down'); // still too soon (15 s now)
  s.clock.advance(15_000);
  s.idp.polls.push({ status: 'slow_down' });
  await rejects(s.login.pollDevice(d.deviceCode), 'slow_down');
  s.clock.advance(20_000);
  s.idp.polls.push({ status: 'ok', claims: claims('alice@example.com') });
  const grant = await s.login.pollDevice(d.deviceCode);
  assert.equal(grant.user.email, 'alice@example.com');
  await rejects(s.login.pollDevice(d.deviceCode), 'expired_token'); // done: gone

  const d2 = await s.login.startDevice(HERE);
  s.idp.polls.push({ status: 'ok', claims: claims('mallory@evil.example') });
  await rejects(s.login.pollDevice(d2.deviceCode), 'access_denied');
  const d3 = await s.login.startDevice(HERE);
  s.idp.polls.push({ status: 'denied' });
  await rejects(s.login.pollDevice(d3.deviceCode), 'access_denied');
  const d4 = await s.login.startDevice(HERE);
  s.clock.advance(600_001);
  await rejects(s.login.pollDevice(d4.deviceCode), 'expired_token');
  await rejects(s.login.pollDevice('fdc_made-up-code'), 'expired_token');
  s.idp.device = false;
  await rejects(s.login.startDevice(HERE), 'auth_not_configured');
});

test('without OIDC configuration every login operation is auth_not_configured', async () => {
  const s = setup({ idp: null });
  assert.deepEqual(await s.login.config(), { enabled: false, issuer: null, browser: false, device: false });
  await rejects(s.login.startLogin({ redirectUri: CLI, state: 'cli-state-0123456789', codeChallenge: pkce().challenge }, HERE), 'auth_not_configured');
  await rejects(s.login.callback({ code: 'c', state: 's' }), 'auth_not_configured');
  await rejects(() => s.login.exchange({ code: 'flc_x', codeVerifier: 'v' }), 'auth_not_configured');
  await rejects(s.login.startDevice(HERE), 'auth_not_configured');
  await rejects(s.login.pollDevice('fdc_x'), 'auth_not_configured');
});

test('attacker: 1000 login starts from one address evict only that address\'s own; another address logs in (browser and device)', async () => {
  const s = setup();
  const start = (client: string) => s.login.startLogin({ redirectUri: CLI, state: 'cli-state-0123456789', codeChallenge: pkce().challenge }, client);
  // The victim started first: their login is the oldest in the table.
  const victim = pkce();
  await s.login.startLogin({ redirectUri: CLI, state: 'victim-state-0123456789', codeChallenge: victim.challenge }, '203.0.113.9');
  const victimState = s.idp.lastAuth!.state;
  const firstOfAttacker = await start(HERE).then(() => s.idp.lastAuth!.state);
  for (let i = 0; i < 999; i++) await start(HERE);
  assert.deepEqual(s.login.pending(HERE), { logins: 10, codes: 0, devices: 0 }, 'the attacker holds only its own 10');
  assert.equal(s.login.pending().logins, 11);
  // The attacker's own oldest were pushed out by its newest…
  await rejects(s.login.callback({ code: 'issuer-code', state: firstOfAttacker }), 'login_failed');
  // …while the victim, from another address, finishes the login it started before the flood,
  const back = new URL(await s.login.callback({ code: 'issuer-code', state: victimState }));
  assert.equal(back.searchParams.get('state'), 'victim-state-0123456789');
  assert.ok(s.login.exchange({ code: back.searchParams.get('code')!, codeVerifier: victim.verifier }).token);
  // …and can start and finish new ones.
  assert.ok((await browserRound(s)).location.searchParams.get('code'));

  // Device logins: the same.
  const victimDevice = await s.login.startDevice('203.0.113.9');
  for (let i = 0; i < 1000; i++) await s.login.startDevice(HERE);
  assert.equal(s.login.pending(HERE).devices, 10);
  s.idp.polls.push({ status: 'ok', claims: claims('alice@example.com') });
  assert.equal((await s.login.pollDevice(victimDevice.deviceCode)).user.email, 'alice@example.com');
});

test('the tables as a whole are bounded: when full, the address holding the most gives up its oldest, never a small one', async () => {
  const s = setup({ maxPending: 30, pendingPerAddress: 10 });
  const start = (client: string) => s.login.startLogin({ redirectUri: CLI, state: 'cli-state-0123456789', codeChallenge: pkce().challenge }, client);
  await start('203.0.113.9');
  const victimState = s.idp.lastAuth!.state;
  // Ten attacker addresses, each starting its full share: 100 starts into a table of 30.
  for (let a = 1; a <= 10; a++) for (let i = 0; i < 10; i++) await start(`192.0.2.${a}`);
  assert.equal(s.login.pending().logins, 30);
  assert.equal(s.login.pending('203.0.113.9').logins, 1, 'the address with one login in progress kept it');
  for (let a = 1; a <= 10; a++) assert.ok(s.login.pending(`192.0.2.${a}`).logins <= 3, 'the attackers share what is left');
  assert.ok((await s.login.callback({ code: 'issuer-code', state: victimState })).includes('code='));
  // Expired entries make room before anyone loses a live one.
  s.clock.advance(10 * 60_000 + 1);
  await start('203.0.113.10');
  assert.equal(s.login.pending().logins, 30, 'full again (29 expired)');
  await start('203.0.113.11');
  assert.equal(s.login.pending().logins, 2, 'the expired ones were swept, both new ones kept');
});

test('dashboard login: only the browser holding the binding cookie gets a session; the token never travels in a URL', async () => {
  const s = setup();
  const started = await s.login.startSessionLogin(HERE);
  assert.match(started.binding, /^[A-Za-z0-9_-]{43}$/);
  const st = s.idp.lastAuth!.state;
  assert.equal(s.idp.lastAuth!.redirectUri, 'https://fcm.example/v1/auth/callback');
  const r = await s.login.finishLogin({ code: 'issuer-code', state: st }, started.binding);
  assert.equal(r.location, '/dashboard/');
  assert.equal(r.clearBinding, true);
  assert.ok(r.session, 'a session token for the cookie');
  assert.ok(!r.location.includes(r.session!.token));
  assert.equal(s.auth.authenticate(r.session!.token)?.email, 'alice@example.com');
  assert.match(s.tokens.rows.at(-1)!.description!, /^dashboard session alice@example.com/);
  // The state is single-use, as for the CLI.
  await rejects(s.login.finishLogin({ code: 'issuer-code', state: st }, started.binding), 'login_failed');
});

test('dashboard login CSRF: a callback link opened without the binding cookie (or with another) logs nobody in', async () => {
  const s = setup();
  for (const binding of [undefined, 'x'.repeat(43)]) {
    const started = await s.login.startSessionLogin(HERE);
    const r = await s.login.finishLogin({ code: 'issuer-code', state: s.idp.lastAuth!.state }, binding);
    assert.equal(r.session, undefined);
    assert.match(r.location, /^\/dashboard\/#error=login_failed&error_description=/);
    assert.equal(s.idp.redeemed.length, 0, 'the code is not even redeemed');
    assert.notEqual(started.binding, binding);
  }
  // A CLI login's state is not a dashboard login (and the other way round): the kinds do not mix.
  const { challenge } = pkce();
  await s.login.startLogin({ redirectUri: CLI, state: 'cli-state-0123456789', codeChallenge: challenge }, HERE);
  const cli = await s.login.finishLogin({ code: 'issuer-code', state: s.idp.lastAuth!.state }, 'any-binding');
  assert.equal(cli.session, undefined);
  assert.ok(cli.location.startsWith(CLI));
});

test('dashboard login refusals go back to the dashboard with a reason: not allowed, provider error, bad ID token, other issuer', async () => {
  const s = setup();
  const round = async (q: Record<string, string>) => {
    const started = await s.login.startSessionLogin(HERE);
    return s.login.finishLogin({ state: s.idp.lastAuth!.state, ...q }, started.binding);
  };
  s.idp.next = claims('mallory@evil.example');
  const denied = await round({ code: 'c' });
  assert.equal(denied.session, undefined);
  assert.equal(new URLSearchParams(denied.location.split('#')[1]).get('error'), 'access_denied');
  assert.ok(![...s.users.rows.values()].some((u) => u.email === 'mallory@evil.example'), 'no user is made for a refused login');
  assert.equal(new URLSearchParams((await round({ error: 'access_denied' })).location.split('#')[1]).get('error'), 'access_denied');
  s.idp.next = new IdTokenError('bad signature');
  assert.equal(new URLSearchParams((await round({ code: 'c' })).location.split('#')[1]).get('error'), 'login_failed');
  s.idp.next = claims('alice@example.com');
  const mixup = await round({ code: 'c', iss: 'https://evil.example' });
  assert.equal(mixup.session, undefined);
  assert.equal(new URLSearchParams(mixup.location.split('#')[1]).get('error'), 'login_failed');
});

test('a session bought with a pasted token expires no later than it; the admin token buys none', async () => {
  const s = setup();
  const user = s.users.upsert({ issuer: ISSUER, subject: 'sub-a', email: 'alice@example.com', name: 'a' }, new Date(s.clock.now()).toISOString());
  const pasted = s.accounts.mint(user, 'test');
  s.clock.advance(3_600_000);
  const grant = s.accounts.mintSession(s.auth.authenticate(pasted.token)!)!;
  assert.notEqual(grant.token, pasted.token);
  assert.equal(grant.expiresAt, pasted.expiresAt, 'capped at the pasted token\'s expiry (the TTL would go an hour further)');
  s.accounts.logout(s.auth.authenticate(grant.token)!);
  assert.equal(s.auth.authenticate(grant.token), null);
  assert.ok(s.auth.authenticate(pasted.token), 'signing out of the browser leaves the pasted token');
});
