/**
 * API throughput of the shipped daemon: GET /v1/vms with 50 VMs, against the
 * built daemon (dist/daemon/main.js, what `fcm daemon` runs) with its shipped
 * configuration — default log level (info, one line per request), the real
 * auth wiring (a bearer token looked up, hashed, in SQLite), response
 * validation on (FCM_VALIDATE_RESPONSES default), request limits and live
 * sessions as main.ts wires them, Caddy route sync running — inside the
 * harness's network namespace. Baseline in the same run: a bare fastify
 * hello-world in the same namespace, same path from the load generator
 * (autocannon, through the namespace's veth).
 * The 50 VMs are rows of stopped VMs written into the daemon's database while
 * it is down (50 booted guests would measure TCG, not the API).
 *
 * Second part: what limits and revocation bookkeeping cost per request
 * (client address, per-user token bucket, live-session bookkeeping), with a
 * user's token, against the same HTTP layer without them, alternated rounds
 * in the same run. These two servers are assembled in a child process (the
 * shipped daemon cannot turn its limits off), so the load generator does not
 * share their CPU time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { pino } from 'pino';
import { spec } from '../../api/spec.gen.js';
import { newVmId } from '../../daemon/core/names.js';
import { parseSubnet, planNetwork } from '../../daemon/core/planners/network-plan.js';
import { vmUrl } from '../../daemon/core/planners/url.js';
import { hashToken, newToken, TokenAuthenticator } from '../../daemon/core/tokens.js';
import { openDb } from '../../daemon/drivers/sqlite/db.js';
import { SqliteVmStore } from '../../daemon/drivers/sqlite/sqlite-vm-store.js';
import { seedApiBench } from './api-fixture.js';
import { operationRoutes } from '../../daemon/http/openapi-routes.js';
import { pendingHandlers } from '../../daemon/http/routes/pending.js';
import { vmHandlers } from '../../daemon/http/routes/vms.js';
import { buildServer } from '../../daemon/http/server.js';
import { DEFAULT_RATES } from '../../daemon/config.js';
import { parseRate } from '../../daemon/core/rate-limit.js';
import { LiveSessions } from '../../daemon/core/sessions.js';
import { RequestLimits } from '../../daemon/http/limits.js';
import { hostSkipReason, IMAGES_DIR, ROOT_DIR, startHostHarness } from '../helpers/host-harness.js';
import { memoryService } from '../helpers/memory-service.js';
import { fmtMs, median, ratio, row } from './stats.js';
import { summarizeProfile, type Bucket } from './cpu-profile.js';

const BENCH_USER = 'usr_bench0000000';
const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1] || 10) || 10;
const connections = 10;
/** --cpu-prof: the shipped daemon runs under node --cpu-prof during its load; the report says where its CPU went. */
const cpuProf = process.argv.includes('--cpu-prof');

async function load(url: string, headers: Record<string, string> = {}) {
  const r = await autocannon({ url, connections, duration: seconds, headers });
  if (r.non2xx || r.errors) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, total: r.requests.total };
}

const BARE = `import Fastify from 'fastify';
const app = Fastify();
app.get('/', async () => ({ hello: 'world' }));
await app.listen({ host: process.argv[1], port: 7070 });
console.log('ready');`;

if (process.argv.includes('--serve')) {
  await serve();
} else {
  const skip = hostSkipReason();
  if (skip) {
    console.error(`cannot measure: ${skip}`);
    process.exit(1);
  }
  await shippedDaemon();
  if (!cpuProf) await limitsOverhead();
}

async function shippedDaemon(): Promise<void> {
  const profDir = cpuProf ? mkdtempSync(join(tmpdir(), 'fcm-bench-cpuprof-')) : null;
  // The profile is written when the daemon exits; only the last start's is read.
  const h = await startHostHarness({ caddy: true, built: true, ...(profDir ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] } : {}) });
  let bare: ChildProcess | null = null;
  try {
    // 50 stopped VMs in the daemon's own database (written while it is down; its reconcile then adopts them as they are).
    await h.killDaemon();
    const db = openDb(join(h.stateDir, 'fcm.db'));
    const subnet = parseSubnet('172.16.0.0/24');
    const store = new SqliteVmStore(db, subnet);
    for (let i = 0; i < 50; i++) {
      const id = newVmId();
      store.insert(
        { id, name: `app-${i}`, owner: 'admin', state: 'stopped', desired: 'stopped', vcpus: 1, memoryMib: 1024, diskMib: 2048, swapMib: 512,
          port: 8000, image: 'base', imageDir: join(IMAGES_DIR, 'current'), hypervisor: 'qemu', lastError: null, sleepAfterSec: null, domains: i % 5 ? [] : [`app${i}.example.com`] },
        (slot) => planNetwork(id, slot, subnet),
      );
    }
    db.close();
    await h.startDaemon();
    const list = await h.api('GET', '/v1/vms');
    if (list.status !== 200 || list.body.vms.length !== 50) throw new Error(`expected 50 VMs, got ${list.status} ${JSON.stringify(list.body).slice(0, 300)}`);

    bare = spawn('nsenter', [`--net=/run/netns/${h.ns}`, '--', process.execPath, '--input-type=module', '-e', BARE, h.daemonIp], { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      bare!.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      bare!.once('exit', (c) => reject(new Error(`bare fastify exited ${c}`)));
    });

    console.log(`autocannon, ${connections} connections, ${seconds} s each, from the host through the namespace's veth`);
    // Profiling: the daemon's load right after the check request, so the profile's window (first to last
    // listVms) holds only that load.
    const fcmLoad = () => load(`${h.url}/v1/vms`, { authorization: `Bearer ${h.token}` });
    const first = cpuProf ? await fcmLoad() : null;
    const base = await load(`http://${h.daemonIp}:7070/`);
    const fcm = first ?? (await fcmLoad());
    row('bare fastify hello-world (baseline)', `${Math.round(base.rps)} req/s`, `p50 ${fmtMs(base.p50)}  p99 ${fmtMs(base.p99)}`);
    row('GET /v1/vms, 50 VMs, shipped daemon (dist)', `${Math.round(fcm.rps)} req/s`, `p50 ${fmtMs(fcm.p50)}  p99 ${fmtMs(fcm.p99)}  (log level info, SQLite token auth, limits, responses validated)`);
    row('throughput vs hello-world', ratio(fcm.rps, base.rps));
    row('p99 vs hello-world', ratio(fcm.p99, Math.max(base.p99, 0.01)));
    if (profDir) {
      await h.killDaemon();
      const file = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile')).sort().at(-1);
      if (!file) throw new Error(`no CPU profile in ${profDir}`);
      printProfile(join(profDir, file), fcm.total);
    }
  } finally {
    bare?.kill('SIGKILL');
    await h.close();
    if (profDir) rmSync(profDir, { recursive: true, force: true });
  }
}

async function limitsOverhead(): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const first: string = await new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) resolve(buf.split('\n')[0]!);
    });
    child.once('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
  const { fcmUrl, limitedUrl, token, userToken } = JSON.parse(first) as { fcmUrl: string; limitedUrl: string; token: string; userToken: string };
  try {
    console.log(`limits + revocation bookkeeping: the HTTP layer with and without them, loopback, servers in a separate process`);
    // Plain and with limits, alternated in short rounds so that a change in the machine's load
    // (other work on the same cores) falls on both alike; the medians are compared.
    const plainRps: number[] = [];
    const limitedRuns: Awaited<ReturnType<typeof load>>[] = [];
    for (let i = 0; i < 3; i++) {
      plainRps.push((await load(`${fcmUrl}/v1/vms`, { authorization: `Bearer ${token}` })).rps);
      limitedRuns.push(await load(`${limitedUrl}/v1/vms`, { authorization: `Bearer ${userToken}` }));
    }
    const limited = { ...limitedRuns[1]!, rps: median(limitedRuns.map((r) => r.rps)) };
    row('GET /v1/vms without limits (admin token, median of 3)', `${Math.round(median(plainRps))} req/s`);
    row('the same with limits + revocation bookkeeping (user token)', `${Math.round(limited.rps)} req/s`, `p50 ${fmtMs(limited.p50)}  p99 ${fmtMs(limited.p99)}`);
    row('throughput vs without them (medians of 3 alternated runs)', ratio(limited.rps, median(plainRps)));
  } finally {
    child.kill();
  }
}

async function serve(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fcm-bench-api-'));
  try {
    const { store, tokens, token } = seedApiBench(dir, BENCH_USER);
    const h = memoryService({ store });
    const implemented = {
      ...vmHandlers(h.service, { urlFor: (n) => vmUrl(n, '64.34.93.45', 'sslip.io'), gitUrls: (n) => ({ ssh: `root@64.34.93.45:${n}.git`, http: `http://64.34.93.45:7777/git/${n}.git` }) }),
    };
    const app = await buildServer({
      spec, log: pino({ level: 'warn' }), auth: new TokenAuthenticator(tokens), validateResponses: true,
      handlers: { ...implemented, ...pendingHandlers(implemented, operationRoutes(spec).filter((r) => !r.websocket).map((r) => r.operationId)) },
      websocketOperations: ['openConsole', 'runCommand'],
    });
    const fcmUrl = await app.listen({ host: '127.0.0.1', port: 0 });
    const check = await fetch(`${fcmUrl}/v1/vms`, { headers: { authorization: `Bearer ${token}` } });
    const n = ((await check.json()) as { vms: unknown[] }).vms.length;
    if (n !== 50) throw new Error(`expected 50 VMs, got ${n}`);

    // The same server as the daemon builds it: limits (the user's allowance set out of reach, so the
    // bucket is consulted on every request but never refuses) and live sessions, with a user's token.
    const userToken = newToken();
    tokens.insert({ id: 'tok_benchuser000', hash: hashToken(userToken), userId: BENCH_USER, kind: 'user', description: null, createdAt: new Date().toISOString(), expiresAt: null });
    const userAuth = new TokenAuthenticator(tokens, (id) => (id === BENCH_USER ? { userId: id, email: 'bench@example.com', admin: false } : null));
    const limitedApp = await buildServer({
      spec, log: pino({ level: 'warn' }), auth: userAuth, validateResponses: true,
      limits: new RequestLimits({ trustedProxies: 'loopback', login: parseRate(DEFAULT_RATES.login), public: parseRate(DEFAULT_RATES.public), user: { count: 1e9, perMs: 60_000 } }),
      sessions: new LiveSessions({ valid: (p) => userAuth.stillValid(p) }),
      handlers: { ...implemented, ...pendingHandlers(implemented, operationRoutes(spec).filter((r) => !r.websocket).map((r) => r.operationId)) },
      websocketOperations: ['openConsole', 'runCommand'],
    });
    const limitedUrl = await limitedApp.listen({ host: '127.0.0.1', port: 0 });
    const n2 = ((await (await fetch(`${limitedUrl}/v1/vms`, { headers: { authorization: `Bearer ${userToken}` } })).json()) as { vms: unknown[] }).vms.length;
    if (n2 !== 50) throw new Error(`expected 50 VMs for the user, got ${n2}`);

    console.log(JSON.stringify({ fcmUrl, limitedUrl, token, userToken }));
    await new Promise<void>((r) => process.once('SIGTERM', () => r()));
    await app.close();
    await limitedApp.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Where the shipped daemon's CPU went during its load, per request (buckets: the innermost frame a rule claims). */
function printProfile(path: string, requests: number): void {
  const fcm = (f: { url: string }, part: string) => f.url.includes(`/dist/daemon/${part}`);
  const mod = (f: { url: string }, name: string) => f.url.includes(`/node_modules/${name}/`);
  const buckets: Bucket[] = [
    { name: 'logging (pino: request/response lines, sync writes)', claims: (f) => mod(f, 'pino') || mod(f, 'sonic-boom') || mod(f, 'pino-std-serializers') || fcm(f, 'log.js') },
    { name: 'auth: token hash + store lookup', claims: (f) => f.functionName === 'authenticate' },
    { name: 'revocation bookkeeping (live sessions)', claims: (f) => fcm(f, 'core/sessions.js') },
    { name: 'rate limits + client address', claims: (f) => fcm(f, 'http/limits.js') || fcm(f, 'http/client-address.js') || fcm(f, 'core/rate-limit.js') },
    { name: 'response validation (ajv)', claims: (f) => f.functionName === 'preSerialization' || mod(f, 'ajv') },
    { name: 'list: store read + toApiVm', claims: (f) => f.functionName === 'listVms' || fcm(f, 'http/routes/vms.js') || fcm(f, 'drivers/sqlite') || fcm(f, 'core/vm-') },
    { name: 'cached answer (lookup, ETag, 304)', claims: (f) => fcm(f, 'http/answer-cache.js') },
    { name: 'serialization (JSON.stringify in fastify)', claims: (f) => mod(f, 'fast-json-stringify') || (mod(f, 'fastify') && /serialize/i.test(f.functionName)) },
    { name: 'other fcm hooks (http/server.js)', claims: (f) => fcm(f, 'http/') },
    { name: 'fastify + router (hooks runner, reply, headers)', claims: (f) => mod(f, 'fastify') || mod(f, 'find-my-way') || mod(f, '@fastify') || mod(f, 'avvio') },
    { name: 'Node HTTP + socket writes (node:_http_*, net, stream)', claims: (f) => f.url.startsWith('node:') },
    { name: 'garbage collection', claims: (f) => f.functionName === '(garbage collector)' },
    { name: 'V8/native outside JS ((program))', claims: (f) => f.functionName === '(program)' },
  ];
  const s = summarizeProfile(path, buckets, (f) => f.functionName === 'listVms');
  const per = (us: number) => `${(us / requests).toFixed(0)} µs`;
  console.log(`where the shipped daemon's CPU went (node --cpu-prof, ${requests} requests in the window of ${(s.windowUs / 1e6).toFixed(1)} s; ${per(s.busyUs)} busy per request)`);
  for (const b of [...buckets.map((b) => b.name), 'other']) {
    const us = s.us.get(b) ?? 0;
    row(`  ${b}`, per(us), `${((100 * us) / s.busyUs).toFixed(0)}%`);
  }
  console.log('  top frames by self time:');
  for (const t of s.top) row(`    ${t.frame.slice(0, 70)}`, per(t.us));
}
