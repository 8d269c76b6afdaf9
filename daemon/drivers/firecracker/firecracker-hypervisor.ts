import { chmod, copyFile, chown, link, mkdir, open, readFile, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { FcmError } from '../../core/errors.js';
import type { ConsoleEndpoint, Hypervisor, HypervisorCapabilities, MachineSpec, MachineStatus, Snapshotter } from '../../core/ports/hypervisor.js';
import type { Logger } from '../../log.js';
import { pidAlive, sleep, spawnDetached } from '../proc.js';
import { tapOwner } from '../vmm-users.js';
import { FirecrackerApi } from './firecracker-api.js';
import {
  cmdlineRole,
  planBootRequests,
  planHolderArgs,
  planJail,
  planLaunchArgv,
  planSnapshotCreate,
  planSnapshotLoad,
  planStopRequest,
  planVmState,
  snapshotFiles,
  PROBE_REQUEST,
  runPaths,
  type FcJail,
  type FcJailerConfig,
  type FcLink,
  type FcLogLevel,
  type FcRunPaths,
} from './firecracker-config.js';

export interface FirecrackerConfig {
  binary: string;
  jailer?: FcJailerConfig | null;
  runDir: string;
  /** Level of Firecracker's own log (`<run dir>/firecracker.log`); null = no log file. Default Warning. */
  logLevel?: FcLogLevel | null;
  /** Write Firecracker's metrics (one JSON line a minute) to `<run dir>/metrics.json`. Default off. */
  metrics?: boolean;
  /** How long start() waits for the API socket. Default 10 s. */
  startTimeoutMs?: number;
  /** Per API request. Default 10 s. */
  apiTimeoutMs?: number;
  /** The console holder keeps console.log under this size (the newest output). Default 4 MiB. */
  consoleLogMaxBytes?: number;
}

/**
 * Firecracker microVMs, the production hypervisor (KVM only). Each VM is a
 * detached console holder (console-holder.ts: owns Firecracker's stdio = the
 * serial console, serves console.sock, appends console.log) whose child is
 * Firecracker, configured over its API socket. Both outlive the daemon; a
 * new daemon adopts them from the pidfiles in the run dir.
 */
export class FirecrackerHypervisor implements Hypervisor, Snapshotter {
  readonly kind = 'firecracker' as const;
  readonly accel = 'kvm' as const;
  /**
   * Raw disks only (Firecracker has no qcow2). Snapshots through Firecracker's
   * snapshot API (pause, /snapshot/create, /snapshot/load, resume): what sleep and
   * wake use. The create fast path (templates) needs qcow2 overlays, so it stays
   * off with this driver (main.ts): every new VM cold-boots.
   */
  readonly capabilities: HypervisorCapabilities = { diskFormats: ['raw'], snapshots: this, console: (vmId) => this.console(vmId) };
  private readonly jailer: FcJailerConfig | null;

  constructor(
    private readonly cfg: FirecrackerConfig,
    private readonly log: Logger,
  ) {
    this.jailer = cfg.jailer ?? null;
  }

  start(spec: MachineSpec): Promise<MachineStatus> {
    return this.launch(spec, null);
  }

  /**
   * Boots `spec` (restoreFrom null), or loads the snapshot saved at `restoreFrom` into a
   * fresh Firecracker of the very same machine, left paused (resume() lets it run).
   */
  private async launch(spec: MachineSpec, restoreFrom: string | null): Promise<MachineStatus> {
    const paths = this.paths(spec.vmId);
    const existing = await this.status(spec.vmId);
    if (existing.running) throw new FcmError('hypervisor_failed', `Firecracker for ${spec.vmId} is already running (pid ${existing.pid}).`);

    // Plan everything before touching the host: a spec Firecracker can't run fails here.
    const jailPlan = planJail(spec, paths);
    const logLevel = this.cfg.logLevel === undefined ? 'Warning' : this.cfg.logLevel;
    const boot = planBootRequests(jailPlan.spec, {
      logPath: logLevel ? paths.vmm.logFile : null,
      logLevel: logLevel ?? 'Warning',
      metricsPath: this.cfg.metrics ? paths.vmm.metricsFile : null,
    });
    let requests = boot;
    if (restoreFrom !== null) {
      // A snapshot carries the machine (sizes, drives, NIC): only the logger and metrics are set before the load.
      const files = snapshotFiles(paths, restoreFrom);
      requests = [...boot.filter((r) => r.path === '/logger' || r.path === '/metrics'), planSnapshotLoad(files, spec.net.tap)];
      if (paths.chrootDir) {
        jailPlan.links.push({ from: restoreFrom, to: files.vmstate.host, chown: true }, { from: `${restoreFrom}.mem`, to: files.memory.host, chown: true });
      }
    }
    const jail = this.jailer ? await this.jailFor(spec) : null;
    const launch = planLaunchArgv(spec.vmId, this.cfg.binary, jail, paths, spec);

    const createdRunDir = !(await exists(paths.runDir));
    const consoleLogSize = (await stat(paths.consoleLog).catch(() => null))?.size ?? null;
    await mkdir(paths.runDir, { recursive: true, mode: 0o700 });
    await this.reap(paths); // a holder orphaned by a crash, stale sockets and pidfiles
    let holderPid: number | null = null;
    try {
      await this.prepareFiles(paths, jailPlan.links, logLevel !== null, jail);
      const out = await open(paths.stderrLog, 'a', 0o600);
      try {
        holderPid = spawnDetached(process.execPath, [...holderNodeArgs(), ...planHolderArgs(paths, launch, this.cfg.consoleLogMaxBytes)], {
          cwd: paths.runDir,
          stdoutFd: out.fd,
        });
      } finally {
        await out.close();
      }
      await writeFile(paths.holderPidfile, `${holderPid}\n`, { mode: 0o600 });
      const api = new FirecrackerApi(paths.apiSocket, this.cfg.apiTimeoutMs ?? 10_000);
      await this.waitForApi(paths, api, holderPid);
      for (const req of requests) await api.send(req, restoreFrom !== null && req.path === '/snapshot/load' ? SNAPSHOT_TIMEOUT_MS : undefined);
      const st = await this.status(spec.vmId);
      if (!st.running) throw new FcmError('hypervisor_failed', `Firecracker exited right after ${restoreFrom === null ? 'InstanceStart' : 'loading its snapshot'}.`);
      await writeFile(join(paths.runDir, LAUNCHED_SPEC), JSON.stringify(spec), { mode: 0o600 });
      this.log.info({ vmId: spec.vmId, pid: st.pid, holderPid, restored: restoreFrom !== null }, 'firecracker started');
      return st;
    } catch (err) {
      const output = await this.output(paths, consoleLogSize ?? 0);
      await this.killVmm(paths);
      await this.reap(paths, { holderPid, graceMs: 200 });
      // Undo exactly what this start created.
      await Promise.all([paths.stderrLog, paths.logFile, paths.metricsFile].map((f) => rm(f, { force: true })));
      if (createdRunDir) await rm(paths.runDir, { recursive: true, force: true });
      else if (consoleLogSize === null) await rm(paths.consoleLog, { force: true });
      const detail = err instanceof Error ? err.message : String(err);
      this.log.warn({ vmId: spec.vmId, err: detail }, 'firecracker start failed');
      throw new FcmError('hypervisor_failed', `Firecracker did not start: ${detail}${output ? ` — output: ${output}` : ''}`, { cause: err });
    }
  }

  async stop(vmId: string, timeoutMs: number): Promise<'graceful' | 'forced' | 'absent'> {
    const paths = this.paths(vmId);
    const st = await this.status(vmId);
    if (!st.running || st.pid === null) {
      await this.reap(paths);
      return 'absent';
    }
    const pid = st.pid;
    if (timeoutMs > 0) {
      const api = new FirecrackerApi(paths.apiSocket, Math.min(timeoutMs, 5000));
      const asked = await api.send(planStopRequest()).then(
        () => true,
        (e: unknown) => {
          this.log.warn({ vmId, err: e instanceof Error ? e.message : String(e) }, 'SendCtrlAltDel failed; forcing');
          return false;
        },
      );
      if (asked && (await waitGone(pid, timeoutMs))) {
        await this.reap(paths);
        return 'graceful';
      }
    }
    await this.killVmm(paths);
    await this.reap(paths);
    this.log.info({ vmId, pid }, 'firecracker killed');
    return 'forced';
  }

  async status(vmId: string): Promise<MachineStatus> {
    const paths = this.paths(vmId);
    const pid = await this.ownPid(paths.pidfile, vmId, 'firecracker');
    return pid === null ? { running: false, pid: null } : { running: true, pid };
  }

  async list(): Promise<string[]> {
    const names = await readdir(this.cfg.runDir).catch(() => [] as string[]);
    return names.filter((n) => /^vm_[0-9a-f]+$/.test(n));
  }

  async destroy(vmId: string): Promise<void> {
    const paths = this.paths(vmId);
    await this.stop(vmId, 0);
    await rm(paths.runDir, { recursive: true, force: true });
    if (paths.jailDir) await rm(paths.jailDir, { recursive: true, force: true });
  }

  // ---- Snapshotter: sleep and wake through Firecracker's snapshot API ----

  /**
   * Pauses the VM and writes a full snapshot: the microVM state to `statePath`, its memory
   * to `<statePath>.mem` (both root's, 0600). Jailed, Firecracker writes them inside its
   * chroot and they are moved out (the chroot base is on the disks' filesystem). The VM is
   * left paused.
   */
  async saveState(vmId: string, statePath: string): Promise<void> {
    const paths = this.paths(vmId);
    const st = await this.status(vmId);
    if (!st.running) throw new FcmError('hypervisor_failed', `cannot save ${vmId}: Firecracker is not running`);
    const api = new FirecrackerApi(paths.apiSocket, this.cfg.apiTimeoutMs ?? 10_000);
    const files = snapshotFiles(paths, statePath);
    await api.send(planVmState('Paused'));
    await api.send(planSnapshotCreate(files), SNAPSHOT_TIMEOUT_MS);
    if (paths.chrootDir) {
      await rename(files.vmstate.host, statePath);
      await rename(files.memory.host, `${statePath}.mem`);
    }
    for (const f of [statePath, `${statePath}.mem`]) {
      await chown(f, 0, 0);
      await chmod(f, 0o600);
    }
  }

  restore(spec: MachineSpec, statePath: string): Promise<MachineStatus> {
    return this.launch(spec, statePath);
  }

  async resume(vmId: string): Promise<void> {
    const paths = this.paths(vmId);
    await new FirecrackerApi(paths.apiSocket, this.cfg.apiTimeoutMs ?? 10_000).send(planVmState('Resumed'));
  }

  async pause(vmId: string): Promise<void> {
    const paths = this.paths(vmId);
    await new FirecrackerApi(paths.apiSocket, this.cfg.apiTimeoutMs ?? 10_000).send(planVmState('Paused'));
  }

  async waitConsole(vmId: string, text: string, timeoutMs: number): Promise<void> {
    const log = this.paths(vmId).consoleLog;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if ((await readFile(log, 'utf8').catch(() => '')).includes(text)) return;
      if (Date.now() > deadline) throw new FcmError('hypervisor_failed', `${vmId}: the console did not print ${JSON.stringify(text)} within ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  /** The spec this process was started or restored with (written once Firecracker took it). */
  async launchedSpec(vmId: string): Promise<MachineSpec | null> {
    if (!(await this.status(vmId)).running) return null;
    const text = await readFile(join(this.paths(vmId).runDir, LAUNCHED_SPEC), 'utf8').catch(() => null);
    try {
      const spec = text === null ? null : (JSON.parse(text) as MachineSpec);
      return spec && spec.vmId === vmId ? spec : null;
    } catch {
      return null;
    }
  }

  /** Where the guest's serial console is exposed (used by the console service). */
  console(vmId: string): ConsoleEndpoint {
    const p = this.paths(vmId);
    return { socketPath: p.consoleSocket, logPath: p.consoleLog };
  }

  /**
   * The uid/gid for this start: configured, or the owner the VM's tap was
   * made for (the jailed Firecracker opens the tap as that uid, and only
   * its owner may).
   */
  private async jailFor(spec: MachineSpec): Promise<FcJail> {
    const j = this.jailer!;
    if (j.uid !== null && j.gid !== null) return { ...j, uid: j.uid, gid: j.gid };
    const owner = spec.net.tap ? await tapOwner(spec.net.tap).catch(() => null) : null;
    if (owner === null) throw new FcmError('hypervisor_failed', `tap ${spec.net.tap} has no owner: with one uid per VM its tap must be made for that uid.`);
    return { ...j, uid: owner, gid: owner };
  }

  private paths(vmId: string): FcRunPaths {
    return runPaths(this.cfg.runDir, vmId, this.cfg.binary, this.jailer);
  }

  /** The pid in `pidfile`, if that process is alive and is this VM's `role` (pid-reuse guard). */
  private async ownPid(pidfile: string, vmId: string, role: 'firecracker' | 'holder'): Promise<number | null> {
    const pid = Number((await readFile(pidfile, 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(pid) || pid <= 0 || (await isGone(pid))) return null;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    return cmdlineRole(cmdline, vmId) === role ? pid : null;
  }

  /** Fresh per-start files; under the jailer, a fresh chroot with the VM's files linked in. */
  private async prepareFiles(paths: FcRunPaths, links: FcLink[], logger: boolean, jail: FcJail | null): Promise<void> {
    await writeFile(paths.stderrLog, '', { mode: 0o600 });
    const owned: string[] = [];
    if (paths.jailDir && paths.chrootDir && this.jailer) {
      // The jailer mknods /dev/kvm and /dev/net/tun in the chroot and fails if they exist.
      await rm(paths.jailDir, { recursive: true, force: true });
      await mkdir(paths.chrootDir, { recursive: true, mode: 0o750 });
      for (const l of links) {
        try {
          await link(l.from, l.to);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'EXDEV' && !l.chown) await copyFile(l.from, l.to); // kernel/initrd: a copy is as good
          else {
            throw new FcmError('hypervisor_failed', `Cannot link ${l.from} into the jail (${code ?? String(e)}); jailer.chrootBase must be on the same filesystem as the VM disks.`, { cause: e });
          }
        }
        if (l.chown) owned.push(l.to);
      }
    }
    // Firecracker opens but never creates its log and metrics files; truncate so a restart starts clean.
    if (logger) {
      await writeFile(paths.logFile, '', { mode: 0o600 });
      owned.push(paths.logFile);
    }
    if (this.cfg.metrics) {
      await writeFile(paths.metricsFile, '', { mode: 0o600 });
      owned.push(paths.metricsFile);
    }
    if (jail) {
      for (const f of owned) await chown(f, jail.uid, jail.gid);
    }
  }

  /** Waits until the API answers; fails fast when the holder or Firecracker dies first. */
  private async waitForApi(paths: FcRunPaths, api: FirecrackerApi, holderPid: number): Promise<void> {
    const timeoutMs = this.cfg.startTimeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await isGone(holderPid)) throw new FcmError('hypervisor_failed', 'the process exited before its API socket appeared');
      const fcPid = Number((await readFile(paths.pidfile, 'utf8').catch(() => '')).trim());
      if (fcPid > 0 && (await isGone(fcPid))) throw new FcmError('hypervisor_failed', 'Firecracker exited before its API socket appeared');
      if (await exists(paths.apiSocket)) {
        try {
          await api.send(PROBE_REQUEST, 2000);
          return;
        } catch (e) {
          // Between bind() and listen() a connect is refused; anything else is real.
          if (!/ECONNREFUSED|ENOENT/.test(e instanceof Error ? e.message : '')) throw e;
        }
      }
      if (Date.now() > deadline) throw new FcmError('hypervisor_failed', `its API socket did not answer within ${timeoutMs} ms`);
      await sleep(20);
    }
  }

  /** SIGKILL Firecracker (after its identity check) and wait until it is gone. */
  private async killVmm(paths: FcRunPaths): Promise<void> {
    const pid = await this.ownPid(paths.pidfile, vmIdOf(paths), 'firecracker');
    if (pid === null) return;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    await waitGone(pid, 5000);
  }

  /**
   * After Firecracker is gone: let the holder finish (it exits once
   * Firecracker's stdout closes, with the console log complete); if it
   * doesn't, SIGTERM it (it SIGKILLs its child, the one pid it knows for
   * sure, then exits), then SIGKILL. Removes the runtime files; logs stay
   * until destroy().
   */
  private async reap(paths: FcRunPaths, opts: { holderPid?: number | null; graceMs?: number } = {}): Promise<void> {
    const vmId = vmIdOf(paths);
    const holder = opts.holderPid ?? (await this.ownPid(paths.holderPidfile, vmId, 'holder'));
    if (holder !== null && !(await waitGone(holder, opts.graceMs ?? 2000))) {
      this.log.warn({ vmId, pid: holder }, 'console holder still running without its VM; terminating it');
      for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
        try {
          process.kill(holder, sig);
        } catch {
          /* gone */
        }
        if (await waitGone(holder, 2000)) break;
      }
    }
    for (const f of [paths.pidfile, paths.holderPidfile, paths.consoleSocket, paths.apiSocket, `${paths.pidfile}.tmp`, join(paths.runDir, LAUNCHED_SPEC)]) {
      await unlink(f).catch(() => {});
    }
    if (paths.jailDir) await rm(paths.jailDir, { recursive: true, force: true });
  }

  /** What the process printed: stderr (argument errors, panics) and this start's console output. */
  private async output(paths: FcRunPaths, consoleFrom: number): Promise<string> {
    const parts: string[] = [];
    const err = await tail(paths.stderrLog, 0, 1500);
    const lines = err
      .split('\n')
      .filter((l) => l.trim() && !/console-holder\[\d+\]: started /.test(l))
      .map((l) => l.replace(/^\S+Z console-holder\[\d+\]: /, ''));
    if (lines.length) parts.push(lines.join(' | '));
    const con = (await tail(paths.consoleLog, consoleFrom, 500)).trim();
    if (con) parts.push(`console: ${con.replace(/\s*\n\s*/g, ' | ')}`);
    return parts.join(' ; ').slice(-1500);
  }
}

/** The launched machine, beside the pidfiles: what a save must be restored as. */
const LAUNCHED_SPEC = 'spec.json';
/** Writing or loading a guest's memory takes longer than a configuration call. */
const SNAPSHOT_TIMEOUT_MS = 120_000;

function vmIdOf(paths: FcRunPaths): string {
  return paths.runDir.split('/').pop()!;
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

async function tail(file: string, from: number, maxBytes: number): Promise<string> {
  const fh = await open(file, 'r').catch(() => null);
  if (!fh) return '';
  try {
    const size = (await fh.stat()).size;
    const start = Math.max(from, size - maxBytes);
    if (size <= start) return '';
    const buf = Buffer.alloc(size - start);
    await fh.read(buf, 0, buf.length, start);
    return buf.toString('utf8');
  } finally {
    await fh.close();
  }
}

/** Gone = no such process, or a zombie nobody reaped yet (PID 1 in a container may never reap). */
async function isGone(pid: number): Promise<boolean> {
  if (!pidAlive(pid)) return true;
  const st = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (st === null) return !pidAlive(pid);
  const state = st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3);
  return state === 'Z' || state === 'X';
}

async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await isGone(pid)) return true;
    await sleep(25);
  }
  return isGone(pid);
}

let holderArgsCache: string[] | null = null;

/**
 * Node arguments that run console-holder next to this module: the compiled
 * .js in production; from source (tsx, tests) the .ts with tsx's loader.
 */
function holderNodeArgs(): string[] {
  if (holderArgsCache) return holderArgsCache;
  const self = fileURLToPath(import.meta.url);
  const ext = extname(self);
  const script = join(dirname(self), `console-holder${ext}`);
  holderArgsCache =
    ext === '.ts' ? ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href, script] : [script];
  return holderArgsCache;
}


/** Re-exported for hypervisor auto-selection in the composition root. */
export { firecrackerUsable, type FirecrackerProbe } from './firecracker-usable.js';
