/**
 * The dashboard's pure logic (daemon/http/dashboard/lib.ts) as the browser
 * runs it: the shipped script text evaluated in a bare `node:vm` context —
 * no DOM, no fetch, nothing but the language and URLSearchParams — so these
 * tests also show it touches nothing else.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createContext, runInContext } from 'node:vm';
import { DASHBOARD_LIB_JS } from '../../../daemon/http/dashboard/lib.js';

function load(): any {
  const ctx = createContext({ URLSearchParams });
  runInContext(DASHBOARD_LIB_JS, ctx);
  // Plain objects out of the vm context (its own Object prototype) for deepEqual.
  return new Proxy(ctx.fcmDash, { get: (t, k) => (...a: unknown[]) => JSON.parse(JSON.stringify(t[k](...a)) ?? 'null') });
}
const D = load();
const NOW = Date.parse('2026-12-06T12:00:00Z');

test('ages: seconds, minutes, hours, days; nonsense and the far future are "-"', () => {
  assert.equal(D.age('2026-12-06T11:59:15Z', NOW), '45s');
  assert.equal(D.age('2026-12-06T11:48:00Z', NOW), '12m');
  assert.equal(D.age('2026-12-06T07:00:00Z', NOW), '5h');
  assert.equal(D.age('2026-12-03T12:00:00Z', NOW), '3d');
  assert.equal(D.age('2026-12-06T12:00:30Z', NOW), '0s', 'small clock skew is now');
  assert.equal(D.age('2026-12-07T12:00:00Z', NOW), '-');
  assert.equal(D.age('not a date', NOW), '-');
  assert.equal(D.age(null, NOW), '-');
});

test('sizes read as a person would say them', () => {
  assert.equal(D.size({ vcpus: 1, memoryMib: 1024, diskMib: 2048 }), '1 vCPU · 1 GiB RAM · 2 GiB disk');
  assert.equal(D.size({ vcpus: 2, memoryMib: 384, diskMib: 1500 }), '2 vCPUs · 384 MiB RAM · 1500 MiB disk');
});

test('actions follow the state: nothing to start while running, no console while stopped, nothing while deleting', () => {
  assert.deepEqual(D.actions('running'), { start: false, stop: true, restart: true, console: true, destroy: true });
  assert.deepEqual(D.actions('stopped'), { start: true, stop: false, restart: false, console: false, destroy: true });
  assert.deepEqual(D.actions('failed'), { start: true, stop: false, restart: false, console: false, destroy: true });
  assert.deepEqual(D.actions('deleting'), { start: false, stop: false, restart: false, console: false, destroy: false });
  for (const s of ['creating', 'starting', 'stopping', 'deleting']) assert.equal(D.busy(s), true, s);
  for (const s of ['running', 'stopped', 'failed']) assert.equal(D.busy(s), false, s);
});

test('requests: the CSRF header on every change and never on reads; same-origin credentials; JSON bodies', () => {
  const [url, get] = D.request('GET', '/v1/vms', undefined, 'csrf-1');
  assert.equal(url, '/v1/vms');
  assert.equal(get.headers['x-fcm-csrf'], undefined);
  assert.equal(get.credentials, 'same-origin');
  assert.equal(get.body, undefined);
  for (const m of ['POST', 'PATCH', 'DELETE', 'PUT']) {
    const [, init] = D.request(m, '/v1/vms/a', m === 'PATCH' ? { set: { A: '1' } } : undefined, 'csrf-1');
    assert.equal(init.headers['x-fcm-csrf'], 'csrf-1', m);
    assert.equal(init.redirect, 'error', 'a redirect is never followed with the cookie');
  }
  const [, patch] = D.request('PATCH', '/v1/vms/a/env', { set: { A: '1' } }, 'c');
  assert.equal(patch.headers['content-type'], 'application/json');
  assert.equal(patch.body, '{"set":{"A":"1"}}');
  assert.equal(D.vmPath('a b/c', '/start'), '/v1/vms/a%20b%2Fc/start', 'names are encoded into the path');
});

test('problem documents become one line with the code; anything else says the status', () => {
  assert.equal(D.problemText(409, { code: 'invalid_state', detail: 'VM web is running.' }), 'invalid_state: VM web is running.');
  assert.equal(
    D.problemText(400, { code: 'validation_failed', title: 'Invalid request', errors: [{ path: '/body/memoryMib', message: 'must be >= 128' }] }),
    'validation_failed: Invalid request (/body/memoryMib must be >= 128)',
  );
  assert.equal(D.problemText(502, '<html>bad gateway</html>'), 'HTTP 502');
});

test('a refused login leaves its reason in the fragment; codes that are not identifiers are ignored', () => {
  assert.deepEqual(D.fragmentError('#error=access_denied&error_description=Login+refused'), { code: 'access_denied', description: 'Login refused' });
  assert.equal(D.fragmentError('#error=%3Cscript%3E'), null);
  assert.equal(D.fragmentError(''), null);
  assert.equal(D.fragmentError('#ticket=abc'), null);
});

test('config var values are masked without giving their length away; keys are checked like the spec', () => {
  assert.equal(D.mask('a'), D.mask('a much longer secret value'));
  assert.equal(D.validEnvKey('DATABASE_URL'), true);
  assert.equal(D.validEnvKey('_X1'), true);
  assert.equal(D.validEnvKey('1X'), false);
  assert.equal(D.validEnvKey('A-B'), false);
  assert.equal(D.validEnvKey(''), false);
});

test('the create form: empty fields are left to the daemon, bad ones are explained before any request', () => {
  assert.deepEqual(D.createBody({ name: '', vcpus: '', memoryMib: '', diskMib: '' }), { body: {} });
  assert.deepEqual(D.createBody({ name: ' web-1 ', vcpus: '2', memoryMib: '512', diskMib: '' }), { body: { name: 'web-1', vcpus: 2, memoryMib: 512 } });
  assert.match(D.createBody({ name: 'Web_1' }).error, /lower-case/);
  assert.match(D.createBody({ name: 'a'.repeat(41) }).error, /at most 40/);
  assert.match(D.createBody({ name: 'ok', vcpus: '1.5' }).error, /vcpus must be a whole number/);
});

test('a followed log keeps only its last lines', () => {
  const text = Array.from({ length: 10 }, (_, i) => `line ${i}`).join('\n');
  assert.equal(D.tail(text, 3), 'line 7\nline 8\nline 9');
  assert.equal(D.tail('a\nb', 3), 'a\nb');
});

test('health rows: every check, the hypervisor, confinement (unconfined is a problem) and the VM count', () => {
  const rows = D.healthRows({
    status: 'degraded', version: '1', hypervisor: 'qemu', accel: 'tcg', vms: { total: 3, running: 2 },
    checks: { caddy: { ok: false, detail: 'admin API unreachable' }, disk: { ok: true } },
    confinement: { user: 'per-vm', seccomp: true, mountNamespace: true, jailer: false, cgroups: { version: 'v1', limits: ['cpu', 'memory', 'pids'], detail: null } },
  });
  assert.deepEqual(rows, [
    { name: 'caddy', ok: false, detail: 'admin API unreachable' },
    { name: 'disk', ok: true, detail: 'ok' },
    { name: 'hypervisor', ok: true, detail: 'qemu (tcg)' },
    { name: 'confinement', ok: true, detail: 'user per-vm, seccomp, own mount namespace, cgroups v1 (cpu, memory, pids)' },
    { name: 'VMs', ok: true, detail: '2 running of 3' },
  ]);
  const root = D.healthRows({ hypervisor: 'qemu', accel: 'kvm', vms: { total: 0, running: 0 }, confinement: { user: 'root', seccomp: false, mountNamespace: false, jailer: false, cgroups: { version: null, limits: [], detail: 'no cgroups' } } });
  assert.deepEqual(root.find((r: any) => r.name === 'confinement'), { name: 'confinement', ok: false, detail: 'user root, no seccomp, shared mounts, no cgroup limits' });
});

test('releases and sleep states read plainly; a sleep state is shown only when the daemon sends one', () => {
  assert.equal(D.releaseLabel({ version: 3, kind: 'deploy', commit: 'a1b2c3d4e5f6', rollbackOf: null }), 'v3 deploy a1b2c3d');
  assert.equal(D.releaseLabel({ version: 4, kind: 'rollback', commit: 'a1b2c3d4e5f6', rollbackOf: 2 }), 'v4 rollback a1b2c3d (rollback to v2)');
  assert.equal(D.sleepText({ state: 'running' }), null);
  assert.equal(D.sleepText({ sleep: { state: 'asleep' } }), 'asleep');
});

test('VMs sort by name', () => {
  assert.deepEqual(D.sortByName([{ name: 'b' }, { name: 'a' }, { name: 'c' }]).map((v: any) => v.name), ['a', 'b', 'c']);
});
