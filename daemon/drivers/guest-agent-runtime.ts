import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import { AgentStreamParser, DEFAULT_STREAM_BOUNDS, type StreamBounds } from '../core/deploys-output.js';
import { AppRuntimeError, type AppResult, type AppRuntime, type AppTarget, type LineSink } from '../core/ports/app-runtime.js';
import { BoundExceeded, fmtMs, parseJsonOrUndefined, readBounded } from './bounded-read.js';

export interface GuestAgentRuntimeOptions {
  port: number;
  /** The per-VM agent token (AgentKeys.tokenFor). */
  tokenFor(vmId: string): string;
  /** Where a VM's agent is; default http://<vm ip>:<port> (tests point it at a fake agent). */
  baseUrl?(vm: AppTarget): string;
  connectTimeoutMs?: number;
  /** A build may be silent this long (a slow install) before the agent counts as gone. */
  idleTimeoutMs?: number;
  /** Line and total-byte bounds of streamed answers (build, activate, restart output). */
  stream?: Partial<StreamBounds>;
  /** The whole build exchange (upload, build, start) must end within this; default 30 min. */
  buildTimeoutMs?: number;
  /** Every other exchange (env, activate, restart, logs without follow, error answers); default 5 min. */
  callTimeoutMs?: number;
  /** `logs` without follow: at most this many bytes are relayed; default the stream's total bound. */
  maxLogBytes?: number;
}

/** Small answers (problem+json, 204s): anything bigger is not an answer the agent would send. */
const MAX_SMALL_ANSWER = 64 * 1024;
const CODE = /^[a-z][a-z0-9_]{0,63}$/;

/**
 * The guest agent's app API (v1), over the VM's tap: HTTP on <vm ip>:7611
 * with the VM's bearer token, problem+json errors. Streamed answers are
 * output lines ending with one `fcm-result: {json}` line; they are relayed
 * line by line as they arrive.
 *
 * The agent is not trusted (the VM's owner can replace it): every answer is
 * bounded in bytes (streams: line length and total, AgentStreamParser;
 * small answers: 64 KiB before JSON.parse, then a shape check) and in time
 * (a deadline for the whole exchange, plus the idle timeout). Over a bound
 * the call fails with AppRuntimeError (`output_too_large`, `timeout`,
 * `bad_answer`) and the connection is destroyed. Streamed output honours
 * backpressure: a LineSink that returns a promise pauses the read until it
 * settles, so a slow pusher slows the guest, not the daemon's memory.
 */
export class GuestAgentRuntime implements AppRuntime {
  private readonly bounds: StreamBounds;
  private readonly buildTimeoutMs: number;
  private readonly callTimeoutMs: number;

  constructor(private readonly o: GuestAgentRuntimeOptions) {
    this.bounds = { ...DEFAULT_STREAM_BOUNDS, ...o.stream };
    this.buildTimeoutMs = o.buildTimeoutMs ?? 30 * 60_000;
    this.callTimeoutMs = o.callTimeoutMs ?? 5 * 60_000;
  }

  async putEnv(vm: AppTarget, vars: Record<string, string>): Promise<void> {
    const x = await this.open(vm, 'PUT', '/v1/env', { body: Buffer.from(JSON.stringify({ vars })), contentType: 'application/json', deadlineMs: this.callTimeoutMs });
    // The answer is a 204; whatever else comes is read within the bounds and dropped.
    await this.small(x, 'the config answer');
  }

  async build(vm: AppTarget, version: number, commit: string, tar: Readable, onLine: LineSink): Promise<AppResult> {
    const x = await this.open(vm, 'POST', `/v1/releases/${version}`, {
      body: tar,
      contentType: 'application/x-tar',
      headers: { 'x-fcm-commit': commit },
      deadlineMs: this.buildTimeoutMs,
    });
    return this.stream(x, onLine);
  }

  async activate(vm: AppTarget, version: number, onLine: LineSink): Promise<AppResult> {
    return this.stream(await this.open(vm, 'POST', `/v1/releases/${version}/activate`, { deadlineMs: this.callTimeoutMs }), onLine);
  }

  async restart(vm: AppTarget, onLine: LineSink): Promise<AppResult> {
    return this.stream(await this.open(vm, 'POST', '/v1/restart', { deadlineMs: this.callTimeoutMs }), onLine);
  }

  async logs(vm: AppTarget, opts: { lines: number; follow: boolean }, signal: AbortSignal): Promise<Readable> {
    const q = `lines=${opts.lines}${opts.follow ? '&follow=1' : ''}`;
    // Following has no idle limit and no deadline: a quiet app is not a dead agent. The caller's
    // signal ends it (the client left, or stopped reading: see the logs route). Bytes are relayed
    // as they come, through pipes, so backpressure reaches the guest.
    const x = await this.open(vm, 'GET', `/v1/logs?${q}`, {
      signal,
      idleTimeoutMs: opts.follow ? 0 : undefined,
      deadlineMs: opts.follow ? 0 : this.callTimeoutMs,
    });
    if (opts.follow) return x.res;
    return capped(x, this.o.maxLogBytes ?? this.bounds.maxTotalBytes);
  }

  /** A streamed answer: lines to `onLine` (waiting when it returns a promise), then the result. */
  private stream(x: Exchange, onLine: LineSink): Promise<AppResult> {
    const { res } = x;
    return new Promise((resolve, reject) => {
      let settled = false;
      const waits: Promise<void>[] = [];
      const fail = (e: AppRuntimeError) => {
        if (settled) return;
        settled = true;
        x.req.destroy();
        reject(e);
      };
      const parser = new AgentStreamParser((l) => {
        const w = onLine(l);
        if (w instanceof Promise) waits.push(w as Promise<void>);
      }, this.bounds);
      const waitFor = (): Promise<void> | null => {
        if (!waits.length) return null;
        const all = Promise.all(waits.splice(0)).then(() => undefined);
        return all;
      };
      res.on('data', (c: Buffer) => {
        if (settled) return;
        try {
          if (!parser.push(c)) {
            return fail(new AppRuntimeError(`the guest agent sent ${parser.overLimit}; stopped reading it`, 'output_too_large'));
          }
        } catch (e) {
          return fail(new AppRuntimeError(`cannot relay the guest's output: ${(e as Error).message}`, 'failed'));
        }
        // One chunk per turn of the event loop: libuv would otherwise read (and this parse) up to 32
        // chunks in a row from a fast guest — ~2 million tiny lines — before anyone else is served.
        res.pause();
        const w = waitFor();
        (w ?? new Promise<void>((r) => setImmediate(r))).then(
          () => {
            if (!settled) res.resume();
          },
          (e: unknown) => fail(new AppRuntimeError(`the output could not be delivered: ${(e as Error)?.message ?? e}`, 'client_gone')),
        );
      });
      res.on('error', (e) => fail(x.cut() ?? new AppRuntimeError(`the output stream broke: ${e.message}`, 'unreachable')));
      res.on('close', () => fail(x.cut() ?? new AppRuntimeError('the guest agent closed the connection before reporting a result', 'unreachable')));
      res.on('end', () => {
        if (settled) return;
        // An answer without a length ends when its connection does: also when the deadline cut it.
        const cut = x.cut();
        if (cut) return fail(cut);
        let result: AppResult | null;
        try {
          result = parser.end();
        } catch (e) {
          return fail(new AppRuntimeError(`cannot relay the guest's output: ${(e as Error).message}`, 'failed'));
        }
        settled = true;
        const done = () => (result ? resolve(result) : reject(new AppRuntimeError('the guest agent stopped before reporting a result', 'unreachable')));
        const w = waitFor();
        if (w) w.then(done, done);
        else done();
      });
    });
  }

  /** A small answer (204, problem+json): read within the bounds, then dropped. */
  private async small(x: Exchange, what: string): Promise<Buffer> {
    let body: Buffer;
    try {
      body = await readBounded(x.res, { maxBytes: MAX_SMALL_ANSWER, timeoutMs: x.leftMs() + 1000, what: `${what} of the guest agent` });
    } catch (e) {
      throw x.cut() ?? boundError(e);
    }
    // An answer without a length ends when its connection does: also when the deadline cut it.
    const cut = x.cut();
    if (cut) throw cut;
    x.req.destroy();
    return body;
  }

  /**
   * Sends a request; resolves with a 2xx response (body unread) and rejects
   * with AppRuntimeError otherwise. `deadlineMs` (0: none) bounds the whole
   * exchange, the response body included: when it passes, the connection is
   * destroyed and the reader sees `x.cut()`.
   */
  private open(
    vm: AppTarget,
    method: string,
    path: string,
    o: { body?: Buffer | Readable; contentType?: string; headers?: Record<string, string>; signal?: AbortSignal; idleTimeoutMs?: number | undefined; deadlineMs: number },
  ): Promise<Exchange> {
    const base = this.o.baseUrl?.(vm) ?? `http://${vm.ip}:${this.o.port}`;
    const idle = o.idleTimeoutMs ?? this.o.idleTimeoutMs ?? 5 * 60_000;
    const started = Date.now();
    return new Promise((resolve, reject) => {
      let settled = false;
      let cut: AppRuntimeError | null = null;
      const fail = (e: AppRuntimeError) => {
        if (settled) return;
        settled = true;
        reject(e);
      };
      const req = request(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.o.tokenFor(vm.id)}`,
          ...(o.contentType ? { 'content-type': o.contentType } : {}),
          ...(Buffer.isBuffer(o.body) ? { 'content-length': String(o.body.length) } : {}),
          ...o.headers,
        },
        // One connection per call: long streams never share a socket, and a dead guest is noticed at connect.
        agent: false,
        // A guest must not make the daemon parse megabytes of headers.
        maxHeaderSize: 16 * 1024,
        ...(o.signal ? { signal: o.signal } : {}),
      });
      const deadline = o.deadlineMs
        ? setTimeout(() => {
            cut = new AppRuntimeError(`no complete answer within ${fmtMs(o.deadlineMs)}`, 'timeout');
            req.destroy(cut);
          }, o.deadlineMs)
        : null;
      req.on('close', () => {
        if (deadline) clearTimeout(deadline);
      });
      const connectTimer = setTimeout(() => req.destroy(new Error('connect timeout')), this.o.connectTimeoutMs ?? 5000);
      req.on('socket', (s) => {
        if (!s.connecting) clearTimeout(connectTimer);
        else s.once('connect', () => clearTimeout(connectTimer));
        if (idle) s.setTimeout(idle, () => req.destroy(new Error(`no answer for ${Math.round(idle / 1000)} s`)));
      });
      const x = (res: IncomingMessage): Exchange => ({
        req,
        res,
        cut: () => cut,
        leftMs: () => (o.deadlineMs ? Math.max(1, o.deadlineMs - (Date.now() - started)) : this.callTimeoutMs),
      });
      req.on('error', (e) => {
        clearTimeout(connectTimer);
        fail(cut ?? new AppRuntimeError(e.message, 'unreachable'));
      });
      req.on('response', (res) => {
        clearTimeout(connectTimer);
        // Whatever the readers below do, an aborted answer must never be an unhandled 'error'.
        res.on('error', () => {});
        if (settled) return void res.resume();
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          settled = true;
          resolve(x(res));
          return;
        }
        // An error answer: problem+json, read within the bounds, parsed only then, shape checked after.
        readBounded(res, { maxBytes: MAX_SMALL_ANSWER, timeoutMs: x(res).leftMs() + 1000, what: `the guest agent's HTTP ${status} answer` }).then(
          (body) => {
            req.destroy();
            if (cut) return fail(cut);
            const p = parseJsonOrUndefined(body.toString('utf8'));
            const rec = p && typeof p === 'object' && !Array.isArray(p) ? (p as Record<string, unknown>) : {};
            const code = typeof rec.code === 'string' && CODE.test(rec.code) ? rec.code : `http_${status}`;
            const detail = typeof rec.detail === 'string' && rec.detail ? rec.detail.slice(0, 2000) : `HTTP ${status}`;
            fail(new AppRuntimeError(detail, code));
          },
          (e: unknown) => fail(cut ?? boundError(e)),
        );
      });
      if (o.body === undefined) req.end();
      else if (Buffer.isBuffer(o.body)) req.end(o.body);
      else {
        const body = o.body;
        body.on('error', (e) => req.destroy(e));
        body.pipe(req);
      }
    });
  }
}

interface Exchange {
  req: ClientRequest;
  res: IncomingMessage;
  /** Why the exchange was cut by its deadline, or null. */
  cut(): AppRuntimeError | null;
  /** Time left before the deadline. */
  leftMs(): number;
}

function boundError(e: unknown): AppRuntimeError {
  if (e instanceof AppRuntimeError) return e;
  if (e instanceof BoundExceeded) return new AppRuntimeError(e.message, e.bound === 'bytes' ? 'output_too_large' : 'timeout');
  return new AppRuntimeError((e as Error)?.message ?? String(e), 'unreachable');
}

/**
 * At most `maxBytes` of a plain (not followed) log answer, relayed through a
 * pipe (backpressure); past the bound or the deadline the agent's connection
 * is cut and the text ends with a line that says so.
 */
function capped(x: Exchange, maxBytes: number): Readable {
  let sent = 0;
  let ended = false;
  const out = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (ended) return cb();
      sent += chunk.length;
      if (sent <= maxBytes) return cb(null, chunk);
      this.push(chunk.subarray(0, chunk.length - (sent - maxBytes)));
      finish(`the log answer passed ${mib(maxBytes)}; the rest was not read`);
      cb();
    },
    flush(cb) {
      // An answer without a length ends when its connection does: also when the deadline cut it.
      finish(x.cut() ? DEADLINE_NOTE : null);
      cb();
    },
  });
  const finish = (note: string | null) => {
    if (ended) return;
    ended = true;
    if (note) out.push(`\n[fcm: ${note}]\n`);
    out.push(null);
    x.req.destroy();
  };
  // A connection cut early (deadline, a broken guest) ends the text with why, never with an error.
  const broken = () => finish(x.cut() ? DEADLINE_NOTE : 'the guest agent broke off the log answer');
  x.res.on('error', broken);
  x.res.on('close', () => {
    if (!x.res.complete) broken();
  });
  out.on('close', () => x.req.destroy());
  x.res.pipe(out);
  return out;
}

const DEADLINE_NOTE = 'the guest agent did not finish the log answer within the deadline';

function mib(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${Math.round((bytes / 1024 / 1024) * 10) / 10} MiB` : `${Math.round(bytes / 1024)} KiB`;
}
