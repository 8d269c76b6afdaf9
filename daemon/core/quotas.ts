/**
 * Per-user quotas: how much of the shared server one user may hold, so that
 * one tenant cannot starve the others (VMs, their size, config vars,
 * repository bytes, unverified custom domains). Admins are unlimited.
 *
 * Limits are the daemon's defaults (FCM_QUOTA_*) with per-user overrides an
 * admin sets through the API (QuotaStore). Every check that guards a write
 * runs where the write cannot race it: VM checks inside the store's insert
 * or update transaction (VmStore `admit`), so two concurrent creates by one
 * user can never both pass on the same headroom.
 *
 * Refusals are `quota_exceeded` with a `limit` member (which limit, its
 * value, what is in use, what was asked for).
 */
import { FcmError, type LimitInfo } from './errors.js';
import type { Principal, VmRecord, VmSize } from './model.js';
import { QUOTA_LIMITS, type QuotaName, type QuotaOverrides, type QuotaStore } from './ports/quota-store.js';

export const QUOTA_NAMES = Object.keys(QUOTA_LIMITS) as QuotaName[];
export type QuotaLimits = Record<QuotaName, number>;
export type QuotaUsage = Record<QuotaName, number>;

/** What the API shows (openapi.yaml `Quota`): null limits = unlimited. */
export interface QuotaReport {
  user: string;
  unlimited: boolean;
  limits: Record<QuotaName, number | null>;
  usage: QuotaUsage;
  overrides: QuotaOverrides;
}

export interface QuotaDeps {
  defaults: QuotaLimits;
  overrides: QuotaStore;
  /** All VMs (for usage outside a transaction: reports, config and repo checks). */
  vms: () => VmRecord[];
  /** Admins (and the admin token's owner, `admin`) are unlimited. */
  isAdmin: (userId: string) => boolean;
  /** Config vars of a VM's app. */
  env?: (vmId: string) => Record<string, string>;
  /** Bytes a VM's git repository takes on disk (including a push still in quarantine). */
  repoBytes?: (vmId: string) => Promise<number>;
  /** To name users by id or email in the API. */
  users?: { get(id: string): { id: string } | undefined; byEmail(email: string): { id: string }[] };
}

const MiB = 1024 * 1024;

/** The resources a set of VMs holds, as quotas count them (every VM, whatever its state). */
export function vmUsage(vms: readonly Pick<VmRecord, keyof VmSize>[]): Pick<QuotaUsage, 'vms' | 'vcpus' | 'memoryMib' | 'diskMib'> {
  let vcpus = 0;
  let memoryMib = 0;
  let diskMib = 0;
  for (const v of vms) {
    vcpus += v.vcpus;
    memoryMib += v.memoryMib;
    diskMib += v.diskMib + v.swapMib;
  }
  return { vms: vms.length, vcpus, memoryMib, diskMib };
}

/** Bytes a set of config vars counts for (UTF-8 keys and values). */
/** Claimed, unverified custom domains of `owner`. */
export function pendingOf(rows: readonly VmRecord[], owner: string): number {
  let n = 0;
  for (const r of rows) if (r.owner === owner) n += r.domains.filter((d) => !r.verifiedDomains.includes(d)).length;
  return n;
}

export function configBytes(vars: Record<string, string>): number {
  let n = 0;
  for (const [k, v] of Object.entries(vars)) n += Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}

export function quotaError(name: QuotaName, value: number, usage: number, requested: number, detail?: string): FcmError {
  const { unit, what } = QUOTA_LIMITS[name];
  const limit: LimitInfo = { name, value, usage, requested, unit };
  return new FcmError(
    'quota_exceeded',
    detail ??
      `Quota ${name} (${what}): ${usage} ${unit} in use + ${requested} requested would exceed your limit of ${value} ${unit}.`,
    { limit },
  );
}

export class QuotaService {
  constructor(private readonly d: QuotaDeps) {}

  /** The user's limits, or null when unlimited (admins). */
  limitsFor(userId: string): QuotaLimits | null {
    if (this.d.isAdmin(userId)) return null;
    return { ...this.d.defaults, ...this.d.overrides.get(userId) };
  }

  /**
   * VM create (current undefined) or resize (current = the VM as stored):
   * the owner's VMs with `next` in place of `current` must fit every VM limit.
   * Pure over `rows`, so the store can run it inside its write transaction.
   */
  checkVm(owner: string, rows: readonly VmRecord[], next: VmSize, current?: VmRecord): void {
    const limits = this.limitsFor(owner);
    if (!limits) return;
    const others = rows.filter((v) => v.owner === owner && v.id !== current?.id);
    const used = vmUsage(others);
    const want = vmUsage([next]);
    const was = current ? vmUsage([current]) : { vms: 0, vcpus: 0, memoryMib: 0, diskMib: 0 };
    for (const name of ['vms', 'vcpus', 'memoryMib', 'diskMib'] as const) {
      // A resize that does not grow a resource is always allowed (even over a lowered limit).
      if (want[name] <= was[name]) continue;
      if (used[name] + want[name] > limits[name]) throw quotaError(name, limits[name], used[name] + was[name], want[name] - was[name]);
    }
  }

  /** Config vars of one app after a change (count and bytes). Growing past a limit is refused; shrinking never is. */
  checkConfig(owner: string, before: Record<string, string>, after: Record<string, string>): void {
    const limits = this.limitsFor(owner);
    if (!limits) return;
    const n0 = Object.keys(before).length;
    const n1 = Object.keys(after).length;
    if (n1 > n0 && n1 > limits.configVarsPerApp) throw quotaError('configVarsPerApp', limits.configVarsPerApp, n0, n1 - n0);
    const b0 = configBytes(before);
    const b1 = configBytes(after);
    if (b1 > b0 && b1 > limits.configBytesPerApp) throw quotaError('configBytesPerApp', limits.configBytesPerApp, b0, b1 - b0);
  }

  /**
   * A push into `vmId`'s repository, its objects received but not yet
   * accepted: the repository and the owner's total must stay within limits.
   * `incomingBytes` is what the push added (its quarantine), to report it.
   */
  async checkRepo(vm: Pick<VmRecord, 'id' | 'owner' | 'name'>, incomingBytes = 0): Promise<void> {
    const limits = this.limitsFor(vm.owner);
    if (!limits || !this.d.repoBytes) return;
    const size = await this.d.repoBytes(vm.id);
    const mib = (b: number) => Math.ceil(b / MiB);
    const refuse = (name: 'repoMibPerApp' | 'repoMibTotal', total: number) =>
      quotaError(
        name,
        limits[name],
        mib(Math.max(0, total - incomingBytes)),
        mib(incomingBytes),
        `Push refused: ${name === 'repoMibPerApp' ? `the repository of ${vm.name}` : 'your repositories'} would take ${mib(total)} MiB, over your limit of ${limits[name]} MiB (quota ${name}). Nothing was deployed.`,
      );
    if (size > limits.repoMibPerApp * MiB) throw refuse('repoMibPerApp', size);
    let total = 0;
    for (const v of this.d.vms().filter((x) => x.owner === vm.owner)) total += v.id === vm.id ? size : await this.d.repoBytes(v.id);
    if (total > limits.repoMibTotal * MiB) throw refuse('repoMibTotal', total);
  }

  /**
   * A claim change leaving the owner with `after` pending domains (core/domains.ts pendingAfter),
   * run inside the store write. Only growth is refused.
   */
  checkPendingDomains(owner: string, rows: readonly VmRecord[], after: number): void {
    const limits = this.limitsFor(owner);
    if (!limits) return;
    const now = pendingOf(rows, owner);
    if (after > now && after > limits.pendingDomains) throw quotaError('pendingDomains', limits.pendingDomains, now, after - now);
  }

  /**
   * The user a request names (`me`, `admin`, `usr_…` or an email). Users may
   * only name themselves: anyone else does not exist for them (not_found).
   */
  resolveUser(p: Principal, ref: string): string {
    const notFound = () => new FcmError('not_found', `No user ${ref}.`);
    let id: string;
    if (ref === 'me') id = p.userId;
    else if (ref === 'admin') id = 'admin';
    else if (ref.includes('@')) {
      const found = this.d.users?.byEmail(ref) ?? [];
      if (found.length > 1) {
        throw new FcmError('validation_failed', `${ref} belongs to ${found.length} accounts: name one by its id (${found.map((u) => u.id).join(', ')}).`, {
          errors: [{ path: '/params/user', message: 'is ambiguous; use the user id' }],
        });
      }
      if (!found[0]) throw notFound();
      id = found[0].id;
    } else {
      if (!this.d.users?.get(ref) && ref !== p.userId) throw notFound();
      id = ref;
    }
    if (!p.admin && id !== p.userId) throw notFound();
    return id;
  }

  async report(userId: string): Promise<QuotaReport> {
    const limits = this.limitsFor(userId);
    const mine = this.d.vms().filter((v) => v.owner === userId);
    const largest = async (f: (v: VmRecord) => number | Promise<number>) => {
      let m = 0;
      for (const v of mine) m = Math.max(m, await f(v));
      return m;
    };
    let repoTotal = 0;
    for (const v of mine) repoTotal += (await this.d.repoBytes?.(v.id)) ?? 0;
    const usage: QuotaUsage = {
      ...vmUsage(mine),
      configVarsPerApp: await largest((v) => Object.keys(this.d.env?.(v.id) ?? {}).length),
      configBytesPerApp: await largest((v) => configBytes(this.d.env?.(v.id) ?? {})),
      repoMibPerApp: Math.ceil((await largest(async (v) => (await this.d.repoBytes?.(v.id)) ?? 0)) / MiB),
      repoMibTotal: Math.ceil(repoTotal / MiB),
      pendingDomains: pendingOf(mine, userId),
    };
    const nulls = Object.fromEntries(QUOTA_NAMES.map((n) => [n, null])) as Record<QuotaName, null>;
    return { user: userId, unlimited: limits === null, limits: limits ?? nulls, usage, overrides: this.d.overrides.get(userId) };
  }

  /**
   * An admin changes a user's overrides: a number sets one, null removes it
   * (back to the default). Lowering a limit below what is in use is allowed:
   * nothing is taken away, but nothing more can be added.
   */
  setOverrides(p: Principal, userId: string, update: QuotaOverrides & { reset?: QuotaName[] }): void {
    if (!p.admin) throw new FcmError('forbidden', 'Only an admin can change quotas.');
    if (this.d.isAdmin(userId)) throw new FcmError('validation_failed', `${userId} is an admin: admins have no limits.`, { errors: [{ path: '/params/user', message: 'is an admin' }] });
    const next: QuotaOverrides = { ...this.d.overrides.get(userId) };
    for (const k of update.reset ?? []) delete next[k];
    for (const k of QUOTA_NAMES) {
      const v = update[k];
      if (v !== undefined) next[k] = v;
    }
    this.d.overrides.set(userId, next);
  }
}
