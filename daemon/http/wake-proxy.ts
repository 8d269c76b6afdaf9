import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { Logger } from '../log.js';
import { isFcmError } from '../core/errors.js';
import type { VmRecord } from '../core/model.js';
import { WAKE_HEADER, unavailablePage } from '../core/planners/caddy-config.js';

export interface WakeProxyDeps {
  /** Wakes the VM of that name if it sleeps; resolves with it once it runs (VmService.awakeForRequest). */
  awake(name: string, timeoutMs: number, signal: AbortSignal): Promise<VmRecord>;
  log: Logger;
  /** How long a request is held while its VM wakes. */
  wakeTimeoutMs: number;
}

const VM_NAME = /^[a-z]([a-z0-9-]*[a-z0-9])?$/;
/** Connection-level headers: they describe one hop, never forwarded (RFC 9110 7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);
/** A restored app answers at once; a cold-booted one (the fallback) may need a moment after its agent. */
const APP_PORT_WAIT_MS = 30_000;

/**
 * The wake path of sleeping VMs. Caddy routes a sleeping (or starting) VM's hosts here
 * (a loopback listener, see caddy-config.ts `wakeDial`) with the VM's name in
 * `X-Fcm-Wake`. Each request wakes the VM (concurrent requests share one
 * wake: it runs under the VM's lock), is held until the guest runs and its
 * app port accepts, then is forwarded to the app as Caddy would have, and
 * its answer streamed back — the client sees the app, never an error page.
 * A VM that does not come back within the bound gets the 503 page.
 * Meanwhile the route switches to the VM itself, so only the first requests
 * take this way. WebSocket upgrades are not carried (they get the 503 page
 * and retry).
 */
export class WakeProxy {
  private server: Server | null = null;

  constructor(private readonly d: WakeProxyDeps) {}

  async listen(host: string, port: number): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 503 Service Unavailable\r\nRetry-After: 3\r\nContent-Length: 0\r\n\r\n'));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.server = server;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const name = String(req.headers[WAKE_HEADER.toLowerCase()] ?? '');
    if (!VM_NAME.test(name)) return page(res, 404, 'No app is deployed at this address.\n', 'text/plain; charset=utf-8');
    const ac = new AbortController();
    res.once('close', () => ac.abort());
    const started = Date.now();
    let vm: VmRecord;
    try {
      vm = await this.d.awake(name, this.d.wakeTimeoutMs, ac.signal);
      if (vm.state !== 'running') return page(res, 503, unavailablePage(name, vm.state));
      await waitForPort(vm.ip, vm.port, APP_PORT_WAIT_MS, ac.signal);
    } catch (err) {
      if (ac.signal.aborted) return;
      if (isFcmError(err, 'vm_not_found')) return page(res, 404, 'No app is deployed at this address.\n', 'text/plain; charset=utf-8');
      this.d.log.warn({ vm: name, err: (err as Error).message }, 'wake on request failed');
      return page(res, 503, unavailablePage(name, isFcmError(err, 'vm_failed') ? 'failed' : 'starting'));
    }
    this.d.log.debug({ vm: name, ms: Date.now() - started }, 'request held during wake; forwarding');
    forward(req, res, vm);
  }
}

function page(res: ServerResponse, status: number, body: string, type = 'text/html; charset=utf-8'): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', ...(status === 503 ? { 'Retry-After': '3' } : {}) });
  res.end(body);
}

/** Request headers for the app: the client's (and Caddy's X-Forwarded-*), minus hop-by-hop ones and the wake header. */
function forwardHeaders(h: IncomingHttpHeaders): IncomingHttpHeaders {
  const named = new Set((String(h.connection ?? '')).split(',').map((s) => s.trim().toLowerCase()).filter(Boolean));
  const out: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(h)) {
    if (HOP_BY_HOP.has(k) || named.has(k) || k === WAKE_HEADER.toLowerCase()) continue;
    out[k] = v;
  }
  return out;
}

function forward(req: IncomingMessage, res: ServerResponse, vm: VmRecord): void {
  const up = request({ host: vm.ip, port: vm.port, method: req.method, path: req.url, headers: forwardHeaders(req.headers) }, (r) => {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(r.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
    res.writeHead(r.statusCode ?? 502, r.statusMessage, headers);
    r.pipe(res);
    r.on('error', () => res.destroy());
  });
  up.on('error', () => page(res, 502, 'The app did not answer.\n', 'text/plain; charset=utf-8'));
  res.once('close', () => up.destroy());
  req.pipe(up);
}

/** Until something accepts on ip:port (the app is listening), bounded. */
async function waitForPort(ip: string, port: number, timeoutMs: number, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: ip, port, timeout: 1000 });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('timeout', () => {
        s.destroy();
        resolve(false);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (signal.aborted) throw new Error('client went away');
    if (Date.now() > deadline) throw new Error(`nothing listens on ${ip}:${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
