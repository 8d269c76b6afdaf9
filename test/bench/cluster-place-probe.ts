/**
 * Run inside a host's namespace by cluster.bench.ts (the database is on the
 * cluster LAN): times the placement decision as a create through another
 * host makes it (daemon/http/forward.ts placeCreate): read the hosts, read
 * the VM rows, run core/planners/placement.ts — `n` times, one connection.
 * Prints a JSON array of milliseconds per decision, and of the planner alone.
 *
 *   node --import tsx cluster-place-probe.ts <database url> <n>
 */
import { performance } from 'node:perf_hooks';
import { parseSubnet } from '../../daemon/core/planners/network-plan.js';
import { planPlacement } from '../../daemon/core/planners/placement.js';
import { openPg } from '../../daemon/drivers/postgres/pg-db.js';
import { PgHostRegistry } from '../../daemon/drivers/postgres/pg-host-registry.js';
import { PgVmStore } from '../../daemon/drivers/postgres/pg-vm-store.js';

const [url, n] = [process.argv[2]!, Number(process.argv[3] ?? 50)];
const db = openPg({ url, statementTimeoutMs: 30_000 });
const hosts = new PgHostRegistry(db);
const rows = new PgVmStore(db, parseSubnet('172.16.0.0/24'));
const need = { vcpus: 1, memoryMib: 256, diskMib: 1024 };
const whole: number[] = [];
const planner: number[] = [];
for (let i = 0; i < n; i++) {
  const t0 = performance.now();
  const hs = hosts.list().map((h) => ({ ...h, ...parseSubnet(h.subnetCidr) }));
  const vms = rows.list();
  const t1 = performance.now();
  try {
    planPlacement(hs, vms, need);
  } catch {
    /* a full cluster is a decision too */
  }
  const t2 = performance.now();
  whole.push(t2 - t0);
  planner.push(t2 - t1);
}
db.close();
console.log(JSON.stringify({ whole, planner }));
