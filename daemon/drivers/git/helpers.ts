/**
 * Installs the programs that connect sshd and git to the daemon. Their
 * sources are real files under ./helpers/ (typed, linted by the typecheck,
 * tested by test/unit/git-helpers.test.ts); the daemon writes them at start
 * into `<state dir>/git` (root-owned, 0755, replaced atomically):
 *
 *   bin/fcm-ssh-keys          sshd's AuthorizedKeysCommand (`%u %f`): the
 *                             authorized_keys line of a registered key, or
 *                             nothing (helpers/fcm-ssh-keys.sh)
 *   bin/fcm-git-serve.cjs     the forced command of every fcm key
 *                             (helpers/git-serve.ts)
 *   bin/fcm-pre-receive.cjs   the deploy on push (helpers/pre-receive.ts),
 *   hooks/pre-receive         run by this hook (core.hooksPath of every repository)
 *
 * The Node programs are bundled by esbuild when the daemon starts: one file
 * each, no dependencies, the socket path baked in, run by the Node binary
 * the daemon runs on. They are bundled from this module's sibling files —
 * the TypeScript sources under tsx, the compiled JavaScript in a build
 * (dist/) — so what sshd and git run always matches the daemon that
 * installed it, in dev and built installs alike. The key lookup stays a
 * shell script around curl: sshd runs it twice per connection, and curl
 * starts in a fraction of Node's time.
 *
 * All of them run as the git user (./git-user.ts) and only talk to the
 * internal socket, which only the git user (and root) can open.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, stop } from 'esbuild';
import { FINGERPRINT_HEADER, INTERNAL_ROUTES } from '../../core/git-wire.js';
import type { GitUser } from './git-user.js';
import type { HelperConfig } from './helpers/socket-client.js';

export interface HelperPaths {
  binDir: string;
  hooksDir: string;
  sshKeysCommand: string;
  forcedCommand: string;
  preReceiveProgram: string;
  preReceive: string;
}

const SAFE = /^\/[A-Za-z0-9/._-]+$/;

export function helperPaths(binDir: string, hooksDir: string): HelperPaths {
  return {
    binDir,
    hooksDir,
    sshKeysCommand: join(binDir, 'fcm-ssh-keys'),
    forcedCommand: join(binDir, 'fcm-git-serve.cjs'),
    preReceiveProgram: join(binDir, 'fcm-pre-receive.cjs'),
    preReceive: join(hooksDir, 'pre-receive'),
  };
}

/** Writes the helpers. Paths go into authorized_keys lines, shebangs and a shell script: only plain characters are allowed. */
export async function installHelpers(paths: HelperPaths, o: { socketPath: string; node: string }): Promise<void> {
  for (const p of [paths.binDir, paths.hooksDir, o.node, o.socketPath]) {
    if (!SAFE.test(p)) throw new Error(`path not usable in sshd/git helpers (only A-Z a-z 0-9 / . _ -): ${p}`);
  }
  const cfg: HelperConfig = { socketPath: o.socketPath };
  // Bundle first: a failure leaves the previous helpers in place.
  const bundles = await Promise.all([bundleHelper('git-serve', cfg), bundleHelper('pre-receive', cfg)]);
  const [gitServe, preReceive] = bundles.map((b) => `#!${o.node}\n${b}`) as [string, string];
  const sshKeys = sshKeysScript(o.socketPath);
  for (const d of [paths.binDir, paths.hooksDir]) {
    mkdirSync(d, { recursive: true, mode: 0o755 });
    chmodSync(d, 0o755);
  }
  writeAtomic(paths.sshKeysCommand, sshKeys);
  writeAtomic(paths.forcedCommand, gitServe);
  writeAtomic(paths.preReceiveProgram, preReceive);
  writeAtomic(paths.preReceive, `#!/bin/sh\n# fcm: deploy on push (see ${paths.preReceiveProgram})\nexec ${o.node} ${paths.preReceiveProgram}\n`);
}

/**
 * One helper as a single CommonJS file: `main(cfg)` of ./helpers/<entry>,
 * with everything it imports, for Node 20.
 */
export async function bundleHelper(entry: 'git-serve' | 'pre-receive', cfg: HelperConfig): Promise<string> {
  bundling++;
  try {
    return await bundleOnce(entry, cfg);
  } finally {
    // esbuild's service process is not needed once the daemon has its helpers (a later call starts another).
    if (--bundling === 0) await stop();
  }
}

let bundling = 0;

async function bundleOnce(entry: 'git-serve' | 'pre-receive', cfg: HelperConfig): Promise<string> {
  const dir = helpersDir();
  const r = await build({
    stdin: {
      contents: [
        `import { main } from './${entry}.js';`,
        `main(${JSON.stringify(cfg)}).catch((e) => {`,
        `  process.stderr.write('fcm: ' + ((e && e.message) || e) + '\\n');`,
        '  process.exit(1);',
        '});',
      ].join('\n'),
      resolveDir: dir,
      sourcefile: `fcm-${entry}.js`,
      loader: 'js',
    },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    write: false,
    logLevel: 'silent',
    legalComments: 'none',
    charset: 'utf8',
  });
  const out = r.outputFiles[0];
  if (!out) throw new Error(`bundling the git helper ${entry} produced nothing`);
  return out.text;
}

/** helpers/fcm-ssh-keys.sh with the socket path and the route filled in. */
export function sshKeysScript(socketPath: string): string {
  const text = readFileSync(sourceFile('fcm-ssh-keys.sh'), 'utf8')
    .replaceAll('@FCM_SOCKET@', socketPath)
    .replaceAll('@FINGERPRINT_HEADER@', FINGERPRINT_HEADER)
    .replaceAll('@KEYS_PATH@', INTERNAL_ROUTES.keys);
  const left = /@[A-Z_]+@/.exec(text);
  if (left) throw new Error(`fcm-ssh-keys.sh: ${left[0]} was not filled in`);
  return text;
}

function helpersDir(): string {
  return fileURLToPath(new URL('./helpers/', import.meta.url));
}

/**
 * A non-TypeScript file of ./helpers/: beside this module in dev; a build
 * (dist/) has only what tsc emits, so it is read from the source tree the
 * build was made from.
 */
function sourceFile(name: string): string {
  const beside = join(helpersDir(), name);
  if (existsSync(beside)) return beside;
  const fromDist = beside.replace(`${sep}dist${sep}daemon${sep}`, `${sep}daemon${sep}`);
  if (fromDist !== beside && existsSync(fromDist)) return fromDist;
  throw new Error(`${name} not found beside ${helpersDir()} (run the daemon from a checkout of fcm)`);
}

/**
 * Why sshd would refuse `path` as AuthorizedKeysCommand, or null: it and
 * every directory above it must be owned by root and not group- or
 * world-writable (sshd's safe_path()).
 */
export function sshdUnsafeReason(path: string): string | null {
  let p = path;
  for (;;) {
    let st;
    try {
      st = statSync(p);
    } catch {
      return `${p} does not exist`;
    }
    if (st.uid !== 0) return `${p} is not owned by root`;
    if (st.mode & 0o022) return `${p} is group- or world-writable`;
    if (p === sep) return null;
    p = dirname(p);
  }
}

/**
 * Why `u` cannot use `path` as `need` says (r, w, x, in any combination),
 * or null: every directory above it must let `u` search it, and the file
 * must grant `need` — by the owner bits if `u` owns it, else the group bits
 * if it is `u`'s group, else the others' (the git user has no
 * supplementary groups: setpriv clears them).
 */
export function gitUserBlockedReason(u: GitUser, path: string, need: string): string | null {
  const want = (need.includes('r') ? 4 : 0) | (need.includes('w') ? 2 : 0) | (need.includes('x') ? 1 : 0);
  const bits = (p: string) => {
    const st = statSync(p);
    const shift = st.uid === u.uid ? 6 : st.gid === u.gid ? 3 : 0;
    return (st.mode >> shift) & 7;
  };
  const dirs: string[] = [];
  for (let p = dirname(path); ; p = dirname(p)) {
    dirs.unshift(p);
    if (p === sep) break;
  }
  try {
    for (const d of dirs) if (!(bits(d) & 1)) return `${u.name} cannot enter ${d}`;
    if ((bits(path) & want) !== want) return `${u.name} may not ${need} ${path}`;
  } catch (e) {
    return (e as Error).message;
  }
  return null;
}

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o755 });
  chmodSync(tmp, 0o755);
  renameSync(tmp, path);
}
