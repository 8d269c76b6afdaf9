/**
 * Ports for servers that must know their port before they listen (an OIDC
 * redirect URL or a public URL in the daemon's configuration, a Caddy or
 * sshd configuration file).
 *
 * A port the kernel hands out for port 0 and that is then released is free
 * at that instant only: until the real server binds it, anything else on
 * the machine can take it (another test's server, or the local end of an
 * outgoing connection — ephemeral ports come from the same range). So the
 * port is not trusted: `onFreePorts` starts the server on it, and when the
 * server reports that the address is in use, starts it again on other ports
 * (a bounded number of times). The failure is the server's own report — a
 * listen() error with code EADDRINUSE, or `AddressInUse` thrown by a helper
 * that read it from a child process's log when the child exited — never a
 * timeout. A server that can listen on port 0 and say which port it got
 * should do that instead (Fastify, node:net: `listen({ port: 0 })`).
 */
import { connect, createServer } from 'node:net';

/** A port that was free on `host` a moment ago (bound with port 0, then released). */
export async function pickPort(host = '127.0.0.1'): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, host, () => resolve());
  });
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/**
 * A loopback port where connections are refused (ECONNREFUSED), and stay refused: a port bound with 0 and
 * released could be taken before the test connects. This one is the local end of a connection this
 * process keeps open (to a throwaway server) until it exits: nothing listens there, and nothing can
 * listen there meanwhile (Linux refuses to bind a port a connected socket holds, SO_REUSEADDR or not).
 */
export async function refusedPort(): Promise<number> {
  const server = createServer((peer) => peer.unref());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.unref();
  const client = connect((server.address() as { port: number }).port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    client.once('error', reject);
    client.once('connect', () => resolve());
  });
  client.on('error', () => {});
  client.unref();
  return client.localPort!;
}

/** A server (a child process) reported that its address was in use. */
export class AddressInUse extends Error {
  readonly code = 'EADDRINUSE';
}

export function isAddressInUse(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'EADDRINUSE';
}

/**
 * Calls `start(ports)` with `n` distinct ports that were just free, and
 * again with new ones while it fails with address-in-use (at most
 * `attempts` times). `start` must clean up what it started before it
 * rejects: it runs again from scratch. Any other failure is passed on.
 */
export async function onFreePorts<T>(n: number, start: (ports: number[]) => Promise<T>, o: { host?: string; attempts?: number } = {}): Promise<T> {
  const attempts = o.attempts ?? 5;
  const taken: string[] = [];
  for (let i = 1; ; i++) {
    const ports: number[] = [];
    while (ports.length < n) {
      const p = await pickPort(o.host);
      if (!ports.includes(p)) ports.push(p);
    }
    try {
      return await start(ports);
    } catch (e) {
      if (!isAddressInUse(e)) throw e;
      taken.push(`${ports.join(',')}: ${(e as Error).message.split('\n')[0]}`);
      process.stderr.write(`[ports] address in use on ${ports.join(',')}: starting again on other ports\n`);
      if (i >= attempts) throw new Error(`address in use on ${attempts} tries:\n${taken.join('\n')}`, { cause: e });
    }
  }
}

export function onFreePort<T>(start: (port: number) => Promise<T>, o: { host?: string; attempts?: number } = {}): Promise<T> {
  return onFreePorts(1, ([p]) => start(p!), o);
}

/**
 * Waits until a server process's log says it is ready (`ready` matches
 * `log()`), and fails as soon as the process ends instead: with
 * `AddressInUse` when its log says so (so `onFreePorts` tries other ports),
 * else with the log. Call it right after spawn (it listens for the
 * process's 'close', after which its piped output is complete).
 */
export async function serverReady(proc: import('node:child_process').ChildProcess, what: string, log: () => string, ready: RegExp, withinMs = 20_000): Promise<void> {
  let closed = false;
  proc.once('close', () => (closed = true));
  const deadline = Date.now() + withinMs;
  for (;;) {
    if (ready.test(log())) return;
    if (closed) {
      const text = log();
      const msg = `${what} exited (${proc.exitCode ?? proc.signalCode}) before it was ready:\n${text.slice(-2000)}`;
      throw /address already in use/i.test(text) ? new AddressInUse(msg) : new Error(msg);
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`${what} not ready within ${withinMs} ms:\n${log().slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
