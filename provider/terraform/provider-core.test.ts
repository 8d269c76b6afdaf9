/**
 * The Provider service semantics, in-process (no gRPC, no terraform):
 * requests are built the way Terraform sends them, responses decoded back.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  defaultPlan,
  errorToDiagnostic,
  objectType,
  ProviderError,
  providerSchemaJson,
  providerSchemaJsonText,
  ProviderServer,
  type AttributeSpec,
  type ProviderSpec,
  type ResourceHandler,
} from './provider.js';
import { createLogger, hclogTimestamp } from './log.js';
import { decodeDynamicValue, encodeDynamicValue, isUnknown, UNKNOWN, type Value } from './wire.js';

const silent = createLogger('test', () => {});

const schema: AttributeSpec[] = [
  { name: 'id', type: 'string', computed: true, useStateForUnknown: true, description: 'id' },
  { name: 'name', type: 'string', required: true, forceNew: true, description: 'name', validate: (v) => (v === 'bad' ? 'bad is not allowed' : undefined) },
  { name: 'size', type: 'number', optional: true, computed: true, default: 1, description: 'size <1 & >0>' },
  { name: 'note', type: 'string', optional: true, computed: true, description: 'server-chosen note' },
  { name: 'tags', type: ['set', 'string'], optional: true, description: 'tags' },
  { name: 'status', type: 'string', computed: true, description: 'status' },
];
const T = objectType(schema);

type S = Record<string, Value>;

function spec(handler: Partial<ResourceHandler<S>>, extra: Partial<ProviderSpec> = {}): ProviderSpec {
  const base: ResourceHandler<S> = {
    async create(p) {
      return { ...p, id: 'i1', note: isUnknown(p['note']) ? 'n' : (p['note'] ?? null), status: 'ok' };
    },
    async read(c) {
      return c;
    },
    async update(_p, planned) {
      return { ...planned, status: 'updated' };
    },
    async delete() {},
  };
  return {
    name: 'unit',
    providerSchema: [{ name: 'endpoint', type: 'string', optional: true, description: 'endpoint' }],
    configure: () => {},
    resources: { unit_res: { schema, handler: { ...base, ...handler } } },
    dataSources: {},
    ...extra,
  };
}

const dv = (v: unknown) => encodeDynamicValue(v, T);
const val = (d: any): S | null => decodeDynamicValue(d, T) as S | null;
const full = (over: Partial<S> = {}): S => ({ id: null, name: 'a', size: null, note: null, tags: null, status: null, ...over });

async function plan(p: ProviderServer, prior: S | null, proposed: S | null, config: S | null = proposed) {
  const res = await p.PlanResourceChange({
    type_name: 'unit_res',
    prior_state: dv(prior),
    proposed_new_state: dv(proposed),
    config: dv(config),
    prior_private: Buffer.from('priv'),
  });
  return Object.assign(res, { planned: val(res['planned_state']) });
}

describe('PlanResourceChange (default plan)', () => {
  test('create: computed unknown, defaults filled, no replace', async () => {
    const p = new ProviderServer(spec({}), silent);
    const r = await plan(p, null, full());
    assert.equal(r['diagnostics'].length, 0);
    assert.ok(isUnknown(r.planned!['id']) && isUnknown(r.planned!['status']) && isUnknown(r.planned!['note']));
    assert.equal(r.planned!['size'], 1, 'default planned instead of unknown');
    assert.deepEqual(r['requires_replace'], []);
    assert.equal(r['planned_private'].toString(), 'priv', 'private state passes through');
  });

  test('update without changes keeps everything (no diff)', async () => {
    const p = new ProviderServer(spec({}), silent);
    const prior = full({ id: 'i1', size: 1, note: 'n', status: 'ok', tags: ['x', 'y'] });
    // Terraform's proposed state: config values, prior values for computed attributes left null in config
    const proposed = { ...prior, tags: ['y', 'x'] };
    const config = full({ tags: ['y', 'x'] });
    const r = await plan(p, prior, proposed, config);
    assert.deepEqual(r.planned, proposed);
    assert.deepEqual(r['requires_replace'], []);
  });

  test('update with a changed argument: computed-only become unknown unless useStateForUnknown', async () => {
    const p = new ProviderServer(spec({}), silent);
    const prior = full({ id: 'i1', size: 1, note: 'n', status: 'ok' });
    const config = full({ size: 5 });
    const r = await plan(p, prior, { ...prior, size: 5 }, config);
    assert.equal(r.planned!['size'], 5);
    assert.equal(r.planned!['id'], 'i1');
    assert.equal(r.planned!['note'], 'n', 'optional+computed left unset keeps the prior value');
    assert.ok(isUnknown(r.planned!['status']));
  });

  test('removing an argument with a default reverts to the default', async () => {
    const p = new ProviderServer(spec({}), silent);
    const prior = full({ id: 'i1', size: 5, note: 'n', status: 'ok' });
    const r = await plan(p, prior, { ...prior }, full());
    assert.equal(r.planned!['size'], 1);
  });

  test('forceNew attribute change -> requires_replace path; unknown counts as a change', async () => {
    const p = new ProviderServer(spec({}), silent);
    const prior = full({ id: 'i1', size: 1, note: 'n', status: 'ok' });
    const r = await plan(p, prior, { ...prior, name: 'b' }, full({ name: 'b' }));
    assert.deepEqual(r['requires_replace'], [{ steps: [{ attribute_name: 'name' }] }]);
    const r2 = await plan(p, prior, { ...prior, name: UNKNOWN }, full({ name: UNKNOWN }));
    assert.deepEqual(r2['requires_replace'], [{ steps: [{ attribute_name: 'name' }] }]);
  });

  test('destroy plan (proposed null) plans null', async () => {
    const p = new ProviderServer(spec({}), silent);
    const r = await plan(p, full({ id: 'i1' }), null, null);
    assert.equal(r.planned, null);
  });

  test('a handler plan can refine the default plan', async () => {
    const p = new ProviderServer(
      spec({
        plan(_prior, _proposed, ctx) {
          const base = ctx.defaultPlan();
          return { ...base, planned: { ...base.planned, note: `for ${String(ctx.config['name'])}` }, diagnostics: [{ severity: 'warning', summary: 'heads up', attribute: 'note' }] };
        },
      }),
      silent,
    );
    const r = await plan(p, null, full());
    assert.equal(r.planned!['note'], 'for a');
    assert.deepEqual(r['diagnostics'], [{ severity: 'WARNING', summary: 'heads up', detail: '', attribute: { steps: [{ attribute_name: 'note' }] } }]);
  });
});

describe('ApplyResourceChange / ReadResource / Import / Upgrade', () => {
  test('create merges handler output over the plan; leftover unknowns are an error', async () => {
    const p = new ProviderServer(spec({}), silent);
    const planned = full({ id: UNKNOWN, size: 1, note: UNKNOWN, status: UNKNOWN });
    const r = await p.ApplyResourceChange({ type_name: 'unit_res', prior_state: dv(null), planned_state: dv(planned), planned_private: Buffer.from('pp') });
    assert.deepEqual(r['diagnostics'], []);
    assert.deepEqual(val(r['new_state']), full({ id: 'i1', size: 1, note: 'n', status: 'ok' }));
    assert.equal(r['private'].toString(), 'pp');

    const lazy = new ProviderServer(spec({ create: async () => ({ id: 'i2' }) }), silent);
    const r2 = await lazy.ApplyResourceChange({ type_name: 'unit_res', prior_state: dv(null), planned_state: dv(planned) });
    assert.match(r2['diagnostics'][0].summary, /create left unknown values in the new state: note, status/);
    assert.equal(val(r2['new_state']), null, 'failed create: nothing exists');
  });

  test('failed update keeps the prior state and points at the attribute from the error', async () => {
    const p = new ProviderServer(
      spec({
        update: async () => {
          throw new ProviderError('size too large for plan', { code: 'quota', attribute: 'size', detail: 'max is 3' });
        },
      }),
      silent,
    );
    const prior = full({ id: 'i1', size: 1, note: 'n', status: 'ok' });
    const r = await p.ApplyResourceChange({ type_name: 'unit_res', prior_state: dv(prior), planned_state: dv({ ...prior, size: 9, status: UNKNOWN }) });
    assert.deepEqual(val(r['new_state']), prior);
    assert.deepEqual(r['diagnostics'], [
      { severity: 'ERROR', summary: 'size too large for plan', detail: 'max is 3\n\nError code: quota', attribute: { steps: [{ attribute_name: 'size' }] } },
    ]);
  });

  test('a failed create can record the partial state (Terraform then taints it)', async () => {
    const p = new ProviderServer(
      spec({
        create: async () => {
          throw new ProviderError('created but never became ready', { code: 'timeout', state: { id: 'i9', status: 'failed' } });
        },
      }),
      silent,
    );
    const planned = full({ id: UNKNOWN, size: 1, note: UNKNOWN, status: UNKNOWN });
    const r = await p.ApplyResourceChange({ type_name: 'unit_res', prior_state: dv(null), planned_state: dv(planned) });
    assert.deepEqual(val(r['new_state']), full({ id: 'i9', size: 1, note: null, status: 'failed' }));
    assert.equal(r['diagnostics'][0].summary, 'created but never became ready');
  });

  test('plain errors with code/attribute properties (API errors) are understood too', () => {
    const e = Object.assign(new Error('name taken'), { code: 'conflict', attribute: 'name' });
    assert.deepEqual(errorToDiagnostic(e), { severity: 'error', summary: 'name taken', detail: 'Error code: conflict', attribute: 'name' });
    assert.deepEqual(errorToDiagnostic('boom'), { severity: 'error', summary: 'boom' });
  });

  test('delete returns a null state', async () => {
    let deleted: S | null = null;
    const p = new ProviderServer(spec({ delete: async (s) => void (deleted = s) }), silent);
    const prior = full({ id: 'i1', size: 1, note: 'n', status: 'ok' });
    const r = await p.ApplyResourceChange({ type_name: 'unit_res', prior_state: dv(prior), planned_state: dv(null) });
    assert.equal(val(r['new_state']), null);
    assert.deepEqual(deleted, prior);
  });

  test('read: null means gone, private passes through, undefined keys keep current values', async () => {
    const gone = new ProviderServer(spec({ read: async () => null }), silent);
    const cur = full({ id: 'i1', size: 1, note: 'n', status: 'ok' });
    const r = await gone.ReadResource({ type_name: 'unit_res', current_state: dv(cur), private: Buffer.from('x') });
    assert.equal(r['new_state'].msgpack.toString('hex'), 'c0');
    assert.equal(r['private'].toString(), 'x');
    const partial = new ProviderServer(spec({ read: async () => ({ status: 'drifted', extra: 1 }) }), silent);
    const r2 = await partial.ReadResource({ type_name: 'unit_res', current_state: dv(cur) });
    assert.deepEqual(val(r2['new_state']), { ...cur, status: 'drifted' });
  });

  test('import: found / not found / not importable', async () => {
    const p = new ProviderServer(spec({ importById: async (id) => (id === 'i1' ? { id, name: 'a', size: 2, note: 'n', status: 'ok' } : null) }), silent);
    const ok = await p.ImportResourceState({ type_name: 'unit_res', id: 'i1' });
    assert.equal(ok['imported_resources'][0].type_name, 'unit_res');
    assert.deepEqual(val(ok['imported_resources'][0].state), full({ id: 'i1', size: 2, note: 'n', status: 'ok' }));
    const missing = await p.ImportResourceState({ type_name: 'unit_res', id: 'zz' });
    assert.equal(missing['diagnostics'][0].summary, 'Cannot import non-existent remote object');
    const no = await new ProviderServer(spec({}), silent).ImportResourceState({ type_name: 'unit_res', id: 'i1' });
    assert.match(no['diagnostics'][0].summary, /does not support import/);
  });

  test('UpgradeResourceState converts stored JSON to the current schema', async () => {
    const p = new ProviderServer(spec({}), silent);
    const raw = { id: 'i1', name: 'a', size: 3, removed_attr: true, status: 'ok', tags: ['t'] };
    const r = await p.UpgradeResourceState({ type_name: 'unit_res', version: 0, raw_state: { json: Buffer.from(JSON.stringify(raw)), flatmap: {} } });
    assert.deepEqual(r['diagnostics'], []);
    assert.deepEqual(val(r['upgraded_state']), { id: 'i1', name: 'a', size: 3, note: null, tags: ['t'], status: 'ok' });

    const s = spec({});
    s.resources['unit_res']!.version = 2;
    s.resources['unit_res']!.upgradeState = (version, old) => ({ ...old, note: `from v${version}`, size: Number(old['sz']) });
    const r2 = await new ProviderServer(s, silent).UpgradeResourceState({
      type_name: 'unit_res',
      version: 1,
      raw_state: { json: Buffer.from(JSON.stringify({ id: 'i1', name: 'a', sz: '4' })) },
    });
    assert.deepEqual(val(r2['upgraded_state']), { id: 'i1', name: 'a', size: 4, note: 'from v1', tags: null, status: null });
  });
});

describe('validation, configuration, schema', () => {
  test('attribute validators and handler validate; unknown values are skipped', async () => {
    const p = new ProviderServer(spec({ validate: (c) => (c['size'] === 0 ? [{ severity: 'error', summary: 'zero', attribute: 'size' }] : []) }), silent);
    const bad = await p.ValidateResourceConfig({ type_name: 'unit_res', config: dv(full({ name: 'bad', size: 0 })) });
    assert.deepEqual(
      bad['diagnostics'].map((d: any) => [d.summary, d.attribute.steps[0].attribute_name]),
      [
        ['Invalid name', 'name'],
        ['zero', 'size'],
      ],
    );
    const unknown = await p.ValidateResourceConfig({ type_name: 'unit_res', config: dv(full({ name: UNKNOWN })) });
    assert.deepEqual(unknown['diagnostics'], []);
    const wrongType = await p.ValidateResourceConfig({ type_name: 'nope', config: dv(full()) });
    assert.match(wrongType['diagnostics'][0].summary, /unknown resource type nope/);
  });

  test('ConfigureProvider: returned and thrown problems become diagnostics', async () => {
    const seen: unknown[] = [];
    const p = new ProviderServer(
      spec({}, {
        configure: (c, ctx) => {
          seen.push(c['endpoint'], ctx.terraformVersion);
          if (c['endpoint'] === 'throw') throw new Error('cannot reach endpoint');
          return c['endpoint'] === 'warn' ? [{ severity: 'warning', summary: 'insecure endpoint', attribute: 'endpoint' }] : [];
        },
      }),
      silent,
    );
    const pt = ['object', { endpoint: 'string' }] as const;
    const ok = await p.ConfigureProvider({ terraform_version: '1.11.4', config: encodeDynamicValue({ endpoint: 'warn' }, pt) });
    assert.equal(ok['diagnostics'][0].severity, 'WARNING');
    const bad = await p.ConfigureProvider({ terraform_version: '1.11.4', config: encodeDynamicValue({ endpoint: 'throw' }, pt) });
    assert.equal(bad['diagnostics'][0].summary, 'cannot reach endpoint');
    assert.deepEqual(seen, ['warn', '1.11.4', 'throw', '1.11.4']);
  });

  test('spec checks catch schema mistakes early', () => {
    assert.throws(() => new ProviderServer(spec({}, { name: 'Bad' }), silent), /invalid provider name/);
    const s = spec({});
    s.resources['other_res'] = s.resources['unit_res']!;
    assert.throws(() => new ProviderServer(s, silent), /must start with unit_/);
    const s2 = spec({});
    s2.resources['unit_res'] = { schema: [{ name: 'x', type: 'string', required: true, default: 'a', description: '' }], handler: s.resources['unit_res']!.handler };
    assert.throws(() => new ProviderServer(s2, silent), /default needs optional \+ computed/);
    const s3 = spec({});
    s3.providerSchema = [{ name: 'x', type: 'string', description: '' }];
    assert.throws(() => new ProviderServer(s3, silent), /one of required, optional or computed/);
  });

  test('schema JSON: Go key order and HTML-safe escaping', () => {
    const s = spec({});
    const json = providerSchemaJson(s) as any;
    const res = json.provider_schemas['registry.terraform.io/fcm/unit'].resource_schemas.unit_res;
    assert.deepEqual(Object.keys(res.block.attributes), ['id', 'name', 'note', 'size', 'status', 'tags']);
    assert.deepEqual(res.block.attributes.size, { type: 'number', description: 'size <1 & >0>', description_kind: 'plain', optional: true, computed: true });
    const text = providerSchemaJsonText(s);
    assert.match(text, /"description":"size \\u003c1 \\u0026 \\u003e0\\u003e"/);
    assert.deepEqual(JSON.parse(text), json);
    assert.ok(text.endsWith('}\n'));
  });

  test('GetProviderSchema carries cty type JSON bytes and flags', async () => {
    const p = new ProviderServer(spec({}), silent);
    const r = await p.GetProviderSchema();
    const attrs = r['resource_schemas'].unit_res.block.attributes;
    assert.equal(attrs.find((a: any) => a.name === 'tags').type.toString(), '["set","string"]');
    assert.equal(attrs.find((a: any) => a.name === 'id').computed, true);
  });

  test('defaultPlan is usable on its own', () => {
    const r = defaultPlan(schema, null, full(), full());
    assert.ok(isUnknown(r.planned['id']));
  });
});

describe('logging', () => {
  test('hclog JSON lines with a timestamp go-plugin can parse (6 fractional digits)', () => {
    const lines: string[] = [];
    const log = createLogger('mod', (l) => lines.push(l));
    log.warn('hello', { n: 1n, err: new Error('bad') });
    const e = JSON.parse(lines[0]!);
    assert.equal(e['@level'], 'warn');
    assert.equal(e['@message'], 'hello');
    assert.equal(e['@module'], 'mod');
    assert.equal(e.n, '1');
    assert.equal(e.err, 'bad');
    assert.match(e['@timestamp'], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.equal(hclogTimestamp(new Date(Date.UTC(2025, 0, 2, 3, 4, 5, 67))), '2025-01-02T03:04:05.067000Z');
    assert.ok(lines[0]!.endsWith('\n'));
  });
});
