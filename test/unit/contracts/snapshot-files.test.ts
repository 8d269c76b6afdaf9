/**
 * SnapshotFiles: the file driver (a real directory, a real qcow2 root and
 * qemu-img) and its in-memory twin pass the same contract — a snapshot
 * exists only once sealed, names are unique, freeze + revert bring the
 * VM's other disks back to that instant, remove drops the root's disk
 * snapshot when asked and is idempotent. `makeTag` plays QEMU's part (the
 * live capture takes the root's internal snapshot).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isFcmError } from '../../../daemon/core/errors.js';
import type { SnapshotFiles } from '../../../daemon/core/ports/vm-snapshots.js';
import { MemorySnapshotFiles } from '../../../daemon/drivers/memory/memory-host.js';
import { run } from '../../../daemon/drivers/proc.js';
import { FileSnapshots } from '../../../daemon/drivers/vm-snapshots.js';

const VM = 'vm_0123456789ab';
const spec = { vmId: VM, vcpus: 1, memoryMib: 256, kernelPath: '/k', initrdPath: null, cmdline: 'console=ttyS0', drives: [], net: { tap: 'fcm-x', mac: '02:00:00:00:00:01' } };
const meta = (name: string, createdAt: string) => ({ name, spec, createdAt, pausedMs: 40.5, stateBytes: 8192 });

interface Rig {
  files: SnapshotFiles;
  /** What the VM's disks (besides the root) hold now, and changing it. */
  disk(): string | undefined;
  setDisk(v: string): void;
  makeTag(tag: string): Promise<void>;
  tags(): Promise<string[]>;
  writeState(path: string): void;
  done(): void;
}

const rigs: [string, () => Promise<Rig>][] = [
  [
    'memory',
    async () => {
      const m = new MemorySnapshotFiles();
      return {
        files: m,
        disk: () => m.disk.get(VM),
        setDisk: (v) => m.disk.set(VM, v),
        makeTag: async (t) => void m.tags.add(`${VM}/${t}`),
        tags: async () => [...m.tags].filter((t) => t.startsWith(`${VM}/`)).map((t) => t.slice(VM.length + 1)),
        writeState: () => {},
        done: () => {},
      };
    },
  ],
  [
    'files',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'fcm-snapfiles-'));
      const vmDir = join(dir, VM);
      mkdirSync(vmDir, { mode: 0o700 });
      const root = join(vmDir, 'root.qcow2');
      const swap = join(vmDir, 'swap.raw');
      await run('qemu-img', ['create', '-q', '-f', 'qcow2', root, '16M']);
      writeFileSync(swap, Buffer.alloc(0));
      const files = new FileSnapshots({ layout: (id) => ({ dir: join(dir, id), root: join(dir, id, 'root.qcow2'), swap: join(dir, id, 'swap.raw'), format: 'qcow2' }) });
      return {
        files,
        disk: () => readFileSync(swap, 'utf8').replace(/\0+$/, ''),
        setDisk: (v) => writeFileSync(swap, v),
        makeTag: async (t) => void (await run('qemu-img', ['snapshot', '-c', t, root])),
        tags: async () =>
          (await run('qemu-img', ['snapshot', '-l', '-U', root])).stdout
            .split('\n')
            .map((l) => l.trim().split(/\s+/)[1])
            .filter((t): t is string => Boolean(t?.startsWith('fcm-'))),
        writeState: (p) => writeFileSync(p, Buffer.alloc(8192, 7)),
        done: () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  ],
];

for (const [name, make] of rigs) {
  test(`SnapshotFiles contract: ${name}`, async () => {
    const r = await make();
    const { files } = r;
    try {
      assert.deepEqual(await files.list(VM), []);
      r.setDisk('swap-before');
      const one = await files.begin(VM, 'one');
      r.writeState(one.statePath);
      await r.makeTag('fcm-one');
      await one.freeze();
      assert.deepEqual(await files.list(VM), [], 'incomplete until sealed');
      assert.deepEqual(await files.unsealed(VM), ['one'], 'begun, not sealed: what an interrupted daemon leaves');
      const sealed = await files.seal(VM, 'one', meta('one', '2026-12-06T09:00:00.000Z'));
      assert.ok(sealed.sizeBytes > 0);
      assert.deepEqual(await files.list(VM), [{ ...sealed, statePath: one.statePath }]);
      assert.deepEqual(await files.unsealed(VM), []);
      if (name === 'files') assert.equal(statSync(join(one.statePath, '..')).mode & 0o777, 0o700, "a snapshot's directory (guest RAM inside) is root-only");
      await assert.rejects(files.begin(VM, 'one'), (e: unknown) => isFcmError(e, 'name_taken'));
      // An unsealed begin (a daemon that died mid-snapshot) is simply started over.
      const two = await files.begin(VM, 'two');
      r.writeState(two.statePath);
      const again = await files.begin(VM, 'two');
      assert.equal(again.statePath, two.statePath);
      r.writeState(again.statePath);
      await r.makeTag('fcm-two');
      await again.freeze();
      await files.seal(VM, 'two', meta('two', '2026-12-06T10:00:00.000Z'));
      assert.deepEqual((await files.list(VM)).map((s) => s.name), ['one', 'two'], 'oldest first');
      // Revert: the other disks are as they were at the freeze.
      r.setDisk('swap-after');
      await files.revert(VM, 'one');
      assert.equal(r.disk(), 'swap-before');
      assert.deepEqual((await r.tags()).sort(), ['fcm-one', 'fcm-two']);
      // Remove: with the disk snapshot (machine stopped), or only the files (QEMU dropped it).
      await files.remove(VM, 'one', { disk: true });
      assert.deepEqual(await r.tags(), ['fcm-two']);
      await files.remove(VM, 'two', { disk: false });
      assert.deepEqual(await r.tags(), ['fcm-two'], 'the disk snapshot is left to the running hypervisor');
      assert.deepEqual(await files.list(VM), []);
      await files.remove(VM, 'two', { disk: true });
      await files.remove(VM, 'two', { disk: true });
      assert.deepEqual(await r.tags(), []);
      // An unsealed one, removed with its disk snapshot: nothing of it is left.
      const three = await files.begin(VM, 'three');
      r.writeState(three.statePath);
      await r.makeTag('fcm-three');
      assert.deepEqual(await files.unsealed(VM), ['three']);
      await files.remove(VM, 'three', { disk: true });
      assert.deepEqual([await files.unsealed(VM), await r.tags(), await files.list(VM)], [[], [], []]);
      if (name === 'files') {
        await assert.rejects(files.begin('../etc', 'x'), /bad vm id/);
        await assert.rejects(files.begin(VM, '../x'), /bad snapshot name/);
      }
    } finally {
      r.done();
    }
  });
}
