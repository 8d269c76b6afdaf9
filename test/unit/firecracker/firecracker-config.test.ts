import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isFcmError } from '../../../daemon/core/errors.js';
import type { MachineSpec } from '../../../daemon/core/ports/hypervisor.js';
import {
  cmdlineRole,
  firecrackerBootArgs,
  firecrackerId,
  planBootRequests,
  planHolderArgs,
  planJail,
  planLaunchArgv,
  planStopRequest,
  runPaths,
  type FcJail,
} from '../../../daemon/drivers/firecracker/firecracker-config.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'firecracker', 'plan.golden.json');

/** The cmdline core's planCmdline produces for this VM (literal, so this golden tracks only the Firecracker planner). */
const CORE_CMDLINE =
  'console=ttyS0 reboot=k panic=-1 root=/dev/vda rw quiet fcm.vm=vm_0123456789ab fcm.hostname=cosmic-nova ' +
  'fcm.ip=172.16.0.2/24 fcm.gw=172.16.0.1 fcm.agent_port=7611 fcm.dns=172.16.0.1';

const SPEC: MachineSpec = {
  vmId: 'vm_0123456789ab',
  vcpus: 2,
  memoryMib: 512,
  kernelPath: '/var/cache/fcm/images/firecracker/vmlinux',
  initrdPath: null,
  cmdline: CORE_CMDLINE,
  drives: [
    { id: 'root', path: '/var/lib/fcm/disks/vm_0123456789ab/root.raw', format: 'raw', readOnly: false },
    { id: 'swap', path: '/var/lib/fcm/disks/vm_0123456789ab/swap.raw', format: 'raw', readOnly: false },
  ],
  net: { tap: 'fcm-0123456789', mac: '02:fc:1a:2b:3c:4d' },
};

const JAILER: FcJail = { binary: '/usr/local/bin/jailer', uid: 64000, gid: 64000, chrootBase: '/srv/jailer', cgroups: { version: 2, parent: 'fcm-vms', overheadMib: 320 } };
const FC = '/usr/local/bin/firecracker';

function plan() {
  const direct = runPaths('/run/fcm', SPEC.vmId, FC, null);
  const jailed = runPaths('/run/fcm', SPEC.vmId, FC, JAILER);
  const jail = planJail(SPEC, jailed);
  return {
    boot: planBootRequests(SPEC, { logPath: direct.vmm.logFile, logLevel: 'Warning', metricsPath: direct.vmm.metricsFile }),
    stop: planStopRequest(),
    launch: planLaunchArgv(SPEC.vmId, FC, null, direct),
    holderArgs: planHolderArgs(direct, planLaunchArgv(SPEC.vmId, FC, null, direct)),
    jailed: {
      launch: planLaunchArgv(SPEC.vmId, FC, JAILER, jailed, SPEC),
      links: jail.links,
      apiSocketOnHost: jailed.apiSocket,
      boot: planBootRequests(jail.spec, { logPath: jailed.vmm.logFile, logLevel: 'Warning', metricsPath: null }),
    },
  };
}

describe('firecracker planner', () => {
  test('plan for a fixed MachineSpec matches the golden file (UPDATE_GOLDEN=1 rewrites it)', () => {
    const text = `${JSON.stringify(plan(), null, 2)}\n`;
    if (process.env.UPDATE_GOLDEN === '1') {
      writeFileSync(GOLDEN, text);
      return;
    }
    let expected: string;
    try {
      expected = readFileSync(GOLDEN, 'utf8');
    } catch {
      assert.fail(`${GOLDEN} is missing; create it with UPDATE_GOLDEN=1`);
    }
    assert.equal(text, expected, 'plan differs from test/fixtures/firecracker/plan.golden.json (UPDATE_GOLDEN=1 to accept)');
  });

  test('boot requests: order, InstanceStart last, optional logger/metrics and initrd', () => {
    const bare = planBootRequests(SPEC, { logPath: null, logLevel: 'Warning', metricsPath: null });
    assert.deepEqual(
      bare.map((r) => `${r.method} ${r.path}`),
      ['PUT /machine-config', 'PUT /boot-source', 'PUT /drives/root', 'PUT /drives/swap', 'PUT /network-interfaces/eth0', 'PUT /actions'],
    );
    assert.deepEqual(bare.at(-1)?.body, { action_type: 'InstanceStart' });
    assert.equal((bare[1]?.body as Record<string, unknown>).initrd_path, undefined);
    const withInitrd = planBootRequests({ ...SPEC, initrdPath: '/img/initrd.img' }, { logPath: null, logLevel: 'Warning', metricsPath: null });
    assert.equal((withInitrd[1]?.body as Record<string, unknown>).initrd_path, '/img/initrd.img');
    const noSwap = planBootRequests({ ...SPEC, drives: [SPEC.drives[0]!] }, { logPath: null, logLevel: 'Warning', metricsPath: null });
    assert.equal(noSwap.filter((r) => r.path.startsWith('/drives/')).length, 1);
  });

  test('boot args: Firecracker extras appended once, core args kept, required ones restored', () => {
    const once = firecrackerBootArgs(CORE_CMDLINE);
    assert.ok(once.startsWith(CORE_CMDLINE));
    assert.equal(firecrackerBootArgs(once), once, 'idempotent');
    assert.match(once, / pci=off i8042\.noaux i8042\.nomux i8042\.nopnp i8042\.dumbkbd$/);
    assert.equal(firecrackerBootArgs('console=ttyS0'), 'console=ttyS0 reboot=k panic=-1 pci=off i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd');
    assert.equal(firecrackerBootArgs('reboot=t panic=5 pci=on').split(' ').slice(0, 3).join(' '), 'reboot=t panic=5 pci=on', 'explicit values win');
    assert.throws(() => firecrackerBootArgs(`console=ttyS0 ${'x'.repeat(2000)}`), (e) => isFcmError(e, 'hypervisor_failed'));
  });

  test('instance id: Firecracker-valid, derived from the VM id', () => {
    assert.equal(firecrackerId('vm_0123456789ab'), 'fcm-vm-0123456789ab');
    assert.match(firecrackerId('vm_0123456789ab'), /^[A-Za-z0-9-]{1,64}$/);
    assert.throws(() => firecrackerId('../etc'), (e) => isFcmError(e, 'hypervisor_failed'));
  });

  test('specs Firecracker cannot run are rejected before anything starts', () => {
    const opts = { logPath: null, logLevel: 'Warning' as const, metricsPath: null };
    const bad: Array<[string, MachineSpec]> = [
      ['qcow2', { ...SPEC, drives: [{ ...SPEC.drives[0]!, format: 'qcow2' }] }],
      ['no root', { ...SPEC, drives: [SPEC.drives[1]!] }],
      ['vcpus', { ...SPEC, vcpus: 33 }],
      ['memory', { ...SPEC, memoryMib: 0.5 }],
      ['mac', { ...SPEC, net: { ...SPEC.net, mac: 'nope' } }],
      ['tap', { ...SPEC, net: { ...SPEC.net, tap: 'a-very-long-tap-name' } }],
      ['relative kernel', { ...SPEC, kernelPath: 'vmlinux' }],
    ];
    for (const [what, spec] of bad) {
      assert.throws(() => planBootRequests(spec, opts), (e) => isFcmError(e, 'hypervisor_failed'), what);
    }
  });

  test('jail: files linked into the chroot, drives chowned, paths rewritten', () => {
    const paths = runPaths('/run/fcm', SPEC.vmId, FC, JAILER);
    assert.equal(paths.chrootDir, '/srv/jailer/firecracker/fcm-vm-0123456789ab/root');
    const { spec, links } = planJail({ ...SPEC, initrdPath: '/img/initrd' }, paths);
    assert.equal(spec.kernelPath, '/vmlinux');
    assert.equal(spec.initrdPath, '/initrd');
    assert.deepEqual(spec.drives.map((d) => d.path), ['/drive-root', '/drive-swap']);
    assert.deepEqual(links.map((l) => l.chown), [false, false, true, true]);
    assert.ok(links.every((l) => l.to.startsWith(`${paths.chrootDir}/`)));
    const direct = runPaths('/run/fcm', SPEC.vmId, FC, null);
    assert.deepEqual(planJail(SPEC, direct), { spec: SPEC, links: [] });
  });

  test('cmdline role: tells Firecracker, the holder and strangers apart', () => {
    const paths = runPaths('/run/fcm', SPEC.vmId, FC, null);
    const launch = planLaunchArgv(SPEC.vmId, FC, null, paths);
    const nul = (a: string[]) => `${a.join('\0')}\0`;
    assert.equal(cmdlineRole(nul(launch), SPEC.vmId), 'firecracker');
    assert.equal(cmdlineRole(nul(['node', '/x/console-holder.js', ...planHolderArgs(paths, launch)]), SPEC.vmId), 'holder');
    assert.equal(cmdlineRole(nul(launch), 'vm_ffffffffffff'), null);
    assert.equal(cmdlineRole(nul(['firecracker', '--id', 'fcm-vm-0123456789abc']), SPEC.vmId), null);
    assert.equal(cmdlineRole('', SPEC.vmId), null);
    const jailed = runPaths('/run/fcm', SPEC.vmId, FC, JAILER);
    assert.equal(cmdlineRole(nul(planLaunchArgv(SPEC.vmId, FC, JAILER, jailed)), SPEC.vmId), 'firecracker');
  });
});
