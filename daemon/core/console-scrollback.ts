/**
 * Bounded scrollback for console replay, and the overlap rule that lets a
 * replay taken from the console log join a live stream without losing or
 * repeating bytes (its sibling, newSince, is shared with the CLI:
 * api/console-replay.ts). Pure functions: unit-tested on their own.
 */

const NL = 0x0a;

/**
 * The last ≤ maxBytes of `buf`, starting just after a newline so a replay
 * does not begin mid-line (or mid escape sequence / UTF-8 character). When
 * no line starts inside the window, the raw window is returned.
 */
export function tailAtLineBoundary(buf: Buffer, maxBytes: number): Buffer {
  if (buf.length <= maxBytes) return buf;
  const window = buf.subarray(buf.length - maxBytes);
  // A newline right before the window means the window already starts a line.
  if (buf[buf.length - maxBytes - 1] === NL) return window;
  const i = window.indexOf(NL);
  // No line starts inside the window: better a cut line than no replay at all.
  return i === -1 || i === window.length - 1 ? window : window.subarray(i + 1);
}

/**
 * Length of the longest prefix of `next` that `prev` already ends with.
 * `prev` = console log read after connecting, `next` = bytes that arrived on
 * the socket meanwhile: those already in the log must not be appended twice.
 */
export function overlapLength(prev: Buffer, next: Buffer, maxCheck = 8192): number {
  const limit = Math.min(prev.length, next.length, maxCheck);
  for (let k = limit; k > 0; k--) {
    if (prev.subarray(prev.length - k).equals(next.subarray(0, k))) return k;
  }
  return 0;
}

/** The last ≈maxBytes of a stream, trimmed at line boundaries; appends are O(1) amortised. */
export class Scrollback {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(readonly maxBytes: number) {}

  get length(): number {
    return Math.min(this.size, this.maxBytes);
  }

  reset(initial: Buffer): void {
    this.chunks = initial.length ? [Buffer.from(initial)] : [];
    this.size = initial.length;
    this.compact();
  }

  append(data: Buffer): void {
    if (!data.length) return;
    this.chunks.push(data);
    this.size += data.length;
    if (this.size > 2 * this.maxBytes) this.compact();
  }

  /** The retained output (≤ maxBytes, from a line boundary). */
  snapshot(): Buffer {
    this.compact();
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  private compact(): void {
    if (this.chunks.length <= 1 && this.size <= this.maxBytes) return;
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
    const kept = Buffer.from(tailAtLineBoundary(all, this.maxBytes));
    this.chunks = kept.length ? [kept] : [];
    this.size = kept.length;
  }
}
