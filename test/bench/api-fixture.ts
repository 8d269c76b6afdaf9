/**
 * The API benches' fixture: a SQLite state with 50 running VMs (every fifth
 * with a custom domain) owned by `owner`, and an admin token — the same data
 * for api.bench.ts (throughput) and api-profile.bench.ts (where the CPU goes).
 */
import { join } from 'node:path';
import { planNetwork, parseSubnet } from '../../daemon/core/planners/network-plan.js';
import { hashToken, newToken } from '../../daemon/core/tokens.js';
import { newVmId } from '../../daemon/core/names.js';
import { openDb } from '../../daemon/drivers/sqlite/db.js';
import { SqliteTokenStore } from '../../daemon/drivers/sqlite/sqlite-token-store.js';
import { SqliteVmStore } from '../../daemon/drivers/sqlite/sqlite-vm-store.js';

export function seedApiBench(dir: string, owner: string) {
  const db = openDb(join(dir, 'fcm.db'));
  const subnet = parseSubnet('172.16.0.0/24');
  const store = new SqliteVmStore(db, subnet);
  for (let i = 0; i < 50; i++) {
    const id = newVmId();
    store.insert(
      { id, name: `app-${i}`, state: 'running', desired: 'running', vcpus: 1, memoryMib: 1024, diskMib: 2048, swapMib: 512,
        port: 8000, image: 'base', imageDir: '/images/x', hypervisor: 'qemu', lastError: null, sleepAfterSec: null, domains: i % 5 ? [] : [`app${i}.example.com`], owner },
      (slot) => planNetwork(id, slot, subnet),
    );
  }
  const tokens = new SqliteTokenStore(db);
  const token = newToken();
  tokens.insert({ id: 'tok_bench0000000', hash: hashToken(token), userId: 'admin', kind: 'admin', description: null, createdAt: new Date().toISOString(), expiresAt: null });
  return { db, store, tokens, token };
}
