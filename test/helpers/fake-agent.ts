/**
 * A fake guest agent built from its contract (rootfs/guest/agent-openapi.yaml),
 * over real HTTP, with the behaviour of MemoryAppRuntime (same tree rules:
 * FAIL_BUILD fails the install, FAIL_START fails the start). Used to test the
 * daemon's agent clients (GuestAgentRuntime, AgentGuest, SocketConsole's
 * resize) and the git push path without a VM.
 *
 * Every request is checked against the document first: one it does not allow
 * (unknown path or method, a missing token, a bad parameter, header or body)
 * is answered 400 and recorded in `violations`; so is every answer of the
 * fake itself that the document does not allow. Tests assert `violations` is
 * empty, so the client cannot drift from the document, nor the fake.
 *
 * One server plays the agents of many VMs: point GuestAgentRuntime's
 * baseUrl at `<url>/<vm id>` (`baseUrlFor`); requests without that prefix go
 * to the agent of `vmId` (default vm_000000000000).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { AppRuntimeError, type AppResult, type AppTarget } from '../../daemon/core/ports/app-runtime.js';
import type { Json } from '../../daemon/http/openapi-routes.js';
import { MemoryAppRuntime } from '../../daemon/drivers/memory/memory-deploys.js';
import { agentContract, loadAgentDoc } from './agent-contract.js';

export interface FakeAgent {
  url: string;
  /** The base URL of one VM's agent. */
  baseUrlFor(vm: AppTarget): string;
  runtime: MemoryAppRuntime;
  /** Requests seen (method, path, commit header), in order. */
  requests: { method: string; path: string; commit?: string }[];
  /** What the document does not allow: requests the fake got, answers it gave. Empty when all is well. */
  violations: string[];
  /** Console sizes set (POST /v1/console/resize), per VM. */
  resizes: { vmId: string; rows: number; cols: number }[];
  /** VMs whose disks were synced (POST /v1/sync). */
  syncs: string[];
  /** Clocks set (PUT /v1/clock), per VM. */
  clocks: { vmId: string; epochMs: number }[];
  /** Answer resizes with 500 `internal` from now on. */
  failResizes(): void;
  close(): Promise<void>;
}

export interface FakeAgentOptions {
  token: (vmId: string) => string;
  /** The VM whose agent answers requests without a /<vm id> prefix. */
  vmId?: string;
  /** Another document (a planted mismatch); default: the real one. */
  doc?: Json;
}

const VERSION_RE = /^\/v1\/releases\/(\d+)(\/activate)?$/;

export async function startFakeAgent(o: FakeAgentOptions): Promise<FakeAgent> {
  const contract = agentContract(o.doc ?? loadAgentDoc());
  const runtime = new MemoryAppRuntime();
  const requests: FakeAgent['requests'] = [];
  const violations: string[] = [];
  const resizes: FakeAgent['resizes'] = [];
  const bootId = crypto.randomUUID();
  const started = Date.now();
  let resizeFails = false;
  const clocks: { vmId: string; epochMs: number }[] = [];
  const syncs: string[] = [];

  const server: Server = createServer((req, res) => {
    const full = new URL(req.url ?? '/', 'http://agent');
    const prefixed = /^\/(vm_[0-9a-f]{12})(\/.*)?$/.exec(full.pathname);
    const vmId = prefixed ? prefixed[1]! : (o.vmId ?? 'vm_000000000000');
    const rest = prefixed ? (prefixed[2] ?? '/') : full.pathname;
    const path = `${rest}${full.search}`;
    const commit = typeof req.headers['x-fcm-commit'] === 'string' ? req.headers['x-fcm-commit'] : undefined;
    requests.push({ method: req.method ?? '', path: new URL(path, 'http://agent').pathname, ...(commit ? { commit } : {}) });
    void handle(req, res, vmId, path).catch((e: Error) => {
      if (!res.headersSent) problem(res, 500, 'internal', e.message);
      else res.end();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse, vmId: string, path: string): Promise<void> {
    const head = contract.checkRequest({ method: req.method ?? '', url: path, headers: req.headers });
    const body = await read(req);
    const verdict = head.errors.length ? head : contract.checkRequest({ method: req.method ?? '', url: path, headers: req.headers, body });
    if (verdict.errors.length) {
      violations.push(...verdict.errors.map((e) => `request: ${e}`));
      return problem(res, 400, 'validation_failed', `not allowed by agent-openapi.yaml: ${verdict.errors.join('; ')}`);
    }
    const operationId = verdict.operationId!;
    watch(res, operationId);
    if (operationId === 'getHealth') {
      return json(res, 200, { vmId, hostname: vmId, bootId, uptimeMs: Date.now() - started, agentVersion: 'fake', app: { release: runtime.current.get(vmId) ?? null, web: runtime.current.has(vmId) ? 'up' : 'none' } });
    }
    if (req.headers.authorization !== `Bearer ${o.token(vmId)}`) {
      res.setHeader('www-authenticate', 'Bearer');
      return problem(res, 401, 'unauthorized', 'missing or wrong agent token');
    }
    const target: AppTarget = { id: vmId, ip: '127.0.0.1' };
    const url = new URL(path, 'http://agent');
    const version = Number(VERSION_RE.exec(url.pathname)?.[1]);
    const streamed = async (fn: (onLine: (l: string) => void) => Promise<AppResult>, release: () => number | null) => {
      // Headers with the first line, so errors before the operation starts can still be problems.
      let begun = false;
      const begin = () => {
        if (!begun) res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        begun = true;
      };
      try {
        const r = await fn((l) => {
          begin();
          res.write(`${l}\n`);
        });
        begin();
        const wire = r.ok ? { ok: true, release: release(), buildpack: r.buildpack ?? 'none', processes: r.processes } : r;
        res.end(`fcm-result: ${JSON.stringify(wire)}\n`);
      } catch (e) {
        if (e instanceof AppRuntimeError && !begun) return problem(res, contract.errorStatus[e.code] ?? 500, contract.errorStatus[e.code] ? e.code : 'internal', e.message);
        throw e;
      }
    };
    switch (operationId) {
      case 'putEnv':
        await runtime.putEnv(target, (JSON.parse(body.toString('utf8')) as { vars: Record<string, string> }).vars);
        res.writeHead(204).end();
        return;
      case 'deployRelease':
        return streamed((onLine) => runtime.build(target, version, String(req.headers['x-fcm-commit'] ?? ''), Readable.from([body]), onLine), () => version);
      case 'activateRelease':
        return streamed((onLine) => runtime.activate(target, version, onLine), () => version);
      case 'restartApp':
        return streamed((onLine) => runtime.restart(target, onLine), () => runtime.current.get(vmId) ?? null);
      case 'getStatus': {
        const live = runtime.current.get(vmId);
        const b = live === undefined ? undefined : runtime.builds.get(vmId)?.get(live);
        const processes = Object.entries(b?.processes ?? {}).map(([type, command]) => ({
          type, index: 1, command, pid: 4242, state: 'up', restarts: 0, port: type === 'web' ? 18000 + (live ?? 0) : null, release: live ?? null,
        }));
        return json(res, 200, { release: live ?? null, commit: null, deployInProgress: false, processes });
      }
      case 'getLogs': {
        const ac = new AbortController();
        res.once('close', () => ac.abort());
        const lines = Number(url.searchParams.get('lines') ?? 100);
        const follow = ['1', 'true'].includes((url.searchParams.get('follow') ?? '').toLowerCase());
        const s = await runtime.logs(target, { lines, follow }, ac.signal);
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        res.flushHeaders(); // as the agent: the answer starts before the first line
        // the agent's log line format: <time> <source>: <text>
        const stamp = (l: string) => `${new Date().toISOString()} ${l.replace(/^([\w-]+)\.(\d+): /, '$1[$2]: ')}`;
        let partial = '';
        s.on('data', (c: Buffer | string) => {
          const parts = (partial + String(c)).split('\n');
          partial = parts.pop()!;
          if (parts.length) res.write(parts.map((l) => `${stamp(l)}\n`).join(''));
        });
        s.on('end', () => res.end());
        return;
      }
      case 'syncDisks':
        syncs.push(vmId);
        res.writeHead(204).end();
        return;
      case 'setClock': {
        // The fake's guest clock is the host's, 90 s behind (as a guest asleep that long).
        const { epochMs } = JSON.parse(body.toString('utf8')) as { epochMs: number };
        clocks.push({ vmId, epochMs });
        return json(res, 200, { previousEpochMs: Date.now() - 90_000, epochMs });
      }
      case 'resizeConsole': {
        if (resizeFails) return problem(res, 500, 'internal', 'internal error in guest agent');
        const { rows, cols } = JSON.parse(body.toString('utf8')) as { rows: number; cols: number };
        resizes.push({ vmId, rows, cols });
        res.writeHead(204).end();
        return;
      }
    }
    throw new Error(`the fake agent does not implement ${operationId} (add it)`);
  }

  /** Checks the fake's own answer against the document once it is complete. */
  function watch(res: ServerResponse, operationId: string): void {
    const chunks: Buffer[] = [];
    let size = 0;
    const keep = (c: unknown) => {
      if (c === undefined || c === null || typeof c === 'function' || size > 1 << 20) return;
      const b = Buffer.isBuffer(c) ? c : Buffer.from(String(c));
      chunks.push(b);
      size += b.length;
    };
    const written: Record<string, string> = {};
    const writeHead = res.writeHead.bind(res) as (...a: unknown[]) => ServerResponse;
    res.writeHead = ((status: number, ...a: unknown[]) => {
      const h = a.find((x) => x && typeof x === 'object' && !Array.isArray(x)) as Record<string, unknown> | undefined;
      for (const [k, v] of Object.entries(h ?? {})) written[k.toLowerCase()] = String(v);
      return writeHead(status, ...a);
    }) as typeof res.writeHead;
    const write = res.write.bind(res) as (...a: unknown[]) => boolean;
    const end = res.end.bind(res) as (...a: unknown[]) => ServerResponse;
    res.write = ((c: unknown, ...a: unknown[]) => (keep(c), write(c, ...a))) as typeof res.write;
    res.end = ((c?: unknown, ...a: unknown[]) => (keep(c), end(c, ...a))) as typeof res.end;
    res.once('finish', () => {
      const errors = contract.checkResponse(operationId, { status: res.statusCode, headers: { ...(res.getHeaders() as Record<string, string>), ...written }, body: Buffer.concat(chunks) });
      violations.push(...errors.map((e) => `the fake's answer: ${e}`));
    });
  }

  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    baseUrlFor: (vm) => `http://127.0.0.1:${port}/${vm.id}`,
    runtime,
    requests,
    violations,
    resizes,
    clocks,
    syncs,
    failResizes: () => void (resizeFails = true),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function read(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function problem(res: ServerResponse, status: number, code: string, detail: string): void {
  const title = { 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found', 409: 'Conflict', 500: 'Internal Server Error' }[status] ?? 'Error';
  res.writeHead(status, { 'content-type': 'application/problem+json', connection: 'close' }).end(JSON.stringify({ type: 'about:blank', title, status, code, detail }));
}
