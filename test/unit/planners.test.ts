import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planCmdline } from '../../daemon/core/planners/kernel-cmdline.js';
import { intToIp, ipToInt, macForVm, parseSubnet, planNetwork, tapForVm } from '../../daemon/core/planners/network-plan.js';
import { vmUrl } from '../../daemon/core/planners/url.js';
import { planRuleset, planTapRules } from '../../daemon/drivers/linux-network.js';
import { planQemuArgv, runPaths } from '../../daemon/drivers/qemu/qemu-argv.js';
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
