import { createHash } from 'node:crypto';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { ConsoleService } from '../../daemon/core/console-service.js';
import { ConsoleTickets } from '../../daemon/core/console-tickets.js';
import { MemoryConsole } from '../../daemon/drivers/memory/memory-console.js';
import { consoleHandlers, consoleRoutes } from '../../daemon/http/routes/console.js';
import type { Json } from '../../daemon/http/openapi-routes.js';
import { wireAuth, type AuthWiringConfig } from '../../daemon/auth-wiring.js';
import type { IdentityProvider } from '../../daemon/core/ports/identity.js';
import { MemoryUserStore } from '../../daemon/drivers/memory/memory-user-store.js';
import { MemoryTokenStore } from '../../daemon/drivers/memory/memory-token-store.js';
import type { Handler } from '../../daemon/http/server.js';
import { spec } from '../../api/spec.gen.js';
import { hashToken, newToken } from '../../daemon/core/tokens.js';
import { buildServer } from '../../daemon/http/server.js';
import { defaultLimits, type RequestLimits } from '../../daemon/http/limits.js';
import { systemHandlers } from '../../daemon/http/routes/system.js';
import { hostsView, vmHandlers, type VmView } from '../../daemon/http/routes/vms.js';
import { rowsVersionOf } from '../../daemon/core/ports/vm-store.js';
import { forkHandlers } from '../../daemon/http/routes/forks.js';
import { ForkService } from '../../daemon/core/forks.js';
import { vmUrl } from '../../daemon/core/planners/url.js';
import { memoryService, type MemoryServiceOptions } from './memory-service.js';
import { quotaHandlers } from '../../daemon/http/routes/quotas.js';
import type { AccountService } from '../../daemon/core/accounts.js';
import { DomainService } from '../../daemon/core/domains.js';
import { MemoryTxt } from '../../daemon/drivers/memory/memory-txt.js';
import { domainHandlers } from '../../daemon/http/routes/domains.js';
import { hostHandlers } from '../../daemon/http/routes/hosts.js';
import { HostService } from '../../daemon/core/hosts.js';
import { MemoryHostRegistry } from '../../daemon/drivers/memory/memory-host-registry.js';
import { MemoryVmStore } from '../../daemon/drivers/memory/memory-store.js';
import { clusterHttp } from '../../daemon/http/forward.js';
import { pendingHandlers } from '../../daemon/http/routes/pending.js';
import { operationRoutes } from '../../daemon/http/openapi-routes.js';
import { gitRepos, openGitDoors, wireDeploys, type GitDoors } from '../../daemon/deploy-wiring.js';
import type { AppRuntime } from '../../daemon/core/ports/app-runtime.js';
import type { GitHost } from '../../daemon/core/ports/git-host.js';
import { MemoryAppRuntime, MemoryEnvStore, MemoryGitHost, MemoryKeyStore, MemoryReleaseStore } from '../../daemon/drivers/memory/memory-deploys.js';


export interface MemoryApiOptions {
  /** Named snapshots and forks on the twins (the hypervisor offers live snapshots). */
  snapshots?: boolean;
  /** Another spec (e.g. a fixture that adds an operation); default openapi.yaml. */
  spec?: Json;
  /** Handlers added to (or replacing) the real ones. */
  handlers?: Record<string, Handler>;
  /** Login configuration; default: no OIDC, alice@ and bob@example.com allowed, admin@example.com admin. */
  auth?: Partial<AuthWiringConfig>;
  idp?: IdentityProvider | null;
  /**
   * Real git: bare repositories, helpers and the internal socket under
   * `stateDir` (sshd needs it root-owned to run the key helper), smart HTTP
   * on the server; and the app runtime to deploy to (default: the twin).
   */
  git?: { stateDir: string; runtime?: AppRuntime };
  /** Per-user limits (default: the daemon's defaults) and host capacity (default: unchecked). */
  quotas?: MemoryServiceOptions['quotas'];
  host?: MemoryServiceOptions['host'];
  /** Request limits; default the daemon's defaults. */
  limits?: RequestLimits;
  /** The daemon's external URL (the OIDC callback is under it); default http://127.0.0.1:7777. */
  publicUrl?: string;
  /** The console (tickets, the WebSocket, the web console page) over the Console twin. */
  console?: boolean;
  /**
   * One host of a cluster: its id, the stores every host shares (VM rows, host registry, users,
   * tokens, config vars) and the cluster key; requests on other hosts' VMs are forwarded.
   */
  cluster?: { hostId: string; key: Buffer; shared: ClusterShared };
}

/** What the hosts of one test cluster share (the database, in production). */
export interface ClusterShared {
  rows: MemoryVmStore;
  registry: MemoryHostRegistry;
  tokens: MemoryTokenStore;
  users: MemoryUserStore;
  env: MemoryEnvStore;
}

/** The real HTTP layer (spec validation, problem+json, auth) over in-memory services. */
export async function memoryApi(opts: MemoryApiOptions = {}) {
  const theSpec = opts.spec ?? spec;
  const shared = opts.cluster?.shared;
  const hostId = opts.cluster?.hostId ?? 'local';
  const tokens = shared?.tokens ?? new MemoryTokenStore();
  const users = shared?.users ?? new MemoryUserStore();
  const env = shared?.env ?? new MemoryEnvStore();
  // The cluster of one a SQLite daemon is (unless shared); tests move `hostClock` to lapse leases and register other hosts.
  let hostClock = Date.now();
  const registry = shared?.registry ?? new MemoryHostRegistry(() => hostClock);
  const memGit = new MemoryGitHost();
  let accounts: AccountService | null = null;
  const h = memoryService({
    quotas: {
      isAdmin: (id) => id === 'admin' || accounts?.principalFor(id)?.admin === true,
      env: (id) => env.get(id),
      repoBytes: (id) => (opts.git ? repos!.size(id) : memGit.size(id)),
      users,
      ...opts.quotas,
    },
    ...(opts.host ? { host: opts.host } : {}),
    ...(shared ? { store: shared.rows.forHost(hostId), cluster: { hostId, hosts: { get: (id: string) => registry.list().find((x) => x.id === id) } } } : {}),
    sleep: true,
    ...(opts.snapshots ? { snapshots: {} } : {}),
    config: { reservedDomains: { names: ['fcm.example.net'], zones: ['sslip.io'] } },
  });
  const selfInfo = { id: hostId, publicIp: '64.34.93.45', apiUrl: 'https://fcm.64-34-93-45.sslip.io', vcpus: 4, memoryMib: 8192, diskMib: 100_000, subnetCidr: '172.16.0.0/24' };
  const hosts = new HostService({
    registry,
    self: selfInfo,
    vms: () => h.store.list(),
    log: pino({ level: 'silent' }),
    config: { leaseMs: 15_000, renewMs: 5_000 },
    onLost: () => {},
  });
  await hosts.join(0);
  const txt = new MemoryTxt();
  const domains = new DomainService({ store: h.store, resolver: txt, key: Buffer.alloc(32, 9), vm: (p, n) => h.service.get(p, n), changed: () => {} });
  const log = pino({ level: process.env.FCM_TEST_LOG ?? 'silent' });
  const auth = wireAuth(
    {
      oidc: null,
      access: { emails: ['alice@example.com', 'bob@example.com'], domains: [], adminEmails: ['admin@example.com'] },
      tokenTtlDays: 30,
      ...opts.auth,
    },
    { tokens, users, publicUrl: opts.publicUrl ?? 'http://127.0.0.1:7777', log, ...(opts.idp !== undefined ? { idp: opts.idp } : {}) },
  );
  accounts = auth.accounts;
  /** Logs a user in without an identity provider: their user row and a fresh fcm token. */
  const loginAs = (email: string, name: string | null = null) => {
    const user = users.upsert({ issuer: 'https://issuer.test', subject: `sub-${email}`, email, name }, new Date().toISOString());
    const grant = auth.accounts.mint(user, 'test');
    return { user, token: grant.token, headers: { authorization: `Bearer ${grant.token}` } };
  };
  const admin = newToken();
  // Each host of a test cluster has its own admin token row in the shared store.
  tokens.insert({ id: hostId === 'local' ? 'tok_000000000000' : `tok_${createHash('sha256').update(hostId).digest('hex').slice(0, 12)}`, hash: hashToken(admin), userId: 'admin', kind: 'admin', description: null, createdAt: new Date().toISOString(), expiresAt: null });
  const runtime = opts.git?.runtime ?? new MemoryAppRuntime();
  const repos = opts.git ? await gitRepos(opts.git.stateDir, { user: 'fcm-git', log }) : null;
  const git: GitHost = repos ?? memGit;
  const deploys = wireDeploys({
    vms: h.service,
    store: h.store,
    releases: new MemoryReleaseStore(),
    env,
    quotas: h.quotas!,
    keys: new MemoryKeyStore(),
    runtime,
    git,
    userPrincipal: (userId) => auth.accounts.principalFor(userId),
    stillValid: (p) => auth.sessions.valid(p),
    urlFor: (n) => vmUrl(n, '64.34.93.45', 'sslip.io'),
    log,
  });
  const doors: GitDoors | null = opts.git && repos ? await openGitDoors(opts.git.stateDir, deploys, { auth: auth.authenticator, repos, log }) : null;
  const consoles = opts.console
    ? new ConsoleService({ console: new MemoryConsole(), vms: h.service, log, tickets: new ConsoleTickets(), stillValid: (p) => auth.sessions.valid(p) })
    : null;
  const view: VmView = {
    urlFor: (n, ip) => vmUrl(n, ip ?? '64.34.93.45', 'sslip.io'),
    gitUrls: (n) => ({ ssh: `root@64.34.93.45:${n}.git`, http: `https://64.34.93.45/git/${n}.git` }),
    hosts: hostsView(() => registry.list()),
    // As the daemon wires it: GET /v1/vms answers are kept per caller and rows version.
    rowsVersion: rowsVersionOf(h.store),
  };
  const implemented = {
    ...(consoles ? consoleHandlers(consoles) : {}),
    ...deploys.handlers,
    ...vmHandlers(h.service, view),
    ...forkHandlers(new ForkService({ vms: h.service, deploys: deploys.deploys }), view),
    ...hostHandlers(hosts),
    ...systemHandlers({ version: 'test', hypervisor: 'qemu', accel: 'tcg', counts: () => h.service.counts(), checks: async () => ({}) }),
    ...auth.handlers,
    ...quotaHandlers(h.quotas!, auth.accounts),
    ...domainHandlers(domains),
    ...opts.handlers,
  };
  const limits = opts.limits ?? defaultLimits();
  const app = await buildServer({
    spec: theSpec,
    log,
    limits,
    sessions: auth.sessions,
    auth: auth.authenticator,
    validateResponses: true,
    handlers: { ...implemented, ...pendingHandlers(implemented, operationRoutes(theSpec).filter((r) => !r.websocket).map((r) => r.operationId)) },
    websocketOperations: ['openConsole', 'runCommand'],
    ...(opts.cluster
      ? {
          cluster: clusterHttp({
            key: opts.cluster.key,
            self: hostId,
            hosts: () => registry.list(),
            rows: () => h.store.list(),
            vmHost: (name) => {
              const vm = h.store.get(name);
              return vm && vm.name === name ? vm.host : null;
            },
            host: (id) => registry.list().find((x) => x.id === id),
            principalFor: (id) => auth.accounts.principalFor(id),
          }),
        }
      : {}),
    ...(doors || consoles
      ? {
          extend: async (server: FastifyInstance) => {
            if (consoles) await consoleRoutes({ spec: theSpec, auth: auth.authenticator, consoles, log, limits, sessions: auth.sessions })(server);
            if (doors) await doors.extend(server);
          },
        }
      : {}),
  });
  if (doors) app.addHook('onClose', () => doors.close());
  const cluster = { registry, hosts, advance: (ms: number) => void (hostClock += ms), setApiUrl: (apiUrl: string) => hosts.update({ ...selfInfo, apiUrl }) };
  return { app, h, txt, cluster, domains, deploys: { ...deploys, runtime, git, doors }, tokens, users, admin, auth: { authorization: `Bearer ${admin}` }, accounts: auth.accounts, login: auth.login, sessions: auth.sessions, reloadAccess: auth.reloadAccess, loginAs };
}
