/**
 * A real Caddy as the reverse proxy in front of a daemon's API, on
 * 127.0.0.1:<free port>, plain HTTP, admin API off (so it never meets
 * another test's Caddy on :2019). What the daemon sees through it is what
 * it sees in production behind the host's Caddy: connections from
 * 127.0.0.1 carrying X-Forwarded-For (Caddy ≥ 2.5 replaces the header of
 * clients it does not trust with their real address).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

export async function startCaddyFront(upstream: string, dir: string, port?: number): Promise<{ url: string; close(): Promise<void> }> {
  const listen = port ?? (await freePort());
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const config = {
    admin: { disabled: true },
    apps: {
      http: {
        servers: {
          api: {
            listen: [`127.0.0.1:${listen}`],
            automatic_https: { disable: true },
            routes: [{ handle: [{ handler: 'reverse_proxy', upstreams: [{ dial: new URL(upstream).host }] }] }],
          },
        },
      },
    },
  };
  writeFileSync(join(dir, 'caddy.json'), JSON.stringify(config));
  const log = join(dir, 'caddy.log');
  const out = openSync(log, 'a', 0o600);
  const proc = spawn('caddy', ['run', '--config', join(dir, 'caddy.json')], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config') },
    stdio: ['ignore', out, out],
  });
  const url = `http://127.0.0.1:${listen}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`caddy exited ${proc.exitCode}:\n${readFileSync(log, 'utf8').slice(-2000)}`);
    const ok = await fetch(`${url}/openapi.json`, { signal: AbortSignal.timeout(1000) }).then((r) => r.status === 200, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`caddy did not proxy within 20 s:\n${readFileSync(log, 'utf8').slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    close: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGTERM');
      await exited;
    },
  };
}
