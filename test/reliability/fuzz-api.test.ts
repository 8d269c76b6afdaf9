/**
 * Spec-driven fuzzing of every operation in openapi.yaml against the real
 * HTTP layer (spec validation, problem+json, auth) over in-memory services,
 * over real TCP (lib/raw-http.ts), so header and framing abuse reaches
 * Node's HTTP parser too. Cases come from the schemas (lib/fuzz-cases.ts),
 * answers are judged by rules that name no operation (lib/fuzz-run.ts).
 * After the run nothing may be left: VM rows match what 2xx answers made,
 * every VM's tap/disk/process agree with its state, and deleting them all
 * leaves no tap, disk or process.
 *
 * A fixture spec proves that an operation added to the spec is fuzzed
 * without touching this file, and that a handler that crashes on some input
 * is caught (the fuzzer can fail).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { spec } from '../../api/spec.gen.js';
import { hashToken, newToken } from '../../daemon/core/tokens.js';
import type { Json } from '../../daemon/http/openapi-routes.js';
import { NO_LIMITS } from '../../daemon/http/limits.js';
import { memoryApi, type MemoryApiOptions } from '../helpers/memory-api.js';
import { ROOT } from '../helpers/memory-service.js';
import { generateCases, type FuzzCase } from './lib/fuzz-cases.js';
import { formatFailures, formatStats, runFuzz } from './lib/fuzz-run.js';
import type { RawResponse } from './lib/raw-http.js';

const TARGET = 'fuzz-target';
const DEFAULTS = { vcpus: 1, memoryMib: 1024, diskMib: 2048, swapMib: 512, port: 8000, image: 'base' };

async function fuzzMemory(theSpec: Json = spec, handlers: MemoryApiOptions['handlers'] = {}) {
  // Limits off: with them, most cases for the operations that need no token would be answered 429
  // before validation and the handlers ever saw them. The limits have their own attacker tests
  // (api/rate-limits.test.ts).
  const api = await memoryApi({ spec: theSpec, handlers, limits: NO_LIMITS });
  const address = await api.app.listen({ host: '127.0.0.1', port: 0 });
  const port = Number(new URL(address).port);
  let token = api.admin;
  const mint = () => {
    token = newToken();
    api.tokens.insert({ id: `tok_${Math.random().toString(16).slice(2, 14).padEnd(12, '0')}`, hash: hashToken(token), userId: 'admin', kind: 'admin', description: 'fuzz', createdAt: new Date().toISOString(), expiresAt: null });
  };
  const ensureTarget = async () => {
    try {
      api.h.service.get(ROOT, TARGET);
    } catch {
      await api.h.service.create(ROOT, { ...DEFAULTS, name: TARGET });
    }
  };
  await ensureTarget();
  const made = new Set<string>([TARGET]);
  const cases = generateCases(theSpec, { host: `127.0.0.1:${port}`, token: () => token, targetVm: TARGET });
  const afterCase = async (c: FuzzCase, r: RawResponse) => {
    if (c.op === 'createVm' && r.status === 201) made.add(JSON.parse(r.body.toString('utf8')).name);
    if (r.status === null || r.status >= 300 || c.method === 'GET') return;
    const row = api.tokens.findByHash(hashToken(token));
    if (!row || row.revokedAt) mint();
    await ensureTarget();
  };
  const result = await runFuzz(cases, { host: '127.0.0.1', port, token: () => token, after: afterCase, timeoutMs: 5000, holdMs: 1000 });
  return { api, port, made, cases, ...result };
}

/** Every VM's tap, disk and process agree with its state; nothing exists for a VM that is not in the store. */
function assertConsistent(api: Awaited<ReturnType<typeof memoryApi>>) {
  const vms = api.h.store.list();
  const ids = new Set(vms.map((v) => v.id));
  for (const vm of vms) {
    const up = vm.state === 'running' || vm.state === 'starting';
    assert.ok(['running', 'starting', 'sleeping', 'stopped', 'failed'].includes(vm.state), `${vm.name} left in ${vm.state}`);
    assert.equal(api.h.hypervisor.machines.has(vm.id), up, `${vm.name} (${vm.state}) process`);
    assert.equal(api.h.network.taps.has(vm.tap), up, `${vm.name} (${vm.state}) tap`);
    assert.ok(api.h.disks.disks.has(vm.id), `${vm.name} has its disk`);
  }
  for (const id of api.h.hypervisor.machines.keys()) assert.ok(ids.has(id), `process for unknown VM ${id}`);
  for (const id of api.h.disks.disks.keys()) assert.ok(ids.has(id), `disk for unknown VM ${id}`);
  const taps = new Set(vms.map((v) => v.tap));
  for (const tap of api.h.network.taps.keys()) assert.ok(taps.has(tap), `tap ${tap} for unknown VM`);
}

describe('fuzzing every operation in openapi.yaml (real HTTP layer, in-memory services)', () => {
  let run: Awaited<ReturnType<typeof fuzzMemory>>;
  before(async () => {
    run = await fuzzMemory();
  });
  after(async () => {
    await run?.api.app.close();
    await run?.api.h.service.close();
  });

  test('no 5xx but 501, every error is problem+json with its code, nothing forbidden is accepted', (t) => {
    t.diagnostic(`${run.cases.length} requests in ${(run.ms / 1000).toFixed(1)} s`);
    for (const line of formatStats(run.stats).split('\n')) t.diagnostic(line);
    // Not a failure: handlers validate beyond the schema (SSH key format, NUL in config values, __proto__ keys).
    t.diagnostic(`valid per the schemas but refused with 400 by a semantic check: ${run.rejectedValid.length}`);
    assert.deepEqual(run.failures, [], `\n${formatFailures(run.failures)}`);
    const ops = (spec as Json).paths ? Object.values<Json>((spec as Json).paths).flatMap((p) => Object.values<Json>(p).filter((o) => o?.operationId).map((o) => o.operationId as string)) : [];
    for (const op of ops) assert.ok((run.stats.get(op)?.tried ?? 0) >= 40, `${op} got only ${run.stats.get(op)?.tried ?? 0} requests`);
    assert.ok((run.stats.get('(protocol)')?.tried ?? 0) > 10);
  });

  test('nothing leaks: rows are only what 2xx answers made; resources match states; deleting all leaves nothing', async () => {
    const names = run.api.h.store.list().map((v) => v.name);
    for (const n of names) assert.ok(run.made.has(n), `VM ${JSON.stringify(n)} exists but no 2xx answer created it`);
    assertConsistent(run.api);
    for (const vm of run.api.h.store.list()) await run.api.h.service.delete(ROOT, vm.name);
    assert.deepEqual(
      { rows: run.api.h.store.list().length, taps: run.api.h.network.taps.size, disks: run.api.h.disks.disks.size, processes: run.api.h.hypervisor.machines.size },
      { rows: 0, taps: 0, disks: 0, processes: 0 },
    );
    const health = await run.api.app.inject({ method: 'GET', url: '/v1/health' });
    assert.equal(health.statusCode, 200, 'the server still answers');
  });
});

/** openapi.yaml plus an operation nobody wrote a fuzz case for; its handler crashes on non-ASCII labels. */
function fixtureSpec(): Json {
  const f = structuredClone(spec) as Json;
  f.paths['/v1/vms/{name}/fixture-widgets'] = {
    parameters: [{ $ref: '#/components/parameters/VmName' }],
    post: {
      operationId: 'createFixtureWidget',
      tags: ['vms'],
      summary: 'A new operation (fixture)',
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: {
              type: 'object', additionalProperties: false, required: ['label'],
              properties: { label: { type: 'string', minLength: 1, maxLength: 30 }, keep: { type: 'integer', minimum: 1, maximum: 10 } },
            },
          },
        },
      },
      responses: {
        '201': { description: 'Made', content: { 'application/json': { schema: { type: 'object' } } } },
        default: { $ref: '#/components/responses/Problem' },
      },
    },
  };
  return f;
}

test('a new operation in the spec is fuzzed without touching the fuzzer, and a crash in it is caught', async () => {
  const run = await fuzzMemory(fixtureSpec(), {
    createFixtureWidget: ({ body }: { body: Json }) => {
      if (/[^\x20-\x7e]/.test(body.label)) throw new TypeError('label encoding not handled');
      return { label: body.label };
    },
  });
  try {
    const st = run.stats.get('createFixtureWidget');
    assert.ok(st && st.tried >= 100, `createFixtureWidget got ${st?.tried ?? 0} requests`);
    const crashes = run.failures.filter((f) => f.op === 'createFixtureWidget');
    assert.ok(crashes.length > 0, 'the planted crash was not found');
    assert.ok(crashes.every((f) => f.status === 500 && /^body\.label=/.test(f.label)), formatFailures(crashes));
    assert.deepEqual(run.failures.filter((f) => f.op !== 'createFixtureWidget'), []);
  } finally {
    await run.api.app.close();
    await run.api.h.service.close();
  }
});
