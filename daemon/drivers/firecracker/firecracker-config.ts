import { basename, isAbsolute, join } from 'node:path';
import { FcmError } from '../../core/errors.js';
import type { MachineSpec } from '../../core/ports/hypervisor.js';
import { planCgroupLimits, type CgroupVersion } from '../../core/planners/vmm-limits.js';

/**
 * Pure planning for the Firecracker driver (golden-file tested): MachineSpec →
 * the API requests that configure and boot a microVM, the argv that launches
 * it (directly or under the jailer), and where its runtime files live.
 * Request bodies follow the upstream swagger (test/fixtures/firecracker/
 * firecracker-api.yaml); the contract test validates every one against it.
 */

export interface FcRequest {
  method: 'GET' | 'PUT' | 'PATCH';
  path: string;
  body?: Record<string, unknown>;
}

export type FcLogLevel = 'Error' | 'Warning' | 'Info' | 'Debug';

export interface FcBootOptions {
  /** Firecracker's own log file, as the Firecracker process sees it (inside the jail under the jailer); null = not configured. */
  logPath: string | null;
  logLevel: FcLogLevel;
  /** Metrics file (one JSON line per flush, every 60 s), as Firecracker sees it; null = not configured. */
  metricsPath: string | null;
}

export interface FcJailerConfig {
  binary: string;
  /** Who Firecracker runs as; null = one uid (= gid) per VM: the owner its tap was made for. */
  uid: number | null;
  gid: number | null;
  /** Jails live in `<chrootBase>/<firecracker binary name>/<instance id>/root` (jailer layout). */
  chrootBase: string;
  /** The jailer makes the VM's cgroup `<controller root>/<parent>/<id>` with its limits; null = none. */
  cgroups?: { version: CgroupVersion; parent: string; overheadMib: number } | null;
}

/** A jailer config for one start: the uid and gid it will use are known. */
export type FcJail = FcJailerConfig & { uid: number; gid: number };

/** Firecracker's instance-id rule (utils/validators.rs): alphanumerics and hyphens, 1–64 chars. */
const INSTANCE_ID = /^[A-Za-z0-9-]{1,64}$/;

/**
 * Firecracker (and the jailer) reject `_`, which fcm VM ids contain
 * (`vm_<hex>`), so the instance id is `fcm-vm-<hex>`. It is also the marker
 * status() looks for in /proc/<pid>/cmdline before trusting a pid.
 */
export function firecrackerId(vmId: string): string {
  if (!/^vm_[0-9a-f]+$/.test(vmId)) throw new FcmError('hypervisor_failed', `Bad VM id ${JSON.stringify(vmId)}.`);
  const id = `fcm-${vmId.replace(/_/g, '-')}`;
  if (!INSTANCE_ID.test(id)) throw new FcmError('hypervisor_failed', `VM id ${vmId} is too long for a Firecracker instance id.`);
  return id;
}

/** x86 COMMAND_LINE_SIZE; Firecracker appends `root=`, `rw` and one `virtio_mmio.device=` per device itself. */
const MAX_CMDLINE = 2048;
const CMDLINE_RESERVE = 256;

/**
 * The core's cmdline (console=ttyS0 reboot=k panic=-1 root=/dev/vda rw fcm.*)
 * plus the few arguments that only make sense under Firecracker:
 * - `pci=off`: without --enable-pci Firecracker has no PCI bus; the kernel
 *   skips probing config space that isn't there.
 * - `i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd`: Firecracker's i8042
 *   is a bare keyboard controller that exists for SendCtrlAltDel only; these
 *   skip tens of ms of probing at boot (upstream docs/api_requests/actions.md).
 *   The controller itself must stay enabled, or graceful stop stops working.
 * - `reboot=k` / `panic=-1` are added only if the core ever drops them: a
 *   guest reboot must go through the keyboard controller, which Firecracker
 *   turns into a process exit, and a panic must reboot (= exit) at once.
 * Deliberately not added: `8250.nr_uarts` (the one emulated UART is COM1 =
 * ttyS0, the console), `root=`/`rw` and `virtio_mmio.device=` (Firecracker
 * appends those; the guest kernel needs VIRTIO_MMIO_CMDLINE_DEVICES).
 */
export function firecrackerBootArgs(cmdline: string): string {
  const args = cmdline.trim().split(/\s+/).filter(Boolean);
  const has = (key: string) => args.some((a) => a === key || a.startsWith(`${key}=`));
  const extra: string[] = [];
  if (!has('reboot')) extra.push('reboot=k');
  if (!has('panic')) extra.push('panic=-1');
  if (!has('pci')) extra.push('pci=off');
  for (const flag of ['i8042.noaux', 'i8042.nomux', 'i8042.nopnp', 'i8042.dumbkbd']) if (!has(flag)) extra.push(flag);
  const out = [...args, ...extra].join(' ');
  if (out.length > MAX_CMDLINE - CMDLINE_RESERVE) {
    throw new FcmError('hypervisor_failed', `Kernel command line is ${out.length} bytes; Firecracker allows ${MAX_CMDLINE} including what it appends.`);
  }
  return out;
}

/** The first request after the API socket appears: proves it is a Firecracker API answering. */
export const PROBE_REQUEST: FcRequest = { method: 'GET', path: '/' };

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/**
 * The ordered API requests that configure and boot `spec` (pure).
 * Logger and metrics come first so configuration errors of the later
 * requests land in Firecracker's log. Both files must exist beforehand
 * (Firecracker opens, never creates them); the driver truncates them.
 * Drives: the root drive is `is_root_device` (Firecracker makes it vda and
 * adds `root=/dev/vda rw`), swap follows as vdb. Root uses the Writeback
 * cache (guest flushes reach the host disk, like QEMU's cache=none), swap
 * stays Unsafe (its content is worthless after a host crash anyway).
 */
export function planBootRequests(spec: MachineSpec, opts: FcBootOptions): FcRequest[] {
  validateSpec(spec);
  const reqs: FcRequest[] = [];
  if (opts.logPath) {
    reqs.push({ method: 'PUT', path: '/logger', body: { log_path: opts.logPath, level: opts.logLevel, show_level: true, show_log_origin: false } });
  }
  if (opts.metricsPath) reqs.push({ method: 'PUT', path: '/metrics', body: { metrics_path: opts.metricsPath } });
  reqs.push({ method: 'PUT', path: '/machine-config', body: { vcpu_count: spec.vcpus, mem_size_mib: spec.memoryMib, smt: false } });
  reqs.push({
    method: 'PUT',
    path: '/boot-source',
    body: {
      kernel_image_path: spec.kernelPath,
      boot_args: firecrackerBootArgs(spec.cmdline),
      ...(spec.initrdPath ? { initrd_path: spec.initrdPath } : {}),
    },
  });
  for (const d of spec.drives) {
    reqs.push({
      method: 'PUT',
      path: `/drives/${d.id}`,
      body: {
        drive_id: d.id,
        path_on_host: d.path,
        is_root_device: d.id === 'root',
        is_read_only: d.readOnly,
        cache_type: d.id === 'root' ? 'Writeback' : 'Unsafe',
      },
    });
  }
  reqs.push({
    method: 'PUT',
    path: '/network-interfaces/eth0',
    body: { iface_id: 'eth0', host_dev_name: spec.net.tap, guest_mac: spec.net.mac.toLowerCase() },
  });
  reqs.push({ method: 'PUT', path: '/actions', body: { action_type: 'InstanceStart' } });
  return reqs;
}

/**
 * Graceful stop: Ctrl-Alt-Del through the emulated i8042 (x86_64; on aarch64
 * a power-button press). The guest's init shuts down and reboots, which with
 * reboot=k resets the CPU and makes Firecracker exit.
 */
/** Pauses (snapshots need a paused VM) or resumes the guest's vCPUs. */
export function planVmState(state: 'Paused' | 'Resumed'): FcRequest {
  return { method: 'PATCH', path: '/vm', body: { state } };
}

/** Where a snapshot's two files are, as Firecracker sees them (inside the chroot when jailed) and on the host. */
export interface FcSnapshotFiles {
  /** The microVM state (devices, vCPUs). */
  vmstate: { vmm: string; host: string };
  /** Guest memory. */
  memory: { vmm: string; host: string };
}

/**
 * A save's files: the SavedStates path is the vmstate, the memory goes beside it
 * (`<state>.mem`, same directory, so removing the save removes both). Jailed, Firecracker
 * writes and reads them at the chroot's top (`/snapshot.vmstate`, `/snapshot.mem`) and the
 * driver moves them out/links them in.
 */
export function snapshotFiles(paths: FcRunPaths, statePath: string): FcSnapshotFiles {
  if (!paths.chrootDir) return { vmstate: { vmm: statePath, host: statePath }, memory: { vmm: `${statePath}.mem`, host: `${statePath}.mem` } };
  return {
    vmstate: { vmm: '/snapshot.vmstate', host: join(paths.chrootDir, 'snapshot.vmstate') },
    memory: { vmm: '/snapshot.mem', host: join(paths.chrootDir, 'snapshot.mem') },
  };
}

/**
 * A full snapshot of a paused VM. Full, not diff: a sleep's save is restored once and then
 * dropped (the disk moves on), so there is no earlier snapshot a diff could build on; diff
 * snapshots need dirty-page tracking from boot (a cost on every write the guest makes) and
 * pay off only for repeated snapshots of one VM.
 */
export function planSnapshotCreate(files: FcSnapshotFiles): FcRequest {
  return { method: 'PUT', path: '/snapshot/create', body: { snapshot_type: 'Full', snapshot_path: files.vmstate.vmm, mem_file_path: files.memory.vmm } };
}

/**
 * Loads a snapshot into a fresh Firecracker (pre-boot: no boot source, drives or NICs are
 * configured — they come from the snapshot, at the paths they had, which is why the
 * driver keeps a VM's paths stable). The tap is named again (the same VM's tap, but a
 * restore must not depend on that); the guest stays paused until resume(). kvmclock
 * advances by the time asleep (`clock_realtime`), so the guest's clock is right the moment
 * it runs (the daemon also sets it through the agent, as for QEMU).
 */
export function planSnapshotLoad(files: FcSnapshotFiles, tap: string | null): FcRequest {
  return {
    method: 'PUT',
    path: '/snapshot/load',
    body: {
      snapshot_path: files.vmstate.vmm,
      mem_backend: { backend_type: 'File', backend_path: files.memory.vmm },
      resume_vm: false,
      ...(tap ? { network_overrides: [{ iface_id: 'eth0', host_dev_name: tap }] } : {}),
      clock_realtime: true,
    },
  };
}

export function planStopRequest(): FcRequest {
  return { method: 'PUT', path: '/actions', body: { action_type: 'SendCtrlAltDel' } };
}

function validateSpec(spec: MachineSpec): void {
  const bad = (msg: string) => new FcmError('hypervisor_failed', `Firecracker cannot run ${spec.vmId}: ${msg}`);
  // Upstream: vcpu_count 1..32 (any count with smt=false), mem_size_mib an integer.
  if (!Number.isInteger(spec.vcpus) || spec.vcpus < 1 || spec.vcpus > 32) throw bad(`vcpus must be 1..32, got ${spec.vcpus}.`);
  if (!Number.isInteger(spec.memoryMib) || spec.memoryMib < 1) throw bad(`memoryMib must be a positive integer, got ${spec.memoryMib}.`);
  for (const p of [spec.kernelPath, ...(spec.initrdPath ? [spec.initrdPath] : [])]) {
    if (!isAbsolute(p)) throw bad(`${p} is not an absolute path.`);
  }
  const roots = spec.drives.filter((d) => d.id === 'root');
  if (roots.length !== 1) throw bad('exactly one root drive is required.');
  if (new Set(spec.drives.map((d) => d.id)).size !== spec.drives.length) throw bad('drive ids must be unique.');
  for (const d of spec.drives) {
    // Firecracker's virtio-block serves raw files only.
    if (d.format !== 'raw') throw bad(`drive ${d.id} is ${d.format}; Firecracker needs raw disks (configure the disk driver with format=raw).`);
    if (!isAbsolute(d.path)) throw bad(`drive ${d.id} path ${d.path} is not absolute.`);
  }
  if (!MAC.test(spec.net.mac)) throw bad(`bad MAC ${spec.net.mac}.`);
  // IFNAMSIZ: Firecracker rejects longer tap names.
  // Firecracker has no backend-less NIC: every machine it runs needs a tap.
  if (spec.net.tap === null || !/^[A-Za-z0-9_.-]{1,15}$/.test(spec.net.tap)) throw bad(`bad tap name ${spec.net.tap}.`);
}

export interface FcRunPaths {
  /** `<runRoot>/<vmId>` (0700): everything the driver and the console holder own. */
  runDir: string;
  /** The Firecracker process's pid (written by the console holder). */
  pidfile: string;
  /** The console holder's pid (written by the driver). */
  holderPidfile: string;
  /** Unix stream socket the holder serves: raw serial console bytes. */
  consoleSocket: string;
  /** Append-only serial console output. */
  consoleLog: string;
  /** stderr of the holder and of Firecracker (argument errors, panics): what start() reports on failure. */
  stderrLog: string;
  /** The API socket on the host. */
  apiSocket: string;
  /** Firecracker's log and metrics files on the host (inside the jail under the jailer). */
  logFile: string;
  metricsFile: string;
  /** `<chrootBase>/<exec name>/<id>` (removed on stop) and its `root`, or null without the jailer. */
  jailDir: string | null;
  chrootDir: string | null;
  /** The same files as the Firecracker process sees them. */
  vmm: { apiSocket: string; logFile: string; metricsFile: string };
}

export function runPaths(runRoot: string, vmId: string, firecrackerBinary: string, jailer: FcJailerConfig | null): FcRunPaths {
  const runDir = join(runRoot, vmId);
  const common = {
    runDir,
    pidfile: join(runDir, 'firecracker.pid'),
    holderPidfile: join(runDir, 'holder.pid'),
    consoleSocket: join(runDir, 'console.sock'),
    consoleLog: join(runDir, 'console.log'),
    stderrLog: join(runDir, 'stderr.log'),
  };
  if (!jailer) {
    const direct = { apiSocket: join(runDir, 'api.sock'), logFile: join(runDir, 'firecracker.log'), metricsFile: join(runDir, 'metrics.json') };
    return { ...common, ...direct, jailDir: null, chrootDir: null, vmm: direct };
  }
  const jailDir = join(jailer.chrootBase, basename(firecrackerBinary), firecrackerId(vmId));
  const chrootDir = join(jailDir, 'root');
  const inJail = { apiSocket: '/api.sock', logFile: '/firecracker.log', metricsFile: '/metrics.json' };
  return {
    ...common,
    apiSocket: join(chrootDir, 'api.sock'),
    logFile: join(chrootDir, 'firecracker.log'),
    metricsFile: join(chrootDir, 'metrics.json'),
    jailDir,
    chrootDir,
    vmm: inJail,
  };
}

export interface FcLink {
  /** Host file to expose inside the jail. */
  from: string;
  /** Host path inside the chroot (a hard link to `from`). */
  to: string;
  /** Owned by the jailer's uid/gid afterwards (drives: Firecracker must open them read-write). */
  chown: boolean;
}

/**
 * Under the jailer Firecracker sees only its chroot, so the kernel, initrd
 * and drives are hard-linked into it and the spec is rewritten to the paths
 * inside. Hard links (not copies: the drives are the VM's disks; not bind
 * mounts: those outlive a crashed daemon) need the chroot base on the same
 * filesystem as the images and disks. The kernel and initrd are shared by
 * every VM, so they keep their owner (they must be world-readable).
 */
export function planJail(spec: MachineSpec, paths: FcRunPaths): { spec: MachineSpec; links: FcLink[] } {
  if (!paths.chrootDir) return { spec, links: [] };
  const root = paths.chrootDir;
  const links: FcLink[] = [{ from: spec.kernelPath, to: join(root, 'vmlinux'), chown: false }];
  if (spec.initrdPath) links.push({ from: spec.initrdPath, to: join(root, 'initrd'), chown: false });
  const drives = spec.drives.map((d) => {
    links.push({ from: d.path, to: join(root, `drive-${d.id}`), chown: true });
    return { ...d, path: `/drive-${d.id}` };
  });
  return {
    spec: { ...spec, kernelPath: '/vmlinux', initrdPath: spec.initrdPath ? '/initrd' : null, drives },
    links,
  };
}

/** Open files of a jailed Firecracker (the jailer's own default is 2048; a VM needs a few dozen). */
const JAILED_NO_FILE = 1024;

/**
 * The command the console holder runs. Directly: `firecracker --api-sock
 * <run dir>/api.sock --id <id>`. Jailed: the jailer chroots, drops to
 * uid/gid and execs Firecracker in place (same pid, same stdio; no
 * --daemonize, no --new-pid-ns, so the holder keeps its child), passing
 * `--id` itself; the API socket is then relative to the chroot. With
 * cgroups it also makes `<parent>/<id>` per controller, joins it and writes
 * the VM's limits (vmm-limits.ts; optional files are left out: the jailer
 * fails on a file the kernel lacks).
 */
export function planLaunchArgv(
  vmId: string,
  firecrackerBinary: string,
  jailer: FcJail | null,
  paths: FcRunPaths,
  shape: { vcpus: number; memoryMib: number } = { vcpus: 1, memoryMib: 128 },
): string[] {
  const id = firecrackerId(vmId);
  if (!jailer) return [firecrackerBinary, '--api-sock', paths.vmm.apiSocket, '--id', id];
  // The jailer refuses an exec file whose name lacks "firecracker", ids outside [A-Za-z0-9-]{1,64}, and relative paths.
  if (!basename(firecrackerBinary).includes('firecracker') || !isAbsolute(firecrackerBinary)) {
    throw new FcmError('hypervisor_failed', `The jailer needs an absolute Firecracker path whose name contains "firecracker", got ${firecrackerBinary}.`);
  }
  if (!Number.isInteger(jailer.uid) || jailer.uid <= 0 || !Number.isInteger(jailer.gid) || jailer.gid <= 0) {
    throw new FcmError('hypervisor_failed', `Refusing to jail Firecracker as uid ${jailer.uid} gid ${jailer.gid}.`);
  }
  const cg = jailer.cgroups ?? null;
  return [
    jailer.binary,
    '--id', id,
    '--exec-file', firecrackerBinary,
    '--uid', String(jailer.uid),
    '--gid', String(jailer.gid),
    '--chroot-base-dir', jailer.chrootBase,
    ...(cg
      ? [
          '--cgroup-version', String(cg.version),
          '--parent-cgroup', cg.parent,
          ...planCgroupLimits(cg.version, shape.vcpus, shape.memoryMib, cg.overheadMib).filter((l) => !l.optional).flatMap((l) => ['--cgroup', `${l.file}=${l.value}`]),
        ]
      : []),
    '--resource-limit', `no-file=${JAILED_NO_FILE}`,
    '--',
    '--api-sock', paths.vmm.apiSocket,
  ];
}

/** Arguments of the console holder script (see console-holder.ts); it keeps console.log under `consoleLogMaxBytes`. */
export function planHolderArgs(paths: FcRunPaths, launch: string[], consoleLogMaxBytes = 4 * 1024 * 1024): string[] {
  return [
    '--console-socket', paths.consoleSocket,
    '--console-log', paths.consoleLog,
    '--console-log-max', String(consoleLogMaxBytes),
    '--pidfile', paths.pidfile,
    '--', ...launch,
  ];
}

/**
 * Pid-reuse guard: a pid from a pidfile is trusted only if its
 * /proc/<pid>/cmdline (NUL-separated argv) carries `--id <instance id>`.
 * Firecracker (direct or exec'd by the jailer) and the jailer have it; the
 * holder has it too (after `--`) but is told apart by `--console-socket`.
 */
export function cmdlineRole(cmdline: string, vmId: string): 'firecracker' | 'holder' | null {
  const argv = cmdline.split('\0');
  const id = firecrackerId(vmId);
  const at = argv.findIndex((a, i) => a === '--id' && argv[i + 1] === id);
  if (at < 0) return null;
  return argv.includes('--console-socket') ? 'holder' : 'firecracker';
}
