/**
 * `fcm daemon`: runs the daemon entry as a child process. The CLI never
 * imports daemon/ (dependency direction); it finds the entry next to itself:
 *   dist/api/cli/daemon.js → dist/daemon/main.js   (built)
 *   api/cli/daemon.ts      → daemon/main.ts        (source, run through tsx)
 * The child gets its own session (detached) so a terminal's Ctrl-C reaches it
 * exactly once — forwarded by us — rather than twice (process group + us),
 * which would skip the daemon's graceful shutdown.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { constants } from 'node:os';

export interface DaemonEntry {
  entry: string;
  /** Node flags needed to run it (the tsx loader for a .ts entry). */
  execArgv: string[];
}

export function daemonEntry(selfUrl: string = import.meta.url): DaemonEntry {
  const self = fileURLToPath(selfUrl);
  const ts = self.endsWith('.ts');
  const entry = join(dirname(self), '..', '..', 'daemon', ts ? 'main.ts' : 'main.js');
  if (!ts) return { entry, execArgv: [] };
  const tsx = pathToFileURL(createRequire(selfUrl).resolve('tsx')).href;
  return { entry, execArgv: ['--import', tsx] };
}

const FORWARD: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/** Runs the daemon with inherited stdio; resolves to the exit code to use (128+n when killed by signal n). */
export function runDaemon(
  args: string[],
  opts: { entry?: DaemonEntry; env?: NodeJS.ProcessEnv; stderr?: { write(s: string): unknown } } = {},
): Promise<number> {
  const { entry, execArgv } = opts.entry ?? daemonEntry();
  const stderr = opts.stderr ?? process.stderr;
  if (!existsSync(entry)) {
    stderr.write(
      `Error: the daemon is not where fcm expects it: ${entry}\n` +
        'Hint: the daemon runs on the server, from a clone of the fcm repository (npm run build there, then sudo fcm daemon);\n' +
        '      the fcm-cli package is the client only\n',
    );
    return Promise.resolve(1);
  }
  const child = spawn(process.execPath, [...execArgv, entry, ...args], { stdio: 'inherit', env: opts.env ?? process.env, detached: true });
  const forward = (sig: NodeJS.Signals) => () => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
  };
  const handlers = FORWARD.map((sig) => [sig, forward(sig)] as const);
  for (const [sig, h] of handlers) process.on(sig, h);
  return new Promise((resolve) => {
    const done = (code: number) => {
      for (const [sig, h] of handlers) process.removeListener(sig, h);
      resolve(code);
    };
    child.once('error', (e) => {
      stderr.write(`Error: could not start the daemon: ${e.message}\n`);
      done(1);
    });
    child.once('exit', (code, signal) => done(code ?? 128 + (signal ? constants.signals[signal] ?? 0 : 0)));
  });
}
