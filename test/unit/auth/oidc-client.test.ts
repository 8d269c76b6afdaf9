/**
 * The OIDC driver (daemon/drivers/oidc-client.ts, on openid-client) against a
 * scripted issuer behind its injected fetch: what the real provider in
 * test/e2e/login.test.ts cannot show — Google's `verification_url` spelling,
 * client_secret_post when that is all an issuer offers, refusals of a
 * mismatched issuer or a plain-http one off loopback.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OidcClient, OidcError } from '../../../daemon/drivers/oidc-client.js';

const ISSUER = 'https://accounts.example.test';

interface Seen {
  url: string;
  auth: string | null;
  body: URLSearchParams;
}

function issuer(o: { meta?: Record<string, unknown>; device?: Record<string, unknown>; token?: { status: number; body: Record<string, unknown> } } = {}) {
  const seen: Seen[] = [];
  const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input instanceof Request ? input.url : input);
    const body = new URLSearchParams(typeof init?.body === 'string' ? init.body : init?.body instanceof URLSearchParams ? init.body.toString() : '');
    const headers = new Headers(init?.headers);
    seen.push({ url, auth: headers.get('authorization'), body });
    assert.equal(init?.redirect, 'error', 'redirects are refused');
    if (url === `${ISSUER}/.well-known/openid-configuration`) {
      return json({
        issuer: ISSUER,
        authorization_endpoint: `${ISSUER}/auth`,
        token_endpoint: `${ISSUER}/token`,
        jwks_uri: `${ISSUER}/jwks`,
        device_authorization_endpoint: `${ISSUER}/device`,
        code_challenge_methods_supported: ['S256'],
        ...o.meta,
      });
    }
    if (url === `${ISSUER}/device`) return json(o.device ?? {});
    if (url === `${ISSUER}/token`) return json(o.token?.body ?? {}, o.token?.status ?? 400);
    return json({ error: 'not_found' }, 404);
  }) as typeof globalThis.fetch;
  return { fetch, seen };
}

test('the authorization URL carries PKCE (S256), state, nonce, scope and the client id', async () => {
  const { fetch } = issuer();
  const c = new OidcClient({ issuer: ISSUER, clientId: 'web-client', clientSecret: 's3cret', fetch });
  const u = new URL(await c.authorizationUrl({ redirectUri: 'https://fcm.example/v1/auth/callback', state: 'st', nonce: 'nn', codeChallenge: 'ch' }));
  assert.equal(u.origin + u.pathname, `${ISSUER}/auth`);
  const q = Object.fromEntries(u.searchParams);
  assert.deepEqual(q, {
    client_id: 'web-client', response_type: 'code', redirect_uri: 'https://fcm.example/v1/auth/callback', scope: 'openid email profile',
    state: 'st', nonce: 'nn', code_challenge: 'ch', code_challenge_method: 'S256',
  });
  assert.ok(!u.toString().includes('s3cret'), 'never the secret');
  assert.deepEqual(await c.capabilities(), { browser: true, device: true });
});

test("device flow: Google's verification_url is read as verification_uri; the device client authenticates with Basic", async () => {
  const { fetch, seen } = issuer({ device: { device_code: 'dev-code-123456', user_code: 'ABCD-EFGH', verification_url: 'https://www.google.com/device', expires_in: 1800, interval: 5 } });
  const c = new OidcClient({ issuer: ISSUER, clientId: 'web-client', clientSecret: 'web-secret', deviceClientId: 'tv-client', deviceClientSecret: 'tv-secret', fetch });
  const d = await c.startDevice();
  assert.deepEqual(d, { deviceCode: 'dev-code-123456', userCode: 'ABCD-EFGH', verificationUri: 'https://www.google.com/device', verificationUriComplete: null, intervalSec: 5, expiresInSec: 1800 });
  const req = seen.find((s) => s.url === `${ISSUER}/device`)!;
  // RFC 6749 §2.3.1: id and secret are form-urlencoded, then joined and base64-encoded.
  const [id, secret] = Buffer.from(req.auth!.replace(/^Basic /, ''), 'base64').toString().split(':').map(decodeURIComponent);
  assert.deepEqual([id, secret], ['tv-client', 'tv-secret']);
  assert.equal(req.body.get('scope'), 'openid email profile');
  assert.equal(req.body.get('client_secret'), null);
});

test('device polls map the OAuth errors: pending, slow_down, denied, expired; others are OidcErrors without descriptions', async () => {
  for (const [error, status] of [['authorization_pending', 'pending'], ['slow_down', 'slow_down'], ['access_denied', 'denied'], ['expired_token', 'expired']] as const) {
    const { fetch, seen } = issuer({ token: { status: 400, body: { error } } });
    const c = new OidcClient({ issuer: ISSUER, clientId: 'web-client', clientSecret: null, fetch });
    assert.deepEqual(await c.pollDevice('dev-code-123456'), { status });
    const req = seen.find((s) => s.url === `${ISSUER}/token`)!;
    assert.equal(req.body.get('grant_type'), 'urn:ietf:params:oauth:grant-type:device_code');
    assert.equal(req.body.get('client_id'), 'web-client', 'a public client names itself');
    assert.equal(req.auth, null);
  }
  const { fetch } = issuer({ token: { status: 400, body: { error: 'invalid_grant', error_description: 'echo <script>' } } });
  const c = new OidcClient({ issuer: ISSUER, clientId: 'web-client', clientSecret: null, fetch });
  await assert.rejects(c.pollDevice('dev-code-123456'), (e: Error) => e instanceof OidcError && /token endpoint answered 400 \(invalid_grant\)/.test(e.message) && !e.message.includes('script'));
});

test('client_secret_post when the issuer offers only that', async () => {
  const { fetch, seen } = issuer({ meta: { token_endpoint_auth_methods_supported: ['client_secret_post'] }, token: { status: 400, body: { error: 'authorization_pending' } } });
  const c = new OidcClient({ issuer: ISSUER, clientId: 'web-client', clientSecret: 'post-secret', fetch });
  await c.pollDevice('dev-code-123456');
  const req = seen.find((s) => s.url === `${ISSUER}/token`)!;
  assert.equal(req.auth, null);
  assert.equal(req.body.get('client_id'), 'web-client');
  assert.equal(req.body.get('client_secret'), 'post-secret');
});

test('refused: a discovery document naming another issuer, an issuer without S256, plain http off loopback', async () => {
  const other = issuer({ meta: { issuer: 'https://evil.example.test' } });
  await assert.rejects(new OidcClient({ issuer: ISSUER, clientId: 'c', clientSecret: null, fetch: other.fetch }).capabilities(), OidcError);
  const plain = issuer({ meta: { code_challenge_methods_supported: ['plain'] } });
  await assert.rejects(new OidcClient({ issuer: ISSUER, clientId: 'c', clientSecret: null, fetch: plain.fetch }).capabilities(), /does not support PKCE with S256/);
  const { fetch, seen } = issuer();
  await assert.rejects(new OidcClient({ issuer: 'http://accounts.example.test', clientId: 'c', clientSecret: null, fetch }).capabilities(), /must be https/);
  assert.equal(seen.length, 0, 'nothing was fetched');
});
