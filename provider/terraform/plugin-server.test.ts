/**
 * The go-plugin handshake and transport, tested by playing Terraform's role
 * (the go-plugin host) with grpc-js: start the provider executable with the
 * environment Terraform sets, read the handshake line, connect with mTLS,
 * call RPCs, shut it down.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { writeProviderShim } from '../../test/iac/terraform/harness.js';
import { generateSelfSignedCert, type SelfSignedCert } from './cert.js';
import { loadProto, TERRAFORM_MAGIC_COOKIE_KEY, TERRAFORM_MAGIC_COOKIE_VALUE } from './plugin-server.js';
import { decodeDynamicValue, encodeDynamicValue, isUnknown, UNKNOWN, type CtyType } from './wire.js';

const ENTRY = fileURLToPath(new URL('../../test/iac/terraform/thing-provider-main.ts', import.meta.url));

interface Started {
  proc: ChildProcess;
  handshake: string;
  handshakeMs: number;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

let dir: string;
let shim: string;
let hostCert: SelfSignedCert;

function start(env: Record<string, string>): Promise<Started> {
  const t0 = performance.now();
  const proc = spawn(shim, [], { env: { ...process.env, FCM_PLUGIN_LOG: 'debug', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d) => (err += String(d)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += String(d);
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve({ proc, handshake: out.slice(0, nl), handshakeMs: Math.round(performance.now() - t0), stderr: () => err, exited });
    });
    void exited.then(({ code }) => reject(Object.assign(new Error(`plugin exited (${code}) before handshake: ${err}`), { code, stderr: err, stdout: out })));
  });
}

const hostEnv = (): Record<string, string> => ({
  [TERRAFORM_MAGIC_COOKIE_KEY]: TERRAFORM_MAGIC_COOKIE_VALUE,
  PLUGIN_PROTOCOL_VERSIONS: '5,6',
  PLUGIN_CLIENT_CERT: hostCert.certPem,
  PLUGIN_MIN_PORT: '10000',
  PLUGIN_MAX_PORT: '25000',
});

function serverCertPem(handshake: string): string {
  const b64 = handshake.split('|')[5]!;
  const der = Buffer.from(b64, 'base64');
  return new X509Certificate(der).toString();
}

type Client = grpc.Client & Record<string, (req: unknown, cb: (err: grpc.ServiceError | null, res: any) => void) => void>;

function client(pkg: string, service: string, handshake: string, cert: SelfSignedCert = hostCert): Client {
  const file = pkg === 'tfplugin6' ? 'tfplugin6.proto' : pkg === 'plugin' ? 'go-plugin.proto' : 'health.proto';
  let ctor: any = loadProto(file);
  for (const p of [...pkg.split('.'), service]) ctor = ctor[p];
  const creds = grpc.credentials.createSsl(Buffer.from(serverCertPem(handshake)), Buffer.from(cert.keyPem), Buffer.from(cert.certPem));
  // go-plugin dials with ServerName "localhost"
  return new ctor(handshake.split('|')[3], creds, { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' });
}

function call(c: Client, method: string, req: unknown = {}): Promise<any> {
  return new Promise((resolve, reject) => c[method]!(req, (err, res) => (err ? reject(err) : resolve(res))));
}

const thingType: CtyType = ['object', { id: 'string', name: 'string', size: 'number', labels: ['map', 'string'], status: 'string' }];

describe('go-plugin server (host played by grpc-js)', () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fcm-plugin-'));
    shim = writeProviderShim(dir, 'fcmtest', ENTRY);
    hostCert = await generateSelfSignedCert({ organization: 'HashiCorp' });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('handshake line, mTLS, RPCs, health, Shutdown exits', async (t) => {
    const p = await start(hostEnv());
    t.diagnostic(`handshake after ${p.handshakeMs} ms (process spawn -> line on stdout)`);
    const parts = p.handshake.split('|');
    assert.equal(parts.length, 6, p.handshake);
    assert.deepEqual(parts.slice(0, 3), ['1', '6', 'tcp']);
    assert.match(parts[3]!, /^127\.0\.0\.1:\d+$/);
    const port = Number(parts[3]!.split(':')[1]);
    assert.ok(port >= 10000 && port <= 25000, `port ${port} within PLUGIN_MIN_PORT..PLUGIN_MAX_PORT`);
    assert.equal(parts[4], 'grpc');
    assert.doesNotMatch(parts[5]!, /=/, 'base64 without padding (Go RawStdEncoding)');
    const x509 = new X509Certificate(Buffer.from(parts[5]!, 'base64'));
    assert.match(x509.subjectAltName ?? '', /DNS:localhost/);
    assert.ok(x509.checkHost('localhost'));

    const health = client('grpc.health.v1', 'Health', p.handshake);
    assert.equal((await call(health, 'Check', { service: 'plugin' })).status, 'SERVING');

    const prov = client('tfplugin6', 'Provider', p.handshake);
    const t0 = performance.now();
    const meta = await call(prov, 'GetMetadata');
    t.diagnostic(`first RPC over mTLS: ${Math.round(performance.now() - t0)} ms`);
    assert.deepEqual(meta.resources, [{ type_name: 'fcmtest_thing' }]);
    assert.deepEqual(meta.data_sources, [{ type_name: 'fcmtest_thing' }]);
    assert.equal(meta.server_capabilities.get_provider_schema_optional, true);

    const schema = await call(prov, 'GetProviderSchema');
    const attrs = Object.fromEntries(schema.resource_schemas.fcmtest_thing.block.attributes.map((a: any) => [a.name, a]));
    assert.equal(attrs.labels.type.toString(), '["map","string"]');
    assert.equal(attrs.name.required, true);
    assert.equal(attrs.size.optional && attrs.size.computed, true);
    assert.equal(schema.provider.block.attributes.find((a: any) => a.name === 'token').sensitive, true);

    // validation diagnostics carry an AttributePath
    const bad = await call(prov, 'ValidateResourceConfig', {
      type_name: 'fcmtest_thing',
      config: encodeDynamicValue({ name: 'Bad Name', size: UNKNOWN }, thingType),
    });
    assert.equal(bad.diagnostics.length, 1);
    assert.equal(bad.diagnostics[0].severity, 'ERROR');
    assert.deepEqual(bad.diagnostics[0].attribute.steps, [{ attribute_name: 'name', selector: 'attribute_name' }]);

    // plan for create: computed attributes unknown
    const proposed = { id: null, name: 'x', size: null, labels: null, status: null };
    const plan = await call(prov, 'PlanResourceChange', {
      type_name: 'fcmtest_thing',
      prior_state: encodeDynamicValue(null, thingType),
      proposed_new_state: encodeDynamicValue(proposed, thingType),
      config: encodeDynamicValue(proposed, thingType),
    });
    const planned = decodeDynamicValue(plan.planned_state, thingType) as Record<string, unknown>;
    assert.equal(planned['name'], 'x');
    assert.ok(isUnknown(planned['id']) && isUnknown(planned['size']) && isUnknown(planned['status']));
    assert.equal(planned['labels'], null);

    const fns = await call(prov, 'GetFunctions');
    assert.deepEqual(fns.functions, {});
    const move = await call(prov, 'MoveResourceState', { source_type_name: 'a', target_type_name: 'fcmtest_thing' });
    assert.match(move.diagnostics[0].summary, /Not Supported/);
    assert.equal((await call(prov, 'StopProvider')).Error, '');

    const controller = client('plugin', 'GRPCController', p.handshake);
    const t1 = performance.now();
    await call(controller, 'Shutdown');
    const exit = await p.exited;
    t.diagnostic(`Shutdown -> process exit: ${Math.round(performance.now() - t1)} ms`);
    assert.deepEqual(exit, { code: 0, signal: null });
    for (const c of [health, prov, controller]) c.close();
  });

  test('rejects a client certificate other than PLUGIN_CLIENT_CERT', async () => {
    const p = await start(hostEnv());
    const stranger = await generateSelfSignedCert();
    const prov = client('tfplugin6', 'Provider', p.handshake, stranger);
    await assert.rejects(call(prov, 'GetMetadata'), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE);
    prov.close();
    p.proc.kill('SIGTERM');
    assert.equal((await p.exited).code, 0);
  });

  test('run without the magic cookie: explains itself on stderr, exits 1, prints nothing on stdout', async () => {
    await assert.rejects(start({ [TERRAFORM_MAGIC_COOKIE_KEY]: 'nope' }), (e: any) => {
      assert.equal(e.code, 1);
      assert.equal(e.stdout, '');
      assert.match(e.stderr, /This binary is a plugin/);
      return true;
    });
  });

  test('ignores SIGINT like go-plugin (terraform stops providers itself), exits on SIGTERM', async () => {
    const p = await start(hostEnv());
    p.proc.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 300));
    const health = client('grpc.health.v1', 'Health', p.handshake);
    assert.equal((await call(health, 'Check', { service: 'plugin' })).status, 'SERVING', 'still serving after SIGINT');
    health.close();
    p.proc.kill('SIGTERM');
    assert.deepEqual(await p.exited, { code: 0, signal: null });
    assert.match(p.stderr(), /received interrupt signal/);
  });
});
