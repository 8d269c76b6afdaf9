/**
 * The state stores, SQLite (baseline, the default) vs PostgreSQL (a throwaway
 * local cluster on a Unix socket, reached through the synchronous bridge),
 * measured in the same run: the calls the daemon makes most — a token lookup
 * per authenticated request, a VM get and list (50 VMs), an update with its
 * admission check, a create. Medians of alternated rounds.
 *
 *   npm run bench -- store [-- --iterations 300]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseSubnet, planNetwork } from '../../daemon/core/planners/network-plan.js';
import { openStores, type Stores } from '../../daemon/store-wiring.js';
import { pgSkipReason, startPgCluster } from '../helpers/postgres.js';
import { median, ratio, row } from './stats.js';

const arg = process.argv.indexOf('--iterations');
const N = arg === -1 ? 300 : Number(process.argv[arg + 1]);
const subnet = parseSubnet('10.20.0.0/22');

const skip = pgSkipReason();
if (skip) {
  console.error(`cannot measure: ${skip}`);
  process.exit(1);
}

const vm = (name: string) => {
  const id = `vm_${randomBytes(6).toString('hex')}`;
  return [{ id, name, owner: 'usr_aaaaaaaaaaaa', state: 'running' as const, desired: 'running' as const, vcpus: 1, memoryMib: 256, diskMib: 2048, swapMib: 0, port: 8000, image: 'base', imageDir: '/i', hypervisor: 'qemu' as const, lastError: null, sleepAfterSec: null, domains: [] as string[] }, (slot: number) => planNetwork(id, slot, subnet)] as const;
};

function seed(s: Stores): string {
  let first = '';
  for (let i = 0; i < 50; i++) {
    const r = s.vms.insert(...vm(`seed-${i}`));
    first ||= r.id;
  }
  s.tokens.insert({ id: 'tok_000000000001', hash: 'h'.repeat(64), userId: 'usr_aaaaaaaaaaaa', kind: 'user', description: null, createdAt: new Date().toISOString(), expiresAt: null });
  return first;
}

/** µs per call, median of 5 rounds of N/5 calls. */
function perCall(fn: (i: number) => void): number {
  const rounds: number[] = [];
  let i = 0;
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < N / 5; k++) fn(i++);
    rounds.push(Number(process.hrtime.bigint() - t0) / 1000 / (N / 5));
  }
  return median(rounds);
}

const tmp = mkdtempSync(join(tmpdir(), 'fcm-store-bench-'));
const cluster = await startPgCluster();
try {
  const lite = openStores({ stateDir: tmp, databaseUrl: null, network: { subnet } } as Parameters<typeof openStores>[0]);
  const pg = openStores({ stateDir: tmp, databaseUrl: cluster.freshUrl(), network: { subnet } } as Parameters<typeof openStores>[0]);
  const ids = { sqlite: seed(lite), postgres: seed(pg) };
  console.log(`${N} calls per operation, 50 VMs; SQLite file (WAL) vs PostgreSQL on a Unix socket, same machine, same run`);
  const ops: [string, (s: Stores, id: string, i: number) => void][] = [
    ['token lookup (every authenticated request)', (s) => void s.tokens.findByHash('h'.repeat(64))],
    ['VM get by name', (s) => void s.vms.get('seed-25')],
    ['VM list (50 rows)', (s) => void s.vms.list()],
    ['VM update with admission check over all rows', (s, id, i) => void s.vms.update(id, { lastError: `e${i}` }, (rows) => void rows.length)],
    ['VM create (slot allocation) + delete', (s, _id, i) => {
      const r = s.vms.insert(...vm(`bench-${i}`));
      s.vms.remove(r.id);
    }],
  ];
  for (const [label, op] of ops) {
    // Alternate: a warm-up round each, then the measured ones.
    perCall((i) => op(lite, ids.sqlite, i));
    perCall((i) => op(pg, ids.postgres, i));
    const a = perCall((i) => op(lite, ids.sqlite, i + N));
    const b = perCall((i) => op(pg, ids.postgres, i + N));
    row(label, `${b.toFixed(0)} µs`, `PostgreSQL; SQLite ${a.toFixed(1)} µs → ${ratio(b, a)} the SQLite time`);
  }
  lite.close();
  pg.close();
} finally {
  await cluster.stop();
  rmSync(tmp, { recursive: true, force: true });
}
