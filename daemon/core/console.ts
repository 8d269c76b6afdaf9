/**
 * The console wire protocol (openapi.yaml `openConsole`). The Console port
 * itself is in ports/console.ts.
 *
 * A VM's serial console belongs to the VM: the guest runs a root shell on
 * ttyS0 whether or not anyone is attached, and the hypervisor side (QEMU's
 * socket chardev, Firecracker's console holder) outlives the daemon.
 */

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
