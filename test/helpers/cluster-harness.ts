/**
 * Host tests of a cluster: N daemons, each in its own network namespace with
 * its own bridge, VM subnet and Caddy (test/helpers/host-harness.ts), and one
 * PostgreSQL in a namespace of its own. The namespaces are joined by veth
 * pairs to a bridge in a hub namespace (the cluster's "LAN", 10.253.X.0/24):
 * hosts at .11, .12, …, PostgreSQL at .10. No namespace has a default route
 * and the hub has no link to the host, so nothing leaves the machine; the
 * test process reaches each daemon only over its harness's own /30 veth, and
 * reaches LAN addresses only from inside a namespace (`exec`). Every address
 * is polled from inside the namespace that uses it before it is used.
 *
 * Every daemon gets the same admin token file, as the README tells an
 * operator adding a host (each daemon revokes admin tokens other than its
 * own file's at start).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newToken } from '../../daemon/core/tokens.js';
import { run } from '../../daemon/drivers/proc.js';
import { killNamespaceNow, onExitTeardown, startHostHarness, type HostHarness } from './host-harness.js';
import { pgBinDir, pgSkipReason } from './postgres.js';

export interface ClusterHostSpec {
  id: string;
  /** Extra FCM_* settings for this daemon (e.g. FCM_HOST_MEMORY_MIB). */
  env?: Record<string, string>;
}

export interface ClusterOptions {
  hosts: ClusterHostSpec[];
  /** Settings for every daemon. */
  env?: Record<string, string>;
  /** FCM_HOST_LEASE_MS (renewal every third of it). Short, so a fault test sees a lapse soon. */
  leaseMs?: number;
}

export interface ClusterHost {
  id: string;
  /** Its address on the cluster LAN: its FCM_PUBLIC_IP (VM URLs embed it) and its API URL's host. */
  lanIp: string;
  /** The VM subnet of its bridge. */
  subnet: string;
  h: HostHarness;
}

export interface ClusterPg {
  ns: string;
  lanIp: string;
  /** Its Unix socket's dir (trust auth for local connections): the test process's own way in, for fixtures. */
  socketDir: string;
  /** What every daemon has as FCM_DATABASE_URL (holds the password). */
  url: string;
  /** Fast shutdown; resolves once the server process has exited. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** The postmaster's pid, or null when it is not running. */
  pid(): number | null;
}

export interface TestCluster {
  hosts: ClusterHost[];
  host(id: string): ClusterHost;
  pg: ClusterPg;
  /** The one admin token every daemon accepts. */
  token: string;
  /** Whether `host`'s namespace reaches PostgreSQL now (pg_isready over the LAN). */
  pgReachableFrom(host: ClusterHost): Promise<boolean>;
  /** Stops every daemon (deleting what VMs are left through the API), PostgreSQL, and removes every namespace and dir. */
  close(): Promise<void>;
}

/** Why a cluster cannot run here, or null (on top of hostSkipReason). */
export function clusterSkipReason(): string | null {
  return pgSkipReason();
}

async function pollUntil(what: string, fn: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startCluster(opts: ClusterOptions): Promise<TestCluster> {
  const bin = pgBinDir();
  if (!bin) throw new Error(pgSkipReason()!);
  const id = randomBytes(3).toString('hex');
  const hub = `fcmc-${id}`;
  const pgNs = `fcmp-${id}`;
  const lan = `10.253.${parseInt(id, 16) % 250}`;
  const pgIp = `${lan}.10`;
  const leaseMs = opts.leaseMs ?? 4000;
  const made: string[] = [];
  const hosts: ClusterHost[] = [];
  const pgDir = mkdtempSync(join(tmpdir(), 'fcm-cluster-pg-'));
  let pgProc: ChildProcess | null = null;
  let pgLog = '';
  const pgIds = {
    uid: Number((await run('id', ['-u', 'postgres'])).stdout.trim()),
    gid: Number((await run('id', ['-g', 'postgres'])).stdout.trim()),
  };
  const password = randomBytes(16).toString('hex');
  const token = newToken();

  const stopPg = async () => {
    const c = pgProc;
    pgProc = null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    // SIGINT: fast shutdown (ends sessions, rolls back open transactions).
    c.kill('SIGINT');
    await exited;
  };
  const teardown = async () => {
    for (const x of [...hosts].reverse()) await x.h.close().catch(() => {});
    await stopPg();
    for (const ns of made.reverse()) await run('ip', ['netns', 'del', ns]).catch(() => {});
    rmSync(pgDir, { recursive: true, force: true });
    forgetExitTeardown();
  };
  // Stopped from outside before teardown(): the host harnesses clean up their own; this is the rest.
  const forgetExitTeardown = onExitTeardown(`cluster-${hub}`, () => {
    for (const ns of [...made].reverse()) killNamespaceNow(ns);
    rmSync(pgDir, { recursive: true, force: true });
  });

  try {
    // The LAN: a bridge in the hub namespace, nothing else there.
    for (const ns of [hub, pgNs]) {
      await run('ip', ['netns', 'add', ns]);
      made.push(ns);
    }
    await run('ip', ['-n', hub, 'link', 'add', 'lan0', 'type', 'bridge']);
    await run('ip', ['-n', hub, 'link', 'set', 'lan0', 'up']);
    const attach = async (ns: string, port: string, ip: string) => {
      // Made inside the hub (names are the hub's), the peer moved straight into `ns`.
      await run('ip', ['-n', hub, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'lan', 'netns', ns]);
      await run('ip', ['-n', hub, 'link', 'set', port, 'master', 'lan0']);
      await run('ip', ['-n', hub, 'link', 'set', port, 'up']);
      await run('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'lan']);
      await run('ip', ['-n', ns, 'link', 'set', 'lan', 'up']);
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    };
    await attach(pgNs, 'pg', pgIp);

    // PostgreSQL on the LAN address only, password auth from the LAN, as the postgres user.
    chownSync(pgDir, pgIds.uid, pgIds.gid);
    const pwFile = join(pgDir, 'pw');
    writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
    chownSync(pwFile, pgIds.uid, pgIds.gid);
    const data = join(pgDir, 'data');
    await run('nsenter', [`--net=/run/netns/${pgNs}`, '-S', String(pgIds.uid), '-G', String(pgIds.gid), '--', join(bin, 'initdb'), '-D', data,
      '--auth-local=trust', '--auth-host=scram-sha-256', `--pwfile=${pwFile}`, '--username=postgres', '--encoding=UTF8', '--no-sync', '--no-instructions'], { timeoutMs: 120_000 });
    rmSync(pwFile);
    appendFileSync(join(data, 'pg_hba.conf'), `host all all ${lan}.0/24 scram-sha-256\n`);
    const startPg = async () => {
      pgLog = '';
      const c = spawn('nsenter', [`--net=/run/netns/${pgNs}`, '-S', String(pgIds.uid), '-G', String(pgIds.gid), '--', join(bin, 'postgres'), '-D', data, '-k', pgDir,
        '-c', `listen_addresses=${pgIp}`, '-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'synchronous_commit=off'], {
        cwd: pgDir, stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' },
      });
      c.stderr!.on('data', (b: Buffer) => (pgLog = (pgLog + b.toString()).slice(-8000)));
      pgProc = c;
      await pollUntil(`PostgreSQL in ${pgNs} accepting on ${pgIp}`, async () => {
        if (c.exitCode !== null) throw new Error(`postgres exited ${c.exitCode}: ${pgLog}`);
        return run('ip', ['netns', 'exec', pgNs, join(bin, 'pg_isready'), '-h', pgIp, '-q']).then(() => true, () => false);
      }, 30_000);
    };
    await startPg();
    const url = `postgresql://postgres:${password}@${pgIp}:5432/postgres`;

    const pgReachableFrom = (x: { h: { ns: string } }) =>
      run('ip', ['netns', 'exec', x.h.ns, join(bin, 'pg_isready'), '-h', pgIp, '-q', '-t', '2']).then(() => true, () => false);

    // The daemons one after another: the first makes the schema and the cluster key.
    for (const [i, spec] of opts.hosts.entries()) {
      const lanIp = `${lan}.${11 + i}`;
      const subnet = `172.16.${10 + i}.0/24`;
      const h = await startHostHarness({
        caddy: true,
        env: {
          FCM_DATABASE_URL: url,
          FCM_HOST_ID: spec.id,
          FCM_SUBNET: subnet,
          FCM_PUBLIC_IP: lanIp,
          FCM_PUBLIC_URL: `http://${lanIp}:7777`,
          FCM_HOST_LEASE_MS: String(leaseMs),
          FCM_HOST_RENEW_MS: String(Math.floor(leaseMs / 4)),
          ...opts.env,
          ...spec.env,
        },
        beforeDaemon: async ({ ns, stateDir }) => {
          await attach(ns, `h${i}`, lanIp);
          // Before the daemon uses the LAN: the database answers from inside this namespace.
          await pollUntil(`PostgreSQL reachable from ${ns}`, () => pgReachableFrom({ h: { ns } }));
          writeFileSync(join(stateDir, '.token'), `${token}\n`, { mode: 0o600 });
        },
      });
      hosts.push({ id: spec.id, lanIp, subnet, h });
    }
    // Each daemon's API over the LAN, from every other host's namespace (forwarding goes this way).
    for (const x of hosts) {
      for (const y of hosts) {
        if (x === y) continue;
        await pollUntil(`${y.id}'s API from ${x.id}'s namespace`, () =>
          x.h.exec('curl', ['-sS', '-o', '/dev/null', '--max-time', '2', `http://${y.lanIp}:7777/v1/health`]).then(() => true, () => false));
      }
    }

    return {
      hosts,
      host: (hid) => {
        const x = hosts.find((y) => y.id === hid);
        if (!x) throw new Error(`no host ${hid} in this cluster`);
        return x;
      },
      token,
      pg: { ns: pgNs, lanIp: pgIp, socketDir: pgDir, url, stop: stopPg, start: startPg, pid: () => (pgProc && pgProc.exitCode === null && pgProc.signalCode === null ? pgProc.pid ?? null : null) },
      pgReachableFrom,
      close: teardown,
    };
  } catch (e) {
    await teardown();
    throw e;
  }
}
