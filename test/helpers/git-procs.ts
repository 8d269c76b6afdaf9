/**
 * Who runs the git push path: a proxy put in front of the daemon's internal
 * socket (the socket file is renamed, the proxy binds its path with the same
 * owner and mode) stops every helper's connection for a moment and reads
 * /proc for every process of the push that is alive then — the key lookup
 * (curl from fcm-ssh-keys, run by sshd), the forced command, the pre-receive
 * hook, git receive-pack / upload-pack / archive / http-backend — before
 * passing the connection on. Each helper is alive while it waits for the
 * daemon, and so are its parents: nothing needs to be timed.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, readdirSync, readFileSync, readlinkSync, renameSync, statSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { basename } from 'node:path';

export interface ProcInfo {
  pid: number;
  /** What it is: `key lookup`, `forced command`, `pre-receive hook`, `git <subcommand>`. */
  kind: string;
  argv: string[];
  /** Real, effective, saved and filesystem ids (/proc/<pid>/status). */
  uids: number[];
  gids: number[];
  groups: number[];
  noNewPrivs: boolean;
  capEff: bigint;
}

export interface GitProcWatch {
  /** Every process of the push path seen, by pid (one entry per process, the first sighting). */
  seen: Map<number, ProcInfo>;
  close(): Promise<void>;
}

/** Processes of the push path for the git area `gitDir` (`<state dir>/git`). */
export function gitProcesses(gitDir: string): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      if (!argv.length) continue;
      const kind = kindOf(argv, readlinkSync(`/proc/${pid}/exe`), readlinkSync(`/proc/${pid}/cwd`), gitDir);
      if (!kind) continue;
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const field = (k: string) => new RegExp(`^${k}:[ \\t]*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '';
      out.push({
        pid,
        kind,
        argv,
        uids: field('Uid').split(/\s+/).map(Number),
        gids: field('Gid').split(/\s+/).map(Number),
        groups: field('Groups').split(/\s+/).filter(Boolean).map(Number),
        noNewPrivs: field('NoNewPrivs') === '1',
        capEff: BigInt(`0x${field('CapEff') || '0'}`),
      });
    } catch {
      /* gone meanwhile, or a kernel thread */
    }
  }
  return out;
}

function kindOf(argv: string[], exe: string, cwd: string, gitDir: string): string | null {
  const mentions = argv.some((a) => a.startsWith(gitDir));
  const prog = basename(exe);
  if (prog === 'curl' && argv.some((a) => a.startsWith(`${gitDir}/`))) return 'key lookup';
  if (/^(dash|sh|bash)$/.test(prog) && argv.some((a) => a === `${gitDir}/bin/fcm-ssh-keys`)) return 'key lookup';
  if (prog.startsWith('node') && argv[1] === `${gitDir}/bin/fcm-git-serve.cjs`) return 'forced command';
  if (prog.startsWith('node') && argv[1] === `${gitDir}/bin/fcm-pre-receive.cjs`) return 'pre-receive hook';
  // git and its own helpers (git-core/git-receive-pack…): run on a repository, or in one.
  if (prog === 'git' || exe.includes('/git-core/')) {
    if (!mentions && !cwd.startsWith(`${gitDir}/`)) return null;
    const sub = prog === 'git' ? (argv.slice(1).find((a) => !a.startsWith('-')) ?? '?') : prog.replace(/^git-/, '');
    return `git ${sub.replace(/^git-/, '')}`;
  }
  return null;
}

/** Puts the proxy in front of `socketPath` (see above). `close` puts the daemon's socket back. */
export async function watchGitProcesses(socketPath: string, gitDir: string): Promise<GitProcWatch> {
  const real = `${socketPath}.watched`;
  const st = statSync(socketPath);
  // A listening socket stays bound to its inode: the daemon keeps answering at the new name.
  renameSync(socketPath, real);
  const seen = new Map<number, ProcInfo>();
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    sockets.add(client);
    client.pause();
    for (const p of gitProcesses(gitDir)) if (!seen.has(p.pid)) seen.set(p.pid, p);
    const upstream = connect(real);
    sockets.add(upstream);
    client.pipe(upstream).pipe(client);
    client.resume();
    const end = () => (client.destroy(), upstream.destroy());
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, resolve);
  });
  chownSync(socketPath, st.uid, st.gid);
  chmodSync(socketPath, st.mode & 0o777);
  return {
    seen,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      renameSync(real, socketPath);
    },
  };
}

/** Every process seen ran as `u` without capabilities (and, but for sshd's key lookup, through setpriv); each of `must` was seen. */
export function assertRanAsGitUser(seen: ProcInfo[], u: { uid: number; gid: number }, must: string[]): string {
  const kinds = new Set(seen.map((p) => p.kind));
  for (const k of must) assert.ok(kinds.has(k), `no ${k} process was seen: ${JSON.stringify(seen.map((p) => [p.kind, p.argv.join(' ')]))}`);
  for (const p of seen) {
    const what = `${p.kind} (${p.argv.join(' ')})`;
    assert.deepEqual(p.uids, [u.uid, u.uid, u.uid, u.uid], `${what} runs as uid ${p.uids.join('/')}`);
    assert.deepEqual(p.gids, [u.gid, u.gid, u.gid, u.gid], `${what} runs as gid ${p.gids.join('/')}`);
    assert.equal(p.capEff, 0n, `${what} has capabilities`);
    // sshd starts the key lookup itself (AuthorizedKeysCommandUser); everything else goes through setpriv.
    if (p.kind !== 'key lookup') {
      assert.ok(p.noNewPrivs, `${what} may gain privileges (no_new_privs is off)`);
      assert.deepEqual(p.groups, [], `${what} has supplementary groups`);
    }
  }
  return `processes seen (uid ${u.uid}): ${[...kinds].map((k) => `${k} ×${seen.filter((p) => p.kind === k).length}`).join(', ')}`;
}
