/**
 * Forwarding of upgraded connections between the hosts of a cluster: a
 * console WebSocket, or the git tunnel of a push over SSH, reaches this host
 * for a VM another host runs. This host has settled who asks (token, ticket
 * or SSH key); it opens the same upgrade on the owning host, signed with the
 * cluster key on behalf of that principal (core/cluster-auth.ts: never the
 * user's token), and once that host switched protocols the two sockets are
 * spliced byte for byte. Nothing is re-framed here: the WebSocket is the
 * owning host's end to end (its hello, replay, close codes and pings reach
 * the client as sent), and backpressure is TCP's (pipe() pauses the faster
 * side). A refusal there (404, 409, 401...) is passed back as it came.
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import { CLUSTER_HEADER } from '../core/cluster-auth.js';
import { FcmError } from '../core/errors.js';
import type { Principal } from '../core/model.js';
import type { ClusterHttp } from './forward.js';
import { problem } from './problem.js';

/** Upgrade request headers passed on (the WebSocket handshake's own); the rest are hop-by-hop or this host's. */
const PASS_UP = ['upgrade', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-protocol', 'sec-websocket-extensions', 'user-agent'];
/** Headers of a refusal passed back. */
const PASS_DOWN = ['content-type', 'retry-after', 'www-authenticate', 'x-request-id'];

export interface RelayUpgrade {
  cluster: ClusterHttp;
  /** The owning host's API base URL (ClusterHttp.ownerOf). */
  base: string;
  /** Path and query as the owning host must see them (signed as they are). */
  path: string;
  principal: Principal;
  /** The client's upgrade request (its WebSocket handshake headers are passed on). */
  req: IncomingMessage | { headers: Record<string, string | string[] | undefined> };
  /** The client's socket and what it sent after its request head. */
  socket: Duplex;
  head: Buffer;
  /** Extra request headers for the owning host. */
  headers?: Record<string, string>;
  /** The owning host did not answer: the caller refuses the client's upgrade with this error. */
  unreachable(err: FcmError): void;
  /** Called once the two sockets are spliced, and when the relay ends. */
  onOpen?(): void;
  onClose?(): void;
  /** Connecting to the owning host may take this long (default 10 s). */
  connectTimeoutMs?: number;
}

/** Opens the upgrade on the owning host and splices it to the client's socket; see the module comment. */
export function relayUpgrade(o: RelayUpgrade): ClientRequest {
  const url = new URL(o.path, o.base);
  const headers: Record<string, string> = {
    connection: 'Upgrade',
    [CLUSTER_HEADER]: o.cluster.sign(o.principal, 'GET', o.path),
    ...o.headers,
  };
  for (const h of PASS_UP) {
    const v = o.req.headers[h];
    if (typeof v === 'string') headers[h] = v;
  }
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const up = request(url, { method: 'GET', headers, timeout: o.connectTimeoutMs ?? 10_000 });
  let settled = false;
  const fail = (why: string) => {
    if (settled) return;
    settled = true;
    up.destroy();
    o.unreachable(new FcmError('host_unreachable', `The VM's host (${url.host}) did not answer: ${why}`, { retryAfterSec: 10 }));
  };
  up.on('timeout', () => fail('timed out'));
  up.on('error', (e) => fail(e.message));
  // The client left before the owning host answered.
  const early = () => {
    if (!settled) {
      settled = true;
      up.destroy();
    }
  };
  o.socket.once('close', early);
  up.on('response', (res) => {
    // A refusal (or anything but 101): passed back as the owning host said it, then closed.
    if (settled) return void res.destroy();
    settled = true;
    o.socket.off('close', early);
    const lines = [`HTTP/1.1 ${res.statusCode ?? 502} ${res.statusMessage ?? ''}`];
    for (const h of PASS_DOWN) {
      const v = res.headers[h];
      if (typeof v === 'string') lines.push(`${h}: ${v}`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 64 * 1024) chunks.push(c);
    });
    res.on('error', () => o.socket.destroy());
    res.on('end', () => {
      const body = Buffer.concat(chunks);
      lines.push(`content-length: ${body.length}`, 'connection: close');
      if (o.socket.writable) o.socket.end(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]));
      else o.socket.destroy();
    });
  });
  up.on('upgrade', (res, upSocket, upHead) => {
    if (settled) return void upSocket.destroy();
    settled = true;
    o.socket.off('close', early);
    up.setTimeout(0);
    upSocket.setTimeout(0);
    // The owning host's 101, as it sent it (Sec-WebSocket-Accept answers the client's own key).
    const lines = [`HTTP/1.1 101 ${res.statusMessage ?? 'Switching Protocols'}`];
    for (let i = 0; i < res.rawHeaders.length; i += 2) lines.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
    o.socket.write(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
    if (upHead.length) o.socket.write(upHead);
    if (o.head.length) upSocket.write(o.head);
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      o.onClose?.();
    };
    // Either side closing closes the other (half-closes pass through: a git client's EOF reaches git).
    upSocket.on('error', () => o.socket.destroy());
    o.socket.on('error', () => upSocket.destroy());
    upSocket.on('close', () => {
      o.socket.end();
      // A peer that never finishes its side is not waited on for long.
      setTimeout(() => o.socket.destroy(), 5_000).unref();
      end();
    });
    o.socket.on('close', () => {
      upSocket.destroy();
      end();
    });
    upSocket.pipe(o.socket);
    o.socket.pipe(upSocket);
    o.onOpen?.();
  });
  up.end();
  return up;
}

/** A refused upgrade: a complete HTTP/1.1 problem+json response, then the socket is closed. */
export function refuseUpgrade(socket: Duplex, err: FcmError, reqId: string): void {
  const p = problem(err.code, err.message, { requestId: reqId });
  const body = JSON.stringify(p);
  const head = [
    `HTTP/1.1 ${p.status} ${p.title}`,
    'Content-Type: application/problem+json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    `X-Request-Id: ${reqId}`,
    ...(err.retryAfterSec !== undefined ? [`Retry-After: ${err.retryAfterSec}`] : []),
    'Connection: close',
  ];
  if (!socket.writable) return void socket.destroy();
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
}
