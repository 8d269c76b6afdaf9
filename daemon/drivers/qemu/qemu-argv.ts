import { join } from 'node:path';
import type { Accel } from '../../core/model.js';
import type { MachineSpec } from '../../core/ports/hypervisor.js';

/**
 * The run dir is the daemon's (root, 0711): QEMU can write into the file
 * made for it (the console log) but cannot add, replace or remove entries,
 * so a path the daemon reads or connects to there is never a symlink or
 * FIFO a compromised QEMU planted. QEMU binds its sockets and writes its
 * pidfile in `sock/` (its own dir); once it is up the daemon hard-links the
 * sockets into the run dir (link() does not follow symlinks, and a socket
 * inode in `sock/` can only be one QEMU itself bound) and writes the run
 * dir's pidfile — so `qemu.pid` exists only once a start has completed.
 */
export interface QemuRunPaths {
  runDir: string;
  /** Written by the daemon once QEMU is up (QEMU writes its own into sock/). */
  pidfile: string;
  /** The MachineSpec QEMU was launched with (JSON, the daemon's): a restore of its saved state needs the same machine. */
  machineFile: string;
  /** The daemon's links to QEMU's sockets. */
  qmpSocket: string;
  consoleSocket: string;
  consoleLog: string;
  /** QEMU's own directory: the sockets it binds, the migration socket the daemon offers it. */
  sockDir: string;
  vmmQmpSocket: string;
  vmmConsoleSocket: string;
  vmmPidfile: string;
  migrateSocket: string;
  /** Device nodes made for this VM's QEMU (its uid owns them), bound at /dev/net/tun and /dev/kvm. */
  tunNode: string;
  kvmNode: string;
}

export function runPaths(runRoot: string, vmId: string): QemuRunPaths {
  const runDir = join(runRoot, vmId);
  const sockDir = join(runDir, 'sock');
  return {
    runDir,
    pidfile: join(runDir, 'qemu.pid'),
    machineFile: join(runDir, 'machine.json'),
    qmpSocket: join(runDir, 'qmp.sock'),
    consoleSocket: join(runDir, 'console.sock'),
    consoleLog: join(runDir, 'console.log'),
    sockDir,
    vmmQmpSocket: join(sockDir, 'qmp.sock'),
    vmmConsoleSocket: join(sockDir, 'console.sock'),
    vmmPidfile: join(sockDir, 'qemu.pid'),
    migrateSocket: join(sockDir, 'migrate.sock'),
    tunNode: join(runDir, 'dev-net-tun'),
    kvmNode: join(runDir, 'dev-kvm'),
  };
}

/**
 * QEMU's own seccomp filter (libseccomp), as strict as a machine that
 * keeps working allows: obsolete syscalls, set*uid/setsid, fork/exec and
 * scheduler/priority changes all kill the process. This is only possible
 * because QEMU neither daemonizes (setsid + fork after the filter is on:
 * the launcher detaches it instead) nor migrates through `exec:` (a shell):
 * state is saved to a Unix socket the daemon listens on and restored from
 * an inherited fd.
 */
export const QEMU_SECCOMP = 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny';

/** The fd a restored machine reads its saved state from (the launcher passes the open state file there). */
export const INCOMING_STATE_FD = 3;

/**
 * The fd a machine restored from a template's RAM image gets it on: a
 * sealed memfd (template-ram.ts) the daemon holds. QEMU 7.2 opens a
 * memory-backend-file path O_RDWR even for a private mapping, which a
 * read-only template file would refuse; the memfd can be opened so, yet
 * its seals (write, shrink, grow) make it immutable for everyone. QEMU
 * reaches it through its own fd directory, the only part of /proc bound
 * into its sandbox.
 */
export const TEMPLATE_RAM_FD = 4;
export const TEMPLATE_RAM_PATH = `/proc/self/fd/${TEMPLATE_RAM_FD}`;

/**
 * TCG's translation cache per VM, MiB (FCM_QEMU_TB_MIB). Every page of it a
 * guest has filled stays resident for the life of the QEMU (a full cache is
 * flushed and refilled in place, never given back), so it is the largest
 * part of an idle VM's own host memory: 20 idle clones had each written
 * 40 MiB of a 64 MiB cache (test/bench/density.bench.ts). It cannot go
 * lower for everyone: at 16 MiB a bare kernel + init boot was no slower
 * (30/37 s vs 35/31 s at 64, side by side under load 19), but the template's
 * services (the Python and Node pre-started processes) did not come up in
 * time and cold boots of apps failed — heavy guest code thrashes a small
 * cache. A host that runs only light idle apps may set it lower.
 */
export const DEFAULT_TCG_TB_MIB = 64;

/**
 * The translation cache of a machine restored from a saved state
 * (FCM_QEMU_RESTORE_TB_MIB): a template's clone, a woken VM, a fork. A
 * restore starts with an empty cache and the guest's first seconds after it
 * (the agent taking its identity, network, pre-started services answering)
 * write ~21 MiB of code into it (39 MiB before the guest stopped doing
 * avoidable work after a restore: rootfs/README.md, #20), after which an idle
 * guest adds almost nothing (x-query-jit: 36.3 → 36.5 MiB over another
 * minute, then) — so the cache size bounds what a busy clone keeps, and an
 * idle one keeps what it wrote. Measured when idle clones wrote 39 MiB:
 * 32 MiB: the burst overflowed it once, and
 * real work in a clone (two `python3 -m venv`, a buildpack's first step) took
 * 110 s vs 102 s at 64 (22 flushes vs 4, load 6–11); at 24 122 s (69
 * flushes); at 16 it thrashed: 221 s (445 flushes), and idle clones
 * flushed 16–21 times in their first 15 s. And a warm-pool create pays for
 * it: a pooled machine's cache is warmed for its claim (the claim's code run
 * once before it is paused), and at 32 that warm code is flushed — the create
 * bench, quiet, same evening: warm pool 643–669 ms median at 32 against
 * 278 ms at 64 (the guest's identity step 124 vs 40 ms). So the default stays
 * 64: the create goal (≤ 400 ms) over ~20 MiB per idle VM; a host that packs
 * many idle VMs and creates few may set 32 (or 24). The template's own boot
 * keeps FCM_QEMU_TB_MIB.
 */
export const DEFAULT_TCG_RESTORE_TB_MIB = 64;

/** The id of the guest RAM block when a MachineSpec names its memory: the same in every kind, so saved states move between them. */
const RAM_ID = 'ram0';

function memoryArgv(spec: MachineSpec): { machine: string; object: string[] } {
  const m = spec.memory;
  if (!m) return { machine: '', object: [] };
  if ('path' in m && !/^\/[^,]*$/.test(m.path)) throw new Error(`unusable guest RAM path ${JSON.stringify(m.path)}`);
  const size = `size=${spec.memoryMib}M`;
  const object =
    m.kind === 'file' ? `memory-backend-file,id=${RAM_ID},${size},mem-path=${m.path},share=on`
    : m.kind === 'template' ? `memory-backend-file,id=${RAM_ID},${size},mem-path=${TEMPLATE_RAM_PATH},share=off`
    : `memory-backend-ram,id=${RAM_ID},${size}`;
  return { machine: `,memory-backend=${RAM_ID}`, object: ['-object', object] };
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
 * - TCG: tb-size=`tbMib` bounds the translation cache (DEFAULT_TCG_TB_MIB).
 * - mem-merge: QEMU marks guest RAM KSM-mergeable by default (MADV_MERGEABLE),
 *   so any ksmd on the host would merge one tenant's pages with another's;
 *   only FCM_KSM turns it on (with PR_SET_MEMORY_MERGE for the rest of QEMU's
 *   memory, planProcessFlags). Not part of the saved state: a machine can be
 *   restored with either.
 * - The serial console is a Unix socket server that outlives client
 *   disconnects; `logfile` keeps what it printed for scrollback. Keep
 *   `logappend=on`: it opens the log O_APPEND, which lets the daemon trim it
 *   in place to FCM_CONSOLE_LOG_MIB while QEMU writes (console-log-cap.ts).
 * - -no-reboot: a guest reboot/poweroff ends the process, so "stopped"
 *   always means "no process".
 * - No -daemonize: it forks and calls setsid() after the seccomp filter is
 *   installed, which `spawn=deny,elevateprivileges=deny` forbid. The driver
 *   starts QEMU detached and waits for its QMP greeting instead.
 * - `-name` carries the VM id so a pid can be verified before it is signalled.
 */
export function planQemuArgv(spec: MachineSpec, accel: Accel, paths: QemuRunPaths, sandbox = true, tbMib = DEFAULT_TCG_TB_MIB, memMerge = false): string[] {
  return machineArgv(spec, accel, paths, sandbox, tbMib, true, memMerge);
}

function machineArgv(spec: MachineSpec, accel: Accel, paths: QemuRunPaths, sandbox: boolean, tbMib: number, boot: boolean, memMerge: boolean): string[] {
  if (!Number.isInteger(tbMib) || tbMib < 1) throw new Error(`unusable TCG translation cache size ${tbMib}`);
  const mem = memoryArgv(spec);
  const argv = [
    '-name', `fcm-${spec.vmId},process=fcm-${spec.vmId}`,
    '-M', `microvm,acpi=on,rtc=on,isa-serial=on,pit=off,pic=off,mem-merge=${memMerge ? 'on' : 'off'}${mem.machine}`,
    ...(accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', `tcg,tb-size=${tbMib}`, '-cpu', 'max']),
    '-smp', String(spec.vcpus),
    '-m', `${spec.memoryMib}M`,
    ...mem.object,
    '-nodefaults', '-no-user-config', '-nographic', '-no-reboot',
    ...(boot ? ['-kernel', spec.kernelPath, ...(spec.initrdPath ? ['-initrd', spec.initrdPath] : []), '-append', spec.cmdline] : []),
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
    '-chardev', `socket,id=con0,path=${paths.vmmConsoleSocket},server=on,wait=off,logfile=${paths.consoleLog},logappend=on`,
    '-serial', 'chardev:con0',
    '-qmp', `unix:${paths.vmmQmpSocket},server=on,wait=off`,
    '-pidfile', paths.vmmPidfile,
  );
  if (sandbox) argv.push('-sandbox', QEMU_SECCOMP);
  return argv;
}

/**
 * Restoring: the same machine, started paused (-S) and fed the saved state
 * from an fd the launcher opened (no `exec:` shell, and QEMU never needs to
 * see the template's state file). Without the boot images: the guest's RAM
 * already holds its kernel, and QEMU would keep its own copy of the kernel
 * (14 MiB, read into the heap for fw_cfg) for the life of the process, in
 * every clone; nothing reads it again (a guest reboot ends the process,
 * -no-reboot). The machine's devices and RAM blocks are the same either way,
 * so states load both ways; its translation cache is
 * DEFAULT_TCG_RESTORE_TB_MIB unless configured. A machine with named memory waits
 * (`defer`) until the driver has set the migration capabilities its state
 * was saved with (planMigrationCaps), then reads fd 3.
 */
export function planRestoreArgv(spec: MachineSpec, accel: Accel, paths: QemuRunPaths, sandbox = true, tbMib = DEFAULT_TCG_RESTORE_TB_MIB, memMerge = false): string[] {
  return [...machineArgv(spec, accel, paths, sandbox, tbMib, false, memMerge), '-S', '-incoming', spec.memory ? 'defer' : `fd:${INCOMING_STATE_FD}`];
}

/**
 * Migration capabilities for saving and restoring `spec` (both ends must
 * agree). x-ignore-shared: RAM in a shared file mapping (a template's) is
 * left out of the state — the file is the RAM image; every other block is
 * still saved whole. Only machines with named memory use it, so states
 * saved before it existed still load.
 */
export function planMigrationCaps(spec: Pick<MachineSpec, 'memory'>): { capability: string; state: boolean }[] {
  return spec.memory ? [{ capability: 'x-ignore-shared', state: true }] : [];
}
