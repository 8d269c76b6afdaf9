/**
 * A real DNS server (dnsmasq, Debian's dnsmasq-base) inside a test's network
 * namespace, on the namespace's loopback: authoritative for the TXT records a
 * test sets, with no upstream (--no-resolv, no --server), so no query ever
 * leaves the namespace. setTxt() restarts it with the new records (dnsmasq
 * reads --txt-record only at start).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { run } from '../../daemon/drivers/proc.js';
import { serverReady } from './ports.js';

export const DNSMASQ = '/usr/sbin/dnsmasq';

/** Why the DNS server cannot run here, or null. */
export function dnsSkipReason(): string | null {
  try {
    accessSync(DNSMASQ, constants.X_OK);
    return null;
  } catch {
    return `needs ${DNSMASQ} (apt-get install dnsmasq-base; daemon/host-setup.sh installs it)`;
  }
}

export interface DnsServer {
  /** `ip:port` for FCM_DNS_RESOLVERS. */
  address: string;
  setTxt(records: Record<string, string[]>): Promise<void>;
  close(): Promise<void>;
}

/** Exits 0 once the server answers (NXDOMAIN for a name it has no record of). */
const PROBE = `const r = new (require('node:dns').promises.Resolver)({ timeout: 500, tries: 1 }); r.setServers([process.argv[1]]);
r.resolveTxt('ready.fcm-probe.test').then(() => process.exit(0), (e) => process.exit(e.code === 'ENOTFOUND' ? 0 : 1));`;

/** `ns` null: on the host's loopback (still no upstream, so nothing leaves the machine). */
export async function startDnsServer(ns: string | null, o: { ip?: string; port?: number } = {}): Promise<DnsServer> {
  const inNs = (argv: string[]): [string, string[]] => (ns ? ['ip', ['netns', 'exec', ns, ...argv]] : [argv[0]!, argv.slice(1)]);
  const ip = o.ip ?? '127.0.0.1';
  const port = o.port ?? 5353;
  let child: ChildProcess | null = null;
  let stderr = '';
  const stop = async () => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    await exited;
  };
  const start = async (records: Record<string, string[]>) => {
    await stop();
    const argv = [
      DNSMASQ, '--keep-in-foreground', '--no-resolv', '--no-hosts', '--no-poll', '--conf-file=/dev/null',
      `--listen-address=${ip}`, '--bind-interfaces', `--port=${port}`, '--user=root', '--pid-file=', '--log-facility=-',
      // Authoritative for .test: a name without a record is NXDOMAIN, not "refused".
      '--local=/test/',
      ...Object.entries(records).flatMap(([name, values]) => values.map((v) => `--txt-record=${name},${v}`)),
    ];
    stderr = '';
    const [cmd, args] = inNs(argv);
    child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    // dnsmasq says "started" once its sockets are bound, or exits with the reason (AddressInUse when the
    // port is taken: onFreePort picks another); a probe alone could be answered by whatever else holds the port.
    await serverReady(child, 'dnsmasq', () => stderr, /started, version/, 10_000);
    // Ready when it answers a query (from inside the namespace).
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`dnsmasq exited ${child.exitCode}: ${stderr}`);
      const r = await run(...inNs([process.execPath, '-e', PROBE, `${ip}:${port}`])).catch(() => null);
      if (r) return;
      if (Date.now() > deadline) throw new Error(`dnsmasq did not answer: ${stderr}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  };
  await start({});
  return { address: `${ip}:${port}`, setTxt: start, close: stop };
}
