import { chownSync, chmodSync, mkdirSync, realpathSync } from 'node:fs';
import { lchown, lstat, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { GitHost } from '../../core/ports/git-host.js';
import { run } from '../proc.js';
import { asUser, type GitUser } from './git-user.js';

export interface BareReposOptions {
  /** Where the repositories live (`<state dir>/git/repos`). */
  dir: string;
  /** core.hooksPath of every repository: fcm's pre-receive hook lives there, not in each repo. */
  hooksDir: string;
  /** receive.maxInputSize: a push larger than this is refused by git itself. */
  maxPushBytes: number;
  /** Who owns the repositories and runs git on them (null: the daemon's own user, when it is not root). */
  user: GitUser | null;
}

const ID = /^vm_[0-9a-f]{12}$/;

/**
 * One bare repository per VM, `<dir>/<vm id>.git` (keyed by id: a VM
 * deleted and created again under the same name starts empty). Created on
 * the first push or fetch; all git runs with argv, never a shell, and as
 * the git user, who owns `<dir>` and everything in it (0700).
 */
export class BareRepos implements GitHost {
  readonly dir: string;
  readonly user: GitUser | null;

  constructor(private readonly o: BareReposOptions) {
    mkdirSync(o.dir, { recursive: true, mode: 0o700 });
    chmodSync(o.dir, 0o700);
    if (o.user) chownSync(o.dir, o.user.uid, o.user.gid);
    // The pre-receive hook reports where it runs (its cwd, symlinks resolved); compare like with like.
    this.dir = realpathSync(o.dir);
    this.user = o.user;
  }

  /**
   * Hands repositories not owned by the git user to it (those of a daemon
   * that ran git as root, before #13). git refuses to work in a repository
   * another user owns, so this runs before the doors open. Returns how many
   * repositories changed hands.
   */
  async adopt(): Promise<number> {
    const u = this.o.user;
    if (!u) return 0;
    let n = 0;
    for (const name of await readdir(this.dir)) {
      const p = join(this.dir, name);
      const st = await lstat(p);
      if (st.uid === u.uid && st.gid === u.gid) continue;
      await chownTree(p, u);
      n++;
    }
    return n;
  }

  path(vmId: string): string {
    if (!ID.test(vmId)) throw new Error(`not a VM id: ${vmId}`);
    return join(this.dir, `${vmId}.git`);
  }

  async ensure(vmId: string): Promise<string> {
    const final = this.path(vmId);
    if (await exists(join(final, 'HEAD'))) return final;
    // Initialise beside it and rename: a concurrent ensure or a crash never leaves a half-made repository in place.
    const tmp = join(this.dir, `.tmp-${vmId}-${randomBytes(4).toString('hex')}`);
    try {
      await this.git(['init', '--quiet', '--bare', '--initial-branch=main', tmp]);
      const set = (k: string, v: string) => this.git(['--git-dir', tmp, 'config', k, v]);
      await set('core.hooksPath', this.o.hooksDir);
      await set('receive.maxInputSize', String(this.o.maxPushBytes));
      // Smart HTTP: the daemon authenticates and authorizes before git http-backend runs.
      await set('http.receivepack', 'true');
      // Deploys may rewrite history (git push --force), like Heroku; the hook refuses deleting main.
      await set('receive.denyNonFastForwards', 'false');
      await rename(tmp, final).catch(async (e: NodeJS.ErrnoException) => {
        if (!(await exists(join(final, 'HEAD')))) throw e; // lost a race to a concurrent ensure: fine
      });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    return final;
  }

  /**
   * A fork's repository: made as ensure() makes one (fcm's config), then every ref of the
   * parent's fetched into it (objects copied, nothing shared: the parent's deletion removes
   * nothing the copy needs).
   */
  async copy(fromVmId: string, toVmId: string): Promise<void> {
    const to = this.path(toVmId);
    if (await exists(join(to, 'HEAD'))) throw new Error(`${toVmId} already has a repository`);
    await this.ensure(toVmId);
    const from = this.path(fromVmId);
    if (!(await exists(join(from, 'HEAD')))) return;
    try {
      await this.git(['--git-dir', to, 'fetch', '--quiet', '--no-tags', '--no-write-fetch-head', from, '+refs/*:refs/*']);
    } catch (e) {
      await this.remove(toVmId);
      throw e;
    }
  }

  private git(args: string[]) {
    const c = asUser(this.o.user, 'git', args);
    // HOME: the git user's (git reads ~/.gitconfig; root's would be unreadable to it).
    return run(c.cmd, c.args, { cwd: this.dir, env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: this.o.user?.home ?? process.env.HOME ?? '/', LANG: 'C.UTF-8' } });
  }

  async remove(vmId: string): Promise<void> {
    await rm(this.path(vmId), { recursive: true, force: true });
  }

  /** The repository's size on disk; a push's objects in quarantine (objects/tmp_objdir-incoming-*) count too. */
  async size(vmId: string): Promise<number> {
    return treeBytes(this.path(vmId));
  }

  async list(): Promise<string[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    for (const n of names.filter((x) => x.startsWith('.tmp-'))) await rm(join(this.dir, n), { recursive: true, force: true });
    return names.map((n) => /^(vm_[0-9a-f]{12})\.git$/.exec(n)?.[1]).filter((x): x is string => Boolean(x));
  }
}

async function chownTree(p: string, u: GitUser): Promise<void> {
  const st = await lstat(p);
  if (st.isDirectory()) for (const n of await readdir(p)) await chownTree(join(p, n), u);
  await lchown(p, u.uid, u.gid);
}

/** Bytes of every file under `dir` (apparent sizes; symlinks not followed); 0 when it does not exist. */
async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += await treeBytes(p);
    else if (e.isFile()) total += await lstat(p).then((st) => st.size, () => 0);
  }
  return total;
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}
