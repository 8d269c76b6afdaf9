/**
 * The GuestExec port: one-off commands in a VM (`fcm run`), argv (no shell),
 * as the app user with the app's environment, stdin/stdout/stderr streamed,
 * the exit status at the end. Driver: AgentExec (drivers/agent-exec.ts, the
 * guest agent's execCommand); twin: MemoryExec (drivers/memory/memory-exec.ts);
 * contract: test/unit/guest-exec-contract.test.ts.
 */

export interface ExecRequest {
  argv: string[];
  /** The command is killed (SIGKILL to its process group) when this passes. */
  timeoutSec: number;
}

export interface ExecExit {
  /** The exit status, or null when a signal ended it. */
  code: number | null;
  /** The signal's name without SIG (`KILL`, `TERM`), or null. */
  signal: string | null;
  /** The deadline passed and the command was killed. */
  timedOut: boolean;
}

/** How a channel ended: the command's exit, or why the channel broke before it. */
export type ExecEnd = { exit: ExecExit } | { error: string };

/** Signals a client may send to the command's process group. */
export const EXEC_SIGNALS = ['HUP', 'INT', 'QUIT', 'TERM', 'KILL', 'USR1', 'USR2'] as const;
export type ExecSignal = (typeof EXEC_SIGNALS)[number];

/** One running command. close() (the client left) kills it. */
export interface ExecChannel {
  /** Subscribing starts the output flowing: what came before is held (in the guest's pipe) until then. */
  onOutput(cb: (stream: 'stdout' | 'stderr', data: Buffer) => void): void;
  /** Called once. */
  onEnd(cb: (end: ExecEnd) => void): void;
  /** Stdin; false: queued beyond the high-water mark, wait for onDrain. */
  write(data: Buffer): boolean;
  onDrain(cb: () => void): void;
  /** End of stdin (the command reads end of file). */
  endInput(): void;
  signal(name: ExecSignal): void;
  /** Backpressure on output: stop / resume reading it (the command blocks when its pipe fills). */
  pause(): void;
  resume(): void;
  close(): void;
}

/** Why a command could not start; `code` is the guest's (validation_failed, too_many_runs, unreachable, …). */
export class ExecRefused extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'ExecRefused';
  }
}

export interface GuestExec {
  /** Starts the command; rejects with ExecRefused when it does not start. */
  open(vm: { id: string; ip: string }, req: ExecRequest, signal: AbortSignal): Promise<ExecChannel>;
}
