/**
 * The ports behind quotas and custom domains and their in-memory twins pass
 * the same contract: QuotaStore (SQLite / PostgreSQL / memory) and TxtResolver (node:dns
 * against a real dnsmasq on loopback, with no upstream / memory).
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import type { TxtResolver } from '../../../daemon/core/ports/txt-resolver.js';
import type { QuotaStore } from '../../../daemon/core/ports/quota-store.js';
import { DnsTxt } from '../../../daemon/drivers/dns-txt.js';
import { MemoryQuotaStore } from '../../../daemon/drivers/memory/memory-quota-store.js';
import { MemoryTxt } from '../../../daemon/drivers/memory/memory-txt.js';
import { openDb } from '../../../daemon/drivers/sqlite/db.js';
import { SqliteQuotaStore } from '../../../daemon/drivers/sqlite/sqlite-quota-store.js';
import { PgQuotaStore } from '../../../daemon/drivers/postgres/pg-account-stores.js';
import { pgContract } from '../../helpers/postgres.js';
import { dnsSkipReason, startDnsServer, type DnsServer } from '../../helpers/dns-server.js';
import { onFreePort } from '../../helpers/ports.js';

function quotaContract(s: QuotaStore): void {
  assert.deepEqual(s.get('usr_a'), {});
  s.set('usr_a', { vms: 3, memoryMib: 2048 });
  s.set('usr_b', { pendingDomains: 0 });
  assert.deepEqual(s.get('usr_a'), { vms: 3, memoryMib: 2048 });
  assert.deepEqual(s.get('usr_b'), { pendingDomains: 0 }, 'a zero limit is a limit');
  s.set('usr_a', { vcpus: 4 });
  assert.deepEqual(s.get('usr_a'), { vcpus: 4 }, 'set replaces');
  const got = s.get('usr_a');
  got.vcpus = 99;
  assert.deepEqual(s.get('usr_a'), { vcpus: 4 }, 'returns copies');
  s.set('usr_a', {});
  assert.deepEqual(s.get('usr_a'), {});
}

for (const [name, make] of [
  ['memory', () => new MemoryQuotaStore()],
  ['sqlite', () => new SqliteQuotaStore(openDb(':memory:'))],
] as [string, () => QuotaStore][]) {
  test(`QuotaStore contract: ${name}`, () => quotaContract(make()));
}

const pg = pgContract();
describe('QuotaStore contract: postgres', { skip: pg.skip }, () => {
  pg.hooks();
  test('QuotaStore contract: postgres', () => quotaContract(new PgQuotaStore(pg.db())));
});

const RECORDS = { '_fcm-challenge.a.fcm-contract.test': ['fcm-token-one', 'v=other'] };

describe('TxtResolver contract', { skip: dnsSkipReason() ?? false }, () => {
  let dns: DnsServer;
  const impls: [string, () => TxtResolver][] = [];
  before(async () => {
    // dnsmasq cannot listen on port 0: on a port taken meanwhile it starts again on another. setTxt
    // restarts dnsmasq on the same port (the port is free for a moment then), so it is part of the start.
    dns = await onFreePort(async (port) => {
      const d = await startDnsServer(null, { port });
      try {
        await d.setTxt(RECORDS);
      } catch (e) {
        await d.close();
        throw e;
      }
      return d;
    });
    const mem = new MemoryTxt();
    for (const [k, v] of Object.entries(RECORDS)) mem.records.set(k, v);
    impls.push(['dns (dnsmasq on loopback)', () => new DnsTxt([dns.address])], ['memory', () => mem]);
  });
  after(async () => {
    await dns?.close();
  });

  test('records are returned whole; a name without records is [] (not an error)', async () => {
    for (const [name, make] of impls) {
      const r = make();
      assert.deepEqual((await r.txt('_fcm-challenge.a.fcm-contract.test')).sort(), ['fcm-token-one', 'v=other'], name);
      assert.deepEqual(await r.txt('_fcm-challenge.missing.fcm-contract.test'), [], name);
    }
  });

  test('a server that does not answer is an error with a code, not "no record"', async () => {
    // A server that never answers: a UDP socket held for the whole check, so nothing else can answer there.
    const silent = createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
    try {
      const dead = new DnsTxt([`127.0.0.1:${silent.address().port}`], { timeoutMs: 300, tries: 1 });
      await assert.rejects(dead.txt('_fcm-challenge.a.fcm-contract.test'), (e: { code?: string }) => typeof e.code === 'string' && e.code !== 'ENOTFOUND');
    } finally {
      silent.close();
    }
    const mem = new MemoryTxt();
    mem.fail = 'ETIMEOUT';
    await assert.rejects(mem.txt('x.test'), (e: { code?: string }) => e.code === 'ETIMEOUT');
  });
});
