/**
 * A throwaway PostgreSQL cluster (Debian's postgresql package): initdb into
 * a temp dir, the server listening on a Unix socket in that dir only
 * (listen_addresses='' — no TCP at all), run as the postgres user (the
 * server refuses root), trust auth on that socket (only root and postgres
 * can enter the 0700 dir). Torn down with its dir after.
 *
 * Inside a describe: `const pg = pgSuite()` registers before/after hooks;
 * tests call `pg.freshUrl()` for an empty database of their own (the stores
 * under test migrate it, as the daemon would).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { run } from '../../daemon/drivers/proc.js';
import { SyncPg } from '../../daemon/drivers/postgres/sync-pg.js';
import { openPg, type PgDb } from '../../daemon/drivers/postgres/pg-db.js';

/** The newest installed server's bin dir, or null. */
export function pgBinDir(): string | null {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (existsSync(join(base, v, 'bin', 'initdb')) && existsSync(join(base, v, 'bin', 'postgres'))) return join(base, v, 'bin');
  return null;
}

/** Why a cluster cannot run here, or null. */
export function pgSkipReason(): string | null {
  if (!pgBinDir()) return 'needs PostgreSQL server binaries under /usr/lib/postgresql/<v>/bin (apt-get install postgresql; daemon/host-setup.sh installs it)';
  if (process.getuid?.() === 0) {
    if (spawnSync('id', ['-u', 'postgres'], { stdio: 'ignore' }).status !== 0) return 'running as root needs the postgres system user (created by the postgresql package) to run the server as';
  }
  return null;
}

export interface PgCluster {
  /** The socket dir (the URL's host). */
  dir: string;
  /** URL of a database in this cluster. */
  url(db: string): string;
  /** A new empty database (sync: contract factories are sync); its URL. */
  freshUrl(): string;
  /** A connection opened through the tracked list (closed at teardown). */
  connect(url: string): SyncPg;
  /** Stops the server (fast shutdown) and removes its dir. */
  stop(): Promise<void>;
  /** Stops and starts the server on the same data (what a PostgreSQL restart does to clients). */
  restart(): Promise<void>;
}

/** Spawns a PostgreSQL program as the postgres user when we are root (the server refuses root), itself otherwise: no wrapper in between, so signals reach it. */
function spawnPg(ids: { uid: number; gid: number } | null, dir: string, argv: string[]): ChildProcess {
  return spawn(argv[0]!, argv.slice(1), { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], ...(ids ?? {}), env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' } });
}

function exitOf(c: ChildProcess, out: { log: string }): Promise<number> {
  c.stderr!.on('data', (b: Buffer) => (out.log = (out.log + b.toString()).slice(-8000)));
  return new Promise((resolve, reject) => {
    c.once('error', reject);
    c.once('exit', (code) => resolve(code ?? -1));
  });
}

export async function startPgCluster(): Promise<PgCluster> {
  const bin = pgBinDir();
  if (!bin) throw new Error(pgSkipReason()!);
  const dir = mkdtempSync(join(tmpdir(), 'fcm-pg-'));
  let ids: { uid: number; gid: number } | null = null;
  if (process.getuid?.() === 0) {
    ids = { uid: Number((await run('id', ['-u', 'postgres'])).stdout.trim()), gid: Number((await run('id', ['-g', 'postgres'])).stdout.trim()) };
    chownSync(dir, ids.uid, ids.gid);
  }
  const data = join(dir, 'data');
  const out = { log: '' };
  const init = await exitOf(spawnPg(ids, dir, [join(bin, 'initdb'), '-D', data, '--auth=trust', '--username=postgres', '--encoding=UTF8', '--no-sync', '--no-instructions']), out);
  if (init !== 0) throw new Error(`initdb failed (${init}): ${out.log}`);
  let server: ChildProcess | null = null;
  const startServer = async () => {
    out.log = '';
    const child = spawnPg(ids, dir, [join(bin, 'postgres'), '-D', data, '-k', dir, '-c', 'listen_addresses=', '-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'synchronous_commit=off']);
    server = child;
    void exitOf(child, out).catch(() => {});
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`postgres exited ${child.exitCode}: ${out.log}`);
      const ok = await run(join(bin, 'pg_isready'), ['-h', dir, '-U', 'postgres', '-d', 'postgres', '-q']).then(() => true, () => false);
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`postgres did not accept connections within 30 s: ${out.log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const stopServer = async () => {
    const c = server;
    server = null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    // SIGINT: fast shutdown (ends sessions, rolls back open transactions).
    c.kill('SIGINT');
    await exited;
  };
  await startServer();
  const url = (db: string) => `postgresql://postgres@/${db}?host=${encodeURIComponent(dir)}`;
  const opened: SyncPg[] = [];
  const admin = new SyncPg({ url: url('postgres'), statementTimeoutMs: 30_000 });
  opened.push(admin);
  let n = 0;
  return {
    dir,
    url,
    freshUrl() {
      const name = `t_${process.pid}_${++n}`;
      admin.query(`CREATE DATABASE ${name}`);
      return url(name);
    },
    connect(u: string) {
      const c = new SyncPg({ url: u, statementTimeoutMs: 30_000 });
      opened.push(c);
      return c;
    },
    async restart() {
      await stopServer();
      await startServer();
    },
    async stop() {
      for (const c of opened) c.close();
      await stopServer();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Registers before/after hooks in the current describe: the cluster starts
 * once for the suite and is removed after it, and every connection the suite
 * opened through `track` is closed first.
 */
export function pgSuite(): { cluster(): PgCluster; track<T extends { close(): void }>(c: T): T } {
  let cluster: PgCluster | null = null;
  const tracked: { close(): void }[] = [];
  before(async () => {
    cluster = await startPgCluster();
  });
  after(async () => {
    for (const c of tracked) c.close();
    await cluster?.stop();
  });
  return {
    cluster: () => {
      if (!cluster) throw new Error('the PostgreSQL cluster is not running (pgSuite hooks not run)');
      return cluster;
    },
    track: (c) => {
      tracked.push(c);
      return c;
    },
  };
}

/**
 * The PostgreSQL entry of a contract suite: put `skip` on its describe and
 * call `hooks()` inside it; `db()` is a fresh, migrated database (openPg, as
 * the daemon opens one), closed when the suite ends.
 */
export function pgContract(): { skip: string | false; hooks(): void; db(): PgDb } {
  let suite: ReturnType<typeof pgSuite> | null = null;
  return {
    skip: pgSkipReason() ?? false,
    hooks() {
      suite = pgSuite();
    },
    db() {
      if (!suite) throw new Error('pgContract: hooks() was not called in this describe');
      return suite.track(openPg({ url: suite.cluster().freshUrl(), statementTimeoutMs: 30_000 }));
    },
  };
}
