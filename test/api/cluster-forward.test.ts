/**
 * Any host answers any call: two API servers (hosts a and b) over shared
 * stores, listening on loopback. Operations on a VM that b runs, sent to a
 * with the user's token, are forwarded to b signed with the cluster key — the
 * user's token never leaves a — and b's services act on it. A forged or foreign signature is refused; an unreachable owner is
 * reported, not waited on.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { MemoryHostRegistry } from '../../daemon/drivers/memory/memory-host-registry.js';
import { MemoryVmStore } from '../../daemon/drivers/memory/memory-store.js';
import { MemoryTokenStore } from '../../daemon/drivers/memory/memory-token-store.js';
import { MemoryUserStore } from '../../daemon/drivers/memory/memory-user-store.js';
import { MemoryEnvStore } from '../../daemon/drivers/memory/memory-deploys.js';
import { parseSubnet } from '../../daemon/core/planners/network-plan.js';
import { signForward } from '../../daemon/core/cluster-auth.js';
import { memoryApi, type ClusterShared } from '../helpers/memory-api.js';

describe('forwarding between hosts', () => {
  let clock = Date.now();
  const shared: ClusterShared = {
    rows: new MemoryVmStore(parseSubnet('172.16.0.0/24')),
    registry: new MemoryHostRegistry(() => clock),
    tokens: new MemoryTokenStore(),
    users: new MemoryUserStore(),
    env: new MemoryEnvStore(),
  };
  const key = randomBytes(32);
  let a: Awaited<ReturnType<typeof memoryApi>>;
  let b: Awaited<ReturnType<typeof memoryApi>>;
  let aUrl = '';
  const seenOnB: { url: string; authorization?: string; cluster?: string }[] = [];

  before(async () => {
    a = await memoryApi({ cluster: { hostId: 'a', key, shared }, snapshots: true });
    b = await memoryApi({ cluster: { hostId: 'b', key, shared }, snapshots: true });
    b.app.addHook('onRequest', async (req) => {
      seenOnB.push({ url: req.url, authorization: req.headers.authorization, cluster: req.headers['x-fcm-cluster'] as string | undefined });
    });
    aUrl = await a.app.listen({ host: '127.0.0.1', port: 0 });
    const bUrl = await b.app.listen({ host: '127.0.0.1', port: 0 });
    a.cluster.setApiUrl(aUrl);
    b.cluster.setApiUrl(bUrl);
  });
  after(async () => {
    await a.app.close();
    await b.app.close();
  });

  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await fetch(`${aUrl}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };

  test('stop, start and wait on a VM of b, sent to a, run on b; the user token never reaches b', async () => {
    const alice = a.loginAs('alice@example.com');
    const made = await b.app.inject({ method: 'POST', url: '/v1/vms', headers: alice.headers, payload: { name: 'on-b', memoryMib: 256, host: 'b' } });
    assert.equal(made.statusCode, 201, made.body);
    assert.equal(made.json().host, 'b');
    const vmId = made.json().id;
    const running = await call('GET', '/v1/vms/on-b/wait?state=running&timeout=5', alice.token);
    assert.deepEqual([running.status, running.body.state], [200, 'running']);
    seenOnB.length = 0;
    const stopped = await call('POST', '/v1/vms/on-b/stop', alice.token, {});
    assert.deepEqual([stopped.status, stopped.body.state, stopped.body.host], [200, 'stopped', 'b'], JSON.stringify(stopped.body));
    assert.ok(!b.h.hypervisor.machines.has(vmId) && !a.h.hypervisor.machines.has(vmId));
    assert.deepEqual(seenOnB.map((s) => [s.url, s.authorization, typeof s.cluster]), [['/v1/vms/on-b/stop', undefined, 'string']], 'b got the cluster signature, not the token');
    const started = await call('POST', '/v1/vms/on-b/start', alice.token, {});
    assert.equal(started.status, 200, JSON.stringify(started.body));
    assert.equal((await call('GET', '/v1/vms/on-b/wait?state=running&timeout=5', alice.token)).body.state, 'running');
    assert.ok(b.h.hypervisor.machines.has(vmId) && !a.h.hypervisor.machines.has(vmId), 'started on its own host only');
    // Reads are answered by a itself, from the shared rows.
    seenOnB.length = 0;
    assert.equal((await call('GET', '/v1/vms/on-b', alice.token)).body.state, 'running');
    assert.deepEqual(seenOnB, []);
  });

  test("a fork of b's VM asked through a is made on b (from b's memory and disks), the parent's pause passed back", async () => {
    const alice = a.loginAs('alice@example.com');
    seenOnB.length = 0;
    const res = await fetch(`${aUrl}/v1/vms/on-b/fork`, { method: 'POST', headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'on-b-fork' }) });
    const body = (await res.json()) as { host: string; id: string; name: string };
    assert.deepEqual([res.status, body.name, body.host], [201, 'on-b-fork', 'b'], JSON.stringify(body));
    assert.match(res.headers.get('fcm-parent-paused-ms') ?? '', /^\d+(\.\d+)?$/);
    assert.deepEqual(seenOnB.map((s) => [s.url, s.authorization, typeof s.cluster]), [['/v1/vms/on-b/fork', undefined, 'string']], 'b got the cluster signature, not the token');
    assert.ok(b.h.hypervisor.machines.has(body.id) && !a.h.hypervisor.machines.has(body.id), 'the fork runs on b');
    assert.equal((await call('DELETE', '/v1/vms/on-b-fork', alice.token)).status, 204);
  });

  test("b still decides who may: another user's request through a is refused as if asked on b", async () => {
    const bob = a.loginAs('bob@example.com');
    const res = await call('POST', '/v1/vms/on-b/stop', bob.token, {});
    assert.deepEqual([res.status, res.body.code], [404, 'vm_not_found']);
    assert.equal(b.h.store.get('on-b')!.state, 'running');
  });

  test('a forged, stale or foreign signature is refused with 401, and a signed request is not forwarded again', async () => {
    const bUrl = shared.registry.list().find((h) => h.id === 'b')!.apiUrl;
    const alice = { userId: a.loginAs('alice@example.com').user.id, email: 'alice@example.com', admin: false };
    const send = (header: string) => fetch(`${bUrl}/v1/vms/on-b/stop`, { method: 'POST', headers: { 'x-fcm-cluster': header, 'content-type': 'application/json' }, body: '{}' });
    for (const bad of [
      signForward(randomBytes(32), 'a', alice, 'POST', '/v1/vms/on-b/stop'),
      signForward(key, 'a', alice, 'POST', '/v1/vms/on-b/start'),
      signForward(key, 'a', alice, 'POST', '/v1/vms/on-b/stop', Date.now() - 120_000),
      'v1.a.1.x.00',
    ]) {
      const res = await send(bad);
      assert.equal(res.status, 401, bad);
      assert.equal(((await res.json()) as { code: string }).code, 'unauthorized');
    }
    // A request signed for b on a VM b does not run is answered there (wrong_host), never bounced on.
    const onA = await a.app.inject({ method: 'POST', url: '/v1/vms', headers: a.loginAs('alice@example.com').headers, payload: { name: 'on-a', memoryMib: 256, host: 'a' } });
    assert.equal(onA.statusCode, 201);
    const res = await fetch(`${bUrl}/v1/vms/on-a/stop`, { method: 'POST', headers: { 'x-fcm-cluster': signForward(key, 'a', alice, 'POST', '/v1/vms/on-a/stop'), 'content-type': 'application/json' }, body: '{}' });
    assert.equal(res.status, 421);
  });

  test('creates through a are placed: spread by free memory over both hosts, or pinned with host; a pin to a missing host is refused; quotas span the hosts', async () => {
    const alice = a.loginAs('alice@example.com');
    // a runs on-a, b runs on-b (256 MiB each): a tie on free memory and VM count goes to the lower id, then b has more room.
    const p1 = await call('POST', '/v1/vms', alice.token, { name: 'p1', memoryMib: 512 });
    const p2 = await call('POST', '/v1/vms', alice.token, { name: 'p2', memoryMib: 512 });
    assert.deepEqual([p1.status, p1.body.host, p2.status, p2.body.host], [201, 'a', 201, 'b'], JSON.stringify([p1.body, p2.body]));
    assert.ok(b.h.hypervisor.machines.has(p2.body.id) && !a.h.hypervisor.machines.has(p2.body.id), 'p2 boots on b');
    const pinned = await call('POST', '/v1/vms', alice.token, { name: 'p3', memoryMib: 256, host: 'b' });
    assert.deepEqual([pinned.status, pinned.body.host], [201, 'b']);
    const nowhere = await call('POST', '/v1/vms', alice.token, { name: 'p4', memoryMib: 256, host: 'zz' });
    assert.deepEqual([nowhere.status, nowhere.body.code], [400, 'validation_failed']);
    // Quotas count the user's VMs on every host: 256 + 256 + 512 + 512 + 256 MiB over a and b.
    const huge = await call('POST', '/v1/vms', alice.token, { name: 'p5', memoryMib: 16384 });
    assert.deepEqual([huge.status, huge.body.code, huge.body.limit.usage], [429, 'quota_exceeded', 1792], JSON.stringify(huge.body));
    assert.equal(shared.rows.get('p5'), undefined);
  });

  test('once the owner is unreachable its VMs answer host_unreachable at once, and nothing is touched; the owner may still delete one (its row)', async () => {
    const alice = a.loginAs('alice@example.com');
    clock += 60_000;
    shared.registry.renew('a', (a.cluster.hosts as unknown as { instance: string }).instance, 15_000);
    const res = await call('POST', '/v1/vms/on-b/stop', alice.token, {});
    assert.deepEqual([res.status, res.body.code], [503, 'host_unreachable']);
    assert.equal((await call('GET', '/v1/vms/on-b', alice.token)).body.state, 'unreachable');
    assert.ok(shared.rows.get('on-b'));
    const del = await call('DELETE', '/v1/vms/on-b', alice.token);
    assert.equal(del.status, 204);
    assert.equal(shared.rows.get('on-b'), undefined);
  });
});
