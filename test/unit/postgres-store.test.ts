/**
 * What the PostgreSQL store adds beyond the shared contracts
 * (test/unit/contracts/*), against a real throwaway cluster: migrations are
 * versioned and idempotent, several daemons on one database never share a
 * slot, a restarted server is reconnected to (and a transaction it cut is
 * rolled back, never half-committed), and migrate-to-postgres moves every
 * row of a SQLite state written through the daemon's own store wiring.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { isFcmError } from '../../daemon/core/errors.js';
import { parseSubnet, planNetwork } from '../../daemon/core/planners/network-plan.js';
import { openPg, PG_MIGRATIONS, PG_TABLES } from '../../daemon/drivers/postgres/pg-db.js';
import { PgVmStore } from '../../daemon/drivers/postgres/pg-vm-store.js';
import { PgError, SyncPg } from '../../daemon/drivers/postgres/sync-pg.js';
import { MigrationError, migrateToPostgres } from '../../daemon/migrate-to-postgres.js';
import { openStores, sqlitePath } from '../../daemon/store-wiring.js';
import { pgSkipReason, pgSuite } from '../helpers/postgres.js';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..');
const CIDR = '10.9.0.0/26';
const subnet = parseSubnet(CIDR);
const newVm = (id: string, name: string, owner = 'usr_aaaaaaaaaaaa') => ({
  id, name, owner, state: 'creating' as const, desired: 'running' as const,
  vcpus: 1, memoryMib: 256, diskMib: 2048, swapMib: 0, port: 8000, image: 'base', imageDir: '/i', hypervisor: 'qemu' as const, lastError: null, sleepAfterSec: null, domains: [],
});

describe('PostgreSQL store', { skip: pgSkipReason() ?? false }, () => {
  const pg = pgSuite();
  const tmp = mkdtempSync(join(tmpdir(), 'fcm-pgstore-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test('migrations: a fresh database gets every one, a second open runs none, a newer schema is refused', () => {
    const url = pg.cluster().freshUrl();
    const a = pg.track(openPg({ url }));
    assert.equal(a.query<{ version: number }>('SELECT version FROM fcm_schema').rows[0]!.version, PG_MIGRATIONS.length);
    const tables = a.query<{ t: string }>("SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").rows.map((r) => r.t);
    assert.deepEqual(tables, [...PG_TABLES, 'cluster_key', 'fcm_schema', 'hosts'].sort());
    a.query('INSERT INTO user_quotas VALUES ($1, $2, $3)', ['usr_x', '{"vms":1}', 'now']);
    const b = pg.track(openPg({ url }));
    assert.equal(b.query('SELECT * FROM user_quotas').rowCount, 1, 'reopening migrates nothing away');
    a.query('UPDATE fcm_schema SET version = $1', [PG_MIGRATIONS.length + 1]);
    assert.throws(() => openPg({ url }), /newer than this daemon knows/);
  });

  test('an unreachable database is an error the caller gets (not a hang); openPg fails the same way', () => {
    const dir = mkdtempSync(join(tmp, 'nosock-'));
    const db = pg.track(new SyncPg({ url: `postgresql://postgres@/postgres?host=${encodeURIComponent(dir)}`, connectTimeoutMs: 2000 }));
    // To an API caller: a 503 database_unavailable with Retry-After; PostgreSQL's own reason stays in the cause (logged).
    assert.throws(() => db.query('SELECT 1'), (e) => isFcmError(e, 'database_unavailable') && e.status === 503 && e.retryAfterSec! > 0 && !/nosock|ENOENT/.test(e.message) && e.cause instanceof PgError && /ENOENT|connect/.test(e.cause.message));
    assert.throws(() => openPg({ url: `postgresql://postgres@/postgres?host=${encodeURIComponent(dir)}` }), /ENOENT|connect/);
    const ok = pg.track(new SyncPg({ url: pg.cluster().url('postgres') }));
    assert.deepEqual(ok.query('SELECT 1 AS one').rows, [{ one: 1 }]);
  });

  test('two daemons creating VMs on one database at once never share a slot, an IP or a name', async () => {
    const url = pg.cluster().freshUrl();
    pg.track(openPg({ url })).close();
    // Two processes (as two daemons would be), 12 inserts each, as fast as they can.
    const script = join(ROOT, 'test', 'helpers', 'pg-insert-vms.ts');
    const runOne = (who: string) =>
      new Promise<string>((resolve, reject) => {
        const c = spawn(process.execPath, ['--import', 'tsx', script, url, CIDR, who, '12'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        c.stdout.on('data', (b: Buffer) => (out += b.toString()));
        c.stderr.on('data', (b: Buffer) => (err += b.toString()));
        c.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${who} exited ${code}: ${err}`))));
      });
    const [x, y] = await Promise.all([runOne('a'), runOne('b')]);
    assert.deepEqual([x.trim(), y.trim()], ['12', '12']);
    const rows = new PgVmStore(pg.track(openPg({ url })), subnet).list();
    assert.equal(rows.length, 24);
    assert.equal(new Set(rows.map((r) => r.slot)).size, 24);
    assert.equal(new Set(rows.map((r) => r.ip)).size, 24);
    assert.deepEqual(rows.map((r) => r.slot).sort((p, q) => p - q), Array.from({ length: 24 }, (_, i) => subnet.firstSlot + i), 'the lowest slots, no gaps');
  });

  test('a restarted server is reconnected to; a transaction it cut is rolled back, not half-committed', async () => {
    const url = pg.cluster().freshUrl();
    const db = pg.track(openPg({ url, connectTimeoutMs: 5000 }));
    const store = new PgVmStore(db, subnet);
    store.insert(newVm('vm_aaaaaaaaaaa1', 'before'), (slot) => planNetwork('vm_aaaaaaaaaaa1', slot, subnet));
    await pg.cluster().restart();
    assert.deepEqual(store.list().map((v) => v.name), ['before'], 'the next call reconnects');
    // Killed while idle, from another session: the next read runs on a new connection, whether or
    // not the bridge has seen the old one close yet.
    for (let i = 0; i < 5; i++) {
      const pid = db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid').rows[0]!.pid;
      pg.track(pg.cluster().connect(url)).query('SELECT pg_terminate_backend($1)', [pid]);
      assert.equal(store.get('before')?.name, 'before', `read ${i} after its session was killed`);
    }
    // A restart between statements of one transaction: the rest of it fails, nothing of it stays.
    assert.throws(() =>
      db.transaction(() => {
        db.query("INSERT INTO user_quotas VALUES ('usr_half', '{}', 'now')");
        // Kill the server's sessions under our feet: pg_terminate_backend on our own connection.
        db.query('SELECT pg_terminate_backend(pg_backend_pid())');
      }),
    );
    assert.equal(db.query("SELECT count(*)::int AS n FROM user_quotas WHERE user_id = 'usr_half'").rows[0]!.n, 0);
    assert.equal(store.get('before')?.name, 'before');
  });

  test('migrate-to-postgres moves every row of every table of a state written through the daemon\'s store wiring', () => {
    const stateDir = join(tmp, 'state');
    const subnetCfg = { network: { subnet, subnetCidr: '10.0.0.0/29' }, host: { id: 'h1', leaseMs: 15_000, renewMs: 5_000 } } as Parameters<typeof openStores>[0];
    const lite = openStores({ ...subnetCfg, stateDir, databaseUrl: null });
    assert.equal(lite.kind, 'sqlite');
    const vmA = lite.vms.insert({ ...newVm('vm_aaaaaaaaaaa1', 'app-a'), domains: ['a.example.com', 'b.example.com'] }, (s) => planNetwork('vm_aaaaaaaaaaa1', s, subnet));
    lite.vms.insert(newVm('vm_bbbbbbbbbbb2', 'app-b'), (s) => planNetwork('vm_bbbbbbbbbbb2', s, subnet));
    lite.vms.update(vmA.id, { state: 'running', lastError: 'once: x', verifiedDomains: ['a.example.com'] });
    const user = lite.users.upsert({ issuer: 'https://issuer.test', subject: 's1', email: 'Ann@Example.com', name: 'Ann', hd: 'example.com' }, '2030-01-01T00:00:00.000Z');
    lite.users.upsert({ issuer: 'https://issuer.test', subject: 's2', email: null, name: null }, '2030-01-02T00:00:00.000Z');
    lite.tokens.insert({ id: 'tok_000000000001', hash: 'h1', userId: user.id, kind: 'user', description: 'laptop', createdAt: '2030-01-01T00:00:00.000Z', expiresAt: '2030-02-01T00:00:00.000Z' });
    lite.tokens.insert({ id: 'tok_000000000002', hash: 'h2', userId: 'admin', kind: 'admin', description: null, createdAt: '2030-01-01T00:00:01.000Z', expiresAt: null });
    lite.tokens.revoke('tok_000000000002');
    lite.keys.insert({ id: 'key_000000000001', owner: user.id, name: 'laptop', type: 'ssh-ed25519', fingerprint: 'SHA256:abc', publicKey: 'ssh-ed25519 AAAA', createdAt: '2030-01-01T00:00:00.000Z' });
    lite.quotas.set(user.id, { vms: 3, memoryMib: 0 });
    lite.env.put(vmA.id, { DATABASE_URL: 'postgres://x', MULTI: 'line one\nline two', EMPTY: '' });
    lite.releases.create({ vmId: vmA.id, status: 'building', kind: 'deploy', commit: 'c'.repeat(40), description: 'Deploy ccccccc', buildpack: null, processes: {}, rollbackOf: null, build: null });
    lite.releases.update(vmA.id, 1, { status: 'succeeded', buildpack: 'python', processes: { web: 'gunicorn app:app' }, build: 1, log: 'out ✓\n', finishedAt: '2030-01-01T00:01:00.000Z' });
    lite.releases.create({ vmId: vmA.id, status: 'pending', kind: 'config', commit: null, description: 'Set MULTI', buildpack: 'python', processes: { web: 'gunicorn app:app' }, rollbackOf: null, build: 1 });
    lite.close();

    const url = pg.cluster().freshUrl();
    const report = migrateToPostgres({ sqlitePath: sqlitePath(stateDir), databaseUrl: url });
    const source = new Database(sqlitePath(stateDir), { readonly: true });
    const target = pg.track(openPg({ url }));
    const sortRows = (rows: Record<string, unknown>[]) => rows.map((r) => JSON.stringify(Object.entries(r).sort(([a], [b]) => a.localeCompare(b)))).sort();
    for (const t of PG_TABLES) {
      const want = source.prepare(`SELECT * FROM ${t}`).all() as Record<string, unknown>[];
      assert.ok(want.length > 0, `${t} has rows to move (the test covers every table)`);
      assert.equal(report.tables[t], want.length, t);
      // vms.host_id is PostgreSQL's alone: NULL until a host adopts the moved rows (below).
      const got = target.query<Record<string, unknown>>(`SELECT * FROM ${t}`).rows.map(({ host_id, ...r }) => (assert.equal(host_id ?? null, null), r));
      assert.deepEqual(sortRows(got), sortRows(want), t);
    }
    source.close();

    // And the daemon's PostgreSQL wiring reads them back as the SQLite one wrote them.
    const moved = openStores({ ...subnetCfg, stateDir, databaseUrl: url });
    pg.track(moved);
    assert.equal(moved.kind, 'postgres');
    const a = moved.vms.get('app-a')!;
    assert.deepEqual([a.state, a.lastError, a.domains, a.verifiedDomains], ['running', 'once: x', ['a.example.com', 'b.example.com'], ['a.example.com']]);
    assert.deepEqual(moved.env.get(vmA.id), { DATABASE_URL: 'postgres://x', EMPTY: '', MULTI: 'line one\nline two' });
    assert.deepEqual(moved.releases.list(vmA.id).map((r) => [r.version, r.status, r.processes]), [[2, 'pending', { web: 'gunicorn app:app' }], [1, 'succeeded', { web: 'gunicorn app:app' }]]);
    assert.equal(moved.releases.create({ vmId: vmA.id, status: 'building', kind: 'deploy', commit: null, description: 'next', buildpack: null, processes: {}, rollbackOf: null, build: null }).version, 3);
    assert.equal(moved.users.byEmail('ann@example.com')[0]!.hd, 'example.com');
    assert.ok(moved.tokens.findByHash('h2')!.revokedAt);
    assert.deepEqual(moved.quotas.get(user.id), { vms: 3, memoryMib: 0 });
    assert.equal(moved.keys.byFingerprint('SHA256:abc')!.owner, user.id);
    // The daemon registers its host before it touches VMs: the first host adopts the moved rows (they run where they were moved from).
    moved.hosts.register({ id: 'h1', publicIp: '10.1.0.1', apiUrl: 'http://10.1.0.1:7777', vcpus: 2, memoryMib: 2048, diskMib: 1000, subnetCidr: '10.0.0.0/29' }, 'i1', 60_000);
    assert.deepEqual(target.query<{ h: string }>('SELECT DISTINCT host_id AS h FROM vms').rows, [{ h: 'h1' }]);
    assert.equal(moved.vms.get('app-b')!.host, 'h1');
    const c = moved.vms.insert(newVm('vm_ccccccccccc3', 'app-c'), (s) => planNetwork('vm_ccccccccccc3', s, subnet));
    assert.equal(c.slot, subnet.firstSlot + 2, 'slots continue after the moved VMs');
    assert.throws(() => moved.vms.insert(newVm('vm_ddddddddddd4', 'app-a'), (s) => planNetwork('vm_ddddddddddd4', s, subnet)), (e) => isFcmError(e, 'name_taken'));

    // A second run refuses (the target holds rows) and changes nothing.
    assert.throws(() => migrateToPostgres({ sqlitePath: sqlitePath(stateDir), databaseUrl: url }), (e) => e instanceof MigrationError && /not empty/.test(e.message));
    assert.equal(target.query<{ n: number }>('SELECT count(*)::int AS n FROM vms').rows[0]!.n, 3);
    // No SQLite state: a clear refusal, and no file is created.
    assert.throws(() => migrateToPostgres({ sqlitePath: join(tmp, 'none', 'fcm.db'), databaseUrl: pg.cluster().freshUrl() }), (e) => e instanceof MigrationError && /no SQLite state/.test(e.message));
  });
});
