/**
 * The cluster signature (core/cluster-auth.ts): what it vouches for, and
 * what it refuses. The token or SSH key the caller used travels inside the
 * signed principal, so the owning host re-checks revocation itself.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { signForward, verifyForward } from '../../daemon/core/cluster-auth.js';

const key = randomBytes(32);
const now = 1_700_000_000_000;

test('the principal round-trips with its token or key id; nothing else is taken from the header', () => {
  const withToken = signForward(key, 'a', { userId: 'usr_1', email: 'x@example.com', admin: false, tokenId: 'tok_1' }, 'GET', '/v1/vms/x/console', now);
  assert.deepEqual(verifyForward(key, withToken, 'GET', '/v1/vms/x/console', now), { from: 'a', principal: { userId: 'usr_1', email: 'x@example.com', admin: false, tokenId: 'tok_1' } });
  const withKey = signForward(key, 'a', { userId: 'usr_1', email: null, admin: false, keyId: 'key_0123456789ab' }, 'GET', '/git/x.git/ssh-tunnel?service=git-receive-pack', now);
  assert.deepEqual(verifyForward(key, withKey, 'GET', '/git/x.git/ssh-tunnel?service=git-receive-pack', now)?.principal, { userId: 'usr_1', email: null, admin: false, keyId: 'key_0123456789ab' });
  const bare = signForward(key, 'a', { userId: 'usr_1', email: null, admin: false }, 'GET', '/p', now);
  assert.deepEqual(verifyForward(key, bare, 'GET', '/p', now)?.principal, { userId: 'usr_1', email: null, admin: false });
});

test('another key, method, path, a stale time or an edited principal is refused', () => {
  const p = { userId: 'usr_1', email: null, admin: false, tokenId: 'tok_1' };
  const h = signForward(key, 'a', p, 'GET', '/v1/vms/x/console', now);
  assert.equal(verifyForward(randomBytes(32), h, 'GET', '/v1/vms/x/console', now), null);
  assert.equal(verifyForward(key, h, 'POST', '/v1/vms/x/console', now), null);
  assert.equal(verifyForward(key, h, 'GET', '/v1/vms/y/console', now), null);
  assert.equal(verifyForward(key, h, 'GET', '/v1/vms/x/console', now + 61_000), null);
  // Another token id in the principal part, the MAC unchanged.
  const parts = h.split('.');
  const edited = Buffer.from(JSON.stringify({ ...p, tokenId: 'tok_2' })).toString('base64url');
  assert.equal(verifyForward(key, [parts[0], parts[1], parts[2], edited, parts[4]].join('.'), 'GET', '/v1/vms/x/console', now), null);
});
