/**
 * fcm.Vm's dynamic provider inside Pulumi's real dynamic-provider host
 * (what `pulumi up` runs), driven over gRPC the way the engine drives it:
 * Configure, Check, Diff, Create, Read, Update, Delete. The provider is
 * serialized exactly as `new fcm.Vm(...)` serializes it, so this also proves
 * the host can deserialize and run it.
 *
 * First against the HTTP layer over in-memory services (always runs), then
 * against a real daemon with a real QEMU guest (root + qemu + base image).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { vmProvider } from '../../provider/pulumi/index.js';
import { hostSkipReason, startHostHarness, type HostHarness } from '../helpers/host-harness.js';
import { memoryApi } from '../helpers/memory-api.js';
import { EngineError, SECRET_SIG, serializeProvider, startDynamicHost, UNKNOWN, type DynamicHost, type Props } from './pulumi/engine.js';

const URN = (name: string) => `urn:pulumi:dev::fcm-test::pulumi-nodejs:dynamic/fcm:Vm::${name}`;

/** The host's environment: no FCM_* (the connection must come from Configure unless a test says otherwise). */
function hostEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('FCM_')) env[k] = v;
  return { ...env, HOME: '/nonexistent', ...extra };
}

/** Outputs without the serialized provider, for readable assertions. */
const outs = (p: Props): Props => Object.fromEntries(Object.entries(p).filter(([k]) => k !== '__provider'));

let providerText = '';
const cwd = mkdtempSync(join(tmpdir(), 'fcm-pulumi-host-'));
before(async () => {
  providerText = await serializeProvider(vmProvider);
});
after(() => rmSync(cwd, { recursive: true, force: true }));

describe('serialized provider', () => {
  test('is self-contained: small, no spec, no import.meta, no secrets', () => {
    assert.ok(providerText.length < 120_000, `serialized provider is ${providerText.length} bytes`);
    assert.doesNotMatch(providerText, /import\.meta/);
    assert.doesNotMatch(providerText, /"paths":|operationId/, 'the whole OpenAPI spec was captured');
    assert.match(providerText, /^exports\.handler = /m);
  });
});

describe('Pulumi dynamic-provider host × in-memory API', () => {
  let m: Awaited<ReturnType<typeof memoryApi>>;
  let url: string;
  let host: DynamicHost;
  before(async () => {
    m = await memoryApi();
    url = await m.app.listen({ host: '127.0.0.1', port: 0 });
    host = await startDynamicHost({ cwd, env: hostEnv() });
    await host.configure({ 'fcm:host': url, 'fcm:token': { ...SECRET_SIG, value: m.admin }, 'fcm-test:other': 'x' });
  });
  after(async () => {
    await host?.close();
    await m?.app.close();
  });

  test('check: defaults from the spec, failures per property', async () => {
    const ok = await host.check(URN('mem'), {}, { name: 'mem', memoryMib: 256, __provider: providerText });
    assert.deepEqual(ok.failures, []);
    assert.equal(ok.inputs['vcpus'], 1);
    assert.equal(ok.inputs['diskMib'], 2048);
    assert.equal(ok.inputs['running'], true);
    assert.equal(ok.inputs['__provider'], providerText);
    const bad = await host.check(URN('Bad'), {}, { name: 'Bad_Name', memoryMib: 64, domains: ['x'], __provider: providerText });
    assert.deepEqual(
      bad.failures.map((f) => f.property),
      ['name', 'memoryMib', 'domains', 'domains'],
    );
    assert.match(bad.failures[0]!.reason, /named after the resource/);
    assert.match(bad.failures[1]!.reason, /memoryMib must be >= 128 \(got 64\)/);
    // A preview: values not known yet are not checked.
    const preview = await host.check(URN('mem'), {}, { name: 'mem', memoryMib: UNKNOWN, __provider: providerText });
    assert.deepEqual(preview.failures, []);
  });

  test('create, read, diff, update, delete', async () => {
    const { inputs } = await host.check(URN('mem'), {}, { name: 'mem', memoryMib: 256, swapMib: 0, __provider: providerText });
    const created = await host.create(URN('mem'), inputs);
    assert.equal(created.id, 'mem');
    assert.equal(created.properties['state'], 'running');
    assert.equal(created.properties['__provider'], providerText, 'the host keeps __provider in the outputs');
    const read = await host.read(URN('mem'), 'mem', created.properties);
    assert.deepEqual(outs(read.properties), outs(created.properties));
    assert.equal((await host.diff(URN('mem'), 'mem', read.properties, inputs)).changes, 'DIFF_NONE');

    const bigger = { ...inputs, memoryMib: 512 };
    assert.deepEqual(await host.diff(URN('mem'), 'mem', read.properties, bigger), { changes: 'DIFF_SOME', replaces: [], stables: [], deleteBeforeReplace: false });
    assert.deepEqual(await host.diff(URN('mem'), 'mem', read.properties, { ...inputs, diskMib: 4096 }), {
      changes: 'DIFF_SOME',
      replaces: ['diskMib'],
      stables: [],
      deleteBeforeReplace: true,
    });
    assert.equal((await host.diff(URN('mem'), 'mem', read.properties, { ...inputs, name: 'mem2' })).deleteBeforeReplace, false);
    assert.deepEqual((await host.diff(URN('mem'), 'mem', read.properties, { ...inputs, diskMib: UNKNOWN })).replaces, ['diskMib']);

    const updated = await host.update(URN('mem'), 'mem', read.properties, bigger);
    assert.equal(updated.properties['memoryMib'], 512);
    await host.delete(URN('mem'), 'mem', updated.properties);
    assert.equal((await host.read(URN('mem'), 'mem', updated.properties)).id, '', 'gone: empty id');
    await host.delete(URN('mem'), 'mem', updated.properties); // idempotent
  });

  test('sleepAfter: on create, updated in place, compared by duration (60m = 1h), off by default; bad values are check failures', async () => {
    const { inputs } = await host.check(URN('dozy'), {}, { name: 'dozy', memoryMib: 256, sleepAfter: '15m', __provider: providerText });
    const created = await host.create(URN('dozy'), inputs);
    assert.equal(created.properties['sleepAfter'], '15m');
    const api = () => m.h.service.get({ userId: 'admin', email: null, admin: true }, 'dozy');
    assert.equal(api().sleepAfterSec, 900, 'the VM was created with it');
    const read = await host.read(URN('dozy'), 'dozy', created.properties);
    assert.equal((await host.diff(URN('dozy'), 'dozy', read.properties, inputs)).changes, 'DIFF_NONE');

    const hour = { ...inputs, sleepAfter: '60m' };
    assert.deepEqual(await host.diff(URN('dozy'), 'dozy', read.properties, hour), { changes: 'DIFF_SOME', replaces: [], stables: [], deleteBeforeReplace: false });
    const updated = await host.update(URN('dozy'), 'dozy', read.properties, hour);
    assert.equal(updated.properties['sleepAfter'], '60m', 'the outputs keep the spelling of the program');
    assert.equal(updated.properties['vmId'], created.properties['vmId'], 'in place');
    assert.equal(api().sleepAfterSec, 3600);
    const reread = await host.read(URN('dozy'), 'dozy', updated.properties);
    assert.equal(reread.properties['sleepAfter'], '60m', 'the API answers 1h: no drift');
    assert.equal((await host.diff(URN('dozy'), 'dozy', reread.properties, { ...inputs, sleepAfter: '1h' })).changes, 'DIFF_NONE', '1h is 60m');

    const { inputs: plain } = await host.check(URN('dozy'), {}, { name: 'dozy', memoryMib: 256, __provider: providerText });
    assert.equal(plain['sleepAfter'], 'off', 'default');
    assert.equal((await host.diff(URN('dozy'), 'dozy', reread.properties, plain)).changes, 'DIFF_SOME');
    const off = await host.update(URN('dozy'), 'dozy', reread.properties, plain);
    assert.equal(off.properties['sleepAfter'], 'off');
    assert.equal(api().sleepAfterSec, null);

    for (const [bad, msg] of [['5s', /sleepAfter must be at least 10s, or off/], ['15 minutes', /sleepAfter must match pattern/]] as const) {
      const c = await host.check(URN('dozy'), {}, { name: 'dozy', sleepAfter: bad, __provider: providerText });
      assert.deepEqual(c.failures.map((f) => f.property), ['sleepAfter']);
      assert.match(c.failures[0]!.reason, msg);
    }
    await host.delete(URN('dozy'), 'dozy', off.properties);
  });

  test('a VM that does not boot is recorded, not forgotten (ErrorResourceInitFailed)', async () => {
    m.h.guest.never = true;
    try {
      const { inputs } = await host.check(URN('nb'), {}, { name: 'nb', memoryMib: 256, waitTimeoutSeconds: 30, __provider: providerText });
      await assert.rejects(host.create(URN('nb'), inputs), (e: EngineError) => {
        assert.equal(e.failure.initFailed?.id, 'nb');
        assert.equal(e.failure.initFailed?.properties['state'], 'failed');
        return true;
      });
    } finally {
      m.h.guest.never = false;
    }
  });

  test('without stack config the host falls back to FCM_HOST / FCM_TOKEN', async () => {
    const h2 = await startDynamicHost({ cwd, env: hostEnv({ FCM_HOST: url, FCM_TOKEN: m.admin }) });
    try {
      await h2.configure({});
      const { inputs } = await h2.check(URN('envvm'), {}, { name: 'envvm', memoryMib: 256, __provider: providerText });
      const c = await h2.create(URN('envvm'), inputs);
      assert.equal(c.properties['state'], 'running');
      await h2.delete(URN('envvm'), 'envvm', c.properties);
    } finally {
      await h2.close();
    }
  });
});

describe('Pulumi dynamic-provider host × quotas and host capacity', () => {
  let m: Awaited<ReturnType<typeof memoryApi>>;
  let host: DynamicHost;
  before(async () => {
    m = await memoryApi({ host: { memoryMib: 4096, vcpus: 64 } });
    const url = await m.app.listen({ host: '127.0.0.1', port: 0 });
    const alice = m.loginAs('alice@example.com');
    m.h.quotaStore.set(alice.user.id, { memoryMib: 1024 });
    host = await startDynamicHost({ cwd, env: hostEnv() });
    await host.configure({ 'fcm:host': url, 'fcm:token': { ...SECRET_SIG, value: alice.token } });
  });
  after(async () => {
    await host?.close();
    await m?.app.close();
  });

  test('quota_exceeded and insufficient_capacity reach the engine with the limit and the usage; nothing is created', async () => {
    const small = await host.check(URN('q1'), {}, { name: 'q1', memoryMib: 768, swapMib: 0, __provider: providerText });
    const one = await host.create(URN('q1'), small.inputs);
    assert.equal(one.properties['state'], 'running');
    const big = await host.check(URN('q2'), {}, { name: 'q2', memoryMib: 512, swapMib: 0, __provider: providerText });
    await assert.rejects(host.create(URN('q2'), big.inputs), (e: EngineError) => {
      assert.match(e.message, /Quota exceeded/);
      assert.match(e.message, /Quota memoryMib: 768 MiB in use \+ 512 MiB requested > limit 1024 MiB\. \(code quota_exceeded\)/);
      return true;
    });
    // Resizing in place counts too.
    await assert.rejects(host.update(URN('q1'), 'q1', one.properties, { ...small.inputs, memoryMib: 2048 }), /Quota memoryMib: 768 MiB in use \+ 1280 MiB requested > limit 1024 MiB/);
    assert.equal((await host.read(URN('q1'), 'q1', one.properties)).properties['memoryMib'], 768, 'the refused update changed nothing');
    // The host itself is full (for anyone, admins too).
    m.h.quotaStore.set(m.h.service.list({ userId: 'admin', email: null, admin: true })[0]!.owner, { memoryMib: 65536 }); // the quota out of the way
    const huge = await host.check(URN('q3'), {}, { name: 'q3', memoryMib: 4096, swapMib: 0, __provider: providerText });
    await assert.rejects(host.create(URN('q3'), huge.inputs), /Host capacity memoryMib: 768 MiB in use \+ 4096 MiB requested > limit 4096 MiB\. \(code insufficient_capacity\)/);
    assert.deepEqual(m.h.service.list({ userId: 'admin', email: null, admin: true }).map((v) => v.name), ['q1']);
    await host.delete(URN('q1'), 'q1', one.properties);
  });
});

const skip = hostSkipReason();

describe('Pulumi dynamic-provider host × real daemon, real VM', () => {
  let h: HostHarness;
  let host: DynamicHost;
  const name = 'pulumi-web';
  const urn = URN(name);

  before(async () => {
    if (skip) return;
    h = await startHostHarness();
    host = await startDynamicHost({ cwd, env: hostEnv() });
    await host.configure({ 'fcm:host': h.url, 'fcm:token': { ...SECRET_SIG, value: h.token } });
  });
  after(async () => {
    await host?.close();
    await h?.close();
  });

  test('lifecycle: create, no-op diff, resize in place, drift (stopped outside), adopt on retry, delete', { timeout: 600_000 }, async (t) => {
    if (skip) return t.skip(skip);
    const step = async <T>(label: string, f: () => Promise<T>): Promise<T> => {
      const t0 = Date.now();
      const r = await f();
      t.diagnostic(`${label}: ${Date.now() - t0} ms`);
      return r;
    };
    const { inputs, failures } = await host.check(urn, {}, { name, memoryMib: 256, swapMib: 0, __provider: providerText });
    assert.deepEqual(failures, []);

    const created = await step('create (boot)', () => host.create(urn, inputs));
    assert.equal(created.id, name);
    assert.equal(created.properties['state'], 'running');
    assert.match(String(created.properties['ip']), /^\d+\.\d+\.\d+\.\d+$/);
    assert.match(String(created.properties['url']), /^https:\/\//);
    const api = (await h.api('GET', `/v1/vms/${name}`)).body;
    assert.equal(api.state, 'running');
    assert.equal(api.memoryMib, 256);

    const read = await step('read', () => host.read(urn, name, created.properties));
    assert.equal((await host.diff(urn, name, read.properties, inputs)).changes, 'DIFF_NONE');

    const bigger = { ...inputs, memoryMib: 384 };
    const d = await host.diff(urn, name, read.properties, bigger);
    assert.equal(d.changes, 'DIFF_SOME');
    assert.deepEqual(d.replaces, []);
    const resized = await step('update memory (restart)', () => host.update(urn, name, read.properties, bigger));
    assert.equal(resized.properties['memoryMib'], 384);
    assert.equal(resized.properties['state'], 'running');
    assert.equal(resized.properties['vmId'], created.properties['vmId'], 'same VM, resized in place');
    assert.equal((await h.api('GET', `/v1/vms/${name}`)).body.memoryMib, 384);

    // Stopped outside Pulumi: refresh sees it, and the next diff wants it running again.
    const stop = await h.api('POST', `/v1/vms/${name}/stop`, { force: true });
    assert.equal(stop.status, 200);
    const drifted = await host.read(urn, name, resized.properties);
    assert.equal(drifted.properties['running'], false);
    assert.equal(drifted.properties['state'], 'stopped');
    const back = await host.diff(urn, name, drifted.properties, bigger);
    assert.equal(back.changes, 'DIFF_SOME');
    assert.deepEqual(back.replaces, []);
    const restarted = await step('update running (start)', () => host.update(urn, name, drifted.properties, bigger));
    assert.equal(restarted.properties['state'], 'running');

    // A create retried for a VM that already exists (state lost): adopted, not duplicated or failed.
    const adopted = await step('create again (adopt)', () => host.create(urn, bigger));
    assert.equal(adopted.properties['vmId'], created.properties['vmId']);
    assert.equal((await h.api('GET', '/v1/vms')).body.vms.length, 1);

    await step('delete', () => host.delete(urn, name, adopted.properties));
    assert.equal((await h.api('GET', `/v1/vms/${name}`)).status, 404);
    assert.equal((await host.read(urn, name, adopted.properties)).id, '');
    await host.delete(urn, name, adopted.properties);
  });
});
