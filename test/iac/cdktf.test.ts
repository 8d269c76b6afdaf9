/**
 * cdktf: the committed bindings (provider/cdktf) are exactly what the
 * generator makes from the provider schema today, and examples/cdktf
 * synthesizes a configuration that real terraform accepts with our provider.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { drift, generateCdktf } from '../../provider/cdktf/generate.js';
import { synth } from '../../examples/cdktf/main.js';
import { terraformMissing, Workspace } from './terraform/harness.js';

test('provider/cdktf is up to date with the provider schema (regenerate: npx tsx provider/cdktf/generate.ts)', async () => {
  assert.deepEqual(drift(await generateCdktf()), []);
});

function synthesized(t: { after(fn: () => void): void }): { file: string; tf: any } {
  const outdir = mkdtempSync(join(tmpdir(), 'fcm-cdktf-'));
  t.after(() => rmSync(outdir, { recursive: true, force: true }));
  const file = synth(outdir, { name: 'cdk-web', memoryMib: 256, swapMib: 0 });
  return { file, tf: JSON.parse(readFileSync(file, 'utf8')) };
}

test('examples/cdktf synthesizes an fcm_vm', (t) => {
  const { tf } = synthesized(t);
  assert.deepEqual(tf['terraform']['required_providers']['fcm'], { source: 'registry.terraform.io/fcm/fcm' });
  assert.ok(tf['provider']['fcm']);
  const vm = tf['resource']['fcm_vm']['web'];
  assert.equal(vm['name'], 'cdk-web');
  assert.equal(vm['memory_mib'], 256);
  assert.equal(vm['swap_mib'], 0);
  assert.equal(tf['data']['fcm_vm']['web-lookup']['name'], '${fcm_vm.web.name}');
  assert.equal(tf['output']['url']['value'], '${fcm_vm.web.url}');
});

// A separate test so that a machine without Terraform shows a counted, named skip (which CI
// refuses unless test/allowed-skips.txt allows it), never a pass that validated nothing.
test('real terraform validates the synthesized configuration against the provider schema', async (t) => {
  const missing = terraformMissing();
  if (missing) return t.skip(missing);
  const { file } = synthesized(t);
  // Real terraform accepts it against the provider's schema (validate needs no daemon).
  const ws = new Workspace({ providerName: 'fcm', entry: fileURLToPath(new URL('../../provider/terraform/main.ts', import.meta.url)), label: 'cdktf' });
  t.after(() => ws.cleanup());
  rmSync(`${ws.bin}/terraform-provider-fcm`);
  symlinkSync(fileURLToPath(new URL('../../provider/terraform/bin/terraform-provider-fcm', import.meta.url)), `${ws.bin}/terraform-provider-fcm`);
  copyFileSync(file, join(ws.work, 'cdk.tf.json'));
  const v = await ws.tf(['validate', '-json']);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  assert.equal(JSON.parse(v.stdout)['valid'], true);
});
