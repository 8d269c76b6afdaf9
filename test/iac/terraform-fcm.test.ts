/**
 * terraform-provider-fcm with the real terraform binary, offline
 * (dev_overrides to the shipped provider/terraform/bin shim, no init, no
 * registry, CHECKPOINT_DISABLE): schema, validation diagnostics, provider
 * config errors, and the full lifecycle of examples/terraform against a
 * real daemon with a real VM — apply, no-op plan, resize in place, drift
 * when stopped outside Terraform, import, destroy.
 */
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fcmProviderSpec } from '../../provider/terraform/fcm.js';
import { providerSchemaJsonText } from '../../provider/terraform/provider.js';
import { hostSkipReason, startHostHarness, type HostHarness } from '../helpers/host-harness.js';
import { memoryApi } from '../helpers/memory-api.js';
import { formatTimings, jsonLines, terraformMissing, Workspace } from './terraform/harness.js';

const SHIM = fileURLToPath(new URL('../../provider/terraform/bin/terraform-provider-fcm', import.meta.url));
const ENTRY = fileURLToPath(new URL('../../provider/terraform/main.ts', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../examples/terraform/main.tf', import.meta.url));
const missing = terraformMissing();

/** A workspace whose dev_overrides run the shipped shim (not the harness's own), with FCM_* from the test. */
function workspace(label: string, env: Record<string, string> = {}): Workspace {
  const ws = new Workspace({ providerName: 'fcm', entry: ENTRY, label });
  const bin = `${ws.bin}/terraform-provider-fcm`;
  rmSync(bin);
  symlinkSync(SHIM, bin);
  for (const k of Object.keys(ws.env)) if (k.startsWith('FCM_')) delete ws.env[k];
  Object.assign(ws.env, env);
  return ws;
}

function diagnostics(stdout: string): Record<string, any>[] {
  return jsonLines(stdout)
    .filter((m) => m['type'] === 'diagnostic')
    .map((m) => m['diagnostic'] as Record<string, any>);
}

function stateAttrs(ws: Workspace, type = 'fcm_vm', name = 'web'): Record<string, any> {
  const s = JSON.parse(readFileSync(`${ws.work}/terraform.tfstate`, 'utf8'));
  const r = s['resources'].find((x: Record<string, any>) => x['mode'] === 'managed' && x['type'] === type && x['name'] === name);
  assert.ok(r, `${type}.${name} in state`);
  return r['instances'][0]['attributes'];
}

const ok = (r: { code: number; stdout: string; stderr: string }, what: string) =>
  assert.equal(r.code, 0, `${what} failed:\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);

after(() => {
  if (!missing) process.stderr.write(`\nterraform command timings:\n${formatTimings()}\n`);
});

describe('terraform-provider-fcm (real terraform)', () => {
  test('terraform prints the schema the cdktf bindings are generated from', async (t) => {
    if (missing) return t.skip(missing);
    const ws = workspace('fcm-schema');
    t.after(() => ws.cleanup());
    ws.writeConfig('terraform {\n  required_providers {\n    fcm = { source = "fcm/fcm" }\n  }\n}\n');
    const r = await ws.tf(['providers', 'schema', '-json']);
    ok(r, 'providers schema');
    assert.equal(r.stdout, providerSchemaJsonText(fcmProviderSpec({})));
    assert.equal(r.stdout, readFileSync(new URL('../../provider/cdktf/schema.json', import.meta.url), 'utf8'));
  });

  test('invalid inputs: diagnostics point at each attribute', async (t) => {
    if (missing) return t.skip(missing);
    const ws = workspace('fcm-invalid');
    t.after(() => ws.cleanup());
    ws.writeConfig(`terraform {
  required_providers {
    fcm = { source = "fcm/fcm" }
  }
}

resource "fcm_vm" "bad" {
  name                 = "Bad_Name"
  memory_mib           = 64
  vcpus                = 1.5
  domains              = ["x"]
  wait_timeout_seconds = 0
}
`);
    const v = await ws.tf(['validate', '-json']);
    assert.equal(v.code, 1, v.stderr);
    const out = JSON.parse(v.stdout);
    const lines = readFileSync(`${ws.work}/main.tf`, 'utf8').split('\n');
    const at = (attr: string) =>
      out['diagnostics'].filter((d: Record<string, any>) => d['range'] && new RegExp(`^\\s*${attr}\\s*=`).test(lines[d['range']['start']['line'] - 1]!));
    for (const [attr, detail] of [
      ['name', /name must match pattern .*"Bad_Name"/],
      ['memory_mib', /memory_mib must be >= 128 \(got 64\)/],
      ['vcpus', /vcpus must be integer \(got 1.5\)/],
      ['domains', /domains element "x" must NOT have fewer than 4 characters/],
      ['wait_timeout_seconds', /from 1 to 3600 \(got 0\)/],
    ] as const) {
      const ds = at(attr);
      assert.ok(ds.length >= 1, `a diagnostic at ${attr}: ${JSON.stringify(out['diagnostics'], null, 1)}`);
      assert.equal(ds[0]['summary'], `Invalid ${attr}`);
      assert.equal(ds[0]['address'], 'fcm_vm.bad');
      assert.ok(ds.some((d: Record<string, any>) => detail.test(d['detail'])), `${attr}: ${ds.map((d: Record<string, any>) => d['detail']).join(' | ')}`);
    }
  });

  test('a bad provider host is reported at the provider attribute', async (t) => {
    if (missing) return t.skip(missing);
    const ws = workspace('fcm-badhost');
    t.after(() => ws.cleanup());
    ws.writeConfig(`terraform {
  required_providers {
    fcm = { source = "fcm/fcm" }
  }
}

provider "fcm" {
  host = "ftp://example.test"
}

resource "fcm_vm" "web" {
  name = "web"
}
`);
    const p = await ws.tf(['plan', '-json']);
    assert.equal(p.code, 1);
    const d = diagnostics(p.stdout).find((x) => /must be an http/.test(x['summary']));
    assert.ok(d, p.stdout);
    assert.match(d['snippet']['code'], /host = "ftp:\/\/example.test"/);
  });
});

describe('terraform-provider-fcm × in-memory API', () => {
  test('a VM that does not boot is kept as tainted and replaced by the next apply', async (t) => {
    if (missing) return t.skip(missing);
    const m = await memoryApi();
    const url = await m.app.listen({ host: '127.0.0.1', port: 0 });
    const ws = workspace('fcm-taint', { FCM_HOST: url, FCM_TOKEN: m.admin });
    t.after(async () => {
      ws.cleanup();
      await m.app.close();
    });
    ws.writeConfig(`terraform {
  required_providers {
    fcm = { source = "fcm/fcm" }
  }
}

resource "fcm_vm" "web" {
  name                 = "nb"
  wait_timeout_seconds = 30
}
`);
    m.h.guest.never = true;
    const failed = await ws.tf(['apply', '-auto-approve', '-json']);
    assert.equal(failed.code, 1);
    const err = diagnostics(failed.stdout).find((d) => d['severity'] === 'error');
    assert.match(err?.['summary'], /did not reach the desired state/);
    assert.match(err?.['detail'], /Error code: vm_failed/);
    const s = JSON.parse(readFileSync(`${ws.work}/terraform.tfstate`, 'utf8'));
    const inst = s['resources'][0]['instances'][0];
    assert.equal(inst['status'], 'tainted');
    assert.equal(inst['attributes']['state'], 'failed');
    const firstId = inst['attributes']['id'];

    m.h.guest.never = false;
    const plan = await ws.tf(['plan', '-json']);
    const change = jsonLines(plan.stdout).find((x) => x['type'] === 'planned_change');
    assert.equal(change?.['change']['action'], 'replace');
    ok(await ws.tf(['apply', '-auto-approve', '-no-color']), 'apply after taint');
    const fixed = stateAttrs(ws);
    assert.equal(fixed['state'], 'running');
    assert.notEqual(fixed['id'], firstId);
  });
});

describe('terraform-provider-fcm × sleep_after (in-memory API)', () => {
  test('sleep_after on create and changed in place; the API\'s spelling of the same time (60m → 1h) is no drift; off; bad values are diagnostics', async (t) => {
    if (missing) return t.skip(missing);
    const m = await memoryApi();
    const url = await m.app.listen({ host: '127.0.0.1', port: 0 });
    const ws = workspace('fcm-sleep-after', { FCM_HOST: url, FCM_TOKEN: m.admin });
    t.after(async () => {
      ws.cleanup();
      await m.app.close();
    });
    const config = (sleepAfter: string | null) => `terraform {
  required_providers {
    fcm = { source = "fcm/fcm" }
  }
}

resource "fcm_vm" "web" {
  name = "dozy"${sleepAfter === null ? '' : `\n  sleep_after = "${sleepAfter}"`}
}
`;
    const api = async () => (await m.app.inject({ method: 'GET', url: '/v1/vms/dozy', headers: { authorization: `Bearer ${m.admin}` } })).json();
    const noChanges = async (what: string) => {
      const p = await ws.tf(['plan', '-detailed-exitcode', '-no-color']);
      assert.equal(p.code, 0, `${what}: expected no changes:\n${p.stdout}\n${p.stderr}`);
    };

    ws.writeConfig(config('15m'));
    ok(await ws.tf(['apply', '-auto-approve', '-no-color']), 'apply');
    const vm = await api();
    assert.equal(vm.sleepAfter, '15m', 'created with it');
    assert.equal(stateAttrs(ws)['sleep_after'], '15m');
    await noChanges('after create');

    // 60m: an in-place update (same VM); the API answers 1h, the state keeps what was written.
    ws.writeConfig(config('60m'));
    const plan = await ws.tf(['plan', '-json']);
    const change = jsonLines(plan.stdout).find((x) => x['type'] === 'planned_change' && x['change']['resource']['addr'] === 'fcm_vm.web');
    assert.equal(change?.['change']['action'], 'update', plan.stdout);
    ok(await ws.tf(['apply', '-auto-approve', '-no-color']), 'apply 60m');
    const updated = await api();
    assert.deepEqual([updated.id, updated.sleepAfter], [vm.id, '1h']);
    assert.equal(stateAttrs(ws)['sleep_after'], '60m');
    await noChanges('60m applied (the API says 1h)');
    // Rewriting 60m as 1h is a change of the configuration's text only (Terraform compares
    // configuration to state as written): applied, it leaves the VM as it was.
    ws.writeConfig(config('1h'));
    ok(await ws.tf(['apply', '-auto-approve', '-no-color']), 'apply 1h');
    assert.deepEqual([(await api()).id, (await api()).sleepAfter], [vm.id, '1h']);
    await noChanges('1h');

    // Changed outside Terraform: refresh sees it, the plan puts it back.
    await m.app.inject({ method: 'PATCH', url: '/v1/vms/dozy', headers: { authorization: `Bearer ${m.admin}` }, payload: { sleepAfter: '2h' } });
    ws.writeConfig(config('60m'));
    const drift = await ws.tf(['plan', '-json']);
    assert.equal(jsonLines(drift.stdout).find((x) => x['type'] === 'planned_change')?.['change']['action'], 'update', drift.stdout);
    ok(await ws.tf(['apply', '-auto-approve', '-no-color']), 'apply after drift');
    assert.equal((await api()).sleepAfter, '1h');

    // Left out: the default, off.
    ws.writeConfig(config(null));
    ok(await ws.tf(['apply', '-auto-approve', '-no-color']), 'apply without sleep_after');
    assert.deepEqual([(await api()).id, (await api()).sleepAfter], [vm.id, 'off']);
    await noChanges('off');

    // Bad values never reach the API.
    for (const [bad, msg] of [['5s', /must be at least 10s, or off/], ['15 minutes', /must match pattern/], ['0m', /must match pattern/]] as const) {
      ws.writeConfig(config(bad));
      const v = await ws.tf(['plan', '-json']);
      assert.notEqual(v.code, 0);
      const d = diagnostics(v.stdout).find((x) => x['severity'] === 'error');
      assert.match(d?.['detail'] ?? '', msg, v.stdout);
      assert.match(d?.['snippet']?.['code'] ?? '', /sleep_after = /, 'the diagnostic points at sleep_after');
    }
    ws.writeConfig(config(null));
    ok(await ws.tf(['destroy', '-auto-approve', '-no-color']), 'destroy');
  });
});

describe('terraform-provider-fcm × quotas and host capacity (in-memory API)', () => {
  test('quota_exceeded and insufficient_capacity are error diagnostics at the attribute, with the limit and the usage', async (t) => {
    if (missing) return t.skip(missing);
    const m = await memoryApi({ host: { memoryMib: 4096, vcpus: 64 } });
    const url = await m.app.listen({ host: '127.0.0.1', port: 0 });
    const alice = m.loginAs('alice@example.com');
    m.h.quotaStore.set(alice.user.id, { memoryMib: 1024, vms: 5 });
    const ws = workspace('fcm-quota', { FCM_HOST: url, FCM_TOKEN: alice.token });
    t.after(async () => {
      ws.cleanup();
      await m.app.close();
    });
    const config = (memory: number, extra = '') => `terraform {
  required_providers {
    fcm = { source = "fcm/fcm" }
  }
}

resource "fcm_vm" "web" {
  name       = "quota-web"
  memory_mib = ${memory}
  swap_mib   = 0
}
${extra}`;
    ws.writeConfig(config(768));
    ok(await ws.tf(['apply', '-auto-approve', '-no-color']), 'apply within the quota');

    // Growing past the quota: the update is refused, pointing at memory_mib, with limit and usage.
    ws.writeConfig(config(2048));
    const grow = await ws.tf(['apply', '-auto-approve', '-json']);
    assert.equal(grow.code, 1);
    const d = diagnostics(grow.stdout).find((x) => x['severity'] === 'error');
    assert.ok(d, grow.stdout);
    assert.match(d['summary'], /Quota exceeded/);
    assert.match(d['detail'], /Quota memoryMib: 768 MiB in use \+ 1280 MiB requested > limit 1024 MiB\./);
    assert.match(d['detail'], /Error code: quota_exceeded/);
    assert.match(d['snippet']?.['code'] ?? '', /memory_mib = 2048/, 'the diagnostic points at memory_mib');
    assert.equal(m.h.service.list({ userId: 'admin', email: null, admin: true })[0]!.memoryMib, 768, 'the refused update changed nothing');

    // A second VM the host cannot hold (its capacity, not a quota: raise alice's quota out of the way).
    m.h.quotaStore.set(alice.user.id, { memoryMib: 65536 });
    ws.writeConfig(config(768, `
resource "fcm_vm" "big" {
  name       = "quota-big"
  memory_mib = 4096
  swap_mib   = 0
}
`));
    const full = await ws.tf(['apply', '-auto-approve', '-json']);
    assert.equal(full.code, 1);
    const cap = diagnostics(full.stdout).find((x) => x['severity'] === 'error');
    assert.ok(cap, full.stdout);
    assert.match(cap['summary'], /Not enough capacity on this host/);
    assert.match(cap['detail'], /Host capacity memoryMib: 768 MiB in use \+ 4096 MiB requested > limit 4096 MiB\./);
    assert.match(cap['detail'], /Error code: insufficient_capacity/);
    assert.equal(m.h.service.list({ userId: 'admin', email: null, admin: true }).length, 1, 'nothing was made for the refused create');
    ws.writeConfig(config(768));
    ok(await ws.tf(['destroy', '-auto-approve', '-no-color']), 'destroy');
  });
});

const skip = missing ?? hostSkipReason();

describe('examples/terraform × real daemon, real VM', () => {
  let h: HostHarness;
  let ws: Workspace;
  const name = 'tf-web';
  const vars = (memory: number) => ['-var', `name=${name}`, '-var', `memory_mib=${memory}`, '-var', 'swap_mib=0'];

  before(async () => {
    if (skip) return;
    h = await startHostHarness();
    ws = workspace('fcm-lifecycle', { FCM_HOST: h.url, FCM_TOKEN: h.token });
    copyFileSync(EXAMPLE, `${ws.work}/main.tf`);
  });
  after(async () => {
    ws?.cleanup();
    await h?.close();
  });

  test('apply, no-op plan, resize in place, drift, import, destroy', { timeout: 900_000 }, async (t) => {
    if (skip) return t.skip(skip);
    const api = async (path: string) => h.api('GET', path);

    // apply: creates the VM and waits until it runs
    const apply = await ws.tf(['apply', '-auto-approve', '-no-color', ...vars(256)], { timeoutMs: 300_000 });
    ok(apply, 'apply');
    const created = stateAttrs(ws);
    assert.equal(created['state'], 'running');
    assert.equal(created['memory_mib'], 256);
    assert.equal(created['running'], true);
    assert.match(created['id'], /^vm_/);
    const vm = (await api(`/v1/vms/${name}`)).body;
    assert.equal(vm.state, 'running');
    assert.equal(vm.id, created['id']);
    const outputs = JSON.parse((await ws.tf(['output', '-json'])).stdout);
    assert.equal(outputs['url']['value'], vm.url);
    assert.equal(outputs['ip']['value'], vm.ip, 'data source reads the same VM');

    // second plan: nothing to do
    const noop = await ws.tf(['plan', '-detailed-exitcode', '-no-color', ...vars(256)]);
    assert.equal(noop.code, 0, `expected no changes:\n${noop.stdout}\n${noop.stderr}`);

    // memory: an in-place update (with a restart warning), same VM afterwards
    const resizePlan = await ws.tf(['plan', '-json', ...vars(384)]);
    const change = jsonLines(resizePlan.stdout).find((m) => m['type'] === 'planned_change' && m['change']['resource']['addr'] === 'fcm_vm.web');
    assert.equal(change?.['change']['action'], 'update', resizePlan.stdout);
    assert.ok(diagnostics(resizePlan.stdout).some((d) => d['severity'] === 'warning' && d['summary'] === 'Changing memory_mib restarts the VM'));
    ok(await ws.tf(['apply', '-auto-approve', '-no-color', ...vars(384)], { timeoutMs: 300_000 }), 'apply resize');
    const resized = (await api(`/v1/vms/${name}`)).body;
    assert.equal(resized.memoryMib, 384);
    assert.equal(resized.id, vm.id, 'updated in place, not replaced');
    assert.equal(resized.state, 'running');

    // stopped outside Terraform: refresh sees it, the plan starts it again
    assert.equal((await h.api('POST', `/v1/vms/${name}/stop`, { force: true })).status, 200);
    ok(await ws.tf(['plan', '-out=drift.tfplan', '-no-color', ...vars(384)]), 'plan after stop');
    const show = JSON.parse((await ws.tf(['show', '-json', 'drift.tfplan'])).stdout);
    const drift = (show['resource_drift'] ?? []).find((r: Record<string, any>) => r['address'] === 'fcm_vm.web');
    assert.equal(drift?.['change']['after']['running'], false, 'refresh noticed the stop');
    assert.equal(drift['change']['after']['state'], 'stopped');
    const rc = show['resource_changes'].find((r: Record<string, any>) => r['address'] === 'fcm_vm.web');
    assert.deepEqual(rc['change']['actions'], ['update']);
    assert.equal(rc['change']['before']['running'], false);
    assert.equal(rc['change']['after']['running'], true);
    ok(await ws.tf(['apply', '-no-color', 'drift.tfplan'], { timeoutMs: 300_000 }), 'apply after drift');
    assert.equal((await api(`/v1/vms/${name}`)).body.state, 'running');

    // import: forget the VM, adopt it by name, nothing left to change
    ok(await ws.tf(['state', 'rm', 'fcm_vm.web']), 'state rm');
    const imp = await ws.tf(['import', '-no-color', ...vars(384), 'fcm_vm.web', name]);
    ok(imp, 'import');
    assert.equal(stateAttrs(ws)['id'], vm.id);
    const afterImport = await ws.tf(['plan', '-detailed-exitcode', '-no-color', ...vars(384)]);
    assert.equal(afterImport.code, 0, `expected no changes after import:\n${afterImport.stdout}`);

    // destroy: the VM is gone
    ok(await ws.tf(['destroy', '-auto-approve', '-no-color', ...vars(384)], { timeoutMs: 300_000 }), 'destroy');
    assert.equal((await api(`/v1/vms/${name}`)).status, 404);
  });
});
