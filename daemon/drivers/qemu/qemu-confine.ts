import { dirname, isAbsolute, normalize, posix } from 'node:path';
export { planCgroupLimits, type CgroupController, type CgroupLimit, type CgroupVersion } from '../../core/planners/vmm-limits.js';

/**
 * Pure planning of how a QEMU process is confined (golden-file tested):
 *
 * - **Its own user.** Every VM's QEMU runs as a uid/gid of its own (no
 *   supplementary groups, no capabilities, no_new_privs). Shared by all
 *   VMs, one compromised QEMU could signal or ptrace every other QEMU
 *   (same uid ⇒ same owner: their guest memory, their open disks and
 *   sockets); with a uid each, the kernel's ordinary permission checks keep
 *   them apart even if the mount view below were escaped.
 * - **Its own mount view** (bubblewrap: a private mount namespace on an
 *   empty read-only tmpfs root): /usr read-only (the binary, its libraries,
 *   firmware), a minimal /dev (null, zero, urandom…), its own device nodes
 *   for /dev/net/tun (and /dev/kvm), its drives (writable ones read-write,
 *   the seed, the template's and the image's backing files read-only), the
 *   kernel and initrd read-only, and its run dir. Each file appears at the
 *   same absolute path as on the host, so qcow2 backing paths and the argv
 *   need no rewriting. No /sys, /etc, state dir or other VM; of /proc only
 *   its own fd directory, and only when it inherits a template's RAM.
 * - **Its own cgroup** per controller: cgroup.procs files the launcher joins
 *   before exec (so every byte QEMU allocates is charged to the VM).
 * - **QEMU's seccomp filter** (qemu-argv.ts QEMU_SECCOMP).
 *
 * The launcher is argv only: `/bin/sh -c <constant script>` writes its own
 * pid into each cgroup.procs and execs bwrap, which builds the mount view
 * and execs setpriv inside it, which drops to the VM's uid and execs QEMU.
 * bwrap stays as QEMU's parent (it waits for it; root, holding nothing of
 * the VM); QEMU is never root at any point.
 */

export interface SystemDir {
  /** Absolute path on the host (/bin, /lib, /lib64…). */
  path: string;
  /** Target when it is a symlink on the host (merged /usr: `usr/lib`), else null (bound read-only). */
  symlink: string | null;
}

export interface SandboxPlan {
  uid: number;
  gid: number;
  bwrap: string;
  /** setpriv inside the sandbox (under /usr). */
  setpriv: string;
  /** How the system directories outside /usr look on the host. */
  system: SystemDir[];
  /** Read-only files: kernel, initrd, backing files, read-only drives (and the QEMU binary when outside /usr). */
  readOnly: string[];
  /** Read-write files: the writable drives. */
  readWrite: string[];
  /** The VM's run dir (pidfile, console log, QEMU's socket dir). */
  runDir: string;
  /** Device nodes made for this VM, bound into /dev. */
  devices: { from: string; to: string }[];
  /**
   * Its own fd directory at /proc/self/fd (read-only; nothing else of /proc):
   * how QEMU opens an inherited fd by path (a template's RAM image, qemu-argv.ts TEMPLATE_RAM_FD).
   */
  ownFds?: boolean;
}

/** Joins the cgroups named before `--`, then execs the rest (a constant script: paths come as arguments). */
export const JOIN_CGROUPS_SCRIPT = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';

const SAFE_PATH = /^\/[A-Za-z0-9/_.+@:-]*$/;

function checkPath(p: string, what: string): string {
  // Paths come from planners and config, never from users; still refuse anything bwrap or QEMU could misread.
  if (!isAbsolute(p) || normalize(p) !== p || !SAFE_PATH.test(p)) throw new Error(`unsafe ${what} path ${JSON.stringify(p)}`);
  return p;
}

/** Every directory above `p` (not `/`), outermost first. */
function ancestors(p: string): string[] {
  const out: string[] = [];
  for (let d = dirname(p); d !== '/'; d = dirname(d)) out.unshift(d);
  return out;
}

/**
 * bwrap argv for `plan`, running `qemuArgv` (QEMU's binary name first) as
 * the VM's uid. Directories above each bound file are created 0755 in the
 * sandbox (bwrap would make them 0700, which the VM's uid cannot enter).
 */
export function planSandboxArgv(plan: SandboxPlan, qemuArgv: readonly string[]): string[] {
  if (!Number.isInteger(plan.uid) || plan.uid <= 0 || !Number.isInteger(plan.gid) || plan.gid <= 0) throw new Error(`refusing to run QEMU as uid ${plan.uid} gid ${plan.gid}`);
  const ro = [...new Set(plan.readOnly.map((p) => checkPath(p, 'read-only')))];
  const rw = [...new Set(plan.readWrite.map((p) => checkPath(p, 'read-write')))];
  const run = checkPath(plan.runDir, 'run dir');
  for (const p of rw) if (ro.includes(p)) throw new Error(`${p} is both read-only and read-write`);
  const underUsr = (p: string) => p === '/usr' || p.startsWith('/usr/');
  const bound = [...ro, ...rw, run].filter((p) => !underUsr(p));
  for (const p of bound) {
    if (p === '/' || plan.system.some((s) => p === s.path || p.startsWith(`${s.path}/`))) throw new Error(`cannot bind ${p} over a system directory`);
  }
  const dirs = [...new Set(bound.flatMap(ancestors))].filter((d) => !plan.system.some((s) => s.path === d)).sort();
  const argv = [
    plan.bwrap,
    '--new-session',
    '--unshare-ipc',
    '--unshare-uts',
    '--ro-bind', '/usr', '/usr',
  ];
  for (const s of plan.system) {
    checkPath(s.path, 'system');
    if (s.symlink !== null) argv.push('--symlink', s.symlink, s.path);
    else argv.push('--ro-bind', s.path, s.path);
  }
  argv.push('--dev', '/dev');
  for (const d of [...new Set(plan.devices.map((x) => posix.dirname(x.to)))].filter((d) => d !== '/dev').sort()) argv.push('--dir', d);
  for (const d of plan.devices) argv.push('--dev-bind', checkPath(d.from, 'device'), checkPath(d.to, 'device'));
  // Bound while bwrap's child (which becomes QEMU: no fork in between) sets up, so "self" is QEMU itself.
  if (plan.ownFds) argv.push('--dir', '/proc', '--dir', '/proc/self', '--ro-bind', '/proc/self/fd', '/proc/self/fd');
  for (const d of dirs) argv.push('--dir', d);
  for (const p of ro.filter((x) => !underUsr(x))) argv.push('--ro-bind', p, p);
  for (const p of rw) argv.push('--bind', p, p);
  argv.push('--bind', run, run);
  argv.push(
    '--remount-ro', '/',
    '--chdir', '/',
    '--',
    plan.setpriv,
    '--reuid', String(plan.uid),
    '--regid', String(plan.gid),
    '--clear-groups',
    '--inh-caps', '-all',
    '--bounding-set', '-all',
    '--nnp',
    '--',
    ...qemuArgv,
  );
  return argv;
}

/**
 * prctl(2)'s syscall number per host architecture (Linux's own tables: x86_64
 * has its own, arm64 uses the generic one), for planProcessFlags.
 */
export const PRCTL_SYSCALL: Readonly<Partial<Record<NodeJS.Architecture, number>>> = { x64: 157, arm64: 167 };

/** What a QEMU's launcher sets on itself before it execs the launch (each flag is inherited across fork and kept across execve). */
export interface ProcessFlags {
  /**
   * prctl(PR_SET_THP_DISABLE, 1): no transparent huge pages (FCM_QEMU_THP=false).
   * QEMU madvises its TCG translation cache (and its small RAM blocks: ROMs,
   * ACPI tables) MADV_HUGEPAGE, so with THP in `madvise` mode (Debian's default)
   * each 2 MiB of them the guest touches at all becomes resident whole: an idle
   * clone held a 2 MiB huge page for a block it uses kilobytes of, and its cache
   * in 2 MiB steps (test/bench/density.bench.ts: "other anonymous" 6.7 → 4.8 MiB
   * per VM). Guest RAM is a private mapping of the template's memfd (or plain
   * anonymous memory sized by the guest), unaffected either way.
   */
  noHugePages: boolean;
  /**
   * prctl(PR_SET_MEMORY_MERGE, 1) (Linux ≥ 6.4; needs CAP_SYS_RESOURCE, so it
   * is set by the root launcher before setpriv drops everything): every
   * anonymous and private mapping of the process is KSM-mergeable — TCG's
   * translation cache, malloc's heaps, the copy-on-write pages of guest RAM
   * (FCM_KSM; ksmd itself is turned on by the daemon, ksm-host.ts).
   */
  memoryMerge: boolean;
}

/** One prctl(option, 1) per flag that is on; `0 +` because perl's syscall passes strings as pointers. */
const PRCTL_STEPS: readonly [keyof ProcessFlags, number, string][] = [
  ['noHugePages', 41, 'PR_SET_THP_DISABLE'],
  ['memoryMerge', 67, 'PR_SET_MEMORY_MERGE'],
];

/**
 * The process flags, then exec argv. Perl (perl-base is Essential in
 * Debian, so every host has it, and it starts in ~10 ms — Python's ctypes
 * takes ~150 ms here) because neither Node nor the shell can call prctl.
 * The flags are inherited across fork and kept across execve, so the shell,
 * bwrap, setpriv and QEMU all run with them. A flag that cannot be set
 * stops the launch (an old kernel without PR_SET_MEMORY_MERGE says EINVAL):
 * QEMU never starts quietly without what the configuration asked for. The
 * script is built from the constant table above only; the launch's argv
 * follows it as perl's @ARGV.
 */
export function planProcessFlags(launch: { cmd: string; args: string[] }, prctlSyscall: number, flags: ProcessFlags): { cmd: string; args: string[] } {
  if (!Number.isInteger(prctlSyscall) || prctlSyscall <= 0) throw new Error(`unusable prctl syscall number ${prctlSyscall}`);
  const steps = PRCTL_STEPS.filter(([k]) => flags[k]);
  if (steps.length === 0) return launch;
  const script = [
    'my $nr = 0 + shift;',
    ...steps.map(([, option, name]) => `syscall($nr, ${option}, 1, 0, 0, 0) == 0 or die "fcm-vmm-launch: prctl(${name}): $!\\n";`),
    'exec { $ARGV[0] } @ARGV or die "fcm-vmm-launch: exec $ARGV[0]: $!\\n"',
  ].join(' ');
  return { cmd: '/usr/bin/perl', args: ['-e', script, String(prctlSyscall), launch.cmd, ...launch.args] };
}

/** glibc malloc tuning for QEMU (0 = glibc's own default). */
export interface VmmMalloc {
  /** MALLOC_ARENA_MAX: how many malloc arenas QEMU's threads (vCPU, I/O, RCU, worker pool) may spread over. */
  arenaMax: number;
}

/**
 * QEMU's environment: the launcher's (PATH only — nothing of the daemon's,
 * which may hold secrets) plus the malloc tuning that is set. Passed through
 * bwrap and setpriv unchanged (neither clears it).
 */
export function planVmmEnv(base: Readonly<Record<string, string>>, malloc: VmmMalloc): Record<string, string> {
  const env: Record<string, string> = { ...base };
  if (!Number.isSafeInteger(malloc.arenaMax) || malloc.arenaMax < 0) throw new Error(`unusable MALLOC_ARENA_MAX ${malloc.arenaMax}`);
  if (malloc.arenaMax > 0) env.MALLOC_ARENA_MAX = String(malloc.arenaMax);
  return env;
}

/** The whole launch: join the VM's cgroups (if any), then the sandbox. */
export function planLaunch(sandboxArgv: readonly string[], cgroupProcs: readonly string[]): { cmd: string; args: string[] } {
  if (cgroupProcs.length === 0) return { cmd: sandboxArgv[0]!, args: sandboxArgv.slice(1) };
  for (const p of cgroupProcs) checkPath(p, 'cgroup.procs');
  return { cmd: '/bin/sh', args: ['-c', JOIN_CGROUPS_SCRIPT, 'fcm-vmm-launch', ...cgroupProcs, '--', ...sandboxArgv] };
}

const QCOW2_MAGIC = 0x514649fb;

/**
 * Where a qcow2 header keeps its backing file name, or null (no backing
 * file, or not qcow2). Names over 1023 bytes are refused, as QEMU does. The
 * header is written by QEMU, so the caller treats the name as untrusted
 * (qemu-hypervisor.ts binds a backing file only if it lies under the image
 * or template directories).
 */
export function qcow2BackingRef(header: Buffer): { offset: number; size: number } | null {
  if (header.length < 20 || header.readUInt32BE(0) !== QCOW2_MAGIC) return null;
  const offset = Number(header.readBigUInt64BE(8));
  const size = header.readUInt32BE(16);
  if (offset === 0 || size === 0) return null;
  if (size > 1023 || !Number.isSafeInteger(offset)) throw new Error(`qcow2 backing file name of ${size} bytes at ${offset}`);
  return { offset, size };
}
