/**
 * The composition root: the only module that imports both core and drivers.
 * Reads config, wires drivers into the core services, reconciles with what
 * is running, serves the API. VMs are detached processes: stopping the
 * daemon never stops them.
 */
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdirSync, readFileSync, renameSync, statfsSync, writeFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spec } from '../api/spec.gen.js';
import { ensureAdminToken } from './admin-token.js';
import { loadOrCreateSecret } from './secrets.js';
import { AgentKeys } from './core/agent-keys.js';
import { wireAuth } from './auth-wiring.js';
import { ConfigError, hostTscKhz, loadConfig, type Config } from './config.js';
import type { Hypervisor } from './core/ports/hypervisor.js';
import { ConsoleService } from './core/console-service.js';
import { SocketConsole } from './drivers/console-socket.js';
import { ConsoleLogCap } from './drivers/console-log-cap.js';
import { consoleHandlers, consoleRoutes } from './http/routes/console.js';
import { runRoutes } from './http/routes/run.js';
import { RunService } from './core/run-service.js';
import { AgentExec } from './drivers/agent-exec.js';
import { vmHost, vmUrl } from './core/planners/url.js';
import { VmService } from './core/vm-service.js';
import { FastBootService } from './core/fast-boot.js';
import { diskCheck, warmPoolCheck } from './health-checks.js';
import { WakeProxy } from './http/wake-proxy.js';
import { CaddyAccessLog } from './drivers/caddy-access-log.js';
import { IdleSleeper } from './core/idle-sleep.js';
import { FileSavedStates } from './drivers/saved-states.js';
import { FileSnapshots } from './drivers/vm-snapshots.js';
import { FileTemplateStore } from './drivers/template-store.js';
import { templateRamUnusable } from './drivers/qemu/template-ram.js';
import { RouteService } from './core/routes.js';
import { planCaddyConfig } from './core/planners/caddy-config.js';
import { CaddyProxy } from './drivers/caddy-proxy.js';
import { AgentGuest } from './drivers/agent-guest.js';
import { CowDisks } from './drivers/cow-disks.js';
import { FileImages } from './drivers/file-images.js';
import { LinuxNetwork } from './drivers/linux-network.js';
import { run } from './drivers/proc.js';
import { probeAccel } from './drivers/qemu/accel-probe.js';
import { QemuHypervisor } from './drivers/qemu/qemu-hypervisor.js';
import { planProcessFlags, PRCTL_SYSCALL } from './drivers/qemu/qemu-confine.js';
import { enableKsm, ksmCounters } from './drivers/ksm-host.js';
import { VmCgroups } from './drivers/cgroups.js';
import { VmmUsers } from './drivers/vmm-users.js';
import { openStores, sqlitePath } from './store-wiring.js';
import { MigrationError, migrateToPostgres } from './migrate-to-postgres.js';
import { GuestAgentRuntime } from './drivers/guest-agent-runtime.js';
import { gitRepos, openGitDoors, wireDeploys } from './deploy-wiring.js';
import { buildServer, type Handler } from './http/server.js';
import { RequestLimits } from './http/limits.js';
import { FcmError } from './core/errors.js';
import { rowsVersionOf } from './core/ports/vm-store.js';
import { systemHandlers } from './http/routes/system.js';
import { hostsView, vmHandlers, type VmView } from './http/routes/vms.js';
import { hostHandlers } from './http/routes/hosts.js';
import { clusterHttp } from './http/forward.js';
import { HostService } from './core/hosts.js';
import { backupBodies, backupHandlers } from './http/routes/backups.js';
import { BackupService } from './core/backups.js';
import { ForkService } from './core/forks.js';
import { forkHandlers } from './http/routes/forks.js';
import { QemuImgDiskArchive } from './drivers/disk-archive.js';
import { pendingHandlers } from './http/routes/pending.js';
import { operationRoutes } from './http/openapi-routes.js';
import { createLogger, type Logger } from './log.js';
import { HostAdmission, hostCapacity } from './core/admission.js';
import { QuotaService } from './core/quotas.js';
import type { Principal } from './core/model.js';
import { quotaHandlers } from './http/routes/quotas.js';
import { DomainService } from './core/domains.js';
import { DnsTxt } from './drivers/dns-txt.js';
import { domainHandlers } from './http/routes/domains.js';

export const VERSION: string = (() => {
  try {
    const pkg = join(fileURLToPath(import.meta.url), '..', '..', '..', 'package.json');
    return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
  } catch {
    try {
      return (JSON.parse(readFileSync(join(fileURLToPath(import.meta.url), '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      return '0.0.0';
    }
  }
})();

/** The shape `fcm create` gives without options (the defaults in openapi.yaml): the one kept warm. */
const DEFAULT_SHAPE = (() => {
  const p = spec.components.schemas.CreateVmRequest.properties as Record<string, { default: number }>;
  return { vcpus: p.vcpus!.default, memoryMib: p.memoryMib!.default, diskMib: p.diskMib!.default, swapMib: p.swapMib!.default, port: p.port!.default };
})();

/** The first label of the API's default name, `fcm.<public ip with dashes>.<base domain>`; no VM may take it. */
const API_LABEL = 'fcm';

/** createVm refuses the name whose URL would be the API's (the API's route would shadow it anyway). */
function reserveApiName(handlers: Record<string, Handler>, apiHost: string | null, defaultApiHost: string): Record<string, Handler> {
  if (!apiHost || apiHost !== defaultApiHost) return handlers;
  const create = handlers.createVm!;
  return {
    ...handlers,
    createVm: (c) => {
      if ((c.body as { name?: unknown }).name === API_LABEL) {
        throw new FcmError('name_taken', `The name "${API_LABEL}" is reserved: https://${apiHost} is this server's API.`);
      }
      return create(c);
    },
  };
}

/**
 * FCM_TLS=internal: writes Caddy's root CA to `path` (0644, a certificate is
 * public) once Caddy has made it, and again whenever it changes, so users
 * can copy it next to the admin token (`fcm login --ca-file`). Retries
 * until Caddy answers; stops on abort.
 */
function exportInternalCa(caddy: CaddyProxy, path: string, log: Logger): AbortController {
  const ac = new AbortController();
  void (async () => {
    let last = '';
    try {
      last = readFileSync(path, 'utf8');
    } catch {
      /* not written yet */
    }
    let delayMs = 1000;
    while (!ac.signal.aborted) {
      try {
        const pem = await caddy.internalRootCa();
        if (pem && pem !== last) {
          writeFileSync(`${path}.tmp`, pem, { mode: 0o644 });
          renameSync(`${path}.tmp`, path);
          last = pem;
          log.info({ path }, "wrote Caddy's internal root CA (clients: fcm login --ca-file)");
        }
        delayMs = 60_000;
      } catch {
        delayMs = Math.min(delayMs * 2, 30_000);
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, delayMs);
        t.unref();
        ac.signal.addEventListener('abort', () => {
          clearTimeout(t);
          r();
        }, { once: true });
      });
    }
  })();
  return ac;
}

export interface Daemon {
  url: string;
  /**
   * A configuration read again (SIGHUP): the allowlists apply at once — to
   * every token's next request, and what removed users hold open is ended.
   * Other settings wait for a restart (logged).
   */
  reload(next: Readonly<Config>): void;
  close(): Promise<void>;
}

async function selectHypervisor(cfg: Config, images: FileImages, log: Logger, vmm: VmmWiring): Promise<Hypervisor> {
  if (cfg.hypervisor === 'firecracker' || cfg.hypervisor === 'auto') {
    const fc = await import('./drivers/firecracker/firecracker-hypervisor.js').catch(() => null);
    if (fc) {
      const probe = await fc.firecrackerUsable(cfg.firecrackerBinary);
      if (probe.usable) {
        log.info({ reason: probe.reason, jailer: cfg.firecrackerJailer?.binary ?? 'off' }, 'hypervisor: firecracker');
        const j = cfg.firecrackerJailer;
        return new fc.FirecrackerHypervisor({
          // The jailer wants an absolute --exec-file.
          binary: j ? onPath(cfg.firecrackerBinary) : cfg.firecrackerBinary,
          runDir: join(cfg.stateDir, 'run'),
          jailer: j ? { binary: j.binary, uid: j.uid, gid: j.gid, chrootBase: j.chrootBase, cgroups: jailerCgroups(vmm.cgroups, cfg) } : null,
          consoleLogMaxBytes: cfg.consoleLogMib * 1024 * 1024,
        }, log);
      }
      if (cfg.hypervisor === 'firecracker') throw new ConfigError(`FCM_HYPERVISOR=firecracker but it is not usable: ${probe.reason}`);
      log.info({ reason: probe.reason }, 'firecracker not usable; using QEMU');
    } else if (cfg.hypervisor === 'firecracker') {
      throw new ConfigError('FCM_HYPERVISOR=firecracker but the Firecracker driver is not available');
    }
  }
  let kernel: string | null = null;
  try {
    kernel = images.resolve('base').kernelPath;
  } catch {
    kernel = null;
  }
  const accel =
    cfg.accel === 'auto'
      ? await probeAccel({ qemuBinary: cfg.qemuBinary, kernelPath: kernel, cacheFile: join(cfg.stateDir, 'accel-probe.json') })
      : { accel: cfg.accel, reason: 'FCM_ACCEL' };
  log.info({ accel: accel.accel, reason: accel.reason, confine: cfg.vmm.confine, cgroups: vmm.cgroups.status() }, 'hypervisor: qemu');
  if (cfg.vmm.ksm.enabled) {
    // The launcher's prctl tried once at start: on a kernel without it (< 6.4) the daemon refuses to start, rather than every create failing.
    const nr = PRCTL_SYSCALL[process.arch];
    if (nr !== undefined) {
      const probe = planProcessFlags({ cmd: '/bin/true', args: [] }, nr, { noHugePages: false, memoryMerge: true });
      await run(probe.cmd, probe.args).catch((e: Error) => {
        throw new Error(`FCM_KSM: this host cannot make a process's memory mergeable (PR_SET_MEMORY_MERGE: Linux >= 6.4, as root): ${e.message}`, { cause: e });
      });
    }
    // Host-wide, and left on at exit: VMs outlive the daemon, and so does their merged memory.
    await enableKsm(cfg.vmm.ksm);
    log.info({ ...cfg.vmm.ksm, ...(await ksmCounters()) }, 'ksm: ksmd on, QEMU memory mergeable (FCM_KSM)');
  }
  return new QemuHypervisor({
    binary: cfg.qemuBinary,
    runDir: join(cfg.stateDir, 'run'),
    accel: accel.accel,
    confine: cfg.vmm.confine
      ? { bwrap: cfg.vmm.bwrap, setpriv: cfg.vmm.setpriv, users: vmm.users, sharedRoots: [cfg.imagesDir, cfg.snapshots.dir] }
      : null,
    cgroups: vmm.cgroups,
    memoryOverheadMib: cfg.vmm.memoryOverheadMib,
    tcgTbMib: cfg.vmm.tcgTbMib,
    tcgRestoreTbMib: cfg.vmm.tcgRestoreTbMib,
    transparentHugePages: cfg.vmm.qemuThp,
    memoryMerge: cfg.vmm.ksm.enabled,
    malloc: cfg.vmm.malloc,
  }, log);
}

/** `bin` as an absolute path (searched on PATH when it has no slash); unchanged if not found. */
function onPath(bin: string): string {
  if (bin.includes('/')) return bin;
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = join(dir, bin);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return bin;
}

interface VmmWiring {
  users: VmmUsers;
  cgroups: VmCgroups;
}

/** The jailer makes the cgroups itself: tell it the version, the parent and the per-VM limits. */
function jailerCgroups(cg: VmCgroups, cfg: Config): { version: 1 | 2; parent: string; overheadMib: number } | null {
  const version = cg.status().version;
  return version ? { version, parent: cfg.vmm.cgroupParent, overheadMib: cfg.vmm.memoryOverheadMib } : null;
}

/** Confinement needs bwrap and setpriv: refuse to start without them rather than run QEMU as root. */
async function checkConfinementTools(cfg: Config): Promise<void> {
  if (!cfg.vmm.confine) return;
  for (const bin of [cfg.vmm.bwrap, cfg.vmm.setpriv]) {
    try {
      await run(bin, ['--version']);
    } catch {
      throw new ConfigError(`${bin} is needed to confine QEMU (Debian: apt-get install bubblewrap util-linux), or set FCM_VMM_CONFINE=false to run it as root without a sandbox`);
    }
  }
}

/** Public IP for URLs: configured, else the source address the host would use to reach the internet (no packet is sent). */
async function publicIp(cfg: Config): Promise<string> {
  if (cfg.publicIp) return cfg.publicIp;
  try {
    const { stdout } = await run('ip', ['-j', 'route', 'get', '1.1.1.1']);
    const r = JSON.parse(stdout) as { prefsrc?: string }[];
    if (r[0]?.prefsrc) return r[0].prefsrc;
  } catch {
    /* no default route (e.g. inside a test namespace) */
  }
  return '127.0.0.1';
}

export async function startDaemon(cfg: Readonly<Config>, log: Logger = createLogger(cfg.logLevel)): Promise<Daemon> {
  if (process.getuid?.() !== 0) throw new ConfigError('the fcm daemon must run as root (it manages taps, bridges and VMs): sudo fcm daemon');
  mkdirSync(cfg.stateDir, { recursive: true, mode: 0o700 });
  const db = openStores(cfg);
  log.info({ database: db.kind }, 'state database opened');
  const images = new FileImages(cfg.imagesDir);
  await checkConfinementTools(cfg);
  const vmm: VmmWiring = {
    users: new VmmUsers({ base: cfg.vmm.uidBase, count: cfg.vmm.uidCount }),
    cgroups: await VmCgroups.open(cfg.vmm.cgroups, cfg.vmm.cgroupParent),
  };
  const hypervisor = await selectHypervisor(cfg, images, log, vmm);
  const store = db.vms;
  // An unprivileged hypervisor can attach only to a tap its uid owns: each tap is made for its VM's uid.
  const fixedUid = hypervisor.kind === 'firecracker' ? cfg.firecrackerJailer?.uid ?? null : null;
  const confined = hypervisor.kind === 'qemu' ? cfg.vmm.confine : cfg.firecrackerJailer !== null;
  const network = new LinuxNetwork(
    {
      bridge: cfg.network.bridge,
      gatewayCidr: cfg.network.gatewayCidr,
      subnetCidr: cfg.network.subnetCidr,
      nat: cfg.network.nat,
      egressAllow: cfg.network.egressAllow,
      dns: cfg.network.dns,
      tapOwner: !confined ? null : fixedUid !== null ? { allocate: async () => fixedUid, release: () => {} } : vmm.users,
    },
    log.child({ drv: 'network' }),
  );
  const caps = hypervisor.capabilities;
  const disks = new CowDisks({
    dir: join(cfg.stateDir, 'disks'),
    format: caps.diskFormats[0],
    minFreeMib: cfg.minFreeDiskMib,
  });
  const ip = await publicIp(cfg);
  const agentKeys = new AgentKeys(loadOrCreateSecret(cfg.stateDir, 'agent.key'));
  const vmImages = hypervisor.kind === 'firecracker' ? new FileImages(cfg.imagesDir, cfg.firecrackerKernel) : images;
  const tscKhz = hypervisor.accel === 'tcg' ? hostTscKhz() : null;
  // Shared template RAM needs the memfd helper (drivers/qemu/template-ram.ts); without it, restore by copy.
  const ramUnusable = cfg.snapshots.enabled && caps.snapshots && hypervisor.kind === 'qemu' && cfg.snapshots.ram === 'shared' ? templateRamUnusable() : null;
  if (ramUnusable) log.warn({ why: ramUnusable }, 'template RAM cannot be shared on this host; restored VMs get a copy each (FCM_TEMPLATE_RAM=copy)');
  const templateRam = ramUnusable ? 'copy' : cfg.snapshots.ram;
  const fastBoot =
    // Templates are qcow2 overlays on a frozen root (CowDisks.createFromTemplate): raw-only drivers (Firecracker) save machines for sleep only.
    cfg.snapshots.enabled && caps.snapshots && caps.diskFormats.includes('qcow2')
      ? new FastBootService({
          hypervisor,
          snapshotter: caps.snapshots,
          disks,
          network,
          templates: new FileTemplateStore(cfg.snapshots.dir),
          agentKeys,
          log: log.child({ svc: 'fastboot' }),
          config: {
            shapes: [DEFAULT_SHAPE],
            poolSize: cfg.snapshots.poolSize,
            accel: hypervisor.accel,
            tscKhz,
            agentPort: cfg.agentPort,
            buildTimeoutMs: cfg.bootTimeoutMs,
            refillDelayMs: cfg.snapshots.refillDelayMs,
            ram: templateRam,
          },
          // Memory permitting: a pooled machine is only made while the host can hold it beside everything committed.
          room: (): boolean => {
            const c: { memoryMib: number } = host.committed(store.list());
            return c.memoryMib + cfg.vmm.memoryOverheadMib <= capacity.memoryMib;
          },
        })
      : undefined;
  const users = db.users;
  const repos = await gitRepos(cfg.stateDir, { user: cfg.git.user, log });
  const envStore = db.env;
  // Set once login is wired (below); admins are unlimited.
  let principalFor: (userId: string) => Principal | null = () => null;
  const quotas = new QuotaService({
    defaults: cfg.quotaDefaults,
    overrides: db.quotas,
    vms: () => store.list(),
    isAdmin: (id) => id === 'admin' || principalFor(id)?.admin === true,
    env: (id) => envStore.get(id),
    repoBytes: (id) => repos.size(id),
    users,
  });
  const capacity = hostCapacity({
    hostMemoryMib: cfg.admission.hostMemoryMib ?? Math.floor(totalmem() / 1024 / 1024),
    hostCpus: cfg.admission.hostCpus ?? availableParallelism(),
    memoryOvercommit: cfg.admission.memoryOvercommit,
    memoryReserveMib: cfg.admission.memoryReserveMib,
    cpuOvercommit: cfg.admission.cpuOvercommit,
  });
  // Warm-pool machines are running QEMUs too. Paused, one holds at most its VMM's overhead (the
  // pages it touched warming up included) and cannot grow; a claim makes it a VM of its full size.
  const host: HostAdmission = new HostAdmission(capacity, () => {
    const n: number = fastBoot?.pooled().length ?? 0;
    return { vcpus: n * DEFAULT_SHAPE.vcpus, memoryMib: n * Math.min(DEFAULT_SHAPE.memoryMib, cfg.vmm.memoryOverheadMib) };
  }, cfg.host.id);
  log.info({ capacity }, 'host admission capacity');
  // The API behind Caddy (HTTPS) at its own name, proxied to the plain listener on this host.
  const apiHost = cfg.api.proxied ? (cfg.api.host ?? vmHost(API_LABEL, ip, cfg.baseDomain)) : null;
  // This daemon as a host of the cluster (of one, on SQLite). Registered before reconcile: a daemon
  // that still holds this host id (killed a moment ago) must have lost its lease before we touch its VMs.
  const selfInfo = (apiUrl: string) => ({
    id: cfg.host.id,
    publicIp: ip,
    apiUrl,
    vcpus: capacity.vcpus,
    memoryMib: capacity.memoryMib,
    diskMib: (() => {
      const st = statfsSync(cfg.stateDir);
      return Math.floor((st.blocks * st.bsize) / 1024 / 1024);
    })(),
    subnetCidr: cfg.network.subnetCidr,
  });
  const apiUrlNow = (port: number) => cfg.publicUrl ?? (apiHost ? `https://${apiHost}${cfg.proxy.httpsPort === 443 ? '' : `:${cfg.proxy.httpsPort}`}` : `http://${ip}:${port}`);
  const hosts = new HostService({
    registry: db.hosts,
    self: selfInfo(apiUrlNow(cfg.listen.port)),
    vms: () => store.list(),
    log: log.child({ svc: 'hosts' }),
    config: { leaseMs: cfg.host.leaseMs, renewMs: cfg.host.renewMs },
    onLost: () => process.kill(process.pid, 'SIGTERM'),
  });
  await hosts.join(cfg.host.leaseMs * 2 + 5_000);
  const vmSaved = new FileSavedStates(join(cfg.stateDir, 'disks'));
  const vms = new VmService({
    hostId: cfg.host.id,
    hosts,
    fastBoot,
    saved: vmSaved,
    snapshotFiles: new FileSnapshots(disks),
    diskForks: disks,
    maxSnapshotsPerVm: cfg.vmSnapshots.maxPerVm,
    quotas,
    host,
    store,
    hypervisor,
    network,
    disks,
    images: vmImages,
    guest: new AgentGuest(cfg.agentPort, (id) => agentKeys.tokenFor(id)),
    agentKeys,
    log: log.child({ svc: 'vms' }),
    config: {
      subnet: cfg.network.subnet,
      agentPort: cfg.agentPort,
      dns: cfg.network.dns,
      tscKhz,
      bootTimeoutMs: cfg.bootTimeoutMs,
      restartPolicy: cfg.restartPolicy,
      maxRestarts: cfg.restartMax,
      restartWindowMs: cfg.restartWindowMs,
      monitorIntervalMs: cfg.monitorIntervalMs,
      reservedDomainSuffix: `.${vmHost('x', ip, cfg.baseDomain).split('.').slice(1).join('.')}`,
      // The server's own names (its public URL's, the API's) can never be a VM's custom domain.
      reservedDomains: {
        names: [...new Set([new URL(cfg.publicUrl ?? `http://${ip}`).hostname.toLowerCase(), ...(apiHost ? [apiHost] : [])])],
        zones: [cfg.baseDomain.toLowerCase()],
      },
    },
  });
  await vms.reconcile();
  vms.startMonitor();
  // QEMU appends to each VM's console log itself; the daemon keeps them capped (the Firecracker
  // console holder caps its own). The first scan also trims what grew while the daemon was down.
  const consoleLogCap =
    hypervisor.kind === 'qemu'
      ? new ConsoleLogCap({ runDir: join(cfg.stateDir, 'run'), capBytes: cfg.consoleLogMib * 1024 * 1024, log: log.child({ svc: 'console-log' }) })
      : null;
  consoleLogCap?.start();
  // After reconcile (which removes machines left in a previous daemon's pool as orphans).
  fastBoot?.start(() => {
    try {
      return images.resolve('base');
    } catch {
      return null;
    }
  });

  // The API behind Caddy: its route (below) proxies to the plain listener on this host.
  const upstreamHost = /^(0\.0\.0\.0|::|)$/.test(cfg.listen.host) ? '127.0.0.1' : cfg.listen.host;
  // FCM_PORT=0 (tests) is a port picked at listen: the route follows once it is known.
  let apiPort = cfg.listen.port;
  const apiUpstream = () => `${upstreamHost.includes(':') ? `[${upstreamHost}]` : upstreamHost}:${apiPort}`;
  const caddy = new CaddyProxy(cfg.proxy.adminUrl);
  const routes = new RouteService({
    // Each host's Caddy serves the VMs it runs.
    store: { list: () => store.list().filter((v) => v.host === cfg.host.id) },
    proxy: caddy,
    log: log.child({ svc: 'routes' }),
    watchIntervalMs: cfg.proxy.watchIntervalMs,
    plan: (list) =>
      planCaddyConfig({
        vms: list,
        publicIp: ip,
        baseDomain: cfg.baseDomain,
        tls: cfg.proxy.tls,
        adminListen: new URL(cfg.proxy.adminUrl).host,
        httpPort: cfg.proxy.httpPort,
        httpsPort: cfg.proxy.httpsPort,
        stripCookieDomain: cfg.stripCookieDomain,
        api: apiHost ? { host: apiHost, upstream: apiUpstream() } : null,
        wakeDial: `127.0.0.1:${cfg.proxy.wakePort}`,
        accessLogAddress: `tcp/127.0.0.1:${cfg.proxy.accessLogPort}`,
      }),
  });
  // Listening before the first route load: Caddy's net log writer must reach it when the config loads.
  const accessLog = new CaddyAccessLog();
  await accessLog.listen('127.0.0.1', cfg.proxy.accessLogPort);
  // Caddy sends requests for sleeping VMs to this loopback listener, which wakes them and serves the requests.
  const wakeProxy = new WakeProxy({
    awake: (name, timeoutMs, signal) => vms.awakeForRequest(name, timeoutMs, signal),
    log: log.child({ svc: 'wake' }),
    wakeTimeoutMs: cfg.proxy.wakeTimeoutMs,
  });
  await wakeProxy.listen('127.0.0.1', cfg.proxy.wakePort);
  const domains = new DomainService({
    store,
    resolver: new DnsTxt(cfg.dnsResolvers),
    key: loadOrCreateSecret(cfg.stateDir, 'domain.key'),
    vm: (p, name) => vms.get(p, name),
    changed: () => void routes.sync(),
  });
  vms.onChange(() => void routes.sync());
  routes.start();

  const tokens = db.tokens;
  const tokenPath = ensureAdminToken(cfg.stateDir, tokens, log);
  const publicUrl = cfg.publicUrl ?? (apiHost ? `https://${apiHost}${cfg.proxy.httpsPort === 443 ? '' : `:${cfg.proxy.httpsPort}`}` : `http://${ip}:${cfg.listen.port}`);
  // SSH reaches the host itself: the public IP, unless an FCM_PUBLIC_URL names the host.
  const sshHost = cfg.publicUrl ? new URL(cfg.publicUrl).hostname : ip;
  const auth = wireAuth(cfg, { tokens, users, publicUrl, log });
  principalFor = (id) => auth.accounts.principalFor(id);
  const view: VmView = {
    urlFor: (name: string, hostIp?: string) => vmUrl(name, hostIp ?? ip, cfg.baseDomain),
    hosts: hostsView(() => db.hosts.list()),
    gitUrls: (name: string) => ({ ssh: `root@${sshHost}:${name}.git`, http: `${publicUrl}/git/${name}.git` }),
    // SQLite: the daemon writes every row itself; PostgreSQL: other hosts write rows too, and no
    // version is kept (lists are built afresh on every request).
    rowsVersion: rowsVersionOf(store),
  };

  // The console belongs to the VM (the hypervisor holds it); the daemon only connects to it.
  const endpointOf = caps.console;
  if (!endpointOf) throw new ConfigError(`the ${hypervisor.kind} driver exposes no console endpoint`);
  const consoleLog = log.child({ svc: 'console' });
  const consoles = new ConsoleService({
    console: new SocketConsole({ endpoint: endpointOf, agentPort: cfg.agentPort, agentToken: (id) => agentKeys.tokenFor(id) }),
    vms,
    log: consoleLog,
    stillValid: (p) => auth.sessions.valid(p),
  });

  const runs = new RunService({ vms, exec: new AgentExec({ port: cfg.agentPort, tokenFor: (id) => agentKeys.tokenFor(id) }), bootTimeoutMs: cfg.bootTimeoutMs });

  const deploys = wireDeploys({
    vms,
    store,
    releases: db.releases,
    env: envStore,
    quotas,
    keys: db.keys,
    runtime: new GuestAgentRuntime({
      port: cfg.agentPort,
      tokenFor: (id) => agentKeys.tokenFor(id),
      stream: { maxTotalBytes: cfg.agent.outputMib * 1024 * 1024 },
      buildTimeoutMs: cfg.agent.buildTimeoutMs,
      callTimeoutMs: cfg.agent.callTimeoutMs,
    }),
    clientStallMs: cfg.clientStallMs,
    git: repos,
    userPrincipal: (userId) => auth.accounts.principalFor(userId),
    stillValid: (p) => auth.sessions.valid(p),
    urlFor: view.urlFor,
    log,
  });
  auth.sessions.start();
  // Idle sleep: VMs with sleepAfter, no request through Caddy, no console, no deploy for that long.
  const idle = new IdleSleeper({
    vms: { list: () => store.list().filter((v) => v.host === cfg.host.id), onChange: (l) => vms.onChange(l), get: (id) => store.get(id) },
    activity: accessLog,
    hostsOf: (vm) => [vmHost(vm.name, ip, cfg.baseDomain), ...vm.verifiedDomains],
    busy: (vm) => (consoles.clientCounts()[vm.id] ?? 0) > 0 || runs.count(vm.id) > 0 || deploys.deploys.busy(vm.id),
    sleep: (vm) => vms.sleep({ userId: 'system', email: null, admin: true }, vm.name),
    log: log.child({ svc: 'idle' }),
    now: Date.now,
    intervalMs: cfg.proxy.idleCheckIntervalMs,
  });
  idle.start();
  await deploys.deploys.reconcile();
  // The cluster key: made by the first host, shared through the database, kept here too (0600).
  const clusterKey = db.hosts.clusterKey(randomBytes(32));
  writeFileSync(join(cfg.stateDir, 'cluster.key'), clusterKey.toString('hex'), { mode: 0o600 });
  const cluster = clusterHttp({
    key: clusterKey,
    self: cfg.host.id,
    hosts: () => db.hosts.list(),
    rows: () => store.list(),
    vmHost: (name) => {
      const vm = store.get(name);
      return vm && vm.name === name ? vm.host : null;
    },
    host: (id) => hosts.get(id),
    principalFor: (id) => auth.accounts.principalFor(id),
  });
  const git = await openGitDoors(cfg.stateDir, deploys, { auth: auth.authenticator, repos, log, clientStallMs: cfg.clientStallMs, cluster });

  const archive = new QemuImgDiskArchive({ dir: join(cfg.stateDir, 'disks'), format: caps.diskFormats[0], minFreeMib: cfg.minFreeDiskMib });
  // What a daemon killed in the middle of an import left (its staged members); before the API takes any import.
  const swept = await archive.sweepStagings();
  if (swept) log.warn({ stagings: swept }, 'removed the staging of imports a previous daemon did not finish');
  const backups = new BackupService({
    vms,
    archive,
    saved: vmSaved,
    hypervisorKind: hypervisor.kind,
    images: vmImages,
    releases: db.releases,
    env: envStore,
    quotas,
    maxDiskBytes: cfg.backupMaxMib * 1024 * 1024,
    log: log.child({ svc: 'backups' }),
    now: Date.now,
  });
  const implemented = {
      ...reserveApiName(vmHandlers(vms, view), apiHost, vmHost(API_LABEL, ip, cfg.baseDomain)),
      ...backupHandlers(backups, view),
      ...forkHandlers(new ForkService({ vms, deploys: deploys.deploys }), view),
      ...deploys.handlers,
      ...consoleHandlers(consoles),
      ...auth.handlers,
      ...quotaHandlers(quotas, auth.accounts),
      ...hostHandlers(hosts),
      ...domainHandlers(domains),
      ...systemHandlers({
        version: VERSION,
        hypervisor: hypervisor.kind,
        accel: hypervisor.accel,
        confinement: confinementReport(hypervisor, cfg, vmm),
        counts: () => vms.counts(),
        checks: async () => {
          let image: { ok: boolean; detail?: string } = { ok: true };
          try {
            images.resolve('base');
          } catch (e) {
            image = { ok: false, detail: (e as Error).message };
          }
          return {
            image,
            caddy: routes.health(),
            disk: diskCheck(cfg.stateDir),
            ...(fastBoot ? { warmPool: warmPoolCheck(fastBoot.pooled().length, cfg.snapshots.poolSize) } : {}),
          };
        },
      }),
  };
  const limits = new RequestLimits(cfg.limits);
  const app = await buildServer({
    cluster,
    spec,
    log,
    limits,
    sessions: auth.sessions,
    auth: auth.authenticator,
    validateResponses: cfg.validateResponses,
    handlers: { ...implemented, ...pendingHandlers(implemented, operationRoutes(spec).filter((r) => !r.websocket).map((r) => r.operationId)) },
    websocketOperations: ['openConsole', 'runCommand'],
    extend: async (server) => {
      const run = runRoutes({ spec, auth: auth.authenticator, runs, log: log.child({ svc: 'run' }), limits, sessions: auth.sessions, cluster });
      await consoleRoutes({ spec, auth: auth.authenticator, consoles, log: consoleLog, limits, sessions: auth.sessions, cluster, otherUpgrade: (req, socket, head, url) => run.upgrade(req, socket, head) || git.upgrade(req, socket, head, url) })(server);
      run.extend(server);
      await git.extend(server);
      backupBodies(server);
    },
  });
  const address = await app.listen({ host: cfg.listen.host, port: cfg.listen.port });
  if (apiPort === 0) {
    apiPort = (app.server.address() as { port: number }).port;
    void routes.sync();
    hosts.update(selfInfo(apiUrlNow(apiPort)));
  }
  log.info({ address, publicUrl, adminToken: tokenPath, publicIp: ip, login: cfg.oidc ? cfg.oidc.issuer : 'off (admin token only)' }, 'fcm daemon listening');
  // Clients of a server with Caddy's internal CA need that CA: it is written beside the admin token.
  const caExport = cfg.proxy.tls.mode === 'internal' ? exportInternalCa(caddy, join(cfg.stateDir, 'ca.pem'), log) : null;

  let closing: Promise<void> | null = null;
  let current = cfg;
  return {
    url: address,
    reload: (next) => {
      const ended = auth.reloadAccess(next.access);
      const { access: _a, ...restNow } = current;
      const { access: _b, ...restNext } = next;
      const needRestart = JSON.stringify(restNow) !== JSON.stringify(restNext);
      log.info({ ended, allowedEmails: next.access.emails.length, allowedDomains: next.access.domains.length, adminEmails: next.access.adminEmails.length }, 'configuration reloaded: allowlists applied');
      if (needRestart) log.warn('configuration reloaded: settings other than FCM_ALLOWED_EMAILS, FCM_ALLOWED_DOMAINS and FCM_ADMIN_EMAILS changed; they take effect at the next restart');
      current = next;
    },
    close: () =>
      (closing ??= (async () => {
        auth.sessions.close();
        caExport?.abort();
        hosts.close();
        await app.close();
        await wakeProxy.close();
        idle.close();
        await accessLog.close();
        await git.close();
        routes.close();
        await consoleLogCap?.close();
        await vms.close();
        db.close();
      })()),
  };
}

/** Which confinements are active, for /v1/health. */
function confinementReport(hypervisor: Hypervisor, cfg: Config, vmm: VmmWiring) {
  const cg = vmm.cgroups.status();
  const cgroups = { version: cg.version === null ? null : (`v${cg.version}` as const), limits: cg.controllers, detail: cg.detail };
  if (hypervisor instanceof QemuHypervisor) return { ...hypervisor.confinement(), jailer: false, cgroups };
  const j = cfg.firecrackerJailer;
  return { user: j ? (j.uid === null ? ('per-vm' as const) : ('shared' as const)) : ('root' as const), seccomp: true, mountNamespace: j !== null, jailer: j !== null, cgroups: j ? cgroups : { version: null, limits: [], detail: 'no jailer' } };
}

const MIGRATE_HELP = `Usage: fcm daemon migrate-to-postgres [--json]

Moves this host's SQLite state (<FCM_STATE_DIR>/fcm.db) into the empty
PostgreSQL database FCM_DATABASE_URL names, in one transaction; every row is
compared with its source before it commits. The SQLite file is kept as it is.
Stop the daemon first; start it again with FCM_DATABASE_URL set.

Example:
  sudo systemctl stop fcm
  sudo FCM_DATABASE_URL=postgresql://fcm@/fcm?host=/run/postgresql fcm daemon migrate-to-postgres
`;

/** `fcm daemon migrate-to-postgres`: exit code 0 done, 1 refused or failed (nothing committed), 2 bad usage or config. */
function migrateCommand(args: string[]): number {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(MIGRATE_HELP);
    return 0;
  }
  const unknown = args.filter((a) => a !== '--json');
  if (unknown.length) {
    process.stderr.write(`fcm daemon migrate-to-postgres: unknown argument ${unknown[0]}\n\n${MIGRATE_HELP}`);
    return 2;
  }
  let cfg: Readonly<Config>;
  try {
    cfg = loadConfig();
  } catch (e) {
    process.stderr.write(`fcm daemon migrate-to-postgres: ${(e as Error).message}\n`);
    return 2;
  }
  if (!cfg.databaseUrl) {
    process.stderr.write(`fcm daemon migrate-to-postgres: set FCM_DATABASE_URL to the PostgreSQL database to move into\n\n${MIGRATE_HELP}`);
    return 2;
  }
  const from = sqlitePath(cfg.stateDir);
  try {
    const report = migrateToPostgres({ sqlitePath: from, databaseUrl: cfg.databaseUrl });
    if (args.includes('--json')) process.stdout.write(`${JSON.stringify({ from, ...report })}\n`);
    else {
      process.stdout.write(`Moved ${from} into PostgreSQL (every row verified):\n`);
      for (const [t, n] of Object.entries(report.tables)) process.stdout.write(`  ${t.padEnd(18)} ${n}\n`);
      process.stdout.write('Start the daemon with FCM_DATABASE_URL set. The SQLite file is unchanged (keep it as a backup).\n');
    }
    return 0;
  } catch (e) {
    // The URL is never printed (it may hold a password); PostgreSQL's own messages do not contain it.
    const msg = e instanceof MigrationError ? e.message : `${(e as Error).message} (nothing was committed)`;
    process.stderr.write(`fcm daemon migrate-to-postgres: ${msg}\n`);
    return 1;
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === 'migrate-to-postgres') process.exit(migrateCommand(process.argv.slice(3)));
  let cfg: Readonly<Config>;
  try {
    cfg = loadConfig();
  } catch (e) {
    console.error(`fcm daemon: ${(e as Error).message}`);
    process.exit(2);
  }
  const log = createLogger(cfg.logLevel);
  // Last resort only, never the way errors are handled: every listener on a guest- or client-driven
  // stream handles its own errors (test/reliability/hostile-guest.test.ts). A rejection nobody
  // awaited is a bug, logged, not a reason to drop every user's VM API and consoles; an uncaught
  // exception may have left state half-changed, so it is logged and the process exits (systemd
  // restarts it; VMs keep running and are adopted).
  process.on('unhandledRejection', (reason) => log.error({ err: reason }, 'unhandled promise rejection (a bug); the daemon keeps running'));
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception (a bug); exiting');
    process.exit(1);
  });
  let daemon: Daemon;
  try {
    daemon = await startDaemon(cfg, log);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`fcm daemon: ${e.message}`);
      process.exit(2);
    }
    log.fatal({ err: e }, 'daemon failed to start');
    process.exit(1);
  }
  // SIGHUP (systemctl reload fcm): read the configuration again. Only the FCM_CONFIG file can
  // change under a running process; what comes from the environment stays as it was started.
  process.on('SIGHUP', () => {
    let next: Readonly<Config>;
    try {
      next = loadConfig();
    } catch (e) {
      log.error({ err: (e as Error).message }, 'SIGHUP: the configuration is not valid; keeping the current one');
      return;
    }
    const fromEnv = (['FCM_ALLOWED_EMAILS', 'FCM_ALLOWED_DOMAINS', 'FCM_ADMIN_EMAILS'] as const).filter((k) => process.env[k] !== undefined);
    if (fromEnv.length) log.warn({ keys: fromEnv }, 'SIGHUP: these allowlists come from the environment, which a reload cannot change: set them in the FCM_CONFIG file instead, or restart');
    daemon.reload(next);
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      log.info({ sig }, 'shutting down (VMs keep running)');
      void daemon.close().then(() => process.exit(0));
    });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
