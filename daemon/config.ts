import { readFileSync } from 'node:fs';
import { hostname, totalmem } from 'node:os';
import { isAbsolute } from 'node:path';
import { parseSubnet, type Subnet } from './core/planners/network-plan.js';
import type { QuotaLimits } from './core/quotas.js';
import { DEFAULT_RATES, parseRate, type Rate } from './core/rate-limit.js';
import { parseTrustedProxies } from './http/client-address.js';
import { DEFAULT_TCG_RESTORE_TB_MIB, DEFAULT_TCG_TB_MIB } from './drivers/qemu/qemu-argv.js';

/**
 * The daemon's whole configuration, read once from FCM_* environment
 * variables (and, lower priority, the JSON file named by FCM_CONFIG),
 * validated, and frozen. Each driver is handed only its slice.
 */
export interface Config {
  listen: { host: string; port: number };
  stateDir: string;
  /**
   * PostgreSQL instead of the SQLite file in stateDir (null: SQLite, the
   * default). May hold a password: never logged, never echoed in errors.
   */
  databaseUrl: string | null;
  imagesDir: string;
  logLevel: string;
  hypervisor: 'auto' | 'qemu' | 'firecracker';
  accel: 'auto' | 'kvm' | 'tcg';
  qemuBinary: string;
  firecrackerBinary: string;
  /** Uncompressed kernel for Firecracker (Debian kernels can't boot there). */
  firecrackerKernel: string;
  /**
   * Firecracker through its jailer (chroot, uid/gid, cgroups, new mount
   * namespace); null = FCM_FIRECRACKER_JAILER=off, Firecracker runs as root.
   */
  firecrackerJailer: {
    binary: string;
    /** null: one uid per VM from the VMM range (like QEMU). */
    uid: number | null;
    gid: number | null;
    /** Must be on the same filesystem as the VM disks (they are hard-linked into the jail). */
    chrootBase: string;
  } | null;
  /** How hypervisor processes are confined (daemon/drivers/qemu/qemu-confine.ts). */
  vmm: {
    /** Per-VM uid + private mount view (bubblewrap) + QEMU's seccomp filter; false = QEMU runs as root unsandboxed. */
    confine: boolean;
    bwrap: string;
    setpriv: string;
    /** The uids (= gids) handed out one per VM: [uidBase, uidBase + uidCount). */
    uidBase: number;
    uidCount: number;
    cgroups: 'auto' | 'v1' | 'v2' | 'off';
    /** Name of the parent cgroup of all VM cgroups. */
    cgroupParent: string;
    /** Memory a hypervisor process may use beyond its guest's RAM. */
    memoryOverheadMib: number;
    /** QEMU TCG's translation cache per VM, MiB (its pages stay resident once written: it bounds the VMM's largest cost). */
    tcgTbMib: number;
    /** The same for machines restored from a saved state (clones, woken VMs): what an idle clone keeps (qemu-argv.ts). */
    tcgRestoreTbMib: number;
    /** Transparent huge pages for QEMU: off by default (a huge page per touched 2 MiB of its TCG cache and ROMs; planProcessFlags). */
    qemuThp: boolean;
    /**
     * Kernel same-page merging of QEMU's memory (FCM_KSM, default off: pages
     * shared across tenants are a timing side channel, SECURITY.md). On: the
     * daemon turns ksmd on with these settings (ksm-host.ts) and every QEMU
     * starts with PR_SET_MEMORY_MERGE; off: QEMU marks nothing mergeable
     * (-machine mem-merge=off), whatever ksmd does.
     */
    ksm: { enabled: boolean; pagesToScan: number; sleepMs: number };
    /** glibc malloc tuning in QEMU's environment (0 = glibc's default; planVmmEnv). Measured at 1: 1 MiB less per idle clone, so unset. */
    malloc: { arenaMax: number };
  };
  network: {
    bridge: string;
    subnet: Subnet;
    subnetCidr: string;
    gatewayCidr: string;
    nat: boolean;
    dns: string | null;
    /** With NAT on, private and special-purpose destinations guests may reach anyway (CIDRs). */
    egressAllow: readonly string[];
  };
  agentPort: number;
  bootTimeoutMs: number;
  /** A VM whose hypervisor dies while it should run is restarted (always), at most restartMax times per restartWindowMs. */
  restartPolicy: 'always' | 'never';
  restartMax: number;
  restartWindowMs: number;
  /** How often running VMs' hypervisor processes are checked. */
  monitorIntervalMs: number;
  minFreeDiskMib: number;
  /** The largest disk a backup import takes, in MiB (the archive's disk member, compressed). */
  backupMaxMib: number;
  /** Public address used in VM URLs (`<name>.<ip-with-dashes>.<baseDomain>`). */
  publicIp: string | null;
  /**
   * This daemon as a host of a cluster (daemons sharing FCM_DATABASE_URL):
   * its id (stable across restarts; VM rows name it), and its lease — a host
   * that has not renewed for leaseMs is unreachable to the others.
   */
  host: { id: string; leaseMs: number; renewMs: number };
  baseDomain: string;
  /**
   * The daemon's own externally reachable base URL (OAuth callback, git over
   * HTTPS, what clients are told); default `https://<api host>` (main.ts),
   * or `http://<public ip>:<port>` when the API is not served through Caddy.
   */
  publicUrl: string | null;
  /**
   * The API behind the host's Caddy (HTTPS, ACME or the internal CA like VM
   * URLs): `host` is the name it answers at; null = `fcm.<public ip with
   * dashes>.<baseDomain>` (main.ts), known once the public IP is.
   * `proxied` false (FCM_API_HOST=off): only the plain listener serves it.
   */
  api: { proxied: boolean; host: string | null };
  /** Validate every response against openapi.yaml and fail loudly on drift. */
  validateResponses: boolean;
  /** Snapshot fast path: restore VMs of the default shape from a pre-booted template, with a warm pool. */
  snapshots: {
    enabled: boolean;
    /** Warm machines kept per shape (FCM_SNAPSHOT_POOL; `auto`: autoPoolSize). */
    poolSize: number;
    dir: string;
    /** Pause between claiming a pooled machine and restoring its replacement (the restore competes for CPU with the VM just claimed). */
    refillDelayMs: number;
    /** `shared`: restored VMs map the template's RAM copy-on-write and share its pages; `copy`: each gets its own copy (fast-boot.ts). */
    ram: 'shared' | 'copy';
  };
  /** Named snapshots (fcm snapshot): how many each VM may keep. */
  vmSnapshots: { maxPerVm: number };
  proxy: {
    /** Caddy's admin API base URL (loopback only). */
    adminUrl: string;
    tls: { mode: 'internal' } | { mode: 'acme'; email: string | null };
    httpPort: number;
    httpsPort: number;
    /** How often the proxy is checked for running the current config (a Caddy restarted empty gets its routes back). */
    watchIntervalMs: number;
    /** Loopback port where Caddy sends requests for sleeping VMs (the daemon wakes the VM, then serves them). */
    wakePort: number;
    /** How long such a request is held while its VM wakes before it gets the 503 page. */
    wakeTimeoutMs: number;
    /** Loopback port where Caddy streams its access log (idle sleep: the last request per host). */
    accessLogPort: number;
    /** How often VMs with sleepAfter are checked for idleness. */
    idleCheckIntervalMs: number;
  };
  /** Login with OpenID Connect; null (no FCM_OIDC_CLIENT_ID) = only the admin token works. */
  oidc: OidcConfig | null;
  /**
   * Who may log in. Default: nobody — a login is refused unless the verified
   * email is in `emails` or `adminEmails`, or its domain is in `domains`.
   */
  access: AccessConfig;
  /** Lifetime of the fcm tokens that logins mint. */
  tokenTtlDays: number;
  /** The unprivileged system user git, the forced command, the hook and sshd's key lookup run as (created when missing). */
  git: { user: string };
  /**
   * Bounds on what comes from a guest agent (which the VM's owner can replace
   * by anything): total bytes of one streamed answer, and the deadline of a
   * build exchange and of every other agent call.
   */
  agent: { outputMib: number; buildTimeoutMs: number; callTimeoutMs: number };
  /** A client that reads none of the output relayed to it (git push, logs -f) for this long is cut off. */
  clientStallMs: number;
  /** Each VM's serial console log is kept to about this size on the host (the newest output). */
  consoleLogMib: number;
  /** Per-user limits for users without an override (admins are unlimited). */
  quotaDefaults: QuotaLimits;
  /** Host admission (core/admission.ts); host size null = what the kernel reports. */
  admission: {
    hostMemoryMib: number | null;
    hostCpus: number | null;
    memoryOvercommit: number;
    memoryReserveMib: number;
    cpuOvercommit: number;
  };
  /** DNS servers (ip or ip:port) for custom-domain verification lookups only; empty = the system's resolvers. */
  dnsResolvers: readonly string[];
  /** Caddy drops the Domain attribute of Set-Cookie from apps on the shared base domain (host-only cookies). */
  stripCookieDomain: boolean;
  /** Request limits and the trusted-proxy rule (daemon/http/limits.ts). */
  limits: {
    /** Whose X-Forwarded-For is believed: `loopback` (a Caddy on this host in front of the API), `none`, or addresses/CIDRs. */
    trustedProxies: string;
    /** Login starts per client address; null: off. */
    login: Rate | null;
    /** Other requests that need no token, per client address. */
    public: Rate | null;
    /** Requests per user (not the admin token). */
    user: Rate | null;
  };
}

export interface OidcConfig {
  /** Issuer URL; its /.well-known/openid-configuration is discovered. */
  issuer: string;
  clientId: string;
  clientSecret: string | null;
  /** Google needs a separate "TVs and Limited Input devices" client for the device flow; default: the client above. */
  deviceClientId: string | null;
  deviceClientSecret: string | null;
  /**
   * Apply Google's hosted-domain rule (access.ts): on when the issuer is
   * Google. Tests set it for a provider of their own that plays Google.
   */
  googleHostedDomains: boolean;
}

export interface AccessConfig {
  /** Lower-case exact emails. */
  emails: readonly string[];
  /** Lower-case domains; an email matches when its domain is exactly one of them (no subdomains). */
  domains: readonly string[];
  /** Lower-case emails that are admins (and may log in). */
  adminEmails: readonly string[];
}

type Source = Record<string, string | undefined>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Every key the daemon reads (a test checks each is documented in the README's table). */
export const CONFIG_KEYS = [
  'FCM_HOST_BIND', 'FCM_PORT', 'FCM_STATE_DIR', 'FCM_DATABASE_URL', 'FCM_IMAGES_DIR', 'FCM_LOG_LEVEL', 'FCM_HYPERVISOR', 'FCM_ACCEL',
  'FCM_QEMU_BINARY', 'FCM_FIRECRACKER_BINARY', 'FCM_FIRECRACKER_KERNEL', 'FCM_BRIDGE', 'FCM_SUBNET', 'FCM_NAT',
  'FCM_DNS', 'FCM_AGENT_PORT', 'FCM_BOOT_TIMEOUT_MS', 'FCM_RESTART_POLICY', 'FCM_RESTART_MAX', 'FCM_RESTART_WINDOW_MS', 'FCM_MONITOR_INTERVAL_MS',
  'FCM_MIN_FREE_DISK_MIB', 'FCM_BACKUP_MAX_MIB', 'FCM_PUBLIC_IP', 'FCM_HOST_ID', 'FCM_HOST_LEASE_MS', 'FCM_HOST_RENEW_MS', 'FCM_BASE_DOMAIN', 'FCM_VALIDATE_RESPONSES',
  'FCM_PUBLIC_URL', 'FCM_SNAPSHOTS', 'FCM_SNAPSHOT_POOL', 'FCM_SNAPSHOT_REFILL_DELAY_MS', 'FCM_TEMPLATES_DIR', 'FCM_TEMPLATE_RAM', 'FCM_VM_SNAPSHOTS_MAX',
  'FCM_CADDY_ADMIN', 'FCM_TLS', 'FCM_ACME_EMAIL', 'FCM_HTTP_PORT', 'FCM_HTTPS_PORT', 'FCM_ROUTE_WATCH_INTERVAL_MS', 'FCM_WAKE_PORT', 'FCM_WAKE_TIMEOUT_MS', 'FCM_ACCESS_LOG_PORT', 'FCM_IDLE_CHECK_INTERVAL_MS',
  'FCM_OIDC_ISSUER', 'FCM_OIDC_CLIENT_ID', 'FCM_OIDC_CLIENT_SECRET', 'FCM_OIDC_CLIENT_SECRET_FILE',
  'FCM_OIDC_DEVICE_CLIENT_ID', 'FCM_OIDC_DEVICE_CLIENT_SECRET', 'FCM_OIDC_DEVICE_CLIENT_SECRET_FILE',
  'FCM_ALLOWED_EMAILS', 'FCM_ALLOWED_DOMAINS', 'FCM_ADMIN_EMAILS', 'FCM_TOKEN_TTL_DAYS',
  'FCM_GIT_USER', 'FCM_API_HOST',
  'FCM_AGENT_OUTPUT_MIB', 'FCM_AGENT_BUILD_TIMEOUT_MS', 'FCM_AGENT_CALL_TIMEOUT_MS', 'FCM_CLIENT_STALL_MS', 'FCM_CONSOLE_LOG_MIB',
  'FCM_VMM_CONFINE', 'FCM_QEMU_TB_MIB', 'FCM_QEMU_RESTORE_TB_MIB', 'FCM_QEMU_THP', 'FCM_KSM', 'FCM_KSM_PAGES_TO_SCAN', 'FCM_KSM_SLEEP_MS', 'FCM_QEMU_MALLOC_ARENA_MAX', 'FCM_BWRAP_BINARY', 'FCM_VMM_UID_BASE', 'FCM_VMM_UID_COUNT', 'FCM_VMM_CGROUPS', 'FCM_VMM_CGROUP_PARENT',
  'FCM_VMM_MEMORY_OVERHEAD_MIB', 'FCM_FIRECRACKER_JAILER', 'FCM_FIRECRACKER_UID', 'FCM_FIRECRACKER_GID',
  'FCM_FIRECRACKER_CHROOT_BASE', 'FCM_EGRESS_ALLOW',
  'FCM_QUOTA_VMS', 'FCM_QUOTA_VCPUS', 'FCM_QUOTA_MEMORY_MIB', 'FCM_QUOTA_DISK_MIB', 'FCM_QUOTA_CONFIG_VARS',
  'FCM_QUOTA_CONFIG_BYTES', 'FCM_QUOTA_REPO_MIB', 'FCM_QUOTA_REPO_TOTAL_MIB', 'FCM_QUOTA_PENDING_DOMAINS',
  'FCM_HOST_MEMORY_MIB', 'FCM_HOST_CPUS', 'FCM_MEMORY_OVERCOMMIT', 'FCM_MEMORY_RESERVE_MIB', 'FCM_CPU_OVERCOMMIT',
  'FCM_DNS_RESOLVERS', 'FCM_STRIP_COOKIE_DOMAIN',
  'FCM_TRUSTED_PROXIES', 'FCM_RATE_LOGIN', 'FCM_RATE_PUBLIC', 'FCM_RATE_USER',
] as const;

export function loadConfig(env: Source = process.env): Readonly<Config> {
  let file: Source = {};
  if (env.FCM_CONFIG) {
    try {
      file = JSON.parse(readFileSync(env.FCM_CONFIG, 'utf8')) as Source;
    } catch (e) {
      throw new ConfigError(`cannot read FCM_CONFIG ${env.FCM_CONFIG}: ${(e as Error).message}`);
    }
    for (const k of Object.keys(file)) {
      if (!(CONFIG_KEYS as readonly string[]).includes(k)) throw new ConfigError(`unknown key ${k} in ${env.FCM_CONFIG}`);
    }
  }
  const get = (k: (typeof CONFIG_KEYS)[number]): string | undefined => env[k] ?? (file[k] === undefined ? undefined : String(file[k]));

  const str = (k: (typeof CONFIG_KEYS)[number], def: string) => get(k) ?? def;
  const int = (k: (typeof CONFIG_KEYS)[number], def: number, min: number, max: number) => {
    const v = get(k);
    if (v === undefined || v === '') return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${k} must be an integer in [${min}, ${max}], got "${v}"`);
    return n;
  };
  const bool = (k: (typeof CONFIG_KEYS)[number], def: boolean) => {
    const v = get(k);
    if (v === undefined || v === '') return def;
    if (/^(1|true|yes|on)$/i.test(v)) return true;
    if (/^(0|false|no|off)$/i.test(v)) return false;
    throw new ConfigError(`${k} must be true or false, got "${v}"`);
  };
  const dec = (k: (typeof CONFIG_KEYS)[number], def: number, min: number, max: number) => {
    const v = get(k);
    if (v === undefined || v === '') return def;
    const n = Number(v);
    if (!/^\d+(\.\d+)?$/.test(v.trim()) || n < min || n > max) throw new ConfigError(`${k} must be a number in [${min}, ${max}], got "${v}"`);
    return n;
  };
  const optInt = (k: (typeof CONFIG_KEYS)[number], min: number, max: number): number | null => (get(k) ? int(k, min, min, max) : null);
  const oneOf = <T extends string>(k: (typeof CONFIG_KEYS)[number], def: T, allowed: readonly T[]): T => {
    const v = (get(k) ?? def) as T;
    if (!allowed.includes(v)) throw new ConfigError(`${k} must be one of ${allowed.join(', ')}, got "${v}"`);
    return v;
  };
  const path = (k: (typeof CONFIG_KEYS)[number], def: string) => {
    const v = str(k, def);
    // QEMU option strings are comma-separated: a comma in a path would split an option.
    if (!isAbsolute(v) || /[,\s]/.test(v)) throw new ConfigError(`${k} must be an absolute path without commas or spaces, got "${v}"`);
    return v;
  };
  const ipv4 = (k: (typeof CONFIG_KEYS)[number]): string | null => {
    const v = get(k);
    if (v === undefined || v === '') return null;
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(v) || v.split('.').some((o) => Number(o) > 255)) throw new ConfigError(`${k} must be an IPv4 address, got "${v}"`);
    return v;
  };

  const subnetCidr = str('FCM_SUBNET', '172.16.0.0/24');
  let subnet: Subnet;
  try {
    subnet = parseSubnet(subnetCidr);
  } catch (e) {
    throw new ConfigError(`FCM_SUBNET: ${(e as Error).message}`);
  }
  const bridge = str('FCM_BRIDGE', 'fcm0');
  if (!/^[a-zA-Z][a-zA-Z0-9_]{0,14}$/.test(bridge) || bridge.startsWith('fcm-')) {
    throw new ConfigError(`FCM_BRIDGE must be a short interface name (not fcm-*), got "${bridge}"`);
  }
  const nat = bool('FCM_NAT', true);
  const baseDomain = str('FCM_BASE_DOMAIN', 'sslip.io');
  if (!/^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$/i.test(baseDomain)) throw new ConfigError(`FCM_BASE_DOMAIN is not a domain: "${baseDomain}"`);
  const stateDir = path('FCM_STATE_DIR', '/var/lib/fcm');
  const adminUrl = str('FCM_CADDY_ADMIN', 'http://127.0.0.1:2019').replace(/\/+$/, '');
  let adminHost: string;
  try {
    const u = new URL(adminUrl);
    adminHost = u.hostname;
    if (u.protocol !== 'http:' || u.pathname !== '/') throw new Error('x');
  } catch {
    throw new ConfigError(`FCM_CADDY_ADMIN must be an http://host:port URL, got "${adminUrl}"`);
  }
  // The admin API can rewrite every route: it must never listen beyond loopback.
  if (!/^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(adminHost)) throw new ConfigError(`FCM_CADDY_ADMIN must be on loopback, got "${adminUrl}"`);
  const tlsMode = oneOf('FCM_TLS', 'acme', ['acme', 'internal']);
  const rate = (k: (typeof CONFIG_KEYS)[number], def: string): Rate | null => {
    try {
      return parseRate(str(k, def));
    } catch (e) {
      throw new ConfigError(`${k}: ${(e as Error).message}`);
    }
  };
  const trustedProxies = str('FCM_TRUSTED_PROXIES', 'loopback');
  try {
    parseTrustedProxies(trustedProxies);
  } catch (e) {
    throw new ConfigError(`FCM_TRUSTED_PROXIES: ${(e as Error).message}`);
  }

  const cfg: Config = {
    // Loopback by default: clients come through Caddy (HTTPS); a plain listener beyond this host would
    // carry tokens in clear text. Set FCM_HOST_BIND=0.0.0.0 (and FCM_API_HOST=off) to serve plain HTTP.
    listen: { host: str('FCM_HOST_BIND', '127.0.0.1'), port: int('FCM_PORT', 7777, 0, 65535) },
    stateDir,
    databaseUrl: databaseUrl(get('FCM_DATABASE_URL')),
    imagesDir: path('FCM_IMAGES_DIR', '/var/cache/fcm/images'),
    logLevel: oneOf('FCM_LOG_LEVEL', 'info', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
    hypervisor: oneOf('FCM_HYPERVISOR', 'auto', ['auto', 'qemu', 'firecracker']),
    accel: oneOf('FCM_ACCEL', 'auto', ['auto', 'kvm', 'tcg']),
    qemuBinary: str('FCM_QEMU_BINARY', 'qemu-system-x86_64'),
    firecrackerBinary: str('FCM_FIRECRACKER_BINARY', 'firecracker'),
    firecrackerKernel: path('FCM_FIRECRACKER_KERNEL', '/var/cache/fcm/images/firecracker/vmlinux'),
    firecrackerJailer: (() => {
      const binary = str('FCM_FIRECRACKER_JAILER', 'jailer');
      if (binary === 'off') return null;
      if (!/^[A-Za-z0-9/_.+-]+$/.test(binary)) throw new ConfigError(`FCM_FIRECRACKER_JAILER must be a program name or path (or off), got "${binary}"`);
      const id = (k: 'FCM_FIRECRACKER_UID' | 'FCM_FIRECRACKER_GID') => (get(k) ? int(k, 0, 1, 2 ** 31 - 1) : null);
      const uid = id('FCM_FIRECRACKER_UID');
      const gid = id('FCM_FIRECRACKER_GID');
      if ((uid === null) !== (gid === null)) throw new ConfigError('set both FCM_FIRECRACKER_UID and FCM_FIRECRACKER_GID, or neither (one uid per VM)');
      return { binary, uid, gid, chrootBase: path('FCM_FIRECRACKER_CHROOT_BASE', `${stateDir}/jail`) };
    })(),
    vmm: (() => {
      const uidBase = int('FCM_VMM_UID_BASE', 2_000_000_000, 1000, 2 ** 31 - 2);
      const uidCount = int('FCM_VMM_UID_COUNT', 65_536, 1, 2 ** 31 - 1 - uidBase);
      const cgroupParent = str('FCM_VMM_CGROUP_PARENT', 'fcm-vms');
      if (!/^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$/.test(cgroupParent)) throw new ConfigError(`FCM_VMM_CGROUP_PARENT must be a cgroup name, got "${cgroupParent}"`);
      return {
        confine: bool('FCM_VMM_CONFINE', true),
        bwrap: str('FCM_BWRAP_BINARY', 'bwrap'),
        setpriv: '/usr/bin/setpriv',
        uidBase,
        uidCount,
        cgroups: oneOf('FCM_VMM_CGROUPS', 'auto', ['auto', 'v1', 'v2', 'off']),
        cgroupParent,
        memoryOverheadMib: int('FCM_VMM_MEMORY_OVERHEAD_MIB', 320, 64, 65_536),
        tcgTbMib: int('FCM_QEMU_TB_MIB', DEFAULT_TCG_TB_MIB, 4, 1024),
        tcgRestoreTbMib: int('FCM_QEMU_RESTORE_TB_MIB', DEFAULT_TCG_RESTORE_TB_MIB, 4, 1024),
        qemuThp: bool('FCM_QEMU_THP', false),
        ksm: {
          enabled: bool('FCM_KSM', false),
          pagesToScan: int('FCM_KSM_PAGES_TO_SCAN', 1000, 1, 100_000),
          sleepMs: int('FCM_KSM_SLEEP_MS', 50, 1, 60_000),
        },
        malloc: { arenaMax: int('FCM_QEMU_MALLOC_ARENA_MAX', 0, 0, 1024) },
      };
    })(),
    network: {
      bridge,
      subnet,
      subnetCidr,
      gatewayCidr: `${subnet.gateway}/${subnet.prefix}`,
      nat,
      dns: ipv4('FCM_DNS') ?? (nat ? '1.1.1.1' : null),
      egressAllow: cidrList(get('FCM_EGRESS_ALLOW'), 'FCM_EGRESS_ALLOW'),
    },
    agentPort: int('FCM_AGENT_PORT', 7611, 1, 65535),
    bootTimeoutMs: int('FCM_BOOT_TIMEOUT_MS', 180_000, 1000, 3_600_000),
    restartPolicy: oneOf('FCM_RESTART_POLICY', 'always', ['always', 'never']),
    restartMax: int('FCM_RESTART_MAX', 3, 1, 100),
    restartWindowMs: int('FCM_RESTART_WINDOW_MS', 5 * 60_000, 1000, 86_400_000),
    monitorIntervalMs: int('FCM_MONITOR_INTERVAL_MS', 1000, 50, 60_000),
    minFreeDiskMib: int('FCM_MIN_FREE_DISK_MIB', 1024, 0, 10_000_000),
    backupMaxMib: int('FCM_BACKUP_MAX_MIB', 20_480, 1, 10_000_000),
    publicIp: ipv4('FCM_PUBLIC_IP'),
    host: (() => {
      const id = str('FCM_HOST_ID', defaultHostId());
      if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(id)) throw new ConfigError(`FCM_HOST_ID must be a DNS label (lower-case letters, digits, hyphens), got "${id}"`);
      const leaseMs = int('FCM_HOST_LEASE_MS', 15_000, 1_000, 600_000);
      const renewMs = int('FCM_HOST_RENEW_MS', Math.floor(leaseMs / 3), 100, 300_000);
      // One late renewal must not lapse the lease.
      if (renewMs * 2 > leaseMs) throw new ConfigError(`FCM_HOST_RENEW_MS (${renewMs}) must be at most half of FCM_HOST_LEASE_MS (${leaseMs})`);
      return { id, leaseMs, renewMs };
    })(),
    baseDomain,
    publicUrl: (() => {
      const v = get('FCM_PUBLIC_URL');
      if (!v) return null;
      try {
        const u = new URL(v);
        if (!/^https?:$/.test(u.protocol) || u.pathname !== '/' || u.search) throw new Error('x');
        return v.replace(/\/+$/, '');
      } catch {
        throw new ConfigError(`FCM_PUBLIC_URL must be an http(s)://host[:port] URL, got "${v}"`);
      }
    })(),
    api: apiHost(get('FCM_API_HOST')),
    validateResponses: bool('FCM_VALIDATE_RESPONSES', true),
    snapshots: {
      enabled: bool('FCM_SNAPSHOTS', true),
      poolSize: get('FCM_SNAPSHOT_POOL') === 'auto' || !get('FCM_SNAPSHOT_POOL') ? autoPoolSize(optInt('FCM_HOST_MEMORY_MIB', 1, 1 << 30) ?? Math.floor(totalmem() / 1024 / 1024)) : int('FCM_SNAPSHOT_POOL', 1, 0, 16),
      dir: path('FCM_TEMPLATES_DIR', `${stateDir}/templates`),
      refillDelayMs: int('FCM_SNAPSHOT_REFILL_DELAY_MS', 2000, 0, 600_000),
      ram: oneOf('FCM_TEMPLATE_RAM', 'shared', ['shared', 'copy'] as const),
    },
    vmSnapshots: { maxPerVm: int('FCM_VM_SNAPSHOTS_MAX', 10, 0, 1000) },
    proxy: {
      adminUrl,
      tls: tlsMode === 'internal' ? { mode: 'internal' } : { mode: 'acme', email: get('FCM_ACME_EMAIL') ?? null },
      httpPort: int('FCM_HTTP_PORT', 80, 1, 65535),
      httpsPort: int('FCM_HTTPS_PORT', 443, 1, 65535),
      watchIntervalMs: int('FCM_ROUTE_WATCH_INTERVAL_MS', 2000, 100, 600_000),
      wakePort: int('FCM_WAKE_PORT', 7780, 1, 65535),
      wakeTimeoutMs: int('FCM_WAKE_TIMEOUT_MS', 60_000, 1000, 600_000),
      accessLogPort: int('FCM_ACCESS_LOG_PORT', 7781, 1, 65535),
      idleCheckIntervalMs: int('FCM_IDLE_CHECK_INTERVAL_MS', 5000, 100, 600_000),
    },
    oidc: oidcConfig(get),
    access: {
      emails: list(get('FCM_ALLOWED_EMAILS'), 'FCM_ALLOWED_EMAILS', EMAIL),
      domains: list(get('FCM_ALLOWED_DOMAINS'), 'FCM_ALLOWED_DOMAINS', DOMAIN),
      adminEmails: list(get('FCM_ADMIN_EMAILS'), 'FCM_ADMIN_EMAILS', EMAIL),
    },
    tokenTtlDays: int('FCM_TOKEN_TTL_DAYS', 30, 1, 3650),
    git: { user: gitUser(str('FCM_GIT_USER', 'fcm-git')) },
    agent: {
      outputMib: int('FCM_AGENT_OUTPUT_MIB', 32, 1, 1024),
      buildTimeoutMs: int('FCM_AGENT_BUILD_TIMEOUT_MS', 30 * 60_000, 1000, 24 * 3_600_000),
      callTimeoutMs: int('FCM_AGENT_CALL_TIMEOUT_MS', 5 * 60_000, 1000, 3_600_000),
    },
    clientStallMs: int('FCM_CLIENT_STALL_MS', 60_000, 1000, 3_600_000),
    consoleLogMib: int('FCM_CONSOLE_LOG_MIB', 4, 1, 1024),
    // Ten VMs of the default shape (1 vCPU, 1 GiB, 2 GiB disk + 512 MiB swap) per user, or fewer bigger ones (README).
    quotaDefaults: {
      vms: int('FCM_QUOTA_VMS', 10, 0, 100_000),
      vcpus: int('FCM_QUOTA_VCPUS', 10, 0, 1_000_000),
      memoryMib: int('FCM_QUOTA_MEMORY_MIB', 10_240, 0, 1 << 30),
      diskMib: int('FCM_QUOTA_DISK_MIB', 40_960, 0, 1 << 30),
      configVarsPerApp: int('FCM_QUOTA_CONFIG_VARS', 100, 0, 100_000),
      configBytesPerApp: int('FCM_QUOTA_CONFIG_BYTES', 65_536, 0, 1 << 30),
      repoMibPerApp: int('FCM_QUOTA_REPO_MIB', 1024, 0, 1 << 30),
      repoMibTotal: int('FCM_QUOTA_REPO_TOTAL_MIB', 4096, 0, 1 << 30),
      pendingDomains: int('FCM_QUOTA_PENDING_DOMAINS', 10, 0, 100_000),
    },
    admission: {
      hostMemoryMib: optInt('FCM_HOST_MEMORY_MIB', 1, 1 << 30),
      hostCpus: optInt('FCM_HOST_CPUS', 1, 100_000),
      memoryOvercommit: dec('FCM_MEMORY_OVERCOMMIT', 1, 0.1, 100),
      memoryReserveMib: int('FCM_MEMORY_RESERVE_MIB', 1024, 0, 1 << 30),
      cpuOvercommit: dec('FCM_CPU_OVERCOMMIT', 8, 0.1, 1000),
    },
    dnsResolvers: resolvers(get('FCM_DNS_RESOLVERS')),
    stripCookieDomain: bool('FCM_STRIP_COOKIE_DOMAIN', true),
    limits: {
      trustedProxies,
      login: rate('FCM_RATE_LOGIN', DEFAULT_RATES.login),
      public: rate('FCM_RATE_PUBLIC', DEFAULT_RATES.public),
      user: rate('FCM_RATE_USER', DEFAULT_RATES.user),
    },
  };
  return deepFreeze(cfg);
}

/** FCM_API_HOST: unset = the default name, `off` = not through Caddy, else a DNS name of ours. */
function apiHost(v: string | undefined): Config['api'] {
  if (v === undefined || v === '') return { proxied: true, host: null };
  if (v === 'off') return { proxied: false, host: null };
  const h = v.toLowerCase();
  if (!/^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$/.test(h)) throw new ConfigError(`FCM_API_HOST must be a DNS name (e.g. fcm.example.com) or "off", got "${v}"`);
  return { proxied: true, host: h };
}

/**
 * `postgresql://user[:password]@host[:port]/database[?…]`, or for a Unix
 * socket `postgresql://user@/database?host=/run/postgresql`; unset or empty:
 * SQLite. The value is never echoed (it may hold a password).
 */
/** The machine's host name as a DNS label (FCM_HOST_ID's default): distinct per machine, stable across restarts. */
function defaultHostId(): string {
  const label = hostname().split('.')[0]!.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63).replace(/-+$/, '');
  return label || 'local';
}

function databaseUrl(v: string | undefined): string | null {
  if (v === undefined || v.trim() === '') return null;
  const shape = 'postgresql://user[:password]@host[:port]/database, or postgresql://user@/database?host=/run/postgresql for a Unix socket';
  // `user@/db` (no host: a socket dir in ?host=) is what libpq and node-postgres accept, but not
  // WHATWG URL: parse it with a stand-in host, then require the socket dir.
  const socketForm = /^postgres(ql)?:\/\/[^/@]*@\//.test(v.trim());
  let u: URL;
  try {
    u = new URL(socketForm ? v.trim().replace('@/', '@socket.invalid/') : v.trim());
  } catch {
    throw new ConfigError(`FCM_DATABASE_URL is not a URL (expected ${shape})`);
  }
  if (u.protocol !== 'postgresql:' && u.protocol !== 'postgres:') throw new ConfigError(`FCM_DATABASE_URL must be a postgresql:// URL, got one with ${u.protocol}// (expected ${shape})`);
  if (!/^\/[^/]+$/.test(u.pathname)) throw new ConfigError(`FCM_DATABASE_URL must name the database (expected ${shape})`);
  if ((socketForm || !u.hostname) && !u.searchParams.get('host')) throw new ConfigError(`FCM_DATABASE_URL names no host: give host[:port], or ?host=<socket dir> (expected ${shape})`);
  return v.trim();
}

function gitUser(v: string): string {
  // A system user name (useradd's rules); root would defeat its purpose.
  if (!/^[a-z_][a-z0-9_-]{0,30}$/.test(v) || v === 'root') throw new ConfigError(`FCM_GIT_USER must be an unprivileged user name (lower-case letters, digits, - and _), got "${v}"`);
  return v;
}

/** IPv4 CIDRs (a bare address is a /32), comma- or space-separated, with host bits zero. */
function cidrList(v: string | undefined, key: string): string[] {
  const out: string[] = [];
  for (const item of (v ?? '').split(/[\s,]+/).filter(Boolean)) {
    const m = /^(\d{1,3}(?:\.\d{1,3}){3})(?:\/(\d{1,2}))?$/.exec(item);
    const octets = m ? m[1]!.split('.').map(Number) : [];
    const prefix = m?.[2] === undefined ? 32 : Number(m[2]);
    if (!m || octets.some((o) => o > 255) || prefix > 32) throw new ConfigError(`${key}: "${item}" is not an IPv4 address or CIDR`);
    const n = octets.reduce((a, o) => a * 256 + o, 0);
    const size = 2 ** (32 - prefix);
    if (n % size !== 0) throw new ConfigError(`${key}: "${item}" has host bits set (did you mean ${[...Array(4)].map((_, i) => Math.floor((n - (n % size)) / 256 ** (3 - i)) % 256).join('.')}/${prefix}?)`);
    out.push(`${m[1]}/${prefix}`);
  }
  return [...new Set(out)];
}

export const GOOGLE_ISSUER = 'https://accounts.google.com';

/**
 * Request limits by default: starting a login is rare (tokens last 30 days);
 * health checks, docs and the rest of the login flow are cheap; a user's CLI
 * or IaC run does at most a few hundred calls in a burst.
 */
export { DEFAULT_RATES };

const EMAIL = /^[^\s@,]+@[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/;
const DOMAIN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/;

/** `ip` or `ip:port` (IPv4), comma- or space-separated. */
function resolvers(v: string | undefined): string[] {
  const items = (v ?? '').split(/[\s,]+/).filter(Boolean);
  for (const x of items) {
    const m = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?$/.exec(x);
    if (!m || m[1]!.split('.').some((o) => Number(o) > 255) || (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535))) {
      throw new ConfigError(`FCM_DNS_RESOLVERS: "${x}" is not an IPv4 address with an optional :port`);
    }
  }
  return items;
}

/**
 * Comma- or space-separated, each checked, then lower-cased. Plain ASCII only,
 * checked before lower-casing: logins are compared after ASCII lower-casing
 * (core/access.ts), and Unicode case mapping would turn other characters
 * into ASCII letters (the Kelvin sign K into k).
 */
function list(v: string | undefined, key: string, re: RegExp): string[] {
  const raw = (v ?? '').split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
  for (const x of raw) if (!/^[\x21-\x7e]+$/.test(x)) throw new ConfigError(`${key}: ${JSON.stringify(x)} is not plain ASCII (write addresses and domains in ASCII; IDN domains as xn--…)`);
  const items = raw.map((x) => x.toLowerCase());
  for (const x of items) if (!re.test(x)) throw new ConfigError(`${key}: "${x}" is not ${re === EMAIL ? 'an email address' : 'a domain name'}`);
  return [...new Set(items)];
}

function secret(get: (k: (typeof CONFIG_KEYS)[number]) => string | undefined, key: (typeof CONFIG_KEYS)[number], fileKey: (typeof CONFIG_KEYS)[number]): string | null {
  const direct = get(key);
  const file = get(fileKey);
  if (direct && file) throw new ConfigError(`set ${key} or ${fileKey}, not both`);
  if (file) {
    try {
      const v = readFileSync(file, 'utf8').trim();
      if (!v) throw new Error('the file is empty');
      return v;
    } catch (e) {
      throw new ConfigError(`cannot read ${fileKey} ${file}: ${(e as Error).message}`);
    }
  }
  return direct || null;
}

function oidcConfig(get: (k: (typeof CONFIG_KEYS)[number]) => string | undefined): OidcConfig | null {
  const clientId = get('FCM_OIDC_CLIENT_ID') || null;
  const clientSecret = secret(get, 'FCM_OIDC_CLIENT_SECRET', 'FCM_OIDC_CLIENT_SECRET_FILE');
  const deviceClientId = get('FCM_OIDC_DEVICE_CLIENT_ID') || null;
  const deviceClientSecret = secret(get, 'FCM_OIDC_DEVICE_CLIENT_SECRET', 'FCM_OIDC_DEVICE_CLIENT_SECRET_FILE');
  if (!clientId) {
    if (clientSecret || deviceClientId || deviceClientSecret) throw new ConfigError('FCM_OIDC_CLIENT_ID is required when other FCM_OIDC_* settings are given');
    return null;
  }
  if (deviceClientSecret && !deviceClientId) throw new ConfigError('FCM_OIDC_DEVICE_CLIENT_SECRET needs FCM_OIDC_DEVICE_CLIENT_ID');
  const issuer = (get('FCM_OIDC_ISSUER') || GOOGLE_ISSUER).replace(/\/+$/, '');
  let u: URL;
  try {
    u = new URL(issuer);
  } catch {
    throw new ConfigError(`FCM_OIDC_ISSUER is not a URL: "${issuer}"`);
  }
  // Plain http would let anyone on the path forge logins; only a provider on loopback may use it (tests, local dev).
  const loopback = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(u.hostname);
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) throw new ConfigError(`FCM_OIDC_ISSUER must be an https:// URL, got "${issuer}"`);
  if (u.search || u.hash) throw new ConfigError(`FCM_OIDC_ISSUER must not have a query or fragment, got "${issuer}"`);
  return { issuer, clientId, clientSecret, deviceClientId, deviceClientSecret, googleHostedDomains: issuer === GOOGLE_ISSUER };
}

function deepFreeze<T>(o: T): Readonly<T> {
  for (const v of Object.values(o as object)) if (v && typeof v === 'object') deepFreeze(v);
  return Object.freeze(o);
}

/**
 * The default warm pool (FCM_SNAPSHOT_POOL=auto): ten machines — a burst of creates the size of
 * one user's default quota (10 VMs) is served from the pool, each in well under a second, while
 * the refill waits for the burst to end — and one per 2 GiB of host RAM below 20 GiB (a paused
 * pooled machine holds its VMM's overhead and the pages it touched warming up, and is counted
 * against host admission like a VM of its shape: small hosts keep fewer).
 */
export function autoPoolSize(hostMemoryMib: number): number {
  return Math.max(1, Math.min(10, Math.floor(hostMemoryMib / 2048)));
}

/** Host TSC frequency in kHz from /proc/cpuinfo (TCG guests need it on their command line). */
export function hostTscKhz(): number | null {
  try {
    const m = /cpu MHz\s*:\s*([\d.]+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return m ? Math.round(Number(m[1]) * 1000) : null;
  } catch {
    return null;
  }
}
