import { request } from 'node:http';
import type { Socket } from 'node:net';
import { ExecRefused, type ExecChannel, type ExecEnd, type ExecExit, type ExecRequest, type ExecSignal, type GuestExec } from '../core/ports/guest-exec.js';
import { readBounded, parseJsonOrUndefined } from './bounded-read.js';
import { EXEC_PROTOCOL, FRAME, FrameDecoder, encodeFrame, stdinFrames } from './exec-frames.js';

export interface AgentExecOptions {
  port: number;
  tokenFor(vmId: string): string;
  /** Where a VM's agent is; default http://<vm ip>:<port> (tests point it at an agent on loopback). */
  baseUrl?(vm: { id: string; ip: string }): string;
  connectTimeoutMs?: number;
  /** From the request to the 101 (the agent waits up to 30 s for its app side at boot). */
  answerTimeoutMs?: number;
  /** Past the command's own deadline, how long the agent has to report its end before the channel is cut. */
  graceMs?: number;
}

const CODE = /^[a-z][a-z0-9_]{0,63}$/;
/** Stdin written but not yet sent beyond this: write() returns false (the caller pauses its client). */
const HIGH_WATER = 1024 * 1024;

/**
 * execCommand of the guest agent (rootfs/guest/agent-openapi.yaml): an HTTP
 * Upgrade to `fcm-exec.v1`, then frames both ways on that connection
 * (exec-frames.ts). The agent is not trusted: a frame is bounded
 * (MAX_FRAME_BYTES), the exit report is shape-checked, a refusal is read
 * within 64 KiB, and the channel is cut when the command's deadline plus a
 * grace passes without an exit report.
 */
export class AgentExec implements GuestExec {
  constructor(private readonly o: AgentExecOptions) {}

  open(vm: { id: string; ip: string }, req: ExecRequest, signal: AbortSignal): Promise<ExecChannel> {
    const base = this.o.baseUrl?.(vm) ?? `http://${vm.ip}:${this.o.port}`;
    const body = Buffer.from(JSON.stringify({ argv: req.argv, timeoutSec: req.timeoutSec }));
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (e: ExecRefused) => {
        if (settled) return;
        settled = true;
        clearTimeout(answerTimer);
        r.destroy();
        reject(e);
      };
      const r = request(`${base}/v1/exec`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${this.o.tokenFor(vm.id)}`,
          'content-type': 'application/json',
          'content-length': String(body.length),
          connection: 'Upgrade',
          upgrade: EXEC_PROTOCOL,
        },
        agent: false,
        maxHeaderSize: 16 * 1024,
        signal,
      });
      const connectTimer = setTimeout(() => r.destroy(new Error('connect timeout')), this.o.connectTimeoutMs ?? 5000);
      const answerTimer = setTimeout(() => fail(new ExecRefused('the guest agent did not answer the exec request in time', 'unreachable')), this.o.answerTimeoutMs ?? 45_000);
      r.on('socket', (s) => {
        if (!s.connecting) clearTimeout(connectTimer);
        else s.once('connect', () => clearTimeout(connectTimer));
      });
      r.on('error', (e) => {
        clearTimeout(connectTimer);
        fail(new ExecRefused(signal.aborted ? 'the client went away' : `cannot reach the guest agent: ${e.message}`, signal.aborted ? 'client_gone' : 'unreachable'));
      });
      r.on('upgrade', (res, socket, head) => {
        clearTimeout(connectTimer);
        clearTimeout(answerTimer);
        if (settled) return void socket.destroy();
        if (String(res.headers.upgrade ?? '').toLowerCase() !== EXEC_PROTOCOL) {
          socket.destroy();
          return fail(new ExecRefused(`the guest agent switched to ${String(res.headers.upgrade)}, not ${EXEC_PROTOCOL}`, 'bad_answer'));
        }
        settled = true;
        resolve(new AgentExecChannel(socket, head, (req.timeoutSec * 1000) + (this.o.graceMs ?? 30_000)));
      });
      r.on('response', (res) => {
        clearTimeout(connectTimer);
        res.on('error', () => {});
        const status = res.statusCode ?? 0;
        readBounded(res, { maxBytes: 64 * 1024, timeoutMs: 10_000, what: `the guest agent's HTTP ${status} answer` }).then(
          (buf) => {
            const p = parseJsonOrUndefined(buf.toString('utf8'));
            const rec = p && typeof p === 'object' && !Array.isArray(p) ? (p as Record<string, unknown>) : {};
            const code = typeof rec.code === 'string' && CODE.test(rec.code) ? rec.code : `http_${status}`;
            const detail = typeof rec.detail === 'string' && rec.detail ? rec.detail.slice(0, 2000) : `HTTP ${status}`;
            fail(new ExecRefused(detail, code));
          },
          (e: unknown) => fail(new ExecRefused((e as Error).message, 'bad_answer')),
        );
      });
      r.end(body);
    });
  }
}

class AgentExecChannel implements ExecChannel {
  private readonly decoder = new FrameDecoder();
  private outputCb: (stream: 'stdout' | 'stderr', data: Buffer) => void = () => {};
  private endCb: ((end: ExecEnd) => void) | null = null;
  private ended: ExecEnd | null = null;
  private inputEnded = false;
  private readonly deadline: NodeJS.Timeout;

  private head: Buffer | null;

  constructor(
    private readonly socket: Socket,
    head: Buffer,
    deadlineMs: number,
  ) {
    socket.setNoDelay(true);
    // Nothing is read before there is someone to hand output to (onOutput): output that came with
    // the 101, or right after it, would otherwise be dropped or buffered without bound.
    socket.pause();
    this.head = head.length ? head : null;
    this.deadline = setTimeout(() => this.finish({ error: 'the guest agent did not report the end of the command within its deadline' }), deadlineMs);
    this.deadline.unref();
    socket.on('data', (c: Buffer) => this.data(c));
    socket.on('error', () => {});
    socket.on('close', () => this.finish({ error: 'the guest agent closed the connection before the command ended' }));
  }

  /** Subscribing starts the reading. */
  onOutput(cb: (stream: 'stdout' | 'stderr', data: Buffer) => void): void {
    this.outputCb = cb;
    const head = this.head;
    this.head = null;
    if (head) this.data(head);
    if (!this.ended) this.socket.resume();
  }

  onEnd(cb: (end: ExecEnd) => void): void {
    this.endCb = cb;
    if (this.ended) cb(this.ended);
  }

  write(data: Buffer): boolean {
    if (this.ended || this.inputEnded || !data.length) return true;
    this.socket.write(stdinFrames(data));
    return this.socket.writableLength < HIGH_WATER;
  }

  onDrain(cb: () => void): void {
    this.socket.on('drain', cb);
  }

  endInput(): void {
    if (this.ended || this.inputEnded) return;
    this.inputEnded = true;
    this.socket.write(encodeFrame(FRAME.stdinEof));
  }

  signal(name: ExecSignal): void {
    if (!this.ended) this.socket.write(encodeFrame(FRAME.signal, Buffer.from(name, 'ascii')));
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** The client left: the agent sees the connection end and kills the command's process group. */
  close(): void {
    this.finish({ error: 'closed' });
  }

  private data(chunk: Buffer): void {
    if (this.ended) return;
    let frames;
    try {
      frames = this.decoder.push(chunk);
    } catch (e) {
      return this.finish({ error: `the guest agent broke the exec protocol: ${(e as Error).message}` });
    }
    for (const f of frames) {
      if (this.ended) return;
      if (f.type === FRAME.stdout) this.outputCb('stdout', f.payload);
      else if (f.type === FRAME.stderr) this.outputCb('stderr', f.payload);
      else if (f.type === FRAME.exit) {
        const exit = parseExit(f.payload);
        return this.finish(exit ? { exit } : { error: 'the guest agent sent a malformed exit report' });
      } else return this.finish({ error: `the guest agent sent an unknown frame type ${f.type}` });
    }
  }

  private finish(end: ExecEnd): void {
    if (this.ended) return;
    this.ended = end;
    clearTimeout(this.deadline);
    this.socket.destroy();
    this.endCb?.(end);
  }
}

/** The agent's exit report, shape-checked; null when it is not one. */
export function parseExit(payload: Buffer): ExecExit | null {
  if (payload.length > 4096) return null;
  const p = parseJsonOrUndefined(payload.toString('utf8'));
  if (!p || typeof p !== 'object' || Array.isArray(p)) return null;
  const { code, signal, timedOut } = p as Record<string, unknown>;
  const okCode = code === null || (Number.isInteger(code) && (code as number) >= 0 && (code as number) <= 255);
  const okSignal = signal === null || (typeof signal === 'string' && /^[A-Z0-9]{1,16}$/.test(signal));
  if (!okCode || !okSignal || typeof timedOut !== 'boolean' || (code === null) === (signal === null)) return null;
  return { code: code as number | null, signal: signal as string | null, timedOut };
}
