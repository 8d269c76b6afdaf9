/**
 * One API node for test/unit/placement-pg.test.ts: creates N VMs through
 * placement (PgVmStore.insertPlaced + planPlacement) in the database at
 * argv[2], as fast as it can, and prints how many were placed and how many
 * refused for capacity. Usage: pg-place-vms.ts <url> <prefix> <n> <memoryMib>
 */
import { randomBytes } from 'node:crypto';
import { isFcmError } from '../../daemon/core/errors.js';
import { parseSubnet, planNetwork } from '../../daemon/core/planners/network-plan.js';
import { planPlacement } from '../../daemon/core/planners/placement.js';
import { openPg } from '../../daemon/drivers/postgres/pg-db.js';
import { PgVmStore } from '../../daemon/drivers/postgres/pg-vm-store.js';

const [url, prefix, n, mem] = process.argv.slice(2) as [string, string, string, string];
const db = openPg({ url });
const store = new PgVmStore(db, parseSubnet('172.16.0.0/24'), `${prefix}-node`);
let placed = 0;
let refused = 0;
for (let i = 0; i < Number(n); i++) {
  const id = `vm_${randomBytes(6).toString('hex')}`;
  const vm = { id, name: `${prefix}-${i}`, owner: 'usr_aaaaaaaaaaaa', state: 'creating' as const, desired: 'running' as const, vcpus: 1, memoryMib: Number(mem), diskMib: 1024, swapMib: 0, port: 8000, image: 'base', imageDir: '/i', hypervisor: 'qemu' as const, lastError: null, sleepAfterSec: null, domains: [] };
  try {
    store.insertPlaced(vm, (hosts, rows) => planPlacement(hosts, rows, vm), (h, slot) => planNetwork(id, slot, parseSubnet(h.subnetCidr)));
    placed++;
  } catch (e) {
    if (!isFcmError(e, 'insufficient_capacity')) throw e;
    refused++;
  }
}
db.close();
process.stdout.write(`${placed} ${refused}\n`);
