/**
 * DiskForks: CowDisks (a real directory, real qcow2 files, qemu-img) and its
 * in-memory twin pass the same contract — a fork's directory is its own
 * (begun once), freeze copies the parent's swap, finishFork makes the fork's
 * root, seed and swap in it, the captured state is dropped idempotently and
 * removing the fork removes everything. The real driver also shows what the
 * twin cannot: the fork's root holds the parent's disk as it was at its disk
 * snapshot (not after), reads the rest through the parent's own backing
 * file, and still does so once the parent's directory is gone. `snapshot`
 * plays QEMU's part (the live capture takes the root's internal snapshot).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DiskForks, Disks } from '../../../daemon/core/ports/disks.js';
import { CowDisks } from '../../../daemon/drivers/cow-disks.js';
import { MemoryDisks } from '../../../daemon/drivers/memory/memory-host.js';
import { run } from '../../../daemon/drivers/proc.js';

const PARENT = 'vm_0123456789ab';
const FORK = 'vm_ba9876543210';
const SEED = Buffer.from('FCMSEED1\n{"vmId":"vm_ba9876543210"}\n'.padEnd(4096, '\0'));
const image = (dir: string) => ({ name: 'base', dir, kernelPath: join(dir, 'vmlinuz'), initrdPath: null, rootfsPath: join(dir, 'rootfs.ext4') });

interface Rig {
  disks: Disks & DiskForks;
  /** The parent's root gets disk snapshot `tag` (what QEMU does in the capture), and changes after it. */
  snapshot(tag: string): Promise<void>;
  /** Checks only a real driver can make (contents, independence from the parent). */
  realChecks?(forkRoot: string): Promise<void>;
  done(): void;
}

const io = (file: string, cmd: string) => run('qemu-io', ['-f', 'qcow2', '-c', cmd, file]);

const rigs: [string, () => Promise<Rig>][] = [
  [
    'memory',
    async () => {
      const disks = new MemoryDisks();
      await disks.create(PARENT, image('/images/base'), { diskMib: 64, swapMib: 8 }, SEED);
      return { disks, snapshot: async () => {}, done: () => {} };
    },
  ],
  [
    'cow',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'fcm-diskforks-'));
      const img = image(join(dir, 'image'));
      await run('mkdir', ['-p', img.dir]);
      // The base: 'B' at 1 MiB (what every VM made from it reads through its backing file).
      writeFileSync(img.rootfsPath, Buffer.concat([Buffer.alloc(1 << 20), Buffer.alloc(4096, 'B'), Buffer.alloc((1 << 20) - 4096)]));
      const disks = new CowDisks({ dir: join(dir, 'disks'), format: 'qcow2', minFreeMib: 1 });
      const d = await disks.create(PARENT, img, { diskMib: 64, swapMib: 8 }, SEED);
      writeFileSync(d.swap!.path, Buffer.from('swap-at-the-pause'));
      return {
        disks,
        snapshot: async (tag) => {
          await io(d.root.path, 'write -P 0x61 0 4k'); // 'a' before the snapshot
          await run('qemu-img', ['snapshot', '-c', tag, d.root.path]);
          await io(d.root.path, 'write -P 0x7a 0 4k'); // 'z' after it: not the fork's
        },
        realChecks: async (forkRoot) => {
          assert.equal(statSync(forkRoot).mode & 0o777, 0o600);
          const info = JSON.parse((await run('qemu-img', ['info', '--output=json', forkRoot])).stdout);
          assert.equal(info['full-backing-filename'], img.rootfsPath, "backed by the parent's own base, not by the parent's disk");
          assert.equal(info.snapshots, undefined, "none of the parent's disk snapshots");
          await io(forkRoot, 'read -P 0x61 0 4k'); // throws unless the pattern matches
          await io(forkRoot, 'read -P 0x42 1M 4k');
          assert.equal(readFileSync(join(dir, 'disks', FORK, 'swap.raw'), 'utf8'), 'swap-at-the-pause');
          // The parent gone: the fork's disk reads as before.
          await disks.remove(PARENT);
          assert.equal(existsSync(join(dir, 'disks', PARENT)), false);
          await io(forkRoot, 'read -P 0x61 0 4k');
          await run('qemu-img', ['check', '-q', forkRoot]);
        },
        done: () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  ],
];

for (const [name, make] of rigs) {
  test(`DiskForks contract (${name}): a directory of its own, the parent's swap at the pause, root + seed + swap, state dropped, removed whole`, async () => {
    const r = await make();
    try {
      const { statePath, freeze } = await r.disks.beginFork(FORK, PARENT);
      assert.ok(statePath.includes(FORK), statePath);
      await assert.rejects(r.disks.beginFork(FORK, PARENT), /already has disks/);
      assert.ok((await r.disks.list()).includes(FORK), 'the fork\'s directory is listed (orphan cleanup finds a half-made one)');
      await r.snapshot('fcm-fork-x');
      await freeze();
      if (name === 'cow') writeFileSync(statePath, 'ram');
      const d = await r.disks.finishFork(FORK, PARENT, 'fcm-fork-x', 8, SEED);
      assert.deepEqual([d.root.id, d.seed.id, d.swap?.id], ['root', 'seed', 'swap']);
      assert.deepEqual([d.root.format, d.seed.readOnly, d.root.readOnly], ['qcow2', true, false]);
      for (const p of [d.root.path, d.seed.path, d.swap!.path]) assert.ok(p.includes(FORK), p);
      if (name === 'cow') {
        assert.deepEqual(readFileSync(d.seed.path), SEED);
        assert.equal(statSync(d.seed.path).mode & 0o777, 0o600);
      }
      await r.disks.dropForkState(FORK);
      await r.disks.dropForkState(FORK);
      if (name === 'cow') assert.equal(existsSync(statePath), false, 'the parent\'s RAM is not kept');
      await r.realChecks?.(d.root.path);
      await r.disks.remove(FORK);
      assert.ok(!(await r.disks.list()).includes(FORK));
      if (name === 'cow') assert.equal(existsSync(d.root.path), false);
    } finally {
      r.done();
    }
  });
}
