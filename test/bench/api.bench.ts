/**
 * API throughput of the shipped daemon: GET /v1/vms with 50 VMs, against the
 * built daemon (dist/daemon/main.js, what `fcm daemon` runs) with its shipped
 * configuration — default log level (info, two lines per request), the real
 * auth wiring (a bearer token looked up, hashed, in SQLite), response
 * validation on (FCM_VALIDATE_RESPONSES default), request limits and live
 * sessions as main.ts wires them, Caddy route sync running — inside the
 * harness's network namespace. Baseline in the same run: a bare fastify
 * hello-world in the same namespace, same path from the load generator
 * (autocannon, through the namespace's veth); the same bare fastify returning
 * the daemon's list as an object (serialized each time), and sending the
 * daemon's kept gzip answer — its bytes and headers — as a Buffer: what any
 * fastify route sending those bytes reaches, the ceiling for the daemon's route.
 * The 50 VMs are rows of stopped VMs written into the daemon's database while
 * it is down (50 booted guests would measure TCG, not the API).
 *
 * Second part (lists built afresh on every request there: no rows version is
 * wired, as on PostgreSQL): what limits and revocation bookkeeping cost per request
 * (client address, per-user token bucket, live-session bookkeeping), with a
 * user's token, against the same HTTP layer without them, alternated rounds
 * in the same run. These two servers are assembled in a child process (the
 * shipped daemon cannot turn its limits off), so the load generator does not
 * share their CPU time.
 *
 * Options: --seconds N (each load, default 5), --rounds N (default 5),
 * --against <checkout> (another checkout, built: its dist daemon runs in a second
 * namespace with the same 50 VMs, and its two loads join the alternated rounds —
 * a change measured against main in the same run; the order of the two daemons
 * flips every round), --cpu-prof [--gzip] [--cpu-prof-out <file>], --perf-map (the
 * daemon writes /tmp/perf-<pid>.map, so `perf record -g -p <pid>` during the run names
 * its JavaScript frames), --node-arg <flag> (repeatable: more node options for the daemon,
 * e.g. --trace-deopt) with --keep-log <file> (the daemon's output, copied there before teardown).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { loadavg } from 'node:os';
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
import { fmtMs, median, percentile, ratio, row } from './stats.js';
import { summarizeProfile, type Bucket } from './cpu-profile.js';

const BENCH_USER = 'usr_bench0000000';
/** Node's own modules of the serving machinery (the rest of node: is claimed by its callers). */
const NODE_IO = ['node:net', 'node:stream', 'node:internal/streams', 'node:internal/stream_base_commons', 'node:events', 'node:timers', 'node:internal/timers', 'node:internal/process/task_queues', 'node:internal/process/promises', 'node:internal/async_hooks', 'node:internal/net', 'node:internal/perf/utils', 'node:internal/validators', 'node:internal/errors', 'node:internal/util'];

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1] || 5) || 5;
/** The four loads of the first part run in this many alternated rounds (medians): the machine's load moves. */
const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1] || 5) || 5;
const connections = 10;
/** --cpu-prof: the shipped daemon runs under node --cpu-prof during its load; the report says where its CPU went. */
const cpuProf = process.argv.includes('--cpu-prof');
/** --against <checkout>: that checkout's built daemon, measured alongside in the same rounds. */
const against = process.argv.includes('--against') ? process.argv[process.argv.indexOf('--against') + 1] : undefined;

/** One GET, its body as sent (no decoding) and its headers. */
function rawGet(url: string, headers: Record<string, string>): Promise<{ headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    httpGet(url, { headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

/** CPU time (user + system) a process has used, in µs (/proc/<pid>/stat, clock ticks). */
function cpuUsOf(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1e6) / 100;
}

/** `server`: the serving process, whose CPU time per request is reported too (robust on a loaded machine). */
async function load(url: string, headers: Record<string, string> = {}, server?: number, o: { seconds?: number } = {}) {
  const c0 = server ? cpuUsOf(server) : 0;
  const r = await autocannon({ url, connections, duration: o.seconds ?? seconds, headers });
  if (r.non2xx || r.errors) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  const cpuUs = server ? (cpuUsOf(server) - c0) / Math.max(1, r.requests.total) : NaN;
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, total: r.requests.total, cpuUs };
}

// (Named handlers: --cpu-prof finds the load's window by them. SIGTERM exits, so --cpu-prof writes its profile.)
const BARE = `import Fastify from 'fastify';
import { readFileSync } from 'node:fs';
const app = Fastify();
app.get('/', async function hello() { return { hello: 'world' }; });
const list = JSON.parse(readFileSync(process.argv[2], 'utf8'));
app.get('/vms', async function sameBody() { return list; });
// The daemon's kept gzip answer: its very bytes and headers, as any fastify route sends a Buffer.
const kept = readFileSync(process.argv[3]);
const keptHeaders = JSON.parse(readFileSync(process.argv[3] + '.headers', 'utf8'));
app.get('/kept', function keptBytes(request, reply) { reply.headers(keptHeaders).send(kept); });
await app.listen({ host: process.argv[1], port: 7070 });
process.on('SIGTERM', () => process.exit(0));
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

/** 50 stopped VMs in the daemon's own database (written while it is down; its reconcile then adopts them as they are). */
async function fiftyVms(h: Awaited<ReturnType<typeof startHostHarness>>): Promise<void> {
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
}

async function shippedDaemon(): Promise<void> {
  const profDir = cpuProf ? mkdtempSync(join(tmpdir(), 'fcm-bench-cpuprof-')) : null;
  // The profile is written when the daemon exits; only the last start's is read.
  const nodeArgs = [...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []), ...(process.argv.includes('--perf-map') ? ['--perf-basic-prof-only-functions'] : []), ...process.argv.flatMap((a, i) => (process.argv[i - 1] === '--node-arg' ? [a] : []))];
  const h = await startHostHarness({ caddy: true, built: true, nodeArgs });
  let bare: ChildProcess | null = null;
  let other: Awaited<ReturnType<typeof startHostHarness>> | null = null;
  try {
    await fiftyVms(h);
    const list = await h.api('GET', '/v1/vms');
    if (list.status !== 200 || list.body.vms.length !== 50) throw new Error(`expected 50 VMs, got ${list.status} ${JSON.stringify(list.body).slice(0, 300)}`);
    if (against && !cpuProf) {
      other = await startHostHarness({ caddy: true, built: true, builtFrom: against });
      await fiftyVms(other);
    }

    // The second baseline serves the daemon's own list (as an object fastify serializes each time).
    const bodyFile = join(h.stateDir, 'bench-list.json');
    writeFileSync(bodyFile, JSON.stringify(list.body));
    const bareProf = profDir ? ['--cpu-prof', `--cpu-prof-dir=${join(profDir, 'bare')}`] : [];
    // The third serves the daemon's gzip answer as it sent it (bytes and the headers the route sets).
    const keptFile = join(h.stateDir, 'bench-kept.gz');
    const auth = { authorization: `Bearer ${h.token}` };
    const kept = await rawGet(`${h.url}/v1/vms`, { ...auth, 'accept-encoding': 'gzip, deflate' });
    if (kept.headers['content-encoding'] !== 'gzip') throw new Error('the daemon did not answer with gzip');
    writeFileSync(keptFile, kept.body);
    writeFileSync(`${keptFile}.headers`, JSON.stringify(Object.fromEntries(['etag', 'cache-control', 'vary', 'content-encoding', 'content-type'].map((k) => [k, kept.headers[k]]))));
    bare = spawn('nsenter', [`--net=/run/netns/${h.ns}`, '--', process.execPath, ...bareProf, '--input-type=module', '-e', BARE, h.daemonIp, bodyFile, keptFile], { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      bare!.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      bare!.once('exit', (c) => reject(new Error(`bare fastify exited ${c}`)));
    });

    console.log(`autocannon, ${connections} connections, ${seconds} s each, from the host through the namespace's veth; load average before: ${loadavg().map((l) => l.toFixed(1)).join(' ')} (2 cores, shared with other work)`);
    const daemonPid = h.daemonPid()!;
    const fcmLoad = () => load(`${h.url}/v1/vms`, auth, daemonPid);
    // --cpu-prof --gzip: profile the load as the fcm CLI asks.
    if (profDir) {
      // Profiling: the daemon's load right after the check request, then the daemon stops, so the
      // profile's window (first to last listVms) holds only that load. --gzip: as the fcm CLI asks.
      // Then the hello-world baseline the same way (its window: its handler), for a side-by-side.
      const r = await load(`${h.url}/v1/vms`, { ...auth, ...(process.argv.includes('--gzip') ? { 'accept-encoding': 'gzip, deflate' } : {}) }, daemonPid);
      row('GET /v1/vms under the profiler', `${Math.round(r.rps)} req/s`, `CPU ${r.cpuUs.toFixed(0)} µs per request`);
      const b = await load(`http://${h.daemonIp}:7070/`, {}, bare.pid);
      row('bare fastify hello-world under the profiler', `${Math.round(b.rps)} req/s`, `CPU ${b.cpuUs.toFixed(0)} µs per request`);
      await h.killDaemon();
      const exited = new Promise((resolve) => bare!.once('exit', resolve));
      bare.kill('SIGTERM');
      await exited;
      const newest = (dir: string) => {
        const f = readdirSync(dir).filter((x) => x.endsWith('.cpuprofile')).sort().at(-1);
        if (!f) throw new Error(`no CPU profile in ${dir}`);
        return join(dir, f);
      };
      const daemonProfile = newest(profDir);
      printProfiles(
        { path: daemonProfile, requests: r.total, window: (f) => f.functionName === 'listVms' || f.functionName === 'answerKey' },
        { path: newest(join(profDir, 'bare')), requests: b.total, window: (f) => f.functionName === 'hello' },
      );
      // --cpu-prof-out <file>: keep the daemon's profile (for a closer look: Chrome DevTools, speedscope).
      const keep = process.argv.indexOf('--cpu-prof-out');
      if (keep > 0 && process.argv[keep + 1]) copyFileSync(daemonProfile, process.argv[keep + 1]!);
      return;
    }
    // Alternated rounds, medians: a change in the machine's load falls on every figure alike.
    type Run = Awaited<ReturnType<typeof load>>;
    const runs: Record<'base' | 'sameBody' | 'keptBytes' | 'fcm' | 'fcmGzip' | 'other' | 'otherGzip', Run[]> = { base: [], sameBody: [], keptBytes: [], fcm: [], fcmGzip: [], other: [], otherGzip: [] };
    const o = other;
    const otherAuth: Record<string, string> = o ? { authorization: `Bearer ${o.token}` } : {};
    const otherLoads = o
      ? async () => {
          runs.other.push(await load(`${o.url}/v1/vms`, otherAuth, o.daemonPid()!));
          runs.otherGzip.push(await load(`${o.url}/v1/vms`, { ...otherAuth, 'accept-encoding': 'gzip, deflate' }, o.daemonPid()!));
        }
      : async () => {};
    // Both servers warmed the same way first (their JIT, their connections' first requests), unmeasured.
    const warmUp = { seconds: Math.min(2, seconds) };
    await load(`http://${h.daemonIp}:7070/`, {}, undefined, warmUp);
    await load(`http://${h.daemonIp}:7070/vms`, {}, undefined, warmUp);
    await load(`http://${h.daemonIp}:7070/kept`, {}, undefined, warmUp);
    await load(`${h.url}/v1/vms`, auth, undefined, warmUp);
    await load(`${h.url}/v1/vms`, { ...auth, 'accept-encoding': 'gzip, deflate' }, undefined, warmUp);
    if (o) {
      await load(`${o.url}/v1/vms`, otherAuth, undefined, warmUp);
      await load(`${o.url}/v1/vms`, { ...otherAuth, 'accept-encoding': 'gzip, deflate' }, undefined, warmUp);
    }
    for (let r = 0; r < rounds; r++) {
      runs.base.push(await load(`http://${h.daemonIp}:7070/`, {}, bare.pid));
      runs.sameBody.push(await load(`http://${h.daemonIp}:7070/vms`, {}, bare.pid));
      runs.keptBytes.push(await load(`http://${h.daemonIp}:7070/kept`, {}, bare.pid));
      if (r % 2) await otherLoads();
      runs.fcm.push(await fcmLoad());
      // What the fcm CLI and the providers send (fetch: Accept-Encoding: gzip, deflate).
      runs.fcmGzip.push(await load(`${h.url}/v1/vms`, { ...auth, 'accept-encoding': 'gzip, deflate' }, daemonPid));
      if (r % 2 === 0) await otherLoads();
    }
    const med = (l: Run[]): Run => ({ ...l[0]!, rps: median(l.map((x) => x.rps)), p50: median(l.map((x) => x.p50)), p99: median(l.map((x) => x.p99)), total: l[0]!.total, cpuUs: median(l.map((x) => x.cpuUs)) });
    const [base, sameBody, keptBytes, fcm, fcmGzip] = [med(runs.base), med(runs.sameBody), med(runs.keptBytes), med(runs.fcm), med(runs.fcmGzip)];
    const perRound = (l: Run[]) => l.map((x, i) => ratio(x.rps, runs.base[i]!.rps)).join(' ');
    console.log(`medians of ${runs.base.length} alternated rounds (after an unmeasured warm-up of each load); per-round ratio vs hello-world, no compression: ${perRound(runs.fcm)}; gzip: ${perRound(runs.fcmGzip)}`);
    const bytes = Buffer.byteLength(JSON.stringify(list.body));
    row('bare fastify hello-world (baseline)', `${Math.round(base.rps)} req/s`, `p50 ${fmtMs(base.p50)}  p99 ${fmtMs(base.p99)}`);
    row(`bare fastify returning the same body (${(bytes / 1024).toFixed(1)} KiB)`, `${Math.round(sameBody.rps)} req/s`, `p50 ${fmtMs(sameBody.p50)}  p99 ${fmtMs(sameBody.p99)}  (${ratio(sameBody.rps, base.rps)} the hello-world: what the body's size costs any server)`);
    row(`bare fastify sending the daemon's gzip answer (${kept.body.length} bytes, its headers)`, `${Math.round(keptBytes.rps)} req/s`, `${ratio(keptBytes.rps, base.rps)} the hello-world: what any fastify route sending these bytes reaches; CPU ${keptBytes.cpuUs.toFixed(0)} µs per request`);
    row('GET /v1/vms, 50 VMs, shipped daemon (dist), no compression', `${Math.round(fcm.rps)} req/s`, `p50 ${fmtMs(fcm.p50)}  p99 ${fmtMs(fcm.p99)}  (log level info, SQLite token auth, limits, responses validated; as curl asks)`);
    row('the same, Accept-Encoding: gzip (as the fcm CLI asks)', `${Math.round(fcmGzip.rps)} req/s`, `p50 ${fmtMs(fcmGzip.p50)}  p99 ${fmtMs(fcmGzip.p99)}`);
    // The headline ratio pairs each round's loads (run back to back, so the machine's load moved
    // little between them); a ratio of the two medians can pair a lucky baseline round with an
    // unlucky daemon round (one run gave 0.75x that way against 0.50x paired).
    const pairedRps = (l: Run[]) => ratio(median(l.map((x, i) => x.rps / runs.base[i]!.rps)), 1);
    row('throughput vs hello-world, no compression / gzip', `${pairedRps(runs.fcm)} / ${pairedRps(runs.fcmGzip)}`, `median of the per-round ratios; ratio of the medians ${ratio(fcm.rps, base.rps)} / ${ratio(fcmGzip.rps, base.rps)}`);
    row('throughput vs bare fastify with the same body (no compression)', ratio(fcm.rps, sameBody.rps));
    row('gzip throughput vs bare fastify sending the same bytes', ratio(fcmGzip.rps, keptBytes.rps), `CPU per request ${ratio(fcmGzip.cpuUs, keptBytes.cpuUs)} of it`);
    row('p99 vs hello-world, no compression / gzip', `${ratio(fcm.p99, Math.max(base.p99, 0.01))} / ${ratio(fcmGzip.p99, Math.max(base.p99, 0.01))}`);

    // CPU time per request of each server process: what the throughput would be if CPU were the only
    // limit, and unlike req/s it does not move with other work on the machine.
    const us = (x: Run) => `${x.cpuUs.toFixed(0)} µs`;
    row('CPU per request: hello-world / same body', `${us(base)} / ${us(sameBody)}`, 'the bare fastify process');
    if (o) {
      const [ot, otg] = [med(runs.other), med(runs.otherGzip)];
      console.log(`  --against ${against}: per-round ratio vs hello-world, no compression: ${perRound(runs.other)}; gzip: ${perRound(runs.otherGzip)}`);
      row('  that checkout\'s daemon, no compression / gzip', `${Math.round(ot.rps)} / ${Math.round(otg.rps)} req/s`, `${ratio(ot.rps, base.rps)} / ${ratio(otg.rps, base.rps)} hello-world; CPU ${us(ot)} / ${us(otg)} per request`);
      row('  this build vs that one, req/s no compression / gzip', `${ratio(fcm.rps, ot.rps)} / ${ratio(fcmGzip.rps, otg.rps)}`, `CPU per request ${ratio(ot.cpuUs, fcm.cpuUs)} / ${ratio(otg.cpuUs, fcmGzip.cpuUs)} (above 1: this one uses less)`);
      // Each round's two daemons ran back to back: their CPU ratio within a round is steadier than the ratio of medians.
      const paired = (mine: Run[], theirs: Run[]) => theirs.map((x, i) => x.cpuUs / mine[i]!.cpuUs);
      const [pp, pg] = [paired(runs.fcm, runs.other), paired(runs.fcmGzip, runs.otherGzip)];
      const list = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
      row('  CPU per request, that one / this one, round by round', `median ${median(pp).toFixed(2)}x / ${median(pg).toFixed(2)}x`, `no compression ${list(pp)}; gzip ${list(pg)}`);
    }
    const pairedCpu = (l: Run[]) => ratio(median(l.map((x, i) => runs.base[i]!.cpuUs / x.cpuUs)), 1);
    row('CPU per request: daemon, no compression / gzip', `${us(fcm)} / ${us(fcmGzip)}`, `the daemon process (its background work included); vs hello-world ${pairedCpu(runs.fcm)} / ${pairedCpu(runs.fcmGzip)} (per-round median), vs the same body ${ratio(sameBody.cpuUs, fcm.cpuUs)}`);

    // The figures above are the kept answer (the list did not change during the load). The first
    // request after a change builds it: list, check against openapi.yaml, serialize, gzip. One
    // client, one request at a time: a VM's sleepAfter changed, then the list twice (built, kept).
    const cold: number[] = [];
    const warm: number[] = [];
    for (let i = 0; i < 40; i++) {
      const p = await h.api('PATCH', `/v1/vms/app-${i % 50}`, { sleepAfter: i % 2 ? '15m' : '30m' });
      if (p.status !== 200) throw new Error(`PATCH app-${i}: ${p.status} ${JSON.stringify(p.body)}`);
      for (const into of [cold, warm]) {
        const t0 = performance.now();
        const r = await fetch(`${h.url}/v1/vms`, { headers: auth });
        await r.arrayBuffer();
        into.push(performance.now() - t0);
        if (r.status !== 200) throw new Error(`GET /v1/vms: ${r.status}`);
      }
    }
    row('first GET /v1/vms after a change (built), median of 40', fmtMs(median(cold)), `p90 ${fmtMs(percentile(cold, 90))}; one request at a time, fetch (gzip)`);
    row('the next GET (kept), median of 40', fmtMs(median(warm)), `p90 ${fmtMs(percentile(warm, 90))}; ${ratio(median(cold), median(warm))} the kept answer's time for the first`);
    console.log(`  load average after: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  } finally {
    const keepLog = process.argv.indexOf('--keep-log');
    if (keepLog > 0 && process.argv[keepLog + 1]) copyFileSync(h.logPath, process.argv[keepLog + 1]!);
    bare?.kill('SIGKILL');
    await other?.close();
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
    row('GET /v1/vms built afresh, without limits (admin token, median of 3)', `${Math.round(median(plainRps))} req/s`);
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

/**
 * Where the CPU went during each load, per request, side by side: the shipped daemon and the
 * bare fastify hello-world (buckets: the innermost frame a rule claims). The V8 profiler samples
 * by the clock: time the process waited for a core inside a call (a socket write that woke the
 * load generator) counts as that call, so on a busy machine the write rows grow.
 */
function printProfiles(daemon: ProfiledLoad, bare: ProfiledLoad): void {
  const fcm = (f: { url: string }, part: string) => f.url.includes(`/dist/daemon/${part}`);
  const mod = (f: { url: string }, name: string) => f.url.includes(`/node_modules/${name}/`);
  const buckets: Bucket[] = [
    { name: 'logging (request lines, pino, batched write)', claims: (f) => mod(f, 'pino') || mod(f, 'sonic-boom') || mod(f, 'pino-std-serializers') || mod(f, '@pinojs') || fcm(f, 'log.js') || fcm(f, 'http/request-log.js') },
    { name: 'auth: token hash + store lookup', claims: (f) => f.functionName === 'authenticate' || fcm(f, 'core/tokens.js') || fcm(f, 'drivers/sqlite/sqlite-token-store.js') || fcm(f, 'drivers/sqlite/commit-watch.js') || fcm(f, 'core/accounts.js') },
    { name: 'request id (genReqId)', claims: (f) => f.functionName === 'genReqId' || f.functionName === 'nextRequestId' || f.functionName === 'randomBytes' },
    { name: 'revocation bookkeeping (live sessions)', claims: (f) => fcm(f, 'core/sessions.js') },
    { name: 'rate limits + client address', claims: (f) => fcm(f, 'http/limits.js') || fcm(f, 'http/client-address.js') || fcm(f, 'core/rate-limit.js') },
    { name: 'response validation (ajv)', claims: (f) => f.functionName === 'preSerialization' || mod(f, 'ajv') },
    { name: 'list: store read + toApiVm (+ answer key)', claims: (f) => f.functionName === 'listVms' || fcm(f, 'http/routes/vms.js') || fcm(f, 'drivers/sqlite') || fcm(f, 'drivers/memory') || fcm(f, 'core/vm-') || fcm(f, 'core/planners') },
    { name: 'cached answer (lookup, ETag, 304)', claims: (f) => fcm(f, 'http/answer-cache.js') },
    { name: 'serialization (JSON.stringify in fastify)', claims: (f) => mod(f, 'fast-json-stringify') || (mod(f, 'fastify') && /serialize/i.test(f.functionName)) },
    { name: 'other fcm hooks (http/server.js)', claims: (f) => fcm(f, 'http/') || fcm(f, 'main.js') },
    { name: 'the route handler (hello-world)', claims: (f) => f.functionName === 'hello' },
    { name: 'fastify + router (hooks runner, reply, headers)', claims: (f) => mod(f, 'fastify') || mod(f, 'find-my-way') || mod(f, '@fastify') || mod(f, 'avvio') },
    // (The stream binding's writes; fs.writeSync's is writeString, and falls to its caller: the log.)
    { name: 'socket writes (the write call, kernel included)', claims: (f) => ['writev', 'writeBuffer', 'writeUtf8String', 'writeLatin1String', 'writeAsciiString', 'writeUcs2String'].includes(f.functionName) },
    { name: 'Node HTTP (parser, request/response objects, headers)', claims: (f) => f.url.startsWith('node:_http') || f.url === 'node:http' || f.functionName === 'execute' },
    // Other node: modules (fs, crypto, buffer) are not claimed: their time goes to whoever called them.
    { name: 'Node streams, net, timers, events (JS)', claims: (f) => NODE_IO.some((m) => f.url === m || f.url.startsWith(`${m}/`)) },
    { name: 'garbage collection', claims: (f) => f.functionName === '(garbage collector)' },
    { name: 'V8/native outside JS ((program))', claims: (f) => f.functionName === '(program)' },
  ];
  const summarize = (x: ProfiledLoad) => ({ ...x, s: summarizeProfile(x.path, buckets, x.window) });
  const d = summarize(daemon);
  const b = summarize(bare);
  const per = (x: typeof d, us: number) => us / x.requests;
  const fmt = (v: number) => `${v.toFixed(1)} µs`;
  console.log(`where the CPU went per request (node --cpu-prof; daemon: ${d.requests} requests in ${(d.s.windowUs / 1e6).toFixed(1)} s, ${fmt(per(d, d.s.busyUs))} busy; hello-world: ${b.requests} in ${(b.s.windowUs / 1e6).toFixed(1)} s, ${fmt(per(b, b.s.busyUs))} busy)`);
  row('  bucket', 'daemon', 'hello-world   difference');
  for (const name of [...buckets.map((x) => x.name), 'other']) {
    const [dv, bv] = [per(d, d.s.us.get(name) ?? 0), per(b, b.s.us.get(name) ?? 0)];
    if (dv < 0.05 && bv < 0.05) continue;
    row(`  ${name}`, fmt(dv), `${fmt(bv).padStart(9)}   ${(dv - bv >= 0 ? '+' : '') + fmt(dv - bv)}`);
  }
  row('  all', fmt(per(d, d.s.busyUs)), `${fmt(per(b, b.s.busyUs)).padStart(9)}   +${fmt(per(d, d.s.busyUs) - per(b, b.s.busyUs))}`);
  for (const [label, x] of [['daemon', d], ['hello-world', b]] as const) {
    console.log(`  top frames by self time, ${label}:`);
    for (const t of x.s.top) row(`    ${t.frame.slice(0, 70)}`, fmt(per(x, t.us)));
  }
}

interface ProfiledLoad {
  path: string;
  requests: number;
  /** Frames whose presence marks the load's window in the profile. */
  window: (f: { functionName: string; url: string }) => boolean;
}
