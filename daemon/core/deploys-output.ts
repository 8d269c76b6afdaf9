/**
 * The text side of deploys (pure): the Heroku-style lines the pusher sees,
 * the agent's stream format (output lines, then one `fcm-result: {json}`
 * line), and the capped build log kept with each release.
 */
import type { AppResult, Buildpack } from './ports/app-runtime.js';
import { RESULT_PREFIX } from './git-wire.js';

/** The marker of the agent's last line (defined with the rest of the push wire). */
export { RESULT_PREFIX };

export const STEP = '-----> ';
export const INDENT = '       ';
export const ERROR = ' !     ';

export const step = (s: string) => `${STEP}${s}`;
export const indent = (s: string) => `${INDENT}${s}`;
export const error = (s: string) => `${ERROR}${s}`;

const BUILDPACKS = new Set<Buildpack>(['python', 'ruby', 'node', 'static', 'none']);

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

/** Bounds of one streamed agent answer (see AgentStreamParser). */
export interface StreamBounds {
  /**
   * A longer line is cut to this many bytes and marked (`… [fcm: N more bytes of
   * this line cut]`). Cut, not failed: real build tools print long lines
   * (progress bars redrawn with \r, minified JSON in errors), and the total cap
   * below still bounds the answer. A cut *result* line no longer parses, so the
   * release fails with bad_result.
   */
  maxLineBytes: number;
  /** Past this many bytes the answer is refused as a whole (push() returns false). */
  maxTotalBytes: number;
  /**
   * Past this many lines likewise: the daemon's work is per line as much as per
   * byte (32 MiB of empty lines is 33 million of them). A real build prints
   * thousands.
   */
  maxLines: number;
}

export const DEFAULT_STREAM_BOUNDS: StreamBounds = { maxLineBytes: 64 * 1024, maxTotalBytes: 32 * 1024 * 1024, maxLines: 1_000_000 };

const NL = 0x0a;
const CR = 0x0d;
const EMPTY = Buffer.alloc(0);

/**
 * Splits a byte stream into lines and finds the result line, in time linear
 * in the input and memory bounded by `maxLineBytes`: each byte is looked at
 * once (indexOf from where the last scan stopped), a line's bytes are kept
 * as the chunks' own slices and joined once at its newline, and a line past
 * the bound keeps only its first maxLineBytes (the rest is counted, not kept).
 *
 * The result is the *last* line only: a build tool that prints something
 * looking like a result line mid-stream cannot fake success, because a line
 * is held back until the next one shows it was not the last.
 */
export class AgentStreamParser {
  private readonly bounds: StreamBounds;
  private pieces: Buffer[] = [];
  private kept = 0;
  private cut = 0;
  private total = 0;
  private held: { text: string; cut: boolean } | null = null;
  /** The current line's last byte so far (-1: none). */
  private last = -1;
  private over: string | null = null;
  private lines = 0;

  constructor(
    private readonly onLine: (line: string) => void,
    bounds: Partial<StreamBounds> = {},
  ) {
    this.bounds = { ...DEFAULT_STREAM_BOUNDS, ...bounds };
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.total;
  }

  /** Which bound was passed: more than maxTotalBytes or maxLines arrived; null while within both. */
  get overLimit(): string | null {
    return this.over;
  }

  /** Lines seen so far. */
  get lineCount(): number {
    return this.lines;
  }

  /** Feeds a chunk; false (and nothing more is read) once the total passed maxTotalBytes or maxLines. */
  push(chunk: Buffer | string): boolean {
    if (this.over) return false;
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    this.total += buf.length;
    if (this.total > this.bounds.maxTotalBytes) return this.refuse(`more than ${mib(this.bounds.maxTotalBytes)} of output`);
    let from = 0;
    for (;;) {
      const i = buf.indexOf(NL, from);
      if (i === -1) {
        this.take(buf, from, buf.length);
        return true;
      }
      if (++this.lines > this.bounds.maxLines) return this.refuse(`more than ${this.bounds.maxLines} lines of output`);
      this.take(buf, from, i);
      this.finishLine();
      from = i + 1;
    }
  }

  private refuse(why: string): false {
    this.over = why;
    this.pieces = [];
    return false;
  }

  /** The stream ended: the result, or null when the last line was not one. */
  end(): AppResult | null {
    if (this.kept || this.cut) this.finishLine();
    // (a stream ending without a newline still ends its last line)
    const last = this.held;
    this.held = null;
    if (last === null) return null;
    if (last.cut) {
      return { ok: false, code: 'bad_result', error: `the guest agent sent a result line longer than ${this.bounds.maxLineBytes} bytes` };
    }
    return parseResult(last.text.slice(RESULT_PREFIX.length));
  }

  /** Keeps bytes [start, end) of the current line, up to the line bound. */
  private take(buf: Buffer, start: number, end: number): void {
    const n = end - start;
    if (n <= 0) return;
    this.last = buf[end - 1]!;
    const room = this.bounds.maxLineBytes - this.kept;
    const k = Math.min(room, n);
    if (k > 0) {
      // A slice, not a copy: the chunk is not reused by the stream.
      this.pieces.push(buf.subarray(start, start + k));
      this.kept += k;
    }
    this.cut += n - k;
  }

  private finishLine(): void {
    let bytes = this.pieces.length === 1 ? this.pieces[0]! : this.pieces.length === 0 ? EMPTY : Buffer.concat(this.pieces, this.kept);
    let cut = this.cut;
    const crlf = this.last === CR;
    this.pieces = [];
    this.kept = 0;
    this.cut = 0;
    this.last = -1;
    if (cut) {
      // The \r of a \r\n ending is not part of the line; a character the bound split goes with the cut.
      if (crlf) cut--;
      const whole = utf8Boundary(bytes);
      cut += bytes.length - whole;
      bytes = bytes.subarray(0, whole);
    } else if (crlf) bytes = bytes.subarray(0, -1);
    const text = (bytes.length ? bytes.toString('utf8') : '') + (cut ? `… [fcm: ${cut} more bytes of this line cut]` : '');
    if (this.held !== null) {
      this.onLine(this.held.text);
      this.held = null;
    }
    if (text.startsWith(RESULT_PREFIX)) this.held = { text, cut: cut > 0 };
    else this.onLine(text);
  }
}

function mib(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${Math.round((bytes / 1024 / 1024) * 10) / 10} MiB` : `${bytes} bytes`;
}

/** Length of the longest prefix of `b` that does not end inside a UTF-8 sequence. */
function utf8Boundary(b: Buffer): number {
  let i = b.length;
  // Step back over at most 3 continuation bytes to the start of the last character.
  let back = 0;
  while (back < 3 && i - back - 1 >= 0 && (b[i - back - 1]! & 0xc0) === 0x80) back++;
  const lead = i - back - 1;
  if (lead < 0) return i;
  const c = b[lead]!;
  const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
  return back + 1 >= need ? i : lead;
}

/**
 * A release's build log, capped: the first `headBytes` (what was detected,
 * what ran) and about the last `tailBytes` (where it failed) are kept, with a
 * marker where lines were dropped.
 */
export class LogBuffer {
  private head = '';
  private headFull = false;
  /**
   * The tail: lines gathered in `pending`, sealed into one flat string per
   * ~tailCap/8 bytes (so a flood of tiny lines leaves a few long-lived
   * strings, not hundreds of thousands), and dropped a sealed chunk at a time
   * from the front (`first`: O(1), compacted now and then).
   */
  private chunks: { text: string; lines: number }[] = [];
  private first = 0;
  private pending: string[] = [];
  private pendingBytes = 0;
  private tailBytes = 0;
  private dropped = 0;
  private readonly sealBytes: number;

  constructor(
    private readonly headCap = 64 * 1024,
    private readonly tailCap = 192 * 1024,
  ) {
    this.sealBytes = Math.max(1, Math.min(8192, Math.floor(tailCap / 8)));
  }

  add(line: string): void {
    const l = `${line}\n`;
    if (!this.headFull && this.head.length + l.length <= this.headCap) {
      this.head += l;
      return;
    }
    this.headFull = true;
    this.pending.push(l);
    this.pendingBytes += l.length;
    this.tailBytes += l.length;
    if (this.pendingBytes >= this.sealBytes) this.seal();
    while (this.tailBytes > this.tailCap && this.first < this.chunks.length) {
      const c = this.chunks[this.first]!;
      this.chunks[this.first++] = { text: '', lines: 0 };
      this.tailBytes -= c.text.length;
      this.dropped += c.lines;
    }
    if (this.first > 64 && this.first * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.first);
      this.first = 0;
    }
  }

  toString(): string {
    return (
      this.head +
      (this.dropped ? `${INDENT}[… ${this.dropped} lines of output not kept …]\n` : '') +
      this.chunks.slice(this.first).map((c) => c.text).join('') +
      this.pending.join('')
    );
  }

  /** The last n lines (for error details). */
  lastLines(n: number): string[] {
    return this.toString().trimEnd().split('\n').slice(-n);
  }

  private seal(): void {
    this.chunks.push({ text: this.pending.join(''), lines: this.pending.length });
    this.pending = [];
    this.pendingBytes = 0;
  }
}

/** `Set FOO, BAR; unset BAZ` — names only: values are secrets and never appear in descriptions or logs. */
export function describeEnvChange(set: string[], unset: string[]): string {
  const parts = [];
  if (set.length) parts.push(`Set ${set.join(', ')}`);
  if (unset.length) parts.push(`${parts.length ? 'unset' : 'Unset'} ${unset.join(', ')}`);
  return (parts.join('; ') || 'No config change').slice(0, 200);
}
