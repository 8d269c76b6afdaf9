/**
 * `fcm console [vm]`: the VM's serial console in this terminal, over the
 * daemon's console WebSocket (openapi.yaml `openConsole`).
 *
 * - Raw mode while attached: every key goes to the guest (Ctrl-C, Ctrl-Z,
 *   arrows...) except the detach key, Ctrl-], announced on connect.
 * - The terminal is restored on every way out: detach, the VM stopping, a
 *   lost connection, an error, SIGTERM/SIGHUP, and process exit.
 * - The window size follows the terminal (sent on connect and on SIGWINCH).
 * - The shell lives in the VM: when the connection drops (daemon restart)
 *   fcm reconnects by itself and prints only what it had not shown yet.
 * - `--web` prints (and opens) a one-time link to the web console instead.
 */
import WebSocket from 'ws';
import { newSince } from '../console-replay.js';
import { trustedCas } from '../ca-fetch.js';
import { ApiError, isApiError, refusedUpgrade, unreachable } from '../errors.js';
import { APP_FLAG, appName } from './app.js';
import type { Command } from './command.js';
import type { Ctx } from './context.js';
import { openBrowser } from './login.js';
import type { Parsed } from './parse.js';
import { UsageError } from './parse.js';
import { CliError, EXIT } from './render-error.js';
import { displayPath } from './resolve.js';

export const DETACH_KEY = 0x1d; // Ctrl-]
const RECONNECT_FOR_MS = 60_000;
const SEEN_BYTES = 64 * 1024;

export function consoleCommand(): Command {
  return {
    name: 'console',
    group: 'vms',
    summary: 'Open a shell in a VM (it keeps running when you detach)',
    description:
      "Attaches this terminal to the VM's console: a root shell that belongs to the VM, not to this\n" +
      'connection. Detach with Ctrl-] and come back later to the same shell, with recent output\n' +
      'replayed; several terminals may attach at once. --web prints a one-time link (valid 60 s)\n' +
      'to the web console and opens it in your browser.',
    args: [{ name: 'name', description: "The VM's name (default: the VM in ./.fcm)", optional: true, vmRef: true }],
    flags: [APP_FLAG, { long: 'web', type: 'boolean', description: 'Open the web console in a browser instead (a one-time link)' }],
    examples: ['fcm console', 'fcm console cosmic-nova', 'fcm console --web'],
    run: runConsole,
  };
}

async function runConsole(ctx: Ctx, parsed: Parsed): Promise<number> {
  ctx.errCtx.command = 'console';
  const name = appName(ctx, parsed, parsed.positionals[0], 'fcm console <name> or -a <app>');
  if (parsed.flags.web === true) return openWeb(ctx, name);
  return new ConsoleSession(ctx, name).run();
}

async function openWeb(ctx: Ctx, name: string): Promise<number> {
  const t = (await ctx.client().call('post', '/v1/vms/{name}/console/tickets', { path: { name } })) as { ticket: string; expiresAt: string; webUrl: string };
  const url = `${ctx.host().url.replace(/\/+$/, '')}${t.webUrl}`;
  if (ctx.json) {
    ctx.print(`${JSON.stringify({ url, expiresAt: t.expiresAt }, null, 2)}\n`);
    return EXIT.ok;
  }
  ctx.print(`${url}\n`);
  const opened = openBrowser(url, ctx.io.env);
  ctx.note(opened ? 'Opened the web console in your browser (the link works once, within 60 s).' : 'Open this link in a browser within 60 s (it works once).');
  return EXIT.ok;
}

type Outcome =
  | { kind: 'detach' }
  | { kind: 'exit'; reason: string }
  | { kind: 'lost'; code: number; reason: string }
  | { kind: 'closed'; code: number; reason: string }
  | { kind: 'revoked'; message: string }
  | { kind: 'eof' }
  | { kind: 'aborted' };

interface TtyIn {
  isTTY?: boolean;
  isRaw?: boolean;
  setRawMode?(raw: boolean): unknown;
  on(ev: 'data', cb: (d: Buffer | string) => void): unknown;
  on(ev: 'end', cb: () => void): unknown;
  removeListener(ev: string, cb: (...a: any[]) => void): unknown;
  resume?(): unknown;
  pause?(): unknown;
}

interface TtyOut {
  write(s: string | Uint8Array): unknown;
  isTTY?: boolean;
  columns?: number;
  rows?: number;
  on?(ev: 'resize', cb: () => void): unknown;
  removeListener?(ev: 'resize', cb: () => void): unknown;
}

class ConsoleSession {
  private readonly stdin: TtyIn;
  private readonly stdout: TtyOut;
  private readonly tty: boolean;
  private rawWas: boolean | null = null;
  /** The tail of what this terminal has shown (to skip it in a reconnect's replay). */
  private seen = Buffer.alloc(0);
  private restored = false;

  constructor(
    private readonly ctx: Ctx,
    private readonly name: string,
  ) {
    this.stdin = ctx.io.stdin as unknown as TtyIn;
    this.stdout = ctx.io.stdout as unknown as TtyOut;
    this.tty = Boolean(this.stdin.isTTY && typeof this.stdin.setRawMode === 'function');
  }

  async run(): Promise<number> {
    const restoreOnExit = () => this.restore();
    process.once('exit', restoreOnExit);
    const hup = () => this.abort.abort();
    process.once('SIGHUP', hup);
    try {
      return await this.loop();
    } finally {
      this.restore();
      process.removeListener('exit', restoreOnExit);
      process.removeListener('SIGHUP', hup);
    }
  }

  private readonly abort = new AbortController();

  private async loop(): Promise<number> {
    let first = true;
    let lostSince = 0;
    for (;;) {
      let conn: Conn;
      try {
        conn = await this.connect();
      } catch (e) {
        if (first) throw this.explain(e);
        if (!this.gaveUp) {
          const retryable = isApiError(e, 'unreachable') || (isApiError(e) && e.status >= 500);
          if (!retryable || Date.now() - lostSince > RECONNECT_FOR_MS || this.stopped()) {
            this.restore();
            if (isApiError(e, 'invalid_state')) return this.vmStopped('the VM is no longer running');
            throw this.explain(e);
          }
          await sleep(1000, this.stopSignal());
        }
        if (this.gaveUp) {
          this.restore();
          this.ctx.io.stderr.write(`\r\n${this.ctx.err.dim(`Gave up reconnecting; the shell in ${this.name} keeps running. Back with: fcm console ${this.name}`)}\n`);
          return EXIT.ok;
        }
        continue;
      }
      this.stopWatchingDetach();
      if (first) {
        this.ctx.io.stderr.write(
          `${this.ctx.err.dim(`Connected to ${this.name}. Detach with Ctrl-] — the shell keeps running; fcm console ${this.name} brings you back.`)}\n`,
        );
        this.enterRaw();
      } else {
        this.ctx.io.stderr.write(`\r\n${this.ctx.err.dim('[fcm] reconnected')}\r\n`);
      }
      const outcome = await this.attached(conn, !first);
      first = false;
      switch (outcome.kind) {
        case 'detach':
          this.restore();
          this.ctx.io.stderr.write(`\r\n${this.ctx.err.dim(`Detached from ${this.name}; its shell keeps running. Back with: fcm console ${this.name}`)}\n`);
          return EXIT.ok;
        case 'eof':
          return EXIT.ok;
        case 'exit':
          this.restore();
          return this.vmStopped(outcome.reason);
        case 'aborted':
          this.restore();
          this.ctx.io.stderr.write('\n');
          return EXIT.interrupted;
        case 'closed':
          this.restore();
          throw new CliError(`The console connection was closed (${outcome.code}${outcome.reason ? `: ${outcome.reason}` : ''})`, {
            hint: `fcm console ${this.name} attaches again; the shell kept running`,
          });
        case 'revoked':
          this.restore();
          throw new CliError('The server closed the console: your access was revoked', {
            detail: outcome.message || undefined,
            hint: 'log in again (fcm login) if you should still have access; the shell kept running',
          });
        case 'lost':
          lostSince = Date.now();
          this.ctx.io.stderr.write(`\r\n${this.ctx.err.dim(`[fcm] connection lost (${outcome.reason || outcome.code}); reconnecting… (Ctrl-] gives up)`)}\r\n`);
          this.watchDetachWhileAway();
          await sleep(300, this.stopSignal());
          continue;
      }
    }
  }

  private gaveUp = false;
  private awayListener: ((d: Buffer | string) => void) | null = null;

  /** While reconnecting, Ctrl-] still works: it stops trying. */
  private watchDetachWhileAway(): void {
    if (!this.tty || this.awayListener) return;
    this.awayListener = (d) => {
      const b = typeof d === 'string' ? Buffer.from(d, 'utf8') : d;
      if (b.includes(DETACH_KEY)) {
        this.gaveUp = true;
        this.abort.abort();
      }
    };
    this.stdin.on('data', this.awayListener);
    this.stdin.resume?.();
  }

  private stopWatchingDetach(): void {
    if (!this.awayListener) return;
    this.stdin.removeListener('data', this.awayListener);
    this.awayListener = null;
  }

  private vmStopped(reason: string): number {
    this.ctx.io.stderr.write(`\n${this.ctx.err.yellow('Console closed:')} ${reason}.\n${this.ctx.err.cyan('Hint:')} start it again with: fcm start ${this.name}\n`);
    return EXIT.failure;
  }

  private stopped(): boolean {
    return this.abort.signal.aborted || Boolean(this.ctx.io.signal?.aborted);
  }

  private stopSignal(): AbortSignal {
    return this.ctx.io.signal ? AbortSignal.any([this.abort.signal, this.ctx.io.signal]) : this.abort.signal;
  }

  /** Refusals as the CLI shows every API error; a stopped VM gets its own clear words. */
  private explain(e: unknown): unknown {
    if (isApiError(e, 'invalid_state')) {
      return new CliError(`${this.name} is not running, so it has no console`, { detail: e.detail, hint: `start it with: fcm start ${this.name}` });
    }
    return e;
  }

  private connect(): Promise<Conn> {
    const base = this.ctx.host().url.replace(/\/+$/, '');
    const token = this.ctx.requireToken();
    const ca = this.ctx.ca();
    const url = new URL(`${base}/v1/vms/${encodeURIComponent(this.name)}/console`);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, {
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'user-agent': `fcm-cli/${this.ctx.version}` },
        handshakeTimeout: 15_000,
        perMessageDeflate: false,
        ...(ca && url.protocol === 'wss:' ? { ca: trustedCas(ca.pem) } : {}),
      });
      let settled = false;
      const fail = (e: unknown) => {
        if (settled) return;
        settled = true;
        ws.removeAllListeners();
        ws.on('error', () => {});
        ws.terminate();
        reject(e);
      };
      ws.once('unexpected-response', (_req, res) => refusedUpgrade(res, base, fail));
      ws.once('error', (e) => fail(unreachable(base, e)));
      ws.once('close', (code, reason) => fail(unreachable(base, new Error(`closed before the console answered (${code} ${reason.toString()})`))));
      // The first message is hello; the replay and live output follow in attached().
      ws.once('message', (data, isBinary) => {
        const text = isBinary ? '' : Buffer.from(data as Buffer).toString('utf8');
        let hello: { type?: string; replayBytes?: number } | null = null;
        try {
          hello = JSON.parse(text);
        } catch {
          hello = null;
        }
        if (hello?.type !== 'hello') return fail(new ApiError({ code: 'bad_response', status: 0, title: 'The console did not say hello', url: base }));
        settled = true;
        ws.removeAllListeners();
        // Everything after hello (the replay may be in the same TCP read) waits in the inbox for attached().
        const inbox = new Inbox();
        ws.on('message', (d, bin) => inbox.push({ kind: 'message', data: Array.isArray(d) ? Buffer.concat(d) : Buffer.from(d as ArrayBuffer), binary: bin }));
        ws.on('close', (code, reason) => inbox.push({ kind: 'close', code, reason: reason.toString() }));
        ws.on('error', () => {});
        resolve({ ws, hello: { replayBytes: Number(hello.replayBytes) || 0 }, inbox });
      });
    });
  }

  /** Pumps bytes both ways until something ends the attachment. */
  private attached({ ws, hello, inbox }: Conn, reconnect: boolean): Promise<Outcome> {
    const stop = this.stopSignal();
    return new Promise((resolve) => {
      let replayLeft = hello.replayBytes;
      let replay: Buffer[] = [];
      let exitReason: string | null = null;
      let lastError: string | null = null;
      let done = false;
      const finish = (o: Outcome) => {
        if (done) return;
        done = true;
        this.stdin.removeListener('data', onKey);
        this.stdin.removeListener('end', onEnd);
        this.stdout.removeListener?.('resize', sendSize);
        stop.removeEventListener('abort', onAbort);
        this.stdin.pause?.();
        if (o.kind === 'detach' || o.kind === 'aborted' || o.kind === 'eof') ws.close(1000);
        resolve(o);
      };
      const show = (b: Buffer) => {
        this.stdout.write(b);
        this.seen = this.seen.length + b.length > 2 * SEEN_BYTES ? Buffer.concat([this.seen, b]).subarray(-SEEN_BYTES) : Buffer.concat([this.seen, b]);
      };
      const flushReplay = () => {
        const all = Buffer.concat(replay);
        replay = [];
        if (!reconnect) return show(all);
        const fresh = newSince(this.seen, all);
        if (fresh) show(fresh);
        else {
          this.ctx.io.stderr.write(`${this.ctx.err.dim('[fcm] recent output:')}\r\n`);
          show(all);
        }
      };
      const onMessage = (buf: Buffer, isBinary: boolean) => {
        if (!isBinary) {
          let msg: { type?: string; reason?: string; message?: string } = {};
          try {
            msg = JSON.parse(buf.toString('utf8'));
          } catch {
            return;
          }
          if (msg.type === 'exit') exitReason = msg.reason ?? 'the VM stopped';
          if (msg.type === 'error' && typeof msg.message === 'string') lastError = msg.message;
          return;
        }
        if (replayLeft > 0) {
          const take = buf.subarray(0, replayLeft);
          replay.push(take);
          replayLeft -= take.length;
          if (replayLeft === 0) flushReplay();
          if (take.length < buf.length) show(buf.subarray(take.length));
          return;
        }
        show(buf);
      };
      const onClose = (code: number, r: string) => {
        if (replay.length) flushReplay();
        if (exitReason !== null) return finish({ kind: 'exit', reason: exitReason });
        // 1008: the token (or user) was revoked; reconnecting with it would only be refused.
        if (code === 1008) return finish({ kind: 'revoked', message: lastError ?? r });
        if (code === 1000 && !done) return finish({ kind: 'closed', code, reason: r });
        finish({ kind: 'lost', code, reason: r });
      };
      const onKey = (d: Buffer | string) => {
        const b = typeof d === 'string' ? Buffer.from(d, 'utf8') : d;
        const i = this.tty ? b.indexOf(DETACH_KEY) : -1;
        const out = i === -1 ? b : b.subarray(0, i);
        if (out.length && ws.readyState === WebSocket.OPEN) ws.send(out, { binary: true });
        if (i !== -1) finish({ kind: 'detach' });
      };
      // Piped input: send it all, give the guest a moment to answer, then leave.
      const onEnd = () => setTimeout(() => finish({ kind: 'eof' }), 500);
      const sendSize = () => {
        const cols = this.stdout.columns;
        const rows = this.stdout.rows;
        if (this.tty && cols && rows && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'resize', cols, rows }), { binary: false });
      };
      const onAbort = () => finish({ kind: 'aborted' });
      this.stdin.on('data', onKey);
      this.stdin.on('end', onEnd);
      this.stdout.on?.('resize', sendSize);
      stop.addEventListener('abort', onAbort, { once: true });
      if (this.stopped()) return onAbort();
      inbox.drain((e) => (e.kind === 'message' ? onMessage(e.data, e.binary) : onClose(e.code, e.reason)));
      sendSize();
      this.stdin.resume?.();
    });
  }

  private enterRaw(): void {
    if (!this.tty || this.rawWas !== null) return;
    this.rawWas = Boolean(this.stdin.isRaw);
    this.stdin.setRawMode!(true);
  }

  /** Idempotent; safe from an exit handler. */
  private restore(): void {
    if (this.restored) return;
    if (this.rawWas !== null) {
      try {
        this.stdin.setRawMode!(this.rawWas);
      } catch {
        /* the terminal is gone */
      }
      this.rawWas = null;
    }
    this.stdin.pause?.();
    this.restored = true;
  }
}

type InboxEvent = { kind: 'message'; data: Buffer; binary: boolean } | { kind: 'close'; code: number; reason: string };

/** Holds a connection's events until someone drains them (nothing is lost between hello and attached()). */
class Inbox {
  private queue: InboxEvent[] = [];
  private sink: ((e: InboxEvent) => void) | null = null;

  push(e: InboxEvent): void {
    if (this.sink) this.sink(e);
    else this.queue.push(e);
  }

  drain(sink: (e: InboxEvent) => void): void {
    this.sink = sink;
    for (const e of this.queue.splice(0)) sink(e);
  }
}

interface Conn {
  ws: WebSocket;
  hello: { replayBytes: number };
  inbox: Inbox;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
