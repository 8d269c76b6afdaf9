import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { memoryApi } from '../helpers/memory-api.js';
import { eventually } from '../helpers/wait.js';

let api: Awaited<ReturnType<typeof memoryApi>>;
before(async () => {
  api = await memoryApi();
});
after(async () => {
  await api.app.close();
  await api.h.service.close();
});

const inject = (method: string, url: string, payload?: unknown, headers: Record<string, string> = {}) =>
  api.app.inject({ method: method as 'GET', url, payload: payload as string, headers: { ...api.auth, ...headers } });

function assertProblem(res: { statusCode: number; headers: Record<string, unknown>; json(): any }, status: number, code: string) {
  assert.equal(res.statusCode, status, JSON.stringify(res.json()));
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  const p = res.json();
  assert.equal(p.code, code);
  assert.equal(p.status, status);
  assert.ok(p.title && p.type, 'problem has title and type');
  return p;
}

test('health needs no auth and names the hypervisor', async () => {
  const res = await api.app.inject({ method: 'GET', url: '/v1/health' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.json().hypervisor, 'qemu');
  assert.equal(res.json().status, 'ok');
});

test('the spec and a human docs page are served', async () => {
  const s = await api.app.inject({ method: 'GET', url: '/openapi.json' });
  assert.equal(s.json().openapi, '3.1.0');
  const d = await api.app.inject({ method: 'GET', url: '/docs' });
  assert.match(d.headers['content-type'] as string, /text\/html/);
  const r = await api.app.inject({ method: 'GET', url: '/docs/openapi.json' });
  assert.match(r.body, /createVm/);
});

test('create with defaults, get, list, wait, stop, start, restart, delete', async () => {
  const c = await inject('POST', '/v1/vms', {});
  assert.equal(c.statusCode, 201, c.body);
  const vm = c.json();
  assert.match(vm.name, /^[a-z]+-[a-z]+$/);
  assert.deepEqual([vm.vcpus, vm.memoryMib, vm.diskMib, vm.swapMib, vm.port], [1, 1024, 2048, 512, 8000]);
  assert.equal(vm.url, `https://${vm.name}.64-34-93-45.sslip.io`);
  assert.equal(vm.owner, undefined, 'internal fields stay internal');
  const w = await inject('GET', `/v1/vms/${vm.name}/wait?state=running&timeout=5`);
  assert.equal(w.json().state, 'running');
  assert.equal((await inject('GET', `/v1/vms/${vm.name}`)).json().id, vm.id);
  assert.equal((await inject('GET', '/v1/vms')).json().vms.length, 1);
  assert.equal((await inject('POST', `/v1/vms/${vm.name}/stop`, { timeoutMs: 100 })).json().state, 'stopped');
  assert.equal((await inject('POST', `/v1/vms/${vm.name}/start`)).json().state, 'starting');
  assert.equal((await inject('POST', `/v1/vms/${vm.name}/restart`, undefined, { 'content-type': 'application/json' })).json().state, 'starting');
  assert.equal((await inject('DELETE', `/v1/vms/${vm.name}`)).statusCode, 204);
  assertProblem(await inject('GET', `/v1/vms/${vm.name}`), 404, 'vm_not_found');
});

test('no token / bad token → 401 unauthorized with WWW-Authenticate', async () => {
  const none = await api.app.inject({ method: 'GET', url: '/v1/vms' });
  assertProblem(none, 401, 'unauthorized');
  assert.match(String(none.headers['www-authenticate']), /Bearer/);
  assertProblem(await api.app.inject({ method: 'GET', url: '/v1/vms', headers: { authorization: 'Bearer fcm_nopenopenopenopenopenope' } }), 401, 'unauthorized');
  assertProblem(await api.app.inject({ method: 'GET', url: '/v1/vms', headers: { authorization: 'Basic abc' } }), 401, 'unauthorized');
});

test('bad input → validation_failed with a pointer to the field, and nothing created', async () => {
  const cases: [unknown, string][] = [
    [{ name: 'Bad Name' }, '/body/name'],
    [{ name: '-x' }, '/body/name'],
    [{ name: 'x'.repeat(41) }, '/body/name'],
    [{ memoryMib: 64 }, '/body/memoryMib'],
    [{ memoryMib: 'lots' }, '/body/memoryMib'],
    [{ vcpus: 0 }, '/body/vcpus'],
    [{ diskMib: 1e9 }, '/body/diskMib'],
    [{ swapMib: -1 }, '/body/swapMib'],
    [{ colour: 'blue' }, '/body/colour'],
    [{ image: '../../etc/passwd' }, '/body/image'],
  ];
  for (const [body, path] of cases) {
    const p = assertProblem(await inject('POST', '/v1/vms', body), 400, 'validation_failed');
    assert.ok(p.errors.some((e: { path: string }) => e.path === path), `${JSON.stringify(body)} → ${JSON.stringify(p.errors)}`);
  }
  assertProblem(await inject('POST', '/v1/vms', '{"name": "x",', { 'content-type': 'application/json' }), 400, 'validation_failed');
  assertProblem(await inject('POST', '/v1/vms', '{"__proto__": {"admin": true}}', { 'content-type': 'application/json' }), 400, 'validation_failed');
  assertProblem(await inject('POST', '/v1/vms', 'name=x', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'unsupported_media_type');
  assertProblem(await inject('POST', '/v1/vms', JSON.stringify({ name: 'a'.repeat(100_000) }), { 'content-type': 'application/json' }), 413, 'payload_too_large');
  assertProblem(await inject('GET', '/v1/vms/UPPER'), 400, 'validation_failed');
  assertProblem(await inject('GET', '/v1/vms/x/wait?state=dancing'), 400, 'validation_failed');
  assertProblem(await inject('GET', '/v1/vms/x/wait?timeout=0'), 400, 'validation_failed');
  assertProblem(await inject('GET', '/v1/nope'), 404, 'not_found');
  assertProblem(await inject('POST', '/v1/vms', { image: 'ubuntu' }), 422, 'image_missing');
  assert.equal((await inject('GET', '/v1/vms')).json().vms.length, 0, 'no VM was created by any bad request');
});

test('duplicate names → 409 name_taken; wait timeout → 408', async () => {
  assert.equal((await inject('POST', '/v1/vms', { name: 'dup' })).statusCode, 201);
  assertProblem(await inject('POST', '/v1/vms', { name: 'dup' }), 409, 'name_taken');
  await inject('POST', '/v1/vms/dup/stop', { force: true });
  assertProblem(await inject('GET', '/v1/vms/dup/wait?state=running&timeout=1'), 408, 'wait_timeout');
  await inject('DELETE', '/v1/vms/dup');
});

test('a body over the limit: the 413 arrives before the body, and sending the body afterwards is not met with a reset', async () => {
  const address = await api.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = new URL(address);
  const body = Buffer.alloc(4 * 1024 * 1024, 'a');
  // Half-open: like an uploading client, it keeps sending after the server's FIN.
  const sock = connect({ host: '127.0.0.1', port: Number(port), allowHalfOpen: true });
  let received = '';
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => (received += d));
  const errors: string[] = [];
  sock.on('error', (e: NodeJS.ErrnoException) => errors.push(e.code ?? e.message));
  const closed = new Promise<void>((r) => sock.once('close', () => r()));
  await new Promise<void>((r) => sock.once('connect', () => r()));
  // Headers first: the server refuses the declared size at once, before any body byte arrives.
  sock.write(`POST /v1/vms HTTP/1.1\r\nHost: x\r\nAuthorization: ${api.auth.authorization}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
  await eventually('a whole answer before the body', async () => received, (r) => /\r\n\r\n\{[^]*\}$/.test(r), 5000, 10);
  assert.match(received, /^HTTP\/1\.1 413 /);
  assert.match(received, /"code":"payload_too_large"/);
  // A client that sends the body it announced (most do) must not be reset: a reset can destroy
  // an answer it has received but not yet read. The server discards the body, then closes.
  await new Promise<void>((r) => sock.write(body, () => r()));
  sock.end();
  await closed;
  assert.deepEqual(errors, [], 'the connection ended without a reset');
});

test('sleep and sleepAfter over HTTP: sleepVm answers the VM asleep; sleepAfter is validated, stored, shown, turned off', async () => {
  const c = await inject('POST', '/v1/vms', { name: 'napper', sleepAfter: '15m' });
  assert.equal(c.statusCode, 201, c.body);
  assert.equal(c.json().sleepAfter, '15m');
  await inject('GET', '/v1/vms/napper/wait?state=running&timeout=5');
  const s = await inject('POST', '/v1/vms/napper/sleep');
  assert.equal(s.statusCode, 200, s.body);
  assert.equal(s.json().state, 'sleeping');
  assert.equal((await inject('POST', '/v1/vms/napper/start')).json().state, 'starting', 'start wakes it');
  assert.equal((await inject('PATCH', '/v1/vms/napper', { sleepAfter: '120s' })).json().sleepAfter, '2m', 'shown in its shortest spelling');
  assert.equal((await inject('PATCH', '/v1/vms/napper', { sleepAfter: 'off' })).json().sleepAfter, 'off');
  assert.equal((await inject('GET', '/v1/vms/napper')).json().sleepAfter, 'off');
  assertProblem(await inject('PATCH', '/v1/vms/napper', { sleepAfter: '5s' }), 400, 'validation_failed');
  for (const bad of ['15', '15 m', '1d', '-1m', '0m', 15]) assertProblem(await inject('PATCH', '/v1/vms/napper', { sleepAfter: bad }), 400, 'validation_failed');
  assertProblem(await inject('POST', '/v1/vms', { name: 'nope', sleepAfter: '9s' }), 400, 'validation_failed');
  assertProblem(await inject('GET', '/v1/vms/nope'), 404, 'vm_not_found');
  assert.equal((await inject('DELETE', '/v1/vms/napper')).statusCode, 204);
});
