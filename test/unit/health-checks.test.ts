import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { diskCheck, warmPoolCheck } from '../../daemon/health-checks.js';

const GiB = 2 ** 30;
const fs = (freeGiB: number, totalGiB: number) => () => ({ bavail: freeGiB * GiB / 4096, blocks: totalGiB * GiB / 4096, bsize: 4096 });

test('disk: fails below 5% free or below 1 GiB, says how much is free', () => {
  assert.deepEqual(diskCheck('/var/lib/fcm', { statfs: fs(20, 100) }), { ok: true, detail: '20.0 GiB free of 100.0 GiB (/var/lib/fcm)' });
  assert.equal(diskCheck('/s', { statfs: fs(4, 100) }).ok, false, '4% free');
  assert.equal(diskCheck('/s', { statfs: fs(0.5, 5) }).ok, false, 'under 1 GiB, though 10%');
  assert.equal(diskCheck('/s', { statfs: fs(5, 100) }).ok, true, 'exactly 5%');
  const missing = diskCheck(join(tmpdir(), 'fcm-no-such-dir-for-health'));
  assert.equal(missing.ok, false);
  assert.match(missing.detail!, /cannot read free space/);
  // The real statfs of a real directory.
  const real = diskCheck(mkdtempSync(join(tmpdir(), 'fcm-health-')));
  assert.match(real.detail!, /^\d+\.\d GiB free of \d+\.\d GiB/);
});

test('warm pool: how many are ready of how many; off is not a failure', () => {
  assert.deepEqual(warmPoolCheck(1, 2), { ok: true, detail: '1 of 2 ready' });
  assert.deepEqual(warmPoolCheck(0, 0), { ok: true, detail: 'off' });
});
