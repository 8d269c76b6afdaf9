/**
 * A synchronous PostgreSQL connection: node-postgres runs in a worker thread
 * and the caller blocks on Atomics.wait until the worker answers.
 *
 * Why synchronous: the store ports (core/ports/*) are synchronous, like
 * better-sqlite3 behind them, and core relies on that — a VM insert runs its
 * admission check over every row inside the write with nothing interleaving
 * (VmStore.insert's `admit`), and ~80 call sites in core/http read stores
 * inline. Blocking the daemon's thread for one round trip on a local socket is
 * what better-sqlite3 does for a disk read; each statement is bounded
 * (statement_timeout on the server, `callTimeoutMs` here), so a dead database
 * stalls a call for at most that long and then fails it.
 *
 * One connection, one statement at a time, in order: `transaction(fn)` keeps
 * every statement `fn` runs on that connection between BEGIN and COMMIT.
 * A lost connection is reopened at the next statement (a read the loss cut
 * short outside a transaction is run again once; a write is not: it may have
 * been applied, so it fails) — but never inside a transaction: the
 * statements after the loss fail until the transaction ends (its ROLLBACK
 * is a no-op on the new connection), so no half of one ever commits. A call that times out ends the worker (and with it the
 * connection, which makes the server roll back whatever it was running); the
 * next call starts another.
 */
import { createRequire } from 'node:module';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { FcmError } from '../../core/errors.js';

export interface PgResult<R> {
  rows: R[];
  rowCount: number;
}

/** An error the server (or the connection) reported, with its SQLSTATE and, for constraint errors, the constraint's name. */
export class PgError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly constraint: string | undefined,
  ) {
    super(message);
    this.name = 'PgError';
  }
}

/** SQLSTATEs (and their absence) that mean the server or the connection is gone, not that the statement was wrong. */
export function connectionLost(code: string | undefined): boolean {
  return !code || /^E[A-Z]/.test(code) || /^(08|57P0[123]|57014)/.test(code);
}

/**
 * What a caller gets when PostgreSQL is down, restarting or not answering: a 503
 * `database_unavailable` with Retry-After (the request was not completed; a write
 * in a transaction was rolled back), not an opaque 500. PostgreSQL's own message
 * (it may name the server's address) stays in the cause, for the daemon's log.
 */
function unavailable(e: PgError): FcmError | PgError {
  if (!connectionLost(e.code)) return e;
  return new FcmError('database_unavailable', 'The database (PostgreSQL) is not answering; nothing was changed. Try again shortly.', { cause: e, retryAfterSec: 5 });
}

export interface SyncPgOptions {
  /** `postgresql://…` (config: FCM_DATABASE_URL). Never logged: it may hold a password. */
  url: string;
  /** How long one statement may take, enforced by the server (statement_timeout) and, with a margin, here. */
  statementTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Sent as application_name (pg_stat_activity). */
  applicationName?: string;
}

interface Request { id: number; sql: string; params: unknown[]; tx?: 'begin' | 'end'; close?: true }
type Reply = { id: number; rows: unknown[]; rowCount: number } | { id: number; error: { message: string; code?: string; constraint?: string } };

/**
 * The worker, as CommonJS source (workers do not inherit tsx's loader, so a
 * .ts worker file would not load under the test runner; this runs as is).
 * It requires pg by the absolute path the main thread resolved.
 */
const WORKER = `
const { workerData } = require('node:worker_threads');
const { port, flag, opts } = workerData;
// A worker that cannot load pg answers every call with why (the caller is blocked: it must not wait for a timeout).
let Client = null;
let setupError = null;
try { ({ Client } = require(workerData.pgPath)); } catch (e) { setupError = e; }
let client = null;      // open connection, or null
let connecting = null;  // promise of one
let inTx = false;       // between a 'begin' and an 'end' request
let txLost = false;     // the connection died inside the current transaction

function connect() {
  if (client) return Promise.resolve(client);
  if (!connecting) {
    const c = new Client({
      connectionString: opts.url,
      connectionTimeoutMillis: opts.connectTimeoutMs,
      statement_timeout: opts.statementTimeoutMs,
      application_name: opts.applicationName,
    });
    c.on('error', () => lost(c));
    c.on('end', () => lost(c));
    connecting = c.connect().then(() => { client = c; connecting = null; return c; }, (e) => { connecting = null; c.end().catch(() => {}); throw e; });
  }
  return connecting;
}
function lost(c) {
  if (client === c) { client = null; if (inTx) txLost = true; }
}
// Each distinct single statement is prepared once per connection (named), so the server parses and
// plans it once: most of a small query's server time otherwise.
const names = new Map();
function statement(req) {
  if (req.sql.includes(';') || req.tx || !req.sql.trim()) return { text: req.sql, values: req.params };
  let name = names.get(req.sql);
  if (!name) { name = 'fcm_' + (names.size + 1); names.set(req.sql, name); }
  return { name, text: req.sql, values: req.params };
}
function isRead(sql) { return /^\\s*select\\b/i.test(sql) && !/\\bfor\\s+(update|share|no\\s+key|key)\\b/i.test(sql); }
// No SQLSTATE (pg's "Connection terminated"), a node errno (EPIPE, ECONNRESET), connection_exception (08…) or admin/crash shutdown (57P01-3).
function connectionLost(e) { const code = e && e.code; return !code || /^E[A-Z]/.test(code) || /^(08|57P0[123])/.test(code); }
function reply(msg) {
  port.postMessage(msg);
  Atomics.add(flag, 0, 1);
  Atomics.notify(flag, 0);
}
let chain = Promise.resolve();
port.on('message', (req) => { chain = chain.then(() => run(req)); });
async function run(req) {
  try {
    if (setupError) throw setupError;
    if (req.close) { const c = client; client = null; if (c) await c.end(); return reply({ id: req.id, rows: [], rowCount: 0 }); }
    if (req.tx === 'begin') { inTx = true; txLost = false; }
    if (txLost) {
      if (req.tx === 'end') { inTx = false; txLost = false; return reply({ id: req.id, rows: [], rowCount: 0 }); }
      throw Object.assign(new Error('the connection to PostgreSQL was lost during this transaction (it was rolled back)'), { code: '08006' });
    }
    const c = await connect();
    let r;
    try {
      r = await c.query(statement(req));
    } catch (e) {
      // The server went away (restart, failover, idle kill) and this worker had not yet seen the
      // socket close. A read outside a transaction is safe to run again, once, on a new
      // connection; a write is not (it may have been applied), so its caller gets the error.
      if (inTx || !isRead(req.sql) || !connectionLost(e)) throw e;
      lost(c);
      r = await (await connect()).query(statement(req));
    }
    if (req.tx === 'end') inTx = false;
    reply({ id: req.id, rows: r.rows, rowCount: r.rowCount ?? 0 });
  } catch (e) {
    // A connection that failed under this statement is not reused (its 'end' event may come later).
    if (client && (client._ending || client._queryable === false)) lost(client);
    if (req.tx) { inTx = false; txLost = false; }
    reply({ id: req.id, error: { message: String(e && e.message || e), code: e && e.code, constraint: e && e.constraint } });
  }
}
`;

const pgPath = createRequire(import.meta.url).resolve('pg');

export class SyncPg {
  private worker: Worker | null = null;
  private port: MessagePort | null = null;
  private flag: Int32Array | null = null;
  private nextId = 1;
  private txDepth = 0;
  private closed = false;
  private readonly callTimeoutMs: number;

  constructor(private readonly opts: SyncPgOptions) {
    // The server cancels a statement after statement_timeout; waiting longer than that
    // plus a connect means the worker or the network is stuck.
    this.callTimeoutMs = (opts.statementTimeoutMs ?? 30_000) + (opts.connectTimeoutMs ?? 10_000) + 5_000;
  }

  private start(): void {
    const { port1, port2 } = new MessageChannel();
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(WORKER, {
      eval: true,
      workerData: {
        pgPath, port: port2, flag,
        opts: {
          url: this.opts.url,
          statementTimeoutMs: this.opts.statementTimeoutMs ?? 30_000,
          connectTimeoutMs: this.opts.connectTimeoutMs ?? 10_000,
          applicationName: this.opts.applicationName ?? 'fcm-daemon',
        },
      },
      transferList: [port2],
    });
    // The daemon's own lifetime decides when to exit, not an idle connection.
    worker.unref();
    port1.unref();
    worker.on('error', () => this.stop());
    worker.on('exit', () => {
      if (this.worker === worker) this.stop();
    });
    this.worker = worker;
    this.port = port1;
    this.flag = flag;
  }

  private stop(): void {
    const w = this.worker;
    this.worker = null;
    this.port?.close();
    this.port = null;
    this.flag = null;
    void w?.terminate();
  }

  private call(req: Omit<Request, 'id'>): PgResult<unknown> {
    if (this.closed) throw new PgError('the PostgreSQL connection is closed', undefined, undefined);
    if (!this.worker) {
      // A worker that died (or was ended by a timeout) inside a transaction took the transaction with it.
      if (this.txDepth > 0 && req.tx !== 'begin') {
        if (req.tx === 'end') return { rows: [], rowCount: 0 };
        throw unavailable(new PgError('the connection to PostgreSQL was lost during this transaction (it was rolled back)', '08006', undefined));
      }
      this.start();
    }
    const id = this.nextId++;
    const port = this.port!;
    const flag = this.flag!;
    port.postMessage({ ...req, id } satisfies Request);
    const deadline = Date.now() + this.callTimeoutMs;
    for (;;) {
      const seen = Atomics.load(flag, 0);
      const got = receiveMessageOnPort(port);
      if (got) {
        const msg = got.message as Reply;
        if (msg.id !== id) continue; // an answer to a call that timed out before (never happens: a timeout ends the worker)
        if ('error' in msg) throw unavailable(new PgError(msg.error.message, msg.error.code, msg.error.constraint));
        return { rows: msg.rows, rowCount: msg.rowCount };
      }
      const left = deadline - Date.now();
      if (left <= 0 || Atomics.wait(flag, 0, seen, left) === 'timed-out') {
        this.stop();
        throw unavailable(new PgError(`PostgreSQL did not answer within ${this.callTimeoutMs} ms`, '57014', undefined));
      }
    }
  }

  query<R = Record<string, unknown>>(sql: string, params: unknown[] = []): PgResult<R> {
    return this.call({ sql, params }) as PgResult<R>;
  }

  /** Runs `fn` between BEGIN and COMMIT (ROLLBACK when it throws, and the error goes on). Not reentrant. */
  transaction<T>(fn: () => T, begin = 'BEGIN'): T {
    if (this.txDepth) throw new Error('SyncPg.transaction is not reentrant');
    this.call({ sql: begin, params: [], tx: 'begin' });
    this.txDepth = 1;
    let result: T;
    try {
      result = fn();
    } catch (e) {
      try {
        this.call({ sql: 'ROLLBACK', params: [], tx: 'end' });
      } catch {
        // The connection is gone: the server rolled back already.
      } finally {
        this.txDepth = 0;
      }
      throw e;
    }
    try {
      this.call({ sql: 'COMMIT', params: [], tx: 'end' });
    } finally {
      this.txDepth = 0;
    }
    return result;
  }

  close(): void {
    if (this.closed) return;
    if (this.worker && this.txDepth === 0) {
      try {
        // Ends the session cleanly (the server logs no "unexpected EOF").
        this.call({ sql: '', params: [], close: true });
      } catch {
        // closing anyway
      }
    }
    this.closed = true;
    this.stop();
  }
}
