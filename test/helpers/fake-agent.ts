/**
 * A fake guest agent: the app half of agent API v1 over real HTTP, with the
 * behaviour of MemoryAppRuntime (same tree rules: FAIL_BUILD fails the
 * install, no `web` process fails the start). Used to test the daemon's
 * agent client (GuestAgentRuntime) and the git push path without a VM.
 *
 *   PUT  /v1/env {"vars":{…}}                 → 204
 *   POST /v1/releases/<v> (tar, X-Fcm-Commit) → 200 text/plain: lines, then `fcm-result: {…}`
 *   POST /v1/releases/<v>/activate            → same
 *   POST /v1/restart                          → same
 *   GET  /v1/logs?lines=N&follow=1            → text
 *   GET  /health (no auth)
 *   busy → 409 deploy_in_progress; bad token → 401; problem+json errors
 *
 * One server plays the agents of many VMs: point GuestAgentRuntime's
 * baseUrl at `<url>/<vm id>` (`baseUrlFor`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppRuntimeError, type AppResult, type AppTarget } from '../../daemon/core/deploys-ports.js';
import { MemoryAppRuntime } from '../../daemon/drivers/memory/memory-deploys.js';

export interface FakeAgent {
  url: string;
  /** The base URL of one VM's agent. */
  baseUrlFor(vm: AppTarget): string;
  runtime: MemoryAppRuntime;
  /** Requests seen (method, path, commit header), in order. */
  requests: { method: string; path: string; commit?: string }[];
  close(): Promise<void>;
}

export async function startFakeAgent(o: { token: (vmId: string) => string }): Promise<FakeAgent> {
  const runtime = new MemoryAppRuntime();
  const requests: FakeAgent['requests'] = [];
  const server: Server = createServer((req, res) => {
    const full = new URL(req.url ?? '/', 'http://agent');
    const [, vmId = 'vm_000000000000', rest = '/'] = /^\/(vm_[0-9a-f]{12})(\/.*)?$/.exec(full.pathname) ?? [];
    const url = new URL(`${rest}${full.search}`, 'http://agent');
    (req as IncomingMessage & { vmId?: string }).vmId = vmId;
    const commit = typeof req.headers['x-fcm-commit'] === 'string' ? req.headers['x-fcm-commit'] : undefined;
    requests.push({ method: req.method ?? '', path: url.pathname, ...(commit ? { commit } : {}) });
    void handle(req, res, url).catch((e: Error) => {
      if (!res.headersSent) problem(res, 500, 'internal', e.message);
      else res.end();
    });
  });
  const vmIdOf = (req: IncomingMessage) => (req as IncomingMessage & { vmId?: string }).vmId!;

  async function handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (req.method === 'GET' && url.pathname === '/health') return json(res, 200, { vmId: vmIdOf(req) });
    if (req.headers.authorization !== `Bearer ${o.token(vmIdOf(req))}`) {
      req.resume();
      res.setHeader('www-authenticate', 'Bearer');
      return problem(res, 401, 'unauthorized', 'missing or wrong agent token');
    }
    const target: AppTarget = { id: vmIdOf(req), ip: '127.0.0.1' };
    const route = `${req.method} ${url.pathname}`;
    const streamed = async (fn: (onLine: (l: string) => void) => Promise<AppResult>) => {
      // Headers first, so errors before the build starts can still be problems; lines flush as they come.
      let started = false;
      const start = () => {
        if (!started) res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        started = true;
      };
      try {
        const r = await fn((l) => {
          start();
          res.write(`${l}\n`);
        });
        start();
        res.end(`fcm-result: ${JSON.stringify(r)}\n`);
      } catch (e) {
        if (e instanceof AppRuntimeError && !started) return problem(res, e.code === 'deploy_in_progress' ? 409 : 500, e.code, e.message);
        throw e;
      }
    };
    if (route === 'PUT /v1/env') {
      const body = JSON.parse(await text(req)) as { vars: Record<string, string> };
      await runtime.putEnv(target, body.vars);
      res.writeHead(204).end();
      return;
    }
    let m = /^POST \/v1\/releases\/(\d+)$/.exec(route);
    if (m) return streamed((onLine) => runtime.build(target, Number(m![1]), String(req.headers['x-fcm-commit'] ?? ''), req, onLine));
    m = /^POST \/v1\/releases\/(\d+)\/activate$/.exec(route);
    if (m) return streamed((onLine) => runtime.activate(target, Number(m![1]), onLine));
    if (route === 'POST /v1/restart') return streamed((onLine) => runtime.restart(target, onLine));
    if (route === 'GET /v1/logs') {
      const ac = new AbortController();
      res.once('close', () => ac.abort());
      const s = await runtime.logs(target, { lines: Number(url.searchParams.get('lines') ?? 100), follow: url.searchParams.get('follow') === '1' }, ac.signal);
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      s.pipe(res);
      return;
    }
    req.resume();
    problem(res, 404, 'not_found', `no route for ${url.pathname}`);
  }

  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    baseUrlFor: (vm) => `http://127.0.0.1:${port}/${vm.id}`,
    runtime,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function text(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (s += c));
    req.on('end', () => resolve(s));
    req.on('error', reject);
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function problem(res: ServerResponse, status: number, code: string, detail: string): void {
  res.writeHead(status, { 'content-type': 'application/problem+json', connection: 'close' }).end(JSON.stringify({ type: 'about:blank', title: code, status, code, detail }));
}
