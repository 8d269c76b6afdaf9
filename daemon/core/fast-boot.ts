import { createHash, randomBytes } from 'node:crypto';
import type { Logger } from '../log.js';
import type { AgentKeys } from './agent-keys.js';
import type { Accel } from './model.js';
import { newVmId } from './names.js';
import { planTemplateCmdline } from './planners/kernel-cmdline.js';
import { planMachine } from './planners/machine-spec.js';
import { macForVm, tapForVm } from './planners/network-plan.js';
import { planSeed } from './planners/seed.js';
import type { Disks, VmDisks } from './ports/disks.js';
import type { Hypervisor, MachineSpec, Snapshotter } from './ports/hypervisor.js';
import type { ImageInfo } from './ports/images.js';
import type { Network } from './ports/network.js';
import type { TemplateFiles, TemplateStore } from './ports/templates.js';

/** What a template is built for; only VMs of exactly this shape can be restored from it. */
export interface Shape {
  vcpus: number;
  memoryMib: number;
  diskMib: number;
  swapMib: number;
  port: number;
}

export interface FastBootConfig {
  /** Shapes to keep templates (and a warm pool) for. */
  shapes: Shape[];
  /** Restored, paused machines kept ready per shape (0: restore on demand only). */
  poolSize: number;
  accel: Accel;
  tscKhz: number | null;
  agentPort: number;
  /** How long a template may take to boot and announce itself. */
  buildTimeoutMs: number;
  /**
   * Quiet time after the last claim before the next replacement is restored: restoring and
   * warming a machine takes CPU from the ones just claimed (while they take their identity),
   * so a burst of creates is served from the pool and refilled after it.
   */
  refillDelayMs: number;
  /**
   * `shared` (default): the template's RAM is an image every clone maps copy-on-write — clones share
   * the pages they only read, and a restore loads device state only. `copy`: the saved state carries
   * RAM and each clone gets its own copy (the path before sharing; kept for comparison and fallback).
   */
  ram?: 'shared' | 'copy';
}

export interface FastBootDeps {
  hypervisor: Hypervisor;
  snapshotter: Snapshotter;
  disks: Disks;
  network: Network;
  templates: TemplateStore;
  agentKeys: AgentKeys;
  log: Logger;
  config: FastBootConfig;
  /** Whether the host has room for one more pooled machine (host admission); absent: always. */
  room?: () => boolean;
  /** The clock (for timings) and the machine id source (pooled machines' ids become VM ids); tests inject their own. */
  now?: () => number;
  newId?: () => string;
}

/** Bumped whenever the template recipe changes in a way that makes old states unusable. */
const TEMPLATE_FORMAT = 1;

/** Template identity: everything the saved state depends on (pure; tested). */
export function templateKey(image: Pick<ImageInfo, 'dir' | 'kernelPath' | 'initrdPath'>, shape: Shape, c: Pick<FastBootConfig, 'accel' | 'tscKhz' | 'agentPort' | 'ram'>): string {
  const basis = [TEMPLATE_FORMAT, image.dir, image.kernelPath, image.initrdPath, shape.vcpus, shape.memoryMib, shape.diskMib, shape.swapMib, shape.port, c.accel, c.tscKhz, c.agentPort];
  // Templates with a RAM image are another recipe (the key of copy templates stays what it was).
  if ((c.ram ?? 'shared') === 'shared') basis.push('ram-image');
  return createHash('sha256').update(JSON.stringify(basis)).digest('hex').slice(0, 24);
}

const sameShape = (a: Shape, b: Shape) =>
  a.vcpus === b.vcpus && a.memoryMib === b.memoryMib && a.diskMib === b.diskMib && a.swapMib === b.swapMib && a.port === b.port;

interface Template {
  key: string;
  shape: Shape;
  image: ImageInfo;
  files: TemplateFiles;
  /** Its guest did not warm a pooled machine (an image from before pool seeds): pool them cold. */
  cold?: boolean;
}

/** A failed template build is tried again after this, doubling up to the max. */
const BUILD_RETRY_MIN_MS = 60_000;
const BUILD_RETRY_MAX_MS = 30 * 60_000;

/** How soon a pool with no room on the host looks again. */
const ROOM_RETRY_MS = 30_000;

/** How long a pooled machine may take to take the machine half of its identity and warm up. */
const WARM_TIMEOUT_MS = 120_000;

/**
 * Create in well under a second: VMs are restored from a snapshot of a
 * pre-booted template guest instead of booting. A warm pool keeps restored,
 * paused machines (disks, isolated tap, QEMU) ready. Entering the pool, a
 * machine runs once with a pool seed (its id, MAC, agent token, entropy —
 * nothing of a user; its tap stays isolated and it has no address): the
 * guest takes that half of its identity and runs through what a claim runs
 * (rootfs/guest/identity.py), so QEMU's translation cache holds that code,
 * then it is paused. Claiming one writes its full seed, opens its tap and
 * resumes it; the guest then only takes its name and address. Without a
 * pooled machine the template is restored on demand; without a template,
 * VMs cold-boot.
 * Pool machines are not VMs: they have no row, so after a daemon restart
 * reconcile removes them as orphans and the pool is refilled.
 */
export class FastBootService {
  private readonly templates = new Map<string, Template>();
  private readonly pools = new Map<string, string[]>();
  private readonly building = new Map<string, Promise<Template | null>>();
  private filling: Promise<void> | null = null;
  private closed = false;
  private lastClaim = -Infinity;
  private buildRetryMs = BUILD_RETRY_MIN_MS;
  private refillTimer: NodeJS.Timeout | null = null;

  private readonly now: () => number;
  private readonly newId: () => string;

  constructor(private readonly d: FastBootDeps) {
    this.now = d.now ?? Date.now;
    this.newId = d.newId ?? newVmId;
  }

  /** Builds missing templates and fills the pool in the background. */
  start(image: () => ImageInfo | null): void {
    this.image = image;
    void this.refill();
  }

  private image: () => ImageInfo | null = () => null;

  /** A pooled machine for this shape and image, taken out of the pool; null when none is ready. */
  claim(shape: Shape, image: ImageInfo): string | null {
    const t = this.templateFor(shape, image);
    const pool = t ? this.pools.get(t.key) : undefined;
    const id = pool?.shift() ?? null;
    if (id) {
      this.lastClaim = this.now();
      this.scheduleRefill(this.d.config.refillDelayMs);
    }
    return id;
  }

  /**
   * Restores a new machine for `vmId` from the template now (disks, tap, paused QEMU).
   * Returns the disks, or null when there is no template for this shape (cold boot instead).
   */
  async restoreNow(vmId: string, shape: Shape, image: ImageInfo, seed: Buffer): Promise<VmDisks | null> {
    const t = this.templateFor(shape, image);
    if (!t) return null;
    return this.restoreInto(t, vmId, seed);
  }

  async resume(vmId: string): Promise<void> {
    await this.d.snapshotter.resume(vmId);
  }

  /** Throws a claimed or half-restored machine away. */
  async discard(vmId: string, tap = tapForVm(vmId)): Promise<void> {
    await this.d.hypervisor.destroy(vmId);
    await this.d.network.removeTap(tap);
    await this.d.disks.remove(vmId);
  }

  /** Machines currently waiting in pools (for diagnostics and tests). */
  pooled(): string[] {
    return [...this.pools.values()].flat();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.refillTimer) clearTimeout(this.refillTimer);
    await this.filling?.catch(() => {});
    for (const id of this.pooled()) await this.discard(id).catch(() => {});
    this.pools.clear();
  }

  // ---- internals ------------------------------------------------------

  private templateFor(shape: Shape, image: ImageInfo): Template | null {
    const key = templateKey(image, shape, this.d.config);
    const cached = this.templates.get(key);
    if (cached) return cached;
    const files = this.d.templates.get(key);
    if (!files) return null;
    const t: Template = { key, shape, image, files };
    this.templates.set(key, t);
    return t;
  }

  private async restoreInto(t: Template, vmId: string, seed: Buffer): Promise<VmDisks> {
    const disks = await this.d.disks.createFromTemplate(vmId, t.files.disks, t.shape, seed);
    const tap = tapForVm(vmId);
    try {
      await this.d.network.addIsolatedTap(tap);
      await this.d.snapshotter.restore(this.machineSpec(t, vmId, disks, tap), t.files.statePath);
      return disks;
    } catch (err) {
      await this.discard(vmId, tap).catch(() => {});
      // A state QEMU cannot load (e.g. after a QEMU upgrade) is useless: drop it and rebuild.
      this.d.log.warn({ err: (err as Error).message, key: t.key }, 'restore from template failed; discarding the template');
      this.templates.delete(t.key);
      this.pools.delete(t.key);
      await this.d.templates.discard(t.key).catch(() => {});
      void this.refill();
      throw err;
    }
  }

  private machineSpec(t: Template, vmId: string, disks: VmDisks, tap: string | null): MachineSpec {
    return planMachine({
      vmId,
      vcpus: t.shape.vcpus,
      memoryMib: t.shape.memoryMib,
      image: t.image,
      // The command line of a restored machine is the template's (the kernel already ran); keep it identical.
      cmdline: planTemplateCmdline({ vmId: t.files.templateVmId, agentPort: this.d.config.agentPort, accel: this.d.config.accel, tscKhz: this.d.config.tscKhz }),
      disks,
      net: { tap, mac: macForVm(vmId) },
      // Copy-on-write over the template's RAM image: pages the clone only reads stay shared with its siblings.
      ...(t.files.ramPath ? { memory: { kind: 'template' as const, path: t.files.ramPath } } : {}),
    });
  }

  private scheduleRefill(ms: number): void {
    if (this.refillTimer) clearTimeout(this.refillTimer);
    this.refillTimer = setTimeout(() => {
      this.refillTimer = null;
      void this.refill();
    }, ms);
    this.refillTimer.unref();
  }

  /** Time to wait before restoring the next machine: refills wait for a quiet moment after the last claim. */
  private refillWait(): number {
    return Math.max(0, this.lastClaim + this.d.config.refillDelayMs - this.now());
  }

  private refill(): Promise<void> {
    if (this.filling || this.closed) return this.filling ?? Promise.resolve();
    // Cleared once the run settles, in a callback, i.e. after this assignment: a run that ends without
    // awaiting anything (a claim came in meanwhile, no room, no image yet) finishes inside the call, and
    // a `finally` of its own would clear the field before it was set — leaving it set for good, and the
    // pool never refilled again (seen: creates back to back, then no pool until a restart).
    const filling: Promise<void> = this.fill().finally(() => {
      if (this.filling === filling) this.filling = null;
    });
    this.filling = filling;
    return filling;
  }

  private async fill(): Promise<void> {
    try {
      const image = this.image();
      if (!image) return;
      for (const shape of this.d.config.shapes) {
        const t = this.templateFor(shape, image) ?? (await this.build(shape, image));
        if (!t) {
          // A build that failed (e.g. a guest too slow to boot on a loaded host) is tried again, less and less often.
          this.scheduleRefill(this.buildRetryMs);
          this.buildRetryMs = Math.min(this.buildRetryMs * 2, BUILD_RETRY_MAX_MS);
          continue;
        }
        this.buildRetryMs = BUILD_RETRY_MIN_MS;
        const pool = this.pools.get(t.key) ?? [];
        this.pools.set(t.key, pool);
        while (!this.closed && pool.length < this.d.config.poolSize) {
          // A claim came in meanwhile: let the claimed machines have the CPU, and come back.
          const wait = this.refillWait();
          if (wait > 0) {
            this.scheduleRefill(wait);
            return;
          }
          if (this.d.room && !this.d.room()) {
            this.d.log.info({ key: t.key, pooled: pool.length }, 'warm pool: no room on this host for another machine; retrying later');
            this.scheduleRefill(ROOM_RETRY_MS);
            return;
          }
          const id = this.newId();
          const started = this.now();
          const warm = await this.prepare(t, id);
          if (this.closed) {
            await this.discard(id);
            return;
          }
          pool.push(id);
          this.d.log.info({ vmId: id, key: t.key, ms: this.now() - started, warm }, 'warm pool: machine ready');
        }
      }
    } catch (err) {
      this.d.log.warn({ err: (err as Error).message }, 'fast boot: could not prepare templates/pool; creates cold-boot meanwhile');
    }
  }

  /**
   * Restores machine `id` for the pool and warms it: resumed with a pool seed, it takes the half of
   * its identity that names nobody and runs the claim's code once, says so, and is paused. A guest
   * that never says so (an image from before pool seeds) is thrown away and the template's machines
   * are pooled cold from then on (paused as restored, the template's identity). Returns whether it is warm.
   */
  private async prepare(t: Template, id: string): Promise<boolean> {
    if (t.cold) {
      await this.restoreInto(t, id, this.coldPoolSeed(t, id));
      return false;
    }
    await this.restoreInto(t, id, this.poolSeed(t, id));
    try {
      await this.d.snapshotter.resume(id);
      await this.d.snapshotter.waitConsole(id, `fcm-identity: pooled as ${id}`, WARM_TIMEOUT_MS);
      await this.d.snapshotter.pause(id);
      return true;
    } catch (err) {
      await this.discard(id).catch(() => {});
      this.d.log.warn({ err: (err as Error).message, key: t.key }, 'warm pool: the guest did not warm up; pooling this template\'s machines cold');
      t.cold = true;
      await this.restoreInto(t, id, this.coldPoolSeed(t, id));
      return false;
    }
  }

  /**
   * Seed of a machine entering the pool: its own id, MAC, agent token and entropy, and still
   * the template's name — nothing of a user, no address (its tap stays isolated until a claim).
   */
  private poolSeed(t: Template, id: string): Buffer {
    return planSeed({
      vmId: id, hostname: 'template', agentToken: this.d.agentKeys.tokenFor(id), port: t.shape.port, pool: true,
      mac: macForVm(id), nowMs: this.now(), entropy: randomBytes(32).toString('base64'),
    });
  }

  /** Seed of a cold pooled machine until it is claimed: still the template's identity, so it does not wake up as anyone. */
  private coldPoolSeed(t: Template, id: string): Buffer {
    return planSeed({ vmId: t.files.templateVmId, hostname: 'template', agentToken: this.d.agentKeys.tokenFor(id), port: t.shape.port, template: true });
  }

  /** Boots a template guest, waits for it to announce itself, saves it. */
  private build(shape: Shape, image: ImageInfo): Promise<Template | null> {
    const key = templateKey(image, shape, this.d.config);
    const existing = this.building.get(key);
    if (existing) return existing;
    const p = (async () => {
      const id = this.newId();
      const started = this.now();
      this.d.log.info({ key, shape }, 'building snapshot template');
      const seed = planSeed({ vmId: id, hostname: 'template', agentToken: this.d.agentKeys.tokenFor(`template-${key}`), port: shape.port, template: true });
      try {
        const shared = (this.d.config.ram ?? 'shared') === 'shared';
        const files = await this.d.templates.begin(key, image, { ...shape, ...(shared ? { ramMib: shape.memoryMib } : {}) }, seed);
        const cmdline = planTemplateCmdline({ vmId: id, agentPort: this.d.config.agentPort, accel: this.d.config.accel, tscKhz: this.d.config.tscKhz });
        await this.d.hypervisor.destroy(id);
        await this.d.hypervisor.start(
          planMachine({
            vmId: id, vcpus: shape.vcpus, memoryMib: shape.memoryMib, image, cmdline, disks: files.disks, net: { tap: null, mac: macForVm(id) },
            // Its RAM in the template's image file: the save then holds device state only.
            ...(files.ramPath ? { memory: { kind: 'file' as const, path: files.ramPath } } : {}),
          }),
        );
        await this.d.snapshotter.waitConsole(id, 'fcm-identity: template-ready', this.d.config.buildTimeoutMs);
        await this.d.snapshotter.saveState(id, files.statePath);
        await this.d.hypervisor.destroy(id);
        const published = await this.d.templates.commit(key);
        const t: Template = { key, shape, image, files: published };
        this.templates.set(key, t);
        this.d.log.info({ key, ms: this.now() - started }, 'snapshot template ready');
        return t;
      } catch (err) {
        this.d.log.warn({ err: (err as Error).message, key }, 'building the snapshot template failed; VMs will cold-boot');
        await this.d.hypervisor.destroy(id).catch(() => {});
        await this.d.templates.discard(key).catch(() => {});
        return null;
      } finally {
        this.building.delete(key);
      }
    })();
    this.building.set(key, p);
    return p;
  }

  /** True if VMs of this shape can use the fast path (asked by VmLifecycle.create). */
  serves(shape: Shape): boolean {
    return this.d.config.shapes.some((s) => sameShape(s, shape));
  }
}
