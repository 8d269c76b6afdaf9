/**
 * Density: what an idle VM costs the host, as medians over N VMs of each kind
 * (default 5, all idle at the same time):
 *   - host memory per idle VM beyond what the guest itself uses: QEMU's RSS
 *     minus the guest's own "used" memory (free: total − available),
 *     for cold-booted and snapshot-restored VMs
 *   - disk bytes allocated per new VM (copy-on-write root, seed, sparse swap)
 *   - create time of the per-VM disks vs the size of the base image (must stay flat)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CowDisks } from '../../daemon/drivers/cow-disks.js';
import { run } from '../../daemon/drivers/proc.js';
import { ConsoleWs, runInConsole } from '../helpers/console-ws.js';
import { hostSkipReason, startHostHarness, type HostHarness } from '../helpers/host-harness.js';
import { fmtMs, median, ratio, row } from './stats.js';

const skip = hostSkipReason();
if (skip) {
  console.error(`cannot measure: ${skip}`);
  process.exit(1);
}

const MiB = 1024 * 1024;
const N = Number(process.argv[process.argv.indexOf('--n') + 1] || 5) || 5;
const range = (v: number[]) => `min ${Math.min(...v).toFixed(0)}, max ${Math.max(...v).toFixed(0)}`;

async function guestUsedMib(h: HostHarness, name: string): Promise<number> {
  const c = await ConsoleWs.open(`${h.url}/v1/vms/${name}/console`, { token: h.token });
  try {
    c.send('\r');
    const out = await runInConsole(c, "free -m | awk '/^Mem:/ {print $2 - $7}'");
    return Number(out.trim().split('\n').pop());
  } finally {
    c.close();
  }
}

function rssMib(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function allocatedBytes(dir: string): Promise<number> {
  const { stdout } = await run('du', ['-s', '-B1', dir]);
  return Number(stdout.split(/\s/)[0]);
}

const h = await startHostHarness({ env: { FCM_SNAPSHOTS: 'true', FCM_SNAPSHOT_POOL: '1' } });
try {
  const deadline = Date.now() + 300_000;
  while (!readFileSync(h.logPath, 'utf8').includes('warm pool: machine ready')) {
    if (Date.now() > deadline) throw new Error('the warm pool never filled');
    await new Promise((r) => setTimeout(r, 200));
  }
  console.log(`Idle VMs, 1 vCPU / 1024 MiB, QEMU TCG (tb-size=64); ${N} of each kind idle together, measured 15 s after the last was ready; medians`);
  const kinds: [string, Record<string, unknown>][] = [['cold', { swapMib: 511 }], ['snapshot', {}]];
  const vms: { kind: string; name: string; id: string; disk: number }[] = [];
  for (const [kind, body] of kinds) {
    for (let i = 0; i < N; i++) {
      const c = await h.api('POST', '/v1/vms', { ...body, name: `dense-${kind}-${i}` });
      if (c.status !== 201) throw new Error(JSON.stringify(c.body));
      const w = await h.api('GET', `/v1/vms/${c.body.name}/wait?state=running&timeout=240`);
      if (w.status !== 200) throw new Error(`${c.body.name}: ${JSON.stringify(w.body)}`);
      vms.push({ kind, name: c.body.name, id: c.body.id, disk: await allocatedBytes(join(h.stateDir, 'disks', c.body.id)) });
    }
  }
  await new Promise((r) => setTimeout(r, 15_000));
  for (const [kind, body] of kinds) {
    const rss: number[] = [];
    const used: number[] = [];
    const beyond: number[] = [];
    const disk: number[] = [];
    for (const vm of vms.filter((v) => v.kind === kind)) {
      const r = rssMib(Number(readFileSync(join(h.stateDir, 'run', vm.id, 'qemu.pid'), 'utf8')));
      const u = await guestUsedMib(h, vm.name);
      rss.push(r);
      used.push(u);
      beyond.push(r - u);
      disk.push(vm.disk / MiB);
    }
    row(`${kind}: QEMU RSS, median of ${rss.length}`, `${median(rss).toFixed(0)} MiB`, range(rss));
    row(`${kind}: guest used (total − available), median`, `${median(used).toFixed(0)} MiB`, range(used));
    row(`${kind}: host memory beyond the guest's own, median`, `${median(beyond).toFixed(0)} MiB`, range(beyond));
    row(`${kind}: disk allocated for a new VM, median`, `${median(disk).toFixed(1)} MiB`, `(of ${(body.swapMib as number | undefined) ?? 512} MiB swap + 2048 MiB root, sparse)`);
  }
  for (const vm of vms) await h.api('DELETE', `/v1/vms/${vm.name}`);

  // Disk creation time vs base image size: qcow2 overlays never copy the base.
  const work = mkdtempSync(join(tmpdir(), 'fcm-bench-density-'));
  try {
    const sizes = [512, 4096, 16384];
    const results: number[] = [];
    for (const mib of sizes) {
      const base = join(work, `base-${mib}.raw`);
      await run('truncate', ['-s', `${mib}M`, base]);
      // Real data in the base (every 64 MiB), so "large" is not just a sparse hole.
      const fd = await import('node:fs/promises').then((f) => f.open(base, 'r+'));
      for (let off = 0; off < mib * MiB; off += 64 * MiB) await fd.write(Buffer.alloc(1 * MiB, 1), 0, 1 * MiB, off);
      await fd.close();
      const disks = new CowDisks({ dir: join(work, `vms-${mib}`), format: 'qcow2', minFreeMib: 0 });
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const id = `vm_${(0xa00000000000 + i).toString(16)}`;
        const t0 = performance.now();
        await disks.create(id, { name: 'bench', dir: work, kernelPath: '', initrdPath: null, rootfsPath: base }, { diskMib: mib + 1024, swapMib: 512 }, Buffer.alloc(4096));
        times.push(performance.now() - t0);
      }
      results.push(median(times));
      row(`per-VM disks over a ${mib} MiB base image, median of 5`, fmtMs(median(times)));
    }
    row('16 GiB base vs 512 MiB base (flat = ~1x)', ratio(results[2]!, results[0]!));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
} finally {
  await h.close();
}
