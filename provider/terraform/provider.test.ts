/**
 * End-to-end tests of the generic provider against the real terraform
 * binary (offline: dev_overrides, no init, CHECKPOINT_DISABLE). The test
 * provider (test/iac/terraform/thing-provider.ts) keeps its "remote" objects
 * in a JSON file, because terraform starts a new provider process for every
 * command.
 *
 *   npx tsx --test provider/terraform/provider.test.ts
 *   FCM_TF_LOG=trace FCM_KEEP_TF_DIRS=1 ...   keeps terraform.log in the temp dirs
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatTimings, jsonLines, terraformMissing, Workspace } from '../../test/iac/terraform/harness.js';
import { readStore, thingProviderSpec, writeStore } from '../../test/iac/terraform/thing-provider.js';
import { providerSchemaJson, providerSchemaJsonText } from './provider.js';

const ENTRY = fileURLToPath(new URL('../../test/iac/terraform/thing-provider-main.ts', import.meta.url));
const missing = terraformMissing();

function workspace(label: string): Workspace {
  return new Workspace({ providerName: 'fcmtest', entry: ENTRY, label });
}

/** HCL for the test provider plus the given resource/data blocks. */
function config(ws: Workspace, body: string): string {
  return `terraform {
  required_providers {
    fcmtest = { source = "fcm/fcmtest" }
  }
}

provider "fcmtest" {
  store_path = ${JSON.stringify(ws.path('store.json'))}
  token      = "s3cret"
}

${body}
`;
}

const thing = (name: string, extra = ''): string => `resource "fcmtest_thing" "a" {
  name   = ${JSON.stringify(name)}
  labels = { env = "dev" }
${extra}}
`;

/** The planned_change actions of a `plan -json` run, by resource address. */
function plannedActions(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of jsonLines(stdout)) if (m['type'] === 'planned_change') out[m['change']['resource']['addr']] = m['change']['action'];
  return out;
}

function errors(stdout: string): Record<string, any>[] {
  return jsonLines(stdout)
    .filter((m) => m['type'] === 'diagnostic' || m['diagnostic'])
    .map((m) => m['diagnostic'] as Record<string, any>)
    .filter((d) => d['severity'] === 'error');
}

function state(ws: Workspace): Record<string, any> {
  return JSON.parse(readFileSync(`${ws.work}/terraform.tfstate`, 'utf8'));
}

function resourceAttrs(ws: Workspace, name: string): Record<string, any> {
  const r = state(ws)['resources'].find((x: Record<string, any>) => x['mode'] === 'managed' && x['name'] === name);
  assert.ok(r, `resource ${name} in state`);
  return r['instances'][0]['attributes'];
}

// Independent workspaces run side by side; each terraform command is CPU-bound
// (it starts the node provider 2-4 times), so keep this near the core count.
const concurrency = Number(process.env['FCM_TF_TEST_CONCURRENCY'] ?? 2);

describe('terraform provider (real terraform)', { concurrency }, () => {
  after(() => {
    if (!missing) process.stderr.write(`\nterraform command timings:\n${formatTimings()}\n`);
  });

  test('lifecycle: create, no-op plan, update in place, replace, drift, destroy; data source', async (t) => {
    if (missing) return t.skip(missing);
    const ws = workspace('lifecycle');
    t.after(() => ws.cleanup());
    const storePath = ws.path('store.json');
    const dataAndOutputs = `
data "fcmtest_thing" "a" {
  name = fcmtest_thing.a.name
}

output "data_size" {
  value = data.fcmtest_thing.a.size
}

output "data_id" {
  value = data.fcmtest_thing.a.id
}
`;

    await t.test('apply creates (computed size filled in by the provider)', async () => {
      ws.writeConfig(config(ws, thing('alpha') + dataAndOutputs));
      const r = await ws.tf(['apply', '-auto-approve', '-no-color']);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(r.stdout, /fcmtest_thing\.a: Creation complete/);
      const s = readStore(storePath);
      assert.deepEqual(s.ops, ['create t1']);
      assert.deepEqual(s.things['t1'], { id: 't1', name: 'alpha', size: 1, labels: { env: 'dev' }, status: 'ready' });
      assert.deepEqual(resourceAttrs(ws, 'a'), { id: 't1', name: 'alpha', size: 1, labels: { env: 'dev' }, status: 'ready' });
    });

    await t.test('data source reads the created thing', async () => {
      const r = await ws.tf(['output', '-json']);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out['data_size']['value'], 1);
      assert.equal(out['data_id']['value'], 't1');
    });

    await t.test('second plan shows no changes (exit 0)', async () => {
      const r = await ws.tf(['plan', '-detailed-exitcode', '-no-color']);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(r.stdout, /No changes/);
    });

    await t.test('changing size updates in place', async () => {
      ws.writeConfig(config(ws, thing('alpha', '  size   = 3\n') + dataAndOutputs));
      const plan = await ws.tf(['plan', '-json', '-detailed-exitcode']);
      assert.equal(plan.code, 2, plan.stderr);
      assert.equal(plannedActions(plan.stdout)['fcmtest_thing.a'], 'update');
      const r = await ws.tf(['apply', '-auto-approve', '-no-color']);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const s = readStore(storePath);
      assert.deepEqual(s.ops, ['create t1', 'update t1']);
      assert.equal(s.things['t1']?.size, 3);
      const attrs = resourceAttrs(ws, 'a');
      assert.equal(attrs['id'], 't1', 'id kept (useStateForUnknown)');
      assert.equal(attrs['status'], 'updated', 'computed status re-read after update');
      const out = JSON.parse((await ws.tf(['output', '-json'])).stdout);
      assert.equal(out['data_size']['value'], 3, 'data source re-read after the update');
    });

    await t.test('changing name forces replacement (RequiresReplace path "name")', async () => {
      ws.writeConfig(config(ws, thing('beta', '  size   = 3\n') + dataAndOutputs));
      const plan = await ws.tf(['plan', '-out=replace.tfplan', '-no-color']);
      assert.equal(plan.code, 0, plan.stderr + plan.stdout);
      assert.match(plan.stdout, /must be replaced/);
      assert.match(plan.stdout, /# forces replacement/);
      const show = await ws.tf(['show', '-json', 'replace.tfplan']);
      assert.equal(show.code, 0, show.stderr);
      const rc = JSON.parse(show.stdout)['resource_changes'].find((c: Record<string, any>) => c['address'] === 'fcmtest_thing.a');
      assert.deepEqual(rc['change']['actions'], ['delete', 'create']);
      assert.deepEqual(rc['change']['replace_paths'], [['name']]);
      assert.equal(rc['action_reason'], 'replace_because_cannot_update');
      const r = await ws.tf(['apply', '-no-color', 'replace.tfplan']);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const s = readStore(storePath);
      assert.deepEqual(s.ops, ['create t1', 'update t1', 'delete t1', 'create t2']);
      assert.deepEqual(Object.keys(s.things), ['t2']);
      assert.equal(resourceAttrs(ws, 'a')['id'], 't2');
    });

    await t.test('drift made outside terraform shows up in plan', async () => {
      const s = readStore(storePath);
      s.things['t2']!.size = 42;
      writeStore(storePath, s);
      const plan = await ws.tf(['plan', '-detailed-exitcode', '-no-color']);
      assert.equal(plan.code, 2, plan.stderr + plan.stdout);
      // refreshed value (42) vs configuration (3)
      assert.match(plan.stdout, /~ size += 42 -> 3/);

      // the object vanishing: read returns null -> terraform plans to create it again
      const s2 = readStore(storePath);
      delete s2.things['t2'];
      writeStore(storePath, s2);
      const plan2 = await ws.tf(['plan', '-json', '-detailed-exitcode']);
      assert.equal(plan2.code, 2, plan2.stderr);
      assert.equal(plannedActions(plan2.stdout)['fcmtest_thing.a'], 'create');
      assert.ok(
        jsonLines(plan2.stdout).some((m) => m['type'] === 'resource_drift' && m['change']['action'] === 'delete'),
        'drift reported as deleted',
      );

      const fix = await ws.tf(['apply', '-auto-approve', '-no-color']);
      assert.equal(fix.code, 0, fix.stderr + fix.stdout);
      assert.equal(readStore(storePath).ops.at(-1), 'create t3');
      const again = await ws.tf(['plan', '-detailed-exitcode', '-no-color']);
      assert.equal(again.code, 0, again.stderr + again.stdout);
    });

    await t.test('destroy deletes', async () => {
      const r = await ws.tf(['destroy', '-auto-approve', '-no-color']);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const s = readStore(storePath);
      assert.deepEqual(s.things, {});
      assert.equal(s.ops.at(-1), 'delete t3');
      assert.deepEqual(state(ws)['resources'], []);
    });
  });

  test('import adopts an existing object; unknown ids are reported', async (t) => {
    if (missing) return t.skip(missing);
    const ws = workspace('import');
    t.after(() => ws.cleanup());
    const storePath = ws.path('store.json');
    writeStore(storePath, {
      nextId: 100,
      things: { t99: { id: 't99', name: 'existing', size: 7, labels: { env: 'dev' }, status: 'ready' } },
      ops: [],
    });
    ws.writeConfig(config(ws, thing('existing', '  size   = 7\n')));

    const r = await ws.tf(['import', '-no-color', 'fcmtest_thing.a', 't99']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /Import successful/);
    assert.deepEqual(resourceAttrs(ws, 'a'), { id: 't99', name: 'existing', size: 7, labels: { env: 'dev' }, status: 'ready' });
    const plan = await ws.tf(['plan', '-detailed-exitcode', '-no-color']);
    assert.equal(plan.code, 0, plan.stderr + plan.stdout);
    assert.deepEqual(readStore(storePath).ops, [], 'import does not modify anything');

    ws.writeConfig(config(ws, thing('existing', '  size   = 7\n') + thing('ghost').replace('"a"', '"b"')));
    const bad = await ws.tf(['import', '-no-color', 'fcmtest_thing.b', 't404']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /Cannot import non-existent remote object/);
  });

  test('invalid input: diagnostics name the attribute', async (t) => {
    if (missing) return t.skip(missing);
    const ws = workspace('invalid');
    t.after(() => ws.cleanup());

    // ValidateResourceConfig: the attribute path becomes a source range in main.tf
    ws.writeConfig(config(ws, thing('Not Valid!', '  size   = 500\n')));
    const v = await ws.tf(['validate', '-json']);
    assert.equal(v.code, 1, v.stderr);
    const out = JSON.parse(v.stdout);
    assert.equal(out['valid'], false);
    const byS = Object.fromEntries(out['diagnostics'].map((d: Record<string, any>) => [d['summary'], d]));
    const nameDiag = byS['Invalid thing name'];
    assert.ok(nameDiag, JSON.stringify(out['diagnostics']));
    assert.match(nameDiag['detail'], /"Not Valid!" must match/);
    assert.equal(nameDiag['address'], 'fcmtest_thing.a');
    assert.match(nameDiag['snippet']['code'], /name += "Not Valid!"/);
    const lines = readFileSync(`${ws.work}/main.tf`, 'utf8').split('\n');
    assert.match(lines[nameDiag['range']['start']['line'] - 1]!, /^\s*name\s*=/);
    const sizeDiag = byS['Invalid size'];
    assert.ok(sizeDiag);
    assert.match(lines[sizeDiag['range']['start']['line'] - 1]!, /^\s*size\s*=\s*500/);

    // An error thrown by a handler at apply time (code + attribute) points at the attribute too.
    ws.writeConfig(config(ws, thing('taken')));
    const a = await ws.tf(['apply', '-json', '-auto-approve']);
    assert.equal(a.code, 1, a.stderr);
    const errs = errors(a.stdout);
    assert.equal(errs.length, 1, JSON.stringify(errs));
    assert.equal(errs[0]!['summary'], 'a thing named taken already exists');
    assert.match(errs[0]!['detail'], /Error code: conflict/);
    assert.match(errs[0]!['snippet']['code'], /name += "taken"/);
    assert.deepEqual(readStore(ws.path('store.json')).things, {});
    assert.deepEqual(state(ws)['resources'] ?? [], [], 'failed create leaves nothing in state');

    // Data source errors point at their attribute as well.
    ws.writeConfig(config(ws, 'data "fcmtest_thing" "x" {\n  name = "nope"\n}\n'));
    const d = await ws.tf(['plan', '-json']);
    assert.equal(d.code, 1, d.stderr);
    const derr = errors(d.stdout);
    assert.equal(derr[0]?.['summary'], 'no thing named nope');
    assert.match(derr[0]?.['snippet']['code'], /name = "nope"/);
  });

  test('unknown inputs (values known only after apply) flow through validate, plan and apply', async (t) => {
    if (missing) return t.skip(missing);
    const ws = workspace('unknowns');
    t.after(() => ws.cleanup());
    ws.writeConfig(
      config(
        ws,
        thing('first') +
          `
resource "fcmtest_thing" "b" {
  name = "copy-of-\${fcmtest_thing.a.id}"
  size = fcmtest_thing.a.size + 1
}
`,
      ),
    );
    const plan = await ws.tf(['plan', '-no-color']);
    assert.equal(plan.code, 0, plan.stderr + plan.stdout);
    assert.match(plan.stdout, /\+ name += \(known after apply\)/);
    const r = await ws.tf(['apply', '-auto-approve', '-no-color']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const things = Object.values(readStore(ws.path('store.json')).things);
    assert.deepEqual(
      things.map((x) => [x.name, x.size]),
      [
        ['first', 1],
        ['copy-of-t1', 2],
      ],
    );
    const again = await ws.tf(['plan', '-detailed-exitcode', '-no-color']);
    assert.equal(again.code, 0, again.stderr + again.stdout);
  });

  test('a create that fails after creating the object records it as tainted; the next apply replaces it', async (t) => {
    if (missing) return t.skip(missing);
    const ws = workspace('tainted');
    t.after(() => ws.cleanup());
    const storePath = ws.path('store.json');
    ws.writeConfig(config(ws, thing('half-done')));
    const r = await ws.tf(['apply', '-auto-approve', '-no-color']);
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.match(r.stderr, /thing t1 was created but is broken/);
    const inst = state(ws)['resources'][0]['instances'][0];
    assert.equal(inst['status'], 'tainted');
    assert.equal(inst['attributes']['id'], 't1');
    const plan = await ws.tf(['plan', '-no-color']);
    assert.match(plan.stdout, /is tainted, so must be replaced/);
    // nothing leaked: a destroy removes the half-created object
    const d = await ws.tf(['destroy', '-auto-approve', '-no-color']);
    assert.equal(d.code, 0, d.stderr + d.stdout);
    assert.deepEqual(readStore(storePath).things, {});
  });

  test('Ctrl-C during apply: terraform calls StopProvider, the handler sees its abort signal', async (t) => {
    if (missing) return t.skip(missing);
    const ws = workspace('interrupt');
    t.after(() => ws.cleanup());
    const storePath = ws.path('store.json');
    ws.writeConfig(config(ws, thing('slow-one')));
    const run = ws.tfStart(['apply', '-auto-approve', '-no-color']);
    const deadline = Date.now() + 60_000;
    while (!readStore(storePath).ops.includes('begin create slow-one')) {
      if (Date.now() > deadline) throw new Error('create never started');
      await new Promise((r) => setTimeout(r, 100));
    }
    const t0 = performance.now();
    run.child.kill('SIGINT'); // terraform forwards nothing itself: it calls StopProvider
    const r = await run.done;
    t.diagnostic(`SIGINT -> terraform exit: ${Math.round(performance.now() - t0)} ms`);
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.match(r.stdout + r.stderr, /Interrupt received/);
    assert.match(r.stderr, /create interrupted: provider stopped/);
    assert.deepEqual(readStore(storePath).things, {});
  });

  test('providerSchemaJson matches `terraform providers schema -json`', async (t) => {
    if (missing) return t.skip(missing);
    const ws = workspace('schema');
    t.after(() => ws.cleanup());
    ws.writeConfig(config(ws, ''));
    const r = await ws.tf(['providers', 'schema', '-json']);
    assert.equal(r.code, 0, r.stderr);
    const spec = thingProviderSpec();
    assert.deepEqual(JSON.parse(r.stdout), providerSchemaJson(spec));
    assert.equal(r.stdout, providerSchemaJsonText(spec), 'byte-identical');
  });
});
