/**
 * A deliberately dumb HTTP/1.1 client over a raw TCP socket, for hostile
 * input: the request is written byte for byte as given (duplicate headers,
 * wrong Content-Length, no Host, garbage), one request per connection. The
 * first response is parsed (Content-Length, chunked, or until close).
 */
import { connect } from 'node:net';

export interface RawRequest {
  method: string;
  /** Request target exactly as sent (already percent-encoded as intended). */
  target: string;
  headers: [string, string][];
  body?: Buffer;
  /** Default HTTP/1.1. */
  version?: string;
  /** Send these bytes instead of building a request (protocol-level garbage). */
  raw?: Buffer;
  /** Half-close after sending (the server sees end of input, e.g. a body shorter than its Content-Length). */
  halfClose?: boolean;
}

export interface RawResponse {
  status: number | null;
  headers: Record<string, string>;
  body: Buffer;
  /** 'timeout' (no full response in time), 'closed' (connection closed without a response), or a socket error. */
  error: string | null;
  ms: number;
}

export function serialize(req: RawRequest): Buffer {
  if (req.raw) return req.raw;
  const head = `${req.method} ${req.target} ${req.version ?? 'HTTP/1.1'}\r\n${req.headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), req.body ?? Buffer.alloc(0)]);
}

export function rawRequest(host: string, port: number, req: RawRequest, timeoutMs = 5000): Promise<RawResponse> {
  const started = Date.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let done = false;
    const sock = connect({ host, port });
    const finish = (error: string | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      const parsed = parse(Buffer.concat(chunks), req.method, true);
      resolve({ ...parsed, error: parsed.status === null ? error ?? 'closed' : parsed.complete ? null : error ?? 'truncated', ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    // Once the head of a Content-Length answer has been parsed, completion is a byte count: parsing
    // the whole buffer again on every chunk would be quadratic in a large body (a backup archive).
    let total = 0;
    let sized: { start: number; length: number } | null = null;
    sock.on('data', (d) => {
      chunks.push(d);
      total += d.length;
      if (sized) {
        if (total - sized.start >= sized.length) finish(null);
        return;
      }
      const buf = Buffer.concat(chunks);
      const p = parse(buf, req.method, false);
      if (p.complete) return finish(null);
      const length = p.status !== null ? Number(p.headers['content-length'] ?? NaN) : NaN;
      if (Number.isFinite(length)) sized = { start: buf.length - p.body.length, length };
    });
    sock.on('error', (e) => finish((e as NodeJS.ErrnoException).code ?? e.message));
    sock.on('close', () => finish(null));
    sock.on('connect', () => {
      // The server may answer (and close) before it has read everything: ignore EPIPE/ECONNRESET on write.
      if (req.halfClose) sock.end(serialize(req));
      else sock.write(serialize(req), () => {});
    });
  });
}

function parse(buf: Buffer, method: string, closed: boolean): { status: number | null; headers: Record<string, string>; body: Buffer; complete: boolean } {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return { status: null, headers: {}, body: Buffer.alloc(0), complete: false };
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  let i = 0;
  let m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  let start = end + 4;
  // Skip interim 1xx responses (Expect: 100-continue).
  while (m && m[1]!.startsWith('1') && m[1] !== '101') {
    const next = buf.indexOf('\r\n\r\n', start);
    if (next < 0) return { status: null, headers: {}, body: Buffer.alloc(0), complete: false };
    const more = buf.subarray(start, next).toString('latin1').split('\r\n');
    lines.splice(0, lines.length, ...more);
    m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    start = next + 4;
  }
  if (!m) return { status: null, headers: {}, body: Buffer.alloc(0), complete: true };
  const headers: Record<string, string> = {};
  for (i = 1; i < lines.length; i++) {
    const c = lines[i]!.indexOf(':');
    if (c > 0) headers[lines[i]!.slice(0, c).trim().toLowerCase()] = lines[i]!.slice(c + 1).trim();
  }
  const rest = buf.subarray(start);
  const status = Number(m[1]);
  if (status === 204 || status === 304 || status === 101 || method === 'HEAD') return { status, headers, body: Buffer.alloc(0), complete: true };
  if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    return { status, headers, body: rest.subarray(0, n), complete: rest.length >= n };
  }
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const out: Buffer[] = [];
    let p = 0;
    for (;;) {
      const nl = rest.indexOf('\r\n', p);
      if (nl < 0) return { status, headers, body: Buffer.concat(out), complete: false };
      const size = parseInt(rest.subarray(p, nl).toString('latin1'), 16);
      if (!Number.isFinite(size)) return { status, headers, body: Buffer.concat(out), complete: true };
      if (size === 0) return { status, headers, body: Buffer.concat(out), complete: true };
      if (rest.length < nl + 2 + size + 2) return { status, headers, body: Buffer.concat(out), complete: false };
      out.push(rest.subarray(nl + 2, nl + 2 + size));
      p = nl + 2 + size + 2;
    }
  }
  // Neither: the body runs until the server closes.
  return { status, headers, body: rest, complete: closed };
}
