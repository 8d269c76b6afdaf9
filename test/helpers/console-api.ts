/**
 * The real HTTP layer with the console wired in (routes/console.ts,
 * listening on loopback: WebSockets need a real socket) over the in-memory
 * VM service and the Console twin; `fcm run`'s WebSocket (routes/run.ts) beside
 * it over the GuestExec twin (MemoryExec). Users: alice and bob (user tokens), an
 * admin token and a revoked token of alice's. `clock` shifts ticket time.
 */
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { spec } from '../../api/spec.gen.js';
import { wireAuth } from '../../daemon/auth-wiring.js';
import { ConsoleService, type ConsoleServiceConfig } from '../../daemon/core/console-service.js';
import { ConsoleTickets } from '../../daemon/core/console-tickets.js';
import { hashToken, newToken } from '../../daemon/core/tokens.js';
import { MemoryConsole, type MemoryConsoleGuest } from '../../daemon/drivers/memory/memory-console.js';
import { MemoryUserStore } from '../../daemon/drivers/memory/memory-user-store.js';
import { operationRoutes } from '../../daemon/http/openapi-routes.js';
import { consoleHandlers, consoleRoutes } from '../../daemon/http/routes/console.js';
import { pendingHandlers } from '../../daemon/http/routes/pending.js';
import { vmHandlers } from '../../daemon/http/routes/vms.js';
import { buildServer } from '../../daemon/http/server.js';
import { quotaHandlers } from '../../daemon/http/routes/quotas.js';
import { defaultLimits, type RequestLimits } from '../../daemon/http/limits.js';
import { MemoryTokenStore } from '../../daemon/drivers/memory/memory-token-store.js';
import { DEFAULTS, memoryService } from './memory-service.js';
import { RunService } from '../../daemon/core/run-service.js';
import { MemoryExec } from '../../daemon/drivers/memory/memory-exec.js';
import { runRoutes } from '../../daemon/http/routes/run.js';

export async function startConsoleApi(opts: { config?: Partial<ConsoleServiceConfig>; heartbeatMs?: number; limits?: RequestLimits } = {}) {
  const log = pino({ level: 'silent' });
  // Quotas as in the daemon (whoami answers with the caller's), set high: these tests make many VMs.
  const h = memoryService({ sleep: true, quotas: { limits: { vms: 1000, vcpus: 1000, memoryMib: 1 << 30, diskMib: 1 << 30 } } });
  const consoles = new MemoryConsole();
  const tokens = new MemoryTokenStore();
  const users = new MemoryUserStore();
  const auth = wireAuth(
    { oidc: null, access: { emails: ['alice@example.com', 'bob@example.com'], domains: [], adminEmails: [] }, tokenTtlDays: 30 },
    { tokens, users, publicUrl: 'http://127.0.0.1:7777', log },
  );
  const mint = (email: string) => auth.accounts.mint(users.upsert({ issuer: 'https://i.test', subject: email, email, name: null }, new Date().toISOString()), 'test').token;
  const tok = { alice: mint('alice@example.com'), bob: mint('bob@example.com'), revoked: mint('alice@example.com'), admin: newToken() };
  tokens.revoke(tokens.rows.at(-1)!.id);
  tokens.insert({ id: 'tok_admin0000000', hash: hashToken(tok.admin), userId: 'admin', kind: 'admin', description: null, createdAt: new Date().toISOString(), expiresAt: null });

  const time = { offsetMs: 0 };
  const svc = new ConsoleService({
    console: consoles,
    vms: h.service,
    log,
    tickets: new ConsoleTickets({ now: () => Date.now() + time.offsetMs }),
    config: { idleCloseMs: 50, maxClientBufferBytes: 256 * 1024, ...opts.config },
    stillValid: (p) => auth.sessions.valid(p),
  });
  const limits = opts.limits ?? defaultLimits();
  const exec = new MemoryExec();
  const runs = new RunService({ vms: h.service, exec, bootTimeoutMs: 5000 });
  const run = runRoutes({ spec, auth: auth.authenticator, runs, log, limits, sessions: auth.sessions });
  const implemented = {
    ...vmHandlers(h.service, { urlFor: (n) => `https://${n}.test`, gitUrls: (n) => ({ ssh: `root@x:${n}.git`, http: `http://x/git/${n}.git` }) }),
    ...consoleHandlers(svc),
    ...auth.handlers,
    ...quotaHandlers(h.quotas!, auth.accounts),
  };
  const app = await buildServer({
    spec,
    log,
    limits,
    sessions: auth.sessions,
    auth: auth.authenticator,
    validateResponses: true,
    handlers: { ...implemented, ...pendingHandlers(implemented, operationRoutes(spec).filter((r) => !r.websocket).map((r) => r.operationId)) },
    websocketOperations: ['openConsole', 'runCommand'],
    extend: async (server) => {
      await consoleRoutes({ spec, auth: auth.authenticator, consoles: svc, log, heartbeatMs: opts.heartbeatMs ?? 30_000, limits, sessions: auth.sessions, otherUpgrade: (req, socket, head) => run.upgrade(req, socket, head) })(server);
      run.extend(server);
    },
  });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });

  const api = async (method: string, path: string, token: string | null, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
  };

  /** Creates a VM, waits until it runs, and has its fake guest print a banner and a prompt. */
  const runningVm = async (name: string, owner = tok.alice): Promise<{ vm: any; guest: MemoryConsoleGuest }> => {
    const c = await api('POST', '/v1/vms', owner, { name, ...DEFAULTS });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    const w = await api('GET', `/v1/vms/${name}/wait?state=running&timeout=5`, owner);
    assert.equal(w.status, 200);
    const guest = consoles.guest(w.body.id);
    guest.print(`Debian GNU/Linux 12 ttyS0\r\nroot@${name}:~# `);
    return { vm: w.body, guest };
  };

  return {
    app, base, h, consoles, svc, exec, runs, tok, time, api, runningVm, auth, tokens, users,
    close: async () => {
      await app.close();
      await h.service.close();
    },
  };
}
