import { createServer, type Server, type Socket } from 'node:net';
import type { RequestActivity } from '../core/ports/request-activity.js';

/** Longer than any access log line Caddy writes for one request (its headers are bounded by its own limits). */
const MAX_LINE = 256 * 1024;

/**
 * Caddy's access log (JSON lines, its `net` log writer) received on a
 * loopback TCP port: only the request's host is kept, with the time it was
 * seen — that is all idle sleep needs, and nothing of the request (cookies,
 * addresses, paths) is stored or logged. A line that is too long or not JSON
 * is skipped; a connection is never trusted beyond that (anything on the
 * host's loopback could connect, and could at most keep a VM awake).
 */
export class CaddyAccessLog implements RequestActivity {
  private readonly last = new Map<string, number>();
  private server: Server | null = null;
  private readonly conns = new Set<Socket>();

  constructor(private readonly now: () => number = Date.now) {}

  lastRequestAt(host: string): number | null {
    return this.last.get(host) ?? null;
  }

  async listen(host: string, port: number): Promise<void> {
    const server = createServer((c) => this.accept(c));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.server = server;
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.destroy();
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** One access log line (exported for tests). */
  record(line: string): void {
    let host: unknown;
    try {
      host = (JSON.parse(line) as { request?: { host?: unknown } })?.request?.host;
    } catch {
      return;
    }
    if (typeof host !== 'string' || host.length > 300) return;
    const name = host.toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '');
    // Bounded: one entry per host; hosts nobody routes are dropped when the map grows large.
    if (!this.last.has(name) && this.last.size >= 10_000) this.last.clear();
    this.last.set(name, this.now());
  }

  private accept(c: Socket): void {
    this.conns.add(c);
    c.setEncoding('utf8');
    let buf = '';
    c.on('data', (d: string) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i !== -1; i = buf.indexOf('\n')) {
        this.record(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
      if (buf.length > MAX_LINE) buf = '';
    });
    c.on('error', () => {});
    c.on('close', () => this.conns.delete(c));
  }
}
