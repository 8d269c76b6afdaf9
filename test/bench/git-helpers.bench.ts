/**
 * The git helpers' own cost, the part of every push that is fcm's and not
 * git's or the guest's: the key lookup sshd runs twice per SSH connection
 * (a shell script around curl), the forced command once per connection and
 * the pre-receive hook once per push (bundled Node programs), each against
 * the daemon's real internal server on a Unix socket. Baselines, measured
 * in the same rounds: a bare `node -e ''` (what any Node helper pays to
 * start) and the key lookup written as a Node one-liner (what the lookup
 * would cost if it were a Node program too). Also the daemon-start cost of
 * bundling the helpers.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { helperPaths, installHelpers } from '../../daemon/drivers/git/helpers.js';
import { internalGitRig } from '../helpers/git-rig.js';
import { fmtMs, median, ratio, row } from './stats.js';

const N = Number(process.argv[process.argv.indexOf('--n') + 1] || 20) || 20;

function timed(cmd: string, args: string[], env: Record<string, string> = {}, input = ''): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } }, (err, stdout) => {
      // Refusals exit non-zero on purpose; a helper that could not run at all prints nothing anywhere.
      if (err && (err as { code?: unknown }).code === 'ENOENT') return reject(err);
      void stdout;
      resolve(performance.now() - t0);
    });
    child.stdin?.on('error', () => {});
    child.stdin?.end(input);
  });
}

const rig = await internalGitRig();
const dir = mkdtempSync(join(tmpdir(), 'fcm-bench-helpers-'));
try {
  const socketPath = join(dir, 'fcm.sock');
  await rig.app.listen({ path: socketPath });
  const paths = helperPaths(join(dir, 'bin'), join(dir, 'hooks'));
  const installMs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await installHelpers(paths, { socketPath, node: process.execPath });
    installMs.push(performance.now() - t0);
  }
  const fp = rig.w.keys.list({ userId: 'u_alice', email: null, admin: false })[0]!.fingerprint;
  const nodeLookup = `require('http').get({socketPath:${JSON.stringify(socketPath)},path:'/ssh/keys',headers:{'x-fcm-fingerprint':${JSON.stringify(fp)}}},(r)=>r.pipe(process.stdout))`;
  const z = '0'.repeat(40);
  const cases: [string, () => Promise<number>][] = [
    ['bare node start (baseline)', () => timed(process.execPath, ['-e', ''])],
    ['key lookup as a Node one-liner (baseline)', () => timed(process.execPath, ['-e', nodeLookup])],
    ['key lookup: fcm-ssh-keys (sh + curl)', () => timed(paths.sshKeysCommand, ['root', fp])],
    ['forced command: parse, ask the daemon, refused', () => timed(paths.forcedCommand, [rig.key.id], { SSH_ORIGINAL_COMMAND: "git-receive-pack 'bobs-app.git'" })],
    ['pre-receive hook: parse, refuse (no ticket)', () => timed(paths.preReceive, [], {}, `${z} ${'a'.repeat(40)} refs/heads/main\n`)],
  ];
  const results = new Map<string, number[]>(cases.map(([k]) => [k, []]));
  for (let i = 0; i < N; i++) for (const [k, fn] of cases) results.get(k)!.push(await fn());

  const m = (k: string) => median(results.get(k)!);
  const bare = m('bare node start (baseline)');
  console.log(`git helpers, median of ${N} interleaved runs each (this machine, now):`);
  for (const [k] of cases) row(k, fmtMs(m(k)), k.includes('baseline') && k.startsWith('bare') ? '' : `${ratio(m(k), bare)} a bare node start`);
  row('key lookup: curl vs the same lookup in Node', ratio(m('key lookup: fcm-ssh-keys (sh + curl)'), m('key lookup as a Node one-liner (baseline)')));
  row('installing the helpers at daemon start (bundle + write)', fmtMs(median(installMs)), `median of 5; ${ratio(median(installMs), bare)} a bare node start`);
} finally {
  await rig.close();
  rmSync(dir, { recursive: true, force: true });
}
