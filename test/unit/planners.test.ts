import type { MachineSpec } from '../../daemon/core/ports/hypervisor.js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planCmdline } from '../../daemon/core/planners/kernel-cmdline.js';
import { bridgeMac, intToIp, ipToInt, macForVm, parseSubnet, planNetwork, tapForVm } from '../../daemon/core/planners/network-plan.js';
import { vmUrl } from '../../daemon/core/planners/url.js';
import { planForkMachine, planMachine } from '../../daemon/core/planners/machine-spec.js';
import { egressBlocked, planRuleset, planTapRules } from '../../daemon/drivers/linux-network.js';
import { planCgroupLimits } from '../../daemon/core/planners/vmm-limits.js';
import { planLaunch, planProcessFlags, planSandboxArgv, planVmmEnv, qcow2BackingRef } from '../../daemon/drivers/qemu/qemu-confine.js';
import { DEFAULT_TCG_RESTORE_TB_MIB, planMigrationCaps, planQemuArgv, planRestoreArgv, runPaths } from '../../daemon/drivers/qemu/qemu-argv.js';
import { planKsm } from '../../daemon/drivers/ksm-host.js';
import { assertGolden } from '../helpers/golden.js';

const subnet = parseSubnet('172.16.0.0/24');
const VM = 'vm_3f9c2a7e1b4d';

test('network plan: IP, gateway, MAC and tap are derived deterministically', () => {
  const plans = [2, 3, 254].map((slot) => planNetwork(VM, slot, subnet));
  assertGolden('network-plan.json', plans);
  assert.equal(plans[0]!.ip, '172.16.0.2');
  assert.equal(plans[0]!.gateway, '172.16.0.1');
  assert.match(plans[0]!.mac, /^02:fc(:[0-9a-f]{2}){4}$/);
  assert.ok(tapForVm(VM).length <= 15, 'tap names must fit IFNAMSIZ');
  assert.notEqual(macForVm(VM), macForVm('vm_3f9c2a7e1b4e'));
});

test('the bridge\'s pinned MAC: locally administered unicast, from the gateway, never a guest\'s', () => {
  assert.equal(bridgeMac('172.16.0.1'), '06:fc:ac:10:00:01');
  assert.equal(bridgeMac('10.9.8.73'), '06:fc:0a:09:08:49');
  const first = parseInt(bridgeMac('172.16.0.1').slice(0, 2), 16);
  assert.equal(first & 1, 0, 'unicast');
  assert.equal(first & 2, 2, 'locally administered');
  assert.doesNotMatch(bridgeMac('172.16.0.1'), /^02:fc/, 'guests are 02:fc');
  assert.throws(() => bridgeMac('172.16.0'), /not an IPv4 address/);
  assert.throws(() => bridgeMac('172.16.0.256'), /not an IPv4 address/);
});

test('network plan: slots outside the subnet are refused', () => {
  assert.throws(() => planNetwork(VM, 1, subnet), /outside/);
  assert.throws(() => planNetwork(VM, 255, subnet), /outside/);
  assert.deepEqual(parseSubnet('10.9.8.77/29'), { network: ipToInt('10.9.8.72'), prefix: 29, gateway: '10.9.8.73', firstSlot: 2, lastSlot: 6 });
  assert.equal(intToIp(ipToInt('255.1.2.3')), '255.1.2.3');
  assert.throws(() => parseSubnet('10.0.0.0/8'), /between/);
  assert.throws(() => parseSubnet('nonsense'), /CIDR|a\.b\.c\.d/);
});

test('kernel cmdline: TCG adds the TSC arguments, KVM does not', () => {
  const base = { vmId: VM, hostname: 'cosmic-nova', ip: '172.16.0.2', prefix: 24, gateway: '172.16.0.1', dns: null, agentPort: 7611 };
  const tcg = planCmdline({ ...base, accel: 'tcg', tscKhz: 2600000 });
  const kvm = planCmdline({ ...base, accel: 'kvm', tscKhz: null, dns: '1.1.1.1' });
  assertGolden('cmdline-tcg.txt', `${tcg}\n`);
  assertGolden('cmdline-kvm.txt', `${kvm}\n`);
  assert.match(tcg, /tsc_early_khz=2600000 tsc=reliable no_timer_check/);
  assert.doesNotMatch(kvm, /tsc_early_khz/);
});

test('kernel cmdline: refuses values that could inject arguments', () => {
  const base = { vmId: VM, hostname: 'ok', ip: '172.16.0.2', prefix: 24, gateway: '172.16.0.1', dns: null, agentPort: 7611, accel: 'kvm' as const, tscKhz: null };
  assert.throws(() => planCmdline({ ...base, hostname: 'a b init=/bin/sh' }), /hostname/);
  assert.throws(() => planCmdline({ ...base, ip: '1.2.3.4 init=/bin/sh' }), /address/);
  assert.throws(() => planCmdline({ ...base, vmId: 'vm_x y' }), /vm id/);
  assert.throws(() => planCmdline({ ...base, accel: 'tcg', tscKhz: null }), /TSC/);
});

test('qemu argv for a MachineSpec (TCG and KVM)', () => {
  const spec = {
    vmId: VM,
    vcpus: 1,
    memoryMib: 1024,
    kernelPath: '/images/abc/vmlinuz',
    initrdPath: '/images/abc/initrd.img',
    cmdline: 'console=ttyS0 fcm.vm=vm_3f9c2a7e1b4d',
    drives: [
      { id: 'root' as const, path: `/var/lib/fcm/disks/${VM}/root.qcow2`, format: 'qcow2' as const, readOnly: false },
      { id: 'seed' as const, path: `/var/lib/fcm/disks/${VM}/seed.raw`, format: 'raw' as const, readOnly: true },
      { id: 'swap' as const, path: `/var/lib/fcm/disks/${VM}/swap.raw`, format: 'raw' as const, readOnly: false },
    ],
    net: { tap: tapForVm(VM), mac: macForVm(VM) },
  };
  const paths = runPaths('/var/lib/fcm/run', VM);
  assertGolden('qemu-argv-tcg.json', planQemuArgv(spec, 'tcg', paths));
  assertGolden('qemu-argv-kvm.json', planQemuArgv(spec, 'kvm', paths));
  const argv = planQemuArgv(spec, 'tcg', paths);
  assert.deepEqual(argv.slice(argv.indexOf('-sandbox'), argv.indexOf('-sandbox') + 2), ['-sandbox', 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny']);
  assert.ok(!argv.includes('-daemonize'), 'no -daemonize: it forks and calls setsid() under the seccomp filter');
  assert.deepEqual(planRestoreArgv(spec, 'tcg', paths).slice(-3), ['-S', '-incoming', 'fd:3'], 'state from an inherited fd, not an exec: shell');
  // A restored machine is the booted one without its boot images (their fw_cfg copy would stay in every clone's heap).
  const restored = planRestoreArgv(spec, 'tcg', paths);
  const booted = planQemuArgv(spec, 'tcg', paths, true, DEFAULT_TCG_RESTORE_TB_MIB);
  assert.deepEqual(restored.slice(0, -3), booted.filter((a, i) => !['-kernel', '-initrd', '-append'].includes(a) && !['-kernel', '-initrd', '-append'].includes(booted[i - 1]!)));
  assert.ok(argv.includes('tcg,tb-size=64'), 'the default translation cache of a booted machine is 64 MiB');
  // A restored machine has its own setting; by default the same size (qemu-argv.ts has the trade-off measured).
  assert.equal(DEFAULT_TCG_RESTORE_TB_MIB, 64);
  assert.ok(restored.includes(`tcg,tb-size=${DEFAULT_TCG_RESTORE_TB_MIB}`), 'a restore gets the restore cache size by default');
  assert.ok(planQemuArgv(spec, 'tcg', paths, true, 48).includes('tcg,tb-size=48') && planRestoreArgv(spec, 'tcg', paths, true, 24).includes('tcg,tb-size=24'), 'FCM_QEMU_TB_MIB and FCM_QEMU_RESTORE_TB_MIB reach their own');
  assert.throws(() => planRestoreArgv(spec, 'tcg', paths, true, 0), /translation cache/);
  assert.throws(() => planQemuArgv(spec, 'tcg', paths, true, 0), /translation cache/);
  assert.ok(!planQemuArgv(spec, 'tcg', paths, false).includes('-sandbox'), 'unconfined: no sandbox');
  // KSM: off unless FCM_KSM (guest RAM is not marked mergeable behind the operator's back), on for both kinds of start with it.
  const machine = (a: string[]) => a[a.indexOf('-M') + 1]!;
  assert.match(machine(argv), /,mem-merge=off(,|$)/);
  assert.match(machine(planRestoreArgv(spec, 'tcg', paths)), /,mem-merge=off(,|$)/);
  assert.match(machine(planQemuArgv(spec, 'tcg', paths, true, 64, true)), /,mem-merge=on(,|$)/);
  assert.match(machine(planRestoreArgv(spec, 'tcg', paths, true, 64, true)), /,mem-merge=on(,|$)/);
  assert.deepEqual(planMigrationCaps(spec as MachineSpec), [], 'machines without named memory save and restore as they always did');
});

test('QEMU argv with named guest RAM: a template on its image file, a clone copy-on-write over the sealed image, a woken clone in anonymous memory', () => {
  const base = { vmId: VM, vcpus: 1, memoryMib: 1024, kernelPath: '/k', initrdPath: null, cmdline: 'x', drives: [], net: { tap: null, mac: macForVm(VM) } };
  const paths = runPaths('/var/lib/fcm/run', VM);
  const mem = (memory: MachineSpec['memory']) => {
    const argv = planQemuArgv({ ...base, memory }, 'tcg', paths);
    return [argv[argv.indexOf('-M') + 1], argv[argv.indexOf('-object') + 1]];
  };
  assert.deepEqual(mem({ kind: 'file', path: '/var/lib/fcm/templates/.k.build/ram.raw' }), [
    'microvm,acpi=on,rtc=on,isa-serial=on,pit=off,pic=off,mem-merge=off,memory-backend=ram0',
    'memory-backend-file,id=ram0,size=1024M,mem-path=/var/lib/fcm/templates/.k.build/ram.raw,share=on',
  ]);
  // The clone never sees the file: it opens the memfd it inherited on fd 4, and maps it private.
  assert.deepEqual(mem({ kind: 'template', path: '/var/lib/fcm/templates/k/ram.raw' }), [
    'microvm,acpi=on,rtc=on,isa-serial=on,pit=off,pic=off,mem-merge=off,memory-backend=ram0',
    'memory-backend-file,id=ram0,size=1024M,mem-path=/proc/self/fd/4,share=off',
  ]);
  assert.deepEqual(mem({ kind: 'private' }), ['microvm,acpi=on,rtc=on,isa-serial=on,pit=off,pic=off,mem-merge=off,memory-backend=ram0', 'memory-backend-ram,id=ram0,size=1024M']);
  // Named memory: the state is read once the driver has set the capabilities it was saved with.
  const restore = planRestoreArgv({ ...base, memory: { kind: 'template', path: '/t/ram.raw' } }, 'tcg', paths);
  assert.deepEqual(restore.slice(-3), ['-S', '-incoming', 'defer']);
  assert.deepEqual(planMigrationCaps({ memory: { kind: 'private' } }), [{ capability: 'x-ignore-shared', state: true }]);
  assert.throws(() => planQemuArgv({ ...base, memory: { kind: 'file', path: '/t/a,share=off/ram.raw' } }, 'tcg', paths), /unusable guest RAM path/);
});

test('host ruleset and per-tap anti-spoofing rules', () => {
  const cfg = { bridge: 'fcm0', gatewayCidr: '172.16.0.1/24', subnetCidr: '172.16.0.0/24' };
  assertGolden('nft-ruleset-nat-off.nft', planRuleset({ ...cfg, nat: false }));
  assertGolden('nft-ruleset-nat-on.nft', planRuleset({ ...cfg, nat: true }));
  assert.doesNotMatch(planRuleset({ ...cfg, nat: false }), /masquerade/);
  assertGolden('nft-tap.nft', planTapRules(planNetwork(VM, 2, subnet)));
});

test('VM URL uses the dashed public IP', () => {
  assert.equal(vmUrl('cosmic-nova', '64.34.93.45', 'sslip.io'), 'https://cosmic-nova.64-34-93-45.sslip.io');
});

test('host ruleset with NAT on, an egress allowlist and a private DNS server', () => {
  const cfg = { bridge: 'fcm0', gatewayCidr: '172.16.0.1/24', subnetCidr: '172.16.0.0/24', nat: true };
  const text = planRuleset({ ...cfg, egressAllow: ['10.20.0.0/16', '192.168.5.7/32'], dns: '10.0.0.2' });
  assertGolden('nft-ruleset-nat-on-allow.nft', text);
  // The allowlist and the resolver come before the block; the block before the accept.
  const at = (re: RegExp) => text.split('\n').findIndex((l) => re.test(l));
  assert.ok(at(/@egress_allow accept/) < at(/@egress_block drop/));
  assert.ok(at(/ip daddr 10\.0\.0\.2 .* th dport 53 accept/) < at(/@egress_block drop/));
  assert.ok(at(/@egress_block drop/) < at(/meta nfproto ipv4 accept/));
  // A public resolver needs no exception; without an allowlist there is no allow set.
  const plain = planRuleset({ ...cfg, dns: '1.1.1.1' });
  assert.doesNotMatch(plain, /dport 53|egress_allow/);
});

test('egress blocklist: every private, special and metadata address is in it; public ones are not', () => {
  for (const ip of ['10.1.2.3', '172.31.255.1', '192.168.0.1', '100.64.0.1', '100.100.100.200', '169.254.169.254', '127.0.0.1', '0.0.0.1', '192.0.0.9', '198.18.0.1', '198.19.255.255', '224.0.0.251', '239.255.255.250', '240.0.0.1', '255.255.255.255']) {
    assert.equal(egressBlocked(ip), true, ip);
  }
  for (const ip of ['1.1.1.1', '8.8.8.8', '172.32.0.1', '172.15.255.255', '100.128.0.1', '192.0.1.1', '198.20.0.1', '203.0.113.2', '223.255.255.255']) {
    assert.equal(egressBlocked(ip), false, ip);
  }
});

test('QEMU in its sandbox: the launch argv (cgroups joined, bwrap mount view, setpriv to the VM uid)', () => {
  const paths = runPaths('/var/lib/fcm/run', VM);
  const disks = `/var/lib/fcm/disks/${VM}`;
  const sandbox = planSandboxArgv(
    {
      uid: 2000000007,
      gid: 2000000007,
      bwrap: 'bwrap',
      setpriv: '/usr/bin/setpriv',
      system: [{ path: '/bin', symlink: 'usr/bin' }, { path: '/lib', symlink: 'usr/lib' }, { path: '/lib64', symlink: 'usr/lib64' }, { path: '/sbin', symlink: 'usr/sbin' }],
      readOnly: ['/images/abc/vmlinuz', '/images/abc/initrd.img', `${disks}/seed.raw`, '/var/lib/fcm/templates/0123456789abcdef01234567/root.qcow2', '/images/abc/rootfs.ext4'],
      readWrite: [`${disks}/root.qcow2`, `${disks}/swap.raw`],
      runDir: paths.runDir,
      devices: [{ from: paths.tunNode, to: '/dev/net/tun' }],
    },
    ['qemu-system-x86_64', '-name', `fcm-${VM},process=fcm-${VM}`],
  );
  const launch = planLaunch(sandbox, [`/sys/fs/cgroup/memory/fcm-vms/${VM}/cgroup.procs`, `/sys/fs/cgroup/pids/fcm-vms/${VM}/cgroup.procs`]);
  assertGolden('qemu-launch-confined.json', launch);
  // QEMU comes last, after setpriv has dropped everything.
  const i = sandbox.indexOf('/usr/bin/setpriv');
  assert.deepEqual(sandbox.slice(i + 1, i + 11), ['--reuid', '2000000007', '--regid', '2000000007', '--clear-groups', '--inh-caps', '-all', '--bounding-set', '-all', '--nnp']);
  assert.ok(sandbox.indexOf('--remount-ro') < i);
  assert.equal(planLaunch(sandbox, []).cmd, 'bwrap', 'no cgroups: no shell in front');
  // Without transparent huge pages: perl sets the flag and execs the whole launch (cgroup shell, bwrap, setpriv, QEMU inherit it).
  const noThp = planProcessFlags(launch, 157, { noHugePages: true, memoryMerge: false });
  assert.equal(noThp.cmd, '/usr/bin/perl');
  assert.deepEqual(noThp.args.slice(2), ['157', launch.cmd, ...launch.args], 'the launch itself, unchanged, as argv');
  assert.throws(() => planProcessFlags(launch, 0, { noHugePages: true, memoryMerge: false }), /prctl/);
  // FCM_KSM: the same launcher also sets PR_SET_MEMORY_MERGE (67), after the THP flag (41); neither: the launch as it is.
  const both = planProcessFlags(launch, 157, { noHugePages: true, memoryMerge: true });
  assertGolden('qemu-launch-flags.json', both);
  assert.deepEqual(both.args.slice(2), ['157', launch.cmd, ...launch.args]);
  assert.match(both.args[1]!, /syscall\(\$nr, 41, 1, 0, 0, 0\).*syscall\(\$nr, 67, 1, 0, 0, 0\).*exec/);
  const mergeOnly = planProcessFlags(launch, 157, { noHugePages: false, memoryMerge: true });
  assert.ok(!mergeOnly.args[1]!.includes(', 41,') && mergeOnly.args[1]!.includes(', 67,'));
  assert.deepEqual(planProcessFlags(launch, 157, { noHugePages: false, memoryMerge: false }), launch);
  assert.throws(() => planSandboxArgv({ ...baseSandbox(), uid: 0 }, ['qemu']), /uid 0/);
  assert.throws(() => planSandboxArgv({ ...baseSandbox(), readWrite: ['/var/lib/fcm/../../etc/shadow'] }, ['qemu']), /unsafe/);
  assert.throws(() => planSandboxArgv({ ...baseSandbox(), readWrite: ['/lib/x'] }, ['qemu']), /system directory/);
  // Of /proc, a clone of a template's RAM sees its own fd directory only, read-only; others see none of it.
  assert.ok(!sandbox.some((a) => a.startsWith('/proc')), 'no /proc at all by default');
  const own = planSandboxArgv({ ...baseSandbox(), ownFds: true }, ['qemu']);
  assert.deepEqual(own.filter((a) => a.startsWith('/proc')), ['/proc', '/proc/self', '/proc/self/fd', '/proc/self/fd']);
  const at = own.indexOf('/proc/self/fd');
  assert.equal(own[at - 1], '--ro-bind');
});

function baseSandbox() {
  return { uid: 5000, gid: 5000, bwrap: 'bwrap', setpriv: '/usr/bin/setpriv', system: [{ path: '/lib', symlink: 'usr/lib' }], readOnly: [], readWrite: [], runDir: '/run/x', devices: [] };
}

test('per-VM cgroup limits, v1 and v2', () => {
  assertGolden('vmm-limits.json', { v1: planCgroupLimits(1, 2, 1024, 320), v2: planCgroupLimits(2, 2, 1024, 320) });
  const v2 = planCgroupLimits(2, 3, 512, 256);
  assert.equal(v2.find((l) => l.file === 'cpu.max')?.value, '300000 100000');
  assert.equal(v2.find((l) => l.file === 'memory.max')?.value, String(768 * 1024 * 1024));
});

test('qcow2 header: the backing file reference, bounded', () => {
  const h = Buffer.alloc(512);
  h.writeUInt32BE(0x514649fb, 0);
  assert.equal(qcow2BackingRef(h), null, 'no backing file');
  h.writeBigUInt64BE(0x200n, 8);
  h.writeUInt32BE(26, 16);
  assert.deepEqual(qcow2BackingRef(h), { offset: 0x200, size: 26 });
  h.writeUInt32BE(4096, 16);
  assert.throws(() => qcow2BackingRef(h), /4096 bytes/);
  assert.equal(qcow2BackingRef(Buffer.from('not a qcow2 image at all...')), null);
});

test('machine spec: drives in guest device order (root, seed, swap), formats as the disks driver made them', () => {
  const d = (id: 'root' | 'seed' | 'swap', format: 'raw' | 'qcow2') => ({ id, path: `/d/${id}`, format, readOnly: id === 'seed' });
  const image = { kernelPath: '/i/vmlinuz', initrdPath: null };
  const m = planMachine({ vmId: VM, vcpus: 2, memoryMib: 512, image, cmdline: 'x', disks: { swap: d('swap', 'raw'), seed: d('seed', 'raw'), root: d('root', 'qcow2') }, net: { tap: 'fcm-3f9c2a7e1b4', mac: '02:fc:00:00:00:01' } });
  assert.deepEqual(m.drives.map((x) => [x.id, x.format, x.readOnly]), [['root', 'qcow2', false], ['seed', 'raw', true], ['swap', 'raw', false]]);
  assert.deepEqual([m.kernelPath, m.initrdPath, m.vcpus, m.memoryMib, m.net.tap], ['/i/vmlinuz', null, 2, 512, 'fcm-3f9c2a7e1b4']);
  const raw = planMachine({ vmId: VM, vcpus: 1, memoryMib: 256, image, cmdline: 'x', disks: { root: d('root', 'raw'), seed: d('seed', 'raw'), swap: null }, net: { tap: null, mac: '02:fc:00:00:00:01' } });
  assert.deepEqual(raw.drives.map((x) => [x.id, x.format]), [['root', 'raw'], ['seed', 'raw']], 'no swap drive without swap; raw root stays raw');
});

test("fork machine: the parent's machine as launched, with the fork's id, disks and NIC (golden)", () => {
  const disk = (vm: string, id: 'root' | 'seed' | 'swap', format: 'raw' | 'qcow2') => ({ id, path: `/disks/${vm}/${id}.${format}`, format, readOnly: id === 'seed' });
  const disks = (vm: string, swap = true) => ({ root: disk(vm, 'root', 'qcow2'), seed: disk(vm, 'seed', 'raw'), swap: swap ? disk(vm, 'swap', 'raw') : null });
  // A pool clone's launched spec: the template's command line, its RAM private once saved.
  const parent = {
    ...planMachine({ vmId: VM, vcpus: 1, memoryMib: 1024, image: { kernelPath: '/i/vmlinuz', initrdPath: '/i/initrd.img' }, cmdline: 'console=ttyS0 fcm.vm=vm_template0000', disks: disks(VM), net: { tap: 'fcm-3f9c2a7e1b4', mac: '02:fc:00:00:00:01' } }),
    memory: { kind: 'private' as const },
  };
  const fork = planForkMachine(parent, { vmId: 'vm_0f0f0f0f0f0f', disks: disks('vm_0f0f0f0f0f0f'), net: { tap: 'fcm-0f0f0f0f0f0', mac: '02:fc:00:00:00:02' } });
  assertGolden('fork-machine.json', fork);
  assert.deepEqual({ ...fork, vmId: parent.vmId, drives: parent.drives, net: parent.net }, parent, 'nothing else differs');
  assert.throws(() => planForkMachine(parent, { vmId: 'vm_0f0f0f0f0f0f', disks: disks('vm_0f0f0f0f0f0f', false), net: { tap: 't', mac: 'm' } }), /no raw swap drive/);
  const noSwap = { ...parent, drives: parent.drives.slice(0, 2) };
  assert.throws(() => planForkMachine(noSwap, { vmId: 'vm_0f0f0f0f0f0f', disks: disks('vm_0f0f0f0f0f0f'), net: { tap: 't', mac: 'm' } }), /drives its parent does not/);
});

test("QEMU's environment: PATH only, plus MALLOC_ARENA_MAX when set (FCM_QEMU_MALLOC_ARENA_MAX)", () => {
  const base = { PATH: '/usr/bin:/bin' };
  assert.deepEqual(planVmmEnv(base, { arenaMax: 0 }), base, "0 = glibc's own default: nothing set");
  assert.deepEqual(planVmmEnv(base, { arenaMax: 2 }), { PATH: '/usr/bin:/bin', MALLOC_ARENA_MAX: '2' });
  assert.throws(() => planVmmEnv(base, { arenaMax: -1 }), /MALLOC_ARENA_MAX/);
  assert.throws(() => planVmmEnv(base, { arenaMax: 1.5 }), /MALLOC_ARENA_MAX/);
});

test('ksmd settings (FCM_KSM): the rate first, run last', () => {
  assertGolden('ksm-plan.json', planKsm({ pagesToScan: 1000, sleepMs: 50 }));
  assert.deepEqual(planKsm({ pagesToScan: 5, sleepMs: 7 }).map(([f]) => f), ['pages_to_scan', 'sleep_millisecs', 'run']);
  assert.throws(() => planKsm({ pagesToScan: 0, sleepMs: 50 }), /pagesToScan/);
  assert.throws(() => planKsm({ pagesToScan: 1000, sleepMs: 1.5 }), /sleepMs/);
});
