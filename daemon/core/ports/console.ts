/**
 * The Console port: what the daemon needs from a VM's serial console — a
 * byte stream, the recent output (the hypervisor's console log) and the
 * terminal size (set by the guest agent: a serial line has no window size of
 * its own). Driver: SocketConsole (drivers/console-socket.ts); twin:
 * MemoryConsole (drivers/memory/memory-console.ts); contract:
 * test/unit/console-contract.test.ts. The wire protocol clients speak is in
 * core/console.ts.
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

export interface Console {
  /** Connects to the console stream. Rejects when there is none (the VM's process is not running). */
  connect(vm: ConsoleTarget): Promise<ConsoleLink>;
  /** The last ≤ maxBytes bytes the console printed, starting at a line boundary (empty when there is no log). */
  tail(vm: ConsoleTarget, maxBytes: number): Promise<Buffer>;
  /** Sets the guest console's window size (TIOCSWINSZ on ttyS0; the shell gets SIGWINCH). */
  resize(vm: ConsoleTarget, size: TermSize): Promise<void>;
}
