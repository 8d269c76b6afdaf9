import { connect, type Socket } from 'node:net';

/** Longer than any answer the daemon asks for (query-status, query-migrate…). */
const MAX_LINE = 1024 * 1024;

/** An asynchronous QMP event: its name and QEMU's own timestamp (wall clock, microseconds). */
export interface QmpEvent {
  event: string;
  atUs: number;
}

/**
 * Minimal QMP client: connect, negotiate capabilities, execute commands one
 * at a time. Asynchronous events go to `onEvent` when set, else are dropped.
 */
export class Qmp {
  private buf = '';
  private pending: { resolve: (v: unknown) => void; reject: (e: Error) => void } | null = null;
  private greeting!: () => void;
  /** Receives events (STOP, RESUME, MIGRATION…): name and timestamp only. */
  onEvent: ((e: QmpEvent) => void) | null = null;

  private constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    // QEMU is the device model a guest drives: its QMP answers are bounded and parsed without
    // throwing, so nothing it sends can raise inside this listener (= end the daemon).
    sock.on('data', (chunk: string) => {
      this.buf += chunk;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl).trim();
        this.buf = this.buf.slice(nl + 1);
        if (!line) continue;
        let msg: unknown;
        try {
          msg = JSON.parse(line);
        } catch {
          return this.broken(new Error('QMP sent a line that is not JSON'));
        }
        if (msg && typeof msg === 'object' && !Array.isArray(msg)) this.onMessage(msg as Record<string, unknown>);
      }
      if (this.buf.length > MAX_LINE) this.broken(new Error(`QMP sent a line longer than ${MAX_LINE} characters`));
    });
    sock.on('error', (e) => this.fail(e));
    sock.on('close', () => this.fail(new Error('QMP connection closed')));
  }

  static async connect(path: string, timeoutMs = 3000): Promise<Qmp> {
    const sock = connect(path);
    const qmp = new Qmp(sock);
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        qmp.greeting = resolve;
        sock.once('error', reject);
      }),
      timeoutMs,
      'QMP greeting',
    );
    await qmp.execute('qmp_capabilities');
    return qmp;
  }

  execute(command: string, args?: Record<string, unknown>, timeoutMs = 5000): Promise<unknown> {
    if (this.pending) return Promise.reject(new Error('QMP command already in flight'));
    const p = new Promise<unknown>((resolve, reject) => (this.pending = { resolve, reject }));
    this.sock.write(JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + '\n');
    return withTimeout(p, timeoutMs, `QMP ${command}`).finally(() => (this.pending = null));
  }

  close(): void {
    this.sock.destroy();
  }

  private onMessage(msg: Record<string, unknown>): void {
    if ('QMP' in msg) return this.greeting?.();
    if ('event' in msg) {
      const ts = msg.timestamp as { seconds?: unknown; microseconds?: unknown } | undefined;
      if (this.onEvent && typeof msg.event === 'string' && typeof ts?.seconds === 'number' && typeof ts.microseconds === 'number') {
        this.onEvent({ event: msg.event, atUs: ts.seconds * 1e6 + ts.microseconds });
      }
      return;
    }
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    if ('error' in msg) {
      const e = msg.error as { class?: string; desc?: string };
      p.reject(new Error(`QMP error ${e.class}: ${e.desc}`));
    } else p.resolve(msg.return);
  }

  private broken(e: Error): void {
    this.buf = '';
    this.sock.destroy();
    this.fail(e);
  }

  private fail(e: Error): void {
    const p = this.pending;
    this.pending = null;
    p?.reject(e);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms))),
  ]).finally(() => clearTimeout(t));
}
