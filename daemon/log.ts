import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';

export type Logger = PinoLogger;

/**
 * Structured JSON logs. Secrets never reach them: request headers are not
 * logged at all, URLs are logged without their query string (the OIDC
 * callback carries an authorization code there), and anything named like a
 * credential is redacted.
 */
export function createLogger(level: string, dest?: DestinationStream): Logger {
  const out = dest ?? stdoutBatched();
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
  // The daemon's stdout gathers them into batches (stdoutBatched); another destination gets each line as pino would write it.
  const put: (line: string) => void = 'gather' in out ? (line) => (out as GatheringDestination).gather(line) : (line) => void out.write(line);
  // The method and URL fields of the last request line (a client asks for the same URL again and again).
  let lastMethod: string | undefined;
  let lastUrl: string | undefined;
  let lastFields = '';
  const peers = new WeakMap<object, PeerFields>();
  // The address and port, stringified, per connection (the same until its address or port reads otherwise).
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
      if (url !== lastUrl || method !== lastMethod || lastFields === '') {
        const q = typeof url === 'string' ? url.indexOf('?') : -1;
        let fields = method === undefined ? '' : `,"method":${jsonValue(method)}`;
        if (url !== undefined) fields += `,"url":${jsonValue(q < 0 ? url : url.slice(0, q))}`;
        lastMethod = method;
        lastUrl = url;
        lastFields = fields;
      }
      const req = lastFields === '' ? peer.slice(1) : `${lastFields.slice(1)}${peer}`;
      put(`${lineHead()}${jsonValue(reqId)},"req":{${req}},"msg":"incoming request"}\n`);
    },
    completed(reqId, statusCode, responseTime) {
      put(`${lineHead()}${jsonValue(reqId)},"res":{"statusCode":${jsonValue(statusCode)}},"responseTime":${msToMicros(responseTime)},"msg":"request completed"}\n`);
    },
  };
  return lines;
}

/**
 * A destination that also takes lines which may wait a little (the per-request lines): gathered
 * and written with the next batch instead of at once.
 */
export interface GatheringDestination extends DestinationStream {
  gather(line: string): void;
  /** Everything gathered, written now. */
  flush(cb?: (err?: Error) => void): void;
}

/**
 * The daemon's stdout (journald under systemd), written synchronously, in batches, instead of
 * pino's default of one asynchronous write per line (a hand-off to libuv's thread pool: measured
 * here, 30 µs of CPU per write against 2.6 µs for a synchronous one, 400-byte lines to a file).
 * Synchronous writes to stdout are what Node itself does for files and pipes (console.log).
 *
 * What pino logs goes out at the end of the event-loop turn that logged it (setImmediate). The
 * two lines of every request (requestLines) are gathered longer: until FLUSH_BYTES have
 * gathered, FLUSH_MS have passed since the first of them, or another line ends a turn — one
 * write per turn was ~4% of the CPU of a kept GET /v1/vms (a turn answers a few requests: the
 * write call, sonic-boom's bookkeeping); a batch carries some 30–70 requests' lines. The lines
 * and their order are the same; a request line waits at most FLUSH_MS. What is gathered is
 * written at exit too (process.exit after an uncaught exception's fatal line, a signal's
 * shutdown) and by logger.flush(); a SIGKILL loses at most the last FLUSH_MS of request lines.
 */
let stdoutStream: GatheringDestination | null = null;
/** A batch is written once this many characters (~ bytes: the lines are mostly ASCII) have gathered (sonic-boom's maxWrite: one write call). */
const FLUSH_BYTES = 16 * 1024;
/** ... or this long after its first line. */
const FLUSH_MS = 20;

/** One per process (it is the process's stdout), however many loggers write to it. */
function stdoutBatched(): GatheringDestination {
  if (stdoutStream) return stdoutStream;
  const d = batchedDestination(pino.destination({ dest: 1, sync: true }));
  // What was gathered, when the process exits first (a fatal line, then exit).
  process.on('exit', () => d.flush());
  return (stdoutStream = d);
}

/** stdoutBatched's batching over any synchronous destination (exported for its tests). */
export function batchedDestination(out: { write(text: string): unknown }, flushBytes = FLUSH_BYTES, flushMs = FLUSH_MS): GatheringDestination {
  let pending = '';
  let timer: NodeJS.Timeout | null = null;
  let turnEnd = false;
  const flush = () => {
    turnEnd = false;
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
    const text = pending;
    pending = '';
    if (text) out.write(text);
  };
  const atTurnEnd = () => {
    if (turnEnd) flush();
  };
  return {
    write(line: string) {
      pending += line;
      if (!turnEnd) {
        turnEnd = true;
        setImmediate(atTurnEnd);
      }
    },
    gather(line: string) {
      pending += line;
      if (pending.length >= flushBytes) flush();
      else if (timer === null) {
        // Unref'd: an idle daemon is not kept alive by its log (exit writes what is left).
        timer = setTimeout(flush, flushMs);
        timer.unref();
      }
    },
    // logger.flush(): what was gathered, now.
    flush(cb?: (err?: Error) => void) {
      flush();
      cb?.();
    },
  } as GatheringDestination;
}

/**
 * A request line up to its reqId's value: level, time, base fields — the same within a millisecond.
 */
let headMs = -1;
let headText = '';
function lineHead(): string {
  const time = isoTimeCached();
  if (lastMs !== headMs) {
    headMs = lastMs;
    headText = `{"level":${INFO}${time}${BASE_JSON},"reqId":`;
  }
  return headText;
}

/**
 * A response time in milliseconds, rounded to the microsecond, as JSON.stringify writes the rounded
 * number (its shortest form: "0.45", "12", "3.007"). fastify's elapsedTime carries digits down to
 * the nanosecond, noise below a request's own timing; printing that double (String(), the
 * runtime's shortest round-trip conversion) was ~1.5% of the CPU of a kept GET /v1/vms, while
 * whole microseconds print from small integers.
 */
export function msToMicros(ms: number): string {
  const us = Math.round(ms * 1000);
  if (!(us >= 0 && us <= 0x3fffffff)) return jsonValue(us / 1000);
  const whole = Math.floor(us / 1000);
  const frac = us - whole * 1000;
  if (frac === 0) return String(whole);
  if (frac % 100 === 0) return `${whole}.${frac / 100}`;
  if (frac % 10 === 0) return `${whole}.${frac < 100 ? '0' : ''}${frac / 10}`;
  return `${whole}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}`;
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
