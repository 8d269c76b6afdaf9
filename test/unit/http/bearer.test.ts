import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bearerToken } from '../../../daemon/http/bearer.js';

test('bearerToken: the token of a Bearer header, scheme case-insensitive; anything else is null', () => {
  assert.equal(bearerToken('Bearer fcm_abc'), 'fcm_abc');
  assert.equal(bearerToken('bearer   fcm_abc  '), 'fcm_abc');
  assert.equal(bearerToken('BEARER\tfcm_abc'), 'fcm_abc');
  for (const h of [undefined, '', 'Bearer', 'Bearer ', 'Bearer a b', 'Basic Zm9vOmJhcg==', 'Token fcm_abc', ' Bearer fcm_abc', 'Bearerfcm_abc']) {
    assert.equal(bearerToken(h), null, JSON.stringify(h));
  }
});
