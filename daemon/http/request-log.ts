/**
 * What every request logs, and its logger (`req.log`), at the cost of a few string
 * concatenations instead of two pino calls and a pino child per request.
 */
import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Bindings, ChildLoggerOptions } from 'pino';
import { requestLines, type Logger, type RequestLines } from '../log.js';

/**
 * The two lines every request logs ("incoming request", "request completed"), as fastify writes
 * them, but without the redaction paths: their fields are fixed — the request's method, URL
 * without its query, address and port (log.ts's req serializer), the status code and the
 * response time — so nothing in them can need it. Written by log.ts's requestLines (the same
 * bytes as the logger's own info lines) when the server's logger is one of ours, else through a
 * sibling of the server's logger without redaction. Everything else a request logs (req.log,
 * errors) still goes through the redacting logger. The request's own level decides (a route's
 * logLevel), as before.
 */
export class RequestLineController extends LogController {
  /** Set once the server (and so its logger, with fastify's serializers) exists. */
  private plain: Logger | null = null;
  private readonly fast: RequestLines | null;

  constructor(log: Logger) {
    super();
    this.fast = requestLines(log);
  }

  /** The server's logger (a child of the one given above, with fastify's serializers). */
  attach(serverLog: Logger): void {
    if (!this.fast) this.plain = serverLog.child({}, { redact: { paths: [] } });
  }

  override incomingRequest(request: FastifyRequest, reply: FastifyReply): void {
    if (!(request.log as Logger).isLevelEnabled('info')) return;
    if (this.fast) {
      // request.ip by the trusted-proxy rule (proxy-addr) costs a parse per request; without
      // X-Forwarded-For it is the connection's address whatever the rule.
      const raw = request.raw;
      const ip = raw.headers['x-forwarded-for'] === undefined ? raw.socket?.remoteAddress : request.ip;
      this.fast.incomingOf(request.id, raw.method, raw.url, ip, raw.socket);
    }
    else if (this.plain) this.plain.info({ reqId: request.id, req: request }, 'incoming request');
    else super.incomingRequest(request, reply);
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) return super.requestCompleted(error, request, reply);
    if (!(request.log as Logger).isLevelEnabled('info')) return;
    if (this.fast) this.fast.completed(request.id, reply.statusCode, reply.elapsedTime);
    else if (this.plain) this.plain.info({ reqId: request.id, res: reply, responseTime: reply.elapsedTime }, 'request completed');
    else super.requestCompleted(error, request, reply);
  }
}

/**
 * `req.log`: the request's child logger (its request id bound, its route's level), made only
 * when something logs through it. fastify makes one per request, and making it (pino's
 * child(): bindings serialized, a new object) was ~2% of a kept GET /v1/vms, which logs nothing
 * through it. Its level is known without it (the route's, else the server's), so level checks
 * never make it.
 */
export class LazyRequestLogger {
  private made: Logger | null = null;

  constructor(
    private readonly parent: Logger,
    private readonly binds: Bindings,
    private readonly opts: ChildLoggerOptions,
  ) {}

  private get real(): Logger {
    return (this.made ??= this.parent.child(this.binds, this.opts));
  }

  get level(): string {
    return this.made ? this.made.level : (this.opts.level ?? this.parent.level);
  }

  set level(l: string) {
    this.real.level = l;
  }

  isLevelEnabled(level: string): boolean {
    if (this.made || this.opts.level === undefined) return (this.made ?? this.parent).isLevelEnabled(level);
    const values = this.parent.levels.values;
    const want = values[level];
    const min = values[this.opts.level];
    return want !== undefined && min !== undefined && want >= min;
  }

  fatal(...a: Parameters<Logger['fatal']>): void {
    this.real.fatal(...a);
  }
  error(...a: Parameters<Logger['error']>): void {
    this.real.error(...a);
  }
  warn(...a: Parameters<Logger['warn']>): void {
    this.real.warn(...a);
  }
  info(...a: Parameters<Logger['info']>): void {
    this.real.info(...a);
  }
  debug(...a: Parameters<Logger['debug']>): void {
    this.real.debug(...a);
  }
  trace(...a: Parameters<Logger['trace']>): void {
    this.real.trace(...a);
  }
  silent(...a: Parameters<Logger['silent']>): void {
    this.real.silent(...a);
  }
  child(bindings: Bindings, opts?: ChildLoggerOptions): Logger {
    return this.real.child(bindings, opts);
  }
  bindings(): Bindings {
    return this.real.bindings();
  }
  flush(cb?: (err?: Error) => void): void {
    this.real.flush(cb);
  }
}

/** fastify's childLoggerFactory: a LazyRequestLogger per request. */
export function lazyRequestLogger(logger: FastifyBaseLogger, bindings: Bindings, opts: ChildLoggerOptions): FastifyBaseLogger {
  return new LazyRequestLogger(logger as unknown as Logger, bindings, opts) as unknown as FastifyBaseLogger;
}
