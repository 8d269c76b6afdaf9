/**
 * Git's two doors into the daemon.
 *
 * Public: git smart HTTP at `/git/<app>.git/…` (info/refs, git-upload-pack,
 * git-receive-pack), served by `git http-backend`. Basic auth with an fcm
 * token as the password (any username; `Bearer` works too); 401 with a Basic
 * challenge when missing or invalid, so git asks its credential helper. The
 * app must be the caller's (else 404, like the API). A push runs the same
 * pre-receive hook as over SSH.
 *
 * Internal: a root-only Unix socket for the helpers sshd and git run
 * (daemon/drivers/git/helpers.ts): the key lookup for AuthorizedKeysCommand,
 * the forced command's authorization, and the pre-receive hook's deploy,
 * whose streamed answer is the deploy output ending with one
 * `fcm-result: {"ok":…}` line.
 */
import { realpathSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { basename } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { RESULT_PREFIX } from '../../core/deploys-output.js';
import type { GitService, PushGate } from '../../core/deploys-push.js';
import { FcmError, isFcmError } from '../../core/errors.js';
import { authorizedKeyLine, type KeyService } from '../../core/keys.js';
import type { GitHttpBackend } from '../../drivers/git/http-backend.js';
import type { Logger } from '../../log.js';
import { pacedWriter, watchStall } from '../backpressure.js';
import { problem } from '../problem.js';
import type { Authenticator } from '../server.js';

const APP = /^([a-z](?:[a-z0-9-]{0,38}[a-z0-9])?)(?:\.git)?$/;
const SERVICES: Record<string, GitService> = { 'git-receive-pack': 'receive-pack', 'git-upload-pack': 'upload-pack' };

export interface GitHttpDeps {
  auth: Authenticator;
  gate: PushGate;
  backend: GitHttpBackend;
  /** A client that takes none of its waiting response for this long is cut off (default 60 s). */
  clientStallMs?: number;
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
        const name = APP.exec(repo)?.[1];
        const query = req.query as Record<string, string | undefined>;
        const service =
          req.method === 'GET' && rest === 'info/refs' ? SERVICES[query.service ?? ''] : req.method === 'POST' ? SERVICES[rest] : undefined;
        if (!name || !service) {
          return reply.code(404).type('text/plain').send('Not a git smart HTTP endpoint (fcm serves /git/<app>.git with git ≥ 1.6.6).\n');
        }
        const principal = authenticate(d.auth, req.headers.authorization);
        if (!principal) {
          return reply
            .code(401)
            .header('www-authenticate', 'Basic realm="fcm", charset="UTF-8"')
            .type('application/problem+json')
            .send(problem('unauthorized', 'git over HTTPS needs an fcm token as the password (any username).', { requestId: req.id }));
        }
        let grant;
        try {
          // Only the POST runs receive-pack (and so the hook); the GET only advertises refs.
          grant = await d.gate.authorize(principal, name, service, { ticket: req.method === 'POST' });
        } catch (err) {
          if (isFcmError(err)) return reply.code(err.status).type('application/problem+json').send(problem(err.code, err.message, { requestId: req.id }));
          throw err;
        }
        reply.hijack();
        // The backend relays at the client's pace; a client that stops reading altogether would hold
        // git (and a push's hook and deploy output) forever: cut it off, which ends git too.
        watchStall(reply.raw, d.clientStallMs ?? 60_000, () => reply.raw.destroy());
        await d.backend.serve(req.raw, reply.raw, {
          pathInfo: `/${basename(grant.repo)}/${rest}`,
          remoteUser: principal.userId,
          env: grant.ticket ? { FCM_PUSH_TICKET: grant.ticket } : {},
        });
      },
    });
  });
}

function authenticate(auth: Authenticator, header: string | undefined) {
  if (!header) return null;
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (bearer) return auth.authenticate(bearer[1]!);
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
  /** The forced command path put into authorized_keys lines. */
  forcedCommand: string;
  log: Logger;
  /** A pusher that reads none of the deploy output for this long is cut off (default 60 s). */
  clientStallMs?: number;
}

const COMMIT = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** The server behind `<state dir>/git/fcm.sock` (the caller listens on the socket and makes it 0600). */
export function internalGitServer(d: InternalGitDeps): Server {
  return createServer((req, res) => {
    handleInternal(d, req, res).catch((err) => {
      d.log.error({ err, url: req.url?.split('?')[0] }, 'internal git request failed');
      if (!res.headersSent) sendJson(res, 500, { code: 'internal', detail: 'internal error in the fcm daemon' });
      else res.end();
    });
  });
}

async function handleInternal(d: InternalGitDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://fcm');
  const route = `${req.method} ${url.pathname}`;
  try {
    if (route === 'GET /ssh/keys') {
      // Unknown keys are an empty 200: sshd then offers nothing, and curl logs only real failures.
      const fp = req.headers['x-fcm-fingerprint'];
      const key = typeof fp === 'string' ? d.keys.byFingerprint(fp) : null;
      return sendText(res, 200, key ? `${authorizedKeyLine(key, d.forcedCommand)}\n` : '');
    }
    if (route === 'POST /ssh/authorize') {
      const body = (await readJson(req)) as { keyId?: unknown; vm?: unknown; service?: unknown };
      if (typeof body.keyId !== 'string' || typeof body.vm !== 'string' || (body.service !== 'receive-pack' && body.service !== 'upload-pack')) {
        throw new FcmError('validation_failed', 'bad authorize request');
      }
      const grant = await d.gate.authorizeKey(body.keyId, body.vm, body.service);
      d.log.info({ keyId: body.keyId, vmId: grant.vmId, service: body.service }, 'git over SSH authorized');
      return sendJson(res, 200, { repo: grant.repo, ticket: grant.ticket });
    }
    if (route === 'POST /push') return await push(d, req, res);
    return sendJson(res, 404, { code: 'not_found', detail: `no internal route ${route}` });
  } catch (err) {
    if (!isFcmError(err)) throw err;
    req.resume();
    if (res.headersSent) return void res.end();
    return sendJson(res, err.status, { code: err.code, detail: err.message });
  }
}

async function push(d: InternalGitDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const h = (k: string) => (typeof req.headers[k] === 'string' ? (req.headers[k] as string) : '');
  const commit = h('x-fcm-commit');
  const ref = h('x-fcm-ref');
  if (!COMMIT.test(commit) || !/^refs\/heads\/(main|master)$/.test(ref) || !h('x-fcm-ticket')) {
    throw new FcmError('validation_failed', 'bad push request');
  }
  let repo: string;
  try {
    repo = realpathSync(h('x-fcm-repo'));
  } catch {
    throw new FcmError('unauthorized', 'This push was not authorized by fcm: push again.');
  }
  // Headers go out with the first line: a refused ticket can still answer with a problem.
  const start = () => {
    if (!res.headersSent) res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  };
  // At the pusher's pace: a full socket pauses the guest's output (the promise goes back to the
  // runtime); a pusher that takes nothing for clientStallMs is cut off and the deploy goes on
  // without it, as when it disconnects.
  const stallMs = d.clientStallMs ?? 60_000;
  const paced = pacedWriter(res, stallMs, () => d.log.warn({ commit, stallMs }, 'the pusher stopped reading the deploy output; cut off'));
  const out = (line: string) => {
    start();
    // Only the daemon's own last line may look like a result (the hook trusts the last line).
    return paced.write(`${line.startsWith(RESULT_PREFIX) ? ` ${line}` : line}\n`);
  };
  try {
    const outcome = await d.gate.push(h('x-fcm-ticket'), repo, { commit, ref }, req, out);
    start();
    if (!paced.gone) res.end(`${RESULT_PREFIX}${JSON.stringify(outcome.ok ? { ok: true, version: outcome.release.version } : { ok: false, error: outcome.error })}\n`);
  } finally {
    paced.stop();
  }
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      text += c;
      if (text.length > 65536) req.destroy(new Error('body too large'));
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new FcmError('validation_failed', 'body is not JSON'));
      }
    });
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(text);
}
