/** The daemon asks drivers what they can do (main.ts): each driver's answer must be true of it. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { FirecrackerHypervisor } from '../../daemon/drivers/firecracker/firecracker-hypervisor.js';
import { MemoryHypervisor } from '../../daemon/drivers/memory/memory-host.js';
import { QemuHypervisor } from '../../daemon/drivers/qemu/qemu-hypervisor.js';

const log = pino({ level: 'silent' });

test('QEMU: qcow2 overlays preferred, snapshots for the fast path (the driver itself), consoles in its run dir', () => {
  const q = new QemuHypervisor({ binary: 'qemu-system-x86_64', runDir: '/run/x', accel: 'tcg', confine: null, cgroups: null, memoryOverheadMib: 0 }, log);
  assert.deepEqual(q.capabilities.diskFormats, ['qcow2', 'raw']);
  assert.equal(q.capabilities.snapshots, q);
  assert.deepEqual(q.capabilities.console?.('vm_0123456789ab'), q.console('vm_0123456789ab'));
  assert.match(q.capabilities.console!('vm_0123456789ab').socketPath, /^\/run\/x\/vm_0123456789ab\//);
});

test('Firecracker: raw disks only; snapshots through its snapshot API (the driver itself: sleep and wake), but raw disks keep the template fast path off', () => {
  const f = new FirecrackerHypervisor({ binary: 'firecracker', runDir: '/run/x' }, log);
  assert.deepEqual(f.capabilities.diskFormats, ['raw']);
  assert.equal(f.capabilities.snapshots, f);
  assert.ok(!f.capabilities.diskFormats.includes('qcow2' as never), 'templates need qcow2 overlays: main.ts enables the fast path only with them');
  assert.deepEqual(f.capabilities.console?.('vm_0123456789ab'), f.console('vm_0123456789ab'));
});

test('the twin claims nothing it does not do', () => {
  const m = new MemoryHypervisor();
  assert.equal(m.capabilities.snapshots, null);
  assert.equal(m.capabilities.console, null);
});
