/**
 * Forks (issue #16), median of N (default 3) each, all in one run on one daemon with a warm pool:
 *   fork      — POST /v1/vms/{parent}/fork until the fork's port 8000 answers (its own address:
 *               restored from the parent's live capture, identity taken), against
 *   pool      — a create of the default shape with a machine waiting in the warm pool (the refill
 *               awaited before each), and
 *   cold      — a create of another shape (no template: a cold boot through the daemon)
 *   pause     — the parent's pause for a fork (Fcm-Parent-Paused-Ms), against a named snapshot
 *               of the same parent (the same capture: the baseline)
 * The parent is a default-shape VM (from the pool) running its placeholder app on port 8000. Forks and
 * snapshots are taken with the pool full (no refill competing for the CPU), in alternating order.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { hostSkipReason, startHostHarness, type HostHarness } from '../helpers/host-harness.js';
import { fmtMs, median, ratio, row } from './stats.js';

const N = Number(process.argv[process.argv.indexOf('--n') + 1] || 3) || 3;
const skip = hostSkipReason();
if (skip) {
  console.error(`cannot measure: ${skip}`);
  process.exit(1);
}

async function untilAnswers(h: HostHarness, ip: string, t0: number, limitMs = 300_000): Promise<number> {
  for (;;) {
    try {
      await h.exec('curl', ['-sS', '--fail', '-o', '/dev/null', '--max-time', '0.5', `http://${ip}:8000/`]);
      return performance.now() - t0;
    } catch {
      if (performance.now() - t0 > limitMs) throw new Error(`${ip}:8000 never answered`);
    }
  }
}

async function waitLogCount(h: HostHarness, text: string, n: number, limitMs = 600_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (readFileSync(h.logPath, 'utf8').split(text).length - 1 < n) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${n}× "${text}"`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const h = await startHostHarness({ env: { FCM_SNAPSHOTS: 'true', FCM_SNAPSHOT_POOL: '1', FCM_VM_SNAPSHOTS_MAX: String(N + 1) } });
const ok = async (p: Promise<{ status: number; body: any }>, status = 200) => {
  const r = await p;
  if (r.status !== status) throw new Error(JSON.stringify(r.body));
  return r.body;
};
const DEFAULT = { memoryMib: 1024, swapMib: 512 };
try {
  const os = await import('node:os');
  console.log(`fork vs create → ready (port 8000 answers), median of ${N}; machine: ${os.cpus().length} cores shared with other workers, QEMU TCG; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  await waitLogCount(h, 'warm pool: machine ready', 1);
  let pooled = 1;
  const parent = await ok(h.api('POST', '/v1/vms', { name: 'parent', ...DEFAULT }), 201);
  pooled++;
  await untilAnswers(h, parent.ip, performance.now());
  await ok(h.api('GET', '/v1/vms/parent/wait?state=running&timeout=300'));

  const fork: number[] = [];
  const pause: number[] = [];
  const pool: number[] = [];
  const cold: number[] = [];
  const snapPause: number[] = [];
  const forkOnce = async (i: number) => {
    const t0 = performance.now();
    const res = await fetch(`${h.url}/v1/vms/parent/fork`, { method: 'POST', headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: `fork-${i}` }) });
    const f = (await res.json()) as { ip: string; name: string };
    if (res.status !== 201) throw new Error(JSON.stringify(f));
    pause.push(Number(res.headers.get('fcm-parent-paused-ms')));
    fork.push(await untilAnswers(h, f.ip, t0));
    await ok(h.api('DELETE', `/v1/vms/fork-${i}`), 204);
  };
  // The same capture as a named snapshot of the same parent: the pause's baseline.
  const snapshotOnce = async (i: number) => {
    const s = await ok(h.api('POST', '/v1/vms/parent/snapshots', { snapshot: `b${i}` }), 201);
    snapPause.push(s.pausedMs);
  };
  for (let i = 0; i < N; i++) {
    // Measured with the pool full (no refill restore competing for the CPU), in alternating order.
    await waitLogCount(h, 'warm pool: machine ready', pooled);
    if (i % 2 === 0) {
      await forkOnce(i);
      await snapshotOnce(i);
    } else {
      await snapshotOnce(i);
      await forkOnce(i);
    }

    // warm-pool create → ready (the refill awaited first)
    await waitLogCount(h, 'warm pool: machine ready', pooled);
    let t0 = performance.now();
    const p = await ok(h.api('POST', '/v1/vms', { name: `pool-${i}`, ...DEFAULT }), 201);
    pooled++;
    pool.push(await untilAnswers(h, p.ip, t0));
    await ok(h.api('DELETE', `/v1/vms/pool-${i}`), 204);

    // cold boot through the daemon (a shape without a template)
    t0 = performance.now();
    const c = await ok(h.api('POST', '/v1/vms', { name: `cold-${i}`, memoryMib: 1024, swapMib: 256 }), 201);
    cold.push(await untilAnswers(h, c.ip, t0));
    await ok(h.api('DELETE', `/v1/vms/cold-${i}`), 204);
  }
  row('fork → ready (POST /fork until the fork\'s port 8000 answers)', fmtMs(median(fork)), `${ratio(median(cold), median(fork))} faster than a cold create; ${ratio(median(fork), median(pool))} the warm-pool create's time`);
  row('create → ready, warm pool (same run)', fmtMs(median(pool)), '(baseline)');
  row('create → ready, cold boot (same run)', fmtMs(median(cold)), '(baseline)');
  row('parent paused for a fork (QEMU STOP → RESUME)', fmtMs(median(pause)), `${ratio(median(pause), median(snapPause))} a named snapshot's pause`);
  row('named snapshot of the same parent: paused', fmtMs(median(snapPause)), '(baseline: the same capture)');
} finally {
  await h.close();
}
