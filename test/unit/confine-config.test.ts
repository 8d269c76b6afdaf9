/**
 * The confinement settings in daemon/config.ts: safe defaults (confined,
 * a reserved uid range, the jailer on, private destinations blocked), and
 * clear errors for values that would weaken or break them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../daemon/config.js';

test('defaults: QEMU confined with a uid per VM, cgroups auto, Firecracker through its jailer, nothing allowlisted', () => {
  const c = loadConfig({});
  assert.deepEqual(c.vmm, {
    confine: true,
    bwrap: 'bwrap',
    setpriv: '/usr/bin/setpriv',
    uidBase: 2_000_000_000,
    uidCount: 65_536,
    cgroups: 'auto',
    cgroupParent: 'fcm-vms',
    memoryOverheadMib: c.vmm.memoryOverheadMib,
    // TCG's translation cache per QEMU (FCM_QEMU_TB_MIB; 16 starved the template's boot, density bench).
    tcgTbMib: 64,
    // Restored clones keep only what their guest wrote after the restore: 32 (16 thrashed a clone's real work, qemu-argv.ts).
    tcgRestoreTbMib: 64,
    // QEMU without transparent huge pages (a 2 MiB page per touched 2 MiB of its TCG cache and ROMs, planProcessFlags).
    qemuThp: false,
    // No memory merging unless the operator asks (SECURITY.md); ksmd's rate when asked; glibc's own malloc arenas.
    ksm: { enabled: false, pagesToScan: 1000, sleepMs: 50 },
    malloc: { arenaMax: 0 },
  });
  assert.deepEqual(c.firecrackerJailer, { binary: 'jailer', uid: null, gid: null, chrootBase: '/var/lib/fcm/jail' });
  assert.deepEqual(c.network.egressAllow, []);
});

test('jailer keys: binary, fixed uid/gid (both or neither), chroot base; off turns it off', () => {
  const c = loadConfig({ FCM_FIRECRACKER_JAILER: '/usr/local/bin/jailer', FCM_FIRECRACKER_UID: '64000', FCM_FIRECRACKER_GID: '64001', FCM_FIRECRACKER_CHROOT_BASE: '/srv/jailer' });
  assert.deepEqual(c.firecrackerJailer, { binary: '/usr/local/bin/jailer', uid: 64000, gid: 64001, chrootBase: '/srv/jailer' });
  assert.equal(loadConfig({ FCM_FIRECRACKER_JAILER: 'off' }).firecrackerJailer, null);
  assert.throws(() => loadConfig({ FCM_FIRECRACKER_UID: '64000' }), /FCM_FIRECRACKER_UID and FCM_FIRECRACKER_GID/);
  assert.throws(() => loadConfig({ FCM_FIRECRACKER_UID: '0', FCM_FIRECRACKER_GID: '0' }), ConfigError);
  assert.throws(() => loadConfig({ FCM_FIRECRACKER_JAILER: 'jailer; rm -rf /' }), /FCM_FIRECRACKER_JAILER/);
  assert.throws(() => loadConfig({ FCM_FIRECRACKER_CHROOT_BASE: 'relative/dir' }), /absolute/);
});

test('VMM keys: uid range inside [1000, 2^31), cgroup mode and parent name, overhead bounds', () => {
  const c = loadConfig({ FCM_VMM_UID_BASE: '3000000', FCM_VMM_UID_COUNT: '100', FCM_VMM_CGROUPS: 'v2', FCM_VMM_CGROUP_PARENT: 'vms', FCM_VMM_MEMORY_OVERHEAD_MIB: '200', FCM_VMM_CONFINE: 'false' });
  assert.equal(c.vmm.uidBase, 3_000_000);
  assert.equal(c.vmm.uidCount, 100);
  assert.equal(c.vmm.cgroups, 'v2');
  assert.equal(c.vmm.cgroupParent, 'vms');
  assert.equal(c.vmm.memoryOverheadMib, 200);
  assert.equal(c.vmm.confine, false);
  const q = loadConfig({ FCM_QEMU_TB_MIB: '96', FCM_QEMU_RESTORE_TB_MIB: '24', FCM_QEMU_THP: 'true' }).vmm;
  assert.deepEqual([q.tcgTbMib, q.tcgRestoreTbMib, q.qemuThp], [96, 24, true]);
  assert.throws(() => loadConfig({ FCM_QEMU_RESTORE_TB_MIB: '2' }), /FCM_QEMU_RESTORE_TB_MIB/);
  assert.throws(() => loadConfig({ FCM_QEMU_THP: 'maybe' }), /FCM_QEMU_THP/);
  const k = loadConfig({ FCM_KSM: 'true', FCM_KSM_PAGES_TO_SCAN: '5000', FCM_KSM_SLEEP_MS: '20', FCM_QEMU_MALLOC_ARENA_MAX: '2' }).vmm;
  assert.deepEqual([k.ksm, k.malloc], [{ enabled: true, pagesToScan: 5000, sleepMs: 20 }, { arenaMax: 2 }]);
  assert.throws(() => loadConfig({ FCM_KSM: 'sometimes' }), /FCM_KSM/);
  assert.throws(() => loadConfig({ FCM_KSM_PAGES_TO_SCAN: '0' }), /FCM_KSM_PAGES_TO_SCAN/);
  assert.throws(() => loadConfig({ FCM_QEMU_MALLOC_ARENA_MAX: '-1' }), /FCM_QEMU_MALLOC_ARENA_MAX/);
  assert.throws(() => loadConfig({ FCM_VMM_UID_BASE: '0' }), /FCM_VMM_UID_BASE/);
  assert.throws(() => loadConfig({ FCM_VMM_UID_BASE: '2147483000', FCM_VMM_UID_COUNT: '65536' }), /FCM_VMM_UID_COUNT/);
  assert.throws(() => loadConfig({ FCM_VMM_CGROUPS: 'v3' }), /FCM_VMM_CGROUPS/);
  assert.throws(() => loadConfig({ FCM_VMM_CGROUP_PARENT: '../escape' }), /FCM_VMM_CGROUP_PARENT/);
  assert.throws(() => loadConfig({ FCM_VMM_MEMORY_OVERHEAD_MIB: '8' }), /FCM_VMM_MEMORY_OVERHEAD_MIB/);
});

test('FCM_EGRESS_ALLOW: IPv4 CIDRs or addresses, host bits zero', () => {
  assert.deepEqual(loadConfig({ FCM_EGRESS_ALLOW: '10.20.0.0/16, 192.168.5.7 10.20.0.0/16' }).network.egressAllow, ['10.20.0.0/16', '192.168.5.7/32']);
  assert.throws(() => loadConfig({ FCM_EGRESS_ALLOW: '10.20.1.0/16' }), /host bits set \(did you mean 10\.20\.0\.0\/16\?\)/);
  assert.throws(() => loadConfig({ FCM_EGRESS_ALLOW: '10.0.0.0/33' }), /not an IPv4 address or CIDR/);
  assert.throws(() => loadConfig({ FCM_EGRESS_ALLOW: 'fd00:ec2::254' }), /not an IPv4 address or CIDR/);
});
