/**
 * Git's two doors into the daemon.
 *
 * Public: git smart HTTP at `/git/<app>.git/…` (info/refs, git-upload-pack,
 * git-receive-pack), served through the GitSmartHttp port (the composition
 * root wires `git http-backend`). Basic auth with an fcm token as the
 * password (any username; `Bearer` works too); 401 with a Basic challenge
 * when missing or invalid, so git asks its credential helper. The app must
 * be the caller's (else 404, like the API). A push runs the same pre-receive
 * hook as over SSH.
 *
 * Internal: a fastify instance on a Unix socket only the git user can reach,
 * for the programs sshd and git run (daemon/drivers/git/helpers/): the key
 * lookup for AuthorizedKeysCommand, the forced command's authorization, and
 * the pre-receive hook's deploy, whose streamed answer is the deploy output
 * ending with one result line (core/git-wire.ts). Errors are problem+json
 * with a stable code, as on the public API.
 */
import { randomBytes } from 'node:crypto';
import { realpathSync } from 'node:fs';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { VmName } from '../../../api/patterns.gen.js';
import type { GitSmartHttp } from '../../core/ports/git-smart-http.js';
import type { PushGate } from '../../core/deploys-push.js';
import { FcmError, isFcmError } from '../../core/errors.js';
import {
  appFromRepoPath,
  COMMIT,
  DEPLOY_REFS,
  FINGERPRINT_HEADER,
  INTERNAL_ROUTES,
  KEY_ID,
  outputLine,
  PUSH_HEADERS,
  resultLine,
  TUNNEL_HEADERS,
  TUNNEL_PATH,
  TUNNEL_PROTOCOL,
  tunnelPath,
  type AuthorizeAnswer,
  type AuthorizeRequest,
  type GitService,
  type RelayAnswer,
} from '../../core/git-wire.js';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { refuseUpgrade, relayUpgrade } from '../forward-upgrade.js';
import { authorizedKeyLine, type KeyService } from '../../core/keys.js';
import { bearerToken } from '../bearer.js';
import type { Logger } from '../../log.js';
import { pacedWriter, watchStall } from '../backpressure.js';
import { problem } from '../problem.js';
import { answerErrorsAsProblems, type Authenticator } from '../server.js';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { CLUSTER_HEADER } from '../../core/cluster-auth.js';
import type { Principal } from '../../core/model.js';
import type { ClusterHttp } from '../forward.js';

const SERVICES: Record<string, GitService> = { 'git-receive-pack': 'receive-pack', 'git-upload-pack': 'upload-pack' };

export interface GitHttpDeps {
  auth: Authenticator;
  gate: PushGate;
  backend: GitSmartHttp;
  /** A client that takes none of its waiting response for this long is cut off (default 60 s). */
  clientStallMs?: number;
  /**
   * Several hosts on one database: the repository of a VM another host runs is there, so its
   * requests are relayed to that host (signed with the cluster key, streamed both ways), and
   * requests other hosts relay here are accepted on their signature.
   */
  cluster?: ClusterHttp;
}

/** Registers the smart HTTP routes (server.ts `extend`). */
export async function registerGitHttp(app: FastifyInstance, d: GitHttpDeps): Promise<void> {
  await app.register(async (scope) => {
    // git's request bodies (pack data, maybe gzip) stream to http-backend untouched.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, _payload, done) => done(null));
    scope.route({
      method: ['GET', 'POST'],
      url: '/git/:repo/*',
      handler: async (req, reply) => {
        const { repo, '*': rest } = req.params as { repo: string; '*': string };
        const name = appFromRepoPath(repo);
        const query = req.query as Record<string, string | undefined>;
        const service =
          req.method === 'GET' && rest === 'info/refs' ? SERVICES[query.service ?? ''] : req.method === 'POST' ? SERVICES[rest] : undefined;
        if (!name || !service) {
          return reply.code(404).type('text/plain').send('Not a git smart HTTP endpoint (fcm serves /git/<app>.git with git ≥ 1.6.6).\n');
        }
        // Another host relaying its user's request: its cluster signature, never the user's token.
        const fwd = req.headers[CLUSTER_HEADER];
        if (fwd !== undefined) {
          const got = typeof fwd === 'string' && req.headers.authorization === undefined ? d.cluster?.authenticate(fwd, req.method, req.raw.url ?? '') : null;
          if (!got) return reply.code(401).type('application/problem+json').send(problem('unauthorized', 'The cluster signature is not valid (a host of another cluster, a stale clock, or a forged request).', { requestId: req.id }));
          return serveHere(d, req, reply, got.principal, name, service, rest);
        }
        const principal = authenticate(d.auth, req.headers.authorization);
        if (!principal) {
          return reply
            .code(401)
            .header('www-authenticate', 'Basic realm="fcm", charset="UTF-8"')
            .type('application/problem+json')
            .send(problem('unauthorized', 'git over HTTPS needs an fcm token as the password (any username).', { requestId: req.id }));
        }
        const owner = d.cluster?.ownerOf(name);
        if (owner) return relayGit(d, req, reply, principal, owner);
        return serveHere(d, req, reply, principal, name, service, rest);
      },
    });
  });
}

async function serveHere(d: GitHttpDeps, req: FastifyRequest, reply: FastifyReply, principal: Principal, name: string, service: GitService, rest: string): Promise<void> {
  let grant;
  try {
    // Only the POST runs receive-pack (and so the hook); the GET only advertises refs.
    grant = await d.gate.authorize(principal, name, service, { ticket: req.method === 'POST' });
  } catch (err) {
    if (isFcmError(err)) return void reply.code(err.status).type('application/problem+json').send(problem(err.code, err.message, { requestId: req.id }));
    throw err;
  }
  reply.hijack();
  // The backend relays at the client's pace; a client that stops reading altogether would hold
  // git (and a push's hook and deploy output) forever: cut it off, which ends git too.
  watchStall(reply.raw, d.clientStallMs ?? 60_000, () => reply.raw.destroy());
  await d.backend.serve(req.raw, reply.raw, { repo: grant.repo, path: rest, remoteUser: principal.userId, ticket: grant.ticket });
}

/** Request headers git's smart HTTP needs passed on (the rest are hop-by-hop, or credentials that stay here). */
const GIT_UP = ['content-type', 'content-encoding', 'content-length', 'git-protocol', 'accept', 'user-agent'];
const GIT_DOWN = ['content-type', 'content-length', 'cache-control', 'expires', 'pragma'];

/**
 * A smart HTTP request for a VM another host runs, relayed there: the pack
 * streams up as it arrives, the answer (ref advertisement, or the push's
 * progress and deploy output) streams back as it is produced. Whether the
 * caller may push there is decided by that host, for the principal signed here.
 */
function relayGit(d: GitHttpDeps, req: FastifyRequest, reply: FastifyReply, principal: Principal, owner: string): Promise<void> {
  const path = req.raw.url ?? '/';
  const url = new URL(path, owner);
  const headers: Record<string, string> = { [CLUSTER_HEADER]: d.cluster!.sign(principal, req.method, path) };
  for (const h of GIT_UP) {
    const v = req.headers[h];
    if (typeof v === 'string') headers[h] = v;
  }
  reply.hijack();
  const res = reply.raw;
  watchStall(res, d.clientStallMs ?? 60_000, () => res.destroy());
  return new Promise((resolve) => {
    const up = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { method: req.method, headers });
    const done = () => resolve();
    up.on('error', (e) => {
      if (!res.headersSent) {
        const p = problem('host_unreachable', `The VM's host (${url.host}) did not answer: ${e.message}`, { requestId: req.id });
        res.writeHead(p.status, { 'content-type': 'application/problem+json', 'retry-after': '10' }).end(JSON.stringify(p));
      } else res.destroy();
      done();
    });
    up.on('response', (upRes) => {
      const out: Record<string, string> = {};
      for (const h of GIT_DOWN) {
        const v = upRes.headers[h];
        if (typeof v === 'string') out[h] = v;
      }
      res.writeHead(upRes.statusCode ?? 502, out);
      upRes.pipe(res);
      upRes.on('error', () => res.destroy());
      upRes.on('end', done);
    });
    // The client went away: so does the relayed request (the owning host's git stops with it).
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
      done();
    });
    req.raw.pipe(up);
  });
}

function authenticate(auth: Authenticator, header: string | undefined) {
  if (!header) return null;
  const bearer = bearerToken(header);
  if (bearer !== null) return auth.authenticate(bearer);
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!basic) return null;
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const password = decoded.slice(decoded.indexOf(':') + 1);
  return password ? auth.authenticate(password) : null;
}

// ---- the internal socket ---------------------------------------------------

export interface InternalGitDeps {
  keys: KeyService;
  gate: PushGate;
  /** Several hosts on one database: a push over SSH to a VM another host runs is tunnelled there. */
  cluster?: ClusterHttp;
  /** The forced command of every fcm key's authorized_keys line (argv; the key id is appended). */
  forcedCommand: readonly string[];
  log: Logger;
  /** A pusher that reads none of the deploy output for this long is cut off (default 60 s). */
  clientStallMs?: number;
}

/** The server behind `<state dir>/git/fcm.sock`; the caller listens on the socket and decides who may connect. */
export function internalGitServer(d: InternalGitDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: d.log as unknown as FastifyBaseLogger,
    // The helpers ask twice per SSH connection: log what matters (authorizations, failures), not every request.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => `git_${randomBytes(6).toString('hex')}`,
    bodyLimit: 64 * 1024,
    return503OnClosing: true,
    // Requests are checked as sent: no coercion, no silently dropped properties.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: true } },
  });
  // Builds and uploads can be long and quiet; the peers are our own helpers.
  app.server.requestTimeout = 0;
  app.server.headersTimeout = 60_000;
  answerErrorsAsProblems(app);
  // The pushed tree streams to the deploy untouched.
  app.addContentTypeParser('application/x-tar', (_req, _payload, done) => done(null));

  app.get(
    INTERNAL_ROUTES.keys,
    { schema: { headers: { type: 'object', required: [FINGERPRINT_HEADER], properties: { [FINGERPRINT_HEADER]: { type: 'string', pattern: '^SHA256:[A-Za-z0-9+/]{43}$' } } } } },
    async (req, reply) => {
      const key = d.keys.byFingerprint(String(req.headers[FINGERPRINT_HEADER]));
      // Unknown keys are an empty 200: sshd then offers nothing, and curl logs only real failures.
      return reply.type('text/plain; charset=utf-8').send(key ? `${authorizedKeyLine(key, d.forcedCommand)}\n` : '');
    },
  );

  app.post(
    INTERNAL_ROUTES.authorize,
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['keyId', 'vm', 'service'],
          properties: {
            keyId: { type: 'string', pattern: KEY_ID.source },
            vm: { type: 'string', pattern: VmName.source, maxLength: VmName.maxLength },
            service: { type: 'string', enum: ['receive-pack', 'upload-pack'] },
          },
        },
      },
    },
    async (req): Promise<AuthorizeAnswer | RelayAnswer> => {
      const body = req.body as AuthorizeRequest;
      // The app's repository is on the host that runs it: the forced command tunnels there
      // (INTERNAL_ROUTES.tunnel). Whether the key's owner may push to it is that host's call.
      if (d.cluster?.ownerOf(body.vm)) {
        if (!d.keys.principalOf(body.keyId)) throw new FcmError('unauthorized', 'This SSH key is no longer registered with fcm (fcm keys).');
        return { relay: true };
      }
      const grant = await d.gate.authorizeKey(body.keyId, body.vm, body.service);
      d.log.info({ keyId: body.keyId, vmId: grant.vmId, service: body.service }, 'git over SSH authorized');
      return { repo: grant.repo, ticket: grant.ticket };
    },
  );

  app.post(
    INTERNAL_ROUTES.push,
    {
      schema: {
        headers: {
          type: 'object',
          required: Object.values(PUSH_HEADERS),
          properties: {
            [PUSH_HEADERS.ticket]: { type: 'string', minLength: 1, maxLength: 200 },
            [PUSH_HEADERS.commit]: { type: 'string', pattern: COMMIT.source },
            [PUSH_HEADERS.ref]: { type: 'string', enum: [...DEPLOY_REFS] },
            [PUSH_HEADERS.repo]: { type: 'string', minLength: 1, maxLength: 4096 },
          },
        },
      },
    },
    (req, reply) => push(d, req, reply),
  );
  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => sshTunnel(d, req, socket, head));
  return app;
}

/**
 * The forced command's tunnel to the host that runs the app (a push over SSH
 * to host A for a VM on host B): the key A's sshd verified names the user;
 * the upgrade is relayed to B's git tunnel signed for that user and key, and
 * the forced command's stdin/stdout are spliced to `git receive-pack` there.
 */
function sshTunnel(d: InternalGitDeps, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const reqId = `git_${randomBytes(6).toString('hex')}`;
  socket.on('error', () => {});
  const h = (k: string) => (typeof req.headers[k] === 'string' ? (req.headers[k] as string) : '');
  try {
    if (new URL(req.url ?? '/', 'http://fcm.invalid').pathname !== INTERNAL_ROUTES.tunnel || h('upgrade') !== TUNNEL_PROTOCOL) {
      throw new FcmError('not_found', 'No such tunnel.');
    }
    const keyId = h(TUNNEL_HEADERS.keyId);
    const vm = appFromRepoPath(h(TUNNEL_HEADERS.vm));
    const service = h(TUNNEL_HEADERS.service);
    if (!KEY_ID.test(keyId) || !vm || (service !== 'receive-pack' && service !== 'upload-pack')) throw new FcmError('validation_failed', 'A tunnel names a key, an app and a git service.');
    const p = d.keys.principalOf(keyId);
    if (!p) throw new FcmError('unauthorized', 'This SSH key is no longer registered with fcm (fcm keys).');
    const owner = d.cluster?.ownerOf(vm);
    if (!owner) throw new FcmError('host_unreachable', `The host that runs "${vm}" cannot be reached from here now; push again in a moment.`, { retryAfterSec: 10 });
    relayUpgrade({
      cluster: d.cluster!,
      base: owner,
      path: tunnelPath(vm, service),
      principal: { ...p, keyId },
      req,
      socket,
      head,
      unreachable: (err) => refuseUpgrade(socket, err, reqId),
      onOpen: () => d.log.info({ keyId, vm, service, owner }, 'git over SSH relayed to the owning host'),
    });
  } catch (e) {
    const err = isFcmError(e) ? e : new FcmError('internal', `Something went wrong (request ${reqId}).`);
    if (!isFcmError(e)) d.log.error({ err: e }, 'git tunnel failed');
    refuseUpgrade(socket, err, reqId);
  }
}

/**
 * The owning host's end of a git tunnel (the API server's upgrade, for
 * TUNNEL_PATH): only another host of the cluster may open one, signed for the
 * user and SSH key it verified; the push is authorized here exactly as over
 * this host's own SSH (the key re-checked when the hook presents its ticket).
 * Returns false for paths that are not a tunnel's.
 */
export function gitTunnelUpgrade(d: { gate: PushGate; backend: GitSmartHttp; cluster?: ClusterHttp; log: Logger }) {
  return (req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): boolean => {
    const m = TUNNEL_PATH.exec(url.pathname);
    if (!m) return false;
    const reqId = `req_${randomBytes(6).toString('hex')}`;
    void (async () => {
      try {
        const fwd = req.headers[CLUSTER_HEADER];
        const got = typeof fwd === 'string' && req.headers.authorization === undefined ? d.cluster?.authenticate(fwd, 'GET', req.url ?? '') : null;
        if (!got) throw new FcmError('unauthorized', 'Git tunnels are opened by the hosts of this cluster only (a valid cluster signature is required).');
        const service = SERVICES[url.searchParams.get('service') ?? ''];
        const name = appFromRepoPath(safeDecode(m[1]!) ?? '');
        if (!service || !name || req.headers.upgrade !== TUNNEL_PROTOCOL) throw new FcmError('validation_failed', 'A git tunnel is GET /git/<app>.git/ssh-tunnel?service=git-receive-pack|git-upload-pack with Upgrade: fcm-git.');
        const grant = await d.gate.authorize(got.principal, name, service);
        if (!socket.writable) return;
        socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${TUNNEL_PROTOCOL}\r\nConnection: Upgrade\r\n\r\n`);
        if (head.length) socket.unshift(head);
        d.log.info({ vmId: grant.vmId, service, from: got.from, keyId: got.principal.keyId }, 'git tunnel from another host');
        await d.backend.tunnel(socket, { repo: grant.repo, service, ticket: grant.ticket });
      } catch (e) {
        const err = isFcmError(e) ? e : new FcmError('internal', `Something went wrong (request ${reqId}).`);
        if (!isFcmError(e)) d.log.error({ err: e }, 'git tunnel failed');
        refuseUpgrade(socket, err, reqId);
      }
    })();
    return true;
  };
}

function safeDecode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

/**
 * The pre-receive hook's deploy: the pushed tree in, the deploy output out,
 * line by line as it comes, then the result line. Headers go out with the
 * first line, so a refusal before it (a bad ticket) is still a problem.
 */
async function push(d: InternalGitDeps, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const h = (k: string) => String(req.headers[k]);
  if (h('content-type').split(';')[0]!.trim() !== 'application/x-tar') throw new FcmError('unsupported_media_type', 'A push is the tar of the pushed tree (application/x-tar).');
  let repo: string;
  try {
    repo = realpathSync(h(PUSH_HEADERS.repo));
  } catch {
    throw new FcmError('unauthorized', 'This push was not authorized by fcm: push again.');
  }
  const res = reply.raw;
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    reply.hijack();
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  };
  // At the pusher's pace: a full socket pauses the guest's output (the promise goes back to the
  // runtime); a pusher that takes nothing for clientStallMs is cut off and the deploy goes on
  // without it, as when it disconnects.
  const stallMs = d.clientStallMs ?? 60_000;
  const commit = h(PUSH_HEADERS.commit);
  const paced = pacedWriter(res, stallMs, () => d.log.warn({ commit, stallMs }, 'the pusher stopped reading the deploy output; cut off'));
  const out = (line: string) => {
    start();
    return paced.write(outputLine(line));
  };
  try {
    const outcome = await d.gate.push(h(PUSH_HEADERS.ticket), repo, { commit, ref: h(PUSH_HEADERS.ref) }, req.raw, out);
    start();
    if (!paced.gone) res.end(resultLine(outcome.ok ? { ok: true, version: outcome.release.version } : { ok: false, error: outcome.error }));
  } catch (err) {
    if (!started) throw err;
    // Mid-stream: no result line, so the hook says the deploy was interrupted.
    if (!isFcmError(err)) req.log.error({ err }, 'push failed mid-stream');
    res.end();
  } finally {
    paced.stop();
  }
}
