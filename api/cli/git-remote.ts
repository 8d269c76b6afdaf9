/** After `fcm create` in a git repository: the remote to add (read from .git/config; nothing is changed). */
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The repository's config file above `cwd` (a `.git` directory, or a worktree's `.git` file), or null. */
function gitConfigPath(cwd: string): string | null {
  for (let dir = cwd; ; dir = dirname(dir)) {
    const dotGit = join(dir, '.git');
    try {
      const st = statSync(dotGit);
      if (st.isDirectory()) return join(dotGit, 'config');
      const m = /^gitdir: (.+)$/m.exec(readFileSync(dotGit, 'utf8'));
      if (m) {
        const gitdir = m[1]!.trim().startsWith('/') ? m[1]!.trim() : join(dir, m[1]!.trim());
        // A worktree's gitdir has a `commondir` pointing at the shared repository, whose config holds the remotes.
        let common = gitdir;
        try {
          const c = readFileSync(join(gitdir, 'commondir'), 'utf8').trim();
          common = c.startsWith('/') ? c : join(gitdir, c);
        } catch {
          /* not a worktree */
        }
        return join(common, 'config');
      }
    } catch {
      /* keep looking */
    }
    if (dirname(dir) === dir) return null;
  }
}

/** The URL of remote `name` in a git config file's text, or null. */
export function remoteUrl(config: string, name: string): string | null {
  let inSection = false;
  for (const raw of config.split('\n')) {
    const line = raw.trim();
    const section = /^\[\s*remote\s+"([^"]*)"\s*\]$/.exec(line);
    if (line.startsWith('[')) inSection = section?.[1] === name;
    else if (inSection) {
      const m = /^url\s*=\s*(.*)$/.exec(line);
      if (m) return m[1]!.trim();
    }
  }
  return null;
}

export function gitRemoteHint(cwd: string, gitUrl: string): string | null {
  const path = gitConfigPath(cwd);
  if (!path) return null;
  let current: string | null = null;
  try {
    current = remoteUrl(readFileSync(path, 'utf8'), 'fcm');
  } catch {
    return null;
  }
  if (current === gitUrl) return 'Deploy with: git push fcm main';
  const cmd = current === null ? `git remote add fcm ${gitUrl}` : `git remote set-url fcm ${gitUrl}`;
  return `To deploy this repository: ${cmd} && git push fcm main`;
}
