/**
 * Running the built `fcm` binary in e2e tests: `ensureBuilt()` runs
 * `npm run build` when a source is newer than dist/api/cli/main.js or the
 * packages in dist/pkg (under a
 * lock, so test files running in parallel build once); `fcm()` runs it as a
 * subprocess; `fcmPty()` runs it under a real pseudo-terminal.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnPty } from '../helpers/pty.js';
import { tempDir } from '../unit/cli/io-helpers.js';

export const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..');
export const BIN = join(ROOT, 'dist', 'api', 'cli', 'main.js');
const LOCK = '/tmp/fcm-build.lock';

function newestSource(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (/\.(ts|cjs)$/.test(e.name) && !e.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

function isStale(): boolean {
  // dist/pkg (the installable packages) comes from the same `npm run build`: a dist built with tsc alone
  // (host-setup.sh does that) is stale, and so is one whose packages are older than a source, even when
  // dist/api is newer (a tsc-only rebuild after a pull would otherwise leave old packages for the tests).
  const pkg = join(ROOT, 'dist', 'pkg');
  if (!existsSync(BIN) || !existsSync(pkg)) return true;
  const tarballs = readdirSync(pkg).filter((f) => f.endsWith('.tgz')).map((f) => statSync(join(pkg, f)).mtimeMs);
  if (tarballs.length === 0) return true;
  const built = Math.min(statSync(BIN).mtimeMs, ...tarballs);
  const inputs = Math.max(
    newestSource(join(ROOT, 'api')),
    newestSource(join(ROOT, 'daemon')),
    newestSource(join(ROOT, 'provider')),
    newestSource(join(ROOT, 'packaging')),
    ...['package.json', 'tsconfig.json', 'tsconfig.build.json'].map((f) => statSync(join(ROOT, f)).mtimeMs),
  );
  return inputs > built;
}

/** Builds if needed; FCM_SKIP_BUILD=1 uses dist/ as it is (the test runner or CI built it). */
export function ensureBuilt(): void {
  if (process.env.FCM_SKIP_BUILD === '1') {
    if (!existsSync(BIN)) throw new Error(`FCM_SKIP_BUILD=1 but ${BIN} does not exist: run npm run build`);
    return;
  }
  // Check again inside the lock: another test file may have just built.
  const r = spawnSync('flock', [LOCK, process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), '--build-if-stale'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (r.status !== 0) throw new Error(`npm run build failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
}

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

export { tempDir };

/** A clean environment: only what is passed, plus PATH and a private HOME (no stray ~/.fcm-token). */
function cleanEnv(env: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tempDir('fcm-home-'), ...env };
}

/**
 * Runs `node dist/api/cli/main.js ...args` without a TTY (stdin is /dev/null, or `input`). Async: the
 * API may live in this process. `argv0` runs another fcm instead (an installed one: [path to its bin]).
 */
export function fcm(args: string[], opts: { cwd: string; env: Record<string, string>; timeoutMs?: number; input?: string; argv0?: string[] }): Promise<Result> {
  return new Promise((resolve, reject) => {
    const [cmd, ...pre] = opts.argv0 ?? [process.execPath, BIN];
    const child = spawn(cmd!, [...pre, ...args], { cwd: opts.cwd, env: cleanEnv(opts.env), stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface PtyRun {
  /** Everything the terminal showed so far (stdout and stderr together, as on a screen). */
  output(): string;
  /** Resolves once the output matches. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
  write(s: string): void;
  /** The exit, once the terminal's output is complete (output() then has all of it). */
  exited: Promise<{ exitCode: number; signal?: number }>;
  kill(): void;
}

const live = new Set<{ kill(): void }>();

/** Kills every pty process a test left running (a failed waitFor), so the test file can end. */
export function killPtys(): void {
  for (const p of live) p.kill();
  live.clear();
}

export function fcmPty(args: string[], opts: { cwd: string; env: Record<string, string>; cols?: number }): PtyRun {
  // spawnPty: `exited` comes after the terminal's last output (node-pty alone cuts it 200 ms after the exit).
  const p = spawnPty(process.execPath, [BIN, ...args], { cwd: opts.cwd, env: cleanEnv({ TERM: 'xterm-256color', ...opts.env }), cols: opts.cols ?? 120, rows: 30 });
  let out = '';
  const waiters: (() => void)[] = [];
  p.onData((d) => {
    out += d;
    for (const w of waiters) w();
  });
  const handle = { kill: () => p.kill('SIGKILL') };
  live.add(handle);
  const exited = new Promise<{ exitCode: number; signal?: number }>((r) =>
    p.onExit((e) => {
      live.delete(handle);
      r(e);
    }),
  );
  return {
    output: () => out,
    write: (s) => p.write(s),
    kill: handle.kill,
    exited,
    waitFor: (re, timeoutMs = 20_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (re.test(out)) {
            clearTimeout(t);
            resolve();
          }
        };
        const t = setTimeout(() => {
          handle.kill();
          reject(new Error(`terminal never showed ${re}; it showed:\n${JSON.stringify(out)}`));
        }, timeoutMs);
        waiters.push(check);
        check();
      }),
  };
}

if (process.argv.includes('--build-if-stale') && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (isStale()) {
    const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
    process.exit(r.status ?? 1);
  }
}
