import { readFileSync } from 'node:fs';
import { access, mkdir, readFile, readdir, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sleep } from './proc.js';
import { parentCpuWeight, type CgroupController, type CgroupLimit, type CgroupVersion } from '../core/planners/vmm-limits.js';

const WANTED: CgroupController[] = ['cpu', 'memory', 'pids'];

export type CgroupMode = 'auto' | 'v1' | 'v2' | 'off';

export interface CgroupStatus {
  version: CgroupVersion | null;
  /** Controllers whose limits are applied to every VM. */
  controllers: CgroupController[];
  /** Why a controller (or cgroups at all) is not used. */
  detail: string | null;
}

/**
 * One cgroup per VM and controller, under a parent the daemon owns.
 * - v2 (production Debian 12): `<cgroup2 mount>/<parent>/<vm id>`, a
 *   top-level parent outside fcm.service's own cgroup — VMs outlive the
 *   daemon, and a service cgroup that holds processes cannot hand
 *   controllers to children (no-internal-processes rule). The controllers
 *   must be enabled in the root's and the parent's cgroup.subtree_control.
 * - v1 (hybrid hosts, this development machine): per controller
 *   `<mount>/<the daemon's own cgroup>/<parent>/<vm id>`, nested where the
 *   daemon runs, so whatever limits the daemon's cgroup (a container) still
 *   bounds its VMs.
 * What the host does not offer is left out and reported (status()).
 */
export class VmCgroups {
  private constructor(
    private readonly version: CgroupVersion | null,
    /** controller → parent directory. */
    private readonly parents: Map<CgroupController, string>,
    private readonly detail: string | null,
  ) {}

  static async open(mode: CgroupMode, parentName: string): Promise<VmCgroups> {
    if (!/^[A-Za-z0-9_.-]+$/.test(parentName) || parentName.startsWith('.')) throw new Error(`bad cgroup parent name ${parentName}`);
    if (mode === 'off') return new VmCgroups(null, new Map(), 'off (FCM_VMM_CGROUPS=off)');
    const mounts = cgroupMounts();
    const v2 = mounts.find((m) => m.v2);
    const v2Controllers = v2 ? readList(join(v2.dir, 'cgroup.controllers')).filter((c): c is CgroupController => (WANTED as string[]).includes(c)) : [];
    if ((mode === 'v2' || (mode === 'auto' && v2Controllers.length > 0)) && v2) {
      const parent = join(v2.dir, parentName);
      await mkdir(parent, { recursive: true });
      const enabled: CgroupController[] = [];
      for (const c of v2Controllers) {
        // The root usually has them on already (systemd); enabling twice is harmless.
        await writeFile(join(v2.dir, 'cgroup.subtree_control'), `+${c}`).catch(() => {});
        const ok = await writeFile(join(parent, 'cgroup.subtree_control'), `+${c}`).then(() => true, () => false);
        if (ok) enabled.push(c);
      }
      const missing = WANTED.filter((c) => !enabled.includes(c));
      return new VmCgroups(2, new Map(enabled.map((c) => [c, parent])), missing.length ? `cgroup v2 without ${missing.join(', ')}` : null);
    }
    if (mode === 'v2') return new VmCgroups(null, new Map(), 'FCM_VMM_CGROUPS=v2 but no cgroup2 controllers are available');
    const own = ownCgroups();
    const parents = new Map<CgroupController, string>();
    for (const c of WANTED) {
      const m = mounts.find((x) => !x.v2 && x.controllers.includes(c));
      const path = own.get(c);
      if (!m || path === undefined) continue;
      const parent = join(m.dir, path, parentName);
      if (await mkdir(parent, { recursive: true }).then(() => true, () => false)) parents.set(c, parent);
    }
    if (parents.size === 0) return new VmCgroups(null, new Map(), 'no cgroup controllers available');
    const missing = WANTED.filter((c) => !parents.has(c));
    return new VmCgroups(1, parents, missing.length ? `cgroup v1 without ${missing.join(', ')}` : null);
  }

  status(): CgroupStatus {
    return { version: this.version, controllers: WANTED.filter((c) => this.parents.has(c)), detail: this.detail };
  }

  /** The VM's cgroup directories (they may not exist). */
  dirs(vmId: string): { controller: CgroupController; dir: string }[] {
    checkVmId(vmId);
    return [...this.parents].map(([controller, parent]) => ({ controller, dir: join(parent, vmId) }));
  }

  /**
   * Makes the VM's cgroups with `limits` (those of available controllers)
   * and returns the cgroup.procs files the launcher joins. v1 and v2 both:
   * one file per distinct directory.
   */
  async create(vmId: string, limits: CgroupLimit[]): Promise<string[]> {
    const procs = new Set<string>();
    for (const { controller, dir } of this.dirs(vmId)) {
      await mkdir(dir, { recursive: true });
      for (const l of limits.filter((x) => x.controller === controller)) {
        const file = join(dir, l.file);
        if (l.optional && !(await access(file).then(() => true, () => false))) continue;
        await writeFile(file, l.value);
      }
      procs.add(join(dir, 'cgroup.procs'));
    }
    await this.reweigh();
    return [...procs];
  }

  private weighing: Promise<void> = Promise.resolve();

  /**
   * The parent of the VM cgroups competes with the host's other tasks and
   * cgroups as one entity: give it the sum of its VMs' CPU weights, or all
   * VMs together would weigh as much as one plain task (serialized; best
   * effort — the limits stand regardless).
   */
  private reweigh(): Promise<void> {
    const cpuParent = this.parents.get('cpu');
    const version = this.version;
    if (!cpuParent || !version) return Promise.resolve();
    const file = version === 2 ? 'cpu.weight' : 'cpu.shares';
    const next = this.weighing.then(async () => {
      const weights: number[] = [];
      for (const e of await readdir(cpuParent, { withFileTypes: true })) {
        if (!e.isDirectory() || !/^vm_[0-9a-f]+$/.test(e.name)) continue;
        const w = Number((await readFile(join(cpuParent, e.name, file), 'utf8').catch(() => '')).trim());
        if (Number.isInteger(w) && w > 0) weights.push(w);
      }
      await writeFile(join(cpuParent, file), String(parentCpuWeight(version, weights)));
    });
    this.weighing = next.catch(() => {});
    return this.weighing;
  }

  /** Removes the VM's cgroups once their processes are gone (a moment after they exit). Idempotent. */
  async remove(vmId: string): Promise<void> {
    for (const { dir } of this.dirs(vmId)) {
      for (let i = 0; ; i++) {
        try {
          await rmdir(dir);
          break;
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') break;
          if (code !== 'EBUSY' || i >= 40) throw e;
          await sleep(50);
        }
      }
    }
    await this.reweigh();
  }
}

function checkVmId(vmId: string): void {
  if (!/^vm_[0-9a-f]+$/.test(vmId)) throw new Error(`bad vm id ${vmId}`);
}

interface CgroupMount {
  dir: string;
  v2: boolean;
  controllers: string[];
}

function cgroupMounts(): CgroupMount[] {
  let text = '';
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const out: CgroupMount[] = [];
  for (const line of text.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const [fstype, , superOpts] = post.split(' ');
    const dir = pre.split(' ')[4];
    if (!dir) continue;
    if (fstype === 'cgroup2') out.push({ dir: unescape(dir), v2: true, controllers: [] });
    else if (fstype === 'cgroup') out.push({ dir: unescape(dir), v2: false, controllers: (superOpts ?? '').split(',') });
  }
  return out;
}

/** controller → the daemon's own cgroup path in that v1 hierarchy. */
function ownCgroups(): Map<string, string> {
  const out = new Map<string, string>();
  let text = '';
  try {
    text = readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m || !m[1]) continue;
    for (const c of m[1].split(',')) out.set(c, m[2]!);
  }
  return out;
}

function readList(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

/** mountinfo escapes spaces etc. as \040. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}
