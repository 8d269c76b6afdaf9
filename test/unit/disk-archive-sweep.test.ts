/**
 * QemuImgDiskArchive.sweepStagings on a real directory: the stagings a killed
 * daemon left under disks/.imports are removed; a staging of an import this
 * process is running is never touched (it is in the driver's live set until
 * its remove()). The kill itself: test/reliability/interrupted-ops.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { QemuImgDiskArchive } from '../../daemon/drivers/disk-archive.js';

test('sweepStagings removes what a killed import left and spares a live one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fcm-sweep-'));
  try {
    const archive = new QemuImgDiskArchive({ dir, format: 'qcow2', minFreeMib: 0 });
    assert.equal(await archive.sweepStagings(), 0, 'nothing to sweep (no .imports yet)');
    const live = await archive.staging();
    const sink = await live.openDisk();
    await sink.write(Buffer.alloc(4096, 1));
    await sink.close();
    // What a killed daemon left: a staging with a partial disk.
    const left = join(dir, '.imports', 'deadbeefdeadbeef');
    mkdirSync(left, { mode: 0o700 });
    writeFileSync(join(left, 'disk.qcow2'), Buffer.alloc(8192, 2));
    assert.equal(await archive.sweepStagings(), 1);
    assert.equal(existsSync(left), false, 'the leftover is gone');
    assert.equal(readdirSync(join(dir, '.imports')).length, 1, 'the live staging stays');
    await live.remove();
    assert.deepEqual(readdirSync(join(dir, '.imports')), []);
    // A new daemon (another driver instance) does not know the first one's live stagings: they are leftovers to it.
    const other = await archive.staging();
    assert.equal(await new QemuImgDiskArchive({ dir, format: 'qcow2', minFreeMib: 0 }).sweepStagings(), 1);
    await other.remove();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
