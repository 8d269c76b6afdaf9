/**
 * Sleep and wake (issue #16), through a real Caddy, one VM of the default
 * size, median of N (default 3) each, all in one run:
 *   awake  — time to first byte of a request to a running VM (the baseline of a request)
 *   wake   — time to first byte of the first request to a sleeping VM (restore + held request)
 *   cold   — stop → start → the app answers again (what a wake would cost without the saved state)
 *   sleep  — how long POST /sleep takes (pause + state written + process ended)
 *   memory — the VM's QEMU resident memory awake, and asleep (no process)
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { run } from '../../daemon/drivers/proc.js';
import { hostSkipReason, startHostHarness, type HostHarness } from '../helpers/host-harness.js';
import { qemuByVm } from '../reliability/lib/host-checks.js';
import { fmtMs, median, ratio, row } from './stats.js';

const N = Number(process.argv[process.argv.indexOf('--n') + 1] || 3) || 3;
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
    await ttfb(h, url, ca);
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
} finally {
  await h.close();
}
