/**
 * Tokens are stored as SHA-256 hex of their UTF-8 bytes (core/tokens.ts hashToken): the rows
 * already in a database hold those hashes, so however the hash is computed, it must not change.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashToken } from '../../daemon/core/tokens.js';

test('hashToken is SHA-256 of the UTF-8 bytes, lowercase hex (golden values from sha256sum)', () => {
  assert.equal(hashToken('fcm_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'), '14f198066dab0d68aab3c24fc1b74cdd94fca228639174328d5a44b35fcaa417');
  assert.equal(hashToken('fcm_\u00e9'), '4c788ae0a7e2dd87e042945bfd59f1e02138b3baf56579bbf31d84c0e7d9ea1d');
});

test('TokenAuthenticator: a token hashed once is looked up by the same hash every time; revoked or removed, it is refused on the next request; guesses are not kept', async () => {
  const { MemoryTokenStore } = await import('../../daemon/drivers/memory/memory-token-store.js');
  const { TokenAuthenticator, newToken } = await import('../../daemon/core/tokens.js');
  const store = new MemoryTokenStore();
  const asked: string[] = [];
  const spy = Object.assign(Object.create(store), { findByHash: (h: string) => (asked.push(h), store.findByHash(h)) });
  const auth = new TokenAuthenticator(spy);
  const token = newToken();
  store.insert({ id: 'tok_000000000001', hash: hashToken(token), userId: 'admin', kind: 'admin', description: null, createdAt: new Date().toISOString(), expiresAt: null });
  for (let i = 0; i < 3; i++) assert.equal(auth.authenticate(token)?.userId, 'admin');
  assert.deepEqual(asked, Array(3).fill(hashToken(token)), 'looked up by its hash every time');
  store.revoke('tok_000000000001');
  assert.equal(auth.authenticate(token), null, 'revoked: refused at once');

  // Many tokens (past what is kept): each still authenticates and is refused once revoked.
  const many = Array.from({ length: 1100 }, (_, i) => ({ id: `tok_${String(i + 2).padStart(12, '0')}`, token: newToken() }));
  for (const t of many) store.insert({ id: t.id, hash: hashToken(t.token), userId: 'admin', kind: 'admin', description: null, createdAt: new Date().toISOString(), expiresAt: null });
  for (const t of many) assert.equal(auth.authenticate(t.token)?.userId, 'admin');
  for (const t of many.slice(0, 5)) store.revoke(t.id);
  for (const [i, t] of many.entries()) assert.equal(auth.authenticate(t.token)?.userId ?? null, i < 5 ? null : 'admin');

  // Unknown tokens and malformed ones: refused, every time.
  const guess = newToken();
  for (let i = 0; i < 2; i++) {
    assert.equal(auth.authenticate(guess), null);
    assert.equal(auth.authenticate('fcm_short'), null);
  }
});
