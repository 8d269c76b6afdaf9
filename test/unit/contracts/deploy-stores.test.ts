/** Release, config var and SSH key stores: SQLite, PostgreSQL and the in-memory twins pass the same contract. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EnvStore, NewRelease, ReleaseStore } from '../../../daemon/core/ports/releases.js';
import { isFcmError } from '../../../daemon/core/errors.js';
import type { KeyRecord, KeyStore } from '../../../daemon/core/ports/key-store.js';
import { parseSubnet, planNetwork } from '../../../daemon/core/planners/network-plan.js';
import { MemoryEnvStore, MemoryKeyStore, MemoryReleaseStore } from '../../../daemon/drivers/memory/memory-deploys.js';
import { openDb } from '../../../daemon/drivers/sqlite/db.js';
import { SqliteEnvStore, SqliteKeyStore, SqliteReleaseStore } from '../../../daemon/drivers/sqlite/sqlite-deploy-stores.js';
import { SqliteVmStore } from '../../../daemon/drivers/sqlite/sqlite-vm-store.js';
import type { VmStore } from '../../../daemon/core/ports/vm-store.js';
import { PgEnvStore, PgKeyStore, PgReleaseStore } from '../../../daemon/drivers/postgres/pg-deploy-stores.js';
import { PgVmStore } from '../../../daemon/drivers/postgres/pg-vm-store.js';
import { pgContract } from '../../helpers/postgres.js';

const VM_A = 'vm_aaaaaaaaaaaa';
const VM_B = 'vm_bbbbbbbbbbbb';

const subnet = parseSubnet('10.0.0.0/28');

/** SQL rows reference their VM (ON DELETE CASCADE): the VMs must exist. */
function withVms(vms: VmStore): void {
  for (const [id, name] of [[VM_A, 'a'], [VM_B, 'b']] as const) {
    vms.insert(
      { id, name, owner: 'u', state: 'running', desired: 'running', vcpus: 1, memoryMib: 256, diskMib: 1024, swapMib: 0, port: 8000, image: 'base', imageDir: '/i', hypervisor: 'qemu', lastError: null, domains: [], sleepAfterSec: null },
      (slot) => planNetwork(id, slot, subnet),
    );
  }
}

function sqlite() {
  const db = openDb(':memory:');
  const vms = new SqliteVmStore(db, subnet);
  withVms(vms);
  return { releases: new SqliteReleaseStore(db), env: new SqliteEnvStore(db), keys: new SqliteKeyStore(db), deleteVm: (id: string) => vms.remove(id) };
}

const pg = pgContract();
function postgres() {
  const db = pg.db();
  const vms = new PgVmStore(db, subnet);
  withVms(vms);
  return { releases: new PgReleaseStore(db), env: new PgEnvStore(db), keys: new PgKeyStore(db), deleteVm: (id: string) => vms.remove(id) };
}

const impls: [string, () => { releases: ReleaseStore; env: EnvStore; keys: KeyStore; deleteVm?: (id: string) => void }][] = [
  ['memory', () => ({ releases: new MemoryReleaseStore(), env: new MemoryEnvStore(), keys: new MemoryKeyStore() })],
  ['sqlite', sqlite],
  ['postgres', postgres],
];

const rel = (vmId: string, over: Partial<NewRelease> = {}): NewRelease => ({
  vmId, status: 'building', kind: 'deploy', commit: 'c'.repeat(40), description: 'Deploy ccccccc', buildpack: null, processes: {}, rollbackOf: null, build: null, ...over,
});

const key = (id: string, fingerprint: string, owner = 'u1'): KeyRecord => ({
  id, owner, name: 'laptop', type: 'ssh-ed25519', fingerprint, publicKey: 'ssh-ed25519 AAAA', createdAt: new Date().toISOString(),
});

for (const [name, make] of impls) {
  describe(`deploy stores contract: ${name}`, { skip: name === 'postgres' && pg.skip }, () => {
    if (name === 'postgres') pg.hooks();
    test('releases: versions count per VM from 1, newest first; update patches; unknown → release_not_found', () => {
      const { releases } = make();
      assert.equal(releases.create(rel(VM_A)).version, 1);
      assert.equal(releases.create(rel(VM_A, { kind: 'config' })).version, 2);
      assert.equal(releases.create(rel(VM_B)).version, 1);
      const r = releases.create(rel(VM_A, { processes: { web: 'x' } }));
      assert.equal(r.version, 3);
      assert.equal(r.log, '');
      assert.equal(r.finishedAt, null);
      assert.deepEqual(r.processes, { web: 'x' });
      assert.deepEqual(releases.list(VM_A).map((x) => x.version), [3, 2, 1]);
      const u = releases.update(VM_A, 1, { status: 'succeeded', buildpack: 'python', processes: { web: 'gunicorn' }, build: 1, log: 'out\n', finishedAt: '2025-01-01T00:00:00.000Z' });
      assert.deepEqual([u.status, u.buildpack, u.processes, u.build, u.log, u.finishedAt], ['succeeded', 'python', { web: 'gunicorn' }, 1, 'out\n', '2025-01-01T00:00:00.000Z']);
      assert.equal(releases.get(VM_A, 1)!.status, 'succeeded');
      assert.equal(releases.get(VM_A, 1)!.commit, 'c'.repeat(40));
      assert.equal(releases.get(VM_A, 9), undefined);
      assert.throws(() => releases.update(VM_A, 9, { status: 'failed' }), (e: unknown) => isFcmError(e, 'release_not_found'));
      releases.removeVm(VM_A);
      assert.deepEqual(releases.list(VM_A), []);
      assert.equal(releases.list(VM_B).length, 1);
      assert.equal(releases.create(rel(VM_A)).version, 1, 'a removed VM starts over');
    });

    test('env: replaced whole, per VM, removable', () => {
      const { env } = make();
      assert.deepEqual(env.get(VM_A), {});
      env.put(VM_A, { A: '1', B: 'two words\nand a newline' });
      env.put(VM_B, { C: '3' });
      assert.deepEqual(env.get(VM_A), { A: '1', B: 'two words\nand a newline' });
      env.put(VM_A, { B: 'x' });
      assert.deepEqual(env.get(VM_A), { B: 'x' });
      env.removeVm(VM_A);
      assert.deepEqual(env.get(VM_A), {});
      assert.deepEqual(env.get(VM_B), { C: '3' });
    });

    test('keys: one registration per fingerprint (key_taken), list by owner, remove', () => {
      const { keys } = make();
      keys.insert(key('key_000000000001', 'SHA256:one'));
      keys.insert(key('key_000000000002', 'SHA256:two', 'u2'));
      assert.throws(() => keys.insert(key('key_000000000003', 'SHA256:one', 'u2')), (e: unknown) => isFcmError(e, 'key_taken'));
      assert.deepEqual(keys.list('u1').map((k) => k.id), ['key_000000000001']);
      assert.equal(keys.list(null).length, 2);
      assert.equal(keys.byFingerprint('SHA256:two')!.owner, 'u2');
      assert.equal(keys.get('key_000000000001')!.fingerprint, 'SHA256:one');
      keys.remove('key_000000000001');
      keys.remove('key_000000000001');
      assert.equal(keys.get('key_000000000001'), undefined);
      assert.equal(keys.byFingerprint('SHA256:one'), undefined);
    });

    if (name === 'sqlite' || name === 'postgres') {
      test(`${name}: deleting the VM row takes its releases and config vars with it`, () => {
        const s = name === 'sqlite' ? sqlite() : postgres();
        s.releases.create(rel(VM_A));
        s.env.put(VM_A, { A: '1' });
        s.deleteVm(VM_A);
        assert.deepEqual(s.releases.list(VM_A), []);
        assert.deepEqual(s.env.get(VM_A), {});
      });
    }
  });
}
