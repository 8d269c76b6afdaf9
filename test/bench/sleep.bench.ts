/**
 * Sleep and wake (issue #16), through a real Caddy, one VM of the default
 * size, median of N (default 3) each, all in one run:
 *   awake  — time to first byte of a request to a running VM (the baseline of a request)
 *   wake   — time to first byte of the first request to a sleeping VM (restore + held request)
 *   cold   — stop → start → the app answers again (what a wake would cost without the saved state)
 *   sleep  — how long POST /sleep takes (pause + state written + process ended)
 *   memory — the VM's QEMU resident memory awake, and asleep (no process)
 *   fleet  — host memory of N VMs (--vms, default 3, the bench VM among them) idle vs asleep:
 *            their QEMUs' RSS and PSS (PSS splits the pages clones share), and what their
 *            saved states take on disk (allocated blocks of disks/<vm>/saved/) — medians of
 *            N samples each, both measured here in this run
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { run } from '../../daemon/drivers/proc.js';
import { hostSkipReason, startHostHarness, type HostHarness } from '../helpers/host-harness.js';
import { qemuByVm } from '../reliability/lib/host-checks.js';
import { fmtMs, median, ratio, row } from './stats.js';

const N = Number(process.argv[process.argv.indexOf('--n') + 1] || 3) || 3;
const VMS = Number(process.argv.includes('--vms') ? process.argv[process.argv.indexOf('--vms') + 1] : 3) || 3;
const skip = hostSkipReason();
if (skip) {
  console.error(`cannot measure: ${skip}`);
  process.exit(1);
}

/** Time to first byte (ms) of GET url through Caddy; throws unless the app answered 200. */
async function ttfb(h: HostHarness, url: string, ca: string): Promise<number> {
  const u = new URL(url);
  const { stdout } = await run('curl', ['-sS', '--max-time', '180', '--resolve', `${u.hostname}:443:${h.daemonIp}`, '--cacert', ca, '-o', '/dev/null', '-w', '%{http_code} %{time_starttransfer}', url], { timeoutMs: 200_000 });
  const [code, secs] = stdout.trim().split(' ');
  if (code !== '200') throw new Error(`${url} answered ${code}`);
  return Number(secs) * 1000;
}

const rssMib = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

/** RSS and PSS (MiB) of a process, from smaps_rollup. */
function rssPss(pid: number): { rss: number; pss: number } {
  const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (f: string) => Number(new RegExp(`^${f}:\\s+(\\d+) kB`, 'm').exec(t)?.[1] ?? 0);
  return { rss: kb('Rss') / 1024, pss: kb('Pss') / 1024 };
}

/** Bytes a directory tree takes on disk (allocated blocks; sparse files count what they hold). */
function allocatedMib(dir: string): number {
  let bytes = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.isFile()) bytes += statSync(join(d, e.name)).blocks * 512;
    }
  };
  if (existsSync(dir)) walk(dir);
  return bytes / 1024 / 1024;
}

const h = await startHostHarness({ caddy: true });
try {
  const c = await h.api('POST', '/v1/vms', { name: 'bench-sleep', memoryMib: 1024, swapMib: 512 });
  if (c.status !== 201) throw new Error(JSON.stringify(c.body));
  if ((await h.api('GET', '/v1/vms/bench-sleep/wait?state=running&timeout=600')).status !== 200) throw new Error('never ran');
  const url = `${c.body.url}/`;
  const ca = await h.caddy.rootCaFile();
  for (let i = 0; ; i++) {
    try {
      await ttfb(h, url, ca);
      break;
    } catch (e) {
      if (i > 100) throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  console.log(`sleep and wake through Caddy, VM of 1024 MiB, median of ${N}; machine: ${(await import('node:os')).cpus().length} cores, QEMU TCG`);
  const awake: number[] = [];
  const wake: number[] = [];
  const cold: number[] = [];
  const sleep: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < 3; j++) awake.push(await ttfb(h, url, ca));
    const pid = (await qemuByVm(h)).get(c.body.id);
    if (pid) rss.push(rssMib(pid));
    let t0 = performance.now();
    const s = await h.api('POST', '/v1/vms/bench-sleep/sleep');
    if (s.body.state !== 'sleeping') throw new Error(JSON.stringify(s.body));
    sleep.push(performance.now() - t0);
    if ((await qemuByVm(h)).has(c.body.id)) throw new Error('a QEMU still runs for the sleeping VM');
    wake.push(await ttfb(h, url, ca));
    await h.api('GET', '/v1/vms/bench-sleep/wait?state=running&timeout=600');
    await h.api('POST', '/v1/vms/bench-sleep/stop', { timeoutMs: 30_000 });
    t0 = performance.now();
    await h.api('POST', '/v1/vms/bench-sleep/start');
    // Held by the wake listener while the VM boots (state starting), then served: the same path a wake takes.
    // Caddy's route may still be the stopped page for a moment after the start returns (routes follow
    // the state asynchronously): a 503 then is retried, and counted in the time.
    for (let k = 0; ; k++) {
      try {
        await ttfb(h, url, ca);
        break;
      } catch (e) {
        if (k > 100 || !/answered 503/.test((e as Error).message)) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    cold.push(performance.now() - t0);
  }
  const m = median(wake);
  row('request to an awake VM, time to first byte', fmtMs(median(awake)), '(baseline)');
  row('first request to a sleeping VM, time to first byte', fmtMs(m), `${ratio(m, median(awake))} the awake request`);
  row('stop → start → first byte (cold boot)', fmtMs(median(cold)), `wake is ${ratio(median(cold), m)} faster`);
  row('POST /sleep (pause, save state, end the process)', fmtMs(median(sleep)));
  row('host memory of the VM awake (QEMU RSS) / asleep', `${median(rss).toFixed(0)} MiB`, '/ 0 MiB (no process)');
  const sizes = [...readFileSync(h.logPath, 'utf8').matchAll(/"stateBytes":(\d+)[^\n]*"VM asleep"/g)].map((x) => Number(x[1]) / 1024 / 1024);
  row('saved state on disk per sleep', `${median(sizes).toFixed(0)} MiB`, '(guest RAM in use, zero pages skipped)');

  // The fleet: VMS VMs of the same size, all idle (awake, no requests), then all asleep.
  const ids = [c.body.id as string];
  for (let i = 1; i < VMS; i++) {
    const v = await h.api('POST', '/v1/vms', { name: `bench-sleep-${i}`, memoryMib: 1024, swapMib: 512 });
    if (v.status !== 201) throw new Error(JSON.stringify(v.body));
    ids.push(v.body.id);
  }
  const names = ['bench-sleep', ...Array.from({ length: VMS - 1 }, (_, i) => `bench-sleep-${i + 1}`)];
  for (const n of names) if ((await h.api('GET', `/v1/vms/${n}/wait?state=running&timeout=600`)).status !== 200) throw new Error(`${n} never ran`);
  const idleRss: number[] = [];
  const idlePss: number[] = [];
  const asleepDisk: number[] = [];
  const asleepProcs: number[] = [];
  for (let i = 0; i < N; i++) {
    // Idle: settled for a few seconds with no request, then every QEMU's RSS and PSS summed.
    await new Promise((r) => setTimeout(r, 5000));
    const pids = await qemuByVm(h);
    let rss = 0;
    let pss = 0;
    for (const id of ids) {
      const pid = pids.get(id);
      if (!pid) throw new Error(`no QEMU for ${id} while idle`);
      const m = rssPss(pid);
      rss += m.rss;
      pss += m.pss;
    }
    idleRss.push(rss);
    idlePss.push(pss);
    for (const n of names) if ((await h.api('POST', `/v1/vms/${n}/sleep`)).body.state !== 'sleeping') throw new Error(`${n} did not sleep`);
    const left = await qemuByVm(h);
    asleepProcs.push(ids.filter((id) => left.has(id)).length);
    asleepDisk.push(ids.reduce((sum, id) => sum + allocatedMib(join(h.stateDir, 'disks', id, 'saved')), 0));
    for (const n of names) await h.api('POST', `/v1/vms/${n}/start`);
    for (const n of names) if ((await h.api('GET', `/v1/vms/${n}/wait?state=running&timeout=600`)).status !== 200) throw new Error(`${n} did not wake`);
  }
  row(`${VMS} idle VMs: QEMU RSS, summed`, `${median(idleRss).toFixed(0)} MiB`, '(baseline)');
  row(`${VMS} idle VMs: QEMU PSS, summed (shared pages split)`, `${median(idlePss).toFixed(0)} MiB`, '(baseline)');
  row(`${VMS} sleeping VMs: QEMU processes / RSS / PSS`, `${Math.max(...asleepProcs)} / 0 / 0 MiB`, 'their memory is the host\'s again');
  row(`${VMS} sleeping VMs: saved state on disk, summed`, `${median(asleepDisk).toFixed(0)} MiB`, `${ratio(median(asleepDisk), median(idlePss))} the idle PSS, on disk instead of in RAM`);
} finally {
  await h.close();
}
