/** The allowlist policy (default deny) and the login configuration keys. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../../daemon/config.js';
import { canAccess, LoginPolicy, owned } from '../../../daemon/core/access.js';
import { FcmError } from '../../../daemon/core/errors.js';

const id = (email: string, over: { emailVerified?: boolean; hd?: string } = {}) => ({ email, emailVerified: true, ...over });

test('default: nobody gets in, not even with a verified account', () => {
  const p = new LoginPolicy({ emails: [], domains: [], adminEmails: [] });
  assert.equal(p.empty, true);
  for (const e of ['alice@gmail.com', 'root@example.com']) assert.equal(p.decide(id(e)).allowed, false);
  assert.equal(p.allows('alice@gmail.com'), false);
});

test('emails, exact domains (no subdomains, no suffix tricks), admins; case-insensitive; verified only', () => {
  const p = new LoginPolicy({ emails: ['alice@gmail.com'], domains: ['example.com'], adminEmails: ['root@ops.example'] });
  assert.deepEqual(p.decide(id('Alice@GMail.com')), { allowed: true, admin: false });
  assert.deepEqual(p.decide(id('bob@example.com')), { allowed: true, admin: false });
  assert.deepEqual(p.decide(id('root@ops.example')), { allowed: true, admin: true });
  for (const e of ['bob@sub.example.com', 'bob@example.com.evil.test', 'bob@notexample.com', 'example.com@evil.test', 'alice@gmail.com.evil.test']) {
    assert.equal(p.decide(id(e)).allowed, false, e);
  }
  assert.equal(p.decide(id('alice@gmail.com', { emailVerified: false })).allowed, false);
  assert.equal(p.isAdmin('ROOT@ops.example'), true);
  assert.equal(p.isAdmin(null), false);
});

test('Google: a domain rule needs the hosted-domain (hd) claim of that domain', () => {
  const p = new LoginPolicy({ emails: ['alice@example.com'], domains: ['example.com'], adminEmails: [] }, true);
  assert.equal(p.decide(id('bob@example.com')).allowed, false, 'a consumer Google account with a verified example.com address');
  assert.equal(p.decide(id('bob@example.com', { hd: 'other.com' })).allowed, false);
  assert.equal(p.decide(id('bob@example.com', { hd: 'example.com' })).allowed, true);
  assert.equal(p.decide(id('alice@example.com')).allowed, true, 'listed emails need no hd');
});

test('ownership: owners and admins; others see "not found"', () => {
  const a = { userId: 'usr_a', email: 'a@x.y', admin: false };
  const b = { userId: 'usr_b', email: 'b@x.y', admin: false };
  const root = { userId: 'admin', email: null, admin: true };
  const vm = { owner: 'usr_a', name: 'web' };
  assert.equal(canAccess(a, 'usr_a'), true);
  assert.equal(canAccess(b, 'usr_a'), false);
  assert.equal(canAccess(root, 'usr_a'), true);
  const nf = () => new FcmError('vm_not_found', 'No VM named "web".');
  assert.equal(owned(a, vm, nf), vm);
  assert.throws(() => owned(b, vm, nf), (e) => e instanceof FcmError && e.code === 'vm_not_found');
  assert.throws(() => owned(a, undefined, nf), (e) => e instanceof FcmError && e.code === 'vm_not_found');
});

test('config: login off without a client id; Google by default; lists; secrets from files; https issuers only', () => {
  const base = { FCM_STATE_DIR: '/var/lib/fcm' };
  const off = loadConfig(base);
  assert.equal(off.oidc, null);
  assert.deepEqual(off.access, { emails: [], domains: [], adminEmails: [] });
  assert.equal(off.tokenTtlDays, 30);

  const dir = mkdtempSync(join(tmpdir(), 'fcm-cfg-'));
  writeFileSync(join(dir, 'secret'), 'from-a-file\n', { mode: 0o600 });
  const on = loadConfig({
    ...base,
    FCM_OIDC_CLIENT_ID: 'id.apps.googleusercontent.com',
    FCM_OIDC_CLIENT_SECRET_FILE: join(dir, 'secret'),
    FCM_ALLOWED_EMAILS: 'Alice@Example.com, bob@example.com',
    FCM_ALLOWED_DOMAINS: 'corp.example',
    FCM_ADMIN_EMAILS: 'root@example.com',
    FCM_TOKEN_TTL_DAYS: '7',
  });
  assert.deepEqual(on.oidc, { issuer: 'https://accounts.google.com', clientId: 'id.apps.googleusercontent.com', clientSecret: 'from-a-file', deviceClientId: null, deviceClientSecret: null });
  assert.deepEqual(on.access, { emails: ['alice@example.com', 'bob@example.com'], domains: ['corp.example'], adminEmails: ['root@example.com'] });
  assert.equal(on.tokenTtlDays, 7);
  assert.ok(Object.isFrozen(on.oidc) && Object.isFrozen(on.access.emails));

  const bad: Record<string, string>[] = [
    { FCM_OIDC_CLIENT_ID: 'x', FCM_OIDC_ISSUER: 'http://idp.example' },
    { FCM_OIDC_CLIENT_ID: 'x', FCM_OIDC_ISSUER: 'not a url' },
    { FCM_OIDC_CLIENT_ID: 'x', FCM_OIDC_CLIENT_SECRET: 's', FCM_OIDC_CLIENT_SECRET_FILE: join(dir, 'secret') },
    { FCM_OIDC_CLIENT_ID: 'x', FCM_OIDC_CLIENT_SECRET_FILE: join(dir, 'missing') },
    { FCM_OIDC_CLIENT_SECRET: 's' },
    { FCM_ALLOWED_EMAILS: 'not-an-email' },
    { FCM_ALLOWED_DOMAINS: '*.example.com' },
    { FCM_TOKEN_TTL_DAYS: '0' },
  ];
  for (const env of bad) assert.throws(() => loadConfig({ ...base, ...env }), ConfigError, JSON.stringify(env));
  assert.equal(loadConfig({ ...base, FCM_OIDC_CLIENT_ID: 'x', FCM_OIDC_ISSUER: 'http://127.0.0.1:9000/' }).oidc!.issuer, 'http://127.0.0.1:9000', 'plain http only on loopback');
});
