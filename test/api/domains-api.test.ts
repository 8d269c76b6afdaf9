/**
 * Custom domains over the real HTTP layer, played by a squatter (Mallory =
 * bob@) and the domain's owner (alice@): claims are pending and unrouted,
 * a claim never blocks the owner, verification needs the owner's own TXT
 * token, a verified domain cannot be taken, reserved names cannot be
 * claimed, and pending claims are capped per user. DNS is the in-memory
 * twin here; test/host/domains.test.ts runs a real DNS server and Caddy.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { memoryApi } from '../helpers/memory-api.js';

let api: Awaited<ReturnType<typeof memoryApi>>;
before(async () => {
  api = await memoryApi();
});
after(async () => {
  await api.app.close();
  await api.h.service.close();
});

const call = (method: string, url: string, headers: Record<string, string>, payload?: unknown) =>
  api.app.inject({ method: method as 'GET', url, headers, ...(payload !== undefined ? { payload: payload as object } : {}) });

test('a squatter\'s claim stays pending and unrouted; the owner verifies with her own TXT token; the squatter cannot take it after', async () => {
  const alice = api.loginAs('alice@example.com');
  const mallory = api.loginAs('bob@example.com');
  // Mallory claims the name first.
  const m = await call('POST', '/v1/vms', mallory.headers, { name: 'squat', memoryMib: 256, domains: ['shop.example.com'] });
  assert.equal(m.statusCode, 201, m.body);
  assert.deepEqual([m.json().domains, m.json().pendingDomains], [['shop.example.com'], ['shop.example.com']]);
  assert.deepEqual(api.h.store.get('squat')!.verifiedDomains, [], 'nothing routed for a claim');
  // Alice's claim is not blocked by it.
  const a = await call('POST', '/v1/vms', alice.headers, { name: 'shop', memoryMib: 256 });
  assert.equal(a.statusCode, 201);
  const claimed = await call('PATCH', '/v1/vms/shop', alice.headers, { domains: ['shop.example.com'] });
  assert.equal(claimed.statusCode, 200, claimed.body);
  assert.deepEqual(claimed.json().pendingDomains, ['shop.example.com']);

  // Each sees the record to create: a token of their own.
  const la = (await call('GET', '/v1/vms/shop/domains', alice.headers)).json().domains;
  const lm = (await call('GET', '/v1/vms/squat/domains', mallory.headers)).json().domains;
  assert.equal(la[0].recordName, '_fcm-challenge.shop.example.com');
  assert.deepEqual([la[0].status, la[0].recordType], ['pending', 'TXT']);
  assert.match(la[0].recordValue, /^fcm-[A-Za-z0-9_-]{32}$/);
  assert.notEqual(la[0].recordValue, lm[0].recordValue, 'tokens differ per user');
  assert.equal((await call('GET', '/v1/vms/shop/domains', mallory.headers)).json().code, 'vm_not_found');

  // No record yet: not verified, with what to do.
  const none = await call('POST', '/v1/vms/squat/domains/shop.example.com/verify', mallory.headers);
  assert.equal(none.statusCode, 422);
  assert.equal(none.json().code, 'domain_not_verified');
  assert.match(none.json().detail, /No TXT record at _fcm-challenge\.shop\.example\.com\. Create it with the value fcm-/);

  // The domain's owner publishes HER token. Mallory still cannot verify.
  api.txt.records.set('_fcm-challenge.shop.example.com', ['v=spf1 -all', la[0].recordValue]);
  const wrong = await call('POST', '/v1/vms/squat/domains/shop.example.com/verify', mallory.headers);
  assert.equal(wrong.json().code, 'domain_not_verified');
  assert.match(wrong.json().detail, /has 2 value\(s\), none of them this VM owner's token/);
  const ok = await call('POST', '/v1/vms/shop/domains/shop.example.com/verify', alice.headers);
  assert.equal(ok.statusCode, 200, ok.body);
  assert.deepEqual(ok.json(), { ...la[0], status: 'verified' });
  assert.deepEqual(api.h.store.get('shop')!.verifiedDomains, ['shop.example.com']);
  assert.deepEqual((await call('GET', '/v1/vms/shop', alice.headers)).json().pendingDomains, []);

  // Verified: nobody else can verify it (even with the right record) or claim it anew.
  api.txt.records.set('_fcm-challenge.shop.example.com', [lm[0].recordValue]);
  const taken = await call('POST', '/v1/vms/squat/domains/shop.example.com/verify', mallory.headers);
  assert.equal(taken.json().code, 'domain_taken');
  assert.equal((await call('POST', '/v1/vms', mallory.headers, { name: 'squat2', memoryMib: 256, domains: ['shop.example.com'] })).json().code, 'domain_taken');
  // Verifying again is idempotent (no lookup needed); the verification survives other updates.
  assert.equal((await call('POST', '/v1/vms/shop/domains/shop.example.com/verify', alice.headers)).json().status, 'verified');
  assert.deepEqual((await call('PATCH', '/v1/vms/shop', alice.headers, { domains: ['shop.example.com', 'www.example.com'] })).json().pendingDomains, ['www.example.com']);
  // A domain not claimed on that VM cannot be verified there.
  assert.equal((await call('POST', '/v1/vms/shop/domains/other.example.com/verify', alice.headers)).json().code, 'not_found');
  for (const [n, who] of [['squat', mallory], ['shop', alice]] as const) await call('DELETE', `/v1/vms/${n}`, who.headers);
});

test('the daemon\'s own host name and anything under the VM base domain cannot be claimed', async () => {
  const alice = api.loginAs('alice@example.com');
  for (const d of ['fcm.example.net', 'sslip.io', 'other-app.64-34-93-45.sslip.io', 'x.1-2-3-4.sslip.io']) {
    const r = await call('POST', '/v1/vms', alice.headers, { name: 'res', memoryMib: 256, domains: [d] });
    assert.equal(r.json().code, 'validation_failed', `${d}: ${r.body}`);
    assert.equal(r.json().errors[0].path, '/body/domains');
  }
  assert.equal((await call('GET', '/v1/vms/res', alice.headers)).statusCode, 404);
});

test('pending claims are capped per user (hundreds of bogus domains cannot be queued); verified ones do not count', async () => {
  const mallory = api.loginAs('bob@example.com');
  api.h.quotaStore.set(mallory.user.id, { pendingDomains: 3 });
  const many = Array.from({ length: 20 }, (_, i) => `bogus${i}.example.org`);
  const r = await call('POST', '/v1/vms', mallory.headers, { name: 'bogus', memoryMib: 256, domains: many });
  assert.equal(r.json().code, 'quota_exceeded');
  assert.deepEqual(r.json().limit, { name: 'pendingDomains', value: 3, usage: 0, requested: 20, unit: 'domains' });
  assert.equal((await call('GET', '/v1/vms/bogus', mallory.headers)).statusCode, 404, 'nothing created');
  assert.equal((await call('POST', '/v1/vms', mallory.headers, { name: 'bogus', memoryMib: 256, domains: many.slice(0, 3) })).statusCode, 201);
  const more = await call('PATCH', '/v1/vms/bogus', mallory.headers, { domains: many.slice(0, 4) });
  assert.deepEqual(more.json().limit, { name: 'pendingDomains', value: 3, usage: 3, requested: 1, unit: 'domains' });
  // Verify one: it no longer counts, so another may be claimed.
  const token = (await call('GET', '/v1/vms/bogus/domains', mallory.headers)).json().domains[0].recordValue;
  api.txt.records.set('_fcm-challenge.bogus0.example.org', [token]);
  assert.equal((await call('POST', '/v1/vms/bogus/domains/bogus0.example.org/verify', mallory.headers)).statusCode, 200);
  assert.equal((await call('PATCH', '/v1/vms/bogus', mallory.headers, { domains: many.slice(0, 4) })).statusCode, 200);
  assert.equal((await call('GET', '/v1/users/me/quota', mallory.headers)).json().usage.pendingDomains, 3);
  await call('DELETE', '/v1/vms/bogus', mallory.headers);
});

test('a DNS failure is reported as such, not as a missing record', async () => {
  const alice = api.loginAs('alice@example.com');
  await call('POST', '/v1/vms', alice.headers, { name: 'dnsfail', memoryMib: 256, domains: ['dns.example.com'] });
  api.txt.fail = 'ETIMEOUT';
  try {
    const r = await call('POST', '/v1/vms/dnsfail/domains/dns.example.com/verify', alice.headers);
    assert.equal(r.json().code, 'domain_not_verified');
    assert.match(r.json().detail, /Could not look up TXT _fcm-challenge\.dns\.example\.com \(ETIMEOUT\)/);
  } finally {
    api.txt.fail = null;
  }
  await call('DELETE', '/v1/vms/dnsfail', alice.headers);
});
