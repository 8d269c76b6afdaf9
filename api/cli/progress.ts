/**
 * Progress on stderr while waiting. On a TTY: a spinner with elapsed time,
 * redrawn in place and erased when done (stdout stays clean). Without a TTY:
 * plain lines, no control characters — or nothing at all when `quiet`.
 */
import type { OutStream } from './io.js';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';
const CLEAR_LINE = '\r\x1b[2K';

export interface Progress {
  start(label: string): void;
  /** Ends the progress; `summary` is printed as a line on non-TTYs only. */
  stop(summary?: string): void;
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

export function progress(stream: OutStream, opts: { quiet?: boolean; color?: boolean; intervalMs?: number; now?: () => number } = {}): Progress {
  const now = opts.now ?? Date.now;
  if (!stream.isTTY) {
    return {
      start: (label) => {
        if (!opts.quiet) stream.write(`${label}…\n`);
      },
      stop: (summary) => {
        if (!opts.quiet && summary) stream.write(`${summary}\n`);
      },
    };
  }
  let timer: NodeJS.Timeout | null = null;
  let began = 0;
  let frame = 0;
  let label = '';
  const draw = () => {
    const f = FRAMES[frame++ % FRAMES.length]!;
    const spin = opts.color ? `\x1b[36m${f}\x1b[39m` : f;
    stream.write(`${CLEAR_LINE}${spin} ${label}… ${seconds(now() - began)}`);
  };
  // Restore the cursor even if the process exits mid-wait.
  const restore = () => stream.write(`${CLEAR_LINE}${SHOW_CURSOR}`);
  return {
    start: (l) => {
      label = l;
      began = now();
      stream.write(HIDE_CURSOR);
      draw();
      timer = setInterval(draw, opts.intervalMs ?? 80);
      process.once('exit', restore);
    },
    stop: () => {
      if (timer) clearInterval(timer);
      timer = null;
      process.removeListener('exit', restore);
      restore();
    },
  };
}
