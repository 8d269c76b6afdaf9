/**
 * Named snapshots (issue #16), one VM of 512 MiB running its placeholder app,
 * median of N (default 3) each, all in one run:
 *   pause    — how long the guest was paused while a snapshot was taken (QEMU's STOP→RESUME:
 *              disk snapshot + swap copy + used RAM written), against POST /sleep of the same VM
 *              (the same stop-and-write of its state, plus ending the process) — the baseline
 *   create   — how long POST /snapshots takes end to end (the guest runs meanwhile)
 *   restore  — POST …/restore → running again, against stop → start → running (a cold boot)
 *   size     — what a snapshot takes on disk besides the VM's disk (memory state + swap copy)
 */
import { performance } from 'node:perf_hooks';
import { hostSkipReason, startHostHarness } from '../helpers/host-harness.js';
import { fmtMs, median, ratio, row } from './stats.js';

const N = Number(process.argv[process.argv.indexOf('--n') + 1] || 3) || 3;
const skip = hostSkipReason();
if (skip) {
  console.error(`cannot measure: ${skip}`);
  process.exit(1);
}

const VM = 'bench-snap';
const h = await startHostHarness({ env: { FCM_VM_SNAPSHOTS_MAX: String(N + 1) } });
const ok = async (p: Promise<{ status: number; body: any }>, status = 200) => {
  const r = await p;
  if (r.status !== status) throw new Error(JSON.stringify(r.body));
  return r.body;
};
const running = () => ok(h.api('GET', `/v1/vms/${VM}/wait?state=running&timeout=600`));
try {
  await ok(h.api('POST', '/v1/vms', { name: VM, memoryMib: 512, swapMib: 256 }), 201);
  await running();
  console.log(`snapshots of a running VM of 512 MiB, median of ${N}; machine: ${(await import('node:os')).cpus().length} cores, QEMU TCG`);
  const paused: number[] = [];
  const create: number[] = [];
  const sizes: number[] = [];
  const restore: number[] = [];
  const cold: number[] = [];
  const sleepSave: number[] = [];
  for (let i = 0; i < N; i++) {
    let t0 = performance.now();
    const s = await ok(h.api('POST', `/v1/vms/${VM}/snapshots`, { snapshot: `b${i}` }), 201);
    create.push(performance.now() - t0);
    paused.push(s.pausedMs);
    sizes.push(s.sizeBytes / 1024 / 1024);

    // Baseline for the pause: a stop-the-world save of the same VM (the guest is paused for all of it).
    t0 = performance.now();
    await ok(h.api('POST', `/v1/vms/${VM}/sleep`));
    sleepSave.push(performance.now() - t0);
    await ok(h.api('POST', `/v1/vms/${VM}/start`));
    await running();

    t0 = performance.now();
    await ok(h.api('POST', `/v1/vms/${VM}/snapshots/b${i}/restore`));
    const vm = await running();
    if (vm.lastError) throw new Error(`not restored: ${vm.lastError}`);
    restore.push(performance.now() - t0);

    await ok(h.api('POST', `/v1/vms/${VM}/stop`, { timeoutMs: 30_000 }));
    t0 = performance.now();
    await ok(h.api('POST', `/v1/vms/${VM}/start`));
    await running();
    cold.push(performance.now() - t0);
  }
  const p = median(paused);
  row('snapshot: guest paused (QEMU STOP → RESUME)', fmtMs(p), `${ratio(p, median(sleepSave))} the sleep save`);
  row('POST /sleep of the same VM (stop, write state, end)', fmtMs(median(sleepSave)), '(baseline: the same stop-and-write)');
  row('snapshot: POST /snapshots end to end (guest runs)', fmtMs(median(create)));
  row('restore → running', fmtMs(median(restore)), `${ratio(median(cold), median(restore))} faster than a cold boot`);
  row('stop → start → running (cold boot)', fmtMs(median(cold)), '(baseline)');
  row('snapshot size besides the VM disk', `${median(sizes).toFixed(0)} MiB`, '(memory state + sparse swap copy; disk: copy-on-write)');
} finally {
  await h.close();
}
