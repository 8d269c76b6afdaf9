/**
 * create → ready: from the API call until the guest's web port answers.
 * In one run, on the same image, inside a private netns:
 *   raw    — QEMU started by hand (the daemon's argv, as root, without its sandbox), no daemon: the baseline
 *   cold   — POST /v1/vms of a non-default shape: the daemon boots the VM
 *   snapshot, warm pool — the default shape with a machine waiting in the pool (the best case:
 *            the bench waits for the refill before each create), with its phases: POST answered
 *            (claim, seed, tap, resume), the guest's identity done (its console line, as the host
 *            sees it appear, and the guest's own count), first answer on port 8000
 *   back to back — 10 creates in a row, each started as soon as the previous one answered, no pause
 *            for the pool to refill (what a user creating several apps sees); all 10 kept until the end;
 *            the daemon's default pool size (FCM_SNAPSHOT_POOL=auto)
 *   snapshot, on demand — the same daemon restarted with no pool (FCM_SNAPSHOT_POOL=0): the template
 *            restored by each create
 * Median of N (default 5) each, the on-demand figure from at least 5; ratios against the raw boot.
 * "Answers" is polled from inside the namespace by one long-lived poller: an attempt every 10 ms whose
 * connect is abandoned after 100 ms (a SYN sent before the guest has its address is lost, and TCP would
 * only resend it after a second), so the figure is not a poll interval's multiple; a connection that is
 * made waits for its answer (up to 10 s), as a browser would — abandoning it after 100 ms left the guest
 * answering requests nobody read while new ones queued behind them.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { planCmdline } from '../../daemon/core/planners/kernel-cmdline.js';
import { macForVm, parseSubnet, planNetwork } from '../../daemon/core/planners/network-plan.js';
import { planSeed } from '../../daemon/core/planners/seed.js';
import { newVmId } from '../../daemon/core/names.js';
import { autoPoolSize, hostTscKhz } from '../../daemon/config.js';
import { planTapRules } from '../../daemon/drivers/linux-network.js';
import { planQemuArgv, runPaths } from '../../daemon/drivers/qemu/qemu-argv.js';
import { hostSkipReason, IMAGES_DIR, startHostHarness, type HostHarness } from '../helpers/host-harness.js';
import { fmtMs, median, ratio, row } from './stats.js';

const N = Number(process.argv[process.argv.indexOf('--n') + 1] || 5) || 5;
const skip = hostSkipReason();
if (skip) {
  console.error(`cannot measure: ${skip}`);
  process.exit(1);
}

const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

/** Node inside the namespace: for each URL line on stdin, polls until an HTTP 2xx/3xx answer and prints "ok <url>". */
const POLLER = `
const http = require('http');
require('readline').createInterface({ input: process.stdin }).on('line', (url) => {
  let done = false;
  const attempt = () => {
    if (done) return;
    const req = http.get(url, { agent: false }, (res) => {
      res.resume();
      if (res.statusCode >= 200 && res.statusCode < 400) { done = true; process.stdout.write('ok ' + url + '\\n'); }
      else setTimeout(attempt, 10);
    });
    req.on('socket', (s) => {
      const connect = setTimeout(() => req.destroy(new Error('connect timeout')), 100);
      s.once('connect', () => {
        clearTimeout(connect);
        s.setTimeout(10000, () => req.destroy(new Error('no answer')));
      });
      s.once('close', () => clearTimeout(connect));
    });
    req.on('error', () => setTimeout(attempt, 10));
  };
  attempt();
});
process.stdout.write('ready\\n');
`;

class ReadyPoller {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting = new Map<string, () => void>();
  private buf = '';
  readonly started: Promise<void>;
  constructor(ns: string) {
    this.child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', POLLER]);
    let ready!: () => void;
    this.started = new Promise((r) => (ready = r));
    this.child.stdout.on('data', (d: Buffer) => {
      this.buf += d.toString();
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        if (line === 'ready') ready();
        else if (line.startsWith('ok ')) this.waiting.get(line.slice(3))?.();
      }
    });
  }
  /** ms from t0 until `url` answers. */
  answers(url: string, t0: number, limitMs = 900_000): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(url);
        reject(new Error(`${url} never answered`));
      }, limitMs);
      this.waiting.set(url, () => {
        const ms = performance.now() - t0;
        clearTimeout(timer);
        this.waiting.delete(url);
        resolve(ms);
      });
      this.child.stdin.write(`${url}\n`);
    });
  }
  close(): void {
    this.child.kill();
  }
}

let poller: ReadyPoller;
// Generous: a cold boot beside others' tests can take minutes (a bench, not a test).
function untilAnswers(_h: HostHarness, url: string, t0: number, limitMs = 900_000): Promise<number> {
  return poller.answers(url, t0, limitMs);
}

/**
 * Watches VM `id`'s console log for its identity line ("fcm-identity: restored as <id> in N ms (steps)"):
 * when the host saw it (ms from t0) and the guest's own count and steps. Stop with the returned function.
 */
function watchIdentity(h: HostHarness, id: string, t0: number): { done: Promise<{ seenMs: number; guestMs: number; steps: string } | null>; stop: () => void } {
  const log = runPaths(join(h.stateDir, 'run'), id).consoleLog;
  let stopped = false;
  const re = new RegExp(`fcm-identity: restored as ${id} in (\\d+) ms \\(([^)]*)\\)`);
  const done = (async () => {
    while (!stopped) {
      const m = existsSync(log) ? re.exec(readFileSync(log, 'utf8')) : null;
      if (m) return { seenMs: performance.now() - t0, guestMs: Number(m[1]), steps: m[2]! };
      await new Promise((r) => setTimeout(r, 5));
    }
    return null;
  })();
  return { done, stop: () => (stopped = true) };
}

async function waitLogCount(h: HostHarness, text: string, n: number, limitMs = 900_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (readFileSync(h.logPath, 'utf8').split(text).length - 1 < n) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${n}× "${text}"`);
    await new Promise((r) => setTimeout(r, 100));
  }
}


/**
 * Warm-pool creates (the bench waits for the refill before each) and on-demand restores (the pool
 * taken by a create just before), against a daemon whose pool has filled `pooled0` times so far.
 */
async function snapshotCreates(h: HostHarness, pooled0: number): Promise<{ snap: number[]; snapApi: number[]; onDemand: number[]; onDemandApi: number[] }> {
  const snapApi: number[] = [];
  const onDemandApi: number[] = [];
  let pooled = pooled0;
  // --- snapshot: default shape through the API (warm pool; wait for the refill between runs)
  const snap: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    const c = await h.api('POST', '/v1/vms', {});
    if (c.status !== 201) throw new Error(JSON.stringify(c.body));
    snapApi.push(performance.now() - t0);
    snap.push(await untilAnswers(h, `http://${c.body.ip}:8000/`, t0));
    await h.api('DELETE', `/v1/vms/${c.body.name}`);
    pooled++;
    await waitLogCount(h, 'warm pool: machine ready', pooled);
  }
  // on demand (pool empty): two creates back to back, time the second; at least 5 samples
  const onDemand: number[] = [];
  for (let i = 0; i < Math.max(N, 5); i++) {
    const first = await h.api('POST', '/v1/vms', {});
    const t0 = performance.now();
    const c = await h.api('POST', '/v1/vms', {});
    onDemandApi.push(performance.now() - t0);
    onDemand.push(await untilAnswers(h, `http://${c.body.ip}:8000/`, t0));
    for (const n of [first.body.name, c.body.name]) await h.api('DELETE', `/v1/vms/${n}`);
    pooled++;
    await waitLogCount(h, 'warm pool: machine ready', pooled);
  }

  return { snap, snapApi, onDemand, onDemandApi };
}

type Creates = Awaited<ReturnType<typeof snapshotCreates>>;
/** The default daemon's (shared RAM images) figures, and those of the copy daemon measured after it. */
const shared: { snap: number[]; onDemand: number[]; copy?: Creates } = { snap: [], onDemand: [] };
const poolSize = autoPoolSize(Math.floor(totalmem() / 1024 / 1024));
// A loaded host (others' tests beside it) can take minutes to boot the template: give it time (a bench, not a test).
/** QEMU settings to compare (FCM_QEMU_* in the bench's own environment go to both daemons). */
const qemuEnv = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith('FCM_QEMU_') && e[1] !== undefined));
if (Object.keys(qemuEnv).length > 0) console.log(`QEMU settings from the environment: ${JSON.stringify(qemuEnv)}`);
const h = await startHostHarness({ env: { ...qemuEnv, FCM_SNAPSHOTS: 'true', FCM_SNAPSHOT_POOL: 'auto', FCM_BOOT_TIMEOUT_MS: '900000' } });
poller = new ReadyPoller(h.ns);
try {
  await poller.started;
  console.log(`create → ready (port 8000 answers), median of ${N}; machine: ${(await import('node:os')).cpus().length} cores shared with other workers, QEMU TCG; load average ${load()}`);
  const tTemplate = performance.now();
  await waitLogCount(h, 'warm pool: machine ready', 1);
  row('template boot + save + first pool machine', fmtMs(performance.now() - tTemplate), '(once per image/shape)');
  await waitLogCount(h, 'warm pool: machine ready', poolSize);
  row(`warm pool filled (FCM_SNAPSHOT_POOL=auto: ${poolSize} machines)`, fmtMs(performance.now() - tTemplate), `load ${load()}`);
  let pooled = poolSize;

  // --- raw: QEMU by hand, same image and argv shape, a tap of our own in the daemon's netns
  const img = join(IMAGES_DIR, 'current');
  const subnet = parseSubnet('172.16.0.0/24');
  const raw: number[] = [];
  for (let i = 0; i < N; i++) {
    const id = newVmId();
    const net = planNetwork(id, 250, subnet);
    const dir = join(h.stateDir, 'bench-raw', id);
    mkdirSync(dir, { recursive: true });
    const run = runPaths(join(h.stateDir, 'bench-raw-run'), id);
    mkdirSync(run.sockDir, { recursive: true });
    await h.exec('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', join(img, 'rootfs.ext4'), join(dir, 'root.qcow2'), '2048M']);
    writeFileSync(join(dir, 'seed.raw'), planSeed({ vmId: id, hostname: 'raw', agentToken: 'x'.repeat(20), port: 8000 }));
    await h.exec('truncate', ['-s', '512M', join(dir, 'swap.raw')]);
    await h.exec('ip', ['tuntap', 'add', 'dev', net.tap, 'mode', 'tap']);
    await h.exec('ip', ['link', 'set', net.tap, 'master', 'fcm0', 'up']);
    await h.exec('nft', ['-f', '-'], { input: planTapRules(net) });
    const argv = planQemuArgv(
      {
        vmId: id, vcpus: 1, memoryMib: 1024, kernelPath: join(img, 'vmlinuz'), initrdPath: join(img, 'initrd.img'),
        cmdline: planCmdline({ vmId: id, hostname: 'raw', ip: net.ip, prefix: 24, gateway: net.gateway, dns: null, agentPort: 7611, accel: 'tcg', tscKhz: hostTscKhz() }),
        drives: [
          { id: 'root', path: join(dir, 'root.qcow2'), format: 'qcow2', readOnly: false },
          { id: 'seed', path: join(dir, 'seed.raw'), format: 'raw', readOnly: true },
          { id: 'swap', path: join(dir, 'swap.raw'), format: 'raw', readOnly: false },
        ],
        net: { tap: net.tap, mac: macForVm(id) },
      },
      'tcg',
      run,
      false,
    );
    const t0 = performance.now();
    // The baseline is plain QEMU as root, no sandbox: -daemonize returns once it is set up.
    await h.exec('qemu-system-x86_64', [...argv, '-daemonize']);
    raw.push(await untilAnswers(h, `http://${net.ip}:8000/`, t0));
    // QEMU writes its pidfile in the socket dir; run.pidfile is the daemon's hard link of it, made after a start.
    const pid = readFileSync(run.vmmPidfile, 'utf8').trim();
    await h.exec('kill', ['-9', pid]);
    await new Promise((r) => setTimeout(r, 300));
    await h.exec('ip', ['link', 'del', net.tap]).catch(() => {});
    await h.exec('nft', ['delete', 'element', 'bridge', 'fcm', 'taps', `{ "${net.tap}" }`]).catch(() => {});
    // Every raw boot takes the same address with a new MAC: the host's neighbour entry for it
    // still names the last one, and until it goes stale (~30 s) the next boot looked 4x slower
    // than the daemon's own cold boot (9.7 s, then 42-46 s).
    await h.exec('ip', ['neigh', 'flush', 'to', net.ip]).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }

  const rawLoad = load();
  row('raw QEMU boot (baseline), median', fmtMs(median(raw)), `${raw.map((v) => fmtMs(v)).join(' ')} (load ${rawLoad})`);

  // --- warm pool: one create at a time, the pool refilled before each; the phases of each
  const snap: number[] = [];
  const snapApi: number[] = [];
  const seen: number[] = [];
  const guestMs: number[] = [];
  const steps: string[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    const c = await h.api('POST', '/v1/vms', {});
    if (c.status !== 201) throw new Error(JSON.stringify(c.body));
    snapApi.push(performance.now() - t0);
    const w = watchIdentity(h, c.body.id, t0);
    snap.push(await untilAnswers(h, `http://${c.body.ip}:8000/`, t0));
    const ident = await Promise.race([w.done, new Promise<null>((r) => setTimeout(() => r(null), 2000))]);
    w.stop();
    if (ident) {
      seen.push(ident.seenMs);
      guestMs.push(ident.guestMs);
      steps.push(ident.steps);
    }
    await h.api('DELETE', `/v1/vms/${c.body.name}`);
    pooled++;
    await waitLogCount(h, 'warm pool: machine ready', pooled);
  }
  const snapLoad = load();
  // Printed as soon as measured (again in the summary): a later section that fails loses nothing.
  row('API create, snapshot (warm pool), median', fmtMs(median(snap)), `${snap.map((v) => fmtMs(v)).join(' ')} (load ${snapLoad})`);
  row('  phase: POST answered / identity seen / guest count', `${fmtMs(median(snapApi))} / ${fmtMs(median(seen))} / ${fmtMs(median(guestMs))}`, steps.join(' | '));

  // --- back to back: 10 creates in a row, no pause for the pool (the pool is full before the first)
  const b2b: number[] = [];
  const b2bHow: string[] = [];
  const made: string[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    const c = await h.api('POST', '/v1/vms', {});
    if (c.status !== 201) throw new Error(`back-to-back create ${i + 1}: ${JSON.stringify(c.body)}`);
    made.push(c.body.name);
    b2b.push(await untilAnswers(h, `http://${c.body.ip}:8000/`, t0));
    b2bHow.push(/"boot":"(\w+)"/.exec(readFileSync(h.logPath, 'utf8').split('\n').reverse().find((l) => l.includes(`"vm":"${c.body.name}"`) && l.includes('"boot"')) ?? '')?.[1] ?? '?');
  }
  const b2bLoad = load();
  row(`API create, 10 back to back (no pause; pool ${poolSize}), median`, fmtMs(median(b2b)), `max ${fmtMs(Math.max(...b2b))} (load ${b2bLoad}): ${b2b.map((v, i) => `${fmtMs(v)} (${b2bHow[i]})`).join(' ')}`);
  for (const n of made) await h.api('DELETE', `/v1/vms/${n}`);
  pooled += b2bHow.filter((x) => x === 'pool').length;
  await waitLogCount(h, 'warm pool: machine ready', pooled);

  // --- on demand: the same daemon (and template) with no pool: each create restores the template
  await h.killDaemon('SIGTERM');
  await h.startDaemon({ FCM_SNAPSHOT_POOL: '0' });
  const onDemand: number[] = [];
  const onDemandApi: number[] = [];
  for (let i = 0; i < Math.max(N, 5); i++) {
    const t0 = performance.now();
    const c = await h.api('POST', '/v1/vms', {});
    if (c.status !== 201) throw new Error(JSON.stringify(c.body));
    onDemandApi.push(performance.now() - t0);
    onDemand.push(await untilAnswers(h, `http://${c.body.ip}:8000/`, t0));
    await h.api('DELETE', `/v1/vms/${c.body.name}`);
  }
  const onDemandLoad = load();
  row(`API create, snapshot (restore on demand), median of ${onDemand.length}`, fmtMs(median(onDemand)), `${onDemand.map((v) => fmtMs(v)).join(' ')} (load ${onDemandLoad})`);
  Object.assign(shared, { snap, onDemand });

  // --- cold: a non-default shape boots
  const cold: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    const c = await h.api('POST', '/v1/vms', { swapMib: 511 });
    cold.push(await untilAnswers(h, `http://${c.body.ip}:8000/`, t0));
    await h.api('DELETE', `/v1/vms/${c.body.name}`);
  }

  console.log('');
  row('raw QEMU boot (baseline), median', fmtMs(median(raw)), `${raw.map((v) => fmtMs(v)).join(' ')} (load ${rawLoad})`);
  row('API create, cold boot, median', fmtMs(median(cold)), `${cold.map((v) => fmtMs(v)).join(' ')} (load ${load()})`);
  row('API create, snapshot (warm pool), median', fmtMs(median(snap)), `${snap.map((v) => fmtMs(v)).join(' ')} (load ${snapLoad})`);
  row('  phase: POST answered (claim, seed + tap, resume)', fmtMs(median(snapApi)), snapApi.map((v) => fmtMs(v)).join(' '));
  row('  phase: guest identity done (console line seen)', fmtMs(median(seen)), `${seen.length} of ${N} seen; the guest's own count ${fmtMs(median(guestMs))}`);
  row('  phase: first answer on port 8000', fmtMs(median(snap)), 'after identity: ARP, TCP, the placeholder answering');
  row('  identity steps (guest, each create)', '', steps.join(' | '));
  row(`API create, snapshot (restore on demand), median of ${onDemand.length}`, fmtMs(median(onDemand)), `${onDemand.map((v) => fmtMs(v)).join(' ')} (load ${onDemandLoad})`);
  row(`API create, 10 back to back (no pause; pool ${poolSize}), median`, fmtMs(median(b2b)), `max ${fmtMs(Math.max(...b2b))} (load ${b2bLoad})`);
  row('  each (how it was made)', '', b2b.map((v, i) => `${fmtMs(v)} (${b2bHow[i]})`).join(' '));
  row('daemon overhead: cold API / raw boot', ratio(median(cold), median(raw)));
  row('fast path: raw boot / snapshot create', ratio(median(raw), median(snap)));
  row('fast path: raw boot / on-demand restore', ratio(median(raw), median(onDemand)));
  row('warm pool / on-demand restore (same template)', ratio(median(snap), median(onDemand)));
  row('back to back: raw boot / median create', ratio(median(raw), median(b2b)));
  row('on demand: POST answered (restore included)', fmtMs(median(onDemandApi)));
} finally {
  poller.close();
  await h.close();
}

// The same snapshot creates on a daemon that copies the template's RAM into each restore (FCM_TEMPLATE_RAM=copy),
// the path before shared RAM images: the same-run baseline for the shared path (`-- --no-copy` leaves it out).
if (process.argv.includes('--no-copy')) {
  console.log(`  load average at the end: ${load()}`);
  process.exit(0);
}
const copy = await startHostHarness({ env: { ...qemuEnv, FCM_SNAPSHOTS: 'true', FCM_SNAPSHOT_POOL: '1', FCM_TEMPLATE_RAM: 'copy' } });
poller = new ReadyPoller(copy.ns);
try {
  await poller.started;
  await waitLogCount(copy, 'warm pool: machine ready', 1);
  const c = await snapshotCreates(copy, 1);
  shared.copy = c;
} finally {
  poller.close();
  await copy.close();
}
row('copy RAM (before): warm pool, median', fmtMs(median(shared.copy!.snap)), shared.copy!.snap.map((v) => fmtMs(v)).join(' '));
row('copy RAM (before): restore on demand, median', fmtMs(median(shared.copy!.onDemand)), shared.copy!.onDemand.map((v) => fmtMs(v)).join(' '));
row('copy RAM (before): on demand, POST answered', fmtMs(median(shared.copy!.onDemandApi)));
row('shared RAM (after) vs copy (before): warm pool', ratio(median(shared.snap), median(shared.copy!.snap)));
row('shared RAM (after) vs copy (before): on demand', ratio(median(shared.onDemand), median(shared.copy!.onDemand)));
console.log(`  load average at the end: ${(await import('node:os')).loadavg().map((l) => l.toFixed(2)).join(' ')}`);
