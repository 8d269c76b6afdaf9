/** The SQLite and PostgreSQL stores and their in-memory twin pass the same contract. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { isFcmError } from '../../../daemon/core/errors.js';
import type { NewVm } from '../../../daemon/core/model.js';
import { parseSubnet, planNetwork } from '../../../daemon/core/planners/network-plan.js';
import { rowsVersionOf, VmIdentityTaken, type VmStore } from '../../../daemon/core/ports/vm-store.js';
import { MemoryVmStore } from '../../../daemon/drivers/memory/memory-store.js';
import { openDb } from '../../../daemon/drivers/sqlite/db.js';
import { SqliteVmStore } from '../../../daemon/drivers/sqlite/sqlite-vm-store.js';
import { PgVmStore } from '../../../daemon/drivers/postgres/pg-vm-store.js';
import { pgContract } from '../../helpers/postgres.js';

const subnet = parseSubnet('10.0.0.0/29');
const pg = pgContract();
const impls: [string, () => VmStore][] = [
  ['memory', () => new MemoryVmStore(subnet)],
  ['sqlite', () => new SqliteVmStore(openDb(':memory:'), subnet)],
  ['postgres', () => new PgVmStore(pg.db(), subnet)],
];

const newVm = (name: string, id = `vm_${randomBytes(6).toString('hex')}`): NewVm => ({
  id, name, owner: 'u1', state: 'creating', desired: 'running',
  vcpus: 1, memoryMib: 256, diskMib: 2048, swapMib: 0, port: 8000, image: 'base', imageDir: '/i', hypervisor: 'qemu', lastError: null, domains: [], sleepAfterSec: null,
});
const plan = (vm: NewVm) => (slot: number) => planNetwork(vm.id, slot, subnet);
const insert = (s: VmStore, name: string) => {
  const vm = newVm(name);
  return s.insert(vm, plan(vm));
};

for (const [name, make] of impls) {
  describe(`VmStore contract: ${name}`, { skip: name === 'postgres' && pg.skip }, () => {
    if (name === 'postgres') pg.hooks();
    test('insert allocates the lowest free slot, fills gaps, and refuses when full', () => {
      const s = make();
      const a = insert(s, 'a');
      const b = insert(s, 'b');
      assert.deepEqual([a.slot, a.ip, b.slot], [2, '10.0.0.2', 3]);
      s.remove(a.id);
      assert.equal(insert(s, 'c').slot, 2, 'freed slot is reused');
      insert(s, 'd');
      insert(s, 'e');
      insert(s, 'f');
      assert.throws(() => insert(s, 'g'), (e) => isFcmError(e, 'ip_pool_exhausted'));
      assert.equal(s.list().length, 5);
    });

    test('rowsVersion: changes with every write that can change list() (insert, update, domains, verification, remove); PostgreSQL keeps none', () => {
      const s = make();
      const version = rowsVersionOf(s);
      if (name === 'postgres') {
        // Other hosts write the same rows: no version this host could trust.
        assert.equal(version(), null);
        return;
      }
      const seen = new Set<number | null>([version()]);
      const changes = (what: string, write: () => void) => {
        const before = version();
        assert.equal(version(), before, 'a read does not change it');
        write();
        assert.notEqual(version(), null);
        assert.ok(!seen.has(version()), `${what} gave a version seen before (${version()})`);
        seen.add(version());
      };
      let a!: ReturnType<typeof insert>;
      changes('insert', () => void (a = insert(s, 'a')));
      s.list();
      s.get('a');
      changes('update state', () => s.update(a.id, { state: 'running' }));
      changes('update config', () => s.update(a.id, { sleepAfterSec: 600, memoryMib: 512 }));
      changes('claim a domain', () => s.update(a.id, { domains: ['a.example.com'] }));
      changes('verify it', () => s.update(a.id, { verifiedDomains: ['a.example.com'] }));
      changes('remove', () => s.remove(a.id));
      // A refused write may still count (a spurious change only rebuilds an answer), but never hides one.
      const b = insert(s, 'b');
      const v = version();
      assert.throws(() => insert(s, 'b'), (e) => isFcmError(e, 'name_taken'));
      changes('update after a refusal', () => s.update(b.id, { lastError: 'x' }));
      assert.notEqual(v, version());
    });

    test('admit sees every row inside the write, and a refusal writes nothing', () => {
      const s = make();
      const a = insert(s, 'a');
      const seen: string[][] = [];
      const vm = newVm('b');
      const b = s.insert(vm, plan(vm), (rows) => seen.push(rows.map((r) => r.name)));
      assert.deepEqual(seen, [['a']]);
      const refused = newVm('c');
      assert.throws(() => s.insert(refused, plan(refused), () => { throw new Error('no'); }), /no/);
      assert.deepEqual(s.list().map((r) => r.name), ['a', 'b']);
      assert.throws(() => s.update(a.id, { memoryMib: 4096 }, (rows) => { assert.equal(rows.length, 2); throw new Error('no'); }), /no/);
      assert.equal(s.get(a.id)!.memoryMib, 256, 'a refused update changes nothing');
      assert.equal(s.update(b.id, { memoryMib: 512 }, () => {}).memoryMib, 512);
    });

    test('names are unique', () => {
      const s = make();
      insert(s, 'same');
      assert.throws(() => insert(s, 'same'), (e) => isFcmError(e, 'name_taken'));
    });

    test('get by name or id, update, remove', () => {
      const s = make();
      const a = insert(s, 'alpha');
      assert.equal(s.get('alpha')?.id, a.id);
      assert.equal(s.get(a.id)?.name, 'alpha');
      const u = s.update(a.id, { state: 'running', lastError: 'x' });
      assert.deepEqual([u.state, u.lastError, u.name], ['running', 'x', 'alpha']);
      assert.equal(s.get('alpha')?.state, 'running');
      assert.equal(a.sleepAfterSec, null, 'never sleeps unless asked');
      assert.equal(s.update(a.id, { sleepAfterSec: 900 }).sleepAfterSec, 900);
      assert.equal(s.get('alpha')?.sleepAfterSec, 900);
      assert.equal(s.update(a.id, { sleepAfterSec: null }).sleepAfterSec, null, 'null turns it off');
      s.remove(a.id);
      assert.equal(s.get('alpha'), undefined);
      assert.throws(() => s.update(a.id, { state: 'stopped' }), (e) => isFcmError(e, 'vm_not_found'));
      s.remove(a.id); // removing twice is fine
    });

    test('an id, or a tap/MAC derived from it, already in use is VmIdentityTaken, never silently shared', () => {
      const s = make();
      const a = newVm('one', 'vm_abcdefabcdef');
      s.insert(a, plan(a));
      const b = newVm('two', 'vm_abcdefabcdee'); // same first 11 hex chars → same tap name
      assert.throws(() => s.insert(b, plan(b)), (e) => e instanceof VmIdentityTaken && e.field === 'tap');
      const c = newVm('three', a.id); // id, tap and MAC all clash: which one is reported is the store's choice
      assert.throws(() => s.insert(c, plan(c)), (e) => e instanceof VmIdentityTaken);
      const d = newVm('four');
      assert.throws(() => s.insert(d, (slot) => ({ ...plan(d)(slot), mac: plan(a)(2).mac })), (e) => e instanceof VmIdentityTaken && e.field === 'mac');
      assert.equal(s.list().length, 1);
    });

    test('conflicts are domain errors: the same FcmError from every store, whatever its engine says', () => {
      const s = make();
      const a = insert(s, 'taken');
      const clash = (f: () => unknown) => {
        try {
          f();
        } catch (e) {
          return isFcmError(e) ? e.code : `not an FcmError: ${(e as Error).message}`;
        }
        return 'no error';
      };
      assert.equal(clash(() => insert(s, 'taken')), 'name_taken');
      assert.equal(clash(() => s.update('vm_000000000000', { state: 'running' })), 'vm_not_found');
      s.update(a.id, { domains: ['x.example.com'], verifiedDomains: ['x.example.com'] });
      const b = insert(s, 'b');
      assert.equal(clash(() => s.update(b.id, { domains: ['x.example.com'] })), 'domain_taken');
      assert.equal(clash(() => s.update(b.id, { verifiedDomains: ['y.example.com'] })), 'not_found');
    });

    test('custom domains: claims are pending, several VMs may claim a name, only one may have it verified', () => {
      const s = make();
      const vm = { ...newVm('dom'), domains: ['b.example.com', 'a.example.com'] };
      const a = s.insert(vm, plan(vm));
      assert.deepEqual([a.domains, a.verifiedDomains], [['a.example.com', 'b.example.com'], []]);
      // Another VM (a squatter, or the real owner) may claim the same pending name.
      const other = { ...newVm('other'), domains: ['a.example.com'] };
      const o = s.insert(other, plan(other));
      assert.deepEqual(o.domains, ['a.example.com']);
      // Verified for one VM: nobody else can claim or verify it.
      assert.deepEqual(s.update(a.id, { verifiedDomains: ['a.example.com'] }).verifiedDomains, ['a.example.com']);
      assert.throws(() => s.update(o.id, { verifiedDomains: ['a.example.com'] }), (e) => isFcmError(e, 'domain_taken'));
      const third = { ...newVm('third'), domains: ['a.example.com'] };
      assert.throws(() => s.insert(third, plan(third)), (e) => isFcmError(e, 'domain_taken'));
      assert.equal(s.get('third'), undefined, 'the refused insert left no row');
      assert.throws(() => s.update(o.id, { domains: ['a.example.com', 'z.example.com'] }), (e) => isFcmError(e, 'domain_taken'));
      assert.throws(() => s.update(a.id, { verifiedDomains: ['not-claimed.example.com'] }), (e) => isFcmError(e, 'not_found'));
      // Kept domains keep their status; new ones are pending; removed ones are gone.
      const kept = s.update(a.id, { domains: ['a.example.com', 'c.example.com'] });
      assert.deepEqual([kept.domains, kept.verifiedDomains], [['a.example.com', 'c.example.com'], ['a.example.com']]);
      assert.deepEqual(s.update(a.id, { state: 'running' }).verifiedDomains, ['a.example.com'], 'other updates keep domains');
      const dropped = s.update(a.id, { domains: ['c.example.com'] });
      assert.deepEqual([dropped.domains, dropped.verifiedDomains], [['c.example.com'], []]);
      assert.deepEqual(s.update(o.id, { verifiedDomains: ['a.example.com'] }).verifiedDomains, ['a.example.com'], 'released domains can be verified elsewhere');
      s.remove(o.id);
      const again = { ...newVm('again'), domains: ['a.example.com'] };
      const ag = s.insert(again, plan(again));
      assert.deepEqual(s.update(ag.id, { verifiedDomains: ['a.example.com'] }).verifiedDomains, ['a.example.com'], 'deleting a VM frees its domains');
    });

    test('returned records are copies', () => {
      const s = make();
      const a = insert(s, 'copy');
      a.state = 'failed';
      assert.equal(s.get('copy')?.state, 'creating');
    });
  });
}
