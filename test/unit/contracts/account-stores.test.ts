/** Token and user stores: SQLite, PostgreSQL and the in-memory twins pass the same contract. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { TokenRow, TokenStore } from '../../../daemon/core/ports/token-store.js';
import type { UserStore } from '../../../daemon/core/ports/user-store.js';
import { MemoryTokenStore } from '../../../daemon/drivers/memory/memory-token-store.js';
import { MemoryUserStore } from '../../../daemon/drivers/memory/memory-user-store.js';
import { openDb } from '../../../daemon/drivers/sqlite/db.js';
import { SqliteTokenStore } from '../../../daemon/drivers/sqlite/sqlite-token-store.js';
import { SqliteUserStore } from '../../../daemon/drivers/sqlite/sqlite-user-store.js';
import { PgTokenStore, PgUserStore } from '../../../daemon/drivers/postgres/pg-account-stores.js';
import { pgContract } from '../../helpers/postgres.js';

const pg = pgContract();

const impls: [string, () => { tokens: TokenStore; users: UserStore }][] = [
  ['memory', () => ({ tokens: new MemoryTokenStore(), users: new MemoryUserStore() })],
  [
    'sqlite',
    () => {
      const db = openDb(':memory:');
      return { tokens: new SqliteTokenStore(db), users: new SqliteUserStore(db) };
    },
  ],
  [
    'postgres',
    () => {
      const db = pg.db();
      return { tokens: new PgTokenStore(db), users: new PgUserStore(db) };
    },
  ],
];

const row = (id: string, over: Partial<Omit<TokenRow, 'lastUsedAt' | 'revokedAt'>> = {}): Omit<TokenRow, 'lastUsedAt' | 'revokedAt'> => ({
  id, hash: `hash-${id}`, userId: 'usr_1', kind: 'user', description: null, createdAt: '2030-01-01T00:00:00.000Z', expiresAt: null, ...over,
});

for (const [name, make] of impls) {
  describe(`TokenStore and UserStore contract: ${name}`, { skip: name === 'postgres' && pg.skip }, () => {
    if (name === 'postgres') pg.hooks();
    test('tokens: found by hash, listed oldest first per user or all, returned as copies', () => {
      const { tokens } = make();
      tokens.insert(row('tok_b', { createdAt: '2030-01-02T00:00:00.000Z' }));
      tokens.insert(row('tok_a', { createdAt: '2030-01-01T00:00:00.000Z' }));
      tokens.insert(row('tok_c', { userId: 'usr_2', kind: 'admin' }));
      const found: TokenRow = tokens.findByHash('hash-tok_b')!;
      assert.deepEqual(found, { ...row('tok_b', { createdAt: '2030-01-02T00:00:00.000Z' }), lastUsedAt: null, revokedAt: null });
      assert.equal(tokens.findByHash('nope'), undefined);
      assert.deepEqual(tokens.list('usr_1').map((t) => t.id), ['tok_a', 'tok_b']);
      assert.deepEqual(tokens.list(null).map((t) => t.id), ['tok_a', 'tok_c', 'tok_b']);
      Object.assign(found, { revokedAt: 'tampered' });
      assert.equal(tokens.findByHash('hash-tok_b')!.revokedAt, null, 'callers get copies');
    });

    test('tokens: ids and hashes are unique', () => {
      const { tokens } = make();
      tokens.insert(row('tok_a'));
      assert.throws(() => tokens.insert(row('tok_a', { hash: 'other' })));
      assert.throws(() => tokens.insert(row('tok_b', { hash: 'hash-tok_a' })));
      assert.equal(tokens.list(null).length, 1);
    });

    test('tokens: revoke keeps the first revocation time; revokeAdminExcept counts what it revoked', async () => {
      const { tokens } = make();
      tokens.insert(row('tok_u'));
      tokens.insert(row('tok_a1', { kind: 'admin', userId: 'admin' }));
      tokens.insert(row('tok_a2', { kind: 'admin', userId: 'admin' }));
      tokens.insert(row('tok_a3', { kind: 'admin', userId: 'admin' }));
      tokens.revoke('tok_u');
      const first = tokens.findByHash('hash-tok_u')!.revokedAt;
      assert.ok(first);
      await new Promise((r) => setTimeout(r, 5));
      tokens.revoke('tok_u');
      assert.equal(tokens.findByHash('hash-tok_u')!.revokedAt, first, 'revoking twice does not move the time');
      tokens.revoke('tok_missing'); // no-op
      tokens.revoke('tok_a3');
      assert.equal(tokens.revokeAdminExcept('hash-tok_a1'), 1, 'only the still-valid other admin token');
      assert.equal(tokens.findByHash('hash-tok_a1')!.revokedAt, null);
      assert.ok(tokens.findByHash('hash-tok_a2')!.revokedAt);
      assert.equal(tokens.findByHash('hash-tok_u')!.revokedAt, first, 'user tokens are not touched');
    });

    test('users: one row per (issuer, subject); email, name and hd refreshed, id and createdAt kept', () => {
      const { users } = make();
      const a = users.upsert({ issuer: 'https://i', subject: 's1', email: 'a@x', name: 'A' }, '2030-01-01T00:00:00.000Z');
      assert.match(a.id, /^usr_[0-9a-f]{12}$/);
      assert.deepEqual(a, { id: a.id, issuer: 'https://i', subject: 's1', email: 'a@x', name: 'A', hd: null, createdAt: '2030-01-01T00:00:00.000Z', lastLoginAt: '2030-01-01T00:00:00.000Z' });
      const withHd = users.upsert({ issuer: 'https://i', subject: 's1', email: 'a@x', name: 'A', hd: 'corp.example' }, '2030-01-15T00:00:00.000Z');
      assert.equal(withHd.hd, 'corp.example', 'the hosted-domain claim is kept');
      const again = users.upsert({ issuer: 'https://i', subject: 's1', email: 'new@x', name: null }, '2030-02-01T00:00:00.000Z');
      assert.deepEqual(again, { ...a, email: 'new@x', name: null, hd: null, lastLoginAt: '2030-02-01T00:00:00.000Z' }, 'a login without hd clears it');
      const other = users.upsert({ issuer: 'https://other', subject: 's1', email: 'a@x', name: 'A' }, '2030-01-01T00:00:00.000Z');
      assert.notEqual(other.id, a.id, 'the same subject at another issuer is another user');
      assert.deepEqual(users.get(a.id), again);
      assert.equal(users.get('usr_000000000000'), undefined);
    });

    test('users: byEmail finds every account with the email, case-insensitively, oldest first', () => {
      const { users } = make();
      const a = users.upsert({ issuer: 'https://one', subject: 's', email: 'Ann@Example.com', name: null }, '2030-01-01T00:00:00.000Z');
      const b = users.upsert({ issuer: 'https://two', subject: 's', email: 'ann@example.com', name: null }, '2030-01-02T00:00:00.000Z');
      users.upsert({ issuer: 'https://one', subject: 't', email: 'bob@example.com', name: null }, '2030-01-03T00:00:00.000Z');
      assert.deepEqual(users.byEmail('ANN@example.COM').map((u) => u.id), [a.id, b.id]);
      assert.deepEqual(users.byEmail('nobody@example.com'), []);
    });
  });
}

// SQLite keeps found rows while the database is unchanged (sqlite-token-store.ts): a revocation
// must still show on the very next lookup, whoever made it.
describe('SqliteTokenStore: kept rows never outlive a change', () => {
  test('revoked through the same store, through another store on the same connection, and by another process (connection): the next lookup sees it', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'fcm-tokens-'));
    try {
      const db = openDb(join(dir, 'fcm.db'));
      const a = new SqliteTokenStore(db);
      const b = new SqliteTokenStore(db);
      for (const id of ['t1', 't2', 't3']) a.insert(row(id));
      for (const id of ['t1', 't2', 't3']) assert.equal(a.findByHash(`hash-${id}`)?.revokedAt, null);
      assert.deepEqual(a.findByHash('hash-t1'), a.findByHash('hash-t1'));

      a.revoke('t1');
      assert.ok(a.findByHash('hash-t1')?.revokedAt, 'revoked through the same store');

      b.revoke('t2');
      assert.ok(a.findByHash('hash-t2')?.revokedAt, 'revoked through another store on the same connection');

      const other = openDb(join(dir, 'fcm.db'));
      new SqliteTokenStore(other).revoke('t3');
      other.close();
      assert.ok(a.findByHash('hash-t3')?.revokedAt, 'revoked by another connection');

      assert.equal(a.findByHash('hash-nope'), undefined);
      a.insert(row('t4'));
      assert.equal(a.findByHash('hash-t4')?.id, 't4', 'a token added after a miss is found');

      // Inside a transaction (not committed yet: nothing in the -shm header moves): the write shows
      // at once; and what was read inside one that is rolled back is not kept.
      for (const id of ['t5', 't6']) a.insert(row(id));
      for (const id of ['t5', 't6']) assert.equal(a.findByHash(`hash-${id}`)?.revokedAt, null);
      db.transaction(() => {
        b.revoke('t5');
        assert.ok(a.findByHash('hash-t5')?.revokedAt, 'revoked inside an open transaction');
      })();
      assert.ok(a.findByHash('hash-t5')?.revokedAt, 'and after it committed');
      assert.throws(() =>
        db.transaction(() => {
          b.revoke('t6');
          assert.ok(a.findByHash('hash-t6')?.revokedAt);
          throw new Error('roll back');
        })(),
      );
      assert.equal(a.findByHash('hash-t6')?.revokedAt, null, 'rolled back: not revoked, and not kept as revoked');
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
