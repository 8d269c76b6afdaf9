/**
 * Density: what an idle VM costs the host, as medians over N VMs (default
 * 20, `--n 50` for the figure), all idle at the same time, for each
 * restore path measured in the same run, one daemon after the other:
 *   - `copy`: the saved state carries the template's RAM, each restore copies it
 *     (FCM_TEMPLATE_RAM=copy, the path before sharing);
 *   - `shared`: every VM maps the template's RAM image copy-on-write (the default).
 * Per VM: QEMU's RSS and PSS (PSS charges each VM its share of pages it shares
 * with others — what it really costs the host), the guest's own "used" memory
 * (free: total − available), host memory beyond what the guest uses
 * (PSS − used), the VMM's own overhead (PSS outside the guest-RAM mapping), and
 * VMs per GiB of host RAM (1024 / median PSS); also the drop of the host's
 * MemAvailable per VM (noisy: other workers share this machine).
 * `--cold N` adds N cold-booted VMs (slow under TCG) to the `copy` daemon.
 *   - disk bytes allocated per new VM (copy-on-write root, seed, sparse swap)
 *   - create time of the per-VM disks vs the size of the base image (must stay flat)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
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
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(name);
  const v = i === -1 ? NaN : Number(process.argv[i + 1]);
  return Number.isInteger(v) && v >= 0 ? v : def;
};
const N = Math.max(1, arg('--n', 20));
const COLD = arg('--cold', 0);
const range = (v: number[]) => `min ${Math.min(...v).toFixed(0)}, max ${Math.max(...v).toFixed(0)}`;
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

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

/** RSS and PSS of a QEMU, in MiB; `ram` is the PSS of its guest-RAM mapping (the one mapping of the guest's size). */
function memoryOf(pid: number, guestMib: number): { rss: number; pss: number; ramPss: number; ramKind: string } {
  const smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8').split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/);
  let rss = 0;
  let pss = 0;
  let ramPss = 0;
  let ramKind = 'none';
  for (const block of smaps) {
    const head = block.split('\n')[0]!;
    const kb = (f: string) => Number(new RegExp(`^${f}:\\s+(\\d+) kB`, 'm').exec(block)?.[1] ?? 0);
    rss += kb('Rss');
    pss += kb('Pss');
    if (kb('Size') === guestMib * 1024) {
      ramPss += kb('Pss');
      ramKind = /memfd:/.test(head) ? 'template image, copy-on-write' : 'anonymous';
    }
  }
  return { rss: rss / 1024, pss: pss / 1024, ramPss: ramPss / 1024, ramKind };
}

function memAvailableMib(): number {
  return Number(/MemAvailable:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) / 1024;
}

async function allocatedBytes(dir: string): Promise<number> {
  const { stdout } = await run('du', ['-s', '-B1', dir]);
  return Number(stdout.split(/\s/)[0]);
}

const QUOTAS = {
  FCM_QUOTA_VMS: '1000', FCM_QUOTA_VCPUS: '1000', FCM_QUOTA_MEMORY_MIB: String(1 << 24), FCM_QUOTA_DISK_MIB: String(1 << 26),
  // Idle VMs are what this measures: admission must not stop at 1 GiB reserved per VM.
  FCM_MEMORY_OVERCOMMIT: '20', FCM_CPU_OVERCOMMIT: '100',
};

interface Figures { pss: number; beyond: number; perGib: number }

/** One daemon with FCM_TEMPLATE_RAM=`ram`: N restored VMs (and `cold` cold-booted ones), measured together. */
async function measure(ram: 'copy' | 'shared', cold: number): Promise<Figures> {
  const h = await startHostHarness({ env: { FCM_SNAPSHOTS: 'true', FCM_SNAPSHOT_POOL: '1', FCM_TEMPLATE_RAM: ram, ...QUOTAS } });
  try {
    const deadline = Date.now() + 600_000;
    while (!readFileSync(h.logPath, 'utf8').includes('warm pool: machine ready')) {
      if (Date.now() > deadline) throw new Error('the warm pool never filled');
      await new Promise((r) => setTimeout(r, 200));
    }
    const availBefore = memAvailableMib();
    const kinds: [string, Record<string, unknown>, number][] = [[`restored (${ram})`, {}, N], ...(cold ? [['cold-booted', { swapMib: 511 }, cold] as [string, Record<string, unknown>, number]] : [])];
    const vms: { kind: string; name: string; id: string; disk: number }[] = [];
    const t0 = performance.now();
    for (const [kind, body, count] of kinds) {
      for (let i = 0; i < count; i++) {
        const name = `dense-${kind.split(' ')[0]}-${i}`;
        const c = await h.api('POST', '/v1/vms', { ...body, name });
        if (c.status !== 201) throw new Error(JSON.stringify(c.body));
        const w = await h.api('GET', `/v1/vms/${name}/wait?state=running&timeout=300`);
        if (w.status !== 200) throw new Error(`${name}: ${JSON.stringify(w.body)}`);
        vms.push({ kind, name, id: c.body.id, disk: await allocatedBytes(join(h.stateDir, 'disks', c.body.id)) });
      }
    }
    console.log(`  [${ram}] ${vms.length} VMs created and running in ${fmtMs(performance.now() - t0)}; idle 15 s, then measured (load ${load()})`);
    await new Promise((r) => setTimeout(r, 15_000));
    const availAfter = memAvailableMib();
    let figures: Figures | null = null;
    for (const [kind, body] of kinds) {
      const rss: number[] = [];
      const pss: number[] = [];
      const used: number[] = [];
      const beyond: number[] = [];
      const vmm: number[] = [];
      const disk: number[] = [];
      const ramKinds = new Set<string>();
      const mine = vms.filter((v) => v.kind === kind);
      for (const vm of mine) {
        const m = memoryOf(Number(readFileSync(join(h.stateDir, 'run', vm.id, 'qemu.pid'), 'utf8')), 1024);
        const u = await guestUsedMib(h, vm.name);
        rss.push(m.rss);
        pss.push(m.pss);
        used.push(u);
        beyond.push(m.pss - u);
        vmm.push(m.pss - m.ramPss);
        ramKinds.add(m.ramKind);
        disk.push(vm.disk / MiB);
      }
      row(`${kind}: guest RAM mapping`, [...ramKinds].join(', '));
      row(`${kind}: QEMU RSS, median of ${rss.length}`, `${median(rss).toFixed(0)} MiB`, range(rss));
      row(`${kind}: QEMU PSS (shared pages split), median`, `${median(pss).toFixed(0)} MiB`, range(pss));
      row(`${kind}: guest used (total − available), median`, `${median(used).toFixed(0)} MiB`, range(used));
      row(`${kind}: host memory beyond the guest's own (PSS − used)`, `${median(beyond).toFixed(0)} MiB`, range(beyond));
      row(`${kind}: VMM's own (PSS outside guest RAM), median`, `${median(vmm).toFixed(0)} MiB`, range(vmm));
      row(`${kind}: idle VMs per GiB of host RAM (1024 / PSS)`, (1024 / median(pss)).toFixed(1));
      row(`${kind}: disk allocated for a new VM, median`, `${median(disk).toFixed(1)} MiB`, `(of ${(body.swapMib as number | undefined) ?? 512} MiB swap + 2048 MiB root, sparse)`);
      if (kind.startsWith('restored')) figures = { pss: median(pss), beyond: median(beyond), perGib: 1024 / median(pss) };
    }
    row(`[${ram}] host MemAvailable drop per VM (all ${vms.length}; noisy)`, `${((availBefore - availAfter) / vms.length).toFixed(0)} MiB`, `${availBefore.toFixed(0)} → ${availAfter.toFixed(0)} MiB`);
    for (const vm of vms) await h.api('DELETE', `/v1/vms/${vm.name}`);
    return figures!;
  } finally {
    await h.close();
  }
}

console.log(`Idle VMs, 1 vCPU / 1024 MiB, QEMU TCG (tb-size=64); ${N} restored VMs per path idle together, measured 15 s after the last was ready; medians. ${'' + (await run('nproc', [])).stdout.trim()} cores shared with other workers; load ${load()} at the start`);
const copy = await measure('copy', COLD);
const shared = await measure('shared', 0);
row('shared vs copy: PSS per idle VM', ratio(shared.pss, copy.pss), `${shared.pss.toFixed(0)} vs ${copy.pss.toFixed(0)} MiB`);
row('shared vs copy: idle VMs per GiB', ratio(shared.perGib, copy.perGib), `${shared.perGib.toFixed(1)} vs ${copy.perGib.toFixed(1)}`);
row('shared vs copy: beyond the guest\'s own', `${shared.beyond.toFixed(0)} vs ${copy.beyond.toFixed(0)} MiB`);
console.log(`  load at the end: ${load()}`);

{
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
}
