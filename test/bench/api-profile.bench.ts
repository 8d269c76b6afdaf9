/**
 * Where the time of GET /v1/vms (50 VMs, real SQLite) goes: the CPU time per
 * request of the whole request through the daemon's HTTP layer (fastify inject:
 * routing, hooks, auth, handler, response check, serialization; no socket),
 * against a bare fastify hello-world the same way, then each part alone on the
 * same payload. CPU time (process.cpuUsage), not wall time: the figures hold on
 * a loaded machine. Medians of 5 rounds, in this run. The response check is
 * shown as shipped (shape only) and with formats (as it was), for comparison.
 * Inject carries the body through light-my-request, which costs more per byte than a
 * socket write: "bare fastify sending the same body" is the in-run yardstick for
 * what the body's size costs any route, so the daemon's own share (auth, handler,
 * checks, logs, hooks) is the difference to it. api.bench.ts has the throughput over
 * real sockets.
 *
 *   npm run bench -- api-profile            (-- --n 2000: requests per round)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import Fastify from 'fastify';
import { pino } from 'pino';
import { spec } from '../../api/spec.gen.js';
import { vmUrl } from '../../daemon/core/planners/url.js';
import { TokenAuthenticator } from '../../daemon/core/tokens.js';
import { seedApiBench } from './api-fixture.js';
import { operationRoutes } from '../../daemon/http/openapi-routes.js';
import { pendingHandlers } from '../../daemon/http/routes/pending.js';
import { vmHandlers } from '../../daemon/http/routes/vms.js';
import { buildServer, type HandlerContext } from '../../daemon/http/server.js';
import { memoryService } from '../helpers/memory-service.js';
import { median, ratio, row } from './stats.js';

const N = Number(process.argv[process.argv.indexOf('--n') + 1] || 2000) || 2000;
const ROUNDS = 5;
const OWNER = 'usr_bench0000000';

const dir = mkdtempSync(join(tmpdir(), 'fcm-bench-apiprof-'));
try {
  const { db, store, tokens, token } = seedApiBench(dir, OWNER);
  const auth = new TokenAuthenticator(tokens);
  const h = memoryService({ store });
  const handlers = vmHandlers(h.service, { urlFor: (n) => vmUrl(n, '64.34.93.45', 'sslip.io'), gitUrls: (n) => ({ ssh: `root@64.34.93.45:${n}.git`, http: `http://64.34.93.45:7777/git/${n}.git` }) });
  // Request logs as shipped (info), written to /dev/null synchronously: their CPU is counted, no I/O waits.
  const log = pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: true }));
  const app = await buildServer({
    spec, log, auth, validateResponses: true,
    handlers: { ...handlers, ...pendingHandlers(handlers, operationRoutes(spec).filter((r) => !r.websocket).map((r) => r.operationId)) },
    websocketOperations: ['openConsole', 'runCommand'],
  });
  const bare = Fastify();
  bare.get('/', async () => ({ hello: 'world' }));
  let listed: unknown = null;
  bare.get('/vms', async () => listed);
  await Promise.all([app.ready(), bare.ready()]);

  const route = operationRoutes(spec).find((r) => r.operationId === 'listVms')!;
  const schema = (route.responses as Record<string, object>)['200']!;
  const shipped = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true, validateFormats: false }).compile(schema);
  const withFormats = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
  addFormats.default(withFormats);
  const formats = withFormats.compile(schema);
  const ctx = { principal: auth.authenticate(token)!, query: {}, params: {}, body: {}, client: '127.0.0.1' } as unknown as HandlerContext;
  const payload = await handlers.listVms!(ctx);
  if (!shipped(payload) || !formats(payload)) throw new Error('the bench payload does not match openapi.yaml');
  const bodyBytes = Buffer.byteLength(JSON.stringify(payload));
  listed = payload;
  const reqLog = { method: 'GET', url: '/v1/vms', hostname: '127.0.0.1:7777', remoteAddress: '127.0.0.1', remotePort: 50000 };

  /** CPU µs per call of fn: median of ROUNDS rounds of N calls, after a warm-up. */
  const cpuUs = async (fn: () => unknown): Promise<number> => {
    for (let i = 0; i < 300; i++) await fn();
    const rounds: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const c0 = process.cpuUsage();
      for (let i = 0; i < N; i++) await fn();
      const c = process.cpuUsage(c0);
      rounds.push((c.user + c.system) / N);
    }
    return median(rounds);
  };
  const headers = { authorization: `Bearer ${token}` };
  const whole = await cpuUs(async () => {
    const r = await app.inject({ method: 'GET', url: '/v1/vms', headers });
    if (r.statusCode !== 200) throw new Error(`GET /v1/vms: ${r.statusCode} ${r.body}`);
  });
  const hello = await cpuUs(() => bare.inject({ method: 'GET', url: '/' }));
  const bareList = await cpuUs(() => bare.inject({ method: 'GET', url: '/vms' }));
  const parts: [string, number][] = [
    ['auth: token hash + SQLite lookup', await cpuUs(() => auth.authenticate(token))],
    ['handler: list + toApiVm (50 VMs)', await cpuUs(() => handlers.listVms!(ctx))],
    ['response check as shipped (shape)', await cpuUs(() => shipped(payload))],
    ['serialize: JSON.stringify', await cpuUs(() => JSON.stringify(payload))],
    ['request log lines (2, info)', await cpuUs(() => {
      log.info({ reqId: 'req_000000000000', req: reqLog }, 'incoming request');
      log.info({ reqId: 'req_000000000000', res: { statusCode: 200 }, responseTime: 1.23 }, 'request completed');
    })],
  ];
  const checkWithFormats = await cpuUs(() => formats(payload));

  console.log(`CPU time per request, fastify inject, median of ${ROUNDS} rounds of ${N} (response ${bodyBytes} bytes)`);
  row('bare fastify hello-world (baseline)', `${hello.toFixed(0)} µs`);
  row('GET /v1/vms, 50 VMs, shipped configuration', `${whole.toFixed(0)} µs`, `${ratio(whole, hello)} the baseline; throughput bound ${ratio(hello, whole)}`);
  row('bare fastify sending the same body (a ready object)', `${bareList.toFixed(0)} µs`, `${ratio(bareList, hello)} the baseline: what the body's size costs any fastify route`);
  // The same body is serialized in both: the bare route's JSON.stringify is not counted twice.
  const named = parts.reduce((a, [, us]) => a + us, 0) + bareList - parts[3]![1];
  for (const [what, us] of parts) row(`  ${what}`, `${us.toFixed(0)} µs`, `${((100 * us) / whole).toFixed(0)}% of the request`);
  row('  fastify + inject carrying the body (less JSON.stringify)', `${(bareList - parts[3]![1]).toFixed(0)} µs`, `${((100 * (bareList - parts[3]![1])) / whole).toFixed(0)}%`);
  row('  the rest (fcm hooks, limits, request checks, GC)', `${Math.max(0, whole - named).toFixed(0)} µs`, `${((100 * Math.max(0, whole - named)) / whole).toFixed(0)}%`);
  row('response check with formats (before: date-time, uri...)', `${checkWithFormats.toFixed(0)} µs`, `${ratio(checkWithFormats, parts[2]![1])} the shape-only check`);
  await app.close();
  await bare.close();
  db.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
