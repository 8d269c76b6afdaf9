/**
 * A console WebSocket client for tests (API, host, benchmark): connects with
 * a bearer token or a ticket, records hello/replay/output/control messages,
 * waits for output by pattern. A refused upgrade rejects with the HTTP
 * status and the problem+json body.
 */
import WebSocket from 'ws';

export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: any,
  ) {
    super(`console upgrade refused: ${status} ${JSON.stringify(body)}`);
  }
}

export interface OpenOptions {
  token?: string | null;
  ticket?: string;
  timeoutMs?: number;
  /** Connect from this local address (127.0.0.x: another client as far as limits go). */
  localAddress?: string;
}

export class ConsoleWs {
  hello: { type: 'hello'; vm: string; replayBytes: number } | null = null;
  /** Replay bytes (the first replayBytes after hello); complete once open() resolved. */
  replay = Buffer.alloc(0);
  /** Everything received as terminal bytes (replay + live). */
  raw = Buffer.alloc(0);
  readonly controls: any[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.on('message', (data, isBinary) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      if (isBinary) {
        this.raw = Buffer.concat([this.raw, buf]);
        if (this.hello && this.replay.length < this.hello.replayBytes) this.replay = this.raw.subarray(0, Math.min(this.raw.length, this.hello.replayBytes));
      } else {
        const msg = JSON.parse(buf.toString('utf8'));
        if (msg.type === 'hello') this.hello = msg;
        this.controls.push(msg);
      }
      for (const w of this.waiters) w();
    });
    ws.on('close', () => this.waiters.forEach((w) => w()));
  }

  static open(url: string, o: OpenOptions = {}): Promise<ConsoleWs> {
    const u = new URL(url);
    if (o.ticket) u.searchParams.set('ticket', o.ticket);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(u, { headers: o.token ? { authorization: `Bearer ${o.token}` } : {}, perMessageDeflate: false, ...(o.localAddress ? { localAddress: o.localAddress } : {}) });
    const c = new ConsoleWs(ws);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`no hello from ${url} within ${o.timeoutMs ?? 15_000} ms`));
      }, o.timeoutMs ?? 15_000);
      ws.once('unexpected-response', (_req, res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          clearTimeout(timer);
          let body: any = text;
          try {
            body = JSON.parse(text);
          } catch {
            /* not JSON */
          }
          reject(Object.assign(new UpgradeRefused(res.statusCode ?? 0, body), { headers: res.headers }));
        });
      });
      ws.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      // Resolves once hello and the whole replay are in (they may come in separate reads).
      const check = () => {
        if (c.hello && c.raw.length >= c.hello.replayBytes) {
          clearTimeout(timer);
          c.waiters = c.waiters.filter((w) => w !== check);
          resolve(c);
        }
      };
      c.waiters.push(check);
    });
  }

  /** Terminal output as text (ANSI left in). */
  get text(): string {
    return this.raw.toString('utf8');
  }

  /** Live output only (after the replay). */
  get live(): string {
    return this.raw.subarray(this.hello?.replayBytes ?? 0).toString('utf8');
  }

  send(s: string | Buffer): void {
    this.ws.send(typeof s === 'string' ? Buffer.from(s) : s, { binary: true });
  }

  control(msg: unknown): void {
    this.ws.send(JSON.stringify(msg), { binary: false });
  }

  resize(cols: number, rows: number): void {
    this.control({ type: 'resize', cols, rows });
  }

  /** Resolves with the match once the live output (from `from`, default: everything after the replay) matches. */
  waitFor(re: RegExp, opts: { timeoutMs?: number; from?: number } = {}): Promise<RegExpMatchArray> {
    const from = opts.from ?? this.hello?.replayBytes ?? 0;
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = this.raw.subarray(from).toString('utf8').match(re);
        if (m) {
          clearTimeout(t);
          this.waiters = this.waiters.filter((w) => w !== check);
          resolve(m);
        } else if (this.ws.readyState === WebSocket.CLOSED) {
          clearTimeout(t);
          reject(new Error(`console closed before showing ${re}; it showed:\n${JSON.stringify(this.raw.subarray(from).toString('utf8').slice(-2000))}`));
        }
      };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`console never showed ${re}; it showed:\n${JSON.stringify(this.raw.subarray(from).toString('utf8').slice(-2000))}`));
      }, opts.timeoutMs ?? 20_000);
      this.waiters.push(check);
      check();
    });
  }

  /** Waits for a control message of this type. */
  waitControl(type: string, timeoutMs = 20_000): Promise<any> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = this.controls.find((c) => c.type === type);
        if (m) {
          clearTimeout(t);
          resolve(m);
        }
      };
      const t = setTimeout(() => reject(new Error(`no ${type} message; got ${JSON.stringify(this.controls)}`)), timeoutMs);
      this.waiters.push(check);
      check();
    });
  }

  close(): Promise<{ code: number; reason: string }> {
    this.ws.close(1000);
    return this.closed;
  }
}

/**
 * Runs a command in the console and returns its output, without terminal
 * control sequences (bash's bracketed-paste toggles) and CRs: sends
 * `echo <begin>; cmd; echo <end>\r` and takes what the shell printed between
 * the two markers. Each marker is built by the shell (a""b), so neither the
 * echo of the typed line (however the terminal wraps it) nor a prompt still
 * arriving from the previous command can be mistaken for the output.
 */
export async function runInConsole(c: ConsoleWs, cmd: string, timeoutMs = 20_000): Promise<string> {
  const id = Math.random().toString(36).slice(2, 8);
  const [begin, end] = [`__fcm_b${id}`, `__fcm_e${id}`];
  const split = (m: string) => `${m.slice(0, 5)}""${m.slice(5)}`;
  const from = c.raw.length;
  c.send(`echo ${split(begin)}; ${cmd}; echo ${split(end)}\r`);
  const m = await c.waitFor(new RegExp(`${begin}\\r?\\n([\\s\\S]*?)${end}`), { from, timeoutMs });
  // eslint-disable-next-line no-control-regex
  return m[1]!.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
}
