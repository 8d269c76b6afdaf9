/**
 * Placement against the real PostgreSQL: two API nodes (two processes, each
 * its own connection) creating at once never overbook a host or hand out one
 * (host, slot) or IP twice; unreachable hosts get nothing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseSubnet } from '../../daemon/core/planners/network-plan.js';
import { openPg } from '../../daemon/drivers/postgres/pg-db.js';
import { PgHostRegistry } from '../../daemon/drivers/postgres/pg-host-registry.js';
import { PgVmStore } from '../../daemon/drivers/postgres/pg-vm-store.js';
import { pgSkipReason, pgSuite } from '../helpers/postgres.js';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..');
const skip = pgSkipReason() ?? false;

describe('placement in PostgreSQL', { skip }, () => {
  const pg = pgSuite();

  test('two API nodes placing at once: each host gets what it has room for, never more; slots and IPs unique per host; an unreachable host gets nothing', async () => {
    const url = pg.cluster().freshUrl();
    const db = pg.track(openPg({ url }));
    const reg = new PgHostRegistry(db);
    // Room for 2, 3 and 1 VMs of 1024 MiB; d is down (its lease lapsed) and would have room for 50.
    const host = (id: string, memoryMib: number, subnetCidr: string) => ({ id, publicIp: '10.1.0.1', apiUrl: `http://${id}`, vcpus: 16, memoryMib, diskMib: 100_000, subnetCidr });
    reg.register(host('a', 2048, '172.16.1.0/24'), 'ia', 600_000);
    reg.register(host('b', 3072, '172.16.2.0/24'), 'ib', 600_000);
    reg.register(host('c', 1024, '172.16.3.0/24'), 'ic', 600_000);
    reg.register(host('d', 51_200, '172.16.4.0/24'), 'id', 600_000);
    reg.release('d', 'id');
    const script = join(ROOT, 'test', 'helpers', 'pg-place-vms.ts');
    const runOne = (who: string) =>
      new Promise<string>((resolve, reject) => {
        const c = spawn(process.execPath, ['--import', 'tsx', script, url, who, '5', '1024'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        c.stdout.on('data', (b: Buffer) => (out += b.toString()));
        c.stderr.on('data', (b: Buffer) => (err += b.toString()));
        c.once('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`${who} exited ${code}: ${err}`))));
      });
    const results = await Promise.all([runOne('x'), runOne('y')]);
    const [placed, refused] = results.map((r) => r.split(' ').map(Number)).reduce((s, [p, f]) => [s[0]! + p!, s[1]! + f!], [0, 0]);
    assert.deepEqual([placed, refused], [6, 4], `10 creates, room for 6 (${results.join(' / ')})`);
    const rows = new PgVmStore(db, parseSubnet('172.16.0.0/24')).list();
    const per = (id: string) => rows.filter((r) => r.host === id);
    assert.deepEqual(['a', 'b', 'c', 'd'].map((id) => per(id).length), [2, 3, 1, 0]);
    for (const id of ['a', 'b', 'c']) {
      const mine = per(id);
      assert.equal(new Set(mine.map((r) => r.slot)).size, mine.length, `${id}: slots unique`);
      assert.deepEqual(mine.map((r) => r.slot).sort((p, q) => p - q), Array.from({ length: mine.length }, (_, i) => 2 + i), `${id}: the lowest slots`);
    }
    assert.equal(new Set(rows.map((r) => r.ip)).size, rows.length, 'every IP once (each host its own subnet)');
    assert.ok(rows.every((r) => r.ip.startsWith(`172.16.${'abc'.indexOf(r.host) + 1}.`)), "each VM's IP is in its host's subnet");
  });
});
