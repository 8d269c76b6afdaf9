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

export interface Answer {
  /** The serialized, already validated body. */
  body: Buffer;
  /** Strong ETag of `body` (quoted). */
  etag: string;
}

/** At most `max` answers (least recently used go first): one per caller and version. */
export class AnswerCache {
  private readonly entries = new Map<string, Answer>();

  constructor(private readonly max = 128) {}

  get(key: string): Answer | undefined {
    const a = this.entries.get(key);
    if (a) {
      this.entries.delete(key);
      this.entries.set(key, a);
    }
    return a;
  }

  set(key: string, a: Answer): void {
    this.entries.delete(key);
    this.entries.set(key, a);
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
  }

  get size(): number {
    return this.entries.size;
  }
}

export function answerOf(text: string): Answer {
  const body = Buffer.from(text, 'utf8');
  return { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
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
