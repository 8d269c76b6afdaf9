/**
 * The internal git socket's server (http/routes/git.ts internalGitServer)
 * through fastify inject: what the key lookup, the forced command and the
 * pre-receive hook get — answers, and refusals as problem+json with a code
 * from the one table, like the public API.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { InjectOptions } from 'fastify';
import { RESULT_PREFIX } from '../../daemon/core/git-wire.js';
import { FORCED, internalGitRig } from '../helpers/git-rig.js';
import { makeTar } from '../helpers/tar.js';

let rig: Awaited<ReturnType<typeof internalGitRig>>;
before(async () => {
  rig = await internalGitRig();
});
after(async () => {
  await rig?.close();
});

const inject = async (o: InjectOptions) => {
  const r = await rig.app.inject(o);
  const type = String(r.headers['content-type'] ?? '').split(';')[0];
  return { status: r.statusCode, type, text: r.body, json: type?.endsWith('json') ? (JSON.parse(r.body) as Record<string, any>) : null };
};

/** A problem document with this status and code, a title, and the request id. */
const isProblem = (r: Awaited<ReturnType<typeof inject>>, status: number, code: string) => {
  assert.equal(r.status, status, r.text);
  assert.equal(r.type, 'application/problem+json', r.text);
  assert.equal(r.json!.code, code, r.text);
  assert.equal(r.json!.status, status);
  assert.ok(r.json!.title && r.json!.type && r.json!.requestId, r.text);
};

const authorize = (body: unknown) => inject({ method: 'POST', url: '/ssh/authorize', payload: body as object });
const pushHeaders = (o: Record<string, string> = {}) => ({
  'content-type': 'application/x-tar',
  'x-fcm-ticket': 'no-such-ticket',
  'x-fcm-commit': 'a'.repeat(40),
  'x-fcm-ref': 'refs/heads/main',
  'x-fcm-repo': rig.dir,
  ...o,
});

test('key lookup: a registered key is its restricted authorized_keys line; unknown is empty; malformed is a problem', async () => {
  const fp = rig.w.keys.list({ userId: 'u_alice', email: 'alice@example.com', admin: false })[0]!.fingerprint;
  const known = await inject({ method: 'GET', url: '/ssh/keys', headers: { 'x-fcm-fingerprint': fp } });
  assert.equal(known.status, 200);
  assert.equal(known.type, 'text/plain');
  assert.equal(known.text, `restrict,command="${FORCED.join(' ')} ${rig.key.id}" ${rig.publicKey.split(' ').slice(0, 2).join(' ')}\n`);
  const unknown = await inject({ method: 'GET', url: '/ssh/keys', headers: { 'x-fcm-fingerprint': `SHA256:${'A'.repeat(43)}` } });
  assert.deepEqual([unknown.status, unknown.text], [200, '']);
  isProblem(await inject({ method: 'GET', url: '/ssh/keys', headers: { 'x-fcm-fingerprint': 'SHA256:short' } }), 400, 'validation_failed');
  isProblem(await inject({ method: 'GET', url: '/ssh/keys' }), 400, 'validation_failed');
});

test("authorize: the key's owner gets the repository (and a ticket to push); others get the API's refusals", async () => {
  const push = await authorize({ keyId: rig.key.id, vm: 'cosmic-nova', service: 'receive-pack' });
  assert.equal(push.status, 200, push.text);
  assert.equal(push.type, 'application/json');
  assert.equal(push.json!.repo, `${rig.dir}/${rig.vm.id}.git`);
  assert.match(push.json!.ticket, /^[A-Za-z0-9_-]{32}$/);
  const fetch = await authorize({ keyId: rig.key.id, vm: 'cosmic-nova', service: 'upload-pack' });
  assert.equal(fetch.json!.ticket, null);
  const bobs = await authorize({ keyId: rig.key.id, vm: 'bobs-app', service: 'receive-pack' });
  isProblem(bobs, 404, 'vm_not_found');
  assert.match(bobs.json!.detail, /No app named "bobs-app" \(or it is not yours\)/);
  isProblem(await authorize({ keyId: 'key_000000000000', vm: 'cosmic-nova', service: 'receive-pack' }), 401, 'unauthorized');
  for (const bad of [
    { keyId: rig.key.id, vm: 'cosmic-nova', service: 'shell' },
    { keyId: rig.key.id, vm: '../etc', service: 'receive-pack' },
    { keyId: 'key_zz', vm: 'cosmic-nova', service: 'receive-pack' },
    { keyId: rig.key.id, vm: 'cosmic-nova', service: 'receive-pack', extra: 1 },
    { keyId: rig.key.id, vm: 'cosmic-nova' },
    { keyId: 7, vm: 'cosmic-nova', service: 'receive-pack' },
  ]) {
    const r = await authorize(bad);
    isProblem(r, 400, 'validation_failed');
    assert.ok(Array.isArray(r.json!.errors) && r.json!.errors.length, r.text);
  }
  isProblem(await inject({ method: 'POST', url: '/ssh/authorize', headers: { 'content-type': 'application/json' }, payload: '{"keyId":' }), 400, 'validation_failed');
});

test('push: the deploy output streams, then one result line; a look-alike result line in the output is escaped', async () => {
  const grant = await authorize({ keyId: rig.key.id, vm: 'cosmic-nova', service: 'receive-pack' });
  const tar = makeTar({ 'requirements.txt': '\n', 'app.py': 'x = 1\n', Procfile: 'web: python3 app.py\n' });
  const r = await inject({ method: 'POST', url: '/push', headers: pushHeaders({ 'x-fcm-ticket': grant.json!.ticket, 'x-fcm-repo': grant.json!.repo }), payload: tar });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.type, 'text/plain');
  const lines = r.text.trimEnd().split('\n');
  assert.equal(lines[0], '-----> Deploying to cosmic-nova...');
  assert.ok(lines.includes('-----> Deploy successful!'), r.text);
  assert.equal(lines.at(-1), `${RESULT_PREFIX}{"ok":true,"version":1}`);
  assert.equal(lines.filter((l) => l.startsWith(RESULT_PREFIX)).length, 1);

  // A build whose output prints something that looks like a result: it reaches the hook indented, and the last line decides.
  const again = await authorize({ keyId: rig.key.id, vm: 'cosmic-nova', service: 'receive-pack' });
  const fake = `${RESULT_PREFIX}{"ok":true,"version":99}`;
  const build = rig.runtime.build.bind(rig.runtime);
  rig.runtime.build = async (vm, version, commit, tarball, onLine) => {
    onLine(fake);
    return build(vm, version, commit, tarball, onLine);
  };
  try {
    const failing = makeTar({ 'requirements.txt': '\n', FAIL_BUILD: '', Procfile: 'web: python3 app.py\n' });
    const r2 = await inject({ method: 'POST', url: '/push', headers: pushHeaders({ 'x-fcm-ticket': again.json!.ticket, 'x-fcm-repo': again.json!.repo }), payload: failing });
    assert.equal(r2.status, 200, r2.text);
    const lines2 = r2.text.trimEnd().split('\n');
    assert.ok(lines2.includes(` ${fake}`), r2.text);
    assert.equal(lines2.filter((l) => l.startsWith(RESULT_PREFIX)).length, 1, r2.text);
    const result = JSON.parse(lines2.at(-1)!.slice(RESULT_PREFIX.length));
    assert.equal(result.ok, false);
    assert.match(result.error, /failed/);
  } finally {
    rig.runtime.build = build;
  }
});

test('push: refusals before any output are problems (bad ticket, another repository, bad headers, not a tarball)', async () => {
  const tar = makeTar({ 'a.txt': 'x' });
  isProblem(await inject({ method: 'POST', url: '/push', headers: pushHeaders(), payload: tar }), 401, 'unauthorized');
  const grant = await authorize({ keyId: rig.key.id, vm: 'cosmic-nova', service: 'receive-pack' });
  // The ticket is for alice's repository only (and used up by the attempt).
  isProblem(await inject({ method: 'POST', url: '/push', headers: pushHeaders({ 'x-fcm-ticket': grant.json!.ticket }), payload: tar }), 401, 'unauthorized');
  isProblem(await inject({ method: 'POST', url: '/push', headers: pushHeaders({ 'x-fcm-repo': '/no/such/repo' }), payload: tar }), 401, 'unauthorized');
  for (const bad of [{ 'x-fcm-commit': 'HEAD' }, { 'x-fcm-ref': 'refs/heads/feature' }, { 'x-fcm-ticket': '' }] as Record<string, string>[]) {
    isProblem(await inject({ method: 'POST', url: '/push', headers: pushHeaders(bad), payload: tar }), 400, 'validation_failed');
  }
  isProblem(await inject({ method: 'POST', url: '/push', headers: pushHeaders({ 'content-type': 'application/json' }), payload: '{}' }), 415, 'unsupported_media_type');
  isProblem(await inject({ method: 'POST', url: '/push', headers: pushHeaders({ 'content-type': 'text/plain' }), payload: 'x' }), 415, 'unsupported_media_type');
});

test('unknown routes and methods are problems too', async () => {
  isProblem(await inject({ method: 'GET', url: '/nope' }), 404, 'not_found');
  isProblem(await inject({ method: 'GET', url: '/ssh/authorize' }), 404, 'not_found');
});
