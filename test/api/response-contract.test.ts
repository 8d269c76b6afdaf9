/**
 * Responses are checked against openapi.yaml before they leave (validateResponses,
 * on as shipped): a handler whose answer does not have the declared shape gets an
 * opaque 500 problem instead. The check covers shape (types, required and unknown
 * properties, enums, patterns), not `format`: the server writes those values itself,
 * and the format regexes were most of the check's CPU (daemon/http/server.ts).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { memoryApi } from '../helpers/memory-api.js';

let api: Awaited<ReturnType<typeof memoryApi>>;
let health: unknown = null;
before(async () => {
  api = await memoryApi({ handlers: { getHealth: () => health } });
});
after(async () => {
  await api.app.close();
  await api.h.service.close();
});

const get = () => api.app.inject({ method: 'GET', url: '/v1/health' });

test('a response of the wrong shape becomes an opaque 500 problem', async () => {
  const real = (await memoryApi()).app;
  const good = (await real.inject({ method: 'GET', url: '/v1/health' })).json();
  await real.close();
  for (const bad of [{ ...good, status: 42 }, { ...good, unknownField: 1 }, (({ hypervisor: _h, ...rest }) => rest)(good), []]) {
    health = bad;
    const res = await get();
    assert.equal(res.statusCode, 500, JSON.stringify(bad));
    assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
    assert.equal(res.json().code, 'internal');
    assert.match(res.json().detail, /does not match its API contract/);
  }
  health = good;
  assert.equal((await get()).statusCode, 200, 'the same handler with a good answer');
});
