/**
 * Host tests: a real daemon with real QEMU guests, inside a network
 * namespace this harness creates. Nothing leaves the machine: the
 * namespace's only link to the host is a veth pair on a private /30 (the
 * test process reaches the daemon through it); the namespace has no default
 * route, NAT is off, and everything is deleted in close().
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, chmodSync, chownSync, constants, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureGitUser } from '../../daemon/drivers/git/git-user.js';
import { run } from '../../daemon/drivers/proc.js';
import { captureForAudit, secretSettings } from './log-audit.js';
import { eventually } from './wait.js';

export const ROOT_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CACHE_DIR = process.env.FCM_CACHE_DIR ?? '/var/cache/fcm';
export const IMAGES_DIR = join(CACHE_DIR, 'images');

/** Why host tests cannot run here, or null. Tests call t.skip(reason) so the skip is loud. */
export function hostSkipReason(): string | null {
  if (process.getuid?.() !== 0) return 'host tests need root (taps, bridges, network namespaces)';
  for (const bin of ['qemu-system-x86_64', 'qemu-img', 'ip', 'nft', 'bwrap']) {
    if (!onPath(bin)) return `host tests need ${bin} (run: sudo .ci/install-deps or see README)`;
  }
  if (!existsSync(join(IMAGES_DIR, 'current', 'rootfs.ext4'))) return `host tests need the base image at ${IMAGES_DIR}/current (build it: sudo rootfs/build.sh)`;
  try {
    accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
  } catch {
    return 'host tests need /dev/net/tun';
  }
  return null;
}

function onPath(bin: string): boolean {
  return (process.env.PATH ?? '/usr/bin:/bin').split(':').some((d) => {
    try {
      accessSync(join(d, bin), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export interface HarnessOptions {
  /** Extra FCM_* settings for the daemon. */
  env?: Record<string, string>;
  /** Run a real Caddy (tls internal) inside the namespace, as the daemon's HTTPS front. */
  caddy?: boolean;
  /** Run the built daemon (dist/daemon/main.js, what `fcm daemon` runs) instead of the source through tsx. */
  built?: boolean;
  /** With `built`: another checkout whose dist/daemon/main.js runs (benchmarks comparing two builds in one run). */
  builtFrom?: string;
  /** Extra node options for the daemon's process (benchmarks: --cpu-prof, which NODE_OPTIONS refuses). */
  nodeArgs?: string[];
  /**
   * Runs once the namespace (and Caddy) exist, before the daemon first starts: more links
   * into the namespace (test/helpers/cluster-harness.ts), files in the state dir.
   */
  beforeDaemon?: (ctx: { ns: string; stateDir: string }) => Promise<void>;
}

export interface HostHarness {
  ns: string;
  /** Daemon base URL, reachable from the test process. */
  url: string;
  /** The daemon's address inside the namespace link (for --resolve etc.). */
  daemonIp: string;
  token: string;
  stateDir: string;
  logPath: string;
  /** FCM_HOST and FCM_TOKEN for CLI subprocesses. */
  env: Record<string, string>;
  /** Runs a command inside the namespace (argv, no shell). */
  exec(cmd: string, args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<{ stdout: string; stderr: string }>;
  /** Authenticated JSON API call; returns status and parsed body. */
  api(method: string, path: string, body?: unknown, token?: string | null): Promise<{ status: number; body: any }>;
  daemonPid(): number | null;
  /** Stops the daemon (SIGTERM, or SIGKILL with kill9) and starts it again on the same state. */
  restartDaemon(opts?: { kill9?: boolean }): Promise<void>;
  killDaemon(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the daemon; `env` settings are added to its environment from now on (e.g. FCM_DATABASE_URL). */
  startDaemon(env?: Record<string, string>): Promise<void>;
  /** Deletes every VM through the API, stops the daemon, removes the namespace and state. */
  close(): Promise<void>;
  /** With `caddy: true`: kill Caddy (SIGKILL), start it again with an empty config, or read its internal root CA. */
  caddy: {
    kill(): Promise<void>;
    start(): Promise<void>;
    /** Path of a PEM file with Caddy's internal root CA (for curl --cacert). */
    rootCaFile(): Promise<string>;
  };
  /** Runs curl in the test process (host side), resolving `host` to the daemon's namespace address. */
  curlVia(url: string, opts?: { cacert?: string; extra?: string[] }): Promise<{ status: number; body: string }>;
}

export async function startHostHarness(opts: HarnessOptions = {}): Promise<HostHarness> {
  const id = randomBytes(3).toString('hex');
  const ns = `fcmt-${id}`;
  const vethHost = `fcmh${id}`;
  const vethNs = `fcmn${id}`;
  // A private /30 per harness: 10.251.X.Y/30, host .1, daemon .2.
  const n = parseInt(id, 16) % 16000;
  const base = `10.251.${Math.floor(n / 64)}.${(n % 64) * 4}`;
  const [a, b, c, d] = base.split('.').map(Number) as [number, number, number, number];
  const hostIp = `${a}.${b}.${c}.${d + 1}`;
  const daemonIp = `${a}.${b}.${c}.${d + 2}`;
  const workDir = join('/tmp', `fcm-host-${id}`);
  const stateDir = join(workDir, 'state');
  const logPath = join(workDir, 'daemon.log');
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  // The git user passes through to the state dir (which the daemon opens to it), and no one else.
  const gitUser = await ensureGitUser('fcm-git');
  chownSync(workDir, 0, gitUser.gid);
  chmodSync(workDir, 0o710);

  await run('ip', ['netns', 'add', ns]);
  const forgetExitTeardown = onExitTeardown(ns, () => tearDownNow(ns, vethHost, opts.env?.FCM_VMM_CGROUP_PARENT ?? `fcm-test-${id}`, workDir));
  const cleanupNs = async () => {
    await run('ip', ['link', 'del', vethHost]).catch(() => {});
    await run('ip', ['netns', 'del', ns]).catch(() => {});
    forgetExitTeardown();
  };
  try {
    await run('ip', ['link', 'add', vethHost, 'type', 'veth', 'peer', 'name', vethNs]);
    await run('ip', ['link', 'set', vethNs, 'netns', ns]);
    await run('ip', ['addr', 'add', `${hostIp}/30`, 'dev', vethHost]);
    await run('ip', ['link', 'set', vethHost, 'up']);
    await run('ip', ['-n', ns, 'addr', 'add', `${daemonIp}/30`, 'dev', vethNs]);
    await run('ip', ['-n', ns, 'link', 'set', vethNs, 'up']);
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  } catch (e) {
    await cleanupNs();
    throw e;
  }

  const port = 7777;
  const url = `http://${daemonIp}:${port}`;
  const daemonEnv: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: process.env.HOME ?? '/root',
    FCM_STATE_DIR: stateDir,
    FCM_IMAGES_DIR: IMAGES_DIR,
    FCM_PORT: String(port),
    // The test process reaches the daemon's plain listener over the veth (the default is loopback only),
    // and the URLs it hands out (gitHttpUrl, the OIDC callback) point there. A test that wants the
    // production shape (API behind Caddy, https://fcm.<ip>.sslip.io) sets FCM_PUBLIC_URL: ''.
    FCM_HOST_BIND: '0.0.0.0',
    FCM_PUBLIC_URL: url,
    FCM_NAT: 'false',
    FCM_LOG_LEVEL: 'info',
    FCM_PUBLIC_IP: daemonIp,
    FCM_HYPERVISOR: 'qemu',
    // Snapshot templates and the warm pool cost a boot and a paused QEMU per daemon: opt-in per test.
    FCM_SNAPSHOTS: 'false',
    // Daemons of concurrent test runs must not hand out the same VMM uids (taps live in their own
    // namespaces, so one daemon cannot see another's), nor share a parent cgroup (close() removes it).
    FCM_VMM_UID_BASE: String(VMM_UID_TEST_BASE + (parseInt(id, 16) % 30_000) * 1024),
    FCM_VMM_UID_COUNT: '1024',
    FCM_VMM_CGROUP_PARENT: `fcm-test-${id}`,
    ...opts.env,
  };

  let child: ChildProcess | null = null;
  let token = '';
  /** Every admin token this daemon had, for the log audit. */
  const seenTokens = new Set<string>();
  let caddyProc: ChildProcess | null = null;
  const caddyDir = join(workDir, 'caddy');
  if (opts.caddy) {
    daemonEnv.FCM_TLS = 'internal';
    daemonEnv.FCM_CADDY_ADMIN = 'http://127.0.0.1:2019';
  }
  const startCaddy = async () => {
    mkdirSync(caddyDir, { recursive: true, mode: 0o700 });
    const out = openSync(join(workDir, 'caddy.log'), 'a', 0o600);
    // Empty config: only the admin API on the namespace's loopback. The daemon loads the routes.
    caddyProc = spawn('ip', ['netns', 'exec', ns, 'caddy', 'run'], {
      env: { PATH: daemonEnv.PATH, HOME: caddyDir, XDG_DATA_HOME: join(caddyDir, 'data'), XDG_CONFIG_HOME: join(caddyDir, 'config') },
      stdio: ['ignore', out, out],
      detached: true,
    });
    const deadline = Date.now() + 20_000;
    for (;;) {
      const r = await run('ip', ['netns', 'exec', ns, 'curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', 'http://127.0.0.1:2019/config/']).catch(() => null);
      if (r?.stdout === '200') return;
      if (Date.now() > deadline) throw new Error(`caddy did not start; log:\n${tail(join(workDir, 'caddy.log'))}`);
      await new Promise((r2) => setTimeout(r2, 100));
    }
  };
  const killCaddy = async () => {
    const c = caddyProc;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGKILL');
    await exited;
  };
  if (opts.caddy) {
    try {
      await startCaddy();
    } catch (e) {
      await killCaddy();
      await cleanupNs();
      throw e;
    }
  }

  const startDaemon = async (env: Record<string, string> = {}) => {
    Object.assign(daemonEnv, env);
    const out = openSync(logPath, 'a', 0o600);
    // nsenter, not `ip netns exec`: that one remounts /sys in a private mount namespace, which
    // hides /sys/fs/cgroup from the daemon (it makes the per-VM cgroups there, as in production).
    const entry = [...(opts.nodeArgs ?? []), ...(opts.built ? [join(opts.builtFrom ?? ROOT_DIR, 'dist', 'daemon', 'main.js')] : ['--import', 'tsx', join(ROOT_DIR, 'daemon', 'main.ts')])];
    child = spawn('nsenter', [`--net=/run/netns/${ns}`, '--', process.execPath, ...entry], {
      env: daemonEnv,
      stdio: ['ignore', out, out],
      cwd: opts.builtFrom ?? ROOT_DIR,
      detached: true,
    });
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`daemon exited with ${child.exitCode}; log:\n${tail(logPath)}`);
      try {
        const res = await fetch(`${url}/v1/health`, { signal: AbortSignal.timeout(1000) });
        if (res.ok) break;
      } catch {
        /* not up yet */
      }
      if (Date.now() > deadline) throw new Error(`daemon did not answer within 60s; log:\n${tail(logPath)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    token = readFileSync(join(stateDir, '.token'), 'utf8').trim();
    seenTokens.add(token);
  };

  const killDaemon = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill(signal);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGKILL');
      await exited;
    }
  };

  try {
    await opts.beforeDaemon?.({ ns, stateDir });
    await startDaemon();
  } catch (e) {
    await killDaemon('SIGKILL');
    await killCaddy();
    await cleanupNs();
    throw e;
  }

  const h: HostHarness = {
    ns,
    url,
    daemonIp,
    get token() {
      return token;
    },
    stateDir,
    logPath,
    get env() {
      return { FCM_HOST: url, FCM_TOKEN: token };
    },
    exec: (cmd, args, o = {}) => run('ip', ['netns', 'exec', ns, cmd, ...args], o),
    api: async (method, path, body, tok = token) => {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: {
          ...(tok ? { authorization: `Bearer ${tok}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    },
    daemonPid: () => child?.pid ?? null,
    caddy: {
      kill: killCaddy,
      start: startCaddy,
      rootCaFile: async () => {
        // Caddy's admin endpoint drops a request that comes while it applies a new config
        // (curl: "Empty reply from server", seen once in the deploy bench): asked again for 5 s.
        const { stdout } = await eventually("Caddy's root CA from its admin endpoint",
          () => run('ip', ['netns', 'exec', ns, 'curl', '-sS', '--fail', 'http://127.0.0.1:2019/pki/ca/local']), () => true, 5_000, 250);
        const path = join(workDir, 'caddy-root.pem');
        writeFileSync(path, (JSON.parse(stdout) as { root_certificate: string }).root_certificate);
        return path;
      },
    },
    curlVia: async (url, o = {}) => {
      const u = new URL(url);
      const port = u.port || (u.protocol === 'https:' ? '443' : '80');
      const args = ['-sS', '--max-time', '15', '--resolve', `${u.hostname}:${port}:${daemonIp}`, '-w', '\n%{http_code}', ...(o.cacert ? ['--cacert', o.cacert] : []), ...(o.extra ?? []), url];
      const { stdout } = await run('curl', args);
      const i = stdout.lastIndexOf('\n');
      return { status: Number(stdout.slice(i + 1)), body: stdout.slice(0, i) };
    },
    restartDaemon: async (o = {}) => {
      await killDaemon(o.kill9 ? 'SIGKILL' : 'SIGTERM');
      await startDaemon();
    },
    killDaemon,
    startDaemon,
    close: async () => {
      try {
        if (child && child.exitCode === null && child.signalCode === null) {
          const list = await h.api('GET', '/v1/vms').catch(() => null);
          for (const vm of list?.body?.vms ?? []) await h.api('DELETE', `/v1/vms/${vm.name}`).catch(() => {});
        }
      } finally {
        await killDaemon();
        await killCaddy();
        // Anything a crashed test left: kill its QEMUs (they run inside the namespace), until gone.
        killNamespaceNow(ns);
        await cleanupNs();
        removeCgroups(daemonEnv.FCM_VMM_CGROUP_PARENT!);
        // FCM_LOG_AUDIT_DIR: keep the logs and the secrets to look for in them (test/helpers/log-audit.ts).
        if (process.env.FCM_LOG_AUDIT_DIR) {
          let agentKey: string | null = null;
          try {
            agentKey = readFileSync(join(stateDir, 'agent.key'), 'utf8').trim();
          } catch {
            /* never started */
          }
          captureForAudit(process.env.FCM_LOG_AUDIT_DIR, `${ns}-${Date.now()}`, [logPath, join(workDir, 'caddy.log')], {
            adminTokens: [...seenTokens], agentKey, other: secretSettings(daemonEnv),
          });
        }
        if (!process.env.FCM_KEEP_TEST_STATE) rmSync(workDir, { recursive: true, force: true });
      }
    },
  };
  return h;
}

/**
 * What harnesses not closed yet made (by namespace or key), each with its synchronous teardown.
 * A bench or test stopped from outside (Ctrl-C, `timeout`, node:test's own SIGTERM handler
 * calling process.exit) never reaches close(): without this its daemon (nsenter'd, detached),
 * QEMUs, Caddy, namespace, cgroups and work dir outlive it, and a leaked daemon's guests skew
 * the next measurement.
 */
const exitTeardowns = new Map<string, () => void>();
let exitHooked = false;

/**
 * Runs `fn` (synchronous, must not throw) when this process exits or is stopped by
 * SIGINT/SIGTERM/SIGHUP before the returned function is called. For what other harnesses make
 * outside a host harness (the cluster harness's LAN and PostgreSQL namespaces).
 */
export function onExitTeardown(key: string, fn: () => void): () => void {
  exitTeardowns.set(key, fn);
  tearDownOnExit();
  return () => void exitTeardowns.delete(key);
}

/** Kills every process in a namespace (bounded: 5 s) and deletes it; never throws. */
export function killNamespaceNow(ns: string): void {
  const pids = () => quietSync('ip', ['netns', 'pids', ns]).split(/\s+/).filter(Boolean).map(Number);
  const deadline = Date.now() + 5000;
  for (let left = pids(); left.length && Date.now() < deadline; left = pids()) {
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  }
  quietSync('ip', ['netns', 'del', ns]);
}

function quietSync(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });
  } catch {
    return '';
  }
}

function tearDownOnExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  // 'exit' handlers must be synchronous: everything in tearDownNow is.
  process.on('exit', () => {
    for (const f of exitTeardowns.values()) f();
    exitTeardowns.clear();
  });
  // Without a listener these signals end the process without 'exit'. With one, the default is
  // gone, so exit with the conventional 128 + signal number. (node:test installs its own
  // SIGINT/SIGTERM handlers in test files that call process.exit: 'exit' covers those too.)
  for (const [sig, n] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]] as const) {
    process.on(sig, () => process.exit(128 + n));
  }
}

/** Kills everything in the namespace, then deletes it, its veth, the test cgroups and the work dir; never throws. */
function tearDownNow(ns: string, vethHost: string, cgroupName: string, workDir: string): void {
  // The daemon, Caddy and every QEMU run inside the namespace.
  killNamespaceNow(ns);
  quietSync('ip', ['link', 'del', vethHost]);
  removeCgroups(cgroupName);
  if (!process.env.FCM_KEEP_TEST_STATE) rmSync(workDir, { recursive: true, force: true });
}

/** Where test daemons' VMM uid ranges start (1024 uids each). */
export const VMM_UID_TEST_BASE = 2_000_000_000;

/** Every directory named `name` in the cgroup hierarchies (v1 controllers and v2), deepest first. */
export function cgroupDirs(name: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = join(dir, e.name);
      if (e.name === name) {
        for (const c of readdirSync(p, { withFileTypes: true })) if (c.isDirectory()) out.push(join(p, c.name));
        out.push(p);
      } else if (depth < 4) walk(p, depth + 1);
    }
  };
  walk('/sys/fs/cgroup', 0);
  return out;
}

/** Removes a test daemon's parent cgroups (VM cgroups a crashed run left, then the parents). */
function removeCgroups(name: string): void {
  for (const d of cgroupDirs(name)) {
    try {
      rmdirSync(d);
    } catch {
      /* still in use or gone: the leftover check reports it */
    }
  }
}

/** The pids of every process in the namespace (fails if there is no such namespace). */
export async function namespacePids(ns: string): Promise<number[]> {
  return (await run('ip', ['netns', 'pids', ns])).stdout.split(/\s+/).filter(Boolean).map(Number);
}

function tail(path: string, lines = 30): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Everything in the namespace that a VM could leave behind. */
export async function hostLeftovers(h: HostHarness): Promise<{ taps: string[]; qemus: number[]; disks: string[]; runDirs: string[] }> {
  const { stdout } = await h.exec('ip', ['-j', 'link', 'show', 'type', 'tun']);
  const taps = (JSON.parse(stdout || '[]') as { ifname: string }[]).map((l) => l.ifname).filter((n) => n.startsWith('fcm-'));
  const qemus = (await namespacePids(h.ns)).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('qemu-system');
    } catch {
      return false;
    }
  });
  const ls = (d: string) => {
    try {
      return readdirSync(join(h.stateDir, d)).filter((n) => n.startsWith('vm_'));
    } catch {
      return [];
    }
  };
  return { taps, qemus, disks: ls('disks'), runDirs: ls('run') };
}
