/** The CLI in-process against the real HTTP layer (memory services): commands, output formats, exit codes. */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { commandTable } from '../../../api/cli/commands.gen.js';
import { buildCommands } from '../../../api/cli/commands.js';
import { memoryApi } from '../../helpers/memory-api.js';
import { ROOT } from '../../helpers/memory-service.js';
import { closedPort, FakeStdin, run, tempDir, type RunOpts } from './io-helpers.js';

let api: Awaited<ReturnType<typeof memoryApi>>;
let url: string;
let env: Record<string, string>;
before(async () => {
  api = await memoryApi();
  url = await api.app.listen({ port: 0, host: '127.0.0.1' });
  env = { FCM_HOST: url.replace(/^http:\/\//, ''), FCM_TOKEN: api.admin };
});
after(async () => {
  await api.app.close();
  await api.h.service.close();
});

const fcm = (argv: string[], o: RunOpts = {}) => run(argv, { env, ...o });
// eslint-disable-next-line no-control-regex
const ESC = /\x1b\[/;

test('create prints exactly the two lines and writes .fcm; later commands default to that VM', async () => {
  const dir = tempDir();
  const c = await fcm(['create'], { cwd: dir });
  assert.equal(c.code, 0, c.stderr);
  const m = /^VM created: ([a-z]+-[a-z]+)\nURL: (https:\/\/\S+)\n$/.exec(c.stdout);
  assert.ok(m, c.stdout);
  const name = m[1]!;
  assert.equal(m[2], `https://${name}.64-34-93-45.sslip.io`);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, '.fcm'), 'utf8')), { vm: name, host: url });

  const stop = await fcm(['stop', '--timeout-ms', '10'], { cwd: dir });
  assert.equal(stop.stdout, `Stopped ${name}.\n`);
  assert.equal(api.h.service.get(ROOT, name).state, 'stopped');
  const start = await fcm(['start'], { cwd: dir });
  assert.equal(start.stdout, `Started ${name}: https://${name}.64-34-93-45.sslip.io\n`);
  assert.equal((await fcm(['show', '--json'], { cwd: dir })).stdout.includes('"state": "running"'), true);

  const d = await fcm(['destroy', '--yes'], { cwd: dir });
  assert.equal(d.code, 0, d.stderr);
  assert.equal(d.stdout, `Destroyed ${name}.\n`);
  assert.match(d.stderr, /Removed \.\/\.fcm/);
  assert.equal(existsSync(join(dir, '.fcm')), false, 'destroying the remembered VM forgets it');
});

test('.fcm supplies the host when neither --host nor FCM_HOST is set; the token is the one stored for that host', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, '.fcm'), JSON.stringify({ vm: 'nope', host: url }));
  const home = tempDir('fcm-home-');
  mkdirSync(join(home, '.config', 'fcm'), { recursive: true });
  writeFileSync(join(home, '.config', 'fcm', 'credentials.json'), JSON.stringify({ version: 1, hosts: { [url]: { token: api.admin } } }), { mode: 0o600 });
  const r = await run(['ls', '--json'], { cwd: dir, env: {}, home });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(Array.isArray(JSON.parse(r.stdout).vms));
  // FCM_TOKEN is not for a host that only the .fcm names (anyone can commit a .fcm).
  const refused = await run(['ls', '--json'], { cwd: dir, env: { FCM_TOKEN: api.admin } });
  assert.equal(refused.code, 1);
  assert.equal(refused.stdout, '', '--json: the error goes to stderr, stdout stays for results');
  const problem = JSON.parse(refused.stderr);
  assert.equal(problem.code, 'cli_error');
  assert.equal(problem.exitCode, 1);
  assert.match(problem.title, /^Not logged in to http:\/\/127\.0\.0\.1:\d+ \(the host comes from .*\.fcm\)$/);
  assert.equal(problem.detail, 'FCM_TOKEN is not sent to a host that only a .fcm file names.');
  assert.match(problem.hint, /^fcm login --host http:\/\/127\.0\.0\.1:\d+/);
  const human = await run(['ls'], { cwd: dir, env: { FCM_TOKEN: api.admin } });
  assert.match(human.stderr, /^Error: Not logged in to http:\/\/127\.0\.0\.1:\d+ \(the host comes from .*\.fcm\)\n  FCM_TOKEN is not sent to a host that only a \.fcm file names\.\nHint: fcm login --host http:\/\/127\.0\.0\.1:\d+/);
});

test('create where .fcm names another VM: it now names the new one, and says so after the output', async () => {
  const dir = tempDir();
  await fcm(['create', 'first-vm'], { cwd: dir });
  const r = await fcm(['create', 'second-vm'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /\.\/\.fcm pointed at first-vm; it now points at second-vm\n$/);
  assert.equal(JSON.parse(readFileSync(join(dir, '.fcm'), 'utf8')).vm, 'second-vm');
  await fcm(['destroy', 'first-vm', '-y'], { cwd: dir });
  await fcm(['destroy', '-y'], { cwd: dir });
});

test('destroying another VM keeps .fcm', async () => {
  const dir = tempDir();
  await fcm(['create', 'keep-me'], { cwd: dir });
  await fcm(['create', 'other-one', '--no-wait'], { cwd: tempDir() });
  assert.equal((await fcm(['destroy', 'other-one', '-y'], { cwd: dir })).code, 0);
  assert.equal(JSON.parse(readFileSync(join(dir, '.fcm'), 'utf8')).vm, 'keep-me');
  assert.equal((await fcm(['destroy', '-y'], { cwd: dir })).code, 0);
});

test('ls: a table with the x-cli columns; AGE from createdAt', async () => {
  const dir = tempDir();
  await fcm(['create', 'table-vm'], { cwd: dir });
  const vm = api.h.service.get(ROOT, 'table-vm');
  const r = await fcm(['ls'], { now: () => Date.parse(vm.createdAt) + 3 * 60_000 + 5000 });
  const [head, ...rows] = r.stdout.trimEnd().split('\n');
  assert.match(head!, /^NAME\s+STATE\s+IP\s+URL\s+AGE$/);
  const row = rows.find((l) => l.startsWith('table-vm'))!;
  assert.match(row, /^table-vm\s+running\s+172\.16\.0\.\d+\s+https:\/\/table-vm\.64-34-93-45\.sslip\.io\s+3m$/);
  assert.doesNotMatch(r.stdout, ESC, 'no colours without a TTY');
  await fcm(['destroy', '-y'], { cwd: dir });
});

test('ls with no VMs: a hint on stderr, nothing on stdout', async () => {
  const mem = await memoryApi();
  const u = await mem.app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const r = await run(['ls'], { env: { FCM_HOST: u, FCM_TOKEN: mem.admin } });
    assert.equal(r.code, 0);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /No VMs yet\. Create one with: fcm create/);
  } finally {
    await mem.app.close();
    await mem.h.service.close();
  }
});

test('--json: only the API JSON on stdout, and nothing on stderr (no progress lines)', async () => {
  const dir = tempDir();
  const r = await fcm(['create', 'json-vm', '--json'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const vm = JSON.parse(r.stdout);
  assert.equal(vm.name, 'json-vm');
  assert.equal(vm.state, 'running', 'the output is the VM after waiting');
  const ls = await fcm(['--json', 'ls']);
  assert.ok(JSON.parse(ls.stdout).vms.some((v: { name: string }) => v.name === 'json-vm'));
  const d = await fcm(['destroy', '--json', '-y'], { cwd: dir });
  assert.equal(d.stdout, '', 'a 204 has no JSON to print');
  assert.equal(d.stderr, '');
});

test('waiting without a TTY: plain progress lines on stderr, no control characters', async () => {
  api.h.guest.bootMs = 150;
  try {
    const dir = tempDir();
    const r = await fcm(['create', 'slow-vm'], { cwd: dir });
    assert.equal(r.code, 0);
    assert.equal(r.stdout, 'VM created: slow-vm\nURL: https://slow-vm.64-34-93-45.sslip.io\n');
    assert.match(r.stderr, /^Waiting for slow-vm to be running…\nslow-vm is running \(\d+\.\ds\)\n$/);
    assert.doesNotMatch(r.stderr, /[\x1b\r]/);
    await fcm(['destroy', '-y'], { cwd: dir });
  } finally {
    api.h.guest.bootMs = 0;
  }
});

test('waiting on a TTY: a spinner with elapsed time on stderr, erased at the end; stdout unchanged', async () => {
  api.h.guest.bootMs = 250;
  try {
    const dir = tempDir();
    const r = await fcm(['create', 'spin-vm'], { cwd: dir, tty: true, env: { ...env, NO_COLOR: '1' } });
    assert.equal(r.code, 0);
    assert.equal(r.stdout, 'VM created: spin-vm\nURL: https://spin-vm.64-34-93-45.sslip.io\n');
    assert.match(r.stderr, /\x1b\[\?25l/, 'hides the cursor');
    assert.match(r.stderr, /\r\x1b\[2K[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] Waiting for spin-vm to be running… \d+\.\ds/);
    assert.ok((r.stderr.match(/Waiting for/g) ?? []).length >= 2, 'redrawn while waiting');
    assert.ok(r.stderr.endsWith('\r\x1b[2K\x1b[?25h'), 'erased and the cursor is back');
    await fcm(['destroy', '-y'], { cwd: dir });
  } finally {
    api.h.guest.bootMs = 0;
  }
});

test('colours only on a TTY, and NO_COLOR turns them off', async () => {
  const dir = tempDir();
  await fcm(['create', 'color-vm'], { cwd: dir });
  assert.match((await fcm(['ls'], { tty: true })).stdout, /\x1b\[1mNAME/);
  assert.match((await fcm(['ls'], { tty: true })).stdout, /\x1b\[32mrunning\x1b\[39m/);
  assert.doesNotMatch((await fcm(['ls'], { tty: true, env: { ...env, NO_COLOR: '1' } })).stdout, ESC);
  assert.doesNotMatch((await fcm(['ls', '--no-color'], { tty: true })).stdout, ESC);
  assert.doesNotMatch((await fcm(['ls'], { tty: false })).stdout, ESC);
  assert.match((await fcm(['ls'], { tty: false, env: { ...env, FORCE_COLOR: '1' } })).stdout, ESC);
  await fcm(['destroy', '-y'], { cwd: dir });
});

test('destroy asks on a TTY: "n" changes nothing (exit 1), "y" destroys', async () => {
  const dir = tempDir();
  await fcm(['create', 'ask-vm'], { cwd: dir });
  const no = new FakeStdin(true);
  no.typeWhenAsked('n');
  const r1 = await fcm(['destroy'], { cwd: dir, stdin: no });
  assert.equal(r1.code, 1);
  assert.match(r1.stderr, /^Destroy ask-vm\? Its disk and everything on it will be deleted\. \[y\/N\] /);
  assert.match(r1.stderr, /Cancelled; nothing was changed/);
  assert.ok(existsSync(join(dir, '.fcm')));
  const yes = new FakeStdin(true);
  yes.typeWhenAsked('y');
  const r2 = await fcm(['destroy'], { cwd: dir, stdin: yes });
  assert.equal(r2.code, 0, r2.stderr);
  assert.equal(r2.stdout, 'Destroyed ask-vm.\n');
  assert.equal(existsSync(join(dir, '.fcm')), false);
});

test('destroy without a TTY and without --yes: usage error, exit 2, nothing destroyed', async () => {
  const dir = tempDir();
  await fcm(['create', 'no-tty-vm'], { cwd: dir });
  const r = await fcm(['destroy'], { cwd: dir });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no terminal to ask on: pass --yes/);
  assert.equal(api.h.service.get(ROOT, 'no-tty-vm').name, 'no-tty-vm');
  assert.equal((await fcm(['destroy', '-y'], { cwd: dir })).code, 0);
});

test('errors: title, detail and a hint; exit 1', async () => {
  const notFound = await fcm(['show', 'nope']);
  assert.equal(notFound.code, 1);
  assert.equal(notFound.stdout, '');
  assert.equal(notFound.stderr, 'Error: VM not found [vm_not_found]\n  No VM named "nope".\nHint: fcm ls shows your VMs\n');

  const dir = tempDir();
  writeFileSync(join(dir, '.fcm'), JSON.stringify({ vm: 'gone-vm' }));
  assert.match((await fcm(['stop'], { cwd: dir })).stderr, /Hint: fcm ls shows your VMs \(the name "gone-vm" came from \.\/\.fcm; delete that file if the VM is gone\)/);

  await fcm(['create', 'taken-vm', '--no-wait'], { cwd: tempDir() });
  const taken = await fcm(['create', 'taken-vm'], { cwd: tempDir() });
  assert.equal(taken.code, 1);
  assert.match(taken.stderr, /^Error: Name already taken \[name_taken\]\n  A VM named "taken-vm" already exists\.\nHint: pick another name/);
  await fcm(['destroy', 'taken-vm', '-y']);
});

test('validation_failed lists each field error, named as the flag or argument', async () => {
  const r = await fcm(['create', 'Bad_Name', '--image', 'NOT VALID']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^Error: Invalid request \[validation_failed\]\n/);
  assert.match(r.stderr, /^  <name>: must match pattern/m);
  assert.match(r.stderr, /^  --image: must match pattern/m);
  assert.match(r.stderr, /Hint: fcm create --help shows the flags and their limits\n$/);
});

test('401: "run fcm login", naming where the token came from', async () => {
  const bad = await run(['ls'], { env: { FCM_HOST: url, FCM_TOKEN: 'fcm_wrong' } });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^Error: Authentication required \[unauthorized\]\n/);
  assert.match(bad.stderr, /Hint: the token from FCM_TOKEN was not accepted: run fcm login\n$/);
  const none = await run(['ls'], { env: { FCM_HOST: url } });
  assert.equal(none.code, 1);
  assert.equal(none.stderr, `Error: Not logged in to ${url}\nHint: fcm login --host ${url}   (or set FCM_TOKEN with --host/FCM_HOST for a token you have)\n`);
});

test('~/.fcm-token is used; a world-readable one works but warns on stderr', async () => {
  const home = tempDir();
  writeFileSync(join(home, '.fcm-token'), `${api.admin}\n`);
  chmodSync(join(home, '.fcm-token'), 0o644);
  const r = await run(['ls', '--json'], { env: { FCM_HOST: url }, home });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^Warning: ~\/\.fcm-token can be read by other users \(mode 644\); run: chmod 600 ~\/\.fcm-token\n$/);
  JSON.parse(r.stdout);
  chmodSync(join(home, '.fcm-token'), 0o600);
  assert.equal((await run(['ls', '--json'], { env: { FCM_HOST: url }, home })).stderr, '');
  // health needs no auth: the token is not even read.
  chmodSync(join(home, '.fcm-token'), 0o644);
  assert.equal((await run(['health'], { env: { FCM_HOST: url }, home })).stderr, '');
});

test('connection refused: "is the daemon running?" and where the host came from', async () => {
  const r = await run(['ls'], { env: { FCM_HOST: `127.0.0.1:${await closedPort()}`, FCM_TOKEN: 'fcm_x' } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^Error: Cannot reach the fcm daemon at http:\/\/127\.0\.0\.1:\d+ \[unreachable\]\n  connect ECONNREFUSED 127\.0\.0\.1:\d+\n  \(host from FCM_HOST\)\nHint: is the daemon running\? sudo fcm daemon\n$/);
});

test('usage errors exit 2 with a suggestion: unknown command, unknown flag, bad value, missing VM', async () => {
  const cmd = await fcm(['lss']);
  assert.equal(cmd.code, 2);
  assert.equal(cmd.stderr, 'Error: unknown command "lss"\nDid you mean fcm ls?\nHint: fcm --help lists the commands\n');
  const flag = await fcm(['stop', 'x', '--forse']);
  assert.equal(flag.code, 2);
  assert.equal(flag.stderr, 'Error: unknown flag --forse\nDid you mean --force?\nHint: fcm stop --help shows how to use it\n');
  assert.equal((await fcm(['create', '--memory-mib', 'lots'])).code, 2);
  assert.equal((await fcm(['ls', 'extra'])).code, 2);
  const noVm = await fcm(['stop'], { cwd: tempDir() });
  assert.equal(noVm.code, 2);
  assert.match(noVm.stderr, /which VM\? Name it \(fcm stop <name> or -a <app>\), or run this where fcm create wrote a \.fcm file/);
  assert.equal((await fcm(['ls', '--host', 'ftp://x'])).code, 2);
});

test('no stand-ins are left; fcm run without a command is a usage error that says how', async () => {
  assert.deepEqual(buildCommands(commandTable).filter((c) => c.placeholder).map((c) => c.name), []);
  const r = await fcm(['run', '-a', 'cosmic-nova']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /nothing to run: fcm run -- <command> \[args\.\.\.\]/);
  const t = await fcm(['run', '-a', 'cosmic-nova', '--timeout', '25h', '--', 'true']);
  assert.equal(t.code, 2, t.stderr);
  assert.match(t.stderr, /--timeout must be a duration from 1s to 24h/);
  const long = await fcm(['run', '-a', 'cosmic-nova', '--', 'echo', 'x'.repeat(9000)]);
  assert.equal(long.code, 2, long.stderr);
  assert.match(long.stderr, /at most 8192/);
});

test('--version, and help: top-level grouped, every command with usage and examples', async () => {
  assert.equal((await fcm(['--version'])).stdout, 'fcm 9.9.9\n');
  assert.equal((await fcm(['--version', '--json'])).stdout, '{"version":"9.9.9"}\n');
  const top = await fcm(['--help']);
  assert.equal(top.code, 0);
  assert.equal((await fcm([])).stdout, top.stdout);
  const sections = [...top.stdout.matchAll(/^(\S.*)$/gm)].map((m) => m[1]);
  assert.deepEqual(sections.filter((s) => ['VMs', 'Account', 'Server', 'Shell'].includes(s!)), ['VMs', 'Account', 'Server', 'Shell']);
  for (const c of buildCommands(commandTable).filter((c) => !c.hidden)) {
    assert.match(top.stdout, new RegExp(`^  ${c.name}\\b`, 'm'), `top help lists ${c.name}`);
    const h = await fcm([c.name, '--help']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, new RegExp(`^Usage: fcm ${c.name}`, 'm'));
    if (!c.placeholder) assert.match(h.stdout, /^Examples\n  .*\bfcm /m, `${c.name} --help has examples`);
    for (const f of c.flags) assert.ok(h.stdout.includes(`--${f.long}`) || h.stdout.includes(`--[no-]${f.long}`), `${c.name} --help shows --${f.long}`);
  }
  assert.equal((await fcm(['help', 'stop'])).stdout, (await fcm(['stop', '-h'])).stdout);
  assert.match((await fcm(['stop', '--help'])).stdout, /--timeout-ms <int>\s+How long to wait .* \(0–600000, default 10000\)/);
  assert.match((await fcm(['stop', '--help'])).stdout, /--\[no-\]force\s+Skip the graceful shutdown/);
});

test('show for people: local times with ages, sizes in words; --json stays the API object', async () => {
  const dir = tempDir();
  assert.equal((await fcm(['create', 'showy', '--vcpus', '2'], { cwd: dir })).code, 0);
  const s = await fcm(['show'], { cwd: dir, env: { ...env, TZ: 'Asia/Tokyo' } });
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /^showy {2}vm_[0-9a-f]{12}\nState: +running\nURL: +https:\/\/showy\.64-34-93-45\.sslip\.io\n/);
  assert.match(s.stdout, /\nSize: +2 vCPUs, 1 GiB memory, 2 GiB disk, 512 MiB swap\n/);
  assert.match(s.stdout, /\nCreated: +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+09:00 \((just now|\d+ seconds? ago)\)\n/);
  const j = JSON.parse((await fcm(['show', 'showy', '--json'])).stdout);
  assert.equal(j.vcpus, 2);
  assert.match(j.createdAt, /Z$/);
  await fcm(['destroy', '-y'], { cwd: dir });
});

test('-a/--app names the VM in every VM command; a positional too; two different names are refused', async () => {
  assert.equal((await fcm(['create', 'appflag'])).code, 0);
  const stop = await fcm(['stop', '-a', 'appflag', '--timeout-ms', '10']);
  assert.equal(stop.stdout, 'Stopped appflag.\n', stop.stderr);
  assert.match(stop.stderr, /^Stopping appflag…\nDone \(\d+\.\ds\)\n$/, 'progress on stderr while the stop runs');
  assert.equal((await fcm(['start', '--app=appflag'])).code, 0);
  assert.equal((await fcm(['show', 'appflag', '-a', 'appflag'])).code, 0, 'the same name twice is fine');
  const two = await fcm(['show', 'appflag', '-a', 'other']);
  assert.equal(two.code, 2);
  assert.match(two.stderr, /two apps named: "appflag" and --app other; give one/);
  const resized = await fcm(['update', '-a', 'appflag', '--memory-mib', '2048']);
  assert.equal(resized.code, 0, resized.stderr);
  assert.match(resized.stderr, /^Updating appflag…\nDone \(\d+\.\ds\)\nWaiting for appflag to be running…\nappflag is running \(\d+\.\ds\)\n$/, 'a resize restarts the VM: fcm waits for it');
  assert.equal(api.h.service.get(ROOT, 'appflag').memoryMib, 2048);
  await fcm(['stop', 'appflag', '--timeout-ms', '10']);
  const stopped = await fcm(['update', '-a', 'appflag', '--memory-mib', '1024']);
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.doesNotMatch(stopped.stderr, /Waiting/, 'a stopped VM stays stopped: nothing to wait for');
  assert.equal((await fcm(['destroy', '-a', 'appflag', '-y'])).code, 0);
});

test('--json errors: one JSON object on stderr with the stable code, nothing on stdout', async () => {
  const nf = await fcm(['show', 'nope', '--json']);
  assert.deepEqual([nf.code, nf.stdout], [1, '']);
  const problem = JSON.parse(nf.stderr);
  assert.match(problem.requestId, /^req_[0-9a-f]+$/);
  delete problem.requestId;
  assert.deepEqual(problem, { code: 'vm_not_found', title: 'VM not found', status: 404, detail: 'No VM named "nope".', hint: 'fcm ls shows your VMs', exitCode: 1 });
  const bad = await fcm(['--json', 'create', '--memory-mib', '64']);
  assert.equal(bad.code, 2);
  assert.deepEqual(JSON.parse(bad.stderr), { code: 'usage_error', title: '--memory-mib must be between 128 and 16384, not 64', hint: 'fcm create --help shows how to use it', exitCode: 2 });
  const typo = await fcm(['lss', '--json']);
  assert.equal(JSON.parse(typo.stderr).suggestion, 'fcm ls');
  const invalid = await fcm(['create', 'Bad_Name', '--json']);
  const p = JSON.parse(invalid.stderr);
  assert.equal(p.code, 'validation_failed');
  assert.equal(p.errors[0].flag, '<name>');
});

test('fcm version: the CLI and the daemon; an unreachable daemon is reported, exit 0', async () => {
  const r = await fcm(['version']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^fcm 9\\.9\\.9\\ndaemon test at ${url.replace(/\./g, '\\.')} \\((qemu|firecracker)\\)\\n$`));
  const j = JSON.parse((await fcm(['version', '--json'])).stdout);
  assert.equal(j.cli, '9.9.9');
  assert.equal(j.daemon.url, url);
  const down = await run(['version', '--json'], { env: { FCM_HOST: `127.0.0.1:${await closedPort()}` } });
  assert.equal(down.code, 0);
  const d = JSON.parse(down.stdout);
  assert.deepEqual([d.cli, d.daemon, d.daemonError.code], ['9.9.9', null, 'unreachable']);
  const human = await run(['version'], { env: { FCM_HOST: `127.0.0.1:${await closedPort()}` } });
  assert.match(human.stdout, /^fcm 9\.9\.9\ndaemon at http:\/\/127\.0\.0\.1:\d+: not reachable \(unreachable: /);
});

test('fcm open: prints the URL when stdout is not a terminal; --json says whether it opened', async () => {
  assert.equal((await fcm(['create', 'opener'])).code, 0);
  const r = await fcm(['open', '-a', 'opener']);
  assert.deepEqual([r.code, r.stdout], [0, 'https://opener.64-34-93-45.sslip.io\n']);
  assert.deepEqual(JSON.parse((await fcm(['open', 'opener', '--json'])).stdout), { name: 'opener', url: 'https://opener.64-34-93-45.sslip.io', opened: false });
  // On a terminal without any opener: the URL, and why it was not opened.
  const tty = await fcm(['open', 'opener'], { tty: true, env: { ...env, PATH: '/nonexistent', DISPLAY: '' } });
  assert.equal(tty.stdout, 'https://opener.64-34-93-45.sslip.io\n');
  assert.match(tty.stderr, /No browser to open it with/);
  await fcm(['destroy', 'opener', '-y']);
});
