/**
 * The per-request log lines (http/server.ts RequestLines): every request is
 * logged twice at info — "incoming request" with the request's method, URL
 * without its query, address and port, and "request completed" with its
 * status and response time — under its request id, with the logger's base
 * fields and ISO time (log.ts). They skip the redaction paths (their fields
 * cannot carry a secret); everything else a request logs is still redacted.
 * A route's own level (openapi.json logs at warn) still silences them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spec } from '../../api/spec.gen.js';
import { hashToken, newToken, TokenAuthenticator } from '../../daemon/core/tokens.js';
import { MemoryTokenStore } from '../../daemon/drivers/memory/memory-token-store.js';
import { operationRoutes } from '../../daemon/http/openapi-routes.js';
import { pendingHandlers } from '../../daemon/http/routes/pending.js';
import { buildServer } from '../../daemon/http/server.js';
import { createLogger } from '../../daemon/log.js';

test('each request logs "incoming request" and "request completed" with the same fields as before; other lines are still redacted', async () => {
  const lines: Record<string, any>[] = [];
  const log = createLogger('info', { write: (s: string) => void lines.push(JSON.parse(s)) });
  const tokens = new MemoryTokenStore();
  const token = newToken();
  tokens.insert({ id: 'tok_log000000000', hash: hashToken(token), userId: 'admin', kind: 'admin', description: null, createdAt: new Date().toISOString(), expiresAt: null });
  const app = await buildServer({
    spec, log, auth: new TokenAuthenticator(tokens), validateResponses: true,
    handlers: pendingHandlers({}, operationRoutes(spec).filter((r) => !r.websocket).map((r) => r.operationId)),
    websocketOperations: ['openConsole', 'runCommand'],
    extend: (a) => {
      a.get('/log-a-secret', async (req) => {
        req.log.info({ token, nested: { password: 'hunter2', authorization: `Bearer ${token}` } }, 'handler line');
        return { ok: true };
      });
    },
  });
  try {
    const r = await app.inject({ method: 'GET', url: '/v1/vms?secret=abc', headers: { authorization: `Bearer ${token}` }, remoteAddress: '192.0.2.7' });
    assert.equal(r.statusCode, 501);
    // (The 501's own line, the error handler's, comes between them.)
    const mine = lines.filter((l) => l.msg === 'incoming request' || l.msg === 'request completed');
    assert.deepEqual(mine.map((l) => l.msg), ['incoming request', 'request completed']);
    assert.equal(mine[1]!.reqId, mine[0]!.reqId);
    const [incoming, completed] = mine;
    assert.match(incoming!.reqId, /^req_[0-9a-f]{12}$/);
    assert.equal(incoming!.level, 30);
    assert.equal(incoming!.svc, 'fcmd');
    assert.match(incoming!.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    // (inject has no socket port; a real connection's shows as remotePort.)
    assert.deepEqual(incoming!.req, { method: 'GET', url: '/v1/vms', remoteAddress: '192.0.2.7' });
    assert.deepEqual(Object.keys(incoming!), ['level', 'time', 'svc', 'reqId', 'req', 'msg']);
    assert.deepEqual(Object.keys(completed!), ['level', 'time', 'svc', 'reqId', 'res', 'responseTime', 'msg']);
    assert.deepEqual(completed!.res, { statusCode: 501 });
    assert.equal(typeof completed!.responseTime, 'number');
    assert.ok(!JSON.stringify(lines).includes('abc'), 'the query string is never logged');

    lines.length = 0;
    assert.equal((await app.inject({ url: '/log-a-secret' })).statusCode, 200);
    const h = lines.find((l) => l.msg === 'handler line')!;
    assert.equal(h.token, '[redacted]');
    assert.equal(h.nested.password, '[redacted]');
    assert.equal(h.nested.authorization, '[redacted]');
    assert.ok(!JSON.stringify(lines).includes(token), 'the token appears in no line');
    assert.deepEqual(lines.map((l) => l.msg), ['incoming request', 'handler line', 'request completed']);

    // A route logged at warn: no request lines.
    lines.length = 0;
    assert.equal((await app.inject({ url: '/openapi.json' })).statusCode, 200);
    assert.deepEqual(lines, []);
  } finally {
    await app.close();
  }
});
