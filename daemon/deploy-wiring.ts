/**
 * The deploy half of the composition root (daemon/main.ts), kept apart so
 * tests can build the same stack over their own stores and runtime:
 * DeployService, KeyService and the push gate, their API handlers, and the
 * git doors — bare repositories and helpers under `<state dir>/git`, the
 * internal socket, and git smart HTTP on the API server.
 *
 * git runs as the git user (FCM_GIT_USER, drivers/git/git-user.ts), never
 * root; it can reach its repositories, the helpers and the socket, and
 * nothing else in the state dir:
 *
 *   <state dir>/                root:<git group> 0710 (the git user may pass, not look)
 *     git/                      root:<git group> 0710
 *       repos/<vm id>.git       <git user> 0700: bare repositories
 *       bin/fcm-ssh-keys        root 0755: sshd AuthorizedKeysCommand (see host-setup.sh)
 *       bin/fcm-git-serve.cjs   root 0755: forced command of every fcm key
 *       bin/fcm-pre-receive.cjs root 0755: the deploy on push,
 *       hooks/pre-receive       root 0755: core.hooksPath of every repository
 *       fcm.sock                root:<git group> 0660: the helpers' way into the daemon
 */
import { chmodSync, chownSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { DeployService, type DeployServiceDeps, type VmDirectory } from './core/deploys.js';
import type { AppRuntime } from './core/ports/app-runtime.js';
import type { EnvStore, ReleaseStore } from './core/ports/releases.js';
import type { GitHost } from './core/ports/git-host.js';
import { PushGate } from './core/deploys-push.js';
import { KeyService, type KeyProofVerifier } from './core/keys.js';
import { type KeyStore } from './core/ports/key-store.js';
import type { Principal } from './core/model.js';
import { ADMIN } from './core/tokens.js';
import type { VmService } from './core/vm-service.js';
import type { VmStore } from './core/ports/vm-store.js';
import { BareRepos } from './drivers/git/bare-repos.js';
import { ensureGitUser, SETPRIV, setprivArgs, type GitUser } from './drivers/git/git-user.js';
import { gitUserBlockedReason, helperPaths, installHelpers, sshdUnsafeReason, type HelperPaths } from './drivers/git/helpers.js';
import { GitHttpBackend } from './drivers/git/http-backend.js';
import { SshKeygenVerifier } from './drivers/ssh-signatures.js';
import { deployHandlers } from './http/routes/deploys.js';
import { gitTunnelUpgrade, internalGitServer, registerGitHttp } from './http/routes/git.js';
import type { ClusterHttp } from './http/forward.js';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { keyHandlers } from './http/routes/keys.js';
import type { Authenticator, Handler } from './http/server.js';
import type { Logger } from './log.js';

export interface DeployWiringDeps {
  vms: VmService;
  store: VmStore;
  releases: ReleaseStore;
  env: EnvStore;
  keys: KeyStore;
  runtime: AppRuntime;
  git: GitHost;
  /** A user's principal, or null once they may no longer use fcm (accounts.principalFor). */
  userPrincipal(userId: string): Principal | null;
  /** Whether a token's principal still stands (TokenAuthenticator.stillValid): checked when a push's hook runs. */
  stillValid?: (p: Principal) => boolean;
  urlFor(name: string): string;
  log: Logger;
  /** A logs -f client that reads nothing for this long while output waits is cut off. */
  clientStallMs?: number;
  quotas?: DeployServiceDeps['quotas'];
  /** Proof of possession for new SSH keys; default `ssh-keygen -Y verify`. */
  keyProofs?: KeyProofVerifier;
}

export function wireDeploys(d: DeployWiringDeps) {
  const directory: VmDirectory = {
    get: (p, name) => d.vms.get(p, name),
    byId: (id) => {
      const vm = d.store.get(id);
      return vm && vm.id === id ? vm : undefined;
    },
    all: () => d.store.list(),
    // Pushes and logs need the guest: a sleeping VM is woken first (ownership was checked by then).
    awake: (vm) => d.vms.awakeForRequest(vm.name, 300_000),
    here: (vm) => void d.vms.here(vm),
  };
  const deploys = new DeployService({
    vms: directory,
    releases: d.releases,
    env: d.env,
    runtime: d.runtime,
    git: d.git,
    log: d.log.child({ svc: 'deploys' }),
    urlFor: d.urlFor,
    ...(d.quotas ? { quotas: d.quotas } : {}),
  });
  // Keys added with the admin token belong to "admin" and push as the admin.
  const principalFor = (userId: string) => (userId === ADMIN.userId ? ADMIN : d.userPrincipal(userId));
  const keys = new KeyService({ store: d.keys, principalFor, proofs: d.keyProofs ?? new SshKeygenVerifier() });
  const gate = new PushGate({ vms: directory, keys, git: d.git, deploys, ...(d.stillValid ? { stillValid: d.stillValid } : {}) });
  d.vms.onChange((id) => deploys.vmChanged(id));
  const handlers: Record<string, Handler> = { ...deployHandlers(deploys, { clientStallMs: d.clientStallMs }), ...keyHandlers(keys) };
  return { deploys, keys, gate, handlers };
}

export type Deploys = ReturnType<typeof wireDeploys>;

export interface GitDoors {
  paths: HelperPaths;
  socketPath: string;
  /** Who git runs as (null: the daemon is not root and runs git as itself). */
  user: GitUser | null;
  /** For server.ts `extend`: git smart HTTP on the API server. */
  extend(app: FastifyInstance): Promise<void>;
  /** The API server's upgrades for git tunnels from other hosts of the cluster (console routes' `otherUpgrade`). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): boolean;
  close(): Promise<void>;
}

/**
 * The git user (created when missing) and the repositories' home for
 * BareRepos (create before wireDeploys): makes the state dir and `git/`
 * passable for the git user, and hands it repositories it does not own yet.
 */
export async function gitRepos(stateDir: string, o: { user: string; log: Logger; maxPushBytes?: number }): Promise<BareRepos> {
  const user = process.getuid?.() === 0 ? await ensureGitUser(o.user, (u) => o.log.info({ user: u.name, uid: u.uid }, 'created the git user')) : null;
  if (!user) o.log.warn('the daemon is not root: git runs as the daemon\'s own user');
  const gitDir = join(stateDir, 'git');
  mkdirSync(gitDir, { recursive: true, mode: 0o700 });
  for (const d of [stateDir, gitDir]) {
    if (user) chownSync(d, 0, user.gid);
    chmodSync(d, user ? 0o710 : 0o700);
  }
  const repos = new BareRepos({ dir: join(gitDir, 'repos'), hooksDir: join(gitDir, 'hooks'), maxPushBytes: o.maxPushBytes ?? 1024 * 1024 * 1024, user });
  const adopted = await repos.adopt();
  if (adopted) o.log.info({ repos: adopted, user: user?.name }, 'repositories handed to the git user');
  return repos;
}

/** Writes the helpers, listens on the internal socket, and returns the smart HTTP registration. */
export async function openGitDoors(
  stateDir: string,
  w: Deploys,
  o: { auth: Authenticator; repos: BareRepos; log: Logger; node?: string; clientStallMs?: number; cluster?: ClusterHttp },
): Promise<GitDoors> {
  const gitDir = join(stateDir, 'git');
  const user = o.repos.user;
  const paths = helperPaths(join(gitDir, 'bin'), join(gitDir, 'hooks'));
  const socketPath = join(gitDir, 'fcm.sock');
  const node = o.node ?? process.execPath;
  await installHelpers(paths, { socketPath, node });
  const unsafe = sshdUnsafeReason(paths.sshKeysCommand);
  if (unsafe) {
    o.log.warn({ path: paths.sshKeysCommand, reason: unsafe }, 'sshd will refuse this AuthorizedKeysCommand (git push over SSH needs a root-owned path): put the state dir under a root-owned, not group/world-writable directory');
  }
  // sshd starts the forced command as root (the login user); setpriv drops to the git user before any of fcm's code runs.
  const forcedCommand = user ? [SETPRIV, ...setprivArgs(user), paths.forcedCommand] : [paths.forcedCommand];
  const internal = internalGitServer({ keys: w.keys, gate: w.gate, forcedCommand, log: o.log.child({ svc: 'git' }), clientStallMs: o.clientStallMs, cluster: o.cluster });
  rmSync(socketPath, { force: true });
  // The git dir (0710, the git group) already keeps everyone else away while the socket's own mode is set.
  await internal.listen({ path: socketPath });
  if (user) chownSync(socketPath, 0, user.gid);
  chmodSync(socketPath, user ? 0o660 : 0o600);
  if (user) {
    const blocked = [
      gitUserBlockedReason(user, socketPath, 'w'),
      gitUserBlockedReason(user, paths.sshKeysCommand, 'rx'),
      gitUserBlockedReason(user, paths.forcedCommand, 'rx'),
      gitUserBlockedReason(user, paths.preReceive, 'rx'),
      gitUserBlockedReason(user, paths.preReceiveProgram, 'r'),
      gitUserBlockedReason(user, node, 'x'),
    ].filter(Boolean);
    if (blocked.length) o.log.warn({ user: user.name, reasons: blocked }, 'git pushes will fail: the git user cannot reach what it runs (every directory above the state dir must be searchable by others)');
  }
  const backend = new GitHttpBackend(o.repos.dir, user, o.log.child({ svc: 'git-http' }));
  return {
    paths,
    socketPath,
    user,
    extend: (app) => registerGitHttp(app, { auth: o.auth, gate: w.gate, backend, clientStallMs: o.clientStallMs, cluster: o.cluster }),
    upgrade: gitTunnelUpgrade({ gate: w.gate, backend, cluster: o.cluster, log: o.log.child({ svc: 'git' }) }),
    close: async () => {
      const closed = internal.close();
      internal.server.closeAllConnections();
      await closed;
      rmSync(socketPath, { force: true });
    },
  };
}
