/**
 * Answers kept as bytes (GET /v1/vms): an operation whose handler can name
 * the version of the answer a request would get (`Handler.answerKey`: who
 * asks, and the version of everything the answer is built from) is built,
 * checked against openapi.yaml and serialized once per version, then served
 * as those bytes — with an ETag, and 304 to an If-None-Match that holds it —
 * until the version changes. Keys are compared for equality only; a key must
 * change whenever the answer could (that is the handler's contract).
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

export interface Answer {
  /** The serialized, already validated body. */
  body: Buffer;
  /** Strong ETag of `body` (quoted). */
  etag: string;
  /** The same body gzipped once (clients that accept gzip: fetch, browsers), and its own tag; null when small. */
  gzip: Coded | null;
  /** The 200's headers for `body`, in order, as writeHead takes them (flat name, value list). */
  headers: string[];
}

interface Coded {
  body: Buffer;
  etag: string;
  headers: string[];
}

/** Below this a body is sent as it is (gzip would save a few hundred bytes at most). */
const GZIP_MIN_BYTES = 1024;

/** At most `max` answers (least recently used go first): one per caller and version. */
export class AnswerCache {
  private readonly entries = new Map<string, Answer>();

  constructor(private readonly max = 128) {}

  /** The most recently used key (the Map's last): asked again, it needs no reordering. */
  private newest: string | null = null;

  get(key: string): Answer | undefined {
    const a = this.entries.get(key);
    if (a && key !== this.newest) {
      this.entries.delete(key);
      this.entries.set(key, a);
      this.newest = key;
    }
    return a;
  }

  set(key: string, a: Answer): void {
    this.entries.delete(key);
    this.entries.set(key, a);
    this.newest = key;
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
  }

  get size(): number {
    return this.entries.size;
  }
}

export function answerOf(text: string): Answer {
  const body = Buffer.from(text, 'utf8');
  const tag = createHash('sha256').update(body).digest('base64url').slice(0, 27);
  const gz = body.length < GZIP_MIN_BYTES ? null : gzipSync(body);
  return {
    body,
    etag: `"${tag}"`,
    headers: answerHeaders(`"${tag}"`, null, body.length),
    gzip: gz === null ? null : { body: gz, etag: `"${tag}-gz"`, headers: answerHeaders(`"${tag}-gz"`, 'gzip', gz.length) },
  };
}

/**
 * What a kept answer's 200 carries, in the order fastify's reply wrote them before (http/server.ts
 * sendAnswer writes these with one writeHead): per caller, never for shared caches; either coding.
 */
function answerHeaders(etag: string, coding: string | null, length: number): string[] {
  return [
    'etag', etag,
    'cache-control', 'private, no-cache',
    'vary', 'Accept-Encoding',
    ...(coding === null ? [] : ['content-encoding', coding]),
    'content-type', 'application/json; charset=utf-8',
    'content-length', String(length),
  ];
}

/** The last Accept-Encoding seen and its verdict: a client sends the same one on every request. */
let lastAccept = '';
let lastAcceptsGzip = false;

/** Accept-Encoding allows gzip (RFC 9110 12.5.3: `gzip`, `x-gzip` or `*`, with a q-value above 0). */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  if (header === undefined) return false;
  if (typeof header === 'string') {
    if (header !== lastAccept) {
      lastAcceptsGzip = parseAcceptsGzip(header);
      lastAccept = header;
    }
    return lastAcceptsGzip;
  }
  return parseAcceptsGzip(header);
}

function parseAcceptsGzip(header: string | string[]): boolean {
  let star = false;
  for (const h of Array.isArray(header) ? header : [header]) {
    for (const item of h.toLowerCase().split(',')) {
      const [coding = '', ...params] = item.split(';').map((x) => x.trim());
      const q = params.find((p) => p.startsWith('q='));
      const allowed = q === undefined || Number(q.slice(2)) > 0;
      if (coding === 'gzip' || coding === 'x-gzip') return allowed;
      if (coding === '*') star = allowed;
    }
  }
  return star;
}

/**
 * If-None-Match against the current tag (RFC 9110 13.1.2: weak comparison,
 * a list of tags, or `*`).
 */
export function noneMatch(header: string | string[] | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const bare = etag.replace(/^W\//, '');
  for (const h of Array.isArray(header) ? header : [header]) {
    for (const raw of h.split(',')) {
      const t = raw.trim();
      if (t === '*' || t.replace(/^W\//, '') === bare) return true;
    }
  }
  return false;
}
