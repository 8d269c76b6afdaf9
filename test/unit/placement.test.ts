/** The placement planner: golden decisions over small clusters. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isFcmError } from '../../daemon/core/errors.js';
import { planPlacement, type PlacementHost } from '../../daemon/core/planners/placement.js';

const host = (id: string, over: Partial<PlacementHost> = {}): PlacementHost => ({ id, state: 'up', vcpus: 4, memoryMib: 4096, diskMib: 20_000, firstSlot: 2, lastSlot: 6, ...over });
const vm = (hostId: string, slot: number, memoryMib = 1024, state: 'running' | 'stopped' | 'sleeping' = 'running') => ({ host: hostId, slot, state, vcpus: 1, memoryMib, diskMib: 2048 });
const need = { vcpus: 1, memoryMib: 1024, diskMib: 2048 };

test('spreads by free memory: six creates over three empty hosts land two on each, in a fixed order', () => {
  const hosts = [host('a'), host('b'), host('c')];
  const rows: ReturnType<typeof vm>[] = [];
  const order: string[] = [];
  for (let i = 0; i < 6; i++) {
    const p = planPlacement(hosts, rows, need);
    order.push(`${p.host}:${p.slot}`);
    rows.push(vm(p.host, p.slot));
  }
  assert.deepEqual(order, ['a:2', 'b:2', 'c:2', 'a:3', 'b:3', 'c:3']);
});

test('the host with the most memory left wins; stopped and sleeping VMs hold no memory but keep their slot and disk', () => {
  const hosts = [host('a', { memoryMib: 8192 }), host('b')];
  assert.equal(planPlacement(hosts, [vm('a', 2, 4096), vm('a', 3, 2048)], need).host, 'b', 'a: 2048 left after, b: 3072');
  const p = planPlacement(hosts, [vm('a', 2, 4096, 'stopped'), vm('a', 3, 2048, 'sleeping')], need);
  assert.deepEqual(p, { host: 'a', slot: 4 });
});

test('never overbooks: memory, vCPUs, disk and IPs each refuse a host; none left → insufficient_capacity naming each', () => {
  const full = [host('a', { memoryMib: 1024 }), host('b', { vcpus: 1 }), host('c', { diskMib: 2048 }), host('d', { firstSlot: 2, lastSlot: 2 })];
  const rows = [vm('a', 2), vm('b', 2, 128), vm('c', 2, 128), vm('d', 2, 128)];
  assert.throws(() => planPlacement(full, rows, need), (e) => isFcmError(e, 'insufficient_capacity') && /a: 0 MiB memory free; b: 0 vCPUs free; c: 0 MiB disk free; d: no free IP address/.test(e.message));
  assert.throws(() => planPlacement([host('d', { firstSlot: 2, lastSlot: 2 })], [vm('d', 2, 128)], need), (e) => isFcmError(e, 'ip_pool_exhausted'));
  assert.throws(() => planPlacement([], [], need), (e) => isFcmError(e, 'insufficient_capacity') && /no host is registered/.test(e.message));
});

test('unreachable hosts get nothing; a pin names the only host, and a pin to a missing or unreachable host is refused', () => {
  const hosts = [host('a', { state: 'unreachable', memoryMib: 65_536 }), host('b'), host('c')];
  assert.equal(planPlacement(hosts, [], need).host, 'b');
  assert.deepEqual(planPlacement(hosts, [vm('c', 2)], need, 'c'), { host: 'c', slot: 3 });
  assert.throws(() => planPlacement(hosts, [], need, 'zz'), (e) => isFcmError(e, 'validation_failed'));
  assert.throws(() => planPlacement(hosts, [], need, 'a'), (e) => isFcmError(e, 'host_unreachable'));
  assert.throws(() => planPlacement([host('b', { memoryMib: 512 })], [], need, 'b'), (e) => isFcmError(e, 'insufficient_capacity'));
});

test('slots fill the lowest gap on the chosen host', () => {
  assert.deepEqual(planPlacement([host('a')], [vm('a', 2), vm('a', 4)], need), { host: 'a', slot: 3 });
});
