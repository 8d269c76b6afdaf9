/**
 * Relaying guest output to a client at the client's pace, and not forever:
 * a writer that is full makes the producer wait (the guest's stream is
 * paused), and a client that stops reading is cut off after `stallMs` with
 * output still waiting — so a client that never reads holds neither memory
 * nor a connection without end.
 */
import type { Writable } from 'node:stream';

export interface PacedWriter {
  /**
   * Writes; returns a promise when the client is behind (wait for it before
   * producing more), nothing otherwise. Once the client is gone (closed, or
   * cut off as stalled) writes are dropped and nothing waits.
   */
  write(data: string | Buffer): Promise<void> | undefined;
  /** True once the client closed or was cut off. */
  readonly gone: boolean;
  /** Stops the stall watch (call when done writing). */
  stop(): void;
}

/** `onStall` runs once when output waited `stallMs` without the client taking any; the writer is destroyed after it. */
export function pacedWriter(w: Writable, stallMs: number, onStall: () => void = () => {}): PacedWriter {
  let waiting: Promise<void> | null = null;
  const stopWatch = watchStall(w, stallMs, () => {
    onStall();
    w.destroy();
  });
  const gone = () => w.destroyed || w.writableEnded;
  return {
    write(data) {
      if (gone()) return undefined;
      if (w.write(data)) return undefined;
      waiting ??= new Promise<void>((resolve) => {
        const done = () => {
          w.off('drain', done);
          w.off('close', done);
          waiting = null;
          resolve();
        };
        w.on('drain', done);
        w.on('close', done);
      });
      return waiting;
    },
    get gone() {
      return gone();
    },
    stop: stopWatch,
  };
}

/**
 * Calls `onStall` once when `w` has had output waiting (writableNeedDrain)
 * for `stallMs` straight, with no drain in between. Returns a stop function;
 * stops by itself when `w` closes.
 */
export function watchStall(w: Writable, stallMs: number, onStall: () => void): () => void {
  let since: number | null = null;
  const tick = Math.max(50, Math.min(1000, Math.floor(stallMs / 4)));
  const onDrain = () => (since = null);
  w.on('drain', onDrain);
  const timer = setInterval(() => {
    if (!w.writableNeedDrain) {
      since = null;
      return;
    }
    since ??= Date.now();
    if (Date.now() - since >= stallMs) {
      stop();
      onStall();
    }
  }, tick);
  timer.unref();
  const stop = () => {
    clearInterval(timer);
    w.off('drain', onDrain);
    w.off('close', stop);
  };
  w.on('close', stop);
  return stop;
}
