/**
 * The dashboard's server side over real HTTP (the daemon's HTTP layer on
 * loopback, in-memory services): the page and its assets with their
 * Content-Security-Policy and nothing external; the session cookie's
 * attributes; CSRF on every cookie-authenticated change; one user never
 * seeing or touching another's VMs through a session; sign-out; the cookie
 * never opening a console WebSocket.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { spec } from '../../api/spec.gen.js';
import { parseRate } from '../../daemon/core/rate-limit.js';
import { RequestLimits } from '../../daemon/http/limits.js';
import { DASHBOARD_CSP } from '../../daemon/http/routes/dashboard.js';
import { memoryApi } from '../helpers/memory-api.js';

type Api = Awaited<ReturnType<typeof memoryApi>>;
let api: Api;
let base: string;
let alice: ReturnType<Api['loginAs']>;
let bob: ReturnType<Api['loginAs']>;

interface Res {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

async function call(method: string, path: string, o: { cookie?: string; csrf?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Res> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.cookie) headers.cookie = o.cookie;
  if (o.csrf) headers['x-fcm-csrf'] = o.csrf;
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(`${base}${path}`, { method, headers, redirect: 'manual', ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}) });
  const text = await r.text();
  let body: any = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  return { status: r.status, headers: r.headers, body, text };
}

/** Signs in with a pasted token; returns the cookie to send back and the session's CSRF token. */
async function session(token: string, headers: Record<string, string> = {}) {
  const r = await call('POST', '/v1/auth/session', { body: { token }, headers });
  assert.equal(r.status, 201, r.text);
  const set = r.headers.getSetCookie();
  assert.equal(set.length, 1);
  const pair = set[0]!.split(';')[0]!;
  return { cookie: pair, value: pair.slice(pair.indexOf('=') + 1), csrf: r.body.csrfToken as string, setCookie: set[0]!, body: r.body };
}

before(async () => {
  // Generous login-class limit: this file signs in more than 10 times a minute from one address.
  const limits = new RequestLimits({ trustedProxies: 'loopback', login: parseRate('1000/min'), public: parseRate('6000/min'), user: parseRate('6000/min') });
  api = await memoryApi({ console: true, limits });
  base = await api.app.listen({ host: '127.0.0.1', port: 0 });
  alice = api.loginAs('alice@example.com', 'Alice');
  bob = api.loginAs('bob@example.com', 'Bob');
});
after(async () => {
  await api.app.close();
});

describe('the page', () => {
  test('/ leads to the dashboard; the page and its assets carry the strict CSP and are served by the daemon alone', async () => {
    const root = await call('GET', '/');
    assert.equal(root.status, 302);
    assert.equal(root.headers.get('location'), '/dashboard/');

    const page = await call('GET', '/dashboard/');
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type')!, /^text\/html/);
    assert.equal(page.headers.get('content-security-policy'), DASHBOARD_CSP);
    // The policy itself: only this origin, nothing inline, no framing, no form targets.
    const csp = Object.fromEntries(DASHBOARD_CSP.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v.join(' ')]));
    assert.equal(csp['default-src'], "'none'");
    assert.equal(csp['script-src'], "'self'");
    assert.equal(csp['style-src'], "'self'");
    assert.equal(csp['connect-src'], "'self'");
    assert.equal(csp['frame-ancestors'], "'none'");
    assert.equal(csp['form-action'], "'none'");
    assert.equal(csp['base-uri'], "'none'");
    assert.ok(!/unsafe|data:|https?:|\*/.test(DASHBOARD_CSP), DASHBOARD_CSP);
    assert.equal(page.headers.get('x-frame-options'), 'DENY');
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(page.headers.get('cache-control'), 'no-store');

    const html = page.text;
    // Nothing inline for the CSP to block, nothing fetched from elsewhere.
    assert.ok(!/<script(?![^>]*\bsrc=)[^>]*>/i.test(html), 'no inline <script>');
    assert.ok(!/<style\b/i.test(html), 'no <style>');
    assert.ok(!/\sstyle=/i.test(html), 'no style attributes');
    assert.ok(!/\son[a-z]+=/i.test(html), 'no inline event handlers');
    const refs = [...html.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    assert.ok(refs.length >= 3);
    for (const ref of refs) assert.ok(ref.startsWith('/') || ref.startsWith('#'), `only this origin: ${ref}`);
    for (const asset of refs.filter((r) => r.startsWith('/dashboard/assets/'))) {
      const a = await call('GET', asset);
      assert.equal(a.status, 200, asset);
      assert.equal(a.headers.get('content-security-policy'), DASHBOARD_CSP, asset);
      assert.equal(a.headers.get('x-content-type-options'), 'nosniff', asset);
      assert.match(a.headers.get('content-type')!, asset.endsWith('.css') ? /^text\/css/ : /^text\/javascript/);
      assert.ok(!/https?:\/\/(?!localhost)/.test(a.text.replace(/https?:\/\/\)?/g, '')), `${asset} names no external URL`);
    }
    const missing = await call('GET', '/dashboard/assets/constructor');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.code, 'not_found');
  });

  test('every form control has a label and every row action names its VM', async () => {
    const html = (await call('GET', '/dashboard/')).text;
    const inputs = [...html.matchAll(/<input\b[^>]*\bid="([^"]+)"/g)].map((m) => m[1]!);
    assert.ok(inputs.length >= 6);
    for (const id of inputs) assert.match(html, new RegExp(`<label for="${id}"`), `label for #${id}`);
    assert.match(html, /role="status" aria-live="polite"/);
    assert.match(html, /<html lang="en">/);
    const app = (await call('GET', '/dashboard/assets/app.js')).text;
    for (const verb of ['Start', 'Stop', 'Restart', 'Destroy']) assert.match(app, new RegExp(`'${verb} ' \\+ name`), verb);
  });
});

describe('sessions', () => {
  test('a pasted user token buys a session token of its own, in an HttpOnly SameSite=Strict cookie, never in the answer', async () => {
    const s = await session(alice.token);
    assert.match(s.setCookie, /^fcm_session=fcm_[A-Za-z0-9_-]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    assert.notEqual(s.value, alice.token, 'the session has its own token');
    assert.ok(!JSON.stringify(s.body).includes(s.value) && !JSON.stringify(s.body).includes(alice.token));
    assert.equal(s.body.user.email, 'alice@example.com');
    assert.match(s.body.csrfToken, /^[A-Za-z0-9_-]{43}$/);
    const tokens = await call('GET', '/v1/tokens', { cookie: s.cookie });
    assert.equal(tokens.status, 200);
    assert.ok(tokens.body.tokens.some((t: any) => /^dashboard session alice@example.com/.test(t.description)));
    // It expires no later than the token that bought it.
    const mine = tokens.body.tokens.find((t: any) => /^dashboard session/.test(t.description));
    const pasted = tokens.body.tokens.find((t: any) => /fcm login \(test\)/.test(t.description));
    assert.ok(Date.parse(mine.expiresAt) <= Date.parse(pasted.expiresAt));
    const who = await call('GET', '/v1/auth/session', { cookie: s.cookie });
    assert.equal(who.status, 200);
    assert.equal(who.body.csrfToken, s.csrf);
    assert.equal(who.headers.get('cache-control'), 'no-store');
    // With a bearer header instead, there is no CSRF token to give.
    const bearer = await call('GET', '/v1/auth/session', { headers: alice.headers });
    assert.equal(bearer.body.csrfToken, null);
  });

  test('bad or missing tokens start no session; cross-site sign-ins are refused', async () => {
    const bad = await call('POST', '/v1/auth/session', { body: { token: 'fcm_notavalidtokennotavalidtoken' } });
    assert.equal(bad.status, 401);
    assert.deepEqual(bad.headers.getSetCookie(), []);
    const cross = await call('POST', '/v1/auth/session', { body: { token: alice.token }, headers: { 'sec-fetch-site': 'cross-site' } });
    assert.equal(cross.status, 403);
    assert.equal(cross.body.code, 'csrf_failed');
    assert.deepEqual(cross.headers.getSetCookie(), []);
    const noCookie = await call('GET', '/v1/vms');
    assert.equal(noCookie.status, 401);
  });

  test('over HTTPS (a trusted proxy says so) the cookie is __Host- and Secure, and the plain name is not read there', async () => {
    const https = { 'x-forwarded-proto': 'https' };
    const s = await session(alice.token, https);
    assert.match(s.setCookie, /^__Host-fcm_session=fcm_[^;]+; Path=\/; HttpOnly; SameSite=Strict; Secure; Max-Age=\d+$/);
    assert.equal((await call('GET', '/v1/vms', { cookie: s.cookie, headers: https })).status, 200);
    const plain = await session(alice.token);
    assert.equal((await call('GET', '/v1/vms', { cookie: plain.cookie, headers: https })).status, 401, 'fcm_session is not read over HTTPS');
    assert.equal((await call('GET', '/v1/vms', { cookie: s.cookie })).status, 401, '__Host-fcm_session is not read over HTTP');
  });

  test('signing out revokes the session token and clears the cookie; the pasted token keeps working', async () => {
    const s = await session(alice.token);
    const noCsrf = await call('DELETE', '/v1/auth/session', { cookie: s.cookie });
    assert.equal(noCsrf.status, 403, 'sign-out is a change too');
    const out = await call('DELETE', '/v1/auth/session', { cookie: s.cookie, csrf: s.csrf });
    assert.equal(out.status, 204);
    assert.match(out.headers.getSetCookie()[0]!, /^fcm_session=; Path=\/; HttpOnly; SameSite=Strict; Max-Age=0$/);
    assert.equal((await call('GET', '/v1/vms', { cookie: s.cookie })).status, 401);
    assert.equal((await call('GET', '/v1/vms', { headers: alice.headers })).status, 200);
  });

  test('the admin token pasted is kept as it is; signing out leaves it valid', async () => {
    const s = await session(api.admin);
    assert.equal(s.value, api.admin);
    assert.equal(s.body.user.admin, true);
    assert.doesNotMatch(s.setCookie, /Max-Age/, 'the admin token does not expire: a browser-session cookie');
    assert.equal((await call('DELETE', '/v1/auth/session', { cookie: s.cookie, csrf: s.csrf })).status, 204);
    assert.equal((await call('GET', '/v1/vms', { headers: api.auth })).status, 200);
  });
});

describe('CSRF', () => {
  test('a cookie-authenticated change needs the session\'s own X-FCM-CSRF; without it nothing happens', async () => {
    const s = await session(alice.token);
    const other = await session(bob.token);
    const none = await call('POST', '/v1/vms', { cookie: s.cookie, body: { name: 'csrf-none' } });
    assert.equal(none.status, 403);
    assert.equal(none.body.code, 'csrf_failed');
    const wrong = await call('POST', '/v1/vms', { cookie: s.cookie, csrf: 'x'.repeat(43), body: { name: 'csrf-wrong' } });
    assert.equal(wrong.status, 403);
    const bobs = await call('POST', '/v1/vms', { cookie: s.cookie, csrf: other.csrf, body: { name: 'csrf-bobs' } });
    assert.equal(bobs.status, 403, "another session's token does not fit");
    const cross = await call('POST', '/v1/vms', { cookie: s.cookie, csrf: s.csrf, body: { name: 'csrf-cross' }, headers: { 'sec-fetch-site': 'cross-site' } });
    assert.equal(cross.status, 403, 'cross-site, even with the token');
    const sibling = await call('GET', '/v1/vms', { cookie: s.cookie, headers: { 'sec-fetch-site': 'same-site' } });
    assert.equal(sibling.status, 403, 'a sibling app under the same site cannot read through the session either');
    const list = await call('GET', '/v1/vms', { headers: alice.headers });
    assert.deepEqual(list.body.vms.filter((v: any) => v.name.startsWith('csrf-')), [], 'no VM was made by a refused request');

    const ok = await call('POST', '/v1/vms', { cookie: s.cookie, csrf: s.csrf, body: { name: 'csrf-ok' }, headers: { 'sec-fetch-site': 'same-origin' } });
    assert.equal(ok.status, 201, ok.text);
    // Every kind of change on the way: PATCH, POST, DELETE.
    assert.equal((await call('PATCH', '/v1/vms/csrf-ok/env', { cookie: s.cookie, body: { set: { A: '1' } } })).status, 403);
    assert.equal((await call('POST', '/v1/vms/csrf-ok/console/tickets', { cookie: s.cookie })).status, 403);
    assert.equal((await call('DELETE', '/v1/vms/csrf-ok', { cookie: s.cookie })).status, 403);
    assert.equal((await call('GET', '/v1/vms/csrf-ok', { headers: alice.headers })).status, 200, 'still there');
    assert.equal((await call('DELETE', '/v1/vms/csrf-ok', { cookie: s.cookie, csrf: s.csrf })).status, 204);
  });

  test('a bearer header needs no CSRF token (browsers never add it by themselves), and wins over a cookie', async () => {
    const bobS = await session(bob.token);
    const r = await call('POST', '/v1/vms', { headers: alice.headers, cookie: bobS.cookie, body: { name: 'bearer-made' } });
    assert.equal(r.status, 201);
    assert.equal((await call('GET', '/v1/vms/bearer-made', { cookie: bobS.cookie })).status, 404, "it is alice's, not bob's");
    assert.equal((await call('DELETE', '/v1/vms/bearer-made', { headers: alice.headers })).status, 204);
  });

  test('every operation that changes anything refuses the cookie without the token (derived from the spec)', async () => {
    const s = await session(alice.token);
    const ops: { method: string; path: string; id: string }[] = [];
    for (const [path, item] of Object.entries<any>(spec.paths)) {
      for (const m of ['post', 'put', 'patch', 'delete']) {
        const op = item[m];
        if (!op || (op.security && op.security.length === 0)) continue;
        ops.push({ method: m.toUpperCase(), path: path.replace(/\{[^}]+\}/g, (p) => (p === '{version}' ? '1' : p === '{domain}' ? 'www.example.com' : 'x1')), id: op.operationId });
      }
    }
    assert.ok(ops.length >= 15, `${ops.length} operations`);
    for (const o of ops) {
      const r = await call(o.method, o.path, { cookie: s.cookie, body: {} });
      assert.equal(r.status, 403, `${o.id}: ${r.text}`);
      assert.equal(r.body.code, 'csrf_failed', o.id);
    }
  });
});

describe('isolation through the dashboard', () => {
  test("one user's session never sees or touches another's VMs; an admin's sees all", async () => {
    const a = await session(alice.token);
    const b = await session(bob.token);
    assert.equal((await call('POST', '/v1/vms', { cookie: a.cookie, csrf: a.csrf, body: { name: 'alice-app' } })).status, 201);
    assert.equal((await call('POST', '/v1/vms', { cookie: b.cookie, csrf: b.csrf, body: { name: 'bob-app' } })).status, 201);
    const bobList = await call('GET', '/v1/vms', { cookie: b.cookie });
    assert.deepEqual(bobList.body.vms.map((v: any) => v.name), ['bob-app']);
    const aliceList = await call('GET', '/v1/vms', { cookie: a.cookie });
    assert.deepEqual(aliceList.body.vms.map((v: any) => v.name), ['alice-app']);
    for (const [m, p, body] of [
      ['GET', '/v1/vms/alice-app'],
      ['GET', '/v1/vms/alice-app/releases'],
      ['GET', '/v1/vms/alice-app/env'],
      ['GET', '/v1/vms/alice-app/logs'],
      ['POST', '/v1/vms/alice-app/stop'],
      ['POST', '/v1/vms/alice-app/restart'],
      ['PATCH', '/v1/vms/alice-app/env', { set: { STOLEN: '1' } }],
      ['POST', '/v1/vms/alice-app/console/tickets'],
      ['POST', '/v1/vms/alice-app/rollback', {}],
      ['DELETE', '/v1/vms/alice-app'],
    ] as [string, string, unknown?][]) {
      const r = await call(m, p, { cookie: b.cookie, csrf: b.csrf, ...(body ? { body } : {}) });
      assert.equal(r.status, 404, `${m} ${p}: ${r.text}`);
      assert.equal(r.body.code, 'vm_not_found', `${m} ${p}`);
    }
    const still = await call('GET', '/v1/vms/alice-app', { cookie: a.cookie });
    assert.equal(still.body.state, 'running');
    assert.deepEqual((await call('GET', '/v1/vms/alice-app/env', { cookie: a.cookie })).body.vars, {});
    const admin = await session(api.admin);
    const all = (await call('GET', '/v1/vms', { cookie: admin.cookie })).body.vms.map((v: any) => v.name);
    assert.ok(all.includes('alice-app') && all.includes('bob-app'));
  });

  test('the session cookie never opens a console WebSocket (tickets only), even for the owner', async () => {
    const a = await session(alice.token);
    assert.equal((await call('POST', '/v1/vms', { cookie: a.cookie, csrf: a.csrf, body: { name: 'alice-con' } })).status, 201);
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/vms/alice-con/console`, { headers: { cookie: a.cookie } });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => {
        ws.close();
        reject(new Error('opened with the cookie'));
      });
      ws.on('error', () => {});
    });
    assert.equal(status, 401);
    // The dashboard's way: a ticket (a change: CSRF), for the console page.
    const t = await call('POST', '/v1/vms/alice-con/console/tickets', { cookie: a.cookie, csrf: a.csrf });
    assert.equal(t.status, 201);
    assert.match(t.body.webUrl, /^\/console\/alice-con#ticket=/);
  });
});
