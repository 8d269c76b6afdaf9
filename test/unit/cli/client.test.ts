import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { createFcmClient } from '../../../api/client.js';
import { ApiError, isApiError } from '../../../api/errors.js';
import { memoryApi } from '../../helpers/memory-api.js';
import { closedPort } from './io-helpers.js';

let api: Awaited<ReturnType<typeof memoryApi>>;
let url: string;
before(async () => {
  api = await memoryApi();
  url = await api.app.listen({ port: 0, host: '127.0.0.1' });
});
after(async () => {
  await api.app.close();
  await api.h.service.close();
});

test('typed calls: create, get, waitFor, stop, list, delete', async () => {
  const c = createFcmClient({ baseUrl: url, token: api.admin });
  const vm = await c.vms.create({ memoryMib: 512 });
  assert.equal(vm.memoryMib, 512);
  assert.equal((await c.vms.get(vm.name)).id, vm.id);
  assert.equal((await c.vms.waitFor(vm.name, 'running')).state, 'running');
  assert.equal((await c.vms.stop(vm.name, { timeoutMs: 10 })).state, 'stopped');
  assert.deepEqual((await c.vms.list()).vms.map((v) => v.name), [vm.name]);
  assert.equal(await c.vms.delete(vm.name), undefined);
  assert.equal((await c.health.get()).status, 'ok');
});

test('problem+json becomes an ApiError with code, status, title, detail, requestId', async () => {
  const c = createFcmClient({ baseUrl: url, token: api.admin });
  const e = await c.vms.get('nope').catch((x: unknown) => x);
  assert.ok(isApiError(e, 'vm_not_found'));
  assert.equal(e.status, 404);
  assert.equal(e.title, 'VM not found');
  assert.match(e.detail ?? '', /nope/);
  assert.match(e.requestId ?? '', /^req_/);
});

test('validation_failed carries each field error', async () => {
  const c = createFcmClient({ baseUrl: url, token: api.admin });
  const e = await c.vms.create({ memoryMib: 1, vcpus: 99 }).catch((x: unknown) => x);
  assert.ok(isApiError(e, 'validation_failed'));
  assert.deepEqual(e.errors.map((x) => x.path).sort(), ['/body/memoryMib', '/body/vcpus']);
});

test('a missing or wrong token is unauthorized', async () => {
  for (const token of [null, 'nope']) {
    const e = await createFcmClient({ baseUrl: url, token }).vms.list().catch((x: unknown) => x);
    assert.ok(isApiError(e, 'unauthorized'), String(e));
    assert.equal(e.status, 401);
  }
});

test('no HTTP answer is `unreachable` with the network error as cause', async () => {
  const port = await closedPort();
  const e = await createFcmClient({ baseUrl: `http://127.0.0.1:${port}` }).vms.list().catch((x: unknown) => x);
  assert.ok(isApiError(e, 'unreachable'));
  assert.equal(e.status, 0);
  assert.equal(e.causeCode, 'ECONNREFUSED');
  assert.match(e.detail ?? '', /ECONNREFUSED/);
  assert.ok(e.cause);
});

test('an answer that is not the API is `bad_response`', async () => {
  const srv = createServer((_req, res) => {
    res.writeHead(502, { 'content-type': 'text/html' }).end('<h1>Bad Gateway</h1>');
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  try {
    const e = await createFcmClient({ baseUrl: `http://127.0.0.1:${(srv.address() as AddressInfo).port}` }).vms.list().catch((x: unknown) => x);
    assert.ok(e instanceof ApiError && e.code === 'bad_response');
    assert.equal(e.status, 502);
    assert.match(e.detail ?? '', /Bad Gateway/);
  } finally {
    await new Promise((r) => srv.close(r));
  }
});

test('a caller abort stays an AbortError', async () => {
  const c = createFcmClient({ baseUrl: url, token: api.admin });
  const vm = await c.vms.create({});
  const ac = new AbortController();
  const p = c.vms.wait(vm.name, { state: 'stopped', timeout: 30 }, { signal: ac.signal });
  setTimeout(() => ac.abort(), 50);
  const e = await p.catch((x: unknown) => x);
  assert.equal((e as Error).name, 'AbortError');
  await c.vms.delete(vm.name);
});

test('call() reaches any operation by method and path template', async () => {
  const c = createFcmClient({ baseUrl: url, token: api.admin });
  const vm = (await c.call('post', '/v1/vms', { body: { name: 'raw-one' } })) as { name: string };
  assert.equal(vm.name, 'raw-one');
  const w = (await c.call('get', '/v1/vms/{name}/wait', { path: { name: 'raw-one' }, query: { state: 'running', timeout: 5 } })) as { state: string };
  assert.equal(w.state, 'running');
  assert.equal(await c.call('delete', '/v1/vms/{name}', { path: { name: 'raw-one' } }), undefined);
});
