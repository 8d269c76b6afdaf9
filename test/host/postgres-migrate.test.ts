/**
 * A real daemon's SQLite state moves into PostgreSQL with one command, and
 * the daemon carries on from it: a daemon in a network namespace boots a real
 * guest and writes VM, domain, config-var, release and token rows to SQLite;
 * it is stopped (the guest keeps running); `fcm daemon migrate-to-postgres`
 * copies the database into a throwaway PostgreSQL cluster (Unix socket
 * only); every row of every table is compared; the daemon started again with
 * FCM_DATABASE_URL adopts the running guest from PostgreSQL and creates the
 * next VM there, while the SQLite file stays as it was.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { PG_TABLES } from '../../daemon/drivers/postgres/pg-db.js';
import { SyncPg } from '../../daemon/drivers/postgres/sync-pg.js';
import { hostSkipReason, ROOT_DIR, startHostHarness, type HostHarness } from '../helpers/host-harness.js';
import { pgSkipReason, startPgCluster, type PgCluster } from '../helpers/postgres.js';

const skip = hostSkipReason() ?? pgSkipReason();
const SMALL = { memoryMib: 256, swapMib: 64 };

function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ['--import', 'tsx', join(ROOT_DIR, 'api', 'cli', 'main.ts'), ...args], {
      cwd: ROOT_DIR,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    c.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    c.once('error', reject);
    c.once('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const canon = (rows: Record<string, unknown>[]) => rows.map((r) => JSON.stringify(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : 1)))).sort();

describe('migrate-to-postgres with a real daemon', { skip: skip ?? false }, () => {
  let h: HostHarness;
  let cluster: PgCluster;
  before(async () => {
    cluster = await startPgCluster();
    h = await startHostHarness();
  });
  after(async () => {
    await h?.close();
    await cluster?.stop();
  });

  test('stop, one command, start on PostgreSQL: every row arrived, the running guest is adopted, new VMs go to PostgreSQL', async () => {
    const created = await h.api('POST', '/v1/vms', { name: 'moved', ...SMALL });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const running = await h.api('GET', '/v1/vms/moved/wait?state=running&timeout=240');
    assert.equal(running.status, 200, JSON.stringify(running.body));
    assert.equal((await h.api('PATCH', '/v1/vms/moved', { domains: ['moved.example.com'] })).status, 200);
    const env = await h.api('PATCH', '/v1/vms/moved/env', { set: { GREETING: 'hello', MULTI: 'a\nb' } });
    assert.equal(env.status, 200, JSON.stringify(env.body));

    await h.killDaemon('SIGTERM');
    const sqliteFile = join(h.stateDir, 'fcm.db');
    const url = cluster.url('postgres');
    const base = { FCM_STATE_DIR: h.stateDir };

    // Without a target, the command says what it needs and touches nothing.
    const bare = await cli(['daemon', 'migrate-to-postgres'], base);
    assert.equal(bare.code, 2, bare.stderr);
    assert.match(bare.stderr, /set FCM_DATABASE_URL/);

    const moved = await cli(['daemon', 'migrate-to-postgres', '--json'], { ...base, FCM_DATABASE_URL: url });
    assert.equal(moved.code, 0, moved.stderr);
    const report = JSON.parse(moved.stdout) as { from: string; tables: Record<string, number> };
    assert.equal(report.from, sqliteFile);

    const lite = new Database(sqliteFile, { readonly: true });
    const pg = new SyncPg({ url });
    try {
      for (const t of PG_TABLES) {
        const want = lite.prepare(`SELECT * FROM ${t}`).all() as Record<string, unknown>[];
        assert.equal(report.tables[t], want.length, `${t}: the report counts what SQLite holds`);
        // vms.host_id is PostgreSQL's alone: NULL until the first host to register adopts the moved rows.
        const got = pg.query<Record<string, unknown>>(`SELECT * FROM ${t}`).rows.map(({ host_id, ...r }) => (assert.equal(host_id ?? null, null), r));
        assert.deepEqual(canon(got), canon(want), `${t}: every row arrived, field for field`);
      }
      for (const t of ['vms', 'vm_domain_claims', 'env_vars', 'tokens'] as const) assert.ok((report.tables[t] ?? 0) > 0, `${t} had rows to move`);

      // A second run refuses: the target holds rows.
      const again = await cli(['daemon', 'migrate-to-postgres'], { ...base, FCM_DATABASE_URL: url });
      assert.equal(again.code, 1);
      assert.match(again.stderr, /not empty/);

      await h.startDaemon({ FCM_DATABASE_URL: url });
      assert.match(readFileSync(h.logPath, 'utf8'), /"database":"postgres"[^\n]*state database opened/);
      const vm = await h.api('GET', '/v1/vms/moved');
      assert.equal(vm.status, 200);
      assert.deepEqual([vm.body.id, vm.body.ip, vm.body.state, vm.body.domains], [created.body.id, created.body.ip, 'running', ['moved.example.com']]);
      // The daemon registered its host and adopted the moved rows; the cluster lists it, up, holding the VM.
      assert.deepEqual(pg.query<{ h: string | null }>('SELECT DISTINCT host_id AS h FROM vms').rows.map((r) => r.h), [vm.body.host]);
      const hosts = await h.api('GET', '/v1/hosts');
      assert.equal(hosts.status, 200, JSON.stringify(hosts.body));
      assert.deepEqual(hosts.body.hosts.map((x: { id: string; state: string; vms: number }) => [x.id, x.state, x.vms]), [[vm.body.host, 'up', 1]]);
      const vars = await h.api('GET', '/v1/vms/moved/env');
      assert.deepEqual(vars.body.vars, { GREETING: 'hello', MULTI: 'a\nb' });

      const next = await h.api('POST', '/v1/vms', { name: 'after-move', ...SMALL });
      assert.equal(next.status, 201, JSON.stringify(next.body));
      assert.notEqual(next.body.ip, created.body.ip);
      assert.equal((await h.api('GET', '/v1/vms/after-move/wait?state=running&timeout=240')).status, 200);
      assert.deepEqual(pg.query<{ name: string }>('SELECT name FROM vms ORDER BY name').rows.map((r) => r.name), ['after-move', 'moved']);
      assert.deepEqual((lite.prepare('SELECT name FROM vms').all() as { name: string }[]).map((r) => r.name), ['moved'], 'the SQLite file is left as it was');
    } finally {
      lite.close();
      pg.close();
    }
  });
});
