/**
 * The unprivileged system user git runs as (FCM_GIT_USER, default
 * `fcm-git`). Everything that touches a user's pushed bytes runs as it,
 * never as root: git receive-pack / upload-pack / archive, git http-backend,
 * the forced command, the pre-receive hook, and sshd's key lookup
 * (AuthorizedKeysCommandUser). It owns the repositories, may traverse the
 * state dir to reach `git/` (group, no read), and may connect to the
 * internal socket (group); nothing else of the daemon's is open to it.
 *
 * Every git process is started through setpriv (util-linux), which sets its
 * uid and gid, drops all supplementary groups and sets no_new_privs: nothing
 * it starts can gain privileges (no setuid binary, no file capabilities).
 */
import { run, CommandError } from '../proc.js';

export interface GitUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export const SETPRIV = '/usr/bin/setpriv';

/** The user from the system's user database (getent: NSS), or null when there is none. */
export async function lookupUser(name: string): Promise<GitUser | null> {
  let stdout: string;
  try {
    ({ stdout } = await run('getent', ['passwd', name]));
  } catch (e) {
    if (e instanceof CommandError && e.exitCode === 2) return null; // getent: key not found
    throw e;
  }
  const [user = '', , uid = '', gid = '', , home = ''] = stdout.trim().split('\n')[0]!.split(':');
  if (user !== name || !/^\d+$/.test(uid) || !/^\d+$/.test(gid)) throw new Error(`unexpected passwd entry for ${name}: ${stdout.trim()}`);
  return { name, uid: Number(uid), gid: Number(gid), home: home || '/nonexistent' };
}

/**
 * The git user, created when missing: a system user with its own group, no
 * home directory and no login shell. Idempotent; several daemons starting
 * at once (tests) may race to create it, so a failed useradd is followed by
 * another look before giving up.
 */
export async function ensureGitUser(name: string, onCreated: (u: GitUser) => void = () => {}): Promise<GitUser> {
  if (!/^[a-z_][a-z0-9_-]{0,30}$/.test(name)) throw new Error(`not a usable user name: ${name}`);
  let lastError: unknown = null;
  for (let attempt = 0; attempt < 30; attempt++) {
    const found = await lookupUser(name);
    if (found) return usable(found);
    try {
      await run('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', '--comment', 'fcm git pushes', name]);
      const made = await lookupUser(name);
      if (made) {
        onCreated(made);
        return usable(made);
      }
    } catch (e) {
      // 9: created meanwhile by someone else; 10: /etc/passwd is locked by a concurrent change.
      lastError = e;
      await new Promise((r) => setTimeout(r, 50 + Math.floor(Math.random() * 100)));
    }
  }
  throw new Error(`cannot create the git user ${name}: ${(lastError as Error | null)?.message ?? 'unknown'}`);
}

function usable(u: GitUser): GitUser {
  if (u.uid === 0 || u.gid === 0) throw new Error(`the git user ${u.name} must not be root (uid ${u.uid}, gid ${u.gid})`);
  return u;
}

/**
 * The argv that runs `cmd args` as `u` (setpriv; see above), or unchanged
 * when there is no git user (a daemon that is not root runs git as itself).
 */
export function asUser(u: GitUser | null, cmd: string, args: readonly string[]): { cmd: string; args: string[] } {
  if (!u) return { cmd, args: [...args] };
  return { cmd: SETPRIV, args: [...setprivArgs(u), cmd, ...args] };
}

export function setprivArgs(u: GitUser): string[] {
  return [`--reuid=${u.uid}`, `--regid=${u.gid}`, '--clear-groups', '--no-new-privs'];
}
