/**
 * create → ready: from the API call until the guest's web port answers.
 * In one run, on the same image, inside a private netns:
 *   raw    — QEMU started by hand (the daemon's argv, as root, without its sandbox), no daemon: the baseline
 *   cold   — POST /v1/vms of a non-default shape: the daemon boots the VM
 *   snapshot, warm pool — the default shape with a machine waiting in the pool (the best case:
 *            the bench waits for the refill before each create)
 *   snapshot, on demand — the pool empty (taken by a create just before): the template restored now
 *   back to back — 10 creates in a row, each started as soon as the previous one answered, no pause
 *            for the pool to refill (what a user creating several apps sees); all 10 kept until the end
 * Median of N (default 5) each, the on-demand figure from at least 5; ratios against the raw boot.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { planCmdline } from '../../daemon/core/planners/kernel-cmdline.js';
import { macForVm, parseSubnet, planNetwork } from '../../daemon/core/planners/network-plan.js';
import { planSeed } from '../../daemon/core/planners/seed.js';
import { newVmId } from '../../daemon/core/names.js';
import { hostTscKhz } from '../../daemon/config.js';
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

async function untilAnswers(h: HostHarness, url: string, t0: number, limitMs = 120_000): Promise<number> {
  for (;;) {
    try {
      await h.exec('curl', ['-sS', '--fail', '-o', '/dev/null', '--max-time', '0.5', url]);
      return performance.now() - t0;
    } catch {
      if (performance.now() - t0 > limitMs) throw new Error(`${url} never answered`);
    }
  }
}

async function waitLogCount(h: HostHarness, text: string, n: number, limitMs = 300_000): Promise<void> {
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
const h = await startHostHarness({ env: { FCM_SNAPSHOTS: 'true', FCM_SNAPSHOT_POOL: '1' } });
try {
  console.log(`create → ready (port 8000 answers), median of ${N}; machine: ${(await import('node:os')).cpus().length} cores shared with other workers, QEMU TCG; load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const tTemplate = performance.now();
  await waitLogCount(h, 'warm pool: machine ready', 1);
  row('template boot + save + first pool restore', fmtMs(performance.now() - tTemplate), '(once per image/shape)');

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
    rmSync(dir, { recursive: true, force: true });
  }

  const { snap, snapApi, onDemand, onDemandApi } = await snapshotCreates(h, 1);
  Object.assign(shared, { snap, onDemand });
  let pooled = 1 + snap.length + onDemand.length;

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
  for (const n of made) await h.api('DELETE', `/v1/vms/${n}`);
  pooled += b2bHow.filter((x) => x === 'pool').length;
  await waitLogCount(h, 'warm pool: machine ready', pooled);

  // --- cold: a non-default shape boots
  const cold: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    const c = await h.api('POST', '/v1/vms', { swapMib: 511 });
    cold.push(await untilAnswers(h, `http://${c.body.ip}:8000/`, t0));
    await h.api('DELETE', `/v1/vms/${c.body.name}`);
  }

  console.log('');
  row('raw QEMU boot (baseline), median', fmtMs(median(raw)), raw.map((v) => fmtMs(v)).join(' '));
  row('API create, cold boot, median', fmtMs(median(cold)), cold.map((v) => fmtMs(v)).join(' '));
  row('API create, snapshot (warm pool), median', fmtMs(median(snap)), snap.map((v) => fmtMs(v)).join(' '));
  row(`API create, snapshot (restore on demand), median of ${onDemand.length}`, fmtMs(median(onDemand)), onDemand.map((v) => fmtMs(v)).join(' '));
  row('API create, 10 back to back (no pause), median', fmtMs(median(b2b)), `max ${fmtMs(Math.max(...b2b))}`);
  row('  each (how it was made)', '', b2b.map((v, i) => `${fmtMs(v)} (${b2bHow[i]})`).join(' '));
  row('daemon overhead: cold API / raw boot', ratio(median(cold), median(raw)));
  row('fast path: raw boot / snapshot create', ratio(median(raw), median(snap)));
  row('fast path: raw boot / on-demand restore', ratio(median(raw), median(onDemand)));
  row('back to back: raw boot / median create', ratio(median(raw), median(b2b)));
  row('warm pool: POST answered (claim, seed, tap, resume)', fmtMs(median(snapApi)), 'the rest until port 8000 answers is the guest taking its identity');
  row('on demand: POST answered (restore included)', fmtMs(median(onDemandApi)));
} finally {
  await h.close();
}

// The same snapshot creates on a daemon that copies the template's RAM into each restore (FCM_TEMPLATE_RAM=copy),
// the path before shared RAM images: the same-run baseline for the shared path.
const copy = await startHostHarness({ env: { FCM_SNAPSHOTS: 'true', FCM_SNAPSHOT_POOL: '1', FCM_TEMPLATE_RAM: 'copy' } });
try {
  await waitLogCount(copy, 'warm pool: machine ready', 1);
  const c = await snapshotCreates(copy, 1);
  shared.copy = c;
} finally {
  await copy.close();
}
row('copy RAM (before): warm pool, median', fmtMs(median(shared.copy!.snap)), shared.copy!.snap.map((v) => fmtMs(v)).join(' '));
row('copy RAM (before): restore on demand, median', fmtMs(median(shared.copy!.onDemand)), shared.copy!.onDemand.map((v) => fmtMs(v)).join(' '));
row('copy RAM (before): on demand, POST answered', fmtMs(median(shared.copy!.onDemandApi)));
row('shared RAM (after) vs copy (before): warm pool', ratio(median(shared.snap), median(shared.copy!.snap)));
row('shared RAM (after) vs copy (before): on demand', ratio(median(shared.onDemand), median(shared.copy!.onDemand)));
console.log(`  load average at the end: ${(await import('node:os')).loadavg().map((l) => l.toFixed(2)).join(' ')}`);
