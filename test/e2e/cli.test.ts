/**
 * The built `fcm` binary against a real HTTP server (the daemon's HTTP layer
 * over in-memory services): the product README session in a temp dir, plus
 * the confirmation prompt and the create spinner under a real pty.
 * Builds dist/ in before() when a source is newer (FCM_SKIP_BUILD=1 skips that).
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { memoryApi } from '../helpers/memory-api.js';
import { ROOT } from '../helpers/memory-service.js';
import { makeTar } from '../helpers/tar.js';
import { eventually } from '../helpers/wait.js';
import { visibleLength } from '../../api/cli/io.js';
import { closedPort } from '../unit/cli/io-helpers.js';
import { ensureBuilt, fcm, fcmPty, killPtys, tempDir } from './cli-run.js';

let api: Awaited<ReturnType<typeof memoryApi>>;
let env: Record<string, string>;

before(async () => {
  ensureBuilt();
  api = await memoryApi();
  const url = await api.app.listen({ port: 0, host: '127.0.0.1' });
  env = { FCM_HOST: url.replace(/^http:\/\//, ''), FCM_TOKEN: api.admin };
});
after(async () => {
  killPtys();
  await api?.app.close();
  await api?.h.service.close();
});

test('the README session: create, ls, stop, start, destroy -y — no VM named after create', async () => {
  const dir = tempDir();
  const run = (...args: string[]) => fcm(args, { cwd: dir, env });

  const create = await run('create');
  assert.equal(create.code, 0, create.stderr);
  const m = /^VM created: ([a-z]+-[a-z]+)\nURL: (https:\/\/.+)\n$/.exec(create.stdout);
  assert.ok(m, `stdout was: ${JSON.stringify(create.stdout)}`);
  const name = m[1]!;
  assert.equal(m[2], `https://${name}.64-34-93-45.sslip.io`);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, '.fcm'), 'utf8')), { vm: name, host: `http://${env.FCM_HOST}` });

  const ls = await run('ls');
  assert.equal(ls.code, 0, ls.stderr);
  const [head, row] = ls.stdout.trimEnd().split('\n');
  assert.match(head!, /^NAME\s+STATE\s+IP\s+URL\s+AGE$/);
  assert.match(row!, new RegExp(`^${name}\\s+running\\s+172\\.16\\.0\\.\\d+\\s+https://${name}\\.64-34-93-45\\.sslip\\.io\\s+\\d+s$`));

  const stop = await run('stop');
  assert.deepEqual([stop.code, stop.stdout], [0, `Stopped ${name}.\n`], stop.stderr);
  assert.match((await run('ls')).stdout, new RegExp(`^${name}\\s+stopped`, 'm'));

  const start = await run('start');
  assert.deepEqual([start.code, start.stdout], [0, `Started ${name}: https://${name}.64-34-93-45.sslip.io\n`], start.stderr);
  assert.match((await run('ls')).stdout, new RegExp(`^${name}\\s+running`, 'm'));

  const refused = await run('destroy');
  assert.equal(refused.code, 2, 'no TTY and no --yes: usage error');
  assert.equal(refused.stdout, '');
  assert.match(refused.stderr, /pass --yes/);
  assert.ok(existsSync(join(dir, '.fcm')), 'nothing happened');

  const destroy = await run('destroy', '-y');
  assert.deepEqual([destroy.code, destroy.stdout], [0, `Destroyed ${name}.\n`], destroy.stderr);
  assert.equal(existsSync(join(dir, '.fcm')), false, '.fcm removed with its VM');
  const empty = await run('ls');
  assert.deepEqual([empty.code, empty.stdout], [0, '']);
  assert.match(empty.stderr, /No VMs yet/);
});

test('--json everywhere: stdout parses, stderr stays empty', async () => {
  const dir = tempDir();
  const run = (...args: string[]) => fcm([...args, '--json'], { cwd: dir, env });
  const c = await run('create', 'json-e2e');
  assert.deepEqual([c.code, c.stderr], [0, '']);
  assert.equal(JSON.parse(c.stdout).state, 'running');
  for (const args of [['ls'], ['show'], ['stop'], ['start'], ['health'], ['wait', '--state', 'running']]) {
    const r = await run(...args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, '', args.join(' '));
    JSON.parse(r.stdout);
  }
  assert.deepEqual(await run('destroy', '-y'), { code: 0, stdout: '', stderr: '' });
});

test('errors and exit codes from the binary', async () => {
  const dir = tempDir();
  const nf = await fcm(['show', 'no-such-vm'], { cwd: dir, env });
  assert.equal(nf.code, 1);
  assert.equal(nf.stderr, 'Error: VM not found [vm_not_found]\n  No VM named "no-such-vm".\nHint: fcm ls shows your VMs\n');
  const typo = await fcm(['lss'], { cwd: dir, env });
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /Did you mean fcm ls\?/);
  const down = await fcm(['ls'], { cwd: dir, env: { FCM_HOST: `127.0.0.1:${await closedPort()}`, FCM_TOKEN: 'x' } });
  assert.equal(down.code, 1);
  assert.match(down.stderr, /Hint: is the daemon running\? sudo fcm daemon\n$/);
  const noToken = await fcm(['ls'], { cwd: dir, env: { FCM_HOST: env.FCM_HOST! } });
  assert.equal(noToken.code, 1);
  assert.match(noToken.stderr, /^Error: Not logged in to http:\/\/127\.0\.0\.1:\d+\nHint: fcm login --host http:\/\/127\.0\.0\.1:\d+ /);
  const noVm = await fcm(['console'], { cwd: dir, env });
  assert.equal(noVm.code, 2, 'console without a VM (no .fcm here) is a usage error');
  assert.match(noVm.stderr, /which VM\?/);
});

test('--version, --help, completion and the shebang', async () => {
  const dir = tempDir();
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  assert.equal((await fcm(['--version'], { cwd: dir, env: {} })).stdout, `fcm ${pkg.version}\n`);
  const help = await fcm(['--help'], { cwd: dir, env: {} });
  assert.match(help.stdout, /^VMs\n(  .*\n)*  console \[name\]/m);
  assert.match((await fcm(['completion', 'bash'], { cwd: dir, env: {} })).stdout, /complete -F _fcm fcm/);
  const { BIN } = await import('./cli-run.js');
  assert.equal(readFileSync(BIN, 'utf8').split('\n')[0], '#!/usr/bin/env node');
});

test('fcm daemon (built) runs dist/daemon/main.js and passes its exit code on', async () => {
  const r = await fcm(['daemon'], { cwd: tempDir(), env: { FCM_PORT: 'not-a-port' } });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^fcm daemon: FCM_PORT must be an integer/);
});

test('pty: create shows a spinner with elapsed time, then exactly the two lines', async () => {
  // The boot is held until the spinner has counted past 1 s (a loaded machine can start the CLI late
  // enough that a fixed boot time is over before it draws anything): then it is let go.
  let release = () => {};
  api.h.guest.gate = new Promise<void>((r) => (release = r));
  const spinning = /([⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]).*? Waiting for pty-spin to be running… (\d+\.\d)s/g;
  try {
    const dir = tempDir();
    const t = fcmPty(['create', 'pty-spin'], { cwd: dir, env });
    let done = false;
    void t.exited.then(() => (done = true));
    for (;;) {
      const seen = [...t.output().matchAll(spinning)];
      if (done || (seen.length >= 5 && Number(seen.at(-1)![2]) >= 1)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    release();
    const { exitCode } = await t.exited;
    const out = t.output();
    assert.equal(exitCode, 0, out);
    assert.match(out, /\x1b\[\?25l/, 'cursor hidden while spinning');
    const frames = [...out.matchAll(/([⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]).*? Waiting for pty-spin to be running… (\d+\.\d)s/g)];
    assert.ok(frames.length >= 5, `spinner redrawn (${frames.length} frames)`);
    assert.ok(Number(frames.at(-1)![2]) >= 1, 'elapsed time counts up');
    assert.match(out, /\x1b\[36m[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]\x1b\[39m/, 'coloured on a TTY');
    // What remains on screen after the spinner is erased: the two lines.
    assert.match(out, /\r\x1b\[2K\x1b\[\?25hVM created: pty-spin\r\nURL: https:\/\/pty-spin\.64-34-93-45\.sslip\.io\r\n$/);
  } finally {
    release();
    api.h.guest.gate = null;
  }
});

test('pty: NO_COLOR keeps the spinner but drops colours; ls is coloured on a TTY only without NO_COLOR', async () => {
  const dir = tempDir();
  const t = fcmPty(['create', 'pty-nocolor'], { cwd: dir, env: { ...env, NO_COLOR: '1' } });
  assert.equal((await t.exited).exitCode, 0);
  assert.match(t.output(), /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] Waiting for pty-nocolor to be running… \d+\.\ds/);
  assert.doesNotMatch(t.output(), /\x1b\[[0-9;]*m/);
  const coloured = fcmPty(['ls'], { cwd: dir, env });
  await coloured.exited;
  assert.match(coloured.output(), /\x1b\[1mNAME/);
  const plain = fcmPty(['ls'], { cwd: dir, env: { ...env, NO_COLOR: '1' } });
  await plain.exited;
  assert.doesNotMatch(plain.output(), /\x1b\[/);
  assert.equal((await fcm(['destroy', '-y'], { cwd: dir, env })).code, 0);
});

test('pty: destroy asks; "n" keeps the VM (exit 1), "y" destroys it and forgets .fcm', async () => {
  const dir = tempDir();
  assert.equal((await fcm(['create', 'pty-ask'], { cwd: dir, env })).code, 0);

  const no = fcmPty(['destroy'], { cwd: dir, env });
  await no.waitFor(/Destroy pty-ask\? Its disk and everything on it will be deleted\. .*\[y\/N\]/);
  no.write('n\r');
  assert.equal((await no.exited).exitCode, 1);
  assert.match(no.output(), /Cancelled; nothing was changed\./);
  assert.ok(existsSync(join(dir, '.fcm')));

  const yes = fcmPty(['destroy'], { cwd: dir, env });
  await yes.waitFor(/\[y\/N\]/);
  yes.write('y\r');
  assert.equal((await yes.exited).exitCode, 0, yes.output());
  assert.match(yes.output(), /Destroyed pty-ask\./);
  assert.equal(existsSync(join(dir, '.fcm')), false);
});

test('pty: Ctrl-C during the wait exits 130 and restores the cursor', async () => {
  api.h.guest.never = true;
  try {
    const dir = tempDir();
    const t = fcmPty(['create', 'pty-intr'], { cwd: dir, env });
    await t.waitFor(/Waiting for pty-intr/);
    t.write('\x03');
    const { exitCode } = await t.exited;
    assert.equal(exitCode, 130, t.output());
    assert.match(t.output(), /\x1b\[\?25h[\s\S]*Interrupted\./);
    assert.equal(JSON.parse(readFileSync(join(dir, '.fcm'), 'utf8')).vm, 'pty-intr', 'the VM exists, so it is remembered');
  } finally {
    api.h.guest.never = false;
  }
  assert.equal((await fcm(['destroy', 'pty-intr', '-y'], { cwd: tempDir(), env })).code, 0);
});

test('quotas from the CLI: an admin sets a limit, the user hits it (limit, usage, hint), whoami and fcm quota show usage vs limit', async () => {
  const dir = tempDir();
  const alice = api.loginAs('alice@example.com');
  const asAlice = { ...env, FCM_TOKEN: alice.token };
  const set = await fcm(['quota', 'set', 'alice@example.com', '--vms', '1', '--memory-mib', '4096'], { cwd: dir, env });
  assert.deepEqual([set.code, set.stdout], [0, `Quota of ${alice.user.id} updated.\n`], set.stderr);
  const denied = await fcm(['quota', 'set', 'me', '--vms', '50'], { cwd: dir, env: asAlice });
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /^Error: Not allowed/m);

  const first = await fcm(['create', 'q-one', '--memory-mib', '512', '--no-wait'], { cwd: dir, env: asAlice });
  assert.equal(first.code, 0, first.stderr);
  const second = await fcm(['create', 'q-two', '--memory-mib', '512', '--no-wait'], { cwd: dir, env: asAlice });
  assert.equal(second.code, 1);
  assert.match(second.stderr, /^Error: Quota exceeded \[quota_exceeded\]\n {2}Quota vms \(VMs\): 1 VMs in use \+ 1 requested would exceed your limit of 1 VMs\.\n {2}vms: 1 in use \+ 1 requested > limit 1 VMs\nHint: fcm quota shows your limits/);

  const who = await fcm(['whoami'], { cwd: dir, env: asAlice });
  assert.equal(who.code, 0, who.stderr);
  assert.match(who.stdout, /^Email:\s+alice@example\.com$/m);
  assert.match(who.stdout, /^ {2}vms\s+1 \/ 1 {2}\(set by an admin\)$/m);
  assert.match(who.stdout, /^ {2}memoryMib\s+512 \/ 4096 MiB {2}\(set by an admin\)$/m);
  assert.match(who.stdout, /^ {2}vcpus\s+1 \/ 10$/m);
  const mine = JSON.parse((await fcm(['quota', '--json'], { cwd: dir, env: asAlice })).stdout) as { limits: { vms: number }; usage: { vms: number } };
  assert.deepEqual([mine.limits.vms, mine.usage.vms], [1, 1]);
  const adminWho = await fcm(['whoami'], { cwd: dir, env });
  assert.match(adminWho.stdout, /^Quota:\s+unlimited \(admin\)$/m);

  const reset = await fcm(['quota', 'set', alice.user.id, '--reset', 'vms,memoryMib'], { cwd: dir, env });
  assert.equal(reset.code, 0, reset.stderr);
  assert.match((await fcm(['quota', 'alice@example.com'], { cwd: dir, env })).stdout, /^ {2}vms\s+1 \/ 10$/m);
  assert.equal((await fcm(['destroy', 'q-one', '--yes'], { cwd: dir, env: asAlice })).code, 0);
});

test('custom domains from the CLI: fcm domains shows the TXT record to create; verify fails with the hint, then succeeds', async () => {
  const dir = tempDir();
  const run = (...args: string[]) => fcm(args, { cwd: dir, env });
  assert.equal((await run('create', 'dom-app', '--memory-mib', '256', '--no-wait')).code, 0);
  const upd = await run('update', 'dom-app', '--domains', 'www.example.org');
  assert.equal(upd.code, 0, upd.stderr);
  const list = await run('domains', 'dom-app');
  assert.equal(list.code, 0, list.stderr);
  const [head, row] = list.stdout.trimEnd().split('\n');
  assert.match(head!, /^DOMAIN\s+STATUS\s+TXT RECORD\s+VALUE$/);
  const m = /^www\.example\.org\s+pending\s+_fcm-challenge\.www\.example\.org\s+(fcm-\S+)$/.exec(row!);
  assert.ok(m, list.stdout);
  const fail = await run('domains', 'verify', 'www.example.org', '-a', 'dom-app');
  assert.equal(fail.code, 1);
  assert.match(fail.stderr, /^Error: Domain ownership not proven \[domain_not_verified\]\n {2}No TXT record at _fcm-challenge\.www\.example\.org\./);
  assert.match(fail.stderr, /Hint: create the TXT record fcm domains dom-app shows/);
  api.txt.records.set('_fcm-challenge.www.example.org', [m[1]!]);
  const ok = await run('domains', 'verify', 'www.example.org', '-a', 'dom-app');
  assert.deepEqual([ok.code, ok.stdout], [0, 'www.example.org is verified and routed.\n'], ok.stderr);
  assert.match((await run('domains', 'dom-app')).stdout, /^www\.example\.org\s+verified\s/m);
  assert.equal((await run('destroy', 'dom-app', '--yes')).code, 0);
});

test('the #18 CLI gaps from the binary: version, releases show, -a, combined short flags, JSON errors, show for people', async () => {
  const dir = tempDir();
  const run = (...args: string[]) => fcm(args, { cwd: dir, env: { ...env, TZ: 'UTC' } });
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  const v = await run('version');
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, new RegExp(`^fcm ${pkg.version.replace(/\./g, '\\.')}\ndaemon \\S+ at http://127\\.0\\.0\\.1:\\d+ \\(qemu\\)\\n$`));
  assert.equal(JSON.parse((await run('version', '--json')).stdout).cli, pkg.version);

  assert.equal((await run('create', 'gaps-e2e')).code, 0);
  const vm = api.h.service.get(ROOT, 'gaps-e2e');
  const r1 = await api.deploys.deploys.deploy(ROOT, vm.id, { commit: 'a'.repeat(40), ref: 'refs/heads/main' }, Readable.from([makeTar({ 'requirements.txt': '', Procfile: 'web: python3 app.py\n' })]), () => {});
  assert.equal(r1.ok, true);
  const rel = await fcm(['releases', 'show', '1'], { cwd: tempDir(), env: { ...env, TZ: 'UTC' } });
  assert.equal(rel.code, 2, 'no .fcm there and no -a: which VM?');
  const shown = await fcm(['releases', 'show', '1', '-a', 'gaps-e2e'], { cwd: tempDir(), env: { ...env, TZ: 'UTC' } });
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /^v1\nStatus: +succeeded\n[\s\S]*\nCommit: +a{40}\n[\s\S]*\nBuild log\n[\s\S]*Python/);

  const logs = await run('logs', '-n1');
  assert.equal(logs.code, 0, logs.stderr);
  assert.equal(logs.stdout.trimEnd().split('\n').length, 1, '-n1 is -n 1');

  const show = await run('show');
  assert.match(show.stdout, /^gaps-e2e {2}vm_[0-9a-f]{12}\nState: +running\n[\s\S]*\nCreated: +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+00:00 \((just now|\d+ seconds? ago)\)\n/);

  const err = await run('show', 'no-such-vm', '--json');
  assert.deepEqual([err.code, err.stdout], [1, '']);
  assert.equal(JSON.parse(err.stderr).code, 'vm_not_found');

  const stop = await run('stop', '-a', 'gaps-e2e', '--timeout-ms', '10');
  assert.deepEqual([stop.code, stop.stdout], [0, 'Stopped gaps-e2e.\n'], stop.stderr);
  assert.match(stop.stderr, /^Stopping gaps-e2e…\nDone \(\d+\.\ds\)\n$/);
  assert.equal((await run('destroy', '-ya', 'gaps-e2e')).code, 0, 'combined -y -a <app>');
  assert.equal(existsSync(join(dir, '.fcm')), false);
});

test('pty: fcm open starts $BROWSER with the URL as its one argument; ls fits a narrow terminal by display width', async () => {
  const dir = tempDir();
  assert.equal((await fcm(['create', 'pty-open'], { cwd: dir, env })).code, 0);
  const bin = tempDir();
  const argsFile = join(bin, 'args');
  // Written aside and renamed: the redirection creates the file before the loop writes, so a file
  // that exists (even one with a line in it) could still be missing an argument.
  writeFileSync(join(bin, 'browser'), `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a"; done > ${argsFile}.tmp && mv ${argsFile}.tmp ${argsFile}\n`);
  chmodSync(join(bin, 'browser'), 0o755);
  const t = fcmPty(['open'], { cwd: dir, env: { ...env, BROWSER: join(bin, 'browser') } });
  assert.equal((await t.exited).exitCode, 0, t.output());
  assert.match(t.output(), /Opened https:\/\/pty-open\.64-34-93-45\.sslip\.io/);
  await eventually('the browser ran', async () => existsSync(argsFile), Boolean, 10_000, 20);
  assert.equal(readFileSync(argsFile, 'utf8'), 'https://pty-open.64-34-93-45.sslip.io\n', 'one argument, the URL, no shell');

  const narrow = fcmPty(['ls', '--no-color'], { cwd: dir, env, cols: 50 });
  assert.equal((await narrow.exited).exitCode, 0);
  const lines = narrow.output().split('\r\n').filter(Boolean);
  assert.match(lines[0]!, /^NAME/);
  for (const l of lines) assert.ok(visibleLength(l) <= 50, `${JSON.stringify(l)} fits 50 columns`);
  assert.match(narrow.output(), /…/, 'cut cells end in an ellipsis');
  assert.equal((await fcm(['destroy', '-y'], { cwd: dir, env })).code, 0);
});
