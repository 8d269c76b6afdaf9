/**
 * The console over HTTP: `createConsoleTicket` (a JSON operation), the
 * `openConsole` WebSocket (openapi.yaml, x-websocket) and the web console
 * page. Authentication and ownership are settled in the HTTP upgrade
 * handler, before any WebSocket exists: a refusal is an ordinary
 * problem+json response (401 no/bad credentials, 404 not your VM,
 * 409 not running), so clients see the same errors as everywhere else.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { CLOSE, parseClientControl } from '../../core/console.js';
import type { ConsoleAttachment, ConsoleClient, ConsoleService } from '../../core/console-service.js';
import { FcmError, isFcmError } from '../../core/errors.js';
import type { Principal, VmRecord } from '../../core/model.js';
import type { Logger } from '../../log.js';
import { bearerToken } from '../bearer.js';
import { operationRoutes, type Json } from '../openapi-routes.js';
import { problem } from '../problem.js';
import { NO_LIMITS, type RequestLimits } from '../limits.js';
import type { Authenticator, Handler } from '../server.js';
import { CLUSTER_HEADER } from '../../core/cluster-auth.js';
import type { ClusterHttp } from '../forward.js';
import { relayUpgrade } from '../forward-upgrade.js';
import { CONSOLE_CSS, CONSOLE_JS, consolePageHtml } from './console-page.js';

export interface ConsoleHttpDeps {
  spec: Json;
  auth: Authenticator;
  consoles: ConsoleService;
  log: Logger;
  /** Largest frame a client may send (a paste); bigger ones close the connection (1009). */
  maxFrameBytes?: number;
  /** Ping interval; a client that misses a pong is dropped. */
  heartbeatMs?: number;
  /** The same limits as the JSON API (a ticket or no credentials: the public class of the client's address). */
  limits?: RequestLimits;
  /** Revocation (core/sessions.ts): each open console is held with the principal that opened it. */
  sessions?: { open(p: Principal, end: (reason: string) => void): () => void };
  /** Several hosts on one database: a console of a VM another host runs is relayed there (http/forward-upgrade.ts). */
  cluster?: ClusterHttp;
  /**
   * Other upgrades on the API server (the cluster's git tunnel, routes/git.ts; fcm run, routes/run.ts):
   * true when it took the request. Asked for paths that are not the console's.
   */
  otherUpgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer, url: URL) => boolean;
}

/** Takes an HTTP upgrade request if it is for its path (returns true), else leaves it (false): see `otherUpgrade`. */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => boolean;

/** createConsoleTicket: thin, like every handler. */
export function consoleHandlers(consoles: ConsoleService): Record<string, Handler> {
  return {
    createConsoleTicket: ({ principal, params }) => {
      const g = consoles.issueTicket(principal, params.name);
      return { ticket: g.ticket, expiresAt: g.expiresAt.toISOString(), webUrl: `/console/${encodeURIComponent(g.vm.name)}#ticket=${g.ticket}` };
    },
  };
}

/**
 * Pings every client of `wss` each `ms`; one that did not answer the previous ping
 * (a laptop that vanished without closing) is terminated. `track` each accepted socket.
 */
export function heartbeat(wss: WebSocketServer, ms: number): { track(ws: WebSocket): void; stop(): void } {
  const alive = new WeakMap<WebSocket, boolean>();
  const timer = setInterval(() => {
    for (const ws of wss.clients) {
      if (alive.get(ws) === false) {
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  }, ms);
  timer.unref();
  return {
    track: (ws) => {
      alive.set(ws, true);
      ws.on('pong', () => alive.set(ws, true));
    },
    stop: () => clearInterval(timer),
  };
}

const CONSOLE_PATH = /^\/v1\/vms\/([^/?#]+)\/console\/?$/;
const PAGE_PATH = /^\/console\/([^/?#]+)\/?$/;

/** The `extend` hook for buildServer: the upgrade handler, the plain-GET answer and the web console. */
export function consoleRoutes(d: ConsoleHttpDeps): (app: FastifyInstance) => void {
  const route = operationRoutes(d.spec).find((r) => r.operationId === 'openConsole');
  if (!route) throw new Error('openapi.yaml has no openConsole operation');
  const ajv = new Ajv2020({ allErrors: true, coerceTypes: true, strict: true, allowUnionTypes: true });
  addFormats.default(ajv);
  const validParams = ajv.compile(route.schema.params ?? { type: 'object' });
  const validQuery = ajv.compile(route.schema.querystring ?? { type: 'object' });
  const limits = d.limits ?? NO_LIMITS;

  /** Who is asking and for which VM; throws FcmError (→ problem response). `forwarded`: another host of the cluster relayed it. */
  const authorize = (req: IncomingMessage, url: URL, rawName: string): { vm: VmRecord; principal: Principal; forwarded?: boolean } => {
    let name: string;
    try {
      name = decodeURIComponent(rawName);
    } catch {
      throw new FcmError('validation_failed', 'The VM name in the path is not valid URL encoding.');
    }
    const query = Object.fromEntries(url.searchParams);
    check(validParams, { name }, 'path');
    check(validQuery, query, 'query');
    const header = req.headers.authorization;
    // Another host relaying its user's console: its cluster signature, never the user's token.
    const fwd = req.headers[CLUSTER_HEADER];
    if (fwd !== undefined) {
      const got = typeof fwd === 'string' && header === undefined ? d.cluster?.authenticate(fwd, 'GET', req.url ?? '') : null;
      if (!got) throw new FcmError('unauthorized', 'The cluster signature is not valid (a host of another cluster, a stale clock, or a forged request).');
      limits.principal(got.principal);
      return { vm: d.consoles.authorize(got.principal, name), principal: got.principal, forwarded: true };
    }
    if (header !== undefined) {
      const token = bearerToken(header);
      const principal: Principal | null = token === null ? null : d.auth.authenticate(token);
      if (!principal) throw new FcmError('unauthorized', 'The token is unknown, expired or revoked. Run: fcm login');
      limits.principal(principal);
      return { vm: d.consoles.authorize(principal, name), principal };
    }
    limits.address('public', limits.clientOf(req));
    if (typeof query.ticket === 'string') return d.consoles.authorizeTicket(query.ticket, name);
    throw new FcmError('unauthorized', 'The console needs "Authorization: Bearer <token>" (fcm console) or ?ticket= from POST /v1/vms/{name}/console/tickets (web console).');
  };

  return (app) => {
    const wss = new WebSocketServer({ noServer: true, maxPayload: d.maxFrameBytes ?? 1024 * 1024, perMessageDeflate: false });
    const beat = heartbeat(wss, d.heartbeatMs ?? 30_000);

    app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const reqId = `req_${randomBytes(6).toString('hex')}`;
      const url = new URL(req.url ?? '/', 'http://fcm.invalid');
      const log = d.log.child({ reqId });
      socket.on('error', () => {});
      const m = CONSOLE_PATH.exec(url.pathname);
      if (!m && d.otherUpgrade?.(req, socket, head, url)) return;
      let vm: VmRecord;
      let principal: Principal;
      let owner: string | null = null;
      try {
        if (!m) throw new FcmError('not_found', `No WebSocket endpoint at ${url.pathname}.`);
        if (req.method !== 'GET') throw new FcmError('method_not_allowed', 'WebSocket upgrades use GET.');
        let forwarded: boolean | undefined;
        ({ vm, principal, forwarded } = authorize(req, url, m[1]!));
        // A VM another (live) host runs: its console is there. A relayed request is never relayed again.
        if (!forwarded && d.cluster) owner = d.cluster.ownerOf(vm.name);
      } catch (e) {
        const err = isFcmError(e) ? e : new FcmError('internal', `Something went wrong on the server (request ${reqId}).`);
        if (!isFcmError(e)) log.error({ err: e }, 'console upgrade failed');
        log.info({ path: url.pathname, status: err.status, code: err.code }, 'console upgrade refused');
        return refuse(socket, err, reqId);
      }
      if (owner) {
        // The ticket (if any) was used up here; the owning host gets the signature instead. Revocation
        // is enforced there: the signature carries the token, and that host ends the console with 1008.
        const path = `/v1/vms/${encodeURIComponent(vm.name)}/console`;
        relayUpgrade({
          cluster: d.cluster!,
          base: owner,
          path,
          principal,
          req,
          socket,
          head,
          unreachable: (err) => {
            log.warn({ vmId: vm.id, owner, err: err.message }, 'console relay refused: the owning host did not answer');
            refuse(socket, err, reqId);
          },
          onOpen: () => log.info({ vmId: vm.id, vm: vm.name, owner, via: req.headers.authorization ? 'bearer' : 'ticket' }, 'console relayed to the owning host'),
          onClose: () => log.info({ vmId: vm.id }, 'console relay closed'),
        });
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        beat.track(ws);
        log.info({ vmId: vm.id, vm: vm.name, via: req.headers.authorization ? 'bearer' : 'ticket' }, 'console connected');
        // Revoking the token (or the user) that opened it closes it: 1008, after saying why.
        const done = d.sessions?.open(principal, (reason) => {
          log.info({ vmId: vm.id, userId: principal.userId }, 'console closed: access revoked');
          if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'error', message: `Console closed: ${reason}.` }), { binary: false });
          ws.close(CLOSE.revoked, 'access revoked');
          setTimeout(() => ws.terminate(), 2000).unref();
        });
        if (done) ws.once('close', done);
        void bind(ws, vm, d.consoles, log);
      });
    });
    // Before the server stops: tell clients to come back (1001), give them a moment to
    // close cleanly, then cut the rest (an upgraded socket would hold server.close() open).
    app.addHook('preClose', async () => {
      beat.stop();
      d.consoles.close();
      const deadline = Date.now() + 500;
      while (wss.clients.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    });

    // A plain GET (no Upgrade): same auth answers, then say what this endpoint is.
    app.get('/v1/vms/:name/console', { logLevel: 'warn', config: { ownLimits: true } }, async (req) => {
      const url = new URL(req.url, 'http://fcm.invalid');
      authorize(req.raw, url, (req.params as { name: string }).name);
      throw new FcmError('validation_failed', 'This is a WebSocket endpoint: connect with "Upgrade: websocket" (fcm console, or the web console).');
    });

    app.get('/console/:name', { logLevel: 'warn' }, async (req, reply) => {
      const m = PAGE_PATH.exec(new URL(req.url, 'http://fcm.invalid').pathname);
      const name = m ? safeDecode(m[1]!) : null;
      if (!name || !validParams({ name })) throw new FcmError('not_found', 'No such console page: /console/<vm name>.');
      return pageHeaders(reply, 'text/html; charset=utf-8').send(consolePageHtml(name));
    });
    app.get('/console/assets/:file', { logLevel: 'warn' }, async (req, reply) => {
      const asset = assets()[(req.params as { file: string }).file];
      if (!asset) throw new FcmError('not_found', 'No such console asset.');
      return pageHeaders(reply, asset.type).header('cache-control', 'public, max-age=3600').send(asset.body);
    });
  };
}

export function check(v: ValidateFunction, value: unknown, where: string): void {
  if (v(value)) return;
  const errors = (v.errors ?? []).map((e) => ({
    path: `/${where}${e.instancePath}${e.params && 'additionalProperty' in e.params ? `/${String(e.params.additionalProperty)}` : ''}`,
    message: e.params && 'additionalProperty' in e.params ? 'is not a known property' : String(e.message),
  }));
  throw new FcmError('validation_failed', errors.map((e) => `${e.path} ${e.message}`).join('; '), { errors });
}

/** A refused upgrade: a complete HTTP/1.1 problem+json response, then the socket is closed. */
export function refuse(socket: Duplex, err: FcmError, reqId: string): void {
  const p = problem(err.code, err.message, { requestId: reqId, ...(err.errors ? { errors: err.errors } : {}) });
  const body = JSON.stringify(p);
  const headers = [
    `HTTP/1.1 ${p.status} ${p.title}`,
    'Content-Type: application/problem+json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    `X-Request-Id: ${reqId}`,
    ...(p.status === 401 ? ['WWW-Authenticate: Bearer realm="fcm"'] : []),
    ...(err.retryAfterSec !== undefined ? [`Retry-After: ${err.retryAfterSec}`] : []),
    'Connection: close',
  ];
  if (!socket.writable) return void socket.destroy();
  socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`);
}

/** The session side of one WebSocket: frames ↔ ConsoleService. */
async function bind(ws: WebSocket, vm: VmRecord, consoles: ConsoleService, log: Logger): Promise<void> {
  const client: ConsoleClient = {
    sendBytes: (b) => ws.readyState === ws.OPEN && ws.send(b, { binary: true }),
    sendControl: (msg) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(msg), { binary: false }),
    get bufferedBytes() {
      return ws.bufferedAmount;
    },
    close: (code, reason) => {
      ws.close(code, reason);
      // A dropped slow client gets its close frame behind its backlog; don't hold that backlog long.
      if (code === CLOSE.tooSlow) setTimeout(() => ws.terminate(), 2000).unref();
    },
    pauseInput: () => ws.pause(),
    resumeInput: () => ws.resume(),
  };
  let att: ConsoleAttachment | null = null;
  let closed = false;
  const early: [RawData, boolean][] = [];
  const handle = (data: RawData, isBinary: boolean) => {
    if (!att) return void early.push([data, isBinary]);
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (isBinary) return att.input(buf);
    const msg = parseClientControl(buf.toString('utf8'));
    if ('error' in msg) client.sendControl({ type: 'error', message: msg.error });
    else att.control(msg);
  };
  ws.on('message', handle);
  ws.on('error', () => {});
  ws.on('close', (code) => {
    closed = true;
    log.info({ vmId: vm.id, code }, 'console disconnected');
    att?.detach();
  });
  try {
    att = await consoles.attach(vm, client);
  } catch (err) {
    log.error({ err, vmId: vm.id }, 'console attach failed');
    ws.close(CLOSE.goingAway, 'console unavailable');
    return;
  }
  if (closed) return att.detach();
  for (const [data, isBinary] of early.splice(0)) handle(data, isBinary);
}

function safeDecode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

function pageHeaders<R extends { header(k: string, v: string): R; type(t: string): R }>(reply: R, type: string): R {
  return reply
    .type(type)
    .header('content-security-policy', "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    .header('referrer-policy', 'no-referrer')
    .header('x-content-type-options', 'nosniff')
    .header('cache-control', 'no-store');
}

interface Asset {
  type: string;
  body: string | Buffer;
}

let cached: Record<string, Asset> | null = null;

/** xterm.js from node_modules (resolved from here: works from source and from dist/). */
function assets(): Record<string, Asset> {
  if (cached) return cached;
  const xtermDir = dirname(createRequire(import.meta.url).resolve('@xterm/xterm/package.json'));
  cached = {
    'xterm.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(join(xtermDir, 'lib', 'xterm.js')) },
    'xterm.css': { type: 'text/css; charset=utf-8', body: readFileSync(join(xtermDir, 'css', 'xterm.css')) },
    'console.js': { type: 'text/javascript; charset=utf-8', body: CONSOLE_JS },
    'console.css': { type: 'text/css; charset=utf-8', body: CONSOLE_CSS },
  };
  return cached;
}
