/** PgHostRegistry and its in-memory twin pass the same contract. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { HostInfo, HostRegistry } from '../../../daemon/core/ports/host-registry.js';
import { MemoryHostRegistry } from '../../../daemon/drivers/memory/memory-host-registry.js';
import { PgHostRegistry } from '../../../daemon/drivers/postgres/pg-host-registry.js';
import { pgContract } from '../../helpers/postgres.js';

const pg = pgContract();
/** `lapse(ms)` waits until a lease of `ms` taken now has lapsed (the twin's clock moves; PostgreSQL's runs). */
const impls: [string, () => { reg: HostRegistry; lapse(ms: number): Promise<void> }][] = [
  ['memory', () => {
    let t = 1_000_000;
    return { reg: new MemoryHostRegistry(() => t), lapse: async (ms) => void (t += ms + 1) };
  }],
  ['postgres', () => ({ reg: new PgHostRegistry(pg.db()), lapse: (ms) => new Promise((r) => setTimeout(r, ms + 50)) })],
];

const info = (id: string, over: Partial<HostInfo> = {}): HostInfo => ({
  id, publicIp: '10.1.0.1', apiUrl: `https://fcm.${id}.test`, vcpus: 4, memoryMib: 8192, diskMib: 100_000, subnetCidr: '172.16.0.0/24', ...over,
});

for (const [name, make] of impls) {
  describe(`HostRegistry contract: ${name}`, { skip: name === 'postgres' && pg.skip }, () => {
    if (name === 'postgres') pg.hooks();

    test('a registered host is up with what it said about itself, listed by id', () => {
      const { reg } = make();
      assert.deepEqual(reg.register(info('b'), 'i1', 60_000), { ok: true });
      assert.deepEqual(reg.register(info('a', { publicIp: '10.1.0.2' }), 'i2', 60_000), { ok: true });
      const list = reg.list();
      assert.deepEqual(list.map((h) => [h.id, h.state, h.publicIp, h.memoryMib, h.subnetCidr]), [
        ['a', 'up', '10.1.0.2', 8192, '172.16.0.0/24'],
        ['b', 'up', '10.1.0.1', 8192, '172.16.0.0/24'],
      ]);
      assert.ok(Date.parse(list[0]!.leaseExpiresAt) > Date.parse(list[0]!.renewedAt));
    });

    test('a lease that is not renewed lapses: the host is unreachable; renewing keeps it up', async () => {
      const { reg, lapse } = make();
      reg.register(info('a'), 'i1', 200);
      reg.register(info('b'), 'i2', 60_000);
      await lapse(200);
      assert.deepEqual(reg.list().map((h) => h.state), ['unreachable', 'up']);
      assert.equal(reg.renew('a', 'i1', 60_000), true, 'the holder renews a lapsed lease it still holds (the database was away)');
      assert.deepEqual(reg.list().map((h) => h.state), ['up', 'up']);
    });

    test('a live lease keeps the id from another process until it lapses; then the newcomer takes it and the old holder cannot renew', async () => {
      const { reg, lapse } = make();
      reg.register(info('a'), 'old', 3000);
      const refused = reg.register(info('a', { publicIp: '10.9.9.9' }), 'new', 60_000);
      assert.equal(refused.ok, false);
      assert.ok(!refused.ok && Date.parse(refused.heldUntil) > 0);
      assert.equal(reg.list()[0]!.publicIp, '10.1.0.1', 'the refused registration changed nothing');
      await lapse(3000);
      assert.deepEqual(reg.register(info('a', { publicIp: '10.9.9.9' }), 'new', 60_000), { ok: true });
      assert.equal(reg.renew('a', 'old', 60_000), false);
      assert.equal(reg.list()[0]!.publicIp, '10.9.9.9');
    });

    test('the same process registers again (new facts) without waiting; release ends the lease at once', () => {
      const { reg } = make();
      reg.register(info('a'), 'i1', 60_000);
      assert.deepEqual(reg.register(info('a', { apiUrl: 'http://10.1.0.1:7777' }), 'i1', 60_000), { ok: true });
      assert.equal(reg.list()[0]!.apiUrl, 'http://10.1.0.1:7777');
      reg.release('a', 'other');
      assert.equal(reg.list()[0]!.state, 'up', 'only the holder releases');
      reg.release('a', 'i1');
      assert.equal(reg.list()[0]!.state, 'unreachable');
      assert.deepEqual(reg.register(info('a'), 'i2', 60_000), { ok: true }, 'a released id is free at once');
    });

    test('the cluster key is made once, by the first host to ask, and every later host gets that one', () => {
      const { reg } = make();
      const first = Buffer.alloc(32, 1);
      assert.deepEqual(reg.clusterKey(first), first);
      assert.deepEqual(reg.clusterKey(Buffer.alloc(32, 2)), first);
    });
  });
}
