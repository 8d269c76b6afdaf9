/**
 * The Console port and the console wire protocol (openapi.yaml `openConsole`).
 *
 * A VM's serial console belongs to the VM: the guest runs a root shell on
 * ttyS0 whether or not anyone is attached, and the hypervisor side (QEMU's
 * socket chardev, Firecracker's console holder) outlives the daemon. The
 * port is what the daemon needs from it: a byte stream, the recent output
 * (the hypervisor's console log) and the terminal size (set by the guest
 * agent — a serial line has no window size of its own).
 */

export interface ConsoleTarget {
  id: string;
  name: string;
  ip: string;
}

export interface TermSize {
  cols: number;
  rows: number;
}

/** One open connection to a VM's console byte stream. */
export interface ConsoleLink {
  /** false: the bytes are queued beyond the high-water mark; wait for onDrain before writing more. */
  write(data: Buffer): boolean;
  onData(cb: (data: Buffer) => void): void;
  onDrain(cb: () => void): void;
  /** Called once, when the stream ends for any reason (also after close()). */
  onClose(cb: () => void): void;
  close(): void;
}

/** The Console port (real driver: drivers/console-socket.ts; twin: drivers/console-memory.ts). */
export interface Console {
  /** Connects to the console stream. Rejects when there is none (the VM's process is not running). */
  connect(vm: ConsoleTarget): Promise<ConsoleLink>;
  /** The last ≤ maxBytes bytes the console printed, starting at a line boundary (empty when there is no log). */
  tail(vm: ConsoleTarget, maxBytes: number): Promise<Buffer>;
  /** Sets the guest console's window size (TIOCSWINSZ on ttyS0; the shell gets SIGWINCH). */
  resize(vm: ConsoleTarget, size: TermSize): Promise<void>;
}

// ---- wire protocol --------------------------------------------------------
// Binary frames: terminal bytes, both directions. Text frames: JSON control.

export const TERM_LIMITS = { minCols: 2, maxCols: 1000, minRows: 1, maxRows: 1000 } as const;

export type ClientControl = { type: 'resize'; cols: number; rows: number };

export type ServerControl =
  | { type: 'hello'; vm: string; replayBytes: number }
  | { type: 'exit'; reason: string }
  | { type: 'error'; message: string };

/** A client's text frame → a control message, or a reason it is not one. */
export function parseClientControl(text: string): ClientControl | { error: string } {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return { error: 'control messages are JSON' };
  }
  if (!msg || typeof msg !== 'object' || Array.isArray(msg)) return { error: 'control messages are JSON objects' };
  const m = msg as Record<string, unknown>;
  if (m.type !== 'resize') return { error: `unknown control message type ${String(JSON.stringify(m.type)).slice(0, 64)}` };
  const { cols, rows } = m;
  const ok = (v: unknown, lo: number, hi: number): v is number => Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi;
  if (!ok(cols, TERM_LIMITS.minCols, TERM_LIMITS.maxCols) || !ok(rows, TERM_LIMITS.minRows, TERM_LIMITS.maxRows)) {
    return { error: `resize needs integer cols ${TERM_LIMITS.minCols}-${TERM_LIMITS.maxCols} and rows ${TERM_LIMITS.minRows}-${TERM_LIMITS.maxRows}` };
  }
  return { type: 'resize', cols, rows };
}

/** WebSocket close codes the server uses (RFC 6455 §7.4 plus the private range). */
export const CLOSE = {
  /** The VM stopped, was deleted, or the client detached. */
  normal: 1000,
  /** The daemon is shutting down: reconnect. */
  goingAway: 1001,
  /** The client could not keep up with the console output and was dropped. */
  tooSlow: 4008,
  /** Policy violation: the token (or user) that opened it was revoked; do not reconnect with it. */
  revoked: 1008,
} as const;
