/**
 * Console holder: the small detached parent of one Firecracker process.
 *
 * Firecracker's serial console is its own stdin/stdout, so whoever holds
 * those pipes holds the console. The daemon must not (a daemon restart would
 * close them and take the console, or the VM, with it), so this process does:
 * started detached by the driver (own session, survives the daemon), it
 *   - listens on `--console-socket` (0600) and accepts any number of clients
 *     over time; every byte Firecracker prints goes to all connected clients,
 *     every byte a client sends goes to Firecracker's stdin (= the guest's
 *     ttyS0) — the same contract as QEMU's socket chardev (ConsoleEndpoint);
 *   - appends everything printed to `--console-log` (scrollback), before
 *     passing it on, and keeps that file under `--console-log-max` bytes
 *     (default 4 MiB): past it, the newest half is copied to a new file that
 *     replaces the log (rename), so the holder — the only writer — loses
 *     nothing and a guest flooding its serial port holds ≤ the cap on the
 *     host, with or without the daemon running;
 *   - spawns the command after `--` (firecracker, or the jailer that execs
 *     it) with stdio pipes and writes its pid to `--pidfile`;
 *   - exits when Firecracker exits, removing the console socket.
 *
 * Why pipes and a Node script rather than node-pty, socat or dtach:
 * - Firecracker only puts stdin into raw mode when it is a tty (it is not
 *   needed otherwise), and a host-side pty would add its own line discipline
 *   (ONLCR turns the guest's \r\n into \r\r\n, echo before boot) — the guest's
 *   ttyS0 already provides the terminal; pipes carry the bytes unchanged.
 * - A pty's master closing sends SIGHUP to Firecracker: a crashed holder
 *   would kill the VM. With pipes a dead holder costs the console only.
 * - socat `UNIX-LISTEN,fork` runs one command per connection (not one VM for
 *   many clients over time); dtach speaks its own framing on the socket, not
 *   raw bytes, and keeps no log. Neither writes a pidfile for the child.
 * - No native module: this runs from the daemon's own tree with plain node.
 * Slow clients never stall the VM: a client more than 1 MiB behind is dropped.
 */
import { spawn } from 'node:child_process';
import { chmodSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { CappedLog } from './capped-log.js';

const MAX_CLIENT_BACKLOG = 1024 * 1024;
const MAX_INPUT_BACKLOG = 1024 * 1024;

interface HolderArgs {
  consoleSocket: string;
  consoleLog: string;
  consoleLogMax: number;
  pidfile: string;
  command: string[];
}

const KEYS = ['console-socket', 'console-log', 'console-log-max', 'pidfile'] as const;

function parseArgs(argv: string[]): HolderArgs {
  const opts: Partial<Record<(typeof KEYS)[number], string>> = {};
  let i = 0;
  for (; i < argv.length && argv[i] !== '--'; i += 2) {
    const key = argv[i]?.replace(/^--/, '') as (typeof KEYS)[number];
    const value = argv[i + 1];
    if (!KEYS.includes(key) || value === undefined) throw new Error(`unexpected argument ${argv[i]}`);
    opts[key] = value;
  }
  const command = argv.slice(i + 1);
  const max = Number(opts['console-log-max'] ?? 4 * 1024 * 1024);
  if (!opts['console-socket'] || !opts['console-log'] || !opts.pidfile || command.length === 0 || !Number.isInteger(max) || max < 4096) {
    throw new Error('usage: console-holder --console-socket P --console-log P [--console-log-max BYTES≥4096] --pidfile P -- command [args...]');
  }
  return { consoleSocket: opts['console-socket'], consoleLog: opts['console-log'], consoleLogMax: max, pidfile: opts.pidfile, command };
}

function say(msg: string): void {
  process.stderr.write(`${new Date().toISOString()} console-holder[${process.pid}]: ${msg}\n`);
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const log = new CappedLog(args.consoleLog, args.consoleLogMax);
  const clients = new Set<Socket>();
  let child: ReturnType<typeof spawn> | null = null;

  // The daemon may be gone; nothing here may take the holder down by accident.
  for (const sig of ['SIGHUP', 'SIGINT'] as const) process.on(sig, () => {});

  try {
    unlinkSync(args.consoleSocket);
  } catch {
    /* not there */
  }
  const server = createServer((sock) => {
    clients.add(sock);
    sock.on('data', (chunk: Buffer) => {
      const stdin = child?.stdin;
      if (stdin && stdin.writableLength < MAX_INPUT_BACKLOG) stdin.write(chunk);
    });
    sock.on('error', () => {});
    sock.on('close', () => clients.delete(sock));
  });
  server.on('error', (e) => {
    say(`console socket ${args.consoleSocket}: ${e.message}`);
    if (child?.pid) child.kill('SIGKILL');
    process.exit(1);
  });

  // Listen first: once Firecracker's API socket exists, the console does too.
  server.listen(args.consoleSocket, () => {
    chmodSync(args.consoleSocket, 0o600);
    const [cmd, ...cmdArgs] = args.command as [string, ...string[]];
    // stderr is inherited: it is the holder's own stderr, the run dir's stderr.log.
    const c = spawn(cmd, cmdArgs, { stdio: ['pipe', 'pipe', 'inherit'] });
    child = c;
    c.on('error', (e) => {
      say(`cannot run ${cmd}: ${e.message}`);
      finish(127);
    });
    if (c.pid === undefined) return; // 'error' follows
    const tmp = `${args.pidfile}.tmp`;
    writeFileSync(tmp, `${c.pid}\n`, { mode: 0o600 });
    renameSync(tmp, args.pidfile);
    say(`started ${cmd} as pid ${c.pid}`);

    c.stdin?.on('error', () => {}); // EPIPE once Firecracker is gone
    c.stdout?.on('data', (chunk: Buffer) => {
      // A full disk must not stall the console or the VM (CappedLog swallows write errors).
      log.write(chunk);
      for (const s of clients) {
        if (s.writableLength > MAX_CLIENT_BACKLOG) s.destroy();
        else s.write(chunk);
      }
    });
    // 'close' (not 'exit'): stdout is drained by then, so the log is complete.
    c.on('close', (code, signal) => {
      say(`${cmd} exited (${signal ?? `code ${code}`})`);
      finish(0);
    });
  });

  // Forced stop of the whole unit: take Firecracker down with the holder.
  process.on('SIGTERM', () => {
    if (child?.pid && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    else finish(0);
  });

  let finishing = false;
  function finish(code: number): void {
    if (finishing) return;
    finishing = true;
    for (const s of clients) s.destroy();
    server.close();
    try {
      unlinkSync(args.consoleSocket);
    } catch {
      /* already gone */
    }
    log.close();
    process.exit(code);
  }
}

try {
  main();
} catch (e) {
  say(e instanceof Error ? e.message : String(e));
  process.exit(2);
}
