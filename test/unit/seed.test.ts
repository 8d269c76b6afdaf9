import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgentKeys } from '../../daemon/core/agent-keys.js';
import { parseSeed, planSeed, SEED_BYTES } from '../../daemon/core/planners/seed.js';
import { ALICE, DEFAULTS, memoryService } from '../helpers/memory-service.js';

test('seed: magic, one JSON line, NUL-padded to a fixed size; round-trips', () => {
  const data = { vmId: 'vm_0123456789ab', hostname: 'cosmic-nova', agentToken: 'tok', port: 8000 };
  const b = planSeed(data);
  assert.equal(b.length, SEED_BYTES);
  assert.ok(b.toString('utf8').startsWith('FCMSEED1\n{"vmId":"vm_0123456789ab"'));
  assert.deepEqual(parseSeed(b), data);
  assert.throws(() => planSeed({ ...data, hostname: 'x'.repeat(5000) }), /too large/);
  assert.throws(() => parseSeed(Buffer.alloc(10)), /not an fcm seed/);
});

test('agent tokens: per VM, deterministic for a secret, unrelated across VMs and secrets', () => {
  const k = new AgentKeys(Buffer.alloc(32, 1));
  const a = k.tokenFor('vm_aaaaaaaaaaaa');
  assert.equal(a, k.tokenFor('vm_aaaaaaaaaaaa'));
  assert.notEqual(a, k.tokenFor('vm_bbbbbbbbbbbb'));
  assert.notEqual(a, new AgentKeys(Buffer.alloc(32, 2)).tokenFor('vm_aaaaaaaaaaaa'));
  assert.ok(k.verify('vm_aaaaaaaaaaaa', a));
  assert.ok(!k.verify('vm_bbbbbbbbbbbb', a));
  assert.ok(!k.verify('vm_aaaaaaaaaaaa', `${a}x`));
  assert.throws(() => new AgentKeys(Buffer.alloc(8)), /32 bytes/);
});

test('each VM boots with a seed carrying its own agent token; the token is not on the kernel command line', async () => {
  const h = memoryService();
  const vm = await h.service.create(ALICE, { ...DEFAULTS, name: 'seeded' });
  const seed = parseSeed(h.disks.seeds.get(vm.id)!);
  assert.equal(seed.vmId, vm.id);
  assert.equal(seed.hostname, 'seeded');
  assert.equal(seed.port, 8000);
  const spec = h.hypervisor.machines.get(vm.id)!;
  assert.deepEqual(spec.drives.map((d) => [d.id, d.readOnly]), [['root', false], ['seed', true], ['swap', false]]);
  assert.ok(!spec.cmdline.includes(seed.agentToken), 'the agent token never appears in the hypervisor argv');
});
