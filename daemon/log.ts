import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';

export type Logger = PinoLogger;

/**
 * Structured JSON logs. Secrets never reach them: request headers are not
 * logged at all, URLs are logged without their query string (the OIDC
 * callback carries an authorization code there), and anything named like a
 * credential is redacted.
 */
export function createLogger(level: string, dest?: DestinationStream): Logger {
  const out = dest ?? stdoutByTurn();
  const logger = pino(
    {
      level,
      base: BASE,
      redact: {
        paths: [
          'token', '*.token', 'secret', '*.secret', 'password', '*.password',
          'authorization', '*.authorization', 'req.headers', 'headers.authorization',
          'clientSecret', '*.clientSecret', 'authCode', '*.authCode', 'idToken', '*.idToken',
        ],
        censor: '[redacted]',
      },
      timestamp: isoTimeCached,
      serializers: { req: reqFields },
    },
    out,
  );
  requestLineFormats.set(logger, out);
  return logger;
}

const BASE = { svc: 'fcmd' };
/** The base fields as pino writes them after the time (its "chindings"). */
const BASE_JSON = `,${JSON.stringify(BASE).slice(1, -1)}`;
const INFO = pino.levels.values.info!;

type LoggedRequest = { method?: string; url?: string; ip?: string; socket?: { remotePort?: number } };

/** What a request logs of itself: never its headers, and its URL without the query string. */
function reqFields(req: LoggedRequest) {
  return {
    method: req.method,
    url: typeof req.url === 'string' ? req.url.split('?')[0] : req.url,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

/** What JSON.stringify escapes in a string: quote, backslash, control characters, surrogates (lone ones). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/**
 * JSON.stringify(v) for the strings and numbers of a request line, without its call into the
 * runtime for the common case (a plain string; a finite number, which prints as String(n)).
 */
function jsonValue(v: string | number): string {
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
  return NEEDS_ESCAPE.test(v) ? JSON.stringify(v) : `"${v}"`;
}

/** Loggers made by createLogger → their destination (requestLines writes there directly). */
const requestLineFormats = new WeakMap<Logger, DestinationStream>();

/** The two info lines every request logs (http/request-log.ts), written as `logger` itself would write them. */
export interface RequestLines {
  incoming(reqId: string, req: LoggedRequest): void;
  /** incoming() with the request's fields given one by one (no object made per request). */
  incomingOf(reqId: string, method: string | undefined, url: string | undefined, ip: string | undefined, socket: { remotePort?: number } | undefined): void;
  completed(reqId: string, statusCode: number, responseTime: number): void;
}

/** The address and port fields of the last request line of a connection (a keep-alive client sends many). */
interface PeerFields {
  ip: string | undefined;
  port: number | undefined;
  text: string;
}

/**
 * For a logger made by createLogger: its per-request lines built as text and written to its
 * destination, byte for byte what `logger.info({ reqId, req }, 'incoming request')` and
 * `logger.info({ reqId, res: { statusCode }, responseTime }, 'request completed')` write
 * (test/unit/request-lines.test.ts compares them), without pino's general path — its
 * serializer lookups, redaction wrappers and key-by-key stringifying were ~a tenth of the CPU
 * of a kept GET /v1/vms. Their fields are fixed and carry no secret (the URL without its query;
 * no headers), so skipping redaction hides nothing. The caller checks the level. null for other
 * loggers (they go through pino).
 */
export function requestLines(logger: Logger): RequestLines | null {
  const out = requestLineFormats.get(logger);
  if (!out) return null;
  const head = `{"level":${INFO}`;
  // The address and port, stringified, per connection (the same until its address or port reads otherwise).
  const peers = new WeakMap<object, PeerFields>();
  const peerFields = (ip: string | undefined, port: number | undefined): string =>
    (ip === undefined ? '' : `,"remoteAddress":${jsonValue(ip)}`) + (port === undefined ? '' : `,"remotePort":${jsonValue(port)}`);
  const lines: RequestLines = {
    incoming(reqId, req) {
      lines.incomingOf(reqId, req.method, req.url, req.ip, req.socket);
    },
    incomingOf(reqId, method, url, ip, socket) {
      // reqFields, stringified key by key (JSON.stringify leaves out the undefined ones).
      const port = socket?.remotePort;
      let peer: string;
      if (socket !== undefined && socket !== null) {
        const known = peers.get(socket);
        if (known !== undefined && known.ip === ip && known.port === port) peer = known.text;
        else peers.set(socket, { ip, port, text: (peer = peerFields(ip, port)) });
      } else peer = peerFields(ip, port);
      const q = typeof url === 'string' ? url.indexOf('?') : -1;
      let fields = method === undefined ? '' : `,"method":${jsonValue(method)}`;
      if (url !== undefined) fields += `,"url":${jsonValue(q < 0 ? url : url.slice(0, q))}`;
      fields += peer;
      out.write(`${head}${isoTimeCached()}${BASE_JSON},"reqId":${jsonValue(reqId)},"req":{${fields.slice(1)}},"msg":"incoming request"}\n`);
    },
    completed(reqId, statusCode, responseTime) {
      out.write(`${head}${isoTimeCached()}${BASE_JSON},"reqId":${jsonValue(reqId)},"res":{"statusCode":${jsonValue(statusCode)}},"responseTime":${jsonValue(responseTime)},"msg":"request completed"}\n`);
    },
  };
  return lines;
}

/**
 * The daemon's stdout (journald under systemd): every line logged during an event-loop turn goes
 * out in one synchronous write at its end (setImmediate), instead of pino's default of one
 * asynchronous write per line. A busy API logs two lines per request, and an asynchronous write
 * is a hand-off to libuv's thread pool: measured here, 30 µs of CPU per write against 2.6 µs for
 * a synchronous one (400-byte lines to a file) — ~26 µs of a kept GET /v1/vms. Synchronous writes
 * to stdout are what Node itself does for files and pipes (console.log); the lines and their
 * order are the same, none waits past the turn that logged it, and what a turn logged is written
 * at exit too.
 */
let stdoutStream: DestinationStream | null = null;

/** One per process (it is the process's stdout), however many loggers write to it. */
function stdoutByTurn(): DestinationStream {
  if (stdoutStream) return stdoutStream;
  const out = pino.destination({ dest: 1, sync: true });
  let pending = '';
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const text = pending;
    pending = '';
    if (text) out.write(text);
  };
  // What this turn logged, when the process exits before the turn ends (a fatal line, then exit).
  process.on('exit', flush);
  stdoutStream = {
    write(line: string) {
      pending += line;
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    // logger.flush(): what this turn logged, now.
    flush(cb?: (err?: Error) => void) {
      flush();
      cb?.();
    },
  } as DestinationStream;
  return stdoutStream;
}

/**
 * pino's isoTime, formatted once per millisecond (a busy daemon logs several lines in the same
 * one: two per request). Same text: `,"time":"<ISO 8601>"`.
 */
let lastMs = -1;
let lastTime = '';
function isoTimeCached(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastTime = `,"time":"${new Date(ms).toISOString()}"`;
  }
  return lastTime;
}
