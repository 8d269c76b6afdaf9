import { execFile, spawn } from 'node:child_process';

export interface RunResult {
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  constructor(
    readonly cmd: string,
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`${cmd} ${args.join(' ')} failed (${exitCode ?? 'signal'}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
    this.name = 'CommandError';
  }
}

/** Runs a program with an argv array (never a shell string). */
export function run(
  cmd: string,
  args: readonly string[],
  opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024, env: opts.env ?? process.env, ...(opts.cwd ? { cwd: opts.cwd } : {}) },
      (err, stdout, stderr) => {
        if (err) {
          const code = typeof (err as NodeJS.ErrnoException).code === 'number' ? ((err as unknown as { code: number }).code) : null;
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
            reject(Object.assign(new CommandError(cmd, args, null, `${cmd}: command not found`), { notFound: true }));
          } else reject(new CommandError(cmd, args, code, String(stderr || err.message)));
        } else resolve({ stdout: String(stdout), stderr: String(stderr) });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Spawns a fully detached process (own session, no stdio tie to the daemon). */
export function spawnDetached(cmd: string, args: readonly string[], opts: { cwd?: string; stdoutFd?: number } = {}): number {
  const out = opts.stdoutFd ?? 'ignore';
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', out, out], cwd: opts.cwd });
  child.unref();
  if (child.pid === undefined) throw new Error(`could not spawn ${cmd}`);
  return child.pid;
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
