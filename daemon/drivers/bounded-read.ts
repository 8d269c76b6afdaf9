/**
 * Reading answers the daemon does not control (a guest agent can be replaced
 * by anything: the console is a root shell in the guest) without trusting
 * them: a byte cap checked as the bytes arrive, before anything is parsed,
 * and a deadline for the whole answer. Every listener here only records and
 * settles: nothing a peer sends can make one throw.
 */
import type { Readable } from 'node:stream';

export class BoundExceeded extends Error {
  constructor(
    message: string,
    readonly bound: 'bytes' | 'time',
  ) {
    super(message);
    this.name = 'BoundExceeded';
  }
}

/**
 * The whole body of a small answer (problem+json, health, an empty 204): at
 * most `maxBytes`, within `timeoutMs`. Over either bound the stream is
 * destroyed and the promise rejects with BoundExceeded.
 */
export function readBounded(stream: Readable, o: { maxBytes: number; timeoutMs: number; what: string }): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (err: Error | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        stream.destroy();
        reject(err);
      } else resolve(Buffer.concat(chunks, size));
    };
    const timer = setTimeout(
      () => settle(new BoundExceeded(`${o.what}: no complete answer within ${fmtMs(o.timeoutMs)}`, 'time')),
      o.timeoutMs,
    );
    stream.on('data', (c: Buffer | string) => {
      if (settled) return;
      const b = typeof c === 'string' ? Buffer.from(c) : c;
      size += b.length;
      if (size > o.maxBytes) return settle(new BoundExceeded(`${o.what}: answer larger than ${o.maxBytes} bytes`, 'bytes'));
      chunks.push(b);
    });
    stream.on('end', () => settle(null));
    stream.on('error', (e) => settle(e));
    stream.on('close', () => settle(new Error(`${o.what}: the connection closed before the answer was complete`)));
  });
}

/** JSON.parse that never throws: undefined for anything that is not JSON. */
export function parseJsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function fmtMs(ms: number): string {
  return ms % 1000 === 0 || ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${ms} ms`;
}
