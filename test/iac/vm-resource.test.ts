/**
 * The shared Vm resource logic (provider/vm-resource.ts) against the real
 * HTTP layer over in-memory services: fast, no root, no VMs. What only a
 * real daemon shows (boot, restart, drift) is in pulumi-host/terraform tests.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createFcmClient } from '../../api/client.js';
import { spec } from '../../api/spec.gen.js';
import {
  compileVmValidator,
  CREATE_VM_SCHEMA,
  diffVm,
  resolveConnection,
  sameSleepAfter,
  sleepAfterSeconds,
  VM_ARG_KEYS,
  VM_DEFAULTS,
  VM_INPUTS,
  VmResource,
  VmResourceError,
  withDefaults,
  type VmArgs,
} from '../../provider/vm-resource.js';
import { memoryApi } from '../helpers/memory-api.js';

const args = (over: Partial<VmArgs> = {}): VmArgs => withDefaults({ name: 'web', memoryMib: 256, swapMib: 0, ...over });

describe('input rules come from the spec', () => {
  const validate = compileVmValidator();

  test('defaults are CreateVmRequest defaults', () => {
    const props = spec['components']['schemas']['CreateVmRequest']['properties'];
    for (const k of ['vcpus', 'memoryMib', 'diskMib', 'swapMib', 'port', 'image'] as const) assert.equal(VM_DEFAULTS[k], props[k].default, k);
    assert.equal(VM_DEFAULTS.running, true);
    assert.deepEqual(Object.keys(VM_INPUTS).sort(), [...VM_ARG_KEYS].sort());
  });

  test('the schema is self-contained (refs resolved under $defs)', () => {
    const text = JSON.stringify(CREATE_VM_SCHEMA);
    assert.doesNotMatch(text, /#\/components\//);
    assert.match(text, /#\/\$defs\/VmName/);
  });

  test('valid inputs pass; only present keys are checked', () => {
    assert.deepEqual(validate(args({ domains: ['www.example.com'] })), []);
    assert.deepEqual(validate({}), []);
    assert.deepEqual(validate({ memoryMib: 512 }), []);
  });

  test('each bad input is reported against its attribute, with the value', () => {
    const issues = validate({
      name: 'Bad_Name',
      memoryMib: 64,
      vcpus: 1.5,
      diskMib: 999_999,
      image: '../etc',
      domains: ['ok.example.com', 'x'],
      running: 'yes' as unknown as boolean,
      waitTimeoutSeconds: 0,
    });
    const by = (a: string) => issues.filter((i) => i.attribute === a).map((i) => i.message);
    assert.match(by('name').join(), /must match pattern.*"Bad_Name"/);
    assert.match(by('memoryMib').join(), /must be >= 128 \(got 64\)/);
    assert.match(by('vcpus').join(), /must be integer \(got 1.5\)/);
    assert.match(by('diskMib').join(), /must be <= 262144/);
    assert.match(by('image').join(), /pattern/);
    assert.ok(issues.some((i) => i.attribute === 'domains' && i.index === 1), JSON.stringify(issues));
    assert.match(by('running').join(), /boolean/);
    assert.match(by('waitTimeoutSeconds').join(), /from 1 to 3600 \(got 0\)/);
  });

  test('unknown inputs are refused', () => {
    assert.deepEqual(validate({ colour: 'red' } as never), [{ attribute: 'colour', message: 'is not a known input' }]);
  });
});

describe('diff', () => {
  const cur = args();
  test('no change', () => assert.deepEqual(diffVm(cur, args()), { changed: [], replace: [], restarts: false }));
  test('memory: in place, restarts a running VM', () => {
    assert.deepEqual(diffVm(cur, args({ memoryMib: 512 })), { changed: ['memoryMib'], replace: [], restarts: true });
    assert.equal(diffVm(cur, args({ memoryMib: 512, running: false })).restarts, false);
  });
  test('disk, swap, port, image, name: replacement', () => {
    for (const [k, v] of [['diskMib', 4096], ['swapMib', 256], ['port', 3000], ['image', 'other'], ['name', 'web2']] as const) {
      assert.deepEqual(diffVm(cur, args({ [k]: v })).replace, [k], k);
    }
  });
  test('domains compare as a set; running and the wait timeout are in place', () => {
    const a = args({ domains: ['a.example.com', 'b.example.com'] });
    assert.deepEqual(diffVm(a, args({ domains: ['b.example.com', 'a.example.com'] })).changed, []);
    assert.deepEqual(diffVm(cur, args({ running: false })), { changed: ['running'], replace: [], restarts: false });
    assert.deepEqual(diffVm(cur, args({ waitTimeoutSeconds: 60 })).replace, []);
  });
  test('unset means default; unknown means changed', () => {
    assert.deepEqual(diffVm({ name: 'web' }, { name: 'web', vcpus: 1 }).changed, []);
    assert.deepEqual(diffVm(cur, { ...cur }, ['diskMib']).replace, ['diskMib']);
  });
});

describe('connection settings', () => {
  test('config > env > default; host:port becomes a URL (https unless loopback)', () => {
    assert.deepEqual(resolveConnection({ host: 'h:1', token: 't' }, { FCM_HOST: 'x', FCM_TOKEN: 'y', HOME: '/nonexistent' }), {
      baseUrl: 'https://h:1',
      token: 't',
      hostSource: 'config',
      tokenSource: 'config',
      caFile: null,
    });
    assert.deepEqual(resolveConnection({}, { FCM_HOST: 'https://fcm.example.com/', FCM_TOKEN: 'y', HOME: '/nonexistent', FCM_CA_FILE: '/ca.pem' }), {
      baseUrl: 'https://fcm.example.com',
      token: 'y',
      hostSource: 'FCM_HOST',
      tokenSource: 'FCM_TOKEN',
      caFile: '/ca.pem',
    });
    assert.equal(resolveConnection({}, { HOME: '/nonexistent' }).baseUrl, 'http://localhost:7777');
    assert.throws(() => resolveConnection({ host: 'ftp://x' }, {}), /http/);
  });

  test("fcm login's store: its default host, that host's token and CA; ~/.fcm-token never goes to the stored host", () => {
    const home = mkdtempSync(join(tmpdir(), 'fcm-iac-home-'));
    mkdirSync(join(home, '.config', 'fcm'), { recursive: true });
    writeFileSync(join(home, '.fcm-token'), 'fcm_legacy\n', { mode: 0o600 });
    writeFileSync(
      join(home, '.config', 'fcm', 'credentials.json'),
      JSON.stringify({ version: 1, default: 'https://a.example', hosts: { 'https://a.example': { token: 'fcm_a', caFile: '/a.pem' } } }),
      { mode: 0o600 },
    );
    assert.deepEqual(resolveConnection({}, { HOME: home }), { baseUrl: 'https://a.example', token: 'fcm_a', hostSource: 'credentials', tokenSource: 'credentials', caFile: '/a.pem' });
    const other = resolveConnection({ host: 'https://b.example' }, { HOME: home });
    assert.deepEqual([other.token, other.tokenSource, other.caFile], ['fcm_legacy', '~/.fcm-token', null], 'a host named in the config, without a login: the legacy file');
    rmSync(join(home, '.fcm-token'));
    assert.equal(resolveConnection({ host: 'https://b.example' }, { HOME: home }).token, null, "a's token never goes to b");
  });
});

describe('operations (in-memory daemon)', () => {
  let m: Awaited<ReturnType<typeof memoryApi>>;
  let vms: VmResource;
  let url: string;
  before(async () => {
    m = await memoryApi();
    url = await m.app.listen({ host: '127.0.0.1', port: 0 });
    vms = new VmResource(createFcmClient({ baseUrl: url, token: m.admin }));
  });
  after(() => m.app.close());

  test('create waits for running; read matches; create again adopts instead of failing', async () => {
    const out = await vms.create(args({ name: 'a1' }));
    assert.equal(out.state, 'running');
    assert.equal(out.running, true);
    assert.match(out.vmId, /^vm_/);
    assert.deepEqual(await vms.read('a1', out), out);
    // A retried create (state lost after a crash): same VM, converged to the new size.
    const again = await vms.create(args({ name: 'a1', memoryMib: 384, domains: ['a1.example.com'] }));
    assert.equal(again.vmId, out.vmId);
    assert.equal(again.memoryMib, 384);
    assert.deepEqual(again.domains, ['a1.example.com']);
  });

  test('adoption is refused when fixed settings differ', async () => {
    await vms.create(args({ name: 'a2' }));
    await assert.rejects(vms.create(args({ name: 'a2', diskMib: 4096 })), (e: VmResourceError) => {
      assert.equal(e.code, 'name_taken');
      assert.equal(e.attribute, 'diskMib');
      assert.match(e.message, /diskMib 2048 \(configured 4096\)/);
      return true;
    });
  });

  test("another user's VM name is not adoptable", async () => {
    const bob = m.loginAs('bob@example.com');
    const alice = m.loginAs('alice@example.com');
    await new VmResource(createFcmClient({ baseUrl: url, token: bob.token })).create(args({ name: 'bobs' }));
    await assert.rejects(new VmResource(createFcmClient({ baseUrl: url, token: alice.token })).create(args({ name: 'bobs' })), (e: VmResourceError) => {
      assert.equal(e.code, 'name_taken');
      assert.equal(e.attribute, 'name');
      return true;
    });
  });

  test('running=false: created stopped; update reconciles power state and size', async () => {
    const out = await vms.create(args({ name: 'a3', running: false }));
    assert.equal(out.state, 'stopped');
    assert.equal(out.running, false);
    const up = await vms.update(out, args({ name: 'a3', memoryMib: 512 }));
    assert.equal(up.state, 'running');
    assert.equal(up.memoryMib, 512);
    const down = await vms.update(up, args({ name: 'a3', memoryMib: 512, running: false }));
    assert.equal(down.state, 'stopped');
  });

  test('drift: stopped outside shows as running=false; deleted outside reads as gone', async () => {
    const out = await vms.create(args({ name: 'a4' }));
    await vms.client.vms.stop('a4', { force: true });
    const read = await vms.read('a4', out);
    assert.equal(read?.running, false);
    assert.deepEqual(diffVm(read!, args({ name: 'a4' })).changed, ['running']);
    await vms.client.vms.delete('a4');
    assert.equal(await vms.read('a4', out), null);
    // Recreated outside under the same name: a different VM, so this state's VM is gone, and delete leaves the newcomer alone.
    const other = await vms.client.vms.create({ name: 'a4', memoryMib: 256, swapMib: 0 });
    assert.equal(await vms.read('a4', out), null);
    await vms.delete(out);
    assert.equal((await vms.client.vms.get('a4')).id, other.id);
  });

  test('delete is idempotent; import by name', async () => {
    const out = await vms.create(args({ name: 'a5', domains: ['x.example.com'] }));
    const imported = await vms.import('a5');
    assert.deepEqual(imported, out);
    assert.equal(await vms.import('nope'), null);
    await vms.delete(out);
    await vms.delete(out);
    assert.equal(await vms.read('a5', out), null);
  });

  test('API validation errors point at the input', async () => {
    await assert.rejects(vms.create(args({ name: 'a6', domains: ['a6.64-34-93-45.sslip.io'] })), (e: VmResourceError) => {
      assert.equal(e.code, 'validation_failed');
      assert.equal(e.attribute, 'domains');
      return true;
    });
  });

  test('a VM that fails to boot is reported with its partial state', async () => {
    m.h.guest.never = true;
    try {
      await assert.rejects(vms.create(args({ name: 'a7', waitTimeoutSeconds: 10 })), (e: VmResourceError) => {
        assert.equal(e.code, 'vm_failed');
        assert.equal(e.partial?.name, 'a7');
        assert.equal(e.partial?.state, 'failed');
        return true;
      });
    } finally {
      m.h.guest.never = false;
    }
  });
});

test('sleepAfter: compared by duration, in place, off by default', () => {
  assert.equal(sleepAfterSeconds('15m'), 900);
  assert.equal(sleepAfterSeconds('off'), null);
  assert.equal(sleepAfterSeconds('15 minutes'), undefined);
  assert.ok(sameSleepAfter('60m', '1h') && sameSleepAfter('3600s', '1h') && sameSleepAfter(undefined, 'off'));
  assert.ok(!sameSleepAfter('15m', 'off') && !sameSleepAfter('15m', '16m'));
  assert.deepEqual(diffVm({ name: 'a', sleepAfter: '60m' }, { name: 'a', sleepAfter: '1h' }).changed, []);
  const d = diffVm({ name: 'a' }, { name: 'a', sleepAfter: '15m' });
  assert.deepEqual([d.changed, d.replace, d.restarts], [['sleepAfter'], [], false]);
  assert.equal(VM_DEFAULTS.sleepAfter, 'off');
});
