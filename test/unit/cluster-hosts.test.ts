/**
 * Hosts of one cluster sharing VM rows: each drives only its own VMs; a
 * VM on another host is never started, stopped, deleted or reconciled here,
 * and shows `unreachable` while its host's lease has lapsed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { isFcmError } from '../../daemon/core/errors.js';
import { HostService, hostUsage } from '../../daemon/core/hosts.js';
import { parseSubnet } from '../../daemon/core/planners/network-plan.js';
import type { HostInfo } from '../../daemon/core/ports/host-registry.js';
import { MemoryHostRegistry } from '../../daemon/drivers/memory/memory-host-registry.js';
import { hostsView } from '../../daemon/http/routes/vms.js';
import { MemoryVmStore } from '../../daemon/drivers/memory/memory-store.js';
import { ALICE, DEFAULTS, ROOT, memoryService } from '../helpers/memory-service.js';
import { memoryApi } from '../helpers/memory-api.js';

const code = (c: string) => (e: unknown) => isFcmError(e) && e.code === c;
const info = (id: string, publicIp: string): HostInfo => ({ id, publicIp, apiUrl: `https://fcm.${id}.test`, vcpus: 2, memoryMib: 4096, diskMib: 50_000, subnetCidr: '172.16.0.0/24' });

/** Two daemons (hosts a and b) over one set of rows, one registry, one clock. */
function twoHosts() {
  let now = 1_000_000;
  const registry = new MemoryHostRegistry(() => now);
  registry.register(info('a', '10.0.0.1'), 'ia', 15_000);
  registry.register(info('b', '10.0.0.2'), 'ib', 15_000);
  const subnet = parseSubnet('172.16.0.0/24');
  const rows = new MemoryVmStore(subnet, 'a');
  const hosts = { get: (id: string) => registry.list().find((h) => h.id === id) };
  const a = memoryService({ store: rows, cluster: { hostId: 'a', hosts }, host: { memoryMib: 2048, vcpus: 4 } });
  const b = memoryService({ store: rows.forHost('b'), cluster: { hostId: 'b', hosts } });
  return { a, b, registry, lapse: (id: string) => ((now += 15_001), registry.renew(id === 'a' ? 'b' : 'a', id === 'a' ? 'ib' : 'ia', 15_000)) };
}

test('each host places its VMs on itself with its own slots; listings and names are the cluster\'s', async () => {
  const { a, b } = twoHosts();
  const va = await a.service.create(ALICE, { ...DEFAULTS, name: 'on-a' });
  const vb = await b.service.create(ALICE, { ...DEFAULTS, name: 'on-b' });
  assert.deepEqual([va.host, vb.host], ['a', 'b']);
  assert.deepEqual([va.ip, vb.ip], ['172.16.0.2', '172.16.0.2'], 'slots are per host (each has its own bridge)');
  assert.deepEqual(a.service.list(ALICE).map((v) => v.name), ['on-a', 'on-b']);
  await assert.rejects(a.service.create(ALICE, { ...DEFAULTS, name: 'on-b' }), code('name_taken'));
  assert.ok(b.hypervisor.machines.has(vb.id) && !a.hypervisor.machines.has(vb.id));
});

test('a VM of another host is never driven here: wrong_host while that host is up, host_unreachable once its lease lapsed', async () => {
  const { a, b, lapse } = twoHosts();
  const vb = await b.service.create(ALICE, { ...DEFAULTS, name: 'on-b' });
  await b.service.wait(ALICE, 'on-b', 'running', 1000);
  for (const op of [
    () => a.service.stop(ALICE, 'on-b', { timeoutMs: 1000, force: false }),
    () => a.service.start(ALICE, 'on-b'),
    () => a.service.restart(ALICE, 'on-b', { timeoutMs: 1000, force: false }),
    () => a.service.delete(ALICE, 'on-b'),
    () => a.service.update(ALICE, 'on-b', { memoryMib: 2048 }, { timeoutMs: 1000, force: false }),
  ]) {
    await assert.rejects(op(), (e) => isFcmError(e, 'wrong_host') && /https:\/\/fcm\.b\.test/.test(e.message));
  }
  lapse('b');
  for (const op of [
    () => a.service.stop(ALICE, 'on-b', { timeoutMs: 1000, force: false }),
    () => a.service.start(ALICE, 'on-b'),
    () => a.service.restart(ALICE, 'on-b', { timeoutMs: 1000, force: false }),
    () => a.service.update(ALICE, 'on-b', { memoryMib: 2048 }, { timeoutMs: 1000, force: false }),
  ]) {
    await assert.rejects(op(), (e) => isFcmError(e, 'host_unreachable') && e.status === 503 && /host b \(10\.0\.0\.2\)/.test(e.message));
  }
  assert.equal(a.service.get(ALICE, 'on-b').state, 'running', 'the row is as its host left it');
  assert.ok(b.hypervisor.machines.has(vb.id), 'and its process runs on');
  // The owner's delete goes through: the row only; the process is its host's to remove when it returns.
  await a.service.delete(ALICE, 'on-b');
  assert.throws(() => a.service.get(ALICE, 'on-b'), code('vm_not_found'));
  assert.ok(b.hypervisor.machines.has(vb.id), 'nothing of host b was touched from here');
  const r = await b.make().reconcile();
  assert.equal(r.orphans >= 1, true, `b's reconcile removes what no row owns (${JSON.stringify(r)})`);
  assert.ok(!b.hypervisor.machines.has(vb.id), 'its process is gone once b reconciles');
});

test("reconcile and the monitor on one host leave the other host's VMs alone (no failed, no restart, no orphan sweep)", async () => {
  const { a, b } = twoHosts();
  const vb = await b.service.create(ALICE, { ...DEFAULTS, name: 'on-b' });
  await b.service.wait(ALICE, 'on-b', 'running', 1000);
  // a's hypervisor does not know vb: before hosts, a's reconcile marked it failed.
  const r = await a.make().reconcile();
  assert.deepEqual(r, { adopted: 0, rolledBack: 0, restarted: 0, orphans: 0 });
  a.service.startMonitor();
  await new Promise((res) => setTimeout(res, 100));
  await a.service.close();
  const row = b.service.get(ALICE, 'on-b');
  assert.deepEqual([row.state, row.lastError, row.host], ['running', null, 'b']);
  assert.ok(b.hypervisor.machines.has(vb.id));
});

test("admission counts only this host's VMs; usage is per host", async () => {
  const { a, b } = twoHosts();
  await b.service.create(ALICE, { ...DEFAULTS, name: 'b1', memoryMib: 2048 });
  // a's capacity is 2048 MiB: b's VM does not take from it.
  await a.service.create(ALICE, { ...DEFAULTS, name: 'a1', memoryMib: 2048 });
  await assert.rejects(a.service.create(ALICE, { ...DEFAULTS, name: 'a2', memoryMib: 128 }), code('insufficient_capacity'));
  const usage = hostUsage(a.store.list());
  assert.deepEqual(usage.get('a'), { vms: 1, vcpus: 1, memoryMib: 2048, diskMib: 2048 });
  assert.deepEqual(usage.get('b'), { vms: 1, vcpus: 1, memoryMib: 2048, diskMib: 2048 });
});

test('a host waits for a live lease on its id to lapse before it joins, and gives up with a clear error', async () => {
  const registry = new MemoryHostRegistry();
  registry.register(info('a', '10.0.0.1'), 'someone-else', 60_000);
  const svc = new HostService({ registry, self: info('a', '10.0.0.1'), vms: () => [], log: pino({ level: 'silent' }), config: { leaseMs: 1000, renewMs: 20 }, onLost: () => {} });
  await assert.rejects(svc.join(50), /host id "a" is held by another fcm daemon until .*FCM_HOST_ID/);
  registry.release('a', 'someone-else');
  await svc.join(50);
  assert.equal(registry.list()[0]!.state, 'up');
  svc.close();
  assert.equal(registry.list()[0]!.state, 'unreachable', 'a clean stop ends the lease at once');
});

test('a host that lost its lease to another process stops (onLost), and never renews over the newcomer', async () => {
  let t = 0;
  const registry = new MemoryHostRegistry(() => t);
  let lost = 0;
  const svc = new HostService({ registry, self: info('a', '10.0.0.1'), vms: () => [], log: pino({ level: 'silent' }), config: { leaseMs: 1000, renewMs: 10 }, onLost: () => lost++ });
  await svc.join(0);
  t += 2000;
  assert.deepEqual(registry.register(info('a', '10.9.9.9'), 'newcomer', 1000), { ok: true });
  const deadline = Date.now() + 10_000;
  while (!lost && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(lost, 1);
  assert.equal(registry.list()[0]!.publicIp, '10.9.9.9');
  svc.close();
  assert.equal(registry.list()[0]!.state, 'up', "closing does not end the newcomer's lease");
});

test('API: GET /v1/hosts is for admins; a VM on a host whose lease lapsed is unreachable, with why, and its URL names its host', async () => {
  const api = await memoryApi();
  try {
    const alice = api.loginAs('alice@example.com');
    const list = await api.app.inject({ method: 'GET', url: '/v1/hosts', headers: api.auth });
    assert.equal(list.statusCode, 200);
    const [only] = list.json().hosts;
    assert.deepEqual([only.id, only.state, only.vms, only.memoryMib, only.subnet], ['local', 'up', 0, 8192, '172.16.0.0/24']);
    const denied = await api.app.inject({ method: 'GET', url: '/v1/hosts', headers: alice.headers });
    assert.equal(denied.statusCode, 403);
    assert.equal(denied.json().code, 'forbidden');

    // A VM row another host wrote (host c, whose daemon then dies).
    const c = (api.h.store as MemoryVmStore).forHost('c');
    api.cluster.registry.register({ ...info('c', '10.0.0.3') }, 'ic', 15_000);
    const vm = { id: 'vm_0000000000c1', name: 'on-c', owner: alice.user.id, state: 'running' as const, desired: 'running' as const, vcpus: 1, memoryMib: 512, diskMib: 2048, swapMib: 0, port: 8000, image: 'base', imageDir: '/i', hypervisor: 'qemu' as const, lastError: null, domains: [], sleepAfterSec: null };
    c.insert(vm, (slot) => ({ ip: `172.16.0.${slot}`, mac: '02:fc:00:00:00:c1', tap: 'fcmtapc1' }));
    let got = (await api.app.inject({ method: 'GET', url: '/v1/vms/on-c', headers: alice.headers })).json();
    assert.deepEqual([got.state, got.stateReason, got.host, got.url], ['running', null, 'c', 'https://on-c.10-0-0-3.sslip.io']);
    api.cluster.advance(15_001);
    api.cluster.registry.renew('local', (api.cluster.hosts as unknown as { instance: string }).instance, 15_000);
    got = (await api.app.inject({ method: 'GET', url: '/v1/vms/on-c', headers: alice.headers })).json();
    assert.equal(got.state, 'unreachable');
    assert.match(got.stateReason, /^host c \(10\.0\.0\.3\) has not renewed its lease since /);
    const listed = (await api.app.inject({ method: 'GET', url: '/v1/vms', headers: alice.headers })).json().vms;
    assert.deepEqual(listed.map((v: { name: string; state: string }) => [v.name, v.state]), [['on-c', 'unreachable']]);
    const stop = await api.app.inject({ method: 'POST', url: '/v1/vms/on-c/stop', headers: alice.headers, payload: {} });
    assert.equal(stop.statusCode, 503);
    assert.equal(stop.json().code, 'host_unreachable');
    assert.equal(api.h.store.get('on-c')?.state, 'running', 'nothing was touched');
    const hosts = (await api.app.inject({ method: 'GET', url: '/v1/hosts', headers: api.auth })).json().hosts;
    assert.deepEqual(hosts.map((h: { id: string; state: string; vms: number; usedMemoryMib: number }) => [h.id, h.state, h.vms, h.usedMemoryMib]), [['c', 'unreachable', 1, 512], ['local', 'up', 0, 0]]);
  } finally {
    await api.app.close();
  }
});

test('ROOT sees every host\'s VMs', async () => {
  const { a, b } = twoHosts();
  await b.service.create(ALICE, { ...DEFAULTS, name: 'x' });
  assert.equal(a.service.list(ROOT).length, 1);
});

test('the hosts view a GET /v1/vms reads is built again exactly when a host record changes (renewal, lapse, new host)', () => {
  let now = 1_000_000;
  const registry = new MemoryHostRegistry(() => now);
  registry.register(info('a', '10.0.0.1'), 'ia', 15_000);
  const view = hostsView(() => registry.list());
  const first = view();
  assert.deepEqual([...first.ipOf], [['a', '10.0.0.1']]);
  assert.equal(first.unreachable.size, 0);
  now += 1_000;
  assert.equal(view(), first, 'nothing changed: the same view, no maps built');
  assert.ok(Object.isFrozen(registry.list()[0]), 'records are shared by every caller: frozen');

  assert.ok(registry.renew('a', 'ia', 15_000));
  const renewed = view();
  assert.notEqual(renewed, first, 'a renewal makes new records');
  assert.equal(renewed.unreachable.size, 0);
  assert.equal(view(), renewed);

  now += 15_001; // a's lease lapses without any write
  const lapsed = view();
  assert.deepEqual([...lapsed.unreachable.keys()], ['a']);
  assert.match(lapsed.unreachable.get('a')!, /10\.0\.0\.1/);

  registry.register(info('b', '10.0.0.2'), 'ib', 15_000);
  assert.deepEqual([...view().ipOf.keys()], ['a', 'b'], 'a host that joins shows at once');
});

test('records made at register and at renew have one shape, as a database row has (same keys, same order, only the port\'s fields)', () => {
  const registry = new MemoryHostRegistry();
  registry.register({ ...info('a', '10.0.0.1'), extra: 'not a HostInfo field' } as HostInfo, 'ia', 15_000);
  const registered = registry.list()[0]!;
  registry.renew('a', 'ia', 15_000);
  const renewed = registry.list()[0]!;
  const keys = ['id', 'publicIp', 'apiUrl', 'vcpus', 'memoryMib', 'diskMib', 'subnetCidr', 'state', 'startedAt', 'renewedAt', 'leaseExpiresAt'];
  assert.deepEqual(Object.keys(registered), keys);
  assert.deepEqual(Object.keys(renewed), keys);
});
