/**
 * Density: what an idle VM costs the host, as medians over N VMs (default
 * 20, `--n 50` for the issue's figure), all idle at the same time, for each
 * daemon measured in the same run, one after the other (`--paths`, default
 * copy,prev,shipped):
 *   - `copy`: the saved state carries the template's RAM, each restore copies it
 *     (FCM_TEMPLATE_RAM=copy, the path before sharing), tb-size=64 for
 *     clones too, QEMU with transparent huge pages;
 *   - `prev`: shared template RAM as shipped before the clones' own cache
 *     size and THP off: clones at tb-size=64, QEMU with huge pages;
 *   - `tb24`, `tb16`: the shipped path with a smaller cache for clones
 *     (FCM_QEMU_RESTORE_TB_MIB; experiments: a clone's real work thrashes
 *     at 16, see qemu-argv.ts);
 *   - `shipped`: the defaults;
 *   - `ksm`: FCM_KSM=true (ksmd on, every QEMU PR_SET_MEMORY_MERGE and
 *     mem-merge=on), measured once ksmd has settled (three more full passes,
 *     the last merging < 1% more), with ksmd's CPU (its kernel thread's
 *     utime + stime: steady over 30 s with every VM idle, and from the
 *     daemon's start) and what each QEMU had merged (ksm_stat, smaps `KSM:`
 *     by mapping). PSS splits a merged page among the processes mapping
 *     it, so the figures charge each VM its share. The bench puts ksmd's
 *     settings back as it found them after each daemon;
 *   - `arena1`, `arena2`, `ksmArena1`: FCM_QEMU_MALLOC_ARENA_MAX (and KSM).
 * Per VM, from /proc/<pid>/smaps (breakdown()): QEMU's RSS and PSS (PSS charges
 * each VM its share of pages it shares with others — what it really costs the
 * host); the guest RAM only this VM holds (the pages it wrote since its
 * restore: what it touched); the VMM's own memory (PSS outside the guest-RAM
 * mapping) by kind (TCG translation cache, malloc, other anonymous, stacks,
 * binary + libraries); the headline "host memory beyond what the guest
 * touched" = PSS − guest RAM only this VM holds (the VMM's own + its share of
 * the template pages); the guest's own "used" memory (free: total −
 * available) and VMs per GiB of host RAM (1024 / median PSS); also the drop
 * of the host's MemAvailable per VM (noisy: other workers share this machine).
 * For `copy` every loaded page is private, so "beyond what it touched" is
 * only its VMM's own there.
 * `--cold N` adds N cold-booted VMs (slow under TCG) to the first daemon.
 *   - disk bytes allocated per new VM (copy-on-write root, seed, sparse swap)
 *   - create time of the per-VM disks vs the size of the base image (must stay flat)
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CowDisks } from '../../daemon/drivers/cow-disks.js';
import { run } from '../../daemon/drivers/proc.js';
import { ConsoleWs, runInConsole } from '../helpers/console-ws.js';
import { hostSkipReason, startHostHarness, type HostHarness } from '../helpers/host-harness.js';
import { keepKsmSettings, ksmKnob } from '../helpers/ksm.js';
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

/** Where a QEMU's memory goes, in MiB of PSS (shared pages split among their users), by mapping (/proc/<pid>/smaps). */
export interface Breakdown {
  rss: number;
  pss: number;
  /** The guest-RAM mapping (the one of the guest's size): its PSS, and the part only this VM holds (pages the guest wrote since the restore, or every page the copy path loaded). */
  ramPss: number;
  ramPrivate: number;
  ramKind: string;
  /** TCG's translation cache (the one anonymous rwx mapping): resident once written, never given back. */
  tcg: number;
  /** glibc's main heap and the per-thread arenas (anonymous mappings at 64 MiB-aligned addresses). */
  malloc: number;
  /** Thread stacks (8 MiB anonymous mappings) and the main stack. */
  stacks: number;
  /** QEMU's binary and libraries (file-backed; their text is shared by every QEMU). */
  files: number;
  /** Every other anonymous mapping (device state, TCG's TLB and hash tables, large g_malloc buffers). */
  otherAnon: number;
  /** KSM-merged pages mapped here (smaps `KSM:`, MiB of mappings, not PSS) in guest RAM, the translation cache, everything else. */
  ksmRam: number;
  ksmTcg: number;
  ksmOther: number;
}

export function breakdown(pid: number, guestMib: number): Breakdown {
  const smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8').split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/);
  const b: Breakdown = { rss: 0, pss: 0, ramPss: 0, ramPrivate: 0, ramKind: 'none', tcg: 0, malloc: 0, stacks: 0, files: 0, otherAnon: 0, ksmRam: 0, ksmTcg: 0, ksmOther: 0 };
  for (const block of smaps) {
    const [range, perms, , , , path = ''] = block.split('\n')[0]!.trim().split(/\s+/);
    const kb = (f: string) => Number(new RegExp(`^${f}:\\s+(\\d+) kB`, 'm').exec(block)?.[1] ?? 0) / 1024;
    const pss = kb('Pss');
    b.rss += kb('Rss');
    b.pss += pss;
    const start = BigInt(`0x${range!.split('-')[0]}`);
    const ksm = kb('KSM');
    if (kb('Size') === guestMib) b.ksmRam += ksm;
    else if (perms === 'rwxp') b.ksmTcg += ksm;
    else b.ksmOther += ksm;
    if (kb('Size') === guestMib) {
      b.ramPss += pss;
      b.ramPrivate += kb('Private_Clean') + kb('Private_Dirty');
      b.ramKind = /memfd:/.test(path) ? 'template image, copy-on-write' : 'anonymous';
    } else if (path.startsWith('/')) b.files += pss;
    else if (perms === 'rwxp') b.tcg += pss;
    else if (path === '[heap]' || (path === '' && start % (64n << 20n) === 0n)) b.malloc += pss;
    else if (path === '[stack]' || (path === '' && kb('Size') === 8)) b.stacks += pss;
    else b.otherAnon += pss;
  }
  return b;
}

/**
 * ksmd is host-wide: a KSM daemon turns it on and leaves it on (ksm-host.ts).
 * The bench puts back what it found after each daemon (and at exit), so
 * later variants and other users of the machine are not scanned.
 */
const restoreKsm = keepKsmSettings();
process.on('exit', restoreKsm);
const ksmRead = (f: string) => Number(ksmKnob(f));
const CLK_TCK = Number((await run('getconf', ['CLK_TCK'])).stdout.trim()) || 100;
const ksmdPid = readdirSync('/proc').find((p) => /^\d+$/.test(p) && (() => { try { return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'ksmd'; } catch { return false; } })());
/** ksmd's CPU time so far, seconds (utime + stime of the kernel thread). */
function ksmdCpuS(): number {
  if (!ksmdPid) return NaN;
  const f = readFileSync(`/proc/${ksmdPid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}
function procKsm(pid: number): { merging: number; profit: number } {
  try {
    const st = readFileSync(`/proc/${pid}/ksm_stat`, 'utf8');
    const n = (k: string) => Number(new RegExp(`^${k}\\s+(-?\\d+)`, 'm').exec(st)?.[1] ?? NaN);
    return { merging: (n('ksm_merging_pages') * 4096) / MiB, profit: n('ksm_process_profit') / MiB };
  } catch {
    return { merging: NaN, profit: NaN };
  }
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
  // The template boots while other workers load the machine: memory is measured here, not boot speed.
  FCM_BOOT_TIMEOUT_MS: '900000',
};

interface Figures { pss: number; beyond: number; vmm: number; perGib: number }

/**
 * The daemons measured one after the other in one run: the shipped
 * configuration and the baselines (`--paths`, default copy,prev,shipped).
 */
const VARIANTS: Record<string, { label: string; env: Record<string, string> }> = {
  copy: { label: 'copy, tb-size=64, THP', env: { FCM_TEMPLATE_RAM: 'copy', FCM_QEMU_TB_MIB: '64', FCM_QEMU_RESTORE_TB_MIB: '64', FCM_QEMU_THP: 'true' } },
  prev: { label: 'shared, tb-size=64, THP', env: { FCM_TEMPLATE_RAM: 'shared', FCM_QEMU_RESTORE_TB_MIB: '64', FCM_QEMU_THP: 'true' } },
  tb32: { label: 'shared, clones tb-size=32', env: { FCM_TEMPLATE_RAM: 'shared', FCM_QEMU_RESTORE_TB_MIB: '32' } },
  tb24: { label: 'shared, clones tb-size=24', env: { FCM_TEMPLATE_RAM: 'shared', FCM_QEMU_RESTORE_TB_MIB: '24' } },
  tb16: { label: 'shared, clones tb-size=16', env: { FCM_TEMPLATE_RAM: 'shared', FCM_QEMU_RESTORE_TB_MIB: '16' } },
  shipped: { label: 'shipped', env: {} },
  // KSM (FCM_KSM: ksmd on, every QEMU PR_SET_MEMORY_MERGE) and glibc's malloc arenas (FCM_QEMU_MALLOC_ARENA_MAX), alone and together.
  ksm: { label: 'KSM', env: { FCM_KSM: 'true' } },
  arena1: { label: 'MALLOC_ARENA_MAX=1', env: { FCM_QEMU_MALLOC_ARENA_MAX: '1' } },
  arena2: { label: 'MALLOC_ARENA_MAX=2', env: { FCM_QEMU_MALLOC_ARENA_MAX: '2' } },
  ksmArena1: { label: 'KSM + MALLOC_ARENA_MAX=1', env: { FCM_KSM: 'true', FCM_QEMU_MALLOC_ARENA_MAX: '1' } },
};
const pathsArg = process.argv.indexOf('--paths');
const PATHS = (pathsArg === -1 ? 'copy,prev,shipped' : process.argv[pathsArg + 1]!).split(',');
for (const p of PATHS) if (!VARIANTS[p]) throw new Error(`--paths: unknown ${p} (${Object.keys(VARIANTS).join(', ')})`);

const mib = (v: number[]) => `${median(v).toFixed(1)} MiB`;

/** One daemon: N restored VMs (and `cold` cold-booted ones), measured together. */
async function measure(variant: string, cold: number): Promise<Figures> {
  const { label, env } = VARIANTS[variant]!;
  const ksm = env.FCM_KSM === 'true';
  const cpu0 = ksmdCpuS();
  const wall0 = performance.now();
  const h = await startHostHarness({ env: { FCM_SNAPSHOTS: 'true', FCM_SNAPSHOT_POOL: '1', ...env, ...QUOTAS } });
  try {
    const deadline = Date.now() + 1_200_000;
    while (!readFileSync(h.logPath, 'utf8').includes('warm pool: machine ready')) {
      if (Date.now() > deadline) throw new Error('the warm pool never filled');
      await new Promise((r) => setTimeout(r, 200));
    }
    // The pooled machine, before any claim: what its restore and warm-up (the claim's code run once, then paused) wrote into its translation cache.
    const pooled = readdirSync(join(h.stateDir, 'run')).filter((d) => existsSync(join(h.stateDir, 'run', d, 'qemu.pid')));
    const pooledTcg = pooled.map((d) => breakdown(Number(readFileSync(join(h.stateDir, 'run', d, 'qemu.pid'), 'utf8')), 1024)).filter((b) => b.ramKind === 'template image, copy-on-write').map((b) => b.tcg);
    const availBefore = memAvailableMib();
    const kinds: [string, Record<string, unknown>, number][] = [[`restored (${label})`, {}, N], ...(cold ? [['cold-booted', { swapMib: 511 }, cold] as [string, Record<string, unknown>, number]] : [])];
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
    console.log(`  [${label}] ${vms.length} VMs created and running in ${fmtMs(performance.now() - t0)}; idle 15 s, then measured (load ${load()})`);
    await new Promise((r) => setTimeout(r, 15_000));
    if (ksm) {
      // Measured once ksmd has settled: three more full passes over every mergeable page, and the last one merged < 1% more.
      const t1 = performance.now();
      const scans0 = ksmRead('full_scans');
      let last = -1;
      for (let scans = scans0; ; ) {
        while (ksmRead('full_scans') === scans) {
          if (performance.now() - t1 > 900_000) throw new Error('ksmd did not finish a pass in 15 min');
          await new Promise((r) => setTimeout(r, 1000));
        }
        scans = ksmRead('full_scans');
        const sharing = ksmRead('pages_sharing');
        if (scans - scans0 >= 3 && Math.abs(sharing - last) <= sharing / 100) break;
        last = sharing;
      }
      const settled = performance.now();
      const c0 = ksmdCpuS();
      await new Promise((r) => setTimeout(r, 30_000));
      const idlePct = ((ksmdCpuS() - c0) / 30) * 100;
      row(`[${label}] ksmd settled after`, fmtMs(settled - t1), `${ksmRead('full_scans') - scans0} full passes; pages_to_scan ${ksmRead('pages_to_scan')}, sleep ${ksmRead('sleep_millisecs')} ms`);
      row(`[${label}] ksmd CPU, steady (30 s, all VMs idle)`, `${idlePct.toFixed(1)}% of a core`);
      row(`[${label}] ksmd CPU, daemon start → settled`, `${(ksmdCpuS() - cpu0).toFixed(1)} s`, `in ${fmtMs(performance.now() - wall0)} (${(((ksmdCpuS() - cpu0) / ((performance.now() - wall0) / 1000)) * 100).toFixed(1)}% of a core)`);
      row(`[${label}] host: pages_shared / pages_sharing`, `${((ksmRead('pages_shared') * 4096) / MiB).toFixed(0)} / ${((ksmRead('pages_sharing') * 4096) / MiB).toFixed(0)} MiB`, `(host-wide; unshared ${((ksmRead('pages_unshared') * 4096) / MiB).toFixed(0)} MiB)`);
    }
    const availAfter = memAvailableMib();
    let figures: Figures | null = null;
    for (const [kind, body] of kinds) {
      const mine = vms.filter((v) => v.kind === kind);
      const all: Breakdown[] = [];
      const merged: { merging: number; profit: number }[] = [];
      const used: number[] = [];
      const disk: number[] = [];
      for (const vm of mine) {
        const pid = Number(readFileSync(join(h.stateDir, 'run', vm.id, 'qemu.pid'), 'utf8'));
        all.push(breakdown(pid, 1024));
        merged.push(procKsm(pid));
        used.push(await guestUsedMib(h, vm.name));
        disk.push(vm.disk / MiB);
      }
      const col = (f: (b: Breakdown) => number) => all.map(f);
      const pss = col((b) => b.pss);
      const vmm = col((b) => b.pss - b.ramPss);
      const beyond = col((b) => b.pss - b.ramPrivate);
      row(`${kind}: guest RAM mapping`, [...new Set(all.map((b) => b.ramKind))].join(', '));
      row(`${kind}: QEMU RSS, median of ${all.length}`, mib(col((b) => b.rss)), range(col((b) => b.rss)));
      row(`${kind}: QEMU PSS (shared pages split), median`, mib(pss), range(pss));
      row(`${kind}: guest RAM only this VM holds (its writes)`, mib(col((b) => b.ramPrivate)), range(col((b) => b.ramPrivate)));
      row(`${kind}: guest RAM shared with other VMs (its PSS share)`, mib(col((b) => b.ramPss - b.ramPrivate)));
      row(`${kind}: VMM's own (PSS outside guest RAM), median`, mib(vmm), range(vmm));
      row(`${kind}:   TCG translation cache`, mib(col((b) => b.tcg)), `${range(col((b) => b.tcg))}; the pooled machine before its claim: ${pooledTcg.map((t) => `${t.toFixed(0)} MiB`).join(', ') || 'none seen'}`);
      row(`${kind}:   malloc (heap + thread arenas)`, mib(col((b) => b.malloc)));
      row(`${kind}:   other anonymous (devices, TLB, buffers)`, mib(col((b) => b.otherAnon)));
      row(`${kind}:   thread stacks`, mib(col((b) => b.stacks)));
      row(`${kind}:   QEMU binary + libraries (shared)`, mib(col((b) => b.files)));
      if (ksm) {
        row(`${kind}: KSM: this QEMU's pages merged, median`, mib(merged.map((m) => m.merging)), `(ksm_stat ksm_merging_pages; its profit: ${median(merged.map((m) => m.profit)).toFixed(1)} MiB)`);
        row(`${kind}:   of which in guest RAM / TCG cache / other`, `${mib(col((b) => b.ksmRam))} / ${mib(col((b) => b.ksmTcg))} / ${mib(col((b) => b.ksmOther))}`);
      }
      row(`${kind}: HOST MEMORY BEYOND WHAT THE GUEST TOUCHED`, mib(beyond), `${range(beyond)}  (PSS − guest RAM only this VM holds; goal ≤ 40 MiB)`);
      row(`${kind}: guest used (total − available), median`, mib(used), range(used));
      row(`${kind}: PSS − guest used`, mib(pss.map((p, i) => p - used[i]!)));
      row(`${kind}: idle VMs per GiB of host RAM (1024 / PSS)`, (1024 / median(pss)).toFixed(1));
      row(`${kind}: disk allocated for a new VM, median`, `${median(disk).toFixed(1)} MiB`, `(of ${(body.swapMib as number | undefined) ?? 512} MiB swap + 2048 MiB root, sparse)`);
      if (kind.startsWith('restored')) figures = { pss: median(pss), beyond: median(beyond), vmm: median(vmm), perGib: 1024 / median(pss) };
    }
    row(`[${label}] host MemAvailable drop per VM (all ${vms.length}; noisy)`, `${((availBefore - availAfter) / vms.length).toFixed(0)} MiB`, `${availBefore.toFixed(0)} → ${availAfter.toFixed(0)} MiB`);
    for (const vm of vms) await h.api('DELETE', `/v1/vms/${vm.name}`);
    return figures!;
  } finally {
    await h.close();
    restoreKsm();
  }
}

console.log(`Idle VMs, 1 vCPU / 1024 MiB, QEMU TCG; ${N} restored VMs per daemon (${PATHS.map((p) => VARIANTS[p]!.label).join(' | ')}) idle together, measured 15 s after the last was ready; medians. ${'' + (await run('nproc', [])).stdout.trim()} cores shared with other workers; load ${load()} at the start`);
const results: Record<string, Figures> = {};
for (const p of PATHS) results[p] = await measure(p, p === PATHS[0] ? COLD : 0);
const shipped = results.shipped;
if (shipped) {
  for (const base of PATHS.filter((p) => p !== 'shipped')) {
    const b = results[base]!;
    const vs = `shipped vs ${VARIANTS[base]!.label}`;
    row(`${vs}: beyond what the guest touched`, ratio(shipped.beyond, b.beyond), `${shipped.beyond.toFixed(0)} vs ${b.beyond.toFixed(0)} MiB`);
    row(`${vs}: VMM's own`, ratio(shipped.vmm, b.vmm), `${shipped.vmm.toFixed(0)} vs ${b.vmm.toFixed(0)} MiB`);
    row(`${vs}: PSS per idle VM`, ratio(shipped.pss, b.pss), `${shipped.pss.toFixed(0)} vs ${b.pss.toFixed(0)} MiB`);
    row(`${vs}: idle VMs per GiB`, ratio(shipped.perGib, b.perGib), `${shipped.perGib.toFixed(1)} vs ${b.perGib.toFixed(1)}`);
  }
}
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
