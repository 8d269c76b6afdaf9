/**
 * The helpers' side of the daemon's internal socket: one request and its
 * whole (small) answer, and what a refusal says. The daemon answers errors
 * as RFC 9457 problem documents (application/problem+json with a stable
 * `code`), like its public API; a helper shows the user the `detail`.
 */
import { request, type IncomingMessage } from 'node:http';

/** What the daemon bakes into each helper when it installs them. */
export interface HelperConfig {
  /** The daemon's internal socket. */
  socketPath: string;
}

export interface Answer {
  status: number;
  /** The media type, without parameters. */
  type: string;
  text: string;
}

export interface Refusal {
  /** The problem's code, or `unreachable` / `bad_answer` when there is no problem document. */
  code: string;
  detail: string;
}

/** Answers bigger than this are not read (the helpers only ever get a key line, a grant or a problem). */
const MAX_ANSWER_BYTES = 64 * 1024;

export function call(
  socketPath: string,
  o: { method: 'GET' | 'POST'; path: string; headers?: Record<string, string>; body?: string; timeoutMs: number },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...o.headers };
    if (o.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      headers['content-length'] = Buffer.byteLength(o.body);
    }
    const req = request({ socketPath, method: o.method, path: o.path, timeout: o.timeoutMs, headers }, (res) => {
      readAll(res).then((text) => resolve({ status: res.statusCode ?? 0, type: mediaType(res), text }), reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(o.body);
  });
}

export function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (c: string) => {
      text += c;
      if (text.length > MAX_ANSWER_BYTES) res.destroy(new Error('answer too large'));
    });
    res.on('end', () => resolve(text));
    res.on('error', reject);
  });
}

export function mediaType(res: IncomingMessage): string {
  return String(res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

/** What a non-2xx answer says: its problem document, or `fallback` with the status when it is none. */
export function refusalOf(a: Answer, fallback: string): Refusal {
  if (a.type === 'application/problem+json') {
    try {
      const p = JSON.parse(a.text) as { code?: unknown; detail?: unknown; title?: unknown };
      const detail = typeof p.detail === 'string' && p.detail ? p.detail : typeof p.title === 'string' ? p.title : '';
      if (detail) return { code: typeof p.code === 'string' ? p.code : 'bad_answer', detail };
    } catch {
      /* not JSON after all */
    }
  }
  return { code: 'bad_answer', detail: `${fallback} (HTTP ${a.status})` };
}

/** The JSON body of a 2xx answer, or null when it is not JSON. */
export function jsonOf(a: Answer): unknown {
  if (a.type !== 'application/json') return null;
  try {
    return JSON.parse(a.text) as unknown;
  } catch {
    return null;
  }
}
