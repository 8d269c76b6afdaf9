/**
 * fcm from a laptop, with the built binary against the daemon's real HTTP
 * layer (in-memory services) on loopback:
 *  - credentials per host: `fcm login --with-token` stores each server's
 *    token under that server (0600 file, 0700 directory); every command
 *    sends a token only to its own server; `fcm hosts` lists and switches;
 *    `fcm logout` forgets one server only;
 *  - a hostile `.fcm` in a cloned repository: a listener that records every
 *    byte it receives gets nothing from any command that needs a token, and
 *    never a token from any command;
 *  - the standalone package: `npm install -g --prefix <tmp> --offline` of the
 *    fcm-cli tarball, run from outside the repository with no node_modules
 *    anywhere near it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { memoryApi } from '../helpers/memory-api.js';
import { ensureBuilt, fcm, ROOT, tempDir } from './cli-run.js';

type Api = Awaited<ReturnType<typeof memoryApi>>;
let a: Api;
let b: Api;
let urlA: string;
let urlB: string;

before(async () => {
  ensureBuilt();
  a = await memoryApi();
  b = await memoryApi();
  urlA = await a.app.listen({ port: 0, host: '127.0.0.1' });
  urlB = await b.app.listen({ port: 0, host: '127.0.0.1' });
});
after(async () => {
  for (const x of [a, b]) {
    await x?.app.close();
    await x?.h.service.close();
  }
});

/** A TCP listener that answers nothing and keeps every byte anyone sends it. */
async function recorder(): Promise<{ url: string; bytes(): Buffer; close(): Promise<void> }> {
  const chunks: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('data', (d) => chunks.push(d));
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    // Answer like a broken server so a client that does connect does not wait forever.
    setTimeout(() => s.destroy(), 200);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    bytes: () => Buffer.concat(chunks),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

function credentialsOf(home: string): { default?: string; hosts: Record<string, { token: string; user?: string }> } {
  return JSON.parse(readFileSync(join(home, '.config', 'fcm', 'credentials.json'), 'utf8'));
}

test('logins per host: each token stored under its server, sent only there; hosts lists and switches; logout forgets one', async () => {
  const home = tempDir('fcm-home-');
  const cwd = tempDir();
  const env = { HOME: home };
  const run = (args: string[], input?: string) => fcm(args, { cwd, env, ...(input !== undefined ? { input } : {}) });

  const la = await run(['login', '--host', urlA, '--with-token'], `${a.admin}\n`);
  assert.equal(la.code, 0, la.stderr);
  assert.equal(la.stdout, `Logged in to ${urlA} as admin (admin token), admin.\n`);
  const file = join(home, '.config', 'fcm', 'credentials.json');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(statSync(join(home, '.config', 'fcm')).mode & 0o777, 0o700);
  assert.equal(existsSync(join(home, '.fcm-token')), false, 'login no longer writes the host-less token file');

  // A's token is refused by B, and nothing is stored then.
  const wrong = await run(['login', '--host', urlB, '--with-token'], `${a.admin}\n`);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, new RegExp(`^Error: ${urlB} did not accept that token\\n  Nothing was saved\\.`));
  assert.deepEqual(Object.keys(credentialsOf(home).hosts), [urlA]);

  assert.equal((await run(['login', '--host', urlB, '--with-token'], b.admin)).code, 0);
  const creds = credentialsOf(home);
  assert.deepEqual(creds, { version: 1, default: urlB, hosts: { [urlA]: creds.hosts[urlA], [urlB]: creds.hosts[urlB] } } as unknown);
  assert.equal(creds.hosts[urlA]!.token, a.admin);
  assert.equal(creds.hosts[urlB]!.token, b.admin);

  // The last login is the default; --host picks the other with its own token (each server would refuse the other's).
  // (created elsewhere: create writes a .fcm naming its host into the directory it runs in)
  assert.equal((await fcm(['create', 'on-b', '--no-wait'], { cwd: tempDir(), env })).code, 0);
  assert.equal((await fcm(['create', 'on-a', '--no-wait', '--host', urlA], { cwd: tempDir(), env })).code, 0);
  assert.deepEqual(JSON.parse((await run(['ls', '--json'])).stdout).vms.map((v: { name: string }) => v.name), ['on-b']);
  assert.deepEqual(JSON.parse((await run(['ls', '--json', '--host', urlA])).stdout).vms.map((v: { name: string }) => v.name), ['on-a']);

  const hosts = await run(['hosts']);
  assert.equal(hosts.code, 0, hosts.stderr);
  const lines = hosts.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^\s+HOST\s+USER\s+CA FILE$/);
  assert.match(lines.find((l) => l.includes(urlB))!, /^\*\s+http:\/\/127\.0\.0\.1:\d+\s+admin\s+-$/);
  assert.match(lines.find((l) => l.includes(urlA))!, /^\s+http:\/\/127\.0\.0\.1:\d+\s+admin\s+-$/);
  assert.equal((await run(['hosts', 'use', urlA])).stdout, `${urlA} is now the default host.\n`);
  assert.deepEqual(JSON.parse((await run(['ls', '--json'])).stdout).vms.map((v: { name: string }) => v.name), ['on-a']);
  const nowhere = await run(['hosts', 'use', 'https://nowhere.example']);
  assert.equal(nowhere.code, 1);
  assert.match(nowhere.stderr, /Not logged in to https:\/\/nowhere\.example\nHint: fcm login --host https:\/\/nowhere\.example/);

  // logout (admin tokens stay valid on the server) forgets A only; B still works by --host.
  const out = await run(['logout']);
  assert.equal(out.code, 0, out.stderr);
  assert.equal(out.stdout, `Logged out of ${urlA}: token forgotten.\n`);
  assert.deepEqual(Object.keys(credentialsOf(home).hosts), [urlB]);
  assert.equal(credentialsOf(home).default, undefined);
  assert.equal((await run(['ls', '--json', '--host', urlB])).code, 0);
  const gone = await run(['ls', '--host', urlA]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, new RegExp(`^Error: Not logged in to ${urlA}\\n`));
});

test('a hostile .fcm in a cloned repository gets no byte from commands that need a token, and no token from any', async () => {
  const trap = await recorder();
  try {
    const home = tempDir('fcm-home-');
    // Every kind of credential this user has: a stored login (the default host), the legacy file, and FCM_TOKEN.
    assert.equal((await fcm(['login', '--host', urlA, '--with-token'], { cwd: tempDir(), env: { HOME: home }, input: a.admin })).code, 0);
    writeFileSync(join(home, '.fcm-token'), `${a.admin}\n`, { mode: 0o600 });
    const repo = tempDir('fcm-cloned-');
    writeFileSync(join(repo, '.fcm'), JSON.stringify({ host: trap.url, vm: 'cosmic-nova' }));
    mkdirSync(join(repo, 'src'));
    execFileSync('git', ['init', '-q', repo]);
    const envs: Record<string, string>[] = [{ HOME: home }, { HOME: home, FCM_TOKEN: b.admin }];
    for (const env of envs) {
      for (const args of [['ls'], ['show'], ['stop'], ['destroy', '-y'], ['env'], ['logs'], ['console'], ['releases'], ['whoami'], ['git-remote'], ['__complete', 'vms']]) {
        const r = await fcm(args, { cwd: join(repo, 'src'), env });
        assert.notEqual(r.code, 0, `${args.join(' ')} refused`);
        if (args[0] !== '__complete') assert.match(r.stderr, new RegExp(`Not logged in to ${trap.url} \\(the host comes from .*\\.fcm\\)`), args.join(' '));
      }
      const login = await fcm(['login', '--with-token'], { cwd: repo, env, input: a.admin });
      assert.equal(login.code, 1);
      assert.match(login.stderr, /^Error: Name the server to log in to\n/);
    }
    assert.equal(trap.bytes().length, 0, `the listener received:\n${trap.bytes().toString('latin1')}`);

    // A command that needs no token does reach the .fcm's host: with no token in it.
    await fcm(['health'], { cwd: repo, env: { HOME: home, FCM_TOKEN: b.admin } });
    const got = trap.bytes().toString('latin1');
    assert.match(got, /^GET \/v1\/health HTTP\/1\.1\r\n/, 'the listener did hear from health');
    for (const t of [a.admin, b.admin]) assert.ok(!got.includes(t), 'no token in what it heard');
    assert.doesNotMatch(got, /authorization/i);
  } finally {
    await trap.close();
  }
});

test('the fcm-cli tarball installs offline into a prefix outside the repository and works there', async () => {
  const tarball = join(ROOT, 'dist', 'pkg', `fcm-cli-${(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version}.tgz`);
  assert.ok(existsSync(tarball), `${tarball} (npm run build makes it)`);
  const prefix = tempDir('fcm-prefix-');
  const npmCache = tempDir('fcm-npm-cache-');
  execFileSync('npm', ['install', '-g', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', '--cache', npmCache, tarball], { stdio: 'pipe' });
  const bin = join(prefix, 'bin', 'fcm');
  const pkgDir = join(prefix, 'lib', 'node_modules', 'fcm-cli');
  assert.deepEqual(readdirSync(pkgDir).sort(), ['README.md', 'fcm.mjs', 'package.json', 'terraform-provider-fcm.cjs'], 'no node_modules: everything is in the bundle');
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

  const home = tempDir('fcm-home-');
  const cwd = tempDir('fcm-laptop-');
  const run = (args: string[], input?: string) => fcm(args, { cwd, env: { HOME: home }, argv0: [bin], ...(input !== undefined ? { input } : {}) });
  assert.equal((await run(['--version'])).stdout, `fcm ${version}\n`, 'the real version, compiled in');
  assert.match((await run(['--help'])).stdout, /^Account\n.*\n  hosts /m);
  assert.equal((await run(['login', '--host', urlA, '--with-token'], a.admin)).code, 0);
  const c = await run(['create', 'laptop-vm']);
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stdout, /^VM created: laptop-vm\n/);
  assert.deepEqual(JSON.parse(readFileSync(join(cwd, '.fcm'), 'utf8')), { vm: 'laptop-vm', host: urlA });
  assert.match((await run(['ls'])).stdout, /^laptop-vm\s+running/m);
  assert.equal((await run(['destroy', '-y'])).code, 0);
  // The daemon is not in the package: it says where it runs.
  const d = await run(['daemon']);
  assert.equal(d.code, 1);
  assert.match(d.stderr, /the fcm-cli package is the client only/);
});
