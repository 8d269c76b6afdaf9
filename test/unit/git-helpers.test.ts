/**
 * The programs sshd and git run (daemon/drivers/git/helpers/): their logic
 * as functions, then the installed files themselves — the key lookup script
 * and the bundled forced command and hook — run as processes against the
 * daemon's real internal server on a Unix socket (over the in-memory deploy
 * stack). sshd, the git user and real pushes: test/e2e/deploy-git.test.ts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../daemon/config.js';
import { RESULT_PREFIX } from '../../daemon/core/git-wire.js';
import { BareRepos } from '../../daemon/drivers/git/bare-repos.js';
import { asUser, ensureGitUser, lookupUser, SETPRIV } from '../../daemon/drivers/git/git-user.js';
import { bundleHelper, gitUserBlockedReason, helperPaths, installHelpers, sshKeysScript } from '../../daemon/drivers/git/helpers.js';
import { parseSshCommand } from '../../daemon/drivers/git/helpers/git-serve.js';
import { decide, OutputRelay, parseUpdates } from '../../daemon/drivers/git/helpers/pre-receive.js';
import { refusalOf } from '../../daemon/drivers/git/helpers/socket-client.js';
import { internalGitRig } from '../helpers/git-rig.js';

interface Res {
  code: number;
  stdout: string;
  stderr: string;
}

function runProc(cmd: string, args: string[], o: { env?: Record<string, string>; input?: string; cwd?: string } = {}): Promise<Res> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env: o.env ?? { PATH: process.env.PATH ?? '/usr/bin:/bin' }, cwd: o.cwd, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    child.stdin?.on('error', () => {}); // a program that exits without reading its input
    child.stdin?.end(o.input);
  });
}

describe('the helpers as functions', () => {
  test('forced command: only git-receive-pack / git-upload-pack of one app; everything else is refused with what to do', () => {
    for (const [cmd, service, app] of [
      ["git-receive-pack 'cosmic-nova.git'", 'receive-pack', 'cosmic-nova'],
      ["git-upload-pack '/cosmic-nova.git'", 'upload-pack', 'cosmic-nova'],
      ["git receive-pack 'cosmic-nova'", 'receive-pack', 'cosmic-nova'],
      ["git-upload-pack '/cosmic-nova.git/'", 'upload-pack', 'cosmic-nova'],
    ] as const) {
      assert.deepEqual(parseSshCommand(cmd), { ok: true, service, app }, cmd);
    }
    const none = parseSshCommand('');
    assert.ok(!none.ok && /there is no shell here/.test(none.message) && /git push fcm main/.test(none.message));
    for (const cmd of ['id', "git-receive-pack '../etc.git'", "git-receive-pack 'a.git'; id", "git-receive-pack 'a'\\''b.git'", 'git-upload-archive \'a.git\'', "git-receive-pack cosmic-nova.git", `git-receive-pack '${'a'.repeat(200)}.git'`]) {
      const r = parseSshCommand(cmd);
      assert.ok(!r.ok, cmd);
      assert.match(r.message, /^only git push and git fetch of an app \(<app>\.git\) are allowed here, not: "/);
      assert.ok(r.message.length < 200, 'the command is quoted, shortened');
    }
  });

  test('pre-receive: main or master, one at a time, never deleted', () => {
    const z = '0'.repeat(40);
    const a = 'a'.repeat(40);
    assert.deepEqual(parseUpdates(`${z} ${a} refs/heads/main\n`), [{ oldRev: z, newRev: a, ref: 'refs/heads/main' }]);
    assert.deepEqual(decide(parseUpdates(`${z} ${a} refs/heads/main\n`)), { deploy: { oldRev: z, newRev: a, ref: 'refs/heads/main' } });
    assert.deepEqual(decide(parseUpdates(`${z} ${a} refs/heads/master\n`)), { deploy: { oldRev: z, newRev: a, ref: 'refs/heads/master' } });
    assert.deepEqual(decide([]), { deploy: null });
    assert.deepEqual(decide(parseUpdates(`${z} ${a} refs/heads/feature\n${z} ${a} refs/tags/v1\n`)), {
      refuse: ['fcm deploys the main (or master) branch only; refused: feature, refs/tags/v1', 'To deploy another branch, push it to main: git push fcm feature:main'],
    });
    assert.deepEqual(decide(parseUpdates(`${z} ${a} refs/heads/main\n${z} ${a} refs/heads/master\n`)), { refuse: ['Push main or master, not both.'] });
    assert.deepEqual(decide(parseUpdates(`${a} ${z} refs/heads/main\n`)), { refuse: ['Deleting the deployed branch is not supported (fcm destroy removes the app).'] });
  });

  test('the hook relays lines as they come; only a result line that really is last counts; a full stdout pauses it', () => {
    const out: string[] = [];
    const relay = new OutputRelay((l) => (out.push(l), true));
    assert.equal(relay.push('-----> Buil'), true);
    assert.deepEqual(out, []);
    relay.push(`ding\n${RESULT_PREFIX}{"ok":true,"version":9}\n`);
    assert.deepEqual(out, ['-----> Building'], 'a result line is held back');
    relay.push('       more output\n');
    assert.deepEqual(out, ['-----> Building', `${RESULT_PREFIX}{"ok":true,"version":9}`, '       more output'], '…and shown once it was not the last');
    relay.push(`${RESULT_PREFIX}{"ok":false,"error":"pip failed"}`);
    assert.deepEqual(relay.end(), { ok: false, error: 'pip failed' });
    assert.equal(out.length, 3, 'the result itself is not shown');

    const cut = new OutputRelay(() => true);
    cut.push('-----> Building\n');
    assert.equal(cut.end(), null, 'no result line: the daemon went away');

    let room = 1;
    const slow = new OutputRelay(() => room-- > 0);
    assert.equal(slow.push('one\ntwo\n'), false, 'the destination is full: the caller waits for it to drain');
  });

  test('refusals: the problem’s detail, or what happened with the status', () => {
    const problem = JSON.stringify({ type: 'https://fcm.dev/problems/vm-not-found', title: 'VM not found', status: 404, code: 'vm_not_found', detail: 'No app named "x".' });
    assert.deepEqual(refusalOf({ status: 404, type: 'application/problem+json', text: problem }, 'refused'), { code: 'vm_not_found', detail: 'No app named "x".' });
    assert.deepEqual(refusalOf({ status: 502, type: 'text/html', text: '<h1>bad</h1>' }, 'the fcm daemon refused'), { code: 'bad_answer', detail: 'the fcm daemon refused (HTTP 502)' });
    assert.deepEqual(refusalOf({ status: 500, type: 'application/problem+json', text: '{' }, 'refused'), { code: 'bad_answer', detail: 'refused (HTTP 500)' });
  });

  test('the git user is configured by FCM_GIT_USER (default fcm-git), and cannot be root', () => {
    const base = { FCM_STATE_DIR: '/var/lib/fcm' };
    assert.equal(loadConfig(base).git.user, 'fcm-git');
    assert.equal(loadConfig({ ...base, FCM_GIT_USER: 'git_push' }).git.user, 'git_push');
    for (const bad of ['root', 'Git', '1git', 'git user', 'g'.repeat(40), '']) {
      assert.throws(() => loadConfig({ ...base, FCM_GIT_USER: bad }), ConfigError, bad);
    }
  });

  test('git runs through setpriv as the git user: no groups, no new privileges', () => {
    const u = { name: 'fcm-git', uid: 998, gid: 997, home: '/nonexistent' };
    assert.deepEqual(asUser(u, 'git', ['http-backend']), { cmd: SETPRIV, args: ['--reuid=998', '--regid=997', '--clear-groups', '--no-new-privs', 'git', 'http-backend'] });
    assert.deepEqual(asUser(null, 'git', ['init']), { cmd: 'git', args: ['init'] });
  });
});

describe('the installed helpers against the internal server on a socket', { skip: process.getuid?.() === 0 ? false : 'needs root (the git user, chown)' }, () => {
  let rig: Awaited<ReturnType<typeof internalGitRig>>;
  let dir: string;
  let socketPath: string;
  let paths: ReturnType<typeof helperPaths>;
  const requests: string[] = [];
  let fingerprint: string;
  let sha: string;
  let repo: string;

  before(async () => {
    rig = await internalGitRig();
    dir = mkdtempSync(join(tmpdir(), 'fcm-helpers-'));
    socketPath = join(dir, 'fcm.sock');
    rig.app.addHook('onRequest', async (req) => void requests.push(`${req.method} ${req.url}`));
    await rig.app.listen({ path: socketPath });
    paths = helperPaths(join(dir, 'bin'), join(dir, 'hooks'));
    await installHelpers(paths, { socketPath, node: process.execPath });
    fingerprint = rig.w.keys.list({ userId: 'u_alice', email: null, admin: false })[0]!.fingerprint;
    // alice's repository, with one commit in it, where the hook runs.
    repo = (await rig.w.gate.authorize({ userId: 'u_alice', email: null, admin: false }, 'cosmic-nova', 'upload-pack')).repo;
    const work = join(dir, 'work');
    mkdirSync(work);
    const git = (...a: string[]) => runProc('git', a, { cwd: work, env: { PATH: process.env.PATH!, HOME: dir, GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 'a', GIT_AUTHOR_EMAIL: 'a@x', GIT_COMMITTER_NAME: 'a', GIT_COMMITTER_EMAIL: 'a@x' } });
    assert.equal((await runProc('git', ['init', '-q', '--bare', repo])).code, 0);
    await git('init', '-q', '-b', 'main');
    writeFileSync(join(work, 'requirements.txt'), '\n');
    writeFileSync(join(work, 'Procfile'), 'web: python3 app.py\n');
    writeFileSync(join(work, 'app.py'), 'x = 1\n');
    await git('add', '-A');
    await git('commit', '-q', '-m', 'first');
    assert.equal((await git('push', '-q', repo, 'main')).code, 0);
    sha = (await git('rev-parse', 'HEAD')).stdout.trim();
  });

  after(async () => {
    await rig?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the files: executable, root-owned, no placeholder left, the script is valid sh', async () => {
    for (const p of [paths.sshKeysCommand, paths.forcedCommand, paths.preReceiveProgram, paths.preReceive]) {
      const st = statSync(p);
      assert.equal(st.mode & 0o777, 0o755, p);
      assert.equal(st.uid, 0, p);
    }
    const script = readFileSync(paths.sshKeysCommand, 'utf8');
    assert.equal(script, sshKeysScript(socketPath));
    assert.ok(script.includes(`'${socketPath}'`));
    assert.doesNotMatch(script, /@[A-Z_]+@/);
    const lint = await runProc('dash', ['-n', paths.sshKeysCommand]);
    assert.equal(lint.code, 0, lint.stderr);
    assert.match(readFileSync(paths.forcedCommand, 'utf8'), new RegExp(`^#!${process.execPath}\n`));
    assert.match(readFileSync(paths.preReceive, 'utf8'), new RegExp(`exec ${process.execPath} ${paths.preReceiveProgram}\n$`));
    // Bundled: nothing but Node's own modules is required at run time.
    for (const p of [paths.forcedCommand, paths.preReceiveProgram]) {
      const required = [...readFileSync(p, 'utf8').matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]!);
      assert.ok(required.length && required.every((r) => r.startsWith('node:')), `${p}: ${required.join(', ')}`);
    }
  });

  test('key lookup: the line of a registered key for root@; nothing for anything else, without asking the daemon', async () => {
    requests.length = 0;
    const known = await runProc(paths.sshKeysCommand, ['root', fingerprint]);
    assert.equal(known.code, 0, known.stderr);
    assert.match(known.stdout, new RegExp(`^restrict,command="[^"]+ ${rig.key.id}" ssh-ed25519 [A-Za-z0-9+/=]+\n$`));
    const unknown = await runProc(paths.sshKeysCommand, ['root', `SHA256:${'B'.repeat(43)}`]);
    assert.deepEqual([unknown.code, unknown.stdout], [0, '']);
    assert.equal(requests.length, 2);
    for (const args of [['git', fingerprint], ['root', 'MD5:aa'], ['root', 'SHA256:short'], ['root', `SHA256:${'B'.repeat(42)}$`], ['root'], ['root', fingerprint, 'x']]) {
      const r = await runProc(paths.sshKeysCommand, args);
      assert.deepEqual([r.code, r.stdout], [0, ''], args.join(' '));
    }
    assert.equal(requests.length, 2, 'refused before any request');
  });

  test('key lookup with the daemon down: no key (stdout empty), the error for sshd’s log', async () => {
    const other = join(dir, 'down');
    mkdirSync(other);
    const script = join(other, 'fcm-ssh-keys');
    writeFileSync(script, sshKeysScript(join(other, 'none.sock')), { mode: 0o755 });
    const r = await runProc(script, ['root', fingerprint]);
    assert.notEqual(r.code, 0);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /curl/);
  });

  test('forced command: refusals say what to do; the daemon’s problems reach the user', async () => {
    const serve = (args: string[], cmd?: string) =>
      runProc(paths.forcedCommand, args, { env: { PATH: process.env.PATH!, ...(cmd === undefined ? {} : { SSH_ORIGINAL_COMMAND: cmd }) } });
    assert.match((await serve(['bogus'], "git-receive-pack 'cosmic-nova.git'")).stderr, /^fcm: this key entry is misconfigured\n$/);
    const none = await serve([rig.key.id]);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /^fcm: this key can only git push and fetch fcm apps; there is no shell here\.\nfcm:   git remote add fcm root@<server>:<app>\.git\n/);
    assert.match((await serve([rig.key.id], 'cat /etc/shadow')).stderr, /^fcm: only git push and git fetch of an app \(<app>\.git\) are allowed here, not: "cat \/etc\/shadow"\n$/);
    const bobs = await serve([rig.key.id], "git-receive-pack 'bobs-app.git'");
    assert.notEqual(bobs.code, 0);
    assert.equal(bobs.stderr, 'fcm: No app named "bobs-app" (or it is not yours). Create it with: fcm create bobs-app\n');
    const gone = await serve(['key_000000000000'], "git-upload-pack 'cosmic-nova.git'");
    assert.equal(gone.stderr, 'fcm: This SSH key is no longer registered with fcm (fcm keys).\n');
    const down = join(dir, 'serve-down.cjs');
    writeFileSync(down, `#!${process.execPath}\n${await bundleHelper('git-serve', { socketPath: join(dir, 'none.sock') })}`, { mode: 0o755 });
    const r = await runProc(down, [rig.key.id], { env: { PATH: process.env.PATH!, SSH_ORIGINAL_COMMAND: "git-upload-pack 'cosmic-nova.git'" } });
    assert.match(r.stderr, /^fcm: the fcm daemon is not answering \(connect ENOENT .*\); try again in a moment\n$/);
  });

  test('pre-receive: refusals, a ticket the daemon does not know, and a deploy relayed to the end', async () => {
    const hook = (input: string, env: Record<string, string>) => runProc(paths.preReceive, [], { input, cwd: repo, env: { PATH: process.env.PATH!, GIT_DIR: repo, ...env } });
    const z = '0'.repeat(40);
    const noTicket = await hook(`${z} ${sha} refs/heads/main\n`, {});
    assert.notEqual(noTicket.code, 0);
    assert.equal(noTicket.stdout, ' !     This repository is managed by fcm: push to the app through its fcm remote (fcm show prints it).\n');
    const feature = await hook(`${z} ${sha} refs/heads/feature\n`, { FCM_PUSH_TICKET: 'x' });
    assert.notEqual(feature.code, 0);
    assert.match(feature.stdout, /refused: feature\n.*git push fcm feature:main\n$/);
    requests.length = 0;
    const stale = await hook(`${z} ${sha} refs/heads/main\n`, { FCM_PUSH_TICKET: 'not-a-ticket' });
    assert.notEqual(stale.code, 0);
    assert.equal(stale.stdout, ' !     This push was not authorized by fcm (or took too long): push again.\n');
    assert.deepEqual(requests, ['POST /push']);

    const grant = await rig.w.gate.authorize({ userId: 'u_alice', email: null, admin: false, tokenId: 'tok_000000000001' }, 'cosmic-nova', 'receive-pack');
    const ok = await hook(`${z} ${sha} refs/heads/main\n`, { FCM_PUSH_TICKET: grant.ticket! });
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    const lines = ok.stdout.trimEnd().split('\n');
    assert.deepEqual(lines.slice(0, 2), ['-----> Deploying to cosmic-nova...', `-----> Received ${sha.slice(0, 7)} (3 files)`]);
    assert.equal(lines.at(-2), '-----> Deploy successful!');
    assert.ok(!ok.stdout.includes(RESULT_PREFIX), 'the result line is not shown');
    assert.deepEqual([...(rig.runtime.builds.get(rig.vm.id)?.get(1)?.files.keys() ?? [])].sort(), ['Procfile', 'app.py', 'requirements.txt']);
  });

  test('the git user: created once, never root; what it cannot reach is named', async () => {
    const u = await ensureGitUser('fcm-git');
    assert.deepEqual(await ensureGitUser('fcm-git'), u, 'idempotent');
    assert.notEqual(u.uid, 0);
    assert.equal((await lookupUser('root'))?.uid, 0);
    await assert.rejects(ensureGitUser('root'), /must not be root/);
    assert.equal(await lookupUser('no-such-user-fcm'), null);
    const area = join(dir, 'reach');
    mkdirSync(join(area, 'inner'), { recursive: true });
    writeFileSync(join(area, 'inner', 'f'), 'x', { mode: 0o640 });
    chmodSync(dir, 0o711);
    chmodSync(area, 0o700);
    assert.equal(gitUserBlockedReason(u, join(area, 'inner', 'f'), 'r'), `fcm-git cannot enter ${area}`);
    chownSync(area, 0, u.gid);
    chmodSync(area, 0o710);
    chmodSync(join(area, 'inner'), 0o755);
    assert.equal(gitUserBlockedReason(u, join(area, 'inner', 'f'), 'r'), `fcm-git may not r ${join(area, 'inner', 'f')}`);
    chownSync(join(area, 'inner', 'f'), 0, u.gid);
    assert.equal(gitUserBlockedReason(u, join(area, 'inner', 'f'), 'r'), null);
    assert.match(gitUserBlockedReason(u, join(area, 'inner', 'f'), 'w') ?? '', /may not w/);
  });

  test('repositories belong to the git user: new ones, and those a root-run daemon left (handed over at start)', async () => {
    const u = await ensureGitUser('fcm-git');
    chmodSync(dir, 0o711);
    const d = join(dir, 'repos');
    const old = join(d, 'vm_0123456789ab.git');
    mkdirSync(join(old, 'objects', 'ab'), { recursive: true });
    writeFileSync(join(old, 'objects', 'ab', 'cdef'), 'x');
    const repos = new BareRepos({ dir: d, hooksDir: join(dir, 'hooks'), maxPushBytes: 1 << 20, user: u });
    assert.equal(statSync(d).uid, u.uid);
    assert.equal(statSync(d).mode & 0o777, 0o700);
    assert.equal(await repos.adopt(), 1);
    for (const p of [old, join(old, 'objects', 'ab'), join(old, 'objects', 'ab', 'cdef')]) assert.deepEqual([statSync(p).uid, statSync(p).gid], [u.uid, u.gid], p);
    assert.equal(await repos.adopt(), 0, 'once');
    const fresh = await repos.ensure('vm_aaaaaaaaaaaa');
    assert.deepEqual([statSync(join(fresh, 'config')).uid, statSync(join(fresh, 'objects')).uid], [u.uid, u.uid]);
    assert.match(readFileSync(join(fresh, 'config'), 'utf8'), new RegExp(`hooksPath = ${join(dir, 'hooks')}`));
  });
});
