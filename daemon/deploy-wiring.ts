/**
 * The deploy half of the composition root (daemon/main.ts), kept apart so
 * tests can build the same stack over their own stores and runtime:
 * DeployService, KeyService and the push gate, their API handlers, and the
 * git doors — bare repositories and helpers under `<state dir>/git`, the
 * root-only internal socket, and git smart HTTP on the API server.
 *
 *   <state dir>/git/            0700
 *     repos/<vm id>.git         bare repositories
 *     bin/fcm-ssh-keys          sshd AuthorizedKeysCommand (see host-setup.sh)
 *     bin/fcm-git-serve.cjs     forced command of every fcm key
 *     hooks/pre-receive         core.hooksPath of every repository
 *     fcm.sock                  the helpers' way into the daemon (root only)
 */
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { DeployService, type VmDirectory } from './core/deploys.js';
import type { AppRuntime, EnvStore, GitHost, ReleaseStore } from './core/deploys-ports.js';
import { PushGate } from './core/deploys-push.js';
import { KeyService, type KeyStore } from './core/keys.js';
import type { Principal } from './core/model.js';
import { ADMIN } from './core/tokens.js';
import type { VmService } from './core/vm-service.js';
import type { VmStore } from './core/ports.js';
import { BareRepos } from './drivers/git/bare-repos.js';
import { helperPaths, installHelpers, sshdUnsafeReason, type HelperPaths } from './drivers/git/helpers.js';
import { GitHttpBackend } from './drivers/git/http-backend.js';
import { deployHandlers } from './http/routes/deploys.js';
import { internalGitServer, registerGitHttp } from './http/routes/git.js';
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
  urlFor(name: string): string;
  log: Logger;
  /** A logs -f client that reads nothing for this long while output waits is cut off. */
  clientStallMs?: number;
}

export function wireDeploys(d: DeployWiringDeps) {
  const directory: VmDirectory = {
    get: (p, name) => d.vms.get(p, name),
    byId: (id) => {
      const vm = d.store.get(id);
      return vm && vm.id === id ? vm : undefined;
    },
    all: () => d.store.list(),
  };
  const deploys = new DeployService({
    vms: directory,
    releases: d.releases,
    env: d.env,
    runtime: d.runtime,
    git: d.git,
    log: d.log.child({ svc: 'deploys' }),
    urlFor: d.urlFor,
  });
  // Keys added with the admin token belong to "admin" and push as the admin.
  const principalFor = (userId: string) => (userId === ADMIN.userId ? ADMIN : d.userPrincipal(userId));
  const keys = new KeyService({ store: d.keys, principalFor });
  const gate = new PushGate({ vms: directory, keys, git: d.git, deploys });
  d.vms.onChange((id) => deploys.vmChanged(id));
  const handlers: Record<string, Handler> = { ...deployHandlers(deploys, { clientStallMs: d.clientStallMs }), ...keyHandlers(keys) };
  return { deploys, keys, gate, handlers };
}

export type Deploys = ReturnType<typeof wireDeploys>;

export interface GitDoors {
  paths: HelperPaths;
  socketPath: string;
  /** For server.ts `extend`: git smart HTTP on the API server. */
  extend(app: FastifyInstance): Promise<void>;
  close(): Promise<void>;
}

/** The repositories' home for BareRepos (create before wireDeploys). */
export function gitRepos(stateDir: string, maxPushBytes = 1024 * 1024 * 1024): BareRepos {
  const gitDir = join(stateDir, 'git');
  mkdirSync(gitDir, { recursive: true, mode: 0o700 });
  chmodSync(gitDir, 0o700);
  return new BareRepos({ dir: join(gitDir, 'repos'), hooksDir: join(gitDir, 'hooks'), maxPushBytes });
}

/** Writes the helpers, listens on the internal socket, and returns the smart HTTP registration. */
export async function openGitDoors(
  stateDir: string,
  w: Deploys,
  o: { auth: Authenticator; repos: BareRepos; log: Logger; node?: string; clientStallMs?: number },
): Promise<GitDoors> {
  const gitDir = join(stateDir, 'git');
  const paths = helperPaths(join(gitDir, 'bin'), join(gitDir, 'hooks'));
  const socketPath = join(gitDir, 'fcm.sock');
  installHelpers(paths, { socketPath, node: o.node ?? process.execPath });
  const unsafe = sshdUnsafeReason(paths.sshKeysCommand);
  if (unsafe) {
    o.log.warn({ path: paths.sshKeysCommand, reason: unsafe }, 'sshd will refuse this AuthorizedKeysCommand (git push over SSH needs a root-owned path): put the state dir under a root-owned, not group/world-writable directory');
  }
  const server: Server = internalGitServer({ keys: w.keys, gate: w.gate, forcedCommand: paths.forcedCommand, log: o.log.child({ svc: 'git' }), clientStallMs: o.clientStallMs });
  // Builds and uploads can be long and quiet; the peers are our own helpers.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  rmSync(socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(socketPath, 0o600);
  const backend = new GitHttpBackend(o.repos.dir, o.log.child({ svc: 'git-http' }));
  return {
    paths,
    socketPath,
    extend: (app) => registerGitHttp(app, { auth: o.auth, gate: w.gate, backend, clientStallMs: o.clientStallMs }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        rmSync(socketPath, { force: true });
      }),
  };
}
