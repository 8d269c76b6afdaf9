/**
 * The deploy operations through the real HTTP layer (spec validation of
 * requests and responses, problem+json) over the in-memory services.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { memoryApi } from '../helpers/memory-api.js';
import { ALICE } from '../helpers/memory-service.js';
import { makeTar } from '../helpers/tar.js';
import { newKeyPair, registerKey, signChallenge } from '../helpers/key-proof.js';

let api: Awaited<ReturnType<typeof memoryApi>>;
let alice: { headers: Record<string, string>; user: { id: string } };
let bob: { headers: Record<string, string> };
before(async () => {
  api = await memoryApi();
  alice = api.loginAs('alice@example.com');
  bob = api.loginAs('bob@example.com');
});
after(async () => {
  await api.app.close();
  await api.h.service.close();
});

const call = async (method: string, url: string, who: { headers: Record<string, string> }, payload?: object) => {
  const r = await api.app.inject({ method: method as 'GET', url, headers: who.headers, ...(payload ? { payload } : {}) });
  let body: any = r.body;
  try {
    body = JSON.parse(r.body);
  } catch {
    /* text */
  }
  return { status: r.statusCode, body, headers: r.headers };
};

async function appWithReleases(name: string) {
  assert.equal((await call('POST', '/v1/vms', alice, { name })).status, 201);
  await call('GET', `/v1/vms/${name}/wait?state=running&timeout=5`, alice);
  const vm = (await call('GET', `/v1/vms/${name}`, alice)).body as { id: string };
  const p = { ...ALICE, userId: alice.user.id };
  for (const [n, files] of [[1, {}], [2, { FAIL_BUILD: '' }], [3, { 'v3.txt': '' }]] as const) {
    await api.deploys.deploys.deploy(p, vm.id, { commit: String(n).repeat(40), ref: 'refs/heads/main' }, Readable.from([makeTar({ 'package.json': '{}', Procfile: 'web: node index.js\n', ...files })]), () => {});
  }
  return vm;
}

test('releases: list (no logs) and one (with its log), shapes per openapi.yaml', async () => {
  await appWithReleases('rel-api');
  const list = await call('GET', '/v1/vms/rel-api/releases', alice);
  assert.equal(list.status, 200);
  assert.deepEqual(list.body.releases.map((r: { version: number; status: string }) => [r.version, r.status]), [[3, 'succeeded'], [2, 'failed'], [1, 'superseded']]);
  assert.ok(list.body.releases.every((r: object) => !('log' in r)));
  const one = await call('GET', '/v1/vms/rel-api/releases/2', alice);
  assert.equal(one.status, 200);
  assert.equal(one.body.kind, 'deploy');
  assert.match(one.body.log, /Installing dependencies failed/);
  assert.equal((await call('GET', '/v1/vms/rel-api/releases/9', alice)).body.code, 'release_not_found');
  assert.equal((await call('GET', '/v1/vms/rel-api/releases', bob)).body.code, 'vm_not_found');
  assert.equal((await call('GET', '/v1/vms/rel-api/releases/0', alice)).body.code, 'validation_failed');
});

test('rollback: default and by version; problems by code', async () => {
  await appWithReleases('rb-api');
  const rb = await call('POST', '/v1/vms/rb-api/rollback', alice);
  assert.equal(rb.status, 200, JSON.stringify(rb.body));
  assert.deepEqual([rb.body.version, rb.body.kind, rb.body.rollbackOf, rb.body.status, rb.body.buildpack], [4, 'rollback', 1, 'succeeded', 'node']);
  assert.equal((await call('POST', '/v1/vms/rb-api/rollback', alice, { version: 3 })).body.rollbackOf, 3);
  const failed = await call('POST', '/v1/vms/rb-api/rollback', alice, { version: 2 });
  assert.deepEqual([failed.status, failed.body.code, failed.body.errors[0].path], [400, 'validation_failed', '/body/version']);
  assert.equal((await call('POST', '/v1/vms/rb-api/rollback', alice, { version: 99 })).body.code, 'release_not_found');
  assert.equal((await call('POST', '/v1/vms', alice, { name: 'fresh' })).status, 201);
  await call('GET', '/v1/vms/fresh/wait?state=running&timeout=5', alice);
  const none = await call('POST', '/v1/vms/fresh/rollback', alice);
  assert.deepEqual([none.status, none.body.code], [409, 'no_previous_release']);
  await call('POST', '/v1/vms/rb-api/stop', alice, { force: true });
  assert.equal((await call('POST', '/v1/vms/rb-api/rollback', alice)).body.code, 'invalid_state');
});

test('env: get and patch; validation from the spec and the service', async () => {
  assert.equal((await call('POST', '/v1/vms', alice, { name: 'env-api' })).status, 201);
  await call('GET', '/v1/vms/env-api/wait?state=running&timeout=5', alice);
  assert.deepEqual((await call('GET', '/v1/vms/env-api/env', alice)).body, { vars: {}, release: null });
  const set = await call('PATCH', '/v1/vms/env-api/env', alice, { set: { A: '1', B: 'x y' } });
  assert.deepEqual(set.body, { vars: { A: '1', B: 'x y' }, release: 1 });
  const unset = await call('PATCH', '/v1/vms/env-api/env', alice, { unset: ['A'] });
  assert.deepEqual(unset.body, { vars: { B: 'x y' }, release: 2 });
  for (const [body, path] of [
    [{}, '/body'],
    [{ set: { '1A': 'x' } }, '/body/set'],
    [{ set: { A: 1 } }, '/body/set/A'],
    [{ unset: 'A' }, '/body/unset'],
    [{ set: { PORT: '80' } }, '/body/set/PORT'],
  ] as [object, string][]) {
    const r = await call('PATCH', '/v1/vms/env-api/env', alice, body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.body.code, 'validation_failed');
    assert.ok(r.body.errors.some((e: { path: string }) => e.path.startsWith(path)), `${JSON.stringify(body)} → ${JSON.stringify(r.body.errors)}`);
  }
  assert.equal((await call('PATCH', '/v1/vms/env-api/env', bob, { set: { A: '1' } })).body.code, 'vm_not_found');
  assert.equal((await call('GET', '/v1/vms/env-api/env', bob)).body.code, 'vm_not_found');
});

test('logs: text/plain from the guest; a stopped VM is invalid_state', async () => {
  await appWithReleases('logs-api');
  const r = await api.app.inject({ method: 'GET', url: '/v1/vms/logs-api/logs?lines=2', headers: alice.headers });
  assert.equal(r.statusCode, 200);
  assert.match(String(r.headers['content-type']), /^text\/plain/);
  assert.equal(r.body, 'web.1: started v1\nweb.1: started v3\n');
  await call('POST', '/v1/vms/logs-api/stop', alice, { force: true });
  const stopped = await call('GET', '/v1/vms/logs-api/logs', alice);
  assert.deepEqual([stopped.status, stopped.body.code], [409, 'invalid_state']);
});

test('keys: challenge (201), add with proof (201), list, key_taken (409), key_invalid (400), key_proof_failed (400), remove; strangers see none', async () => {
  const key = await newKeyPair('ed25519', 'alice@laptop');
  const line = key.publicKey;
  const ch = await call('POST', '/v1/keys/challenges', alice, { publicKey: line });
  assert.equal(ch.status, 201, JSON.stringify(ch.body));
  assert.deepEqual(Object.keys(ch.body).sort(), ['challenge', 'expiresAt', 'fingerprint', 'namespace']);
  assert.equal(ch.body.namespace, 'fcm-key-proof');
  const unsigned = await call('POST', '/v1/keys', alice, { publicKey: line });
  assert.deepEqual([unsigned.status, unsigned.body.code], [400, 'validation_failed'], 'old clients: told what is missing');
  assert.ok(unsigned.body.errors.some((e: { path: string }) => e.path === '/body/signature'));
  const wrong = await call('POST', '/v1/keys', alice, { publicKey: line, challenge: ch.body.challenge, signature: await signChallenge((await newKeyPair()).keyPath, ch.body.challenge) });
  assert.deepEqual([wrong.status, wrong.body.code], [400, 'key_proof_failed']);
  const add = await registerKey(api.app, alice.headers, key);
  assert.equal(add.status, 201, JSON.stringify(add.body));
  assert.deepEqual(Object.keys(add.body).sort(), ['createdAt', 'fingerprint', 'id', 'name', 'type']);
  const taken = await call('POST', '/v1/keys/challenges', bob, { publicKey: line });
  assert.deepEqual([taken.status, taken.body.code], [409, 'key_taken']);
  const bad = await call('POST', '/v1/keys/challenges', alice, { publicKey: 'ssh-ed25519 AAAAnotakeyatall' });
  assert.deepEqual([bad.status, bad.body.code], [400, 'key_invalid']);
  assert.equal((await call('GET', '/v1/keys', alice)).body.keys.length, 1);
  assert.equal((await call('GET', '/v1/keys', bob)).body.keys.length, 0);
  assert.equal((await call('DELETE', `/v1/keys/${add.body.id}`, bob)).status, 404);
  assert.equal((await call('DELETE', `/v1/keys/${add.body.id}`, alice)).status, 204);
  assert.equal((await call('GET', '/v1/keys', alice)).body.keys.length, 0);
});

test('no deploy operation answers 501 any more', async () => {
  const { body } = await call('GET', '/v1/vms/nothing/releases', alice);
  assert.notEqual(body.code, 'not_implemented');
});
