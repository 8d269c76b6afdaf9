/**
 * SavedStates: the file driver (a real directory) and its in-memory twin
 * pass the same contract — a save exists only once sealed, begin replaces an
 * earlier save of the same name, remove is idempotent.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { SavedMachine, SavedStates } from '../../../daemon/core/ports/saved-states.js';
import { MemorySavedStates } from '../../../daemon/drivers/memory/memory-host.js';
import { FileSavedStates } from '../../../daemon/drivers/saved-states.js';

const meta = (vmId: string): SavedMachine => ({
  spec: { vmId, vcpus: 1, memoryMib: 256, kernelPath: '/k', initrdPath: null, cmdline: 'console=ttyS0', drives: [], net: { tap: 'fcm-x', mac: '02:00:00:00:00:01' } },
  savedAt: '2026-12-06T09:00:00.000Z',
});

for (const [name, make, writeState] of [
  ['memory', () => ({ s: new MemorySavedStates(), done: () => {} }), () => {}],
  [
    'files',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'fcm-saved-'));
      return { s: new FileSavedStates(dir), done: () => rmSync(dir, { recursive: true, force: true }) };
    },
    (path: string) => writeFileSync(path, Buffer.alloc(8192, 7)),
  ],
] as [string, () => { s: SavedStates; done: () => void }, (path: string) => void][]) {
  test(`SavedStates contract: ${name}`, async () => {
    const { s, done } = make();
    try {
      const vm = 'vm_0123456789ab';
      assert.equal(await s.open(vm, 'sleep'), null, 'nothing saved yet');
      const path = await s.begin(vm, 'sleep');
      writeState(path);
      assert.equal(await s.open(vm, 'sleep'), null, 'a save is incomplete until sealed');
      const bytes = await s.seal(vm, 'sleep', meta(vm));
      assert.ok(bytes > 0, 'a sealed save reports what it takes on disk');
      const got = await s.open(vm, 'sleep');
      assert.deepEqual(got, { meta: meta(vm), statePath: path });
      if (name === 'files') assert.equal(statSync(join(path, '..')).mode & 0o777, 0o700, "a save's directory (guest RAM inside) is root-only");
      assert.equal(await s.open('vm_ffffffffffff', 'sleep'), null, 'saves are per VM');
      // A new save of the same name replaces the old one, which is gone at once.
      const again = await s.begin(vm, 'sleep');
      assert.equal(again, path);
      assert.equal(await s.open(vm, 'sleep'), null, 'begin drops the earlier save');
      writeState(again);
      await s.seal(vm, 'sleep', { ...meta(vm), savedAt: '2026-12-06T10:00:00.000Z' });
      assert.equal((await s.open(vm, 'sleep'))?.meta.savedAt, '2026-12-06T10:00:00.000Z');
      await s.remove(vm, 'sleep');
      assert.equal(await s.open(vm, 'sleep'), null);
      await s.remove(vm, 'sleep');
      // The twin has no paths to protect; the file driver refuses anything but a VM id and a plain name.
      if (name === 'files') {
        await assert.rejects(s.begin('../etc', 'sleep'), /bad vm id/);
        await assert.rejects(s.begin(vm, '../x'), /bad save name/);
      }
    } finally {
      done();
    }
  });
}
