import { constants } from 'node:fs';
import { access, open, stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { run } from '../proc.js';

export interface FirecrackerProbe {
  usable: boolean;
  /** Why not (every problem found, `; `-separated), or what was found. */
  reason: string;
}

/** KVM_GET_API_VERSION = _IO(KVMIO=0xAE, 0x00); every KVM since 2.6.22 answers 12. */
const KVM_GET_API_VERSION = 0xae00;
const KVM_API_VERSION = 12;

/**
 * Can this host run Firecracker? Used by hypervisor auto-selection, so it is
 * fast (two short subprocesses, run in parallel, 3 s cap) and honest:
 * - the binary resolves (absolute path or $PATH), is executable, and
 *   `--version` prints `Firecracker v1.x`;
 * - /dev/kvm opens read-write and KVM_GET_API_VERSION returns 12 (Node has
 *   no ioctl(), so a constant one-line perl script does it — perl-base is
 *   Essential on Debian — with python3 as fallback; argv only, no input);
 * - /dev/kvm is not the kvm_pvm backend: PVM only runs PVM-enabled guest
 *   kernels, so Firecracker's stock vmlinux can't boot there even though the
 *   ioctls succeed.
 * On the development machine this returns usable=false: there is no
 * firecracker binary, and /dev/kvm is kvm_pvm (nested PVM).
 */
export async function firecrackerUsable(binary: string): Promise<FirecrackerProbe> {
  const problems: string[] = [];
  if (process.platform !== 'linux' || (process.arch !== 'x64' && process.arch !== 'arm64')) {
    problems.push(`Firecracker runs on Linux x86_64/aarch64 only (this is ${process.platform}/${process.arch})`);
  }
  const [bin, kvm] = await Promise.all([probeBinary(binary), probeKvm()]);
  problems.push(...bin.problems, ...kvm.problems);
  if (problems.length) return { usable: false, reason: problems.join('; ') };
  return { usable: true, reason: `${bin.found} (${bin.version}), /dev/kvm API ${KVM_API_VERSION}` };
}

async function probeBinary(binary: string): Promise<{ problems: string[]; found?: string; version?: string }> {
  const found = await resolveExecutable(binary);
  if (!found) {
    return {
      problems: [
        binary.includes('/')
          ? `firecracker binary ${binary} does not exist or is not executable`
          : `firecracker binary "${binary}" not found on PATH (set FCM_FIRECRACKER_BINARY)`,
      ],
    };
  }
  try {
    const { stdout, stderr } = await run(found, ['--version'], { timeoutMs: 3000 });
    const m = /Firecracker v(\d+)\.(\d+)\.(\d+)\S*/.exec(`${stdout}\n${stderr}`);
    if (!m) return { problems: [`${found} --version did not print a Firecracker version`] };
    if (Number(m[1]) < 1) return { problems: [`${found} is ${m[0]}; fcm needs Firecracker v1.0 or newer`] };
    return { problems: [], found, version: m[0] };
  } catch (e) {
    return { problems: [`${found} --version failed: ${e instanceof Error ? e.message : String(e)}`] };
  }
}

async function resolveExecutable(binary: string): Promise<string | null> {
  const candidates = binary.includes('/') ? [binary] : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, binary));
  for (const c of candidates) {
    const st = await stat(c).catch(() => null);
    if (st?.isFile() && (await access(c, constants.X_OK).then(() => true, () => false))) return c;
  }
  return null;
}

const PERL_PROBE =
  'open(my $f, "+<", "/dev/kvm") or die "open: $!\\n"; my $v = ioctl($f, 0xAE00, 0); defined $v or die "ioctl: $!\\n"; print(($v eq "0 but true" ? 0 : $v), "\\n");';
const PYTHON_PROBE = 'import fcntl, os; fd = os.open("/dev/kvm", os.O_RDWR); print(fcntl.ioctl(fd, 0xAE00))';

async function probeKvm(): Promise<{ problems: string[] }> {
  const fh = await open('/dev/kvm', 'r+').catch((e: NodeJS.ErrnoException) => e);
  if (fh instanceof Error) {
    const code = fh.code;
    if (code === 'ENOENT') return { problems: ['/dev/kvm does not exist (no KVM: enable virtualization or nested virtualization)'] };
    if (code === 'EACCES' || code === 'EPERM') return { problems: ['/dev/kvm is not readable and writable by this user (add it to the kvm group)'] };
    return { problems: [`/dev/kvm cannot be opened read-write: ${code ?? fh.message}`] };
  }
  await fh.close();
  const problems: string[] = [];
  const version = await kvmApiVersion();
  if (typeof version === 'string') problems.push(version);
  else if (version !== KVM_API_VERSION) problems.push(`KVM_GET_API_VERSION returned ${version}, expected ${KVM_API_VERSION}`);
  const mod = (m: string) => stat(`/sys/module/${m}`).then(() => true, () => false);
  const [pvm, intel, amd] = await Promise.all([mod('kvm_pvm'), mod('kvm_intel'), mod('kvm_amd')]);
  if (pvm && !intel && !amd) {
    problems.push('/dev/kvm is provided by kvm_pvm (nested PVM), which cannot run stock guest kernels such as Firecracker\'s vmlinux');
  }
  return { problems };
}

/** The API version, or a string saying why it could not be read. */
async function kvmApiVersion(): Promise<number | string> {
  const attempts: Array<[string, string[]]> = [
    ['perl', ['-e', PERL_PROBE]],
    ['python3', ['-c', PYTHON_PROBE]],
  ];
  const failures: string[] = [];
  for (const [cmd, args] of attempts) {
    try {
      const { stdout } = await run(cmd, args, { timeoutMs: 3000 });
      const n = Number(stdout.trim());
      if (Number.isInteger(n)) return n;
      failures.push(`${cmd} printed ${JSON.stringify(stdout.trim().slice(0, 80))}`);
    } catch (e) {
      if ((e as { notFound?: boolean }).notFound) continue;
      return `KVM_GET_API_VERSION (0x${KVM_GET_API_VERSION.toString(16)}) on /dev/kvm failed: ${e instanceof Error ? e.message : String(e)}`;
    }
  }
  return `cannot check KVM_GET_API_VERSION: ${failures.length ? failures.join(', ') : 'neither perl nor python3 is installed'}`;
}
