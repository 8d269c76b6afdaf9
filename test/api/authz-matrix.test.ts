/**
 * Authorization matrix generated from openapi.yaml (see
 * test/helpers/authz-matrix.ts for the rules): every operation × {A, B,
 * admin, no token, revoked token}. A fixture spec with one more operation
 * shows that new operations are covered without touching this test, and
 * that a handler forgetting the ownership check is caught.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spec } from '../../api/spec.gen.js';
import type { Json } from '../../daemon/http/openapi-routes.js';
import { formatRows, runMatrix, type MatrixSubject } from '../helpers/authz-matrix.js';
import { memoryApi, type MemoryApiOptions } from '../helpers/memory-api.js';

async function subject(opts: MemoryApiOptions = {}) {
  const api = await memoryApi(opts);
  const s: MatrixSubject = {
    app: api.app,
    spec: opts.spec ?? spec,
    adminToken: api.admin,
    tokenFor: (email) => api.loginAs(email).token,
    revokedTokenFor: (email) => {
      const { token } = api.loginAs(email);
      api.tokens.revoke(api.tokens.rows.at(-1)!.id);
      return token;
    },
    victimTokenId: (email) => {
      api.loginAs(email);
      return api.tokens.rows.at(-1)!.id;
    },
  };
  return { api, s, close: async () => (await api.app.close(), await api.h.service.close()) };
}

/** The fixture: openapi.yaml plus an operation nobody has written a test for. */
function fixtureSpec(): Json {
  const f = structuredClone(spec) as Json;
  f.paths['/v1/vms/{name}/fixture-widgets'] = {
    parameters: [{ $ref: '#/components/parameters/VmName' }],
    get: {
      operationId: 'listFixtureWidgets',
      tags: ['vms'],
      summary: 'A new operation (fixture)',
      responses: {
        '200': { description: 'Widgets', content: { 'application/json': { schema: { type: 'object' } } } },
        default: { $ref: '#/components/responses/Problem' },
      },
    },
  };
  return f;
}

test('every operation in openapi.yaml: A / B / admin / no token / revoked token get what they should', async () => {
  const { s, close } = await subject();
  try {
    const { rows, websocket } = await runMatrix(s);
    const bad = rows.filter((r) => r.problem);
    assert.deepEqual(bad, [], `\n${formatRows(bad)}\n\nfull matrix:\n${formatRows(rows)}`);
    if (process.env.FCM_SHOW_MATRIX) console.log(formatRows(rows));
    // The matrix really covered the spec: each HTTP operation five times.
    const ops = new Set(rows.map((r) => r.operationId));
    const all = Object.values<Json>(spec.paths).flatMap((item) => ['get', 'post', 'put', 'patch', 'delete'].filter((m) => item[m]).map((m) => item[m].operationId));
    assert.deepEqual([...ops].sort(), all.filter((id) => !websocket.includes(id)).sort());
    assert.equal(rows.length, ops.size * 5);
    // WebSocket upgrades are not JSON routes; their auth is tested with the console (bearer or ticket)
    // and with runs (bearer; another user's VM: test/host/run.test.ts).
    assert.deepEqual(websocket, ['openConsole', 'runCommand']);
    // Spot checks of the rules on known operations.
    const at = (op: string, who: string) => rows.find((r) => r.operationId === op && r.who === who)!;
    assert.deepEqual([at('getVm', 'B').status, at('getVm', 'B').code], [404, 'vm_not_found']);
    assert.equal(at('getVm', 'A').status, 200);
    assert.equal(at('getVm', 'admin').status, 200);
    assert.equal(at('deleteVm', 'B').status, 404);
    assert.equal(at('revokeToken', 'B').status, 404);
    assert.equal(at('revokeToken', 'admin').status, 204);
    assert.equal(at('getHealth', 'none').status, 200);
  } finally {
    await close();
  }
});

test('operations still answering 501 check the token first', async () => {
  const { s, close } = await subject();
  try {
    const { rows } = await runMatrix(s);
    const pending = [...new Set(rows.filter((r) => r.who === 'A' && r.code === 'not_implemented').map((r) => r.operationId))];
    assert.ok(pending.length > 0, 'this build has pending operations (update this test when there are none)');
    for (const op of pending) {
      for (const who of ['none', 'revoked'] as const) {
        const r = rows.find((x) => x.operationId === op && x.who === who)!;
        assert.deepEqual([r.status, r.code], [401, 'unauthorized'], `${op} as ${who}`);
      }
    }
  } finally {
    await close();
  }
});

test('a new operation in the spec is covered automatically (fixture spec adds listFixtureWidgets)', async () => {
  const { s, close } = await subject({ spec: fixtureSpec() });
  try {
    const { rows } = await runMatrix(s);
    const mine = rows.filter((r) => r.operationId === 'listFixtureWidgets');
    assert.deepEqual(mine.map((r) => [r.who, r.status]), [['none', 401], ['revoked', 401], ['B', 501], ['admin', 501], ['A', 501]]);
    assert.deepEqual(rows.filter((r) => r.problem), []);
  } finally {
    await close();
  }
});

test('the matrix catches a handler that forgets the ownership check', async () => {
  const { s, close } = await subject({
    spec: fixtureSpec(),
    // Answers for any VM name, whoever asks: the bug the matrix exists for.
    handlers: { listFixtureWidgets: ({ params }) => ({ vm: params.name, widgets: [] }) },
  });
  try {
    const { rows } = await runMatrix(s);
    const bad = rows.filter((r) => r.problem);
    assert.deepEqual(bad.map((r) => [r.operationId, r.who, r.status]), [['listFixtureWidgets', 'B', 200]]);
    assert.match(bad[0]!.problem!, /B got 200 on A's resource/);
  } finally {
    await close();
  }
});
