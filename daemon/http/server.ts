import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import sjson from 'secure-json-parse';
import { FcmError, isFcmError, type ErrorCode, type FieldError } from '../core/errors.js';
import type { Principal } from '../core/model.js';
import type { Logger } from '../log.js';
import { apiDocsRoutes } from './routes/api-docs.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { NO_LIMITS, type RequestLimits } from './limits.js';
import { operationRoutes, type Json, type OperationRoute } from './openapi-routes.js';
import { bearerToken } from './bearer.js';
import { problem } from './problem.js';
import { checkCsrf, sessionToken } from './session-cookie.js';
import { CLUSTER_HEADER } from '../core/cluster-auth.js';
import { FORWARDED, forwardCreate, forwardRequest, type ClusterHttp } from './forward.js';
import { lazyRequestLogger, RequestLineController } from './request-log.js';
import { acceptsGzip, AnswerCache, answerOf, noneMatch, type Answer } from './answer-cache.js';

export interface Authenticator {
  /** The principal for a bearer token, or null if it is unknown, expired or revoked. */
  authenticate(token: string): Principal | null;
}

export interface HandlerContext {
  req: FastifyRequest;
  reply: FastifyReply;
  /** Set for operations that require auth. */
  principal: Principal;
  params: Json;
  query: Json;
  body: Json;
  /** The client's address as limits and fair tables count it (trusted-proxy rule; IPv6: its /64). */
  client: string;
}

/** Returns the response body; the status is the operation's first 2xx response unless the handler sets one. */
export type Handler = ((ctx: HandlerContext) => Promise<unknown> | unknown) & {
  /**
   * The version of the answer this request would get (answer-cache.ts): equal keys
   * mean byte-identical answers, so the key names the caller (whose rows they see)
   * and the version of everything the answer is built from. null: build it afresh.
   * With a key, the answer is validated and serialized once, then served as bytes
   * with an ETag (and 304 to a matching If-None-Match).
   */
  answerKey?: (ctx: HandlerContext) => string | null;
};

export interface HttpDeps {
  spec: Json;
  log: Logger;
  auth: Authenticator;
  handlers: Record<string, Handler>;
  validateResponses: boolean;
  bodyLimit?: number;
  /** A request (headers and body) must arrive within this long; default 60 s (the API may face the internet). */
  requestTimeoutMs?: number;
  /** Extra non-API routes (websockets, git smart HTTP...) registered by other modules. */
  extend?: (app: FastifyInstance) => void | Promise<void>;
  /** x-websocket operations that `extend` registers itself. */
  websocketOperations?: string[];
  /** Rate limits and the trusted-proxy rule (limits.ts); default none. */
  limits?: RequestLimits;
  /**
   * Revocation (core/sessions.ts): every request made with a token is held
   * here until it has answered, so revoking the token cuts what is still
   * running — `logs -f`, a long poll.
   */
  sessions?: { open(p: Principal, end: (reason: string) => void): () => void };
  /** Several hosts on one database: requests forwarded between them (http/forward.ts). */
  cluster?: ClusterHttp;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    /** HandlerContext.client */
    client?: string;
    /** The token of the dashboard session cookie, when that (not a bearer header) authenticated the request. */
    sessionToken?: string;
    /** Another host of the cluster forwarded this request (it is never forwarded again). */
    forwardedBy?: string;
  }
  interface FastifyContextConfig {
    /** The route counts its requests itself (operations from openapi.yaml: by address or by user). */
    ownLimits?: boolean;
  }
}

/**
 * Request ids (logs, problem documents): a random prefix and a counter, `req_` + 12 hex digits.
 * Unique, not secret: drawing 6 random bytes per request was ~5% of a cached GET /v1/vms.
 * The prefix is drawn again when the counter wraps.
 */
let reqPrefix = randomBytes(3).toString('hex');
let reqCount = 0;
function nextRequestId(): string {
  if (reqCount === 0x1000000) {
    reqPrefix = randomBytes(3).toString('hex');
    reqCount = 0;
  }
  return `req_${reqPrefix}${(reqCount++).toString(16).padStart(6, '0')}`;
}

const ANONYMOUS: Principal = { userId: 'anonymous', email: null, admin: false };
/** How long a closing connection keeps discarding a request body nobody will read (nginx: lingering_time). */
const LINGER_MS = 5_000;

export async function buildServer(deps: HttpDeps): Promise<FastifyInstance> {
  const requestTimeoutMs = deps.requestTimeoutMs ?? 60_000;
  const limits = deps.limits ?? NO_LIMITS;
  const requestLines = new RequestLineController(deps.log);
  const app: FastifyInstance = Fastify({
    logController: requestLines,
    childLoggerFactory: lazyRequestLogger,
    // req.ip (and so the logs) by the same trusted-proxy rule as the limits.
    trustProxy: (address: string) => limits.trusted.has(address),
    loggerInstance: deps.log as unknown as FastifyBaseLogger,
    bodyLimit: deps.bodyLimit ?? 64 * 1024,
    genReqId: nextRequestId,
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    // A client that never finishes sending its request must not hold a connection forever.
    requestTimeout: requestTimeoutMs,
    // Host is checked below, so a missing one gets a problem document instead of Node's bare 400.
    http: { requireHostHeader: false, connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(requestTimeoutMs / 2))) },
    // Requests Node's parser or the router reject before any route runs: still problem+json.
    clientErrorHandler: clientErrorProblem,
    frameworkErrors: (err, req, reply) => sendProblem(reply, problem('validation_failed', err.message, { requestId: req.id })),
  });
  requestLines.attach(app.log as Logger);
  // Expect values other than 100-continue: serve the request (RFC 9110 allows it) instead of Node's bare 417.
  app.server.on('checkExpectation', (req, res) => app.server.emit('request', req, res));
  // CONNECT (proxy tunnels) never reaches a route; without a listener Node drops the connection unanswered.
  app.server.on('connect', (_req, socket: Duplex) => socket.end(rawProblem('method_not_allowed', 'CONNECT is not supported.')));
  // Hooks on every request are callback-style (done), not async: an async hook costs a promise and
  // a microtask turn each, on every request. A throw inside one is caught by fastify's hook runner
  // and answered like a rejection.
  // Node keeps the first of several Authorization or Host headers and drops the rest; a proxy in
  // front may pick another one. Ambiguous credentials or targets are refused outright.
  // One hook for all of it (each hook is a step of fastify's hook runner on every request).
  app.addHook('onRequest', (req, _reply, done) => {
    let host = 0;
    let auth = 0;
    const raw = req.raw.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      // (Only names of the right length are lowercased: one string made per header otherwise.)
      const n = raw[i]!;
      if (n.length === 4 && n.toLowerCase() === 'host') host++;
      else if (n.length === 13 && n.toLowerCase() === 'authorization') auth++;
    }
    if (auth > 1) throw new FcmError('validation_failed', 'More than one Authorization header.');
    if (host > 1) throw new FcmError('validation_failed', 'More than one Host header.');
    if (host === 0 && req.raw.httpVersion === '1.1') throw new FcmError('validation_failed', 'HTTP/1.1 requests need a Host header.');
    // Who is asking (trusted-proxy rule). Requests that are not spec operations (docs, the web
    // console page, git over HTTPS, unknown paths) count against their address's public limit;
    // operations count in their own onRequest (by address, or by user once authenticated).
    const next = () => {
      try {
        req.client = limits.clientOf(req.raw);
        if (!req.routeOptions.config?.ownLimits) limits.address('public', req.client);
      } catch (e) {
        return done(e as Error);
      }
      done();
    };
    // A request that declares a body goes on after the parser has had the bytes it already holds:
    // Node emits the request from inside its parse of the headers, and a body that breaks the framing
    // (a bogus Transfer-Encoding, a bad chunk size) is found only when that parse goes on. Answered
    // synchronously (a GET's kept answer), it went out as 200 before the framing error's 400
    // (fuzz-api: "200 for a request the spec forbids"); a microtask later the error is answered first.
    if (req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0') queueMicrotask(next);
    else next();
  });

  // An answer sent before the request body was read (413, 401, 404...) on a connection that then
  // closes: closing at once while the client is still sending makes the kernel reset the
  // connection, and the client may lose the answer it was already sent ("broken pipe" instead
  // of a problem document). Such connections close gracefully instead (lingerOnClose).
  app.addHook('onSend', (req, _reply, payload, done) => {
    if (!req.raw.complete) lingerOnClose(req.raw.socket);
    done(null, payload);
  });

  // Two validators built from the spec's own schemas (OpenAPI 3.1 = JSON Schema 2020-12):
  // query/path strings are coerced to the declared types; bodies are not.
  const mk = (coerce: boolean) => {
    const ajv = new Ajv2020({ allErrors: true, coerceTypes: coerce, useDefaults: true, strict: true, allowUnionTypes: true });
    addFormats.default(ajv);
    return ajv;
  };
  const ajvCoerce = mk(true);
  const ajvStrict = mk(false);
  // Responses are checked for their shape (types, required and unknown properties, enums,
  // patterns, bounds), not for `format`: the server writes those values itself (toISOString,
  // URLs from the planners), and the date-time/uri regexes were the largest part of the check
  // (~a fifth of the CPU of GET /v1/vms with 50 VMs). Requests keep full format validation.
  const ajvResponse = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true, validateFormats: false });
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? ajvStrict : ajvCoerce).compile(schema as Json));

  // JSON bodies: an empty body with a JSON content type means "no body" (curl -X POST -H ...);
  // secure-json-parse rejects prototype poisoning.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }));
    } catch (e) {
      done(new FcmError('validation_failed', `The request body is not valid JSON: ${(e as Error).message}`), undefined);
    }
  });

  answerErrorsAsProblems(app);

  app.get('/openapi.json', { logLevel: 'warn' }, async () => deps.spec);
  apiDocsRoutes(app, deps.spec);
  dashboardRoutes(app);

  const routes = operationRoutes(deps.spec);
  const ws = new Set(deps.websocketOperations ?? []);
  const missing = routes.filter((r) => (r.websocket ? !ws.has(r.operationId) : !deps.handlers[r.operationId])).map((r) => r.operationId);
  if (missing.length) throw new Error(`openapi.yaml operations without a handler: ${missing.join(', ')}`);
  const extra = [...Object.keys(deps.handlers), ...ws].filter((id) => !routes.some((r) => r.operationId === id));
  if (extra.length) throw new Error(`handlers for operations not in openapi.yaml: ${extra.join(', ')}`);

  for (const route of routes) if (!route.websocket) registerOperation(app, route, deps, limits, ajvResponse);
  if (deps.extend) await deps.extend(app);
  return app;
}

/**
 * Every error a route throws, a failed validation and an unknown route become
 * an RFC 9457 problem document with a code from the one table (core/errors.ts);
 * unknown errors an opaque 500, logged once. Shared by the API server and the
 * internal git socket (http/routes/git.ts).
 */
export function answerErrorsAsProblems(app: FastifyInstance): void {
  app.setNotFoundHandler((req, reply) => {
    sendProblem(reply, problem('not_found', `No route for ${req.method} ${req.url.split('?')[0]}.`, { requestId: req.id }));
  });

  app.setErrorHandler((err: Error & { validation?: any[]; validationContext?: string; code?: string; statusCode?: number }, req, reply) => {
    if (err.validation) {
      const where = err.validationContext ?? 'body';
      const errors: FieldError[] = err.validation.map((v: any) => ({
        path: `/${where}${v.instancePath ?? ''}${v.params?.missingProperty ? `/${v.params.missingProperty}` : ''}${v.params?.additionalProperty ? `/${v.params.additionalProperty}` : ''}`,
        message: v.params?.additionalProperty ? 'is not a known property' : String(v.message),
      }));
      const detail = errors.map((e) => `${e.path} ${e.message}`).join('; ');
      return sendProblem(reply, problem('validation_failed', detail, { errors, requestId: req.id }));
    }
    if (isFcmError(err)) {
      if (err.status >= 500) req.log.error({ err, code: err.code }, err.message);
      if (err.retryAfterSec !== undefined) reply.header('retry-after', String(err.retryAfterSec));
      return sendProblem(reply, problem(err.code, err.message, { requestId: req.id, ...(err.errors ? { errors: err.errors } : {}), ...(err.limit ? { limit: err.limit } : {}) }));
    }
    const code = fastifyCode(err);
    if (code) return sendProblem(reply, problem(code, err.message, { requestId: req.id }));
    req.log.error({ err }, 'unhandled error');
    return sendProblem(reply, problem('internal', `Something went wrong on the server (request ${req.id}).`, { requestId: req.id }));
  });
}

function registerOperation(app: FastifyInstance, route: OperationRoute, deps: HttpDeps, limits: RequestLimits, ajv: Ajv2020): void {
  const handler = deps.handlers[route.operationId]!;
  const answers = handler.answerKey && route.method === 'GET' ? new AnswerCache() : null;
  const okStatus = Number(Object.keys(route.responses).find((c) => /^2\d\d$/.test(c)) ?? 200);
  const responseValidators = Object.fromEntries(
    Object.entries(route.responses).map(([code, schema]) => [code, schema ? ajv.compile(schema) : null]),
  );

  /** Who is asking (token, session cookie or a cluster peer's signature) and their rate limit; throws unauthorized / rate_limited. */
  const authorize = (req: FastifyRequest, reply: FastifyReply): void => {
    if (!route.auth) {
      limits.address(route.rateLimit, req.client!);
      req.principal = ANONYMOUS;
      return;
    }
    // Another host forwarding a user's request: its cluster signature, never the user's token.
    const fwd = req.headers[CLUSTER_HEADER];
    if (fwd !== undefined) {
      const got = typeof fwd === 'string' && req.headers.authorization === undefined ? deps.cluster?.authenticate(fwd, req.method, req.raw.url ?? '') : null;
      if (!got) throw new FcmError('unauthorized', 'The cluster signature is not valid (a host of another cluster, a stale clock, or a forged request).');
      limits.principal(got.principal);
      req.principal = got.principal;
      req.forwardedBy = got.from;
      return;
    }
    // A bearer header wins; without one, the dashboard's session cookie (session-cookie.ts).
    const header = req.headers.authorization;
    const cookie = header === undefined ? sessionToken(req) : null;
    const token = header === undefined ? cookie : bearerToken(header);
    if (token === null) throw new FcmError('unauthorized', 'This needs an fcm token: send "Authorization: Bearer <token>" (fcm login, or the admin token).');
    const principal = deps.auth.authenticate(token);
    if (!principal) throw new FcmError('unauthorized', 'The token is unknown, expired or revoked. Run: fcm login');
    if (cookie !== null) {
      checkCsrf(req, cookie);
      req.sessionToken = cookie;
    }
    limits.principal(principal);
    req.principal = principal;
    if (!sessionInHandler) holdOpen(req, reply, principal);
  };

  // Operations whose answers are kept (answer-cache.ts) open their live session in the handler, once
  // the answer is known not to be a kept one: a kept answer is written in the same turn as the
  // authentication, so there is nothing running for a revocation to cut, and registering it (a Set
  // entry, a close listener, its removal) was ~1% of a kept GET /v1/vms. Not for operations with a
  // preHandler (a cluster forwarding before the handler): their session must be open before that.
  const hasPreHandler = deps.cluster !== undefined && (FORWARDED.has(route.operationId) || route.operationId === 'createVm');
  const sessionInHandler = answers !== null && !hasPreHandler;
  /** Revocation (HttpDeps.sessions) reaches this request until it has answered. */
  const holdOpen = (req: FastifyRequest, reply: FastifyReply, principal: Principal): void => {
    if (!deps.sessions) return;
    // An answer already complete is left to go out (the logout request revokes its own token).
    const closed = deps.sessions.open(principal, () => {
      if (!reply.raw.writableEnded) req.raw.socket?.destroy?.();
    });
    // ('close' comes once: no once() wrapper needed.)
    reply.raw.on('close', closed);
  };

  app.route({
    method: route.method,
    url: route.url,
    schema: route.schema,
    config: { ownLimits: true },
    onRequest: (req, reply, done) => {
      authorize(req, reply);
      done();
    },
    // An optional body that was not sent validates (and gets its defaults) as {}.
    ...(route.schema.body && !route.bodyRequired
      ? {
          preValidation: (req: FastifyRequest, _reply: FastifyReply, done: () => void) => {
            if (req.body === undefined || req.body === null) req.body = {};
            done();
          },
        }
      : {}),
    // A VM-bound operation on a VM another (live) host runs goes to that host, streaming back.
    ...(deps.cluster && FORWARDED.has(route.operationId)
      ? {
          preHandler: async (req: FastifyRequest, reply: FastifyReply) => {
            if (req.forwardedBy !== undefined) return;
            const base = deps.cluster!.ownerOf(String((req.params as Json).name));
            if (base) return forwardRequest(deps.cluster!, base, req, reply);
          },
        }
      : {}),
    ...(deps.cluster && route.operationId === 'createVm'
      ? {
          preHandler: async (req: FastifyRequest, reply: FastifyReply) => {
            if (req.forwardedBy !== undefined) return;
            const sent = await forwardCreate(deps.cluster!, req, reply);
            if (sent) return sent;
          },
        }
      : {}),
    preSerialization: async (req, reply, payload) => {
      const status = String(reply.statusCode);
      const validate = responseValidators[status] ?? responseValidators.default;
      if (!validate || validate(payload)) return payload;
      req.log.error({ operationId: route.operationId, status, errors: validate.errors }, 'response does not match openapi.yaml');
      if (!deps.validateResponses) return payload;
      reply.code(500).type('application/problem+json');
      return problem('internal', `The server produced a response that does not match its API contract (request ${req.id}).`, { requestId: req.id });
    },
    // Not async: a kept answer goes out synchronously, without a promise and a microtask turn.
    handler: (req, reply) => {
      const ctx: HandlerContext = {
        req,
        reply,
        principal: req.principal ?? ANONYMOUS,
        params: (req.params ?? {}) as Json,
        query: (req.query ?? {}) as Json,
        body: (req.body ?? {}) as Json,
        client: req.client!,
      };
      const key = answers ? handler.answerKey!(ctx) : null;
      if (key !== null) {
        const hit = answers!.get(key);
        if (hit) {
          sendAnswer(req, reply, hit);
          return undefined;
        }
      }
      // (As authorize would have: a request authenticated by a token or session cookie, not a cluster peer's signature.)
      if (sessionInHandler && req.principal !== undefined && req.principal !== ANONYMOUS && req.forwardedBy === undefined) holdOpen(req, reply, req.principal);
      return answer(ctx, reply, key);
    },
  });

  /** The handler's answer (kept when it has a key): the reply, or the body for fastify to check and send. */
  async function answer(ctx: HandlerContext, reply: FastifyReply, key: string | null): Promise<unknown> {
    const req = ctx.req;
    const result = await handler(ctx);
    if (reply.sent) return reply;
    if (reply.statusCode === 200 && okStatus !== 200) reply.code(okStatus);
    if (okStatus === 204 || result === undefined) return reply.send();
    // Kept only if nothing changed while it was built, and only once it matched the contract
    // (the bytes served later are these, checked here once); otherwise the usual path below
    // (preSerialization) checks it and answers 500 if it does not match.
    if (key !== null && reply.statusCode === okStatus && handler.answerKey!(ctx) === key) {
      const validate = responseValidators[String(okStatus)] ?? responseValidators.default;
      if (!validate || validate(result)) {
        const a = answerOf(JSON.stringify(result));
        answers!.set(key, a);
        return sendAnswer(req, reply, a);
      }
    }
    return result;
  }
}

/**
 * A kept answer: its bytes, or 304 when the client holds them already. Per caller, never for shared caches.
 * The 200 goes out with one writeHead and end on the raw response instead of fastify's reply
 * pipeline (its header setters, content-type and length checks, the onSend hook runner): the
 * same status, headers and body as before (test/api/answer-cache.test.ts compares them), and
 * what the onSend hook does (lingerOnClose) done here. fastify's response listeners were set
 * before the route ran, so the request line, onResponse and its timers go on as before.
 * Headers set earlier (a hook's reply.header) send it the usual way; an onSend hook added to
 * the API server later would not run for kept answers: do its work here too.
 */
function sendAnswer(req: FastifyRequest, reply: FastifyReply, a: Answer): FastifyReply {
  const rep = a.gzip && acceptsGzip(req.headers['accept-encoding']) ? a.gzip : a;
  // Either tag names the current list (the client's copy is current, whichever coding it came in).
  const inm = req.headers['if-none-match'];
  const current = inm !== undefined && (noneMatch(inm, a.etag) || (a.gzip !== null && noneMatch(inm, a.gzip.etag)));
  if (!current && reply.statusCode === 200 && Object.keys(reply.getHeaders()).length === 0) {
    if (!req.raw.complete) lingerOnClose(req.raw.socket);
    reply.raw.writeHead(200, rep.headers);
    reply.raw.end(rep.body);
    return reply;
  }
  reply.header('etag', rep.etag).header('cache-control', 'private, no-cache').header('vary', 'Accept-Encoding');
  if (current) return reply.code(304).send();
  if (rep !== a) reply.header('content-encoding', 'gzip');
  return reply.type('application/json; charset=utf-8').send(rep.body);
}

const LINGERING = Symbol('fcm.lingering');

/**
 * Lingering close (as Apache and nginx do it): when Node closes this connection after the
 * response, half-close it (FIN after the answer) and keep reading and discarding what the
 * client still sends until it closes its side or LINGER_MS pass, then drop it. The answer
 * reaches the client; nothing more is read into memory than the parser's buffer.
 */
function lingerOnClose(socket: Socket): void {
  const s = socket as Socket & { destroySoon?: () => void; [LINGERING]?: true };
  if (s[LINGERING] || typeof s.destroySoon !== 'function') return;
  s[LINGERING] = true;
  s.destroySoon = () => {
    s.end();
    const timer = setTimeout(() => s.destroy(), LINGER_MS);
    timer.unref();
    s.once('end', () => s.destroy());
    s.once('close', () => clearTimeout(timer));
    s.resume();
  };
}

/** Malformed HTTP (bad framing, oversized headers, timeouts): answered on the raw socket, as problem+json. */
function clientErrorProblem(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  // Answered already and closing (lingerOnClose): the client stopped mid-body, which is fine.
  if (socket.writableEnded) return void socket.destroy();
  const detail =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? 'The request headers are too large.'
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? 'The request did not arrive in time.'
        : `Malformed HTTP request (${err.code ?? 'parse error'}).`;
  socket.end(rawProblem('validation_failed', detail));
}

/** A complete HTTP/1.1 response carrying a problem document, for sockets no route will answer. */
function rawProblem(code: ErrorCode, detail: string): string {
  const p = problem(code, detail);
  const body = JSON.stringify(p);
  return `HTTP/1.1 ${p.status} ${p.title}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

function sendProblem(reply: FastifyReply, p: ReturnType<typeof problem>): FastifyReply {
  if (p.status === 401) reply.header('www-authenticate', 'Bearer realm="fcm"');
  return reply.code(p.status).type('application/problem+json').send(p);
}

/** Fastify's own client errors, mapped onto our codes. */
function fastifyCode(err: { code?: string; statusCode?: number }): ErrorCode | null {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'payload_too_large';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'unsupported_media_type' : 'validation_failed';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return 'validation_failed';
  }
  if (err.statusCode === 404) return 'not_found';
  if (err.statusCode === 405) return 'method_not_allowed';
  if (err.statusCode === 413) return 'payload_too_large';
  if (err.statusCode === 415) return 'unsupported_media_type';
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return 'validation_failed';
  return null;
}
