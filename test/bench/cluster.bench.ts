/**
 * Creates through one API node of a cluster (test/helpers/cluster-harness.ts:
 * real daemons in their own namespaces, one PostgreSQL, real QEMU guests), in
 * one run:
 *   three hosts — N creates through host A, three clients at once; placement
 *                 spreads them over A, B and C (those for B and C forwarded there)
 *   one host    — the same through A after B and C stopped (their leases released):
 *                 every create lands on A. The baseline.
 * "Creates per second" counts POST /v1/vms answered 201 (row, disks, tap, QEMU
 * started); the guests boot afterwards. Both arms run on this one machine:
 * the three "hosts" share its CPUs, so what this shows is the cost of the
 * cluster path (placement, forwarding), not extra capacity.
 * Then the placement decision alone (hosts + VM rows from PostgreSQL and the
 * planner, as daemon/http/forward.ts makes it), timed inside A's namespace,
 * as a share of the median create through A.
 *
 *   npm run bench -- cluster [-- --n 6]
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { clusterSkipReason, startCluster, type ClusterHost, type TestCluster } from '../helpers/cluster-harness.js';
import { hostSkipReason } from '../helpers/host-harness.js';
import { fmtMs, median, ratio, row } from './stats.js';

const N = Number(process.argv[process.argv.indexOf('--n') + 1] || 6) || 6;
const CLIENTS = 3;
const skip = hostSkipReason() ?? clusterSkipReason();
if (skip) {
  console.error(`cannot measure: ${skip}`);
  process.exit(1);
}
const VM = { memoryMib: 256, diskMib: 1024, swapMib: 0 };
const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..');

/** N creates through `via`, CLIENTS at a time; wall time and each create's latency. */
async function creates(via: ClusterHost, prefix: string): Promise<{ wallMs: number; each: number[]; hosts: Map<string, number> }> {
  const each: number[] = [];
  const hosts = new Map<string, number>();
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    while (next < N) {
      const i = next++;
      const s = performance.now();
      const r = await via.h.api('POST', '/v1/vms', { name: `${prefix}-${i}`, ...VM });
      if (r.status !== 201) throw new Error(`create ${prefix}-${i}: ${r.status} ${JSON.stringify(r.body)}`);
      each.push(performance.now() - s);
      hosts.set(r.body.host, (hosts.get(r.body.host) ?? 0) + 1);
    }
  }));
  return { wallMs: performance.now() - t0, each, hosts };
}

async function deleteAll(via: ClusterHost): Promise<void> {
  for (const v of (await via.h.api('GET', '/v1/vms')).body.vms as { name: string }[]) {
    const r = await via.h.api('DELETE', `/v1/vms/${v.name}`);
    if (r.status !== 204) throw new Error(`delete ${v.name}: ${r.status} ${JSON.stringify(r.body)}`);
  }
}

/** The placement probe (cluster-place-probe.ts) inside `x`'s namespace: ms per decision, and of the planner alone. */
function probe(c: TestCluster, x: ClusterHost, n: number): Promise<{ whole: number[]; planner: number[] }> {
  return new Promise((resolve, reject) => {
    const p = spawn('nsenter', [`--net=/run/netns/${x.h.ns}`, '--', process.execPath, '--import', 'tsx', join(ROOT, 'test', 'bench', 'cluster-place-probe.ts'), c.pg.url, String(n)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    p.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`probe exited ${code}: ${err}`))));
  });
}

const cap = { FCM_HOST_MEMORY_MIB: String(N * VM.memoryMib), FCM_MEMORY_RESERVE_MIB: '0', FCM_MEMORY_OVERCOMMIT: '1' };
const t0 = Date.now();
const c = await startCluster({ hosts: ['host-a', 'host-b', 'host-c'].map((id) => ({ id, env: cap })), leaseMs: 4000 });
try {
  const [a, b, hc] = c.hosts as [ClusterHost, ClusterHost, ClusterHost];
  console.log(`cluster up in ${((Date.now() - t0) / 1000).toFixed(1)} s; ${N} creates per arm, ${CLIENTS} clients, guests ${VM.memoryMib} MiB`);

  const three = await creates(a, 'three');
  const placed = await probe(c, a, 50);
  await deleteAll(a);

  await b.h.killDaemon('SIGTERM');
  await hc.h.killDaemon('SIGTERM');
  const up = ((await a.h.api('GET', '/v1/hosts')).body.hosts as { id: string; state: string }[]).filter((h) => h.state === 'up').map((h) => h.id);
  if (up.join() !== 'host-a') throw new Error(`B and C should be down, up: ${up.join()}`);
  const one = await creates(a, 'one');
  await deleteAll(a);

  const rate = (r: { wallMs: number }) => N / (r.wallMs / 1000);
  console.log('\ncreates through host A (POST answered 201)');
  row('three hosts: creates/s', rate(three).toFixed(2), `placed ${[...three.hosts].map(([h, k]) => `${h}:${k}`).join(' ')}; median ${fmtMs(median(three.each))}`);
  row('one host (baseline): creates/s', rate(one).toFixed(2), `placed ${[...one.hosts].map(([h, k]) => `${h}:${k}`).join(' ')}; median ${fmtMs(median(one.each))}`);
  row('three hosts vs one host', ratio(rate(three), rate(one)), 'creates/s, same run, same machine');
  console.log('\nplacement decision (hosts + VM rows from PostgreSQL + planner; 50 runs inside A\'s namespace, 6 VMs, 3 hosts)');
  row('decision: median', fmtMs(median(placed.whole)));
  row('of which the planner alone: median', fmtMs(median(placed.planner)));
  row('decision / median create through A (three hosts)', `${((median(placed.whole) / median(three.each)) * 100).toFixed(2)} %`);
} finally {
  await c.close();
  console.log(`\ntotal ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
