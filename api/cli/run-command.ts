/**
 * `fcm run [-a app] [--timeout 10m] -- <command> [args...]`: a one-off
 * command in the VM, over the daemon's run WebSocket (openapi.yaml
 * `runCommand`), the way `heroku run` or `dokku run` feel:
 *
 * - stdin is piped through (its end reaches the command as end of file),
 *   stdout and stderr come back on the matching streams, byte for byte;
 * - fcm exits with the command's exit code (128 + n when signal n ended it,
 *   124 when its --timeout passed, like coreutils `timeout`);
 * - Ctrl-C (or SIGTERM) closes the connection, which kills the command in
 *   the VM (SIGHUP, then SIGKILL); fcm exits 130;
 * - no terminal is allocated (no --tty): for an interactive program use
 *   `fcm console`.
 */
import { constants } from 'node:os';
import WebSocket from 'ws';
import { trustedCas } from '../ca-fetch.js';
import { refusedUpgrade, unreachable } from '../errors.js';
import { APP_FLAG, appName } from './app.js';
import type { Command } from './command.js';
import type { Ctx } from './context.js';
import { UsageError, type Parsed } from './parse.js';
import { CliError, EXIT } from './render-error.js';

/** The daemon's bound (core/run-service.ts MAX_ARGV_BYTES): checked here too, to say it before connecting. */
const MAX_ARGV_BYTES = 8192;
const MAX_TIMEOUT_S = 24 * 3600;
const DEFAULT_TIMEOUT = '1h';
/** Stdin queued on the WebSocket beyond this: stop reading stdin until it drains. */
const HIGH_WATER = 1024 * 1024;
const EXIT_TIMEOUT = 124;

export function runCommand(): Command {
  return {
    name: 'run',
    group: 'vms',
    summary: "Run a one-off command in the app's VM; its exit code becomes fcm's",
    description:
      'Runs the command as the app user in the live release, with the app\'s config vars and PORT,\n' +
      'like its web process. Put the command after -- (everything after it is the command\'s own);\n' +
      'there is no shell unless you ask for one: fcm run -- sh -c \'...\'. Stdin is piped through,\n' +
      'stdout and stderr come back separately, and fcm exits with the command\'s exit code\n' +
      '(128+N when signal N ended it, 124 when --timeout passed). Ctrl-C stops the command.\n' +
      'A sleeping VM is woken first. No terminal is allocated: for interactive programs use fcm console.',
    args: [{ name: 'command', description: 'The program and its arguments, after --', optional: false, variadic: true }],
    flags: [
      APP_FLAG,
      { long: 'timeout', type: 'string', valueName: 'duration', description: `Stop the command after this long: 90s, 10m, 2h (default ${DEFAULT_TIMEOUT}, at most 24h)` },
    ],
    examples: [
      'fcm run -- python3 manage.py migrate',
      "fcm run -a cosmic-nova -- sh -c 'echo $DATABASE_URL'",
      'fcm run --timeout 10m -- ./scripts/backfill.sh',
      'printf "a\\nb\\n" | fcm run -- wc -l',
      "fcm run -- sh -c 'exit 7'; echo $?     # 7",
    ],
    flagsFirst: true,
    run: runOneOff,
  };
}

/** `90`, `90s`, `10m`, `2h`, `1h30m` → seconds; a usage error otherwise. */
export function parseDuration(raw: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?$/.exec(raw.trim());
  const secs = m && raw.trim() !== '' ? Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0) : NaN;
  if (!Number.isFinite(secs) || secs < 1 || secs > MAX_TIMEOUT_S) {
    throw new UsageError(`--timeout must be a duration from 1s to 24h, like 90s, 10m or 2h (got "${raw}")`);
  }
  return secs;
}

/** The exit code fcm passes on for the command's end. */
export function exitCodeOf(exit: { code: number | null; signal: string | null; timedOut: boolean }): number {
  if (exit.timedOut) return EXIT_TIMEOUT;
  if (exit.code !== null) return exit.code;
  const n = (constants.signals as Record<string, number>)[`SIG${exit.signal}`];
  return 128 + (n ?? 0);
}

async function runOneOff(ctx: Ctx, parsed: Parsed): Promise<number> {
  ctx.errCtx.command = 'run';
  const name = appName(ctx, parsed, undefined, 'fcm run -a <app> -- <command>');
  const argv = parsed.positionals;
  if (!argv.length || argv[0] === '') throw new UsageError('nothing to run: fcm run -- <command> [args...]');
  const bytes = argv.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0);
  if (bytes > MAX_ARGV_BYTES) throw new UsageError(`the command is ${bytes} bytes long; at most ${MAX_ARGV_BYTES}: put a longer script in the app and run that`);
  const timeoutRaw = typeof parsed.flags.timeout === 'string' ? parsed.flags.timeout : DEFAULT_TIMEOUT;
  const timeoutSec = parseDuration(timeoutRaw);

  const base = ctx.host().url.replace(/\/+$/, '');
  const token = ctx.requireToken();
  const ca = ctx.ca();
  const url = new URL(`${base}/v1/vms/${encodeURIComponent(name)}/run`);
  for (const a of argv) url.searchParams.append('argv', a);
  url.searchParams.set('timeout', String(timeoutSec));
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';

  const stdin = ctx.io.stdin as NodeJS.ReadableStream & { isTTY?: boolean; destroy?(): void };
  const stdout = ctx.io.stdout as unknown as NodeJS.WritableStream;
  const stderr = ctx.io.stderr as unknown as NodeJS.WritableStream;
  const signal = ctx.io.signal;

  return new Promise<number>((resolve, reject) => {
    let settled = false;
    let exited = false;
    const ws = new WebSocket(url, {
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'user-agent': `fcm-cli/${ctx.version}` },
      // Waking a sleeping VM happens before the upgrade answers.
      handshakeTimeout: 300_000,
      perMessageDeflate: false,
      maxPayload: 2 * 1024 * 1024,
      ...(ca && url.protocol === 'wss:' ? { ca: trustedCas(ca.pem) } : {}),
    });
    const cleanup = () => {
      signal?.removeEventListener('abort', onAbort);
      stdin.removeListener('data', onStdin);
      stdin.removeListener('end', onStdinEnd);
      stdin.pause();
      // A terminal's read would keep fcm alive after the command ended.
      if (stdin.isTTY) stdin.destroy?.();
    };
    const done = (code: number) => {
      if (settled) return;
      settled = true;
      cleanup();
      resolve(code);
    };
    const fail = (e: unknown) => {
      if (settled) return;
      settled = true;
      cleanup();
      ws.removeAllListeners();
      ws.on('error', () => {});
      ws.terminate();
      reject(e);
    };
    const onAbort = () => {
      ws.terminate(); // the daemon closes the agent's connection: the command is killed
      if (!settled) stderr.write('\nfcm: interrupted; the command was stopped.\n');
      done(EXIT.interrupted);
    };
    const onStdin = (d: Buffer | string) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      ws.send(typeof d === 'string' ? Buffer.from(d) : d, { binary: true }, () => {
        if (ws.bufferedAmount < HIGH_WATER / 2) stdin.resume();
      });
      if (ws.bufferedAmount >= HIGH_WATER) stdin.pause();
    };
    const onStdinEnd = () => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'eof' }), { binary: false });
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });

    // The daemon's detail says what is wrong and how to fix it ("... is stopped; ... start it with fcm start <name>").
    ws.once('unexpected-response', (_req, res) => refusedUpgrade(res, base, fail));
    ws.on('error', (e) => fail(unreachable(base, e)));
    ws.once('open', () => {
      stdin.on('data', onStdin);
      stdin.once('end', onStdinEnd);
      stdin.resume();
    });
    ws.on('message', (data, isBinary) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      if (isBinary) {
        const out = buf[0] === 2 ? stderr : stdout;
        if (!out.write(buf.subarray(1))) {
          // Backpressure: stop reading the WebSocket until the local stream drains (the command blocks in the VM).
          ws.pause();
          out.once('drain', () => ws.resume());
        }
        return;
      }
      let msg: { type?: string; code?: number | null; signal?: string | null; timedOut?: boolean; message?: string } = {};
      try {
        msg = JSON.parse(buf.toString('utf8'));
      } catch {
        return;
      }
      if (msg.type === 'exit') {
        const exit = { code: msg.code ?? null, signal: msg.signal ?? null, timedOut: msg.timedOut === true };
        if (exit.timedOut) stderr.write(`fcm: the command was stopped after --timeout ${timeoutRaw}\n`);
        exited = true;
        flushThen(stdout, stderr, () => done(exitCodeOf(exit)));
      } else if (msg.type === 'error') {
        fail(new CliError(`the command in ${name} broke off`, { detail: msg.message ?? 'unknown error' }));
      }
    });
    ws.on('close', (code, reason) => {
      if (!settled && !exited) setImmediate(() => fail(new CliError(`lost the connection to ${name} before the command ended`, { detail: `WebSocket closed (${code} ${reason.toString()})`, hint: 'the command was stopped in the VM; run it again' })));
    });
  });
}

/** Resolves after what was written to both streams is handed to the OS (a pipe reader gets everything). */
function flushThen(a: NodeJS.WritableStream, b: NodeJS.WritableStream, fn: () => void): void {
  let left = 2;
  const one = () => --left === 0 && fn();
  for (const s of [a, b]) {
    if (typeof (s as { write: (c: string, cb: () => void) => boolean }).write === 'function') s.write('', one);
    else one();
  }
}
