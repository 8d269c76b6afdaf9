/**
 * A real Caddy as the reverse proxy in front of a daemon's API, on
 * 127.0.0.1:<port> (by default the one the kernel gives Caddy for port 0, as
 * Caddy logs it; a caller that needs the port before Caddy starts passes one
 * and retries on AddressInUse: test/helpers/ports.ts), plain HTTP, admin
 * API off (so it never meets another test's Caddy on :2019). What the daemon sees through it is what
 * it sees in production behind the host's Caddy: connections from
 * 127.0.0.1 carrying X-Forwarded-For (Caddy ≥ 2.5 replaces the header of
 * clients it does not trust with their real address).
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AddressInUse } from './ports.js';

export async function startCaddyFront(upstream: string, dir: string, port?: number): Promise<{ url: string; close(): Promise<void> }> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const config = {
    admin: { disabled: true },
    apps: {
      http: {
        servers: {
          api: {
            listen: [`127.0.0.1:${port ?? 0}`],
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
  const start = readFileSync(log, 'utf8').length; // the log is appended to: this start's lines only
  const proc = spawn('caddy', ['run', '--config', join(dir, 'caddy.json')], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config') },
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  const tail = () => readFileSync(log, 'utf8').slice(start);
  const ended = () => proc.exitCode !== null || proc.signalCode !== null;
  const deadline = Date.now() + 20_000;
  const giveUp = (why: string) => {
    proc.kill('SIGKILL');
    return new Error(`caddy ${why}:\n${tail().slice(-2000)}`);
  };
  // Caddy's own word that it listens ("serving initial configuration" comes after every listener is
  // bound; a port-0 listener is logged with the address it got), or its exit with the reason.
  let url = port === undefined ? '' : `http://127.0.0.1:${port}`;
  for (;;) {
    const text = tail();
    if (ended()) {
      const msg = `caddy exited ${proc.exitCode ?? proc.signalCode}:\n${text.slice(-2000)}`;
      throw /address already in use/.test(text) ? new AddressInUse(msg) : new Error(msg);
    }
    if (text.includes('"serving initial configuration"')) {
      if (!url) {
        const got = /"msg":"port 0 listener".*?"actual_address":"127\.0\.0\.1:(\d+)"/.exec(text);
        if (!got) throw giveUp('did not log the port it got');
        url = `http://127.0.0.1:${got[1]}`;
      }
      break;
    }
    if (Date.now() > deadline) throw giveUp('did not start within 20 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  // It listens: the proxy answers once the daemon does.
  for (;;) {
    const ok = await fetch(`${url}/openapi.json`, { signal: AbortSignal.timeout(1000) }).then((r) => r.status === 200, () => false);
    if (ok) break;
    if (ended()) throw new Error(`caddy exited ${proc.exitCode ?? proc.signalCode}:\n${tail().slice(-2000)}`);
    if (Date.now() > deadline) throw giveUp('did not proxy within 20 s');
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
