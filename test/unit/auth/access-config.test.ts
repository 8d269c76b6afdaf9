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
  assert.equal(p.decideUser({ email: 'alice@gmail.com' }).allowed, false);
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
  assert.deepEqual(p.decideUser({ email: 'ROOT@ops.example' }), { allowed: true, admin: true });
  assert.equal(p.decideUser({ email: null }).allowed, false);
});

test('attacker: look-alike addresses do not match — exact after ASCII lower-casing, non-ASCII refused', () => {
  const p = new LoginPolicy({ emails: ['kate@example.com', 'sam@example.com'], domains: ['corp.example'], adminEmails: ['root@example.com'] });
  // U+212A KELVIN SIGN lower-cases to "k" with String.prototype.toLowerCase; U+017F LATIN SMALL LETTER LONG S upper-cases to "S".
  assert.equal('\u212Aate@example.com'.toLowerCase(), 'kate@example.com', 'the trap this guards against');
  for (const e of ['\u212Aate@example.com', '\u017Fam@example.com', 'kate@exampl\u0435.com', 'r\u043Eot@example.com', 'x@corp.\u212Axample', 'kate@example.com\u200B', 'kate@example.com ']) {
    const d = p.decide(id(e));
    assert.equal(d.allowed, false, JSON.stringify(e));
    assert.equal(p.decideUser({ email: e }).allowed, false, `${JSON.stringify(e)} (a stored user)`);
  }
  assert.match((p.decide(id('\u212Aate@example.com')) as { reason: string }).reason, /not a plain ASCII address/);
  assert.deepEqual(p.decide(id('KATE@Example.COM')), { allowed: true, admin: false }, 'ASCII case does not matter');
  assert.deepEqual(p.decide(id('Root@EXAMPLE.com')), { allowed: true, admin: true });
  // Lists given in code (not through config.ts) are held to the same rule: a non-ASCII entry matches nothing.
  const odd = new LoginPolicy({ emails: ['\u212Aate@example.com'], domains: [], adminEmails: [] });
  assert.equal(odd.decide(id('kate@example.com')).allowed, false);
  assert.equal(odd.empty, true);
});

test('attacker (Google): a consumer account holding a corporate address passes no rule — email, domain or admin', () => {
  const p = new LoginPolicy({ emails: ['alice@corp.example', 'carol@gmail.com'], domains: ['corp.example'], adminEmails: ['boss@corp.example'] }, true);
  // No hd: a consumer Google account whose (once-verified) address is at corp.example.
  for (const e of ['alice@corp.example', 'bob@corp.example', 'boss@corp.example']) {
    const d = p.decide(id(e));
    assert.equal(d.allowed, false, e);
    assert.match((d as { reason: string }).reason, /not an account managed by corp\.example/);
    assert.equal(p.decideUser({ email: e, hd: null }).allowed, false, `${e} with a token from before`);
  }
  // Another Workspace's hd does not vouch for corp.example addresses either.
  assert.equal(p.decide(id('boss@corp.example', { hd: 'evil.example' })).allowed, false);
  assert.equal(p.decide(id('boss@corp.example', { hd: 'sub.corp.example' })).allowed, false);
  // The real Workspace accounts pass, each rule as usual.
  assert.deepEqual(p.decide(id('alice@corp.example', { hd: 'corp.example' })), { allowed: true, admin: false });
  assert.deepEqual(p.decide(id('bob@corp.example', { hd: 'corp.example' })), { allowed: true, admin: false });
  assert.deepEqual(p.decide(id('boss@corp.example', { hd: 'CORP.example' })), { allowed: true, admin: true });
  assert.deepEqual(p.decideUser({ email: 'boss@corp.example', hd: 'corp.example' }), { allowed: true, admin: true });
  // Gmail: Google is authoritative without hd; a gmail.com "hosted domain" does not exist.
  assert.deepEqual(p.decide(id('carol@gmail.com')), { allowed: true, admin: false });
  assert.equal(p.decide(id('carol@gmail.com', { hd: 'gmail.com' })).allowed, false);
  // Other issuers have no hosted-domain notion: the lists alone decide.
  const generic = new LoginPolicy({ emails: ['alice@corp.example'], domains: [], adminEmails: ['boss@corp.example'] });
  assert.deepEqual(generic.decide(id('boss@corp.example')), { allowed: true, admin: true });
});

test('a configuration reload replaces the lists (update)', () => {
  const p = new LoginPolicy({ emails: ['alice@example.com'], domains: [], adminEmails: [] });
  assert.equal(p.decideUser({ email: 'alice@example.com' }).allowed, true);
  p.update({ emails: [], domains: [], adminEmails: ['alice@example.com'] });
  assert.deepEqual(p.decideUser({ email: 'alice@example.com' }), { allowed: true, admin: true });
  p.update({ emails: [], domains: [], adminEmails: [] });
  assert.equal(p.decideUser({ email: 'alice@example.com' }).allowed, false);
  assert.equal(p.empty, true);
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
  assert.deepEqual(on.oidc, { issuer: 'https://accounts.google.com', clientId: 'id.apps.googleusercontent.com', clientSecret: 'from-a-file', deviceClientId: null, deviceClientSecret: null, googleHostedDomains: true });
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
    { FCM_ALLOWED_EMAILS: '\u212Aate@example.com' },
    { FCM_ADMIN_EMAILS: 'r\u043Eot@example.com' },
    { FCM_ALLOWED_DOMAINS: 'b\u00FCcher.example' },
    { FCM_TOKEN_TTL_DAYS: '0' },
  ];
  for (const env of bad) assert.throws(() => loadConfig({ ...base, ...env }), ConfigError, JSON.stringify(env));
  const local = loadConfig({ ...base, FCM_OIDC_CLIENT_ID: 'x', FCM_OIDC_ISSUER: 'http://127.0.0.1:9000/' }).oidc!;
  assert.equal(local.issuer, 'http://127.0.0.1:9000', 'plain http only on loopback');
  assert.equal(local.googleHostedDomains, false, 'the hosted-domain rule is Google\'s');
});
