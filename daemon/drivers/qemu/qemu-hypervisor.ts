import { mkdir, readFile, readdir, rm, unlink } from 'node:fs/promises';
import { FcmError } from '../../core/errors.js';
import type { Accel } from '../../core/model.js';
import type { ConsoleEndpoint, Hypervisor, MachineSpec, MachineStatus, Snapshotter } from '../../core/ports.js';
import type { Logger } from '../../log.js';
import { readTail } from '../console-log-cap.js';
import { CommandError, pidAlive, run, sleep } from '../proc.js';
import { planQemuArgv, planRestoreArgv, runPaths } from './qemu-argv.js';
import { Qmp } from './qmp.js';

export interface QemuConfig {
  binary: string;
  runDir: string;
  accel: Accel;
}

/**
 * QEMU microvm guests as detached (-daemonize) processes with pidfiles, so
 * they outlive daemon restarts; control goes through QMP.
 */
export class QemuHypervisor implements Hypervisor, Snapshotter {
  readonly kind = 'qemu' as const;
  readonly accel: Accel;

  constructor(
    private readonly cfg: QemuConfig,
    private readonly log: Logger,
  ) {
    this.accel = cfg.accel;
  }

  async start(spec: MachineSpec): Promise<MachineStatus> {
    return this.launch(spec, null);
  }

  async restore(spec: MachineSpec, statePath: string): Promise<MachineStatus> {
    const st = await this.launch(spec, statePath);
    // -S -incoming: the state loads in the background; the machine is usable once QEMU leaves "inmigrate".
    const paths = runPaths(this.cfg.runDir, spec.vmId);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const status = await this.qmp(paths.qmpSocket, (q) => q.execute('query-status')).catch(() => null) as { status?: string } | null;
      if (status?.status === 'paused' || status?.status === 'prelaunch' || status?.status === 'postmigrate') return st;
      if (status && status.status !== 'inmigrate') {
        await this.destroy(spec.vmId);
        throw new FcmError('hypervisor_failed', `restoring ${spec.vmId} failed: QEMU is ${status.status}`);
      }
      if (!(await this.status(spec.vmId)).running || Date.now() > deadline) {
        const log = await consoleTail(paths.consoleLog);
        await this.destroy(spec.vmId);
        throw new FcmError('hypervisor_failed', `restoring ${spec.vmId} failed (QEMU exited or timed out). ${log.trim().split('\n').slice(-2).join(' ')}`.trim());
      }
      await sleep(10);
    }
  }

  async waitConsole(vmId: string, text: string, timeoutMs: number): Promise<void> {
    const log = runPaths(this.cfg.runDir, vmId).consoleLog;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // The tail only: the guest decides how big the log is (the template's marker is among its last lines).
      if ((await consoleTail(log, 256 * 1024)).includes(text)) return;
      if (!(await this.status(vmId)).running) throw new FcmError('hypervisor_failed', `${vmId} exited before printing "${text}"`);
      if (Date.now() > deadline) throw new FcmError('hypervisor_failed', `${vmId} did not print "${text}" within ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  async resume(vmId: string): Promise<void> {
    await this.qmp(runPaths(this.cfg.runDir, vmId).qmpSocket, (q) => q.execute('cont'));
  }

  async saveState(vmId: string, statePath: string): Promise<void> {
    if (!/^\/[A-Za-z0-9/_.-]+$/.test(statePath)) throw new Error(`unsafe state path ${statePath}`);
    const sock = runPaths(this.cfg.runDir, vmId).qmpSocket;
    await this.qmp(sock, async (q) => {
      await q.execute('stop');
      // QEMU 7.2 has no file: URI; exec: runs through /bin/sh, hence the strict path check above.
      await q.execute('migrate', { uri: `exec:cat > ${statePath}` });
      const deadline = Date.now() + 120_000;
      for (;;) {
        const m = (await q.execute('query-migrate')) as { status?: string; 'error-desc'?: string };
        if (m.status === 'completed') return;
        if (m.status === 'failed' || m.status === 'cancelled') throw new Error(`saving ${vmId} failed: ${m['error-desc'] ?? m.status}`);
        if (Date.now() > deadline) throw new Error(`saving ${vmId} timed out`);
        await sleep(20);
      }
    });
  }

  private async launch(spec: MachineSpec, statePath: string | null): Promise<MachineStatus> {
    const paths = runPaths(this.cfg.runDir, spec.vmId);
    const existing = await this.status(spec.vmId);
    if (existing.running) throw new FcmError('hypervisor_failed', `QEMU for ${spec.vmId} is already running (pid ${existing.pid}).`);
    await mkdir(paths.runDir, { recursive: true, mode: 0o700 });
    for (const f of [paths.pidfile, paths.qmpSocket, paths.consoleSocket]) await unlink(f).catch(() => {});
    const argv = statePath ? planRestoreArgv(spec, this.accel, paths, statePath) : planQemuArgv(spec, this.accel, paths);
    try {
      // With -daemonize the parent exits only after the machine is set up, so
      // configuration errors (bad drive, busy tap) surface here with stderr.
      await run(this.cfg.binary, argv, { timeoutMs: 30_000 });
    } catch (err) {
      await rm(paths.runDir, { recursive: true, force: true });
      const detail = err instanceof CommandError ? err.stderr.trim().split('\n').slice(-2).join(' ') : String(err);
      throw new FcmError('hypervisor_failed', `QEMU did not start: ${detail}`, { cause: err });
    }
    const st = await this.status(spec.vmId);
    if (!st.running) {
      const log = await consoleTail(paths.consoleLog);
      await rm(paths.runDir, { recursive: true, force: true });
      throw new FcmError('hypervisor_failed', `QEMU exited right after starting. ${log.trim().split('\n').slice(-3).join(' ')}`.trim());
    }
    this.log.debug({ vmId: spec.vmId, pid: st.pid }, 'qemu started');
    return st;
  }

  async stop(vmId: string, timeoutMs: number): Promise<'graceful' | 'forced' | 'absent'> {
    const paths = runPaths(this.cfg.runDir, vmId);
    const st = await this.status(vmId);
    if (!st.running || st.pid === null) {
      await this.cleanup(vmId);
      return 'absent';
    }
    const pid = st.pid;
    if (timeoutMs > 0) {
      // Ctrl-Alt-Del through the i8042: the guest's init shuts down cleanly and
      // reboots, which -no-reboot turns into a QEMU exit.
      const asked = await this.qmp(paths.qmpSocket, (q) => q.execute('send-key', { keys: [
        { type: 'qcode', data: 'ctrl' }, { type: 'qcode', data: 'alt' }, { type: 'qcode', data: 'delete' },
      ] })).then(() => true, () => false);
      if (asked && (await waitGone(pid, timeoutMs))) {
        await this.cleanup(vmId);
        return 'graceful';
      }
    }
    await this.qmp(paths.qmpSocket, (q) => q.execute('quit')).catch(() => {});
    if (!(await waitGone(pid, 1000))) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      await waitGone(pid, 5000);
    }
    await this.cleanup(vmId);
    return 'forced';
  }

  async status(vmId: string): Promise<MachineStatus> {
    const paths = runPaths(this.cfg.runDir, vmId);
    const pid = Number((await readFile(paths.pidfile, 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(pid) || pid <= 0 || !pidAlive(pid)) return { running: false, pid: null };
    // Guard against pid reuse: the process must be this VM's QEMU.
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (!cmdline.includes(`fcm-${vmId}`)) return { running: false, pid: null };
    return { running: true, pid };
  }

  async list(): Promise<string[]> {
    const names = await readdir(this.cfg.runDir).catch(() => [] as string[]);
    return names.filter((n) => /^vm_[0-9a-f]+$/.test(n));
  }

  async destroy(vmId: string): Promise<void> {
    await this.stop(vmId, 0);
    await rm(runPaths(this.cfg.runDir, vmId).runDir, { recursive: true, force: true });
  }

  /** Where the guest's serial console is exposed (used by the console service). */
  console(vmId: string): ConsoleEndpoint {
    const p = runPaths(this.cfg.runDir, vmId);
    return { socketPath: p.consoleSocket, logPath: p.consoleLog };
  }

  /** Removes the process's runtime files; the console log stays until destroy. */
  private async cleanup(vmId: string): Promise<void> {
    const p = runPaths(this.cfg.runDir, vmId);
    for (const f of [p.pidfile, p.qmpSocket, p.consoleSocket]) await unlink(f).catch(() => {});
  }

  private async qmp<T>(socket: string, fn: (q: Qmp) => Promise<T>): Promise<T> {
    const q = await Qmp.connect(socket);
    try {
      return await fn(q);
    } finally {
      q.close();
    }
  }
}

/** The end of a console log as text (never the whole file: the guest decides its size). */
async function consoleTail(path: string, maxBytes = 4096): Promise<string> {
  return (await readTail(path, maxBytes).catch(() => Buffer.alloc(0))).toString('utf8');
}

async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!pidAlive(pid)) return true;
    await sleep(50);
  }
  return !pidAlive(pid);
}
