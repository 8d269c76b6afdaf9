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
