/** DeployService and PushGate over the in-memory twins: the rules of releases, rollbacks, config vars and pushes. */
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { wireDeploys } from '../../daemon/deploy-wiring.js';
import { isFcmError } from '../../daemon/core/errors.js';
import { endAfter, type EnvUpdate } from '../../daemon/core/deploys.js';
import { AppRuntimeError } from '../../daemon/core/ports/app-runtime.js';
import type { Principal } from '../../daemon/core/model.js';
import { MemoryAppRuntime, MemoryEnvStore, MemoryGitHost, MemoryKeyStore, MemoryReleaseStore } from '../../daemon/drivers/memory/memory-deploys.js';
import { MemoryVmStore } from '../../daemon/drivers/memory/memory-store.js';
import { parseSubnet } from '../../daemon/core/planners/network-plan.js';
import { ALICE, BOB, DEFAULTS, memoryService } from '../helpers/memory-service.js';
import { makeTar } from '../helpers/tar.js';
import { newKeyPair, proveKey } from '../helpers/key-proof.js';
import { eventually } from '../helpers/wait.js';

const PY = { 'requirements.txt': 'flask\n', 'app.py': 'app = 1\n', Procfile: 'web: gunicorn app:app\n' };
const sha = (n: number) => n.toString(16).padStart(40, '0');
const tar = (files: Record<string, string>) => Readable.from([makeTar(files)]);

async function rig(store?: MemoryVmStore) {
  const h = memoryService(store ? { store } : {});
  const logLines: string[] = [];
  const log = pino({ level: 'debug' }, new Writable({ write: (c, _e, cb) => (logLines.push(String(c)), cb()) }));
  const runtime = new MemoryAppRuntime();
  const git = new MemoryGitHost();
  const releases = new MemoryReleaseStore();
  const env = new MemoryEnvStore();
  /** Who may still use fcm, and which tokens were revoked (what accounts.ts and tokens.ts would say). */
  const allowed = new Set([ALICE.userId, BOB.userId]);
  const revoked = new Set<string>();
  const w = wireDeploys({
    vms: h.service, store: h.store, releases, env, keys: new MemoryKeyStore(), runtime, git,
    userPrincipal: (id) => (allowed.has(id) ? ({ [ALICE.userId]: ALICE, [BOB.userId]: BOB })[id] ?? null : null),
    stillValid: (p) => Boolean(p.tokenId) && !revoked.has(p.tokenId!) && allowed.has(p.userId),
    urlFor: (n) => `https://${n}.64-34-93-45.sslip.io`,
    log,
  });
  const vm = await h.service.create(ALICE, { ...DEFAULTS, name: 'cosmic-nova' });
  await h.service.wait(ALICE, 'cosmic-nova', 'running', 2000);
  const push = async (files: Record<string, string>, n: number, p: Principal = ALICE) => {
    const lines: string[] = [];
    const outcome = await w.deploys.deploy(p, vm.id, { commit: sha(n), ref: 'refs/heads/main' }, tar(files), (l) => lines.push(l));
    return { outcome, lines };
  };
  return { h, w, vm, runtime, git, releases, env, push, allowed, revoked, logText: () => logLines.join('') };
}

test('a push deploys: Heroku-style output with the URL, a succeeded release, the previous one superseded', async () => {
  const r = await rig();
  const first = await r.push(PY, 1);
  assert.equal(first.outcome.ok, true);
  assert.deepEqual(first.lines, [
    '-----> Deploying to cosmic-nova...',
    `-----> Received ${sha(1).slice(0, 7)} (3 files)`,
    '-----> Detected Python (requirements.txt)',
    '-----> Starting: gunicorn app:app',
    '-----> Deploy successful!',
    '       https://cosmic-nova.64-34-93-45.sslip.io',
  ]);
  const v1 = r.w.deploys.getRelease(ALICE, 'cosmic-nova', 1);
  assert.deepEqual([v1.status, v1.kind, v1.commit, v1.buildpack, v1.processes, v1.build], ['succeeded', 'deploy', sha(1), 'python', { web: 'gunicorn app:app' }, 1]);
  assert.match(v1.log, /Detected Python/);
  assert.match(v1.description, /^Deploy 0000000 by alice@example.com$/);
  assert.ok(v1.finishedAt);

  assert.equal((await r.push({ ...PY, 'new.txt': 'x' }, 2)).outcome.ok, true);
  assert.deepEqual(r.w.deploys.listReleases(ALICE, 'cosmic-nova').map((x) => [x.version, x.status]), [[2, 'succeeded'], [1, 'superseded']]);
  assert.equal(r.runtime.current.get(r.vm.id), 2);
  assert.ok(r.runtime.builds.get(r.vm.id)!.get(2)!.files.has('new.txt'));
  assert.ok(!r.runtime.builds.get(r.vm.id)!.get(1)!.files.has('new.txt'), 'each release gets a clean tree of its commit');
});

test('a failed install or a web process that does not come up: push rejected, the previous release keeps serving', async () => {
  const r = await rig();
  await r.push(PY, 1);
  const bad = await r.push({ ...PY, FAIL_BUILD: '' }, 2);
  assert.equal(bad.outcome.ok, false);
  assert.ok(bad.lines.includes(' !     Installing dependencies failed (see the output above).'), bad.lines.join('\n'));
  assert.equal(bad.lines.at(-1), ' !     Push rejected: v2 failed; v1 keeps serving.');
  const noWeb = await r.push({ ...PY, FAIL_START: '' }, 3);
  assert.equal(noWeb.outcome.ok, false);
  assert.deepEqual(r.w.deploys.listReleases(ALICE, 'cosmic-nova').map((x) => [x.version, x.status]), [[3, 'failed'], [2, 'failed'], [1, 'succeeded']]);
  assert.equal(r.runtime.current.get(r.vm.id), 1);
  assert.match(r.w.deploys.getRelease(ALICE, 'cosmic-nova', 2).log, /Push rejected/);
});

test('a guest that does not answer fails the release with a clear message', async () => {
  const r = await rig();
  r.runtime.unreachable = true;
  const { outcome, lines } = await r.push(PY, 1);
  assert.equal(outcome.ok, false);
  assert.match(lines.join('\n'), /the guest agent of cosmic-nova did not answer/);
  assert.match(lines.at(-1)!, /v1 failed; nothing was deployed/);
});

test('the config vars go to the guest while the tree uploads: the tree ends only once they are stored', async () => {
  const r = await rig();
  await r.w.deploys.updateEnv(ALICE, 'cosmic-nova', { set: { GREETING: 'hi' } });
  const order: string[] = [];
  let store!: () => void;
  const putEnv = r.runtime.putEnv.bind(r.runtime);
  r.runtime.putEnv = async (vm, vars) => {
    order.push('env sent');
    await new Promise<void>((res) => (store = res));
    await putEnv(vm, vars);
    order.push('env stored');
  };
  const build = r.runtime.build.bind(r.runtime);
  r.runtime.build = async (vm, version, commit, tree, onLine) => {
    order.push('upload started');
    tree.once('end', () => order.push('tree ended'));
    setTimeout(() => store(), 50);
    return build(vm, version, commit, tree, onLine);
  };
  const { outcome } = await r.push(PY, 1);
  assert.equal(outcome.ok, true);
  assert.deepEqual(order, ['env sent', 'upload started', 'env stored', 'tree ended']);
  assert.deepEqual(r.runtime.env.get(r.vm.id), { GREETING: 'hi' });
});

test('config vars the guest does not store fail the release with that reason; the tree is drained, nothing deploys', async () => {
  const r = await rig();
  r.runtime.putEnv = async () => {
    await new Promise((res) => setTimeout(res, 20));
    throw new AppRuntimeError('disk full', 'env_failed');
  };
  const big = Readable.from((function* () {
    for (let i = 0; i < 64; i++) yield Buffer.alloc(64 * 1024, i); // more than the pipes hold: a stuck writer would hang here
  })());
  let drained = false;
  big.on('end', () => (drained = true));
  const lines: string[] = [];
  const outcome = await r.w.deploys.deploy(ALICE, r.vm.id, { commit: sha(1), ref: 'refs/heads/main' }, big, (l) => lines.push(l));
  assert.equal(outcome.ok, false);
  assert.match(lines.join('\n'), /refused: disk full/);
  assert.match(lines.at(-1)!, /v1 failed; nothing was deployed/);
  await new Promise((res) => setImmediate(res));
  assert.equal(drained, true, 'the pushed tree was read to its end');
  assert.equal(r.runtime.builds.get(r.vm.id)?.size ?? 0, 0);
});

test('endAfter: data passes at once, the end waits for the promise; a rejection fails the stream and drains the source', async () => {
  let go!: () => void;
  const held = endAfter(Readable.from([Buffer.from('abc')]), new Promise<void>((res) => (go = res)));
  const got: string[] = [];
  let ended = false;
  held.on('data', (c) => got.push(String(c)));
  held.on('end', () => (ended = true));
  await eventually('the data passes', async () => got, (g) => g.length > 0, 5000, 5);
  // Negative: the source has ended (its data came) and the stream still has not, 30 ms later (a pure stream:
  // an end that is not held back comes within the same turns of the event loop).
  await new Promise((res) => setTimeout(res, 30));
  assert.deepEqual([got, ended], [['abc'], false]);
  go();
  await eventually('the end comes once the promise resolves', async () => ended, (e) => e, 5000, 5);

  const src = Readable.from((function* () {
    for (let i = 0; i < 64; i++) yield Buffer.alloc(64 * 1024);
  })());
  let srcEnded = false;
  src.on('end', () => (srcEnded = true));
  const failed = endAfter(src, Promise.reject(new Error('no config')));
  const err = await new Promise<Error>((res) => failed.on('error', res));
  assert.equal(err.message, 'no config');
  await eventually('the source is drained to its end', async () => srcEnded, (e) => e, 5000, 5);
});

test('pushing to a stopped VM fails without a release and says how to start it', async () => {
  const r = await rig();
  await r.h.service.stop(ALICE, 'cosmic-nova', { timeoutMs: 0, force: true });
  const { outcome, lines } = await r.push(PY, 1);
  assert.equal(outcome.ok, false);
  assert.deepEqual(lines.slice(1), [' !     cosmic-nova is stopped; it must be running to deploy.', ' !     Start it with: fcm start cosmic-nova — then push again.']);
  assert.deepEqual(r.w.deploys.listReleases(ALICE, 'cosmic-nova'), []);
});

test('two pushes at once are serialized: the second waits, the guest never sees two at a time', async () => {
  const r = await rig();
  r.runtime.delayMs = 100;
  const [a, b] = await Promise.all([r.push(PY, 1), r.push({ ...PY, 'b.txt': '' }, 2)]);
  assert.equal(a.outcome.ok, true);
  assert.equal(b.outcome.ok, true);
  assert.ok(b.lines.includes('       Waiting for the release in progress to finish...'));
  assert.deepEqual(r.w.deploys.listReleases(ALICE, 'cosmic-nova').map((x) => x.status), ['succeeded', 'superseded']);
});

test('rollback: default is the previous code; by version; refusals with their codes', async () => {
  const r = await rig();
  await assert.rejects(r.w.deploys.rollback(ALICE, 'cosmic-nova'), (e: unknown) => isFcmError(e, 'no_previous_release'));
  await r.push(PY, 1);
  await assert.rejects(r.w.deploys.rollback(ALICE, 'cosmic-nova'), (e: unknown) => isFcmError(e, 'no_previous_release'));
  await r.push({ ...PY, 'v2.txt': '' }, 2);
  await r.push({ ...PY, FAIL_BUILD: '' }, 3);
  const rb = await r.w.deploys.rollback(ALICE, 'cosmic-nova');
  assert.deepEqual([rb.version, rb.kind, rb.status, rb.rollbackOf, rb.commit, rb.build], [4, 'rollback', 'succeeded', 1, sha(1), 1]);
  assert.equal(r.runtime.current.get(r.vm.id), 1);
  assert.equal(r.w.deploys.getRelease(ALICE, 'cosmic-nova', 2).status, 'superseded');
  // Default again: the code before v4's (v1's) is v2's.
  const again = await r.w.deploys.rollback(ALICE, 'cosmic-nova');
  assert.equal(again.rollbackOf, 2);
  assert.equal(r.runtime.current.get(r.vm.id), 2);
  assert.equal((await r.w.deploys.rollback(ALICE, 'cosmic-nova', 1)).rollbackOf, 1);
  await assert.rejects(r.w.deploys.rollback(ALICE, 'cosmic-nova', 3), (e: unknown) => isFcmError(e, 'validation_failed'));
  await assert.rejects(r.w.deploys.rollback(ALICE, 'cosmic-nova', 42), (e: unknown) => isFcmError(e, 'release_not_found'));
  await assert.rejects(r.w.deploys.rollback(BOB, 'cosmic-nova'), (e: unknown) => isFcmError(e, 'vm_not_found'));
  assert.equal(r.w.deploys.listReleases(ALICE, 'cosmic-nova').filter((x) => x.status === 'succeeded').length, 1);
});

test('config vars: set/unset restart the app; values never reach logs, descriptions or build logs', async () => {
  const r = await rig();
  const SECRET = 'postgres://u:s3cr3t-value@db/x';
  const before = await r.w.deploys.updateEnv(ALICE, 'cosmic-nova', { set: { DATABASE_URL: SECRET, MODE: 'a' } });
  assert.deepEqual(before.vars, { DATABASE_URL: SECRET, MODE: 'a' });
  assert.equal(before.release, 1);
  assert.deepEqual(r.runtime.env.get(r.vm.id), { DATABASE_URL: SECRET, MODE: 'a' });
  assert.equal(r.w.deploys.getRelease(ALICE, 'cosmic-nova', 1).description, 'Set DATABASE_URL, MODE');
  await r.push(PY, 1);
  const restarts = () => (r.runtime.appLog.get(r.vm.id) ?? []).length;
  const n = restarts();
  const after = await r.w.deploys.updateEnv(ALICE, 'cosmic-nova', { set: { MODE: 'b' }, unset: ['DATABASE_URL'] });
  assert.deepEqual(after.vars, { MODE: 'b' });
  assert.equal(restarts(), n + 1, 'the app restarted to see the change');
  const rel = r.w.deploys.getRelease(ALICE, 'cosmic-nova', after.release!);
  assert.deepEqual([rel.kind, rel.status, rel.description, rel.build, rel.commit], ['config', 'succeeded', 'Set MODE; unset DATABASE_URL', 2, sha(1)]);
  assert.equal(r.w.deploys.getRelease(ALICE, 'cosmic-nova', 2).status, 'superseded');
  // No change → no release.
  assert.equal((await r.w.deploys.updateEnv(ALICE, 'cosmic-nova', { set: { MODE: 'b' }, unset: ['NOPE'] })).release, null);
  assert.deepEqual(r.w.deploys.getEnv(ALICE, 'cosmic-nova'), { MODE: 'b' });
  const bads: EnvUpdate[] = [{ set: { PORT: '1' } }, { set: { FCM_X: '1' } }, { set: { A: '1' }, unset: ['A'] }, { set: { A: 'a\0b' } }];
  for (const bad of bads) {
    await assert.rejects(r.w.deploys.updateEnv(ALICE, 'cosmic-nova', bad), (e: unknown) => isFcmError(e, 'validation_failed'));
  }
  assert.throws(() => r.w.deploys.getEnv(BOB, 'cosmic-nova'), (e: unknown) => isFcmError(e, 'vm_not_found'));
  const everything = r.logText() + JSON.stringify(r.w.deploys.listReleases(ALICE, 'cosmic-nova').map((x) => r.w.deploys.getRelease(ALICE, 'cosmic-nova', x.version)));
  assert.ok(everything.includes('DATABASE_URL'), 'names are logged');
  assert.ok(!everything.includes('s3cr3t'), 'values are not');
});

test('config that makes the app crash: deploy_failed, the previous config is restored and keeps serving', async () => {
  const r = await rig();
  await r.push(PY, 1);
  await r.w.deploys.updateEnv(ALICE, 'cosmic-nova', { set: { A: '1' } });
  await assert.rejects(r.w.deploys.updateEnv(ALICE, 'cosmic-nova', { set: { CRASH_ON_START: '1' } }), (e: unknown) => isFcmError(e, 'deploy_failed') && /previous config is restored/.test((e as Error).message));
  assert.deepEqual(r.w.deploys.getEnv(ALICE, 'cosmic-nova'), { A: '1' });
  assert.deepEqual(r.runtime.env.get(r.vm.id), { A: '1' });
  assert.deepEqual(r.w.deploys.listReleases(ALICE, 'cosmic-nova').map((x) => [x.kind, x.status]), [['config', 'failed'], ['config', 'succeeded'], ['deploy', 'superseded']]);
});

test('config changed while stopped is pending, and applied when the VM runs again', async () => {
  const r = await rig();
  await r.push(PY, 1);
  await r.h.service.stop(ALICE, 'cosmic-nova', { timeoutMs: 0, force: true });
  const res = await r.w.deploys.updateEnv(ALICE, 'cosmic-nova', { set: { A: '1' } });
  assert.equal(r.w.deploys.getRelease(ALICE, 'cosmic-nova', res.release!).status, 'pending');
  assert.equal(r.runtime.env.get(r.vm.id)?.A, undefined);
  await r.h.service.start(ALICE, 'cosmic-nova');
  await r.h.service.wait(ALICE, 'cosmic-nova', 'running', 2000);
  for (let i = 0; i < 50 && r.w.deploys.getRelease(ALICE, 'cosmic-nova', res.release!).status !== 'succeeded'; i++) await new Promise((x) => setTimeout(x, 10));
  assert.equal(r.w.deploys.getRelease(ALICE, 'cosmic-nova', res.release!).status, 'succeeded');
  assert.equal(r.runtime.env.get(r.vm.id)?.A, '1');
});

test('logs: streamed from the guest; a stopped VM is invalid_state; a silent guest is vm_failed', async () => {
  const r = await rig();
  await r.push(PY, 1);
  let text = '';
  for await (const c of await r.w.deploys.logs(ALICE, 'cosmic-nova', { lines: 100, follow: false }, new AbortController().signal)) text += String(c);
  assert.match(text, /web\.1: started v1/);
  r.runtime.unreachable = true;
  await assert.rejects(r.w.deploys.logs(ALICE, 'cosmic-nova', { lines: 1, follow: false }, new AbortController().signal), (e: unknown) => isFcmError(e, 'vm_failed'));
  await r.h.service.stop(ALICE, 'cosmic-nova', { timeoutMs: 0, force: true });
  await assert.rejects(r.w.deploys.logs(ALICE, 'cosmic-nova', { lines: 1, follow: false }, new AbortController().signal), (e: unknown) => isFcmError(e, 'invalid_state'));
});

test('deleting a VM forgets its releases, config and repository; reconcile fails interrupted builds and removes orphan repos', async () => {
  const r = await rig();
  await r.push(PY, 1);
  await r.w.deploys.updateEnv(ALICE, 'cosmic-nova', { set: { A: '1' } });
  await r.git.ensure(r.vm.id);
  await r.h.service.delete(ALICE, 'cosmic-nova');
  for (let i = 0; i < 50 && r.git.repos.size; i++) await new Promise((x) => setTimeout(x, 5));
  assert.deepEqual(r.releases.list(r.vm.id), []);
  assert.deepEqual(r.env.get(r.vm.id), {});
  assert.equal(r.git.repos.size, 0);

  const vm2 = await r.h.service.create(ALICE, { ...DEFAULTS, name: 'second' });
  r.releases.create({ vmId: vm2.id, status: 'building', kind: 'deploy', commit: sha(9), description: 'x', buildpack: null, processes: {}, rollbackOf: null, build: null });
  await r.git.ensure('vm_0000000000aa');
  assert.deepEqual(await r.w.deploys.reconcile(), { interrupted: 1, orphans: 1 });
  assert.equal(r.releases.get(vm2.id, 1)!.status, 'failed');
  assert.match(r.releases.get(vm2.id, 1)!.log, /daemon restarted/);
});

test('PushGate: the credentials are checked again when the hook runs — a token revoked, a key removed or a user removed since the authorization refuses the push', async () => {
  const r = await rig();
  const hook = (g: { ticket: string | null; repo: string }, n: number) => r.w.gate.push(g.ticket!, g.repo, { commit: sha(n), ref: 'refs/heads/main' }, tar(PY), () => {});
  const revokedMeanwhile = (e: unknown) => isFcmError(e, 'unauthorized') && /revoked meanwhile/.test((e as Error).message);
  // HTTPS: authorized by a token, which is revoked while the pack uploads.
  const byToken = { ...ALICE, tokenId: 'tok_aaaaaaaaaaaa' };
  const g1 = await r.w.gate.authorize(byToken, 'cosmic-nova', 'receive-pack');
  r.revoked.add(byToken.tokenId);
  await assert.rejects(hook(g1, 1), revokedMeanwhile);
  // SSH: the key is removed meanwhile.
  const key = await proveKey(r.w.keys, ALICE, await newKeyPair());
  const g2 = await r.w.gate.authorizeKey(key.id, 'cosmic-nova', 'receive-pack');
  r.w.keys.remove(ALICE, key.id);
  await assert.rejects(hook(g2, 2), revokedMeanwhile);
  // Either way, the user is taken off the allowlist meanwhile.
  const key2 = await proveKey(r.w.keys, ALICE, await newKeyPair());
  const g3 = await r.w.gate.authorizeKey(key2.id, 'cosmic-nova', 'receive-pack');
  const g4 = await r.w.gate.authorize({ ...ALICE, tokenId: 'tok_bbbbbbbbbbbb' }, 'cosmic-nova', 'receive-pack');
  r.allowed.delete(ALICE.userId);
  await assert.rejects(hook(g3, 3), revokedMeanwhile);
  await assert.rejects(hook(g4, 4), revokedMeanwhile);
  assert.deepEqual(r.releases.list(r.vm.id), [], 'nothing was deployed');
  // Control: with the credentials standing, the same path deploys.
  r.allowed.add(ALICE.userId);
  const live = await r.w.gate.authorizeKey(key2.id, 'cosmic-nova', 'receive-pack');
  assert.equal((await hook(live, 5)).ok, true);
  const ok = await r.w.gate.authorize({ ...ALICE, tokenId: 'tok_dddddddddddd' }, 'cosmic-nova', 'receive-pack');
  assert.equal((await hook(ok, 6)).ok, true);
  // A principal from neither a token nor a key is never trusted at the hook.
  const bare = await r.w.gate.authorize(ALICE, 'cosmic-nova', 'receive-pack');
  await assert.rejects(hook(bare, 7), revokedMeanwhile);
});

test('PushGate: only the owner gets a grant; a ticket is for one push into its own repository', async () => {
  const r = await rig();
  const key = await proveKey(r.w.keys, ALICE, await newKeyPair());
  const bobKey = await proveKey(r.w.keys, BOB, await newKeyPair());
  await assert.rejects(r.w.gate.authorizeKey(bobKey.id, 'cosmic-nova', 'receive-pack'), (e: unknown) => isFcmError(e, 'vm_not_found') && /not yours/.test((e as Error).message));
  await assert.rejects(r.w.gate.authorizeKey(key.id, 'ghost', 'receive-pack'), (e: unknown) => isFcmError(e, 'vm_not_found'));
  await assert.rejects(r.w.gate.authorizeKey('key_ffffffffffff', 'cosmic-nova', 'receive-pack'), (e: unknown) => isFcmError(e, 'unauthorized'));
  const fetch = await r.w.gate.authorizeKey(key.id, 'cosmic-nova', 'upload-pack');
  assert.equal(fetch.ticket, null, 'fetching needs no deploy ticket');
  assert.equal((await r.w.gate.authorize(ALICE, 'cosmic-nova', 'receive-pack', { ticket: false })).ticket, null, 'nor does advertising refs');
  const g = await r.w.gate.authorizeKey(key.id, 'cosmic-nova', 'receive-pack');
  assert.equal(g.repo, `/mem/git/${r.vm.id}.git`);
  const out: string[] = [];
  await assert.rejects(r.w.gate.push(g.ticket!, '/mem/git/other.git', { commit: sha(1), ref: 'refs/heads/main' }, tar(PY), (l) => out.push(l)), (e: unknown) => isFcmError(e, 'unauthorized'));
  await assert.rejects(r.w.gate.push(g.ticket!, g.repo, { commit: sha(1), ref: 'refs/heads/main' }, tar(PY), (l) => out.push(l)), (e: unknown) => isFcmError(e, 'unauthorized'), 'used up by the refused attempt');
  const g2 = await r.w.gate.authorizeKey(key.id, 'cosmic-nova', 'receive-pack');
  assert.equal((await r.w.gate.push(g2.ticket!, g2.repo, { commit: sha(1), ref: 'refs/heads/main' }, tar(PY), (l) => out.push(l))).ok, true);
  await assert.rejects(r.w.gate.push(g2.ticket!, g2.repo, { commit: sha(2), ref: 'refs/heads/main' }, tar(PY), () => {}), (e: unknown) => isFcmError(e, 'unauthorized'));
  r.w.keys.remove(ALICE, key.id);
  await assert.rejects(r.w.gate.authorizeKey(key.id, 'cosmic-nova', 'receive-pack'), (e: unknown) => isFcmError(e, 'unauthorized'));
});

test("PushGate: a VM this host does not run gets no grant and no repository here (its host's, relayed while it is up; host_unreachable while it is not)", async () => {
  // This host (local) and host b share the rows (the database); b runs "elsewhere" and is not registered (gone).
  const rows = new MemoryVmStore(parseSubnet('172.16.0.0/24'));
  const r = await rig(rows.forHost('local'));
  const b = memoryService({ store: rows.forHost('b'), cluster: { hostId: 'b', hosts: { get: () => undefined } } });
  await b.service.create(ALICE, { ...DEFAULTS, name: 'elsewhere' });
  r.git.repos.clear();
  await assert.rejects(r.w.gate.authorize(ALICE, 'elsewhere', 'receive-pack'), (e: unknown) => isFcmError(e, 'host_unreachable'));
  const key = await proveKey(r.w.keys, ALICE, await newKeyPair());
  await assert.rejects(r.w.gate.authorizeKey(key.id, 'elsewhere', 'receive-pack'), (e: unknown) => isFcmError(e, 'host_unreachable'));
  assert.deepEqual([...r.git.repos], [], 'no repository was made for it here');
  // Ownership is still decided first: another user learns nothing about where it runs.
  await assert.rejects(r.w.gate.authorize(BOB, 'elsewhere', 'receive-pack'), (e: unknown) => isFcmError(e, 'vm_not_found'));
  // This host's own VM: granted as ever.
  assert.equal((await r.w.gate.authorize(ALICE, 'cosmic-nova', 'receive-pack')).repo, `/mem/git/${r.vm.id}.git`);
});
