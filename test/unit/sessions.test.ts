/** Revocation's bookkeeping: which principals still stand (TokenAuthenticator.stillValid) and LiveSessions ending the others. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LoginPolicy } from '../../daemon/core/access.js';
import { AccountService } from '../../daemon/core/accounts.js';
import { LiveSessions, REVOKED_REASON } from '../../daemon/core/sessions.js';
import { hashToken, newToken, TokenAuthenticator } from '../../daemon/core/tokens.js';
import { MemoryUserStore } from '../../daemon/drivers/memory/memory-user-store.js';
import { MemoryTokenStore } from '../../daemon/drivers/memory/memory-token-store.js';

function rig() {
  let now = Date.parse('2030-01-01T00:00:00Z');
  const clock = { now: () => now, advance: (ms: number) => (now += ms) };
  const users = new MemoryUserStore();
  const tokens = new MemoryTokenStore();
  const policy = new LoginPolicy({ emails: ['alice@example.com', 'bob@example.com'], domains: [], adminEmails: ['root@example.com'] });
  let sessions: LiveSessions;
  const accounts = new AccountService({ users, tokens, policy, tokenTtlMs: 3_600_000, now: clock.now, onRevoked: () => sessions.recheck() });
  const auth = new TokenAuthenticator(tokens, (id) => accounts.principalFor(id), clock.now);
  sessions = new LiveSessions({ valid: (p) => auth.stillValid(p) });
  const login = (email: string) => accounts.mint(users.upsert({ issuer: 'i', subject: email, email, name: null }, 'now'), 'test').token;
  const admin = newToken();
  tokens.insert({ id: 'tok_admin0000000', hash: hashToken(admin), userId: 'admin', kind: 'admin', description: null, createdAt: 'now', expiresAt: null });
  return { clock, policy, accounts, auth, sessions, login, admin, tokens };
}

test('stillValid: a principal stands while its token is unrevoked and unexpired and its user allowed, and not less of an admin', () => {
  const r = rig();
  const alice = r.auth.authenticate(r.login('alice@example.com'))!;
  const root = r.auth.authenticate(r.login('root@example.com'))!;
  const admin = r.auth.authenticate(r.admin)!;
  for (const p of [alice, root, admin]) assert.equal(r.auth.stillValid(p), true);
  assert.equal(r.auth.stillValid({ ...alice, tokenId: undefined }), false, 'no token: not ours to vouch for');
  assert.equal(r.auth.stillValid({ ...alice, tokenId: root.tokenId! }), false, 'someone else\'s token id');
  assert.equal(r.auth.stillValid({ ...alice, admin: true }), false, 'more of an admin than the user is now');
  r.policy.update({ emails: ['alice@example.com', 'bob@example.com', 'root@example.com'], domains: [], adminEmails: [] });
  assert.equal(r.auth.stillValid(root), false, 'demoted');
  assert.equal(r.auth.stillValid({ ...root, admin: false }), true, 'as a user it still stands');
  r.accounts.revoke(admin, alice.tokenId!);
  assert.equal(r.auth.stillValid(alice), false, 'revoked');
  const bob = r.auth.authenticate(r.login('bob@example.com'))!;
  r.clock.advance(3_600_000);
  assert.equal(r.auth.stillValid(bob), false, 'expired');
  assert.equal(r.auth.stillValid(admin), true, 'the admin token does not expire');
});

test('sessions: a revocation ends exactly the sessions of principals that no longer stand; a sweep catches expiry, which no event announces', () => {
  const r = rig();
  const a = r.auth.authenticate(r.login('alice@example.com'))!;
  const a2 = r.auth.authenticate(r.login('alice@example.com'))!;
  r.clock.advance(1_800_000);
  const b = r.auth.authenticate(r.login('bob@example.com'))!; // minted later: expires later
  const ended: string[] = [];
  const reg = (name: string, p: typeof a) => r.sessions.open(p, (why) => ended.push(`${name}: ${why}`));
  reg('a-console', a);
  reg('a-logs', a);
  const doneA2 = reg('a2-console', a2);
  reg('b-console', b);
  r.accounts.revoke(r.auth.authenticate(r.admin)!, a.tokenId!);
  assert.deepEqual(ended, [`a-console: ${REVOKED_REASON}`, `a-logs: ${REVOKED_REASON}`]);
  assert.equal(r.sessions.size, 2);
  doneA2(); // a session that ended by itself is forgotten
  assert.equal(r.sessions.size, 1);
  r.clock.advance(1_800_000); // a and a2 expired now, b not yet
  assert.equal(r.sessions.recheck(), 0);
  r.clock.advance(1_800_000);
  assert.equal(r.sessions.recheck(), 1, 'b expired: the sweep ends it');
  assert.equal(ended.at(-1), `b-console: ${REVOKED_REASON}`);
});
