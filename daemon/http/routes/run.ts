/**
 * `runCommand` (openapi.yaml, x-websocket): `fcm run` over a WebSocket.
 * Everything that can refuse happens before the upgrade — query validation
 * from the spec, the bearer token, ownership, state, the per-VM cap, waking
 * the VM and the guest agent starting the command — so every refusal is an
 * ordinary problem+json answer. After the upgrade the route only relays:
 * output as binary frames tagged 1 (stdout) / 2 (stderr), stdin from binary
 * frames, `eof` and `signal` text frames, then the exit report and close.
 *
 * Why bearer only (no console tickets): a ticket stands in for the header a
 * browser cannot set on a WebSocket, and there is no browser client of runs.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { CLUSTER_HEADER } from '../../core/cluster-auth.js';
import { FcmError, isFcmError } from '../../core/errors.js';
import type { Principal } from '../../core/model.js';
import { EXEC_SIGNALS, type ExecChannel, type ExecSignal } from '../../core/ports/guest-exec.js';
import type { RunService } from '../../core/run-service.js';
import type { Logger } from '../../log.js';
import { bearerToken } from '../bearer.js';
import type { ClusterHttp } from '../forward.js';
import { relayUpgrade } from '../forward-upgrade.js';
import { NO_LIMITS, type RequestLimits } from '../limits.js';
import { operationRoutes, type Json } from '../openapi-routes.js';
import type { Authenticator } from '../server.js';
import { check, heartbeat, refuse, type UpgradeHandler } from './console.js';

export interface RunHttpDeps {
  spec: Json;
  auth: Authenticator;
  runs: RunService;
  log: Logger;
  limits?: RequestLimits;
  sessions?: { open(p: Principal, end: (reason: string) => void): () => void };
  /** Output queued for a client beyond this pauses the command's output (its pipe fills, it blocks). */
  highWaterBytes?: number;
  /** Largest stdin frame a client may send. */
  maxFrameBytes?: number;
  /** Ping interval; a client that misses a pong is dropped (and its command killed): a vanished laptop must not leave a command running until its deadline. */
  heartbeatMs?: number;
  /** Several hosts on one database: a run in a VM another host runs is relayed there (http/forward-upgrade.ts), as a console is. */
  cluster?: ClusterHttp;
}

const RUN_PATH = /^\/v1\/vms\/([^/?#]+)\/run\/?$/;
const TAG = { stdout: 1, stderr: 2 } as const;

/** The upgrade handler (for consoleRoutes' `upgrades`) and the rest (a plain GET's answer, shutdown). */
export function runRoutes(d: RunHttpDeps): { upgrade: UpgradeHandler; extend: (app: FastifyInstance) => void } {
  const route = operationRoutes(d.spec).find((r) => r.operationId === 'runCommand');
  if (!route) throw new Error('openapi.yaml has no runCommand operation');
  const ajv = new Ajv2020({ allErrors: true, coerceTypes: true, strict: true, allowUnionTypes: true, useDefaults: true });
  addFormats.default(ajv);
  const validParams = ajv.compile(route.schema.params ?? { type: 'object' });
  const validQuery = ajv.compile(route.schema.querystring ?? { type: 'object' });
  const limits = d.limits ?? NO_LIMITS;
  const highWater = d.highWaterBytes ?? 1024 * 1024;
  const wss = new WebSocketServer({ noServer: true, maxPayload: d.maxFrameBytes ?? 1024 * 1024, perMessageDeflate: false });
  let closing = false;
  const beat = heartbeat(wss, d.heartbeatMs ?? 30_000);

  const authorize = (req: IncomingMessage, url: URL, rawName: string) => {
    let name: string;
    try {
      name = decodeURIComponent(rawName);
    } catch {
      throw new FcmError('validation_failed', 'The VM name in the path is not valid URL encoding.');
    }
    // argv repeats: the query as the schema's types (ajv coerces timeout; argv is always an array here).
    const query: Record<string, unknown> = { argv: url.searchParams.getAll('argv') };
    for (const [k, v] of url.searchParams) if (k !== 'argv') query[k] = v;
    check(validParams, { name }, 'path');
    check(validQuery, query, 'query');
    // Another host relaying its user's run: its cluster signature, never the user's token.
    const fwd = req.headers[CLUSTER_HEADER];
    if (fwd !== undefined) {
      const got = typeof fwd === 'string' && req.headers.authorization === undefined ? d.cluster?.authenticate(fwd, 'GET', req.url ?? '') : null;
      if (!got) throw new FcmError('unauthorized', 'The cluster signature is not valid (a host of another cluster, a stale clock, or a forged request).');
      limits.principal(got.principal);
      return { principal: got.principal, ticket: d.runs.check(got.principal, name, query.argv as string[], query.timeout as number), forwarded: true };
    }
    const token = req.headers.authorization === undefined ? null : bearerToken(req.headers.authorization);
    const principal = token === null ? null : d.auth.authenticate(token);
    if (!principal) throw new FcmError('unauthorized', 'fcm run needs "Authorization: Bearer <token>" of a valid login. Run: fcm login');
    limits.principal(principal);
    return { principal, ticket: d.runs.check(principal, name, query.argv as string[], query.timeout as number), forwarded: false };
  };

  const upgrade: UpgradeHandler = (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://fcm.invalid');
    const m = RUN_PATH.exec(url.pathname);
    if (!m) return false;
    const reqId = `req_${randomBytes(6).toString('hex')}`;
    const log = d.log.child({ reqId });
    socket.on('error', () => {});
    const refused = (e: unknown) => {
      const err = isFcmError(e) ? e : new FcmError('internal', `Something went wrong on the server (request ${reqId}).`);
      if (!isFcmError(e)) log.error({ err: e }, 'run upgrade failed');
      log.info({ path: url.pathname, status: err.status, code: err.code }, 'run refused');
      refuse(socket, err, reqId);
    };
    let principal: Principal;
    let ticket: ReturnType<RunService['check']>;
    let owner: string | null = null;
    try {
      if (closing) throw new FcmError('invalid_state', 'The fcm daemon is shutting down; try again in a moment.');
      if (req.method !== 'GET') throw new FcmError('method_not_allowed', 'WebSocket upgrades use GET.');
      let forwarded: boolean;
      ({ principal, ticket, forwarded } = authorize(req, url, m[1]!));
      // A VM another (live) host runs: the command runs there. A relayed request is never relayed again.
      if (!forwarded && d.cluster) owner = d.cluster.ownerOf(ticket.vm.name);
    } catch (e) {
      refused(e);
      return true;
    }
    if (owner) {
      // The owning host checks again (ownership, state, its cap) and answers the upgrade; the bytes are spliced.
      relayUpgrade({
        cluster: d.cluster!,
        base: owner,
        path: `${url.pathname}${url.search}`,
        principal,
        req,
        socket,
        head,
        unreachable: (err) => {
          log.warn({ owner, err: err.message }, 'run relay refused: the owning host did not answer');
          refuse(socket, err, reqId);
        },
        onOpen: () => log.info({ vm: ticket.vm.name, owner }, 'run relayed to the owning host'),
      });
      return true;
    }
    // The client may leave while the VM wakes or the agent starts the command: that aborts the start.
    const gone = new AbortController();
    const onClose = () => gone.abort(new Error('the client went away'));
    socket.once('close', onClose);
    d.runs.start(principal, ticket, gone.signal).then(
      ({ channel, vm, done }) => {
        socket.off('close', onClose);
        if (gone.signal.aborted || socket.destroyed) {
          channel.close();
          return done();
        }
        wss.handleUpgrade(req, socket, head, (ws) => {
          beat.track(ws);
          log.info({ vmId: vm.id, vm: vm.name, argc: ticket.argv.length, timeoutSec: ticket.timeoutSec }, 'run started');
          const revoked = d.sessions?.open(principal, (reason) => {
            if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'error', message: `Run ended: ${reason}.` }), { binary: false });
            ws.close(1008, 'access revoked');
            setTimeout(() => ws.terminate(), 2000).unref();
          });
          relay(ws, channel, highWater, (how) => {
            revoked?.();
            done();
            log.info({ vmId: vm.id, ...how }, 'run ended');
          });
        });
      },
      (e: unknown) => {
        socket.off('close', onClose);
        if (!socket.destroyed) refused(e);
      },
    );
    return true;
  };

  const extend = (app: FastifyInstance) => {
    app.get('/v1/vms/:name/run', { logLevel: 'warn', config: { ownLimits: true } }, async (req) => {
      const url = new URL(req.url, 'http://fcm.invalid');
      authorize(req.raw, url, (req.params as { name: string }).name);
      throw new FcmError('validation_failed', 'This is a WebSocket endpoint: connect with "Upgrade: websocket" (fcm run).');
    });
    // Runs end with the daemon (their commands are killed when the agent's connection closes).
    app.addHook('preClose', async () => {
      closing = true;
      beat.stop();
      for (const ws of wss.clients) {
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'error', message: 'The fcm daemon is shutting down; the command was stopped.' }), { binary: false });
        ws.close(1001, 'daemon shutting down');
      }
      const deadline = Date.now() + 500;
      while (wss.clients.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    });
  };
  return { upgrade, extend };
}

/** Frames ↔ the channel, with backpressure both ways; `ended` once, with how it ended. */
function relay(ws: WebSocket, ch: ExecChannel, highWater: number, ended: (how: Record<string, unknown>) => void): void {
  let finished = false;
  let paused = false;
  const finish = (how: Record<string, unknown>) => {
    if (finished) return;
    finished = true;
    ch.close();
    ended(how);
  };
  ch.onOutput((stream, data) => {
    if (ws.readyState !== ws.OPEN) return;
    const frame = Buffer.allocUnsafe(data.length + 1);
    frame[0] = TAG[stream];
    data.copy(frame, 1);
    ws.send(frame, { binary: true }, () => {
      if (paused && ws.bufferedAmount < highWater / 2) {
        paused = false;
        ch.resume();
      }
    });
    if (!paused && ws.bufferedAmount >= highWater) {
      paused = true;
      ch.pause();
    }
  });
  ch.onEnd((end) => {
    if ('exit' in end) {
      if (ws.readyState === ws.OPEN) {
        ws.send(JSON.stringify({ type: 'exit', ...end.exit }), { binary: false });
        ws.close(1000, 'exited');
      }
      finish({ ...end.exit });
    } else {
      if (ws.readyState === ws.OPEN) {
        ws.send(JSON.stringify({ type: 'error', message: end.error }), { binary: false });
        ws.close(1011, 'the guest agent broke off');
      }
      finish({ error: end.error });
    }
  });
  ch.onDrain(() => ws.resume());
  ws.on('message', (data: RawData, isBinary: boolean) => {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (isBinary) {
      if (!ch.write(buf)) ws.pause();
      return;
    }
    let msg: { type?: unknown; signal?: unknown } | null = null;
    try {
      msg = JSON.parse(buf.toString('utf8'));
    } catch {
      /* answered below */
    }
    if (msg?.type === 'eof') return ch.endInput();
    if (msg?.type === 'signal' && EXEC_SIGNALS.includes(msg.signal as ExecSignal)) return ch.signal(msg.signal as ExecSignal);
    ws.send(JSON.stringify({ type: 'error', message: `unknown control message; send {"type":"eof"} or {"type":"signal","signal":"${EXEC_SIGNALS.join('|')}"}` }), { binary: false });
  });
  ws.on('error', () => {});
  // The client left (or the connection broke): the command is killed with the agent's connection.
  ws.on('close', (code) => finish({ clientClosed: code }));
}
