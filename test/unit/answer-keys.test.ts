/**
 * The kept GET /v1/vms answer (http/answer-cache.ts): its LRU table, and the key listVms gives
 * an answer (routes/vms.ts answerKey), which must change with everything the list is built from
 * — who asks, the rows' version, the hosts' addresses and reachability — and only then.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AnswerCache, answerOf } from '../../daemon/http/answer-cache.js';
import { vmHandlers, type HostsContext } from '../../daemon/http/routes/vms.js';
import type { HandlerContext } from '../../daemon/http/server.js';
import type { VmService } from '../../daemon/core/vm-service.js';

test('AnswerCache keeps the most recently used: a hit moves an answer up, the oldest goes first', () => {
  const c = new AnswerCache(2);
  const [a, b, x] = [answerOf('"a"'), answerOf('"b"'), answerOf('"x"')];
  c.set('a', a);
  c.set('b', b);
  assert.equal(c.get('b'), b);
  assert.equal(c.get('b'), b, 'the newest asked again');
  assert.equal(c.get('a'), a, 'a is now the newest, b the oldest');
  assert.equal(c.get('a'), a);
  c.set('x', x);
  assert.equal(c.size, 2);
  assert.equal(c.get('b'), undefined, 'b went first');
  assert.equal(c.get('a'), a);
  assert.equal(c.get('x'), x);
  c.set('b', b);
  assert.equal(c.get('a'), undefined, 'a was the oldest once x was asked for');
  assert.equal(c.get('missing'), undefined);
});

test('listVms answerKey: equal keys only for the same caller, rows version and hosts', () => {
  let version: number | null = 1;
  let hosts: HostsContext = { unreachable: new Map(), ipOf: new Map([['h1', '192.0.2.1']]) };
  const handlers = vmHandlers({} as VmService, { urlFor: (n) => n, gitUrls: (n) => ({ ssh: n, http: n }), hosts: () => hosts, rowsVersion: () => version });
  const keyOf = (userId: string, admin = false) => handlers.listVms!.answerKey!({ principal: { userId, email: null, admin } } as HandlerContext);
  const k = keyOf('usr_a');
  assert.equal(keyOf('usr_a'), k, 'nothing changed');
  assert.notEqual(keyOf('usr_b'), k, 'another caller');
  assert.notEqual(keyOf('usr_a', true), k, 'the same id as an admin');
  version = 2;
  assert.notEqual(keyOf('usr_a'), k, 'another rows version');
  const k2 = keyOf('usr_a');
  hosts = { unreachable: new Map(), ipOf: new Map([['h1', '192.0.2.9']]) };
  assert.notEqual(keyOf('usr_a'), k2, 'a host moved');
  const k3 = keyOf('usr_a');
  hosts = { unreachable: new Map(), ipOf: new Map([['h1', '192.0.2.9'], ['h2', '192.0.2.2']]) };
  assert.notEqual(keyOf('usr_a'), k3, 'a host joined');
  const k4 = keyOf('usr_a');
  hosts = { unreachable: new Map([['h2', 'lease lapsed']]), ipOf: new Map([['h1', '192.0.2.9'], ['h2', '192.0.2.2']]) };
  assert.notEqual(keyOf('usr_a'), k4, 'a host became unreachable');
  hosts = { unreachable: new Map([['h2', 'lease lapsed']]), ipOf: new Map([['h1', '192.0.2.9'], ['h2', '192.0.2.2']]) };
  assert.equal(keyOf('usr_a'), keyOf('usr_a'), 'equal hosts in new maps: the same key');
  version = null;
  assert.equal(keyOf('usr_a'), null, 'no rows version: built afresh');
});
