/**
 * Errors as clients see them. Every failure of an API call is an ApiError
 * whose `code` is either a problem `code` from the daemon (openapi.yaml
 * `ErrorCode`) or one of the client-side codes below. Branch on `code`,
 * never on message text.
 */
import type { IncomingMessage } from 'node:http';
import type { components } from './openapi.gen.js';

export type ProblemCode = components['schemas']['ErrorCode'];
export type Problem = components['schemas']['Problem'];
export type FieldError = NonNullable<Problem['errors']>[number];
/** The limit a `quota_exceeded` / `insufficient_capacity` hit (problem member `limit`). */
export type LimitInfo = NonNullable<Problem['limit']>;

/** `memoryMib: 9216 in use + 2048 requested > limit 10240 MiB` */
export function describeLimit(l: LimitInfo): string {
  return `${l.name}: ${l.usage} in use + ${l.requested} requested > limit ${l.value} ${l.unit}`;
}

/**
 * Client-side codes:
 * - `unreachable`: no HTTP answer at all (connection refused, DNS, reset, timeout); `cause` holds the network error.
 * - `bad_response`: an answer that is not the API's (not problem+json on error, not JSON on success), e.g. a proxy's HTML page.
 */
export type ClientErrorCode = 'unreachable' | 'bad_response';
export type ApiErrorCode = ProblemCode | ClientErrorCode;

export interface ApiErrorInit {
  code: ApiErrorCode;
  /** HTTP status; 0 when there was no HTTP answer. */
  status: number;
  title: string;
  detail?: string | undefined;
  requestId?: string | undefined;
  errors?: FieldError[] | undefined;
  limit?: LimitInfo | undefined;
  /** Where the request went (for messages). */
  url?: string | undefined;
  cause?: unknown;
}

export class ApiError extends Error {
  /** A newer daemon may send a code this client does not know yet; it is passed through unchanged. */
  readonly code: ApiErrorCode;
  readonly status: number;
  readonly title: string;
  readonly detail: string | undefined;
  readonly requestId: string | undefined;
  readonly errors: FieldError[];
  /** For quota_exceeded / insufficient_capacity: which limit, its value, the usage and what was asked for. */
  readonly limit: LimitInfo | undefined;
  readonly url: string | undefined;

  constructor(init: ApiErrorInit) {
    super(init.detail ? `${init.title}: ${init.detail}` : init.title, init.cause === undefined ? undefined : { cause: init.cause });
    // A copy serialized by Pulumi (provider/vm-resource.ts) calls Error as a function, which sets no message on `this`.
    this.message = init.detail ? `${init.title}: ${init.detail}` : init.title;
    this.name = 'ApiError';
    this.code = init.code;
    this.status = init.status;
    this.title = init.title;
    this.detail = init.detail;
    this.requestId = init.requestId;
    this.errors = init.errors ?? [];
    this.limit = init.limit;
    this.url = init.url;
  }

  /** The system error code of a network failure (ECONNREFUSED, ENOTFOUND, ...), if any. */
  get causeCode(): string | undefined {
    return networkCode(this.cause);
  }
}

export function isApiError(e: unknown, code?: ApiErrorCode): e is ApiError {
  return e instanceof ApiError && (code === undefined || e.code === code);
}

/** An error response → ApiError; anything that is not problem+json with a `code` becomes `bad_response`. */
export function errorFromResponse(response: Response, body: unknown): ApiError {
  const p = body as Partial<Problem> | undefined;
  if (p && typeof p === 'object' && typeof p.code === 'string' && typeof p.title === 'string') {
    return new ApiError({
      code: p.code as ApiErrorCode,
      status: typeof p.status === 'number' ? p.status : response.status,
      title: p.title,
      detail: p.detail,
      requestId: p.requestId ?? response.headers.get('x-request-id') ?? undefined,
      errors: Array.isArray(p.errors) ? p.errors : undefined,
      limit: isLimit(p.limit) ? p.limit : undefined,
      url: response.url || undefined,
    });
  }
  const text = typeof body === 'string' ? body : body === undefined ? '' : JSON.stringify(body);
  return new ApiError({
    code: 'bad_response',
    status: response.status,
    title: `Unexpected response (HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''})`,
    detail: text.trim().slice(0, 300) || undefined,
    url: response.url || undefined,
  });
}

function isLimit(v: unknown): v is LimitInfo {
  const l = v as Partial<LimitInfo> | null;
  return !!l && typeof l === 'object' && typeof l.name === 'string' && typeof l.value === 'number' && typeof l.usage === 'number' && typeof l.requested === 'number' && typeof l.unit === 'string';
}

/** A fetch that threw (no HTTP answer) → ApiError `unreachable`, keeping the network error as `cause`. */
export function unreachable(url: string, cause: unknown): ApiError {
  const code = networkCode(cause);
  const msg = networkMessage(cause);
  return new ApiError({
    code: 'unreachable',
    status: 0,
    title: `Cannot reach the fcm daemon at ${url}`,
    detail: msg ?? (code ? code : undefined),
    url,
    cause,
  });
}

/** OpenSSL's and Node's names for a certificate that is not trusted or not for this host. */
export const TLS_CODES = /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|CERT_UNTRUSTED|ERR_TLS_CERT_ALTNAME_INVALID)$/;

/** undici wraps the socket error: TypeError('fetch failed', { cause: Error{code} | AggregateError{code, errors} }). */
function networkCode(e: unknown): string | undefined {
  for (let cur = e as { code?: unknown; name?: unknown; cause?: unknown; errors?: unknown[] } | undefined, i = 0; cur && i < 5; i++) {
    if (typeof cur.code === 'string' && (/^E[A-Z]+$|^UND_ERR/.test(cur.code) || TLS_CODES.test(cur.code))) return cur.code;
    if (cur.name === 'TimeoutError') return 'ETIMEDOUT';
    const next = cur.cause ?? cur.errors?.[0];
    cur = next as typeof cur;
  }
  return undefined;
}

function networkMessage(e: unknown): string | undefined {
  let deepest: string | undefined;
  for (let cur = e as { message?: unknown; cause?: unknown; errors?: unknown[] } | undefined, i = 0; cur && i < 5; i++) {
    if (typeof cur.message === 'string' && cur.message && cur.message !== 'fetch failed') deepest = cur.message;
    cur = (cur.cause ?? cur.errors?.[0]) as typeof cur;
  }
  return deepest;
}

/**
 * A refused WebSocket upgrade (ws's 'unexpected-response'): the daemon's
 * problem+json answer (read up to 64 KiB) as an ApiError, handed to `done`;
 * a connection that fails meanwhile is `unreachable`.
 */
export function refusedUpgrade(res: IncomingMessage, base: string, done: (e: ApiError) => void): void {
  let text = '';
  res.setEncoding('utf8');
  res.on('data', (d: string) => (text += text.length < 65536 ? d : ''));
  res.on('end', () => {
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON: bad_response */
    }
    done(errorFromResponse(new Response(null, { status: res.statusCode ?? 502 }), body));
  });
  res.on('error', (e) => done(unreachable(base, e)));
}
