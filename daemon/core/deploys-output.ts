/**
 * The text side of deploys (pure): the Heroku-style lines the pusher sees,
 * the agent's stream format (output lines, then one `fcm-result: {json}`
 * line), and the capped build log kept with each release.
 */
import { StringDecoder } from 'node:string_decoder';
import type { AppResult, Buildpack } from './deploys-ports.js';
import { RESULT_PREFIX } from './git-wire.js';

/** The marker of the agent's last line (defined with the rest of the push wire). */
export { RESULT_PREFIX };

export const STEP = '-----> ';
export const INDENT = '       ';
export const ERROR = ' !     ';

export const step = (s: string) => `${STEP}${s}`;
export const indent = (s: string) => `${INDENT}${s}`;
export const error = (s: string) => `${ERROR}${s}`;

const BUILDPACKS = new Set<Buildpack>(['python', 'ruby', 'node', 'none']);

/** Parses the agent's `fcm-result:` JSON; anything malformed is a failed result that says so. */
export function parseResult(json: string): AppResult {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return { ok: false, code: 'bad_result', error: 'the guest agent sent a malformed result line' };
  }
  const o = (v && typeof v === 'object' ? v : {}) as Record<string, unknown>;
  if (o.ok === true) {
    const bp = typeof o.buildpack === 'string' && BUILDPACKS.has(o.buildpack as Buildpack) ? (o.buildpack as Buildpack) : null;
    const processes: Record<string, string> = {};
    if (o.processes && typeof o.processes === 'object') {
      for (const [k, cmd] of Object.entries(o.processes as Record<string, unknown>)) {
        if (/^[A-Za-z0-9_-]{1,64}$/.test(k) && typeof cmd === 'string') processes[k] = cmd.slice(0, 1000);
      }
    }
    return { ok: true, buildpack: bp, processes };
  }
  return {
    ok: false,
    code: typeof o.code === 'string' ? o.code.slice(0, 64) : 'failed',
    error: typeof o.error === 'string' && o.error ? o.error.slice(0, 2000) : 'the release failed (no reason given)',
  };
}

/**
 * Splits a byte stream into lines and finds the result line. The result is
 * the *last* line only: a build tool that prints something looking like a
 * result line mid-stream cannot fake success, because a line is held back
 * until the next one shows it was not the last.
 */
export class AgentStreamParser {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';
  private held: string | null = null;

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Buffer | string): void {
    this.partial += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    let i: number;
    while ((i = this.partial.indexOf('\n')) !== -1) {
      this.line(this.partial.slice(0, i).replace(/\r$/, ''));
      this.partial = this.partial.slice(i + 1);
    }
  }

  /** The stream ended: the result, or null when the last line was not one. */
  end(): AppResult | null {
    this.partial += this.decoder.end();
    if (this.partial) this.line(this.partial.replace(/\r$/, ''));
    this.partial = '';
    const last = this.held;
    this.held = null;
    return last === null ? null : parseResult(last.slice(RESULT_PREFIX.length));
  }

  private line(l: string): void {
    if (this.held !== null) {
      this.onLine(this.held);
      this.held = null;
    }
    if (l.startsWith(RESULT_PREFIX)) this.held = l;
    else this.onLine(l);
  }
}

/**
 * A release's build log, capped: the first `headBytes` (what was detected,
 * what ran) and the last `tailBytes` (where it failed) are kept, with a
 * marker where lines were dropped.
 */
export class LogBuffer {
  private head = '';
  private headFull = false;
  private tail: string[] = [];
  private tailBytes = 0;
  private dropped = 0;

  constructor(
    private readonly headCap = 64 * 1024,
    private readonly tailCap = 192 * 1024,
  ) {}

  add(line: string): void {
    const l = `${line}\n`;
    if (!this.headFull && this.head.length + l.length <= this.headCap) {
      this.head += l;
      return;
    }
    this.headFull = true;
    this.tail.push(l);
    this.tailBytes += l.length;
    while (this.tailBytes > this.tailCap && this.tail.length > 0) {
      this.tailBytes -= this.tail.shift()!.length;
      this.dropped++;
    }
  }

  toString(): string {
    return this.head + (this.dropped ? `${INDENT}[… ${this.dropped} lines of output not kept …]\n` : '') + this.tail.join('');
  }

  /** The last n lines (for error details). */
  lastLines(n: number): string[] {
    return this.toString().trimEnd().split('\n').slice(-n);
  }
}

/** `Set FOO, BAR; unset BAZ` — names only: values are secrets and never appear in descriptions or logs. */
export function describeEnvChange(set: string[], unset: string[]): string {
  const parts = [];
  if (set.length) parts.push(`Set ${set.join(', ')}`);
  if (unset.length) parts.push(`${parts.length ? 'unset' : 'Unset'} ${unset.join(', ')}`);
  return (parts.join('; ') || 'No config change').slice(0, 200);
}
