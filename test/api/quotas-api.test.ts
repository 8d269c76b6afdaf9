/**
 * Quotas over the real HTTP layer: a user creating past a limit gets
 * `quota_exceeded` with the `limit` member (typed in openapi.yaml, checked by
 * response validation); the quota endpoints (read your own, admins change
 * anyone's); whoami carries the quota; host capacity is `insufficient_capacity`.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { memoryApi } from '../helpers/memory-api.js';
import { DEFAULT_QUOTAS } from '../helpers/memory-service.js';

let api: Awaited<ReturnType<typeof memoryApi>>;
before(async () => {
  api = await memoryApi({ host: { memoryMib: 8192, vcpus: 64 } });
});
after(async () => {
  await api.app.close();
  await api.h.service.close();
});

const call = (method: string, url: string, headers: Record<string, string>, payload?: unknown) =>
  api.app.inject({ method: method as 'GET', url, headers, ...(payload !== undefined ? { payload: payload as object } : {}) });

test('a user past a limit gets quota_exceeded naming the limit, its value and the usage; admins raise it', async () => {
  const alice = api.loginAs('alice@example.com');
  api.h.quotaStore.set(alice.user.id, { vms: 2 });
  for (const n of ['q1', 'q2']) assert.equal((await call('POST', '/v1/vms', alice.headers, { name: n, memoryMib: 256 })).statusCode, 201);
  const res = await call('POST', '/v1/vms', alice.headers, { name: 'q3', memoryMib: 256 });
  assert.equal(res.statusCode, 429);
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  const p = res.json();
  assert.equal(p.code, 'quota_exceeded');
  assert.deepEqual(p.limit, { name: 'vms', value: 2, usage: 2, requested: 1, unit: 'VMs' });
  assert.match(p.detail, /limit of 2 VMs/);

  // She may read her quota (by `me`, id or email), not change it, and not read anyone else's.
  const mine = await call('GET', '/v1/users/me/quota', alice.headers);
  assert.equal(mine.statusCode, 200);
  assert.deepEqual([mine.json().user, mine.json().limits.vms, mine.json().usage.vms, mine.json().usage.memoryMib], [alice.user.id, 2, 2, 512]);
  assert.deepEqual(mine.json().overrides, { vms: 2 });
  assert.equal((await call('GET', `/v1/users/${alice.user.id}/quota`, alice.headers)).statusCode, 200);
  assert.equal((await call('GET', '/v1/users/alice%40example.com/quota', alice.headers)).statusCode, 200);
  assert.equal((await call('PATCH', '/v1/users/me/quota', alice.headers, { vms: 100 })).json().code, 'forbidden');
  const bob = api.loginAs('bob@example.com');
  assert.equal((await call('GET', '/v1/users/alice%40example.com/quota', bob.headers)).json().code, 'not_found');
  assert.equal((await call('GET', `/v1/users/${alice.user.id}/quota`, bob.headers)).json().code, 'not_found');
  assert.equal((await call('GET', '/v1/users/admin/quota', bob.headers)).json().code, 'not_found');

  // The admin raises her limit by email; then resets it to the default.
  const raised = await call('PATCH', '/v1/users/alice%40example.com/quota', api.auth, { vms: 3, memoryMib: 20480 });
  assert.equal(raised.statusCode, 200);
  assert.deepEqual([raised.json().limits.vms, raised.json().limits.memoryMib], [3, 20480]);
  assert.equal((await call('POST', '/v1/vms', alice.headers, { name: 'q3', memoryMib: 256 })).statusCode, 201);
  const reset = await call('PATCH', `/v1/users/${alice.user.id}/quota`, api.auth, { reset: ['vms', 'memoryMib'] });
  assert.deepEqual(reset.json().overrides, {});
  assert.equal(reset.json().limits.vms, DEFAULT_QUOTAS.vms);
  assert.equal((await call('PATCH', '/v1/users/nobody%40example.com/quota', api.auth, { vms: 1 })).json().code, 'not_found');
  assert.equal((await call('PATCH', '/v1/users/me/quota', api.auth, { vms: 1 })).json().code, 'validation_failed', 'admins have no limits');
  assert.equal((await call('PATCH', '/v1/users/me/quota', api.auth, { vms: -1 })).json().code, 'validation_failed');
  for (const n of ['q1', 'q2', 'q3']) await call('DELETE', `/v1/vms/${n}`, alice.headers);
});

test('whoami shows the caller\'s quota: usage against each limit; the admin token is unlimited', async () => {
  const carol = api.loginAs('alice@example.com');
  await call('POST', '/v1/vms', carol.headers, { name: 'w1', vcpus: 2, memoryMib: 512 });
  const w = (await call('GET', '/v1/auth/whoami', carol.headers)).json();
  assert.equal(w.user.email, 'alice@example.com');
  assert.equal(w.quota.unlimited, false);
  assert.deepEqual([w.quota.usage.vms, w.quota.usage.vcpus, w.quota.usage.memoryMib, w.quota.limits.vcpus], [1, 2, 512, DEFAULT_QUOTAS.vcpus]);
  const admin = (await call('GET', '/v1/auth/whoami', api.auth)).json();
  assert.equal(admin.quota.unlimited, true);
  assert.equal(admin.quota.limits.memoryMib, null);
  await call('DELETE', '/v1/vms/w1', carol.headers);
});

test('a create the host cannot hold is insufficient_capacity (503) with the host limit, for the admin too', async () => {
  const res = await call('POST', '/v1/vms', api.auth, { name: 'huge', memoryMib: 16384 });
  assert.equal(res.statusCode, 503);
  const p = res.json();
  assert.equal(p.code, 'insufficient_capacity');
  assert.deepEqual(p.limit, { name: 'memoryMib', value: 8192, usage: 0, requested: 16384, unit: 'MiB' });
  assert.equal((await call('GET', '/v1/vms/huge', api.auth)).statusCode, 404);
});

test('config vars past the per-app limit are refused with the limit member', async () => {
  const dave = api.loginAs('bob@example.com');
  api.h.quotaStore.set(dave.user.id, { configVarsPerApp: 2 });
  assert.equal((await call('POST', '/v1/vms', dave.headers, { name: 'envy', memoryMib: 256 })).statusCode, 201);
  assert.equal((await call('PATCH', '/v1/vms/envy/env', dave.headers, { set: { A: '1', B: '2' } })).statusCode, 200);
  const res = await call('PATCH', '/v1/vms/envy/env', dave.headers, { set: { C: '3' } });
  assert.equal(res.json().code, 'quota_exceeded');
  assert.deepEqual(res.json().limit, { name: 'configVarsPerApp', value: 2, usage: 2, requested: 1, unit: 'vars' });
  await call('DELETE', '/v1/vms/envy', dave.headers);
});
