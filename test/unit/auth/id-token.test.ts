/** The ID token verifier against tokens signed here with jose: only a token from the issuer's key, for us, fresh, with our nonce passes. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { IdTokenError, verifyIdToken } from '../../../daemon/core/id-token.js';

const ISSUER = 'https://issuer.example';
const CLIENT = 'fcm-client';
const NONCE = 'n-0S6_WzA2Mj';

const issuerKey = await generateKeyPair('RS256');
const otherKey = await generateKeyPair('RS256');
const jwks = createLocalJWKSet({ keys: [{ ...(await exportJWK(issuerKey.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] });

const now = Math.floor(Date.now() / 1000);
const base: JWTPayload = {
  iss: ISSUER, sub: '1234567890', aud: CLIENT, iat: now, exp: now + 300, nonce: NONCE,
  email: 'alice@example.com', email_verified: true, name: 'Alice',
};

async function sign(claims: JWTPayload, opts: { key?: typeof issuerKey.privateKey; kid?: string } = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: opts.kid ?? 'k1' }).sign(opts.key ?? issuerKey.privateKey);
}

const verify = (jwt: string, nonce: string | null = NONCE) => verifyIdToken(jwt, { issuer: ISSUER, audience: CLIENT, nonce, keys: jwks });

async function refused(jwt: string, why: RegExp, nonce: string | null = NONCE) {
  await assert.rejects(verify(jwt, nonce), (e: Error) => {
    assert.ok(e instanceof IdTokenError, String(e));
    assert.match(e.message, why);
    assert.ok(!e.message.includes(jwt), 'the error never quotes the token');
    return true;
  });
}

test('a good ID token gives its claims', async () => {
  const c = await verify(await sign(base));
  assert.deepEqual(c, { issuer: ISSUER, subject: '1234567890', email: 'alice@example.com', emailVerified: true, name: 'Alice', hd: undefined });
});

test('forged: signed with a key the issuer does not publish (same kid, or another kid)', async () => {
  await refused(await sign(base, { key: otherKey.privateKey }), /bad signature/);
  await refused(await sign(base, { key: otherKey.privateKey, kid: 'k2' }), /key the issuer does not publish/);
});

test('tampered payload → bad signature', async () => {
  const [h, , s] = (await sign(base)).split('.');
  const p = Buffer.from(JSON.stringify({ ...base, email: 'mallory@example.com' })).toString('base64url');
  await refused(`${h}.${p}.${s}`, /bad signature/);
});

test('expired (beyond the 60 s skew) is refused; within the skew it passes', async () => {
  await refused(await sign({ ...base, iat: now - 3600, exp: now - 120 }), /expired/);
  await verify(await sign({ ...base, iat: now - 3600, exp: now - 30 }));
});

test('no exp at all is refused', async () => {
  const { exp: _e, ...noExp } = base;
  await refused(await sign(noExp), /exp/);
});

test('wrong audience, several audiences without azp, foreign azp', async () => {
  await refused(await sign({ ...base, aud: 'someone-else' }), /claim aud/);
  await refused(await sign({ ...base, aud: [CLIENT, 'other'] }), /several audiences/);
  await refused(await sign({ ...base, azp: 'other' }), /azp/);
  await verify(await sign({ ...base, aud: [CLIENT, 'other'], azp: CLIENT }));
});

test('wrong issuer', async () => {
  await refused(await sign({ ...base, iss: 'https://evil.example' }), /claim iss/);
});

test('wrong or missing nonce; no nonce expected (device flow) accepts any', async () => {
  await refused(await sign({ ...base, nonce: 'another-nonce' }), /nonce/);
  const { nonce: _n, ...noNonce } = base;
  await refused(await sign(noNonce), /nonce/);
  await verify(await sign(noNonce), null);
});

test('alg none and HMAC (the client secret as key) are refused', async () => {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  await refused(`${enc({ alg: 'none' })}.${enc(base)}.`, /algorithm not allowed/);
  const hs = await new SignJWT(base).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(new TextEncoder().encode('the-client-secret-the-client-secret'));
  await refused(hs, /algorithm not allowed/);
});

test('email_verified counts only when it is boolean true', async () => {
  assert.equal((await verify(await sign({ ...base, email_verified: 'true' }))).emailVerified, false);
  assert.equal((await verify(await sign({ ...base, email_verified: false }))).emailVerified, false);
  const { email_verified: _v, ...none } = base;
  assert.equal((await verify(await sign(none))).emailVerified, false);
});

test('garbage is refused as malformed', async () => {
  await refused('not.a.jwt', /malformed/);
});
