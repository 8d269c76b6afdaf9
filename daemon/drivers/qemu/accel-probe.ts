import { constants } from 'node:fs';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Accel } from '../../core/model.js';
import { run } from '../proc.js';

export interface AccelResult {
  accel: Accel;
  reason: string;
}

/**
 * "KVM when usable": /dev/kvm existing is not enough (here it is a nested
 * PVM backend on which QEMU aborts or crawls). So boot the real kernel under
 * KVM without a root filesystem: a working KVM reaches the expected
 * "unable to mount root" panic and exits (-no-reboot, panic=-1) within a
 * second or two. Anything else → TCG. The verdict is cached per host boot,
 * QEMU binary and kernel.
 */
export async function probeAccel(opts: { qemuBinary: string; kernelPath: string | null; cacheFile: string; timeoutMs?: number }): Promise<AccelResult> {
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return { accel: 'tcg', reason: '/dev/kvm is not available' };
  }
  if (!opts.kernelPath) return { accel: 'tcg', reason: 'no kernel to probe KVM with' };
  const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
  const key = JSON.stringify([bootId, opts.qemuBinary, opts.kernelPath]);
  try {
    const cached = JSON.parse(await readFile(opts.cacheFile, 'utf8')) as { key: string; result: AccelResult };
    if (cached.key === key) return cached.result;
  } catch {
    /* no cache */
  }
  const dir = await mkdtemp(join(tmpdir(), 'fcm-kvm-probe-'));
  const log = join(dir, 'console.log');
  let result: AccelResult;
  const started = Date.now();
  try {
    await run(
      opts.qemuBinary,
      [
        '-M', 'microvm', '-accel', 'kvm', '-cpu', 'host', '-m', '128M', '-smp', '1',
        '-nodefaults', '-no-user-config', '-nographic', '-no-reboot',
        '-kernel', opts.kernelPath, '-append', 'console=ttyS0 panic=-1 reboot=k',
        '-chardev', `file,id=con0,path=${log}`, '-serial', 'chardev:con0',
      ],
      { timeoutMs: opts.timeoutMs ?? 5_000 },
    );
    const out = await readFile(log, 'utf8').catch(() => '');
    result = /Kernel panic|VFS:/.test(out)
      ? { accel: 'kvm', reason: `KVM probe boot reached the kernel in ${Date.now() - started} ms` }
      : { accel: 'tcg', reason: 'KVM probe boot exited without kernel output' };
  } catch (e) {
    result = { accel: 'tcg', reason: `KVM probe failed: ${(e as Error).message.split('\n')[0]!.slice(0, 200)}` };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  await writeFile(opts.cacheFile, JSON.stringify({ key, result }), { mode: 0o600 }).catch(() => {});
  return result;
}
