/**
 * A recording listener inside a harness's network namespace: TCP and UDP
 * ports on every address of the namespace (the bridge gateway included);
 * each connection or datagram becomes one event with its source address.
 * Used to prove that traffic does (control) or does not (isolation,
 * spoofing) arrive — a check that can fail, unlike "no reply came back".
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface NsEvent {
  proto: 'tcp' | 'udp';
  port: number;
  from: string;
  data: string;
}

const SCRIPT = `
const net = require('node:net'), dgram = require('node:dgram');
const [tcp, udp] = JSON.parse(process.argv[1]);
const out = (e) => process.stdout.write(JSON.stringify(e) + '\\n');
let pending = tcp.length + udp.length;
const ready = () => { if (--pending === 0) out({ ready: true }); };
for (const port of tcp) {
  const s = net.createServer((c) => {
    let data = '';
    c.setEncoding('utf8');
    c.on('data', (d) => (data += d).length > 200 && c.destroy());
    c.on('error', () => {});
    const done = () => out({ proto: 'tcp', port, from: (c.remoteAddress || '').replace(/^::ffff:/, ''), data });
    c.setTimeout(1000, () => c.destroy());
    c.on('close', done);
  });
  s.listen({ port, host: '0.0.0.0' }, ready);
}
for (const port of udp) {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => out({ proto: 'udp', port, from: r.address, data: m.toString('utf8').slice(0, 200) }));
  s.bind(port, '0.0.0.0', ready);
}
`;

export interface NsListener {
  events: NsEvent[];
  /** Resolves with the first event matching within ms, or null. */
  waitFor(pred: (e: NsEvent) => boolean, ms: number): Promise<NsEvent | null>;
  stop(): Promise<void>;
}

export async function startNsListener(ns: string, ports: { tcp?: number[]; udp?: number[] }): Promise<NsListener> {
  const child: ChildProcess = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', SCRIPT, JSON.stringify([ports.tcp ?? [], ports.udp ?? []])], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: NsEvent[] = [];
  const listeners: (() => void)[] = [];
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const ready = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const e = JSON.parse(line) as NsEvent & { ready?: boolean };
      if (e.ready) return resolve();
      events.push(e);
      for (const l of listeners.splice(0)) l();
    });
    child.once('exit', (code) => reject(new Error(`namespace listener exited (${code}): ${stderr}`)));
  });
  await ready;
  return {
    events,
    waitFor: async (pred, ms) => {
      const deadline = Date.now() + ms;
      for (;;) {
        const hit = events.find(pred);
        if (hit) return hit;
        const left = deadline - Date.now();
        if (left <= 0) return null;
        await new Promise<void>((r) => {
          const t = setTimeout(r, left);
          listeners.push(() => (clearTimeout(t), r()));
        });
      }
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGKILL');
      await exited;
    },
  };
}
