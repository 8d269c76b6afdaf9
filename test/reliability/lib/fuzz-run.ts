/**
 * Sends fuzz cases over real TCP and judges each answer by rules that name
 * no operation:
 * - no 5xx, except 501 (`not_implemented` / `auth_not_configured`: an
 *   operation of the spec whose feature is not in this build), counted apart;
 * - every 4xx/5xx is `application/problem+json` with a known `code` whose
 *   status is the HTTP status;
 * - a request the spec forbids (`expect: invalid`) is never answered 2xx;
 * - an answer comes within the timeout, unless the operation may hold the
 *   connection (long-poll/stream) and the request was valid;
 * - the connection is not dropped without an answer.
 */
import { ERROR_CODES } from '../../../daemon/core/errors.js';
import type { FuzzCase } from './fuzz-cases.js';
import { rawRequest, type RawResponse } from './raw-http.js';

export type Verdict = '2xx' | '3xx' | '4xx' | '501' | 'held' | 'skipped' | 'fail';

export interface OpStats {
  tried: number;
  '2xx': number;
  '3xx': number;
  '4xx': number;
  '501': number;
  held: number;
  skipped: number;
  fail: number;
}

export interface Failure {
  op: string;
  label: string;
  request: string;
  status: number | null;
  why: string;
  body: string;
}

export interface FuzzRunOptions {
  host: string;
  port: number;
  timeoutMs?: number;
  /** Client timeout for requests to operations that may hold the connection (long-poll, follow). */
  holdMs?: number;
  /** Skip a case (e.g. host runs: valid creates beyond a cap). */
  skip?: (c: FuzzCase) => boolean;
  /** Called after each case: restore what a successful case changed (a deleted target VM, a revoked token...). */
  after?: (c: FuzzCase, r: RawResponse) => Promise<void>;
  /** Current bearer token; when it changes between cases, later cases use the new one. */
  token?: () => string;
}

export function judge(c: FuzzCase, r: RawResponse): { verdict: Verdict; why?: string } {
  if (r.status === null) {
    if (r.error === 'timeout' && c.mayHold && c.expect !== 'invalid') return { verdict: 'held' };
    return { verdict: 'fail', why: `no answer (${r.error})` };
  }
  if (r.error === 'timeout' && c.mayHold && r.status >= 200 && r.status < 300) return { verdict: 'held' };
  if (r.error) return { verdict: 'fail', why: `incomplete answer (${r.error})` };
  const s = r.status;
  if (s >= 400) {
    const ct = r.headers['content-type'] ?? '';
    if (!ct.startsWith('application/problem+json')) return { verdict: 'fail', why: `${s} with content-type "${ct}", not application/problem+json` };
    if (c.method !== 'HEAD') {
      let p: { code?: string; status?: number; type?: string; title?: string };
      try {
        p = JSON.parse(r.body.toString('utf8'));
      } catch {
        return { verdict: 'fail', why: `${s} problem body is not JSON` };
      }
      const known = p.code ? (ERROR_CODES as Record<string, { status: number }>)[p.code] : undefined;
      if (!known) return { verdict: 'fail', why: `${s} problem without a known code (${p.code})` };
      if (known.status !== s || p.status !== s) return { verdict: 'fail', why: `${s} but code ${p.code} means ${known.status} (body status ${p.status})` };
      if (typeof p.type !== 'string' || typeof p.title !== 'string') return { verdict: 'fail', why: `${s} problem without type/title` };
      if (s === 501) return p.code === 'not_implemented' || p.code === 'auth_not_configured' ? { verdict: '501' } : { verdict: 'fail', why: `501 with code ${p.code}` };
    } else if (s === 501) return { verdict: '501' };
    if (s >= 500) return { verdict: 'fail', why: `server error ${s}` };
    return { verdict: '4xx' };
  }
  if (c.expect === 'invalid' && s >= 200 && s < 300) return { verdict: 'fail', why: `${s} for a request the spec forbids` };
  if (s >= 300 && s < 400) return { verdict: '3xx' };
  if (s >= 200 && s < 300) return { verdict: '2xx' };
  return { verdict: 'fail', why: `unexpected status ${s}` };
}

const empty = (): OpStats => ({ tried: 0, '2xx': 0, '3xx': 0, '4xx': 0, '501': 0, held: 0, skipped: 0, fail: 0 });

function rebind(c: FuzzCase, from: string, to: string): FuzzCase {
  if (from === to) return c;
  const sub = (s: string) => s.split(from).join(to).split(from.slice(0, -1)).join(to.slice(0, -1));
  return {
    ...c,
    target: sub(c.target),
    headers: c.headers.map(([k, v]) => [k, sub(v)]),
    ...(c.raw ? { raw: Buffer.from(sub(c.raw.toString('latin1')), 'latin1') } : {}),
  };
}

export async function runFuzz(cases: FuzzCase[], o: FuzzRunOptions): Promise<{ stats: Map<string, OpStats>; failures: Failure[]; rejectedValid: Failure[]; ms: number }> {
  const stats = new Map<string, OpStats>();
  const failures: Failure[] = [];
  const rejectedValid: Failure[] = [];
  const initial = o.token?.() ?? '';
  const started = Date.now();
  for (const original of cases) {
    const st = stats.get(original.op) ?? empty();
    stats.set(original.op, st);
    if (o.skip?.(original)) {
      st.skipped++;
      continue;
    }
    const c = o.token ? rebind(original, initial, o.token()) : original;
    st.tried++;
    const r = await rawRequest(o.host, o.port, c, c.mayHold ? (o.holdMs ?? 2000) : (o.timeoutMs ?? 5000));
    const { verdict, why } = judge(c, r);
    st[verdict]++;
    const summary = () => ({
      op: c.op, label: c.label, request: `${c.method} ${c.target.length > 120 ? `${c.target.slice(0, 120)}…` : c.target}`,
      status: r.status, body: r.body.toString('utf8').slice(0, 300),
    });
    if (verdict === 'fail') failures.push({ ...summary(), why: why! });
    else if (c.expect === 'valid' && r.status === 400) rejectedValid.push({ ...summary(), why: 'the spec allows this request' });
    await o.after?.(c, r);
  }
  return { stats, failures, rejectedValid, ms: Date.now() - started };
}

export function formatStats(stats: Map<string, OpStats>): string {
  const cols = ['tried', '2xx', '3xx', '4xx', '501', 'held', 'skipped', 'fail'] as const;
  const rows = [...stats.entries()].sort(([a], [b]) => a.localeCompare(b));
  const total = empty();
  for (const [, s] of rows) for (const k of cols) total[k] += s[k];
  const line = (name: string, s: OpStats) => `${name.padEnd(22)}${cols.map((k) => String(s[k]).padStart(8)).join('')}`;
  return [`${'operation'.padEnd(22)}${cols.map((k) => k.padStart(8)).join('')}`, ...rows.map(([n, s]) => line(n, s)), line('TOTAL', total)].join('\n');
}

export function formatFailures(f: Failure[], max = 40): string {
  return f.slice(0, max).map((x) => `${x.op} [${x.label}] ${x.request} → ${x.status}: ${x.why}\n    ${x.body.replace(/\n/g, ' ')}`).join('\n') + (f.length > max ? `\n… and ${f.length - max} more` : '');
}
