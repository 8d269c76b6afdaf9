/**
 * One "daemon" for test/unit/postgres-store.test.ts: inserts N VMs through
 * its own PgVmStore into the database at argv[2] as fast as it can and
 * prints how many it inserted. Usage: pg-insert-vms.ts <url> <cidr> <prefix> <n>
 */
import { randomBytes } from 'node:crypto';
import { parseSubnet, planNetwork } from '../../daemon/core/planners/network-plan.js';
import { openPg } from '../../daemon/drivers/postgres/pg-db.js';
import { PgVmStore } from '../../daemon/drivers/postgres/pg-vm-store.js';

const [url, cidr, prefix, n] = process.argv.slice(2) as [string, string, string, string];
const subnet = parseSubnet(cidr);
const db = openPg({ url });
const store = new PgVmStore(db, subnet);
let done = 0;
for (let i = 0; i < Number(n); i++) {
  const id = `vm_${randomBytes(6).toString('hex')}`;
  store.insert(
    { id, name: `${prefix}-${i}`, owner: 'usr_aaaaaaaaaaaa', state: 'creating', desired: 'running', vcpus: 1, memoryMib: 256, diskMib: 2048, swapMib: 0, port: 8000, image: 'base', imageDir: '/i', hypervisor: 'qemu', lastError: null, sleepAfterSec: null, domains: [] },
    (slot) => planNetwork(id, slot, subnet),
    // Admission runs inside the write: list every row each time, as the daemon's quota check does.
    (rows) => void rows.length,
  );
  done++;
}
db.close();
process.stdout.write(`${done}\n`);
