/** fcm env / env set / env unset / logs [-f] / releases / rollback / keys, in-process against the real HTTP layer (memory services). */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { remoteUrl } from '../../../api/cli/git-remote.js';
import { shellQuote } from '../../../api/cli/deploys.js';
import { memoryApi } from '../../helpers/memory-api.js';
import { ROOT } from '../../helpers/memory-service.js';
import { makeTar } from '../../helpers/tar.js';
import { newKeyPair } from '../../helpers/key-proof.js';
import { Capture, run, tempDir, type RunOpts } from './io-helpers.js';
import { eventually } from '../../helpers/wait.js';

let api: Awaited<ReturnType<typeof memoryApi>>;
let env: Record<string, string>;
before(async () => {
  api = await memoryApi();
  const url = await api.app.listen({ port: 0, host: '127.0.0.1' });
  env = { FCM_HOST: url, FCM_TOKEN: api.admin };
});
after(async () => {
  await api.app.close();
  await api.h.service.close();
});

const fcm = (argv: string[], o: RunOpts = {}) => run(argv, { env, ...o });

async function app(name: string) {
  const c = await fcm(['create', name]);
  assert.equal(c.code, 0, c.stderr);
  const vm = api.h.service.get(ROOT, name);
  const deploy = (n: number) =>
    api.deploys.deploys.deploy(ROOT, vm.id, { commit: String(n).repeat(40), ref: 'refs/heads/main' }, Readable.from([makeTar({ 'requirements.txt': '', Procfile: 'web: python3 app.py\n' })]), () => {});
  return { vm, deploy };
}

test('create in a git repository hints at the remote to add (and changes nothing)', async () => {
  const dir = tempDir();
  execFileSync('git', ['init', '-q', dir]);
  const c = await fcm(['create', 'hinted'], { cwd: dir });
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stderr, /To deploy this repository: git remote add fcm root@64\.34\.93\.45:hinted\.git && git push fcm main/);
  assert.equal(remoteUrl(execFileSync('cat', [join(dir, '.git', 'config')], { encoding: 'utf8' }), 'fcm'), null, 'no remote was added');
  execFileSync('git', ['-C', dir, 'remote', 'add', 'fcm', 'root@elsewhere:old.git']);
  mkdirSync(join(dir, 'sub'));
  const again = await fcm(['create', 'hinted2'], { cwd: join(dir, 'sub') });
  assert.match(again.stderr, /git remote set-url fcm root@64\.34\.93\.45:hinted2\.git/);
  const plain = await fcm(['create', 'nogit'], { cwd: tempDir() });
  assert.doesNotMatch(plain.stderr, /git remote/);
});

test('remoteUrl reads a remote from git config text', () => {
  const cfg = '[core]\n\tbare = false\n[remote "origin"]\n\turl = git@x:y.git\n[remote "fcm"]\n\turl = root@h:app.git\n\tfetch = +refs/heads/*:refs/remotes/fcm/*\n';
  assert.equal(remoteUrl(cfg, 'fcm'), 'root@h:app.git');
  assert.equal(remoteUrl(cfg, 'origin'), 'git@x:y.git');
  assert.equal(remoteUrl(cfg, 'nope'), null);
});

test('env: set (several at once), list as shell-ready KEY=VALUE, unset; JSON; usage errors', async () => {
  const dir = tempDir();
  assert.equal((await fcm(['create', 'envy'], { cwd: dir })).code, 0);
  const empty = await fcm(['env'], { cwd: dir });
  assert.deepEqual([empty.code, empty.stdout], [0, '']);
  assert.match(empty.stderr, /No config vars on envy\. Set one with: fcm env set KEY=VALUE/);
  const set = await fcm(['env', 'set', 'GREETING=hello world', "QUOTE=it's", 'EMPTY=', 'URL=postgres://u:p@h/db?x=1'], { cwd: dir });
  assert.equal(set.code, 0, set.stderr);
  assert.match(set.stdout, /^Set GREETING, QUOTE, EMPTY, URL on envy \(v1, \d+\.\ds\)\.\n$/);
  const ls = await fcm(['env'], { cwd: dir });
  assert.equal(ls.stdout, "EMPTY=''\nGREETING='hello world'\nQUOTE='it'\\''s'\nURL='postgres://u:p@h/db?x=1'\n");
  const json = await fcm(['env', '--json'], { cwd: dir });
  assert.deepEqual(JSON.parse(json.stdout), { GREETING: 'hello world', QUOTE: "it's", EMPTY: '', URL: 'postgres://u:p@h/db?x=1' });
  const unset = await fcm(['env', 'unset', 'QUOTE', 'EMPTY'], { cwd: dir });
  assert.match(unset.stdout, /^Unset QUOTE, EMPTY on envy \(v2/);
  const same = await fcm(['env', 'set', '-a', 'envy', 'GREETING=hello world']);
  assert.equal(same.stdout, "No change: envy's config vars were already so.\n");
  const old = await fcm(['env', 'set', '--name', 'envy', 'GREETING=hello world']);
  assert.equal(old.stdout, "No change: envy's config vars were already so.\n");
  assert.match(old.stderr, /--name is deprecated: use --app \(or -a\)/);
  const both = await fcm(['env', 'unset', '-a', 'envy', 'GREETING'], { cwd: tempDir() });
  assert.match(both.stdout, /^Unset GREETING on envy/);
  for (const [argv, why] of [
    [['env', 'set', 'NOVALUE'], /"NOVALUE" is not KEY=VALUE \(to remove a var: fcm env unset NOVALUE\)/],
    [['env', 'set', '1BAD=x'], /"1BAD" is not a config var name/],
    [['env', 'unset', 'A=1'], /unset takes names only/],
    [['env', 'set'], /at least one KEY=VALUE/],
  ] as [string[], RegExp][]) {
    const r = await fcm(argv, { cwd: dir });
    assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, why);
  }
  const reserved = await fcm(['env', 'set', 'PORT=1'], { cwd: dir });
  assert.equal(reserved.code, 1);
  assert.match(reserved.stderr, /PORT is set by fcm/);
});

test('shellQuote: bare when safe, single-quoted otherwise', () => {
  assert.equal(shellQuote('abc-1.2/x:y@z'), 'abc-1.2/x:y@z');
  assert.equal(shellQuote(''), "''");
  assert.equal(shellQuote('a b'), "'a b'");
  assert.equal(shellQuote("a'b"), "'a'\\''b'");
  assert.equal(shellQuote('$HOME'), "'$HOME'");
});

test('releases, rollback and logs (streamed; -f until interrupted)', async () => {
  const dir = tempDir();
  const { deploy } = await app('relapp');
  writeFileSync(join(dir, '.fcm'), JSON.stringify({ vm: 'relapp', host: env.FCM_HOST }));
  assert.equal((await deploy(1)).ok, true);
  assert.equal((await deploy(2)).ok, true);
  const rel = await fcm(['releases'], { cwd: dir });
  assert.match(rel.stdout, /^VERSION\s+STATUS\s+COMMIT\s+DESCRIPTION\s+AGE\n2\s+succeeded\s+2{40}\s+Deploy 2222222\s+\d+s\n1\s+superseded/);
  const show = await fcm(['releases', 'show', '2'], { cwd: dir, env: { ...env, TZ: 'UTC' } });
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /^v2\nStatus: +succeeded\nKind: +deploy\n(.*\n)*Commit: +2{40}\n(.*\n)*Created: +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+00:00 \((just now|\d+ seconds? ago)\)\n(.*\n)*\nBuild log\n/);
  const stored = api.deploys.deploys.getRelease(ROOT, 'relapp', 2);
  assert.ok(stored.log && show.stdout.endsWith(stored.log.endsWith('\n') ? stored.log : `${stored.log}\n`), 'the build log, as stored');
  const showJson = await fcm(['releases', 'show', '1', '-a', 'relapp', '--json']);
  assert.equal(JSON.parse(showJson.stdout).version, 1);
  assert.equal(typeof JSON.parse(showJson.stdout).log, 'string');
  const missing = await fcm(['releases', 'show', '9'], { cwd: dir });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /\[release_not_found\]/);
  const rb = await fcm(['rollback'], { cwd: dir });
  assert.equal(rb.stdout, 'Rolled back relapp to v1 (now v3)\n', rb.stderr);
  assert.match(rb.stderr, /^Rolling back relapp…\nDone \(\d+\.\ds\)\n$/, 'progress while the rollback runs (no TTY: plain lines)');
  const none = await fcm(['rollback', '7'], { cwd: dir });
  assert.equal(none.code, 1);
  assert.match(none.stderr, /relapp has no release v7/);

  const logs = await fcm(['logs'], { cwd: dir });
  assert.equal(logs.code, 0, logs.stderr);
  assert.match(logs.stdout, /started v1\n(.*\n)*.*started v2\n(.*\n)*.*started v1\n/);
  const ac = new AbortController();
  const out = new Capture();
  const following = fcm(['logs', '-f', '-n', '1'], { cwd: dir, signal: ac.signal, stdout: out });
  // Interrupt once the line has streamed (while -f still follows), not after a fixed sleep.
  await eventually('the last line streams', async () => out.text, (t) => t.includes('\n'), 10_000, 10);
  ac.abort();
  const f = await following;
  assert.equal(f.code, 130);
  assert.equal(f.stdout, 'web.1: started v1\n', 'the last line, streamed before the end');
});

test('keys add <file.pub> (signing with the private key next to it), keys, keys rm', async () => {
  const key = await newKeyPair('ed25519', 'me@laptop');
  const pub = `${key.keyPath}.pub`;
  const add = await fcm(['keys', 'add', pub], { env: { ...env, PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  assert.equal(add.code, 0, add.stderr);
  const fp = /^Added key (SHA256:\S+)\n$/.exec(add.stdout)?.[1];
  assert.ok(fp, add.stdout);
  const again = await fcm(['keys', 'add', pub], { env: { ...env, PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  assert.equal(again.code, 1);
  assert.match(again.stderr, /SSH key already registered/);
  const ls = await fcm(['keys']);
  const id = new RegExp(`^(key_[0-9a-f]{12})\\s+me@laptop\\s+${fp!.replace(/[+/]/g, (c) => `\\${c}`)}`, 'm').exec(ls.stdout)?.[1];
  assert.ok(id, ls.stdout);
  assert.equal((await fcm(['keys', 'rm', id!])).stdout, `Removed key ${id}\n`);
});
