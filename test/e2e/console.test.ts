/**
 * `fcm console` as a user runs it: the built binary under a real
 * pseudo-terminal (node-pty), inside a shell that records the terminal
 * settings before and after (`stty -g`), against the real HTTP layer with
 * the Console twin. Typing, output, resize, detach with Ctrl-], the VM
 * stopping, a stopped VM, piped input, and --web.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import type pty from 'node-pty';
import { spawnPty } from '../helpers/pty.js';
import { startConsoleApi } from '../helpers/console-api.js';
import { BIN, ensureBuilt, fcm, tempDir } from './cli-run.js';

let t: Awaited<ReturnType<typeof startConsoleApi>>;
const live = new Set<pty.IPty>();

before(async () => {
  ensureBuilt();
  t = await startConsoleApi();
});
afterEach(() => {
  for (const p of live) p.kill('SIGKILL');
  live.clear();
});
after(async () => {
  await t?.close();
});

interface Term {
  p: pty.IPty;
  out(): string;
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<number>;
  dir: string;
}

/** `fcm console <args>` inside sh, in a 120x30 pty; the shell saves `stty -g` before and after, and prints rc=. */
function consoleInPty(args: string[], env: Record<string, string> = {}): Term {
  const dir = tempDir('fcm-con-e2e-');
  const quoted = args.map((a) => `'${a}'`).join(' ');
  const script = `stty -g > before; '${process.execPath}' '${BIN}' console ${quoted}; echo "rc=$?"; stty -g > after`;
  const p = spawnPty('/bin/sh', ['-c', script], {
    cwd: dir,
    cols: 120,
    rows: 30,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, TERM: 'xterm-256color', NO_COLOR: '1', FCM_HOST: t.base, FCM_TOKEN: t.tok.alice, ...env },
  });
  live.add(p);
  let out = '';
  const waiters = new Set<() => void>();
  p.onData((d) => {
    out += d;
    for (const w of waiters) w();
  });
  const exited = new Promise<number>((r) => p.onExit((e) => (live.delete(p), r(e.exitCode))));
  return {
    p,
    dir,
    out: () => out,
    exited,
    waitFor: (re, timeoutMs = 15_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const m = out.match(re);
          if (!m) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(m);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`terminal never showed ${re}; it showed:\n${JSON.stringify(out)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
  };
}

async function sttyRestored(term: Term): Promise<void> {
  await term.exited;
  const before = readFileSync(join(term.dir, 'before'), 'utf8').trim();
  const after = readFileSync(join(term.dir, 'after'), 'utf8').trim();
  assert.ok(before.length > 10, 'stty -g recorded');
  assert.equal(after, before, 'the terminal settings are exactly as before');
}

test('type a command, read its output, resize, detach with Ctrl-]: the terminal is restored and the shell keeps its state', async () => {
  const { vm, guest } = await t.runningVm('calc');
  const term = consoleInPty(['calc']);
  await term.waitFor(/Connected to calc\. Detach with Ctrl-\]/);
  await term.waitFor(/root@calc:~# /); // the replay
  await waitUntil(() => guest.resizes.some((s) => s.cols === 120 && s.rows === 30), 'initial size sent');
  term.p.write('echo $((6*7))\r');
  await term.waitFor(/echo \$\(\(6\*7\)\)\r+\n42\r+\n# /); // (the pty adds a CR: libuv raw mode keeps ONLCR)
  // Raw mode: Ctrl-C goes to the guest instead of killing fcm.
  term.p.write('X=kept\x03');
  await term.waitFor(/\^C\r+\n# /);
  term.p.write('X=kept\r');
  term.p.resize(100, 40);
  await waitUntil(() => guest.size.cols === 100 && guest.size.rows === 40, 'SIGWINCH → resize');
  term.p.write('\x1d');
  await term.waitFor(/Detached from calc; its shell keeps running\. Back with: fcm console calc/);
  await term.waitFor(/rc=0/);
  assert.equal(await term.exited, 0);
  await sttyRestored(term);
  assert.equal(t.svc.clientCounts()[vm.id] ?? 0, 0, 'the daemon saw the client go');
  assert.doesNotMatch(guest.input.toString(), /\x1d/, 'the detach key never reaches the guest');

  // Back in: the replay shows what was there; the shell still has X.
  const again = consoleInPty(['calc']);
  await again.waitFor(/42\r+\n# /);
  again.p.write('echo $X\r');
  await again.waitFor(/\r+\nkept\r+\n# /);
  again.p.write('\x1d');
  await again.waitFor(/rc=0/);
  await sttyRestored(again);
});

test('the VM stopping while attached: a clear message, exit 1, terminal restored', async () => {
  await t.runningVm('stopme');
  const term = consoleInPty(['stopme']);
  await term.waitFor(/root@stopme:~# /);
  assert.equal((await t.api('POST', '/v1/vms/stopme/stop', t.tok.alice, { timeoutMs: 1000 })).status, 200);
  await term.waitFor(/Console closed: the VM stopped\.\r?\n.*Hint:.* start it again with: fcm start stopme/);
  await term.waitFor(/rc=1/);
  await sttyRestored(term);

  // Attaching to the stopped VM: refused before anything else happens.
  const r = await fcm(['console', 'stopme'], { cwd: tempDir(), env: { FCM_HOST: t.base, FCM_TOKEN: t.tok.alice } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^Error: stopme is not running, so it has no console\n {2}VM "stopme" is stopped; the console needs it running: start it with fcm start stopme\.\nHint: start it with: fcm start stopme\n$/);
});

test("someone else's VM, no token, a missing VM: the usual errors, nothing attached", async () => {
  await t.runningVm('alices');
  const env = (tok?: string) => ({ FCM_HOST: t.base, ...(tok ? { FCM_TOKEN: tok } : {}) });
  const bob = await fcm(['console', 'alices'], { cwd: tempDir(), env: env(t.tok.bob) });
  assert.equal(bob.code, 1);
  assert.match(bob.stderr, /^Error: VM not found \[vm_not_found\]\n {2}No VM named "alices"\.\nHint: fcm ls shows your VMs\n$/);
  const none = await fcm(['console', 'alices'], { cwd: tempDir(), env: env() });
  assert.equal(none.code, 1);
  // No credentials for this host: the CLI says so before sending anything.
  assert.match(none.stderr, /^Error: Not logged in to http:\/\/127\.0\.0\.1:\d+\nHint: fcm login --host /);
  const missing = await fcm(['console'], { cwd: tempDir(), env: env(t.tok.alice) });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /which VM\? Name it \(fcm console <name> or -a <app>\)/);
});

test('piped input (no terminal): the commands run, the output is printed, fcm leaves at end of input', async () => {
  await t.runningVm('piped');
  const dir = tempDir();
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [BIN, 'console', 'piped'], { cwd: dir, env: { PATH: process.env.PATH!, HOME: dir, FCM_HOST: t.base, FCM_TOKEN: t.tok.alice } });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stdin.end('echo piped-$((2*21))\r');
  const code = await new Promise((r) => child.on('exit', r));
  assert.equal(code, 0);
  assert.match(stdout, /\r\npiped-42\r\n/);
});

test('--web prints a one-time web console link (ticket in the fragment) and --json gives it as JSON', async () => {
  await t.runningVm('webby');
  const env = { FCM_HOST: t.base, FCM_TOKEN: t.tok.alice };
  const r = await fcm(['console', 'webby', '--web'], { cwd: tempDir(), env });
  assert.equal(r.code, 0, r.stderr);
  const url = r.stdout.trim();
  assert.match(url, new RegExp(`^${t.base.replace(/[.]/g, '\\.')}/console/webby#ticket=fct_[A-Za-z0-9_-]{32}$`));
  assert.match(r.stderr, /within 60 s \(it works once\)/);
  const j = await fcm(['console', 'webby', '--web', '--json'], { cwd: tempDir(), env });
  const body = JSON.parse(j.stdout);
  assert.match(body.url, /#ticket=fct_/);
  assert.ok(Date.parse(body.expiresAt) > Date.now());
  const bob = await fcm(['console', 'webby', '--web'], { cwd: tempDir(), env: { ...env, FCM_TOKEN: t.tok.bob } });
  assert.equal(bob.code, 1);
  assert.match(bob.stderr, /VM not found/);
});

async function waitUntil(fn: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
