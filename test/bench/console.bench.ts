/**
 * Keystroke echo round trip: one key typed at the shell prompt until its
 * echo comes back, through the daemon's console WebSocket vs directly on
 * the console socket. Median and p99 of each, and the ratio.
 *
 *   --mode vm   (default where host tests can run) a real daemon and a real
 *               QEMU guest in a private netns; "direct" is QEMU's own
 *               console socket (measured while the daemon holds no link:
 *               the chardev serves one client at a time).
 *   --mode pty  anywhere: bash on a local pty behind a Unix socket that
 *               behaves like QEMU's chardev (+ console log); "through the
 *               daemon" is the real console stack (routes/console.ts,
 *               ConsoleService, SocketConsole) in this process on loopback.
 *   --iterations N (default 300), --warmup N (default 20)
 */
import { appendFileSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Fastify from 'fastify';
import pty from 'node-pty';
import { pino } from 'pino';
import { spec } from '../../api/spec.gen.js';
import { ConsoleService } from '../../daemon/core/console-service.js';
import type { VmRecord } from '../../daemon/core/model.js';
import { SocketConsole } from '../../daemon/drivers/console-socket.js';
import { consoleRoutes } from '../../daemon/http/routes/console.js';
import { tempDir } from '../e2e/cli-run.js';
import { ConsoleWs } from '../helpers/console-ws.js';
import { hostSkipReason, startHostHarness } from '../helpers/host-harness.js';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? def : args[i + 1] ?? def;
};
const iterations = Number(opt('iterations', '300'));
const warmup = Number(opt('warmup', '20'));
const hostSkip = hostSkipReason();
const mode = opt('mode', hostSkip ? 'pty' : 'vm');

/** A byte pipe to a shell: the console socket itself, or the daemon's WebSocket. */
interface Pipe {
  send(b: Buffer): void;
  onData(cb: (b: Buffer) => void): void;
  close(): Promise<void>;
}

function socketPipe(path: string): Promise<Pipe> {
  return new Promise((resolve, reject) => {
    const s: Socket = createConnection({ path }, () => {
      s.off('error', reject);
      resolve({
        send: (b) => void s.write(b),
        onData: (cb) => void s.on('data', cb),
        close: () => new Promise((r) => (s.once('close', () => r()), s.end())),
      });
    });
    s.once('error', reject);
  });
}

async function wsPipe(url: string, token: string): Promise<Pipe> {
  const c = await ConsoleWs.open(url, { token });
  return {
    send: (b) => c.send(b),
    onData: (cb) => void c.ws.on('message', (d, bin) => bin && cb(Buffer.from(d as Buffer))),
    close: async () => void (await c.close()),
  };
}

/** Median, p99 and mean of round trips in ms: type "a" → wait for its echo; then erase it (not timed). */
async function measure(p: Pipe, label: string): Promise<number[]> {
  let buf = '';
  let notify: (() => void) | null = null;
  p.onData((b) => {
    buf += b.toString('latin1');
    notify?.();
  });
  const until = (pred: () => boolean, timeoutMs = 10_000) =>
    new Promise<void>((resolve, reject) => {
      if (pred()) return resolve();
      const t = setTimeout(() => reject(new Error(`${label}: no echo within ${timeoutMs} ms; got ${JSON.stringify(buf.slice(-200))}`)), timeoutMs);
      notify = () => {
        if (pred()) {
          clearTimeout(t);
          notify = null;
          resolve();
        }
      };
    });
  // A fresh prompt, then quiet.
  p.send(Buffer.from('\r'));
  await until(() => /[#$] $/.test(buf), 30_000);
  await new Promise((r) => setTimeout(r, 300));
  const samples: number[] = [];
  for (let i = 0; i < warmup + iterations; i++) {
    buf = '';
    const t0 = performance.now();
    p.send(Buffer.from('a'));
    await until(() => buf.includes('a'));
    const dt = performance.now() - t0;
    if (i >= warmup) samples.push(dt);
    buf = '';
    p.send(Buffer.from('\x7f'));
    await until(() => buf.includes('\b'));
  }
  return samples;
}

function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!;
  return { median: q(0.5), p99: q(0.99), mean: s.reduce((a, b) => a + b, 0) / s.length, n: s.length };
}

function report(direct: number[], daemon: number[], what: { direct: string; daemon: string }): void {
  const d = stats(direct);
  const w = stats(daemon);
  const f = (x: number) => `${x.toFixed(2).padStart(7)} ms`;
  console.log(`keystroke echo round trip, ${d.n} samples each (after ${warmup} warm-up)`);
  console.log(`  ${'path'.padEnd(44)}  median      p99       mean`);
  console.log(`  ${what.direct.padEnd(44)} ${f(d.median)} ${f(d.p99)} ${f(d.mean)}`);
  console.log(`  ${what.daemon.padEnd(44)} ${f(w.median)} ${f(w.p99)} ${f(w.mean)}`);
  console.log(`  ratio daemon/direct: median ×${(w.median / d.median).toFixed(2)}, p99 ×${(w.p99 / d.p99).toFixed(2)}; added median ${(w.median - d.median).toFixed(2)} ms`);
}

async function vmMode(): Promise<void> {
  if (hostSkip) throw new Error(`--mode vm: ${hostSkip}`);
  const h = await startHostHarness();
  try {
    const c = await h.api('POST', '/v1/vms', { name: 'bench', memoryMib: 256, swapMib: 64 });
    if (c.status !== 201) throw new Error(JSON.stringify(c.body));
    const w = await h.api('GET', '/v1/vms/bench/wait?state=running&timeout=240');
    if (w.status !== 200) throw new Error(JSON.stringify(w.body));
    const accel = (await h.api('GET', '/v1/health')).body.accel;
    // Direct first: the daemon opens its link only for its first client.
    const sock = join(h.stateDir, 'run', w.body.id, 'console.sock');
    const dp = await socketPipe(sock);
    const direct = await measure(dp, 'direct');
    await dp.close();
    await new Promise((r) => setTimeout(r, 300));
    const wp = await wsPipe(`${h.url}/v1/vms/bench/console`, h.token);
    const daemon = await measure(wp, 'daemon');
    await wp.close();
    console.log(`mode vm: QEMU ${accel} guest (bash on ttyS0), daemon in a netns, client over a veth`);
    report(direct, daemon, { direct: 'direct: QEMU console socket', daemon: 'daemon: WebSocket → daemon → console socket' });
  } finally {
    await h.close();
  }
}

async function ptyMode(): Promise<void> {
  const dir = tempDir('fcm-bench-');
  const socketPath = join(dir, 'console.sock');
  const logPath = join(dir, 'console.log');
  const shell = pty.spawn('/bin/bash', ['--norc', '--noprofile', '-i'], { cols: 80, rows: 24, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PS1: '# ', TERM: 'xterm' } });
  // Like QEMU's socket chardev: one client at a time, everything logged.
  let client: Socket | null = null;
  shell.onData((d) => {
    appendFileSync(logPath, d);
    client?.write(d);
  });
  const server = createServer((s) => {
    if (client) return s.destroy();
    client = s;
    s.on('data', (b) => shell.write(b.toString('latin1')));
    s.on('close', () => (client = null));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(socketPath, r));

  const log = pino({ level: 'silent' });
  const vm = { id: 'vm_bench', name: 'bench', ip: '127.0.0.1', state: 'running', owner: 'u', lastError: null } as unknown as VmRecord;
  const consoles = new ConsoleService({
    console: new SocketConsole({ endpoint: () => ({ socketPath, logPath }), agentPort: 9, agentToken: () => 'x' }),
    vms: { get: () => vm, onChange: () => () => {} },
    log,
  });
  const app = Fastify({ logger: false });
  consoleRoutes({ spec, auth: { authenticate: (t) => (t === 'bench-token' ? { userId: 'u', email: null, admin: true } : null) }, consoles, log })(app);
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  try {
    const dp = await socketPipe(socketPath);
    const direct = await measure(dp, 'direct');
    await dp.close();
    await new Promise((r) => setTimeout(r, 100));
    const wp = await wsPipe(`${base}/v1/vms/bench/console`, 'bench-token');
    const daemon = await measure(wp, 'daemon');
    await wp.close();
    console.log('mode pty: bash on a local pty behind a chardev-like Unix socket; the console stack in this process (one event loop for both ends)');
    report(direct, daemon, { direct: 'direct: console socket', daemon: 'daemon: WebSocket → console stack → socket' });
  } finally {
    await app.close();
    server.close();
    shell.kill();
  }
}

if (mode === 'vm') await vmMode();
else if (mode === 'pty') await ptyMode();
else throw new Error(`--mode vm|pty, not ${mode}`);
process.exit(0);
