import { join } from 'node:path';
import type { Accel } from '../../core/model.js';
import type { MachineSpec } from '../../core/ports.js';

export interface QemuRunPaths {
  runDir: string;
  pidfile: string;
  qmpSocket: string;
  consoleSocket: string;
  consoleLog: string;
}

export function runPaths(runRoot: string, vmId: string): QemuRunPaths {
  const runDir = join(runRoot, vmId);
  return {
    runDir,
    pidfile: join(runDir, 'qemu.pid'),
    qmpSocket: join(runDir, 'qmp.sock'),
    consoleSocket: join(runDir, 'console.sock'),
    consoleLog: join(runDir, 'console.log'),
  };
}

/**
 * QEMU `-M microvm` argv for a MachineSpec (pure; golden-file tested).
 * - acpi=on: Debian kernels lack VIRTIO_MMIO_CMDLINE_DEVICES, so the
 *   virtio-mmio devices are described to the guest through ACPI. rtc=on:
 *   without it the guest clock starts in 1970 (TLS breaks). Drive order on
 *   the command line is the guest's device order: vda root, vdb seed, vdc swap.
 * - virtio-rng: without it the guest CRNG needs ~6 s to seed under TCG.
 * - i8042: gives the guest a keyboard controller so QMP `send-key
 *   ctrl-alt-delete` reaches init as SIGINT — the same graceful-stop path
 *   Firecracker's SendCtrlAltDel uses.
 * - TCG: tb-size=64 keeps the translation cache small (~120 MiB less RSS per guest).
 * - The serial console is a Unix socket server that outlives client
 *   disconnects; `logfile` keeps what it printed for scrollback. Keep
 *   `logappend=on`: it opens the log O_APPEND, which lets the daemon trim it
 *   in place to FCM_CONSOLE_LOG_MIB while QEMU writes (console-log-cap.ts).
 * - -no-reboot: a guest reboot/poweroff ends the process, so "stopped"
 *   always means "no process".
 * - `-name` carries the VM id so a pid can be verified before it is signalled.
 */
export function planQemuArgv(spec: MachineSpec, accel: Accel, paths: QemuRunPaths): string[] {
  const argv = [
    '-name', `fcm-${spec.vmId},process=fcm-${spec.vmId}`,
    '-M', 'microvm,acpi=on,rtc=on,isa-serial=on,pit=off,pic=off',
    ...(accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg,tb-size=64', '-cpu', 'max']),
    '-smp', String(spec.vcpus),
    '-m', `${spec.memoryMib}M`,
    '-nodefaults', '-no-user-config', '-nographic', '-no-reboot',
    '-kernel', spec.kernelPath,
    ...(spec.initrdPath ? ['-initrd', spec.initrdPath] : []),
    '-append', spec.cmdline,
  ];
  for (const d of spec.drives) {
    argv.push(
      '-drive', `id=${d.id},file=${d.path},format=${d.format},if=none,cache=none,aio=threads,discard=unmap${d.readOnly ? ',readonly=on' : ''}`,
      '-device', `virtio-blk-device,drive=${d.id}`,
    );
  }
  argv.push(
    // Templates get a NIC on an empty hub: same device as every VM, but no way in or out.
    '-netdev', spec.net.tap ? `tap,id=net0,ifname=${spec.net.tap},script=no,downscript=no` : 'hubport,id=net0,hubid=0',
    '-device', `virtio-net-device,netdev=net0,mac=${spec.net.mac}`,
    '-device', 'i8042',
    '-object', 'rng-random,id=rng0,filename=/dev/urandom',
    '-device', 'virtio-rng-device,rng=rng0',
    '-chardev', `socket,id=con0,path=${paths.consoleSocket},server=on,wait=off,logfile=${paths.consoleLog},logappend=on`,
    '-serial', 'chardev:con0',
    '-qmp', `unix:${paths.qmpSocket},server=on,wait=off`,
    '-pidfile', paths.pidfile,
    '-daemonize',
  );
  return argv;
}

/**
 * Restoring: the same machine, started paused (-S) and fed the saved state.
 * QEMU runs `exec:` migration URIs through /bin/sh, so the path is checked
 * against a strict pattern (it is ours, under the state dir, never user input).
 */
export function planRestoreArgv(spec: MachineSpec, accel: Accel, paths: QemuRunPaths, statePath: string): string[] {
  if (!/^\/[A-Za-z0-9/_.-]+$/.test(statePath)) throw new Error(`unsafe state path ${statePath}`);
  return [...planQemuArgv(spec, accel, paths), '-S', '-incoming', `exec:cat ${statePath}`];
}
