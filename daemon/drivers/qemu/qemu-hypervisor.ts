import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, createWriteStream, lstatSync, readlinkSync } from 'node:fs';
import { chmod, lchown, link, lstat, mkdir, open, readFile, readdir, realpath, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { dirname, isAbsolute, join, normalize } from 'node:path';
import { FcmError } from '../../core/errors.js';
import type { Accel } from '../../core/model.js';
import type { ConsoleEndpoint, Hypervisor, HypervisorCapabilities, MachineSpec, MachineStatus, Snapshotter } from '../../core/ports/hypervisor.js';
import type { CaptureResult, LiveSnapshots } from '../../core/ports/vm-snapshots.js';
import type { Logger } from '../../log.js';
import { readTail } from '../console-log-cap.js';
import type { VmCgroups } from '../cgroups.js';
import { pidAlive, run, sleep } from '../proc.js';
import { tapOwner, type VmmUsers } from '../vmm-users.js';
import { INCOMING_STATE_FD, planMigrationCaps, planQemuArgv, planRestoreArgv, runPaths, TEMPLATE_RAM_FD, type QemuRunPaths } from './qemu-argv.js';
import { planCgroupLimits, planLaunch, planProcessFlags, planSandboxArgv, planVmmEnv, PRCTL_SYSCALL, qcow2BackingRef, type SystemDir, type VmmMalloc } from './qemu-confine.js';
import { Qmp, type QmpEvent } from './qmp.js';
import { TemplateRam } from './template-ram.js';

export interface QemuConfig {
  binary: string;
  runDir: string;
  accel: Accel;
  /** How each QEMU is confined; null = as root, no sandbox (FCM_VMM_CONFINE=off). */
  confine: QemuConfinement | null;
  /** Per-VM cgroups (null or without controllers: no limits). */
  cgroups: VmCgroups | null;
  /** Memory a QEMU may use beyond its guest's RAM before the cgroup limit stops it. */
  memoryOverheadMib: number;
  /** TCG translation cache per VM, MiB, of a booted machine (default 64). */
  tcgTbMib?: number;
  /** TCG translation cache of a machine restored from a saved state, MiB (DEFAULT_TCG_RESTORE_TB_MIB). */
  tcgRestoreTbMib?: number;
  /** Leave transparent huge pages on for QEMU (default off: planProcessFlags). */
  transparentHugePages?: boolean;
  /** Make all of QEMU's private memory KSM-mergeable (FCM_KSM; planProcessFlags). */
  memoryMerge?: boolean;
  /** glibc malloc tuning in QEMU's environment (FCM_QEMU_MALLOC_*; planVmmEnv). */
  malloc?: VmmMalloc;
}

export interface QemuConfinement {
  bwrap: string;
  setpriv: string;
  users: VmmUsers;
  /** Directories whose files a drive may be backed by (the images and the snapshot templates). */
  sharedRoots: string[];
}

/** What protects the host from a QEMU (reported by /v1/health). */
export interface QemuConfinementReport {
  user: 'per-vm' | 'root';
  seccomp: boolean;
  mountNamespace: boolean;
}

/** QEMU and its launcher get nothing of the daemon's environment (which may hold secrets). */
const VMM_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };

/** Saved states are written as fast as the disk takes them (QEMU's default cap is 128 MiB/s). */
const MIGRATE_MAX_BANDWIDTH = 8 * 1024 * 1024 * 1024;

/**
 * QEMU microvm guests as detached processes with pidfiles, so
 * they outlive daemon restarts; control goes through QMP.
 */
export class QemuHypervisor implements Hypervisor, Snapshotter, LiveSnapshots {
  readonly kind = 'qemu' as const;
  readonly accel: Accel;
  /** qcow2 overlays on the base image; snapshots through migration state (the create fast path). */
  readonly capabilities: HypervisorCapabilities = { diskFormats: ['qcow2', 'raw'], snapshots: this, console: (vmId) => this.console(vmId), liveSnapshots: this };

  /** VMs this process is launching: their QEMU is not "running" before the start has completed. */
  private readonly starting = new Set<string>();
  /** How /bin, /lib… look on this host (merged /usr: symlinks), mirrored in every sandbox. */
  private readonly systemDirs: SystemDir[];
  /** Templates' RAM images as sealed memfds, shared copy-on-write by the machines restored from them. */
  private readonly templateRam: TemplateRam;
  /** prctl's number on this host, for launching QEMU without huge pages (undefined: unknown architecture, they stay on). */
  private readonly prctlSyscall = PRCTL_SYSCALL[process.arch];
  private readonly vmmEnv: Record<string, string>;

  constructor(
    private readonly cfg: QemuConfig,
    private readonly log: Logger,
  ) {
    this.accel = cfg.accel;
    this.systemDirs = cfg.confine ? hostSystemDirs() : [];
    this.templateRam = new TemplateRam(log, 'python3', VMM_ENV);
    if (!cfg.transparentHugePages && this.prctlSyscall === undefined) log.warn({ arch: process.arch }, 'qemu: no prctl number for this architecture, QEMU keeps transparent huge pages');
    if (cfg.memoryMerge && this.prctlSyscall === undefined) log.warn({ arch: process.arch }, 'qemu: no prctl number for this architecture, only guest RAM is KSM-mergeable');
    this.vmmEnv = planVmmEnv(VMM_ENV, cfg.malloc ?? { arenaMax: 0 });
  }

  confinement(): QemuConfinementReport {
    const on = this.cfg.confine !== null;
    return { user: on ? 'per-vm' : 'root', seccomp: on, mountNamespace: on };
  }

  async start(spec: MachineSpec): Promise<MachineStatus> {
    return this.launch(spec, null);
  }

  async restore(spec: MachineSpec, statePath: string): Promise<MachineStatus> {
    const st = await this.launch(spec, statePath);
    // -S -incoming: the state loads in the background; the machine is usable once QEMU leaves "inmigrate".
    const paths = runPaths(this.cfg.runDir, spec.vmId);
    const caps = planMigrationCaps(spec);
    if (caps.length) {
      // -incoming defer: the capabilities the state was saved with first, then the state (fd 3).
      await this.qmp(paths.qmpSocket, async (q) => {
        await q.execute('migrate-set-capabilities', { capabilities: caps });
        await q.execute('migrate-incoming', { uri: `fd:${INCOMING_STATE_FD}` });
      }).catch(async (e: unknown) => {
        await this.destroy(spec.vmId);
        throw new FcmError('hypervisor_failed', `restoring ${spec.vmId} failed: ${(e as Error).message}`);
      });
    }
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

  async launchedSpec(vmId: string): Promise<MachineSpec | null> {
    if (!(await this.status(vmId)).running) return null;
    const text = await readFile(runPaths(this.cfg.runDir, vmId).machineFile, 'utf8').catch(() => null);
    if (text === null) return null;
    try {
      const spec = JSON.parse(text) as MachineSpec;
      if (spec?.vmId !== vmId) return null;
      // A saved state of it holds all of its RAM (only a shared file mapping is left out, and a clone's is
      // private): it restores into anonymous memory of the same name, never needing the template again.
      return spec.memory && spec.memory.kind !== 'private' ? { ...spec, memory: { kind: 'private' } } : spec;
    } catch {
      return null;
    }
  }

  async resume(vmId: string): Promise<void> {
    await this.qmp(runPaths(this.cfg.runDir, vmId).qmpSocket, (q) => q.execute('cont'));
  }

  async pause(vmId: string): Promise<void> {
    // TCG keeps its translation cache across stop/cont: code the guest ran before the pause runs at full speed after it.
    await this.qmp(runPaths(this.cfg.runDir, vmId).qmpSocket, (q) => q.execute('stop'));
  }

  /**
   * QEMU streams its state to a Unix socket the daemon listens on in the
   * VM's `sock/` dir (no `exec:` shell: the seccomp filter forbids spawning);
   * the daemon writes it to `statePath`, at most guest RAM + 256 MiB.
   */
  async saveState(vmId: string, statePath: string): Promise<void> {
    const paths = runPaths(this.cfg.runDir, vmId);
    const st = await this.status(vmId);
    if (!st.running || st.pid === null) throw new FcmError('hypervisor_failed', `cannot save ${vmId}: QEMU is not running`);
    const uid = (await stat(`/proc/${st.pid}`)).uid;
    const launched = JSON.parse(await readFile(paths.machineFile, 'utf8').catch(() => '{}')) as Partial<MachineSpec>;
    const caps = planMigrationCaps(launched);
    await this.qmp(paths.qmpSocket, async (q) => {
      const mem = (await q.execute('query-memory-size-summary')) as { 'base-memory'?: number };
      const maxBytes = (mem['base-memory'] ?? 0) + 256 * 1024 * 1024;
      const received = receiveState(paths.migrateSocket, statePath, maxBytes);
      try {
        const server = await received.listening;
        // lchown: never follows a symlink QEMU might have put there in between.
        await lchown(paths.migrateSocket, uid, uid);
        await q.execute('stop');
        if (caps.length) await q.execute('migrate-set-capabilities', { capabilities: caps });
        await q.execute('migrate', { uri: `unix:${paths.migrateSocket}` });
        const deadline = Date.now() + 120_000;
        for (;;) {
          const m = (await q.execute('query-migrate')) as { status?: string; 'error-desc'?: string };
          if (m.status === 'completed') break;
          if (m.status === 'failed' || m.status === 'cancelled') throw new Error(`saving ${vmId} failed: ${m['error-desc'] ?? m.status}`);
          if (Date.now() > deadline) throw new Error(`saving ${vmId} timed out`);
          await sleep(20);
        }
        await withDeadline(received.done, 30_000, `writing the state of ${vmId}`);
        server.close();
      } catch (e) {
        received.abort();
        throw e;
      } finally {
        await unlink(paths.migrateSocket).catch(() => {});
      }
    });
  }

  /**
   * A named snapshot: the guest is stopped (QEMU drains and flushes every
   * disk), the root gets the qcow2 internal snapshot `tag` through QEMU
   * itself (copy-on-write: later writes go to new clusters), `frozen` copies
   * the rest, the memory + device state is streamed to the daemon's socket
   * (zero pages skipped, no bandwidth cap), and `cont` re-activates the disks
   * and runs the guest again. Memory and disk are of the same instant. The
   * pause is taken from QEMU's own STOP and RESUME events.
   *
   * Why stop-the-world and not live pre-copy (migrate while the guest runs,
   * pause-before-switchover for the disk snapshot): tried first — its pause
   * was ~50 ms on a quiet host, but under TCG on a busy host the restored
   * guests sometimes crashed on corrupted kernel lists (list_del corruption
   * in the scheduler right after the restore; the cause was not pinned
   * down). A snapshot that does not restore is worth nothing; the pause is
   * the time to write the guest's used RAM.
   * Failing anywhere: the migration is cancelled, the disk snapshot
   * dropped, the guest resumed.
   */
  async capture(vmId: string, statePath: string, tag: string, frozen: () => Promise<void>): Promise<CaptureResult> {
    const paths = runPaths(this.cfg.runDir, vmId);
    const st = await this.status(vmId);
    if (!st.running || st.pid === null) throw new FcmError('hypervisor_failed', `cannot snapshot ${vmId}: QEMU is not running`);
    const uid = (await stat(`/proc/${st.pid}`)).uid;
    return this.qmp(paths.qmpSocket, async (q) => {
      const events: QmpEvent[] = [];
      q.onEvent = (e) => {
        if (events.length < 256 && (e.event === 'STOP' || e.event === 'RESUME')) events.push(e);
      };
      const mem = (await q.execute('query-memory-size-summary')) as { 'base-memory'?: number };
      const maxBytes = (mem['base-memory'] ?? 0) + 256 * 1024 * 1024;
      const received = receiveState(paths.migrateSocket, statePath, maxBytes);
      let stopped = false;
      let migrating = false;
      let tagged = false;
      let resumed = false;
      try {
        const server = await received.listening;
        await lchown(paths.migrateSocket, uid, uid);
        await q.execute('migrate-set-parameters', { 'max-bandwidth': MIGRATE_MAX_BANDWIDTH });
        await q.execute('stop');
        stopped = true;
        await q.execute('blockdev-snapshot-internal-sync', { device: 'root', name: tag }, 60_000);
        tagged = true;
        await frozen();
        migrating = true;
        await q.execute('migrate', { uri: `unix:${paths.migrateSocket}` });
        await migrationReaches(q, vmId, 'completed', 120_000);
        migrating = false;
        // Re-activates the disks QEMU handed over at completion, and runs the guest again.
        await q.execute('cont');
        resumed = true;
        await withDeadline(received.done, 30_000, `writing the state of ${vmId}`);
        server.close();
        for (let i = 0; i < 100 && !events.some((e) => e.event === 'RESUME'); i++) await sleep(5);
        const stop = events.find((e) => e.event === 'STOP');
        const resume = events.find((e) => e.event === 'RESUME');
        if (!stop || !resume) throw new Error('QEMU did not report the pause (no STOP/RESUME event)');
        return { pausedMs: Math.round((resume.atUs - stop.atUs) / 100) / 10, stateBytes: (await stat(statePath)).size };
      } catch (e) {
        received.abort();
        if (migrating) {
          await q.execute('migrate_cancel').catch(() => {});
          await migrationSettles(q);
        }
        if (stopped && !resumed) await q.execute('cont').catch(() => {});
        if (tagged) await q.execute('blockdev-snapshot-delete-internal-sync', { device: 'root', name: tag }, 60_000).catch(() => {});
        await rm(statePath, { force: true });
        throw e instanceof FcmError ? e : new FcmError('hypervisor_failed', `snapshotting ${vmId} failed: ${(e as Error).message}`, { cause: e });
      } finally {
        q.onEvent = null;
        await unlink(paths.migrateSocket).catch(() => {});
      }
    });
  }

  async dropDiskSnapshot(vmId: string, tag: string): Promise<void> {
    await this.qmp(runPaths(this.cfg.runDir, vmId).qmpSocket, async (q) => {
      try {
        await q.execute('blockdev-snapshot-delete-internal-sync', { device: 'root', name: tag }, 60_000);
      } catch (e) {
        if (!/not found|does not exist|Can't find/i.test((e as Error).message)) {
          throw new FcmError('hypervisor_failed', `deleting disk snapshot ${tag} of ${vmId}: ${(e as Error).message}`, { cause: e });
        }
      }
    });
  }

  async paused(vmId: string): Promise<boolean> {
    if (!(await this.status(vmId)).running) return false;
    const st = (await this.qmp(runPaths(this.cfg.runDir, vmId).qmpSocket, (q) => q.execute('query-status'))) as { status?: string };
    // `postmigrate`: a save or capture completed and its disks were handed over; `cont` takes them back.
    return st.status === 'paused' || st.status === 'postmigrate';
  }

  private async launch(spec: MachineSpec, statePath: string | null): Promise<MachineStatus> {
    const paths = runPaths(this.cfg.runDir, spec.vmId);
    const existing = await this.status(spec.vmId);
    if (existing.running) throw new FcmError('hypervisor_failed', `QEMU for ${spec.vmId} is already running (pid ${existing.pid}).`);
    const conf = this.cfg.confine;
    this.starting.add(spec.vmId);
    let held: number | null = null;
    let child: ChildProcess | null = null;
    let stateFile: Awaited<ReturnType<typeof open>> | null = null;
    let ramFd: number | null = null;
    const output: string[] = [];
    try {
      let uid = 0;
      if (conf) {
        if (spec.net.tap) {
          const owner = await tapOwner(spec.net.tap);
          if (owner === null || !conf.users.owns(owner)) throw new FcmError('hypervisor_failed', `tap ${spec.net.tap} is not owned by a VMM uid (owner ${owner ?? 'none'}); it must be made for this VM's QEMU.`);
          uid = owner;
        } else {
          uid = held = await conf.users.allocate();
        }
      }
      await this.prepareRunDir(paths, uid);
      const procs = await this.joinCgroups(spec);
      const merge = this.cfg.memoryMerge === true;
      const argv = statePath
        ? planRestoreArgv(spec, this.accel, paths, conf !== null, this.cfg.tcgRestoreTbMib, merge)
        : planQemuArgv(spec, this.accel, paths, conf !== null, this.cfg.tcgTbMib, merge);
      const qemu = [this.cfg.binary, ...argv];
      const plain = planLaunch(conf ? await this.sandboxArgv(spec, paths, uid, qemu) : qemu, procs);
      const flags = { noHugePages: !this.cfg.transparentHugePages, memoryMerge: merge };
      const launch = this.prctlSyscall === undefined ? plain : planProcessFlags(plain, this.prctlSyscall, flags);
      stateFile = statePath ? await open(statePath, 'r') : null;
      if (spec.memory?.kind === 'template') ramFd = await this.templateRam.open(spec.memory.path, spec.memoryMib * 1024 * 1024);
      const stdio: ('ignore' | 'pipe' | number)[] = ['ignore', 'pipe', 'pipe'];
      if (stateFile) stdio[INCOMING_STATE_FD] = stateFile.fd;
      if (ramFd !== null) {
        stdio[INCOMING_STATE_FD] ??= 'ignore';
        stdio[TEMPLATE_RAM_FD] = ramFd;
      }
      const proc = (child = spawn(launch.cmd, launch.args, { detached: true, stdio, env: this.vmmEnv }));
      for (const s of [proc.stdout!, proc.stderr!]) {
        s.setEncoding('utf8');
        s.on('data', (d: string) => {
          output.push(d);
          if (output.join('').length > 8192) output.splice(0, output.length - 4);
        });
        s.on('error', () => {});
      }
      await this.waitUp(proc, paths, output);
      await this.linkSockets(paths);
      const pid = await this.readPid(paths.vmmPidfile);
      if (pid === null || !(await this.isOwnQemu(pid, spec.vmId))) throw new FcmError('hypervisor_failed', `QEMU for ${spec.vmId} is up but its pidfile does not name it.`);
      await this.writePidfile(paths, pid);
      // The machine as launched: a restore of its saved state needs the very same one (launchedSpec).
      await writeFile(paths.machineFile, JSON.stringify(spec), { mode: 0o600 });
    } catch (err) {
      if (child?.pid) killQuietly(child.pid);
      // QEMU wrote that pidfile: signal the pid only if it is this VM's QEMU.
      const pid = await this.readPid(paths.vmmPidfile);
      if (pid !== null && (await this.isOwnQemu(pid, spec.vmId))) {
        killQuietly(pid);
        await waitGone(pid, 5000);
      }
      await this.cfg.cgroups?.remove(spec.vmId).catch(() => {});
      await rm(paths.runDir, { recursive: true, force: true });
      if (err instanceof FcmError) throw err;
      const detail = lastLines(output.join(''), 2) || (err instanceof Error ? err.message : String(err));
      throw new FcmError('hypervisor_failed', `QEMU did not start: ${detail}`, { cause: err });
    } finally {
      this.starting.delete(spec.vmId);
      await stateFile?.close();
      if (ramFd !== null) closeSync(ramFd);
      if (held !== null) this.cfg.confine?.users.release(held);
      // Its output after start-up is nobody's business: QEMU ignores SIGPIPE, so a write after this just fails.
      child?.stdout?.destroy();
      child?.stderr?.destroy();
      child?.unref();
    }
    const st = await this.status(spec.vmId);
    if (!st.running) {
      await this.cleanup(spec.vmId);
      throw new FcmError('hypervisor_failed', `QEMU exited right after starting. ${lastLines(output.join(''), 3)}`.trim());
    }
    this.log.debug({ vmId: spec.vmId, pid: st.pid }, 'qemu started');
    return st;
  }

  /**
   * `run/` is root's 0711 (every VM's uid passes through it to its own dir,
   * none can list it); the VM's run dir is root's, group the VM's gid, 0710:
   * its QEMU may only traverse it, nobody else may enter. QEMU gets the
   * console log (an existing file, so it can neither replace nor remove it)
   * and `sock/`, both owned by its uid.
   */
  private async prepareRunDir(paths: QemuRunPaths, uid: number): Promise<void> {
    const parent = dirname(paths.runDir);
    await mkdir(parent, { recursive: true, mode: 0o711 });
    await chmod(parent, 0o711);
    await mkdir(paths.runDir, { recursive: true, mode: 0o710 });
    await lchown(paths.runDir, 0, uid);
    await chmod(paths.runDir, 0o710);
    for (const f of [paths.pidfile, paths.machineFile, paths.qmpSocket, paths.consoleSocket, paths.tunNode, paths.kvmNode]) await unlink(f).catch(() => {});
    await rm(paths.sockDir, { recursive: true, force: true });
    await mkdir(paths.sockDir, { mode: 0o700 });
    const log = await lstat(paths.consoleLog).catch(() => null);
    if (log && !log.isFile()) await unlink(paths.consoleLog);
    if (!log?.isFile()) await writeFile(paths.consoleLog, '', { mode: 0o600, flag: 'wx' });
    for (const f of [paths.sockDir, paths.consoleLog]) await lchown(f, uid, uid);
  }

  /** The VM's cgroups with its limits; the cgroup.procs files the launcher joins. */
  private async joinCgroups(spec: MachineSpec): Promise<string[]> {
    const cg = this.cfg.cgroups;
    const version = cg?.status().version;
    if (!cg || !version) return [];
    await cg.remove(spec.vmId).catch(() => {});
    return cg.create(spec.vmId, planCgroupLimits(version, spec.vcpus, spec.memoryMib, this.cfg.memoryOverheadMib));
  }

  /** Device nodes and file ownership for the VM's uid, and the bwrap argv that shows QEMU only its own files. */
  private async sandboxArgv(spec: MachineSpec, paths: QemuRunPaths, uid: number, qemu: string[]): Promise<string[]> {
    const conf = this.cfg.confine!;
    const devices: { from: string; to: string }[] = [];
    const node = async (path: string, major: number, minor: number, to: string) => {
      await run('mknod', ['-m', '0600', path, 'c', String(major), String(minor)]);
      await lchown(path, uid, uid);
      devices.push({ from: path, to });
    };
    // Its own /dev/net/tun (the host's is root-only): with it QEMU can attach to taps its uid owns, and make none.
    if (spec.net.tap) await node(paths.tunNode, 10, 200, '/dev/net/tun');
    if (this.accel === 'kvm') await node(paths.kvmNode, 10, 232, '/dev/kvm');
    const readOnly = [spec.kernelPath, ...(spec.initrdPath ? [spec.initrdPath] : [])];
    const readWrite: string[] = [];
    for (const d of spec.drives) {
      (d.readOnly ? readOnly : readWrite).push(d.path);
      await lchown(d.path, uid, uid);
      if (d.format === 'qcow2') readOnly.push(...(await this.backingChain(d.path, conf.sharedRoots)));
    }
    // A template guest's RAM file is its own while it runs (published, it is root's: template-store.ts).
    if (spec.memory?.kind === 'file') {
      readWrite.push(spec.memory.path);
      await lchown(spec.memory.path, uid, uid);
    }
    if (isAbsolute(this.cfg.binary) && !this.cfg.binary.startsWith('/usr/')) readOnly.push(this.cfg.binary);
    return planSandboxArgv(
      { uid, gid: uid, bwrap: conf.bwrap, setpriv: conf.setpriv, system: this.systemDirs, readOnly, readWrite, runDir: paths.runDir, devices, ownFds: spec.memory?.kind === 'template' },
      qemu,
    );
  }

  /**
   * The files a qcow2 drive reads through (its backing chain), from the
   * headers. A header is written by QEMU, so a compromised one could name
   * any file: only files under the image and template directories are
   * accepted, so nothing else ever enters a VM's mount view.
   */
  private async backingChain(path: string, roots: string[]): Promise<string[]> {
    const allowed = await Promise.all(roots.map((r) => realpath(r).catch(() => null)));
    const out: string[] = [];
    let cur = path;
    for (let depth = 0; depth < 8; depth++) {
      const fh = await open(cur, 'r');
      let name: string | null = null;
      try {
        const head = Buffer.alloc(512);
        await fh.read(head, 0, head.length, 0);
        const ref = qcow2BackingRef(head);
        if (ref) {
          const buf = Buffer.alloc(ref.size);
          const { bytesRead } = await fh.read(buf, 0, ref.size, ref.offset);
          if (bytesRead !== ref.size) throw new FcmError('hypervisor_failed', `${cur}: truncated qcow2 header`);
          name = buf.toString('utf8');
        }
      } finally {
        await fh.close();
      }
      if (name === null) return out;
      const abs = isAbsolute(name) ? name : join(dirname(cur), name);
      const real = await realpath(abs).catch(() => null);
      if (normalize(abs) !== abs || !real || !allowed.some((r) => r && (real === r || real.startsWith(`${r}/`)))) {
        throw new FcmError('hypervisor_failed', `${cur} is backed by ${JSON.stringify(name)}, which is not an image or template file.`);
      }
      out.push(abs);
      cur = abs;
    }
    throw new FcmError('hypervisor_failed', `${path} has a backing chain deeper than 8.`);
  }

  /** Until QEMU answers QMP (its set-up is complete), or fails (its last words). */
  private async waitUp(proc: ChildProcess, paths: QemuRunPaths, output: string[]): Promise<void> {
    let exited: string | null = null;
    proc.once('exit', (code, sig) => (exited = sig ?? String(code)));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (exited !== null) {
        await sleep(20); // the last of its stderr
        throw new FcmError('hypervisor_failed', `QEMU did not start (exit ${exited}): ${lastLines(output.join(''), 2) || 'no output'}`);
      }
      const q = await Qmp.connect(paths.vmmQmpSocket, 2000).catch(() => null);
      if (q) {
        q.close();
        return;
      }
      if (Date.now() > deadline) throw new FcmError('hypervisor_failed', `QEMU did not answer on its QMP socket within 30 s. ${lastLines(output.join(''), 2)}`.trim());
      await sleep(20);
    }
  }

  /** The daemon's links to QEMU's sockets (see QemuRunPaths): only ever socket inodes QEMU bound itself. */
  private async linkSockets(paths: QemuRunPaths): Promise<void> {
    for (const [from, to] of [[paths.vmmQmpSocket, paths.qmpSocket], [paths.vmmConsoleSocket, paths.consoleSocket]] as const) {
      // Link under a fresh name, check it, rename over: atomic, and two callers at once both succeed.
      const tmp = `${to}.${process.pid}.${Math.random().toString(36).slice(2)}`;
      await link(from, tmp);
      if (!(await lstat(tmp)).isSocket()) {
        await unlink(tmp);
        throw new FcmError('hypervisor_failed', `${from} is not a socket.`);
      }
      // QEMU binds with its umask (0755); nobody but its uid and root need the inode at all.
      await chmod(tmp, 0o600);
      await rename(tmp, to);
    }
  }

  /** The pid in a pidfile: at most 32 bytes of a regular file (QEMU writes it; it is trusted no further). */
  private async readPid(pidfile: string): Promise<number | null> {
    const fh = await open(pidfile, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => null);
    if (!fh) return null;
    try {
      if (!(await fh.stat()).isFile()) return null;
      const buf = Buffer.alloc(32);
      const { bytesRead } = await fh.read(buf, 0, 32, 0);
      const pid = Number(buf.subarray(0, bytesRead).toString('utf8').trim());
      return Number.isInteger(pid) && pid > 0 ? pid : null;
    } finally {
      await fh.close();
    }
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
    let pid = await this.readPid(paths.pidfile);
    if (pid === null && !this.starting.has(vmId)) {
      // A daemon that died between QEMU coming up and writing the pidfile: adopt it by QEMU's own.
      const own = await this.readPid(paths.vmmPidfile);
      if (own !== null && (await this.isOwnQemu(own, vmId)) && (await lstat(paths.vmmQmpSocket).catch(() => null))) {
        await this.linkSockets(paths).catch((e: unknown) => this.log.warn({ vmId, err: (e as Error).message }, 'cannot link QEMU sockets'));
        await this.writePidfile(paths, own).catch(() => {});
        pid = own;
      }
    }
    if (pid === null || !(await this.isOwnQemu(pid, vmId))) return { running: false, pid: null };
    return { running: true, pid };
  }

  /** Pid-reuse guard: the process is this VM's QEMU (not its bwrap parent, whose argv also names the VM). */
  private async isOwnQemu(pid: number, vmId: string): Promise<boolean> {
    if (!pidAlive(pid)) return false;
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    return argv[0] === this.cfg.binary && argv.includes(`fcm-${vmId},process=fcm-${vmId}`);
  }

  private async writePidfile(paths: QemuRunPaths, pid: number): Promise<void> {
    const tmp = `${paths.pidfile}.${process.pid}`;
    await writeFile(tmp, `${pid}\n`, { mode: 0o600 });
    await rename(tmp, paths.pidfile);
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

  /** Removes the process's runtime files and cgroups; the console log stays (root's again) until destroy. */
  private async cleanup(vmId: string): Promise<void> {
    const p = runPaths(this.cfg.runDir, vmId);
    for (const f of [p.pidfile, p.machineFile, p.qmpSocket, p.consoleSocket, p.tunNode, p.kvmNode]) await unlink(f).catch(() => {});
    await rm(p.sockDir, { recursive: true, force: true });
    await lchown(p.consoleLog, 0, 0).catch(() => {});
    await this.cfg.cgroups?.remove(vmId).catch((e: unknown) => this.log.warn({ vmId, err: (e as Error).message }, 'cannot remove the VM cgroups'));
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

/** Polls QEMU's migration until it is in `state`; throws when it failed, was cancelled or took too long. */
async function migrationReaches(q: Qmp, vmId: string, state: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = (await q.execute('query-migrate')) as { status?: string; 'error-desc'?: string };
    if (m.status === state) return;
    if (m.status === 'failed' || m.status === 'cancelled' || m.status === 'completed') {
      throw new FcmError('hypervisor_failed', `saving the state of ${vmId} ${m.status === 'completed' ? 'completed early' : 'failed'}: ${m['error-desc'] ?? m.status}`);
    }
    if (Date.now() > deadline) throw new FcmError('hypervisor_failed', `saving the state of ${vmId} did not reach ${state} within ${timeoutMs / 1000} s`);
    await sleep(5);
  }
}

/** After a migrate_cancel: until the migration has ended (capabilities can change again). */
async function migrationSettles(q: Qmp): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const m = (await q.execute('query-migrate').catch(() => ({}))) as { status?: string };
    if (!m.status || m.status === 'cancelled' || m.status === 'failed' || m.status === 'completed') return;
    await sleep(10);
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}

function lastLines(text: string, n: number): string {
  return text.trim().split('\n').slice(-n).join(' ').trim();
}

function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, rej) => (t = setTimeout(() => rej(new Error(`${what} timed out`)), ms)))]).finally(() => clearTimeout(t));
}

/**
 * A one-connection Unix socket server at `path` writing what it receives to
 * `file` (0600), refusing more than `maxBytes`. `done` resolves once the
 * stream has ended and the file is complete.
 */
function receiveState(path: string, file: string, maxBytes: number): { listening: Promise<Server>; done: Promise<void>; abort(): void } {
  let server: Server | null = null;
  let fail: (e: Error) => void = () => {};
  const done = new Promise<void>((resolve, reject) => {
    fail = reject;
    server = createServer((conn) => {
      server?.close();
      const out = createWriteStream(file, { mode: 0o600 });
      let bytes = 0;
      conn.on('data', (d: Buffer) => {
        bytes += d.length;
        if (bytes > maxBytes) conn.destroy(new Error(`the saved state exceeds ${maxBytes} bytes`));
      });
      conn.on('error', (e) => {
        out.destroy();
        reject(e);
      });
      out.on('error', reject);
      out.on('finish', () => resolve());
      conn.pipe(out);
    });
  });
  done.catch(() => {});
  const listening = (async () => {
    await unlink(path).catch(() => {});
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(path, () => resolve());
    });
    return server!;
  })();
  return { listening, done, abort: () => { server?.close(); fail(new Error('aborted')); } };
}

/** /bin, /sbin, /lib… as they are on this host: symlinks into /usr (merged /usr) or directories. */
function hostSystemDirs(): SystemDir[] {
  const out: SystemDir[] = [];
  for (const path of ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']) {
    try {
      const st = lstatSync(path);
      if (st.isSymbolicLink()) out.push({ path, symlink: readlinkSync(path) });
      else if (st.isDirectory()) out.push({ path, symlink: null });
    } catch {
      /* not on this host */
    }
  }
  return out;
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
