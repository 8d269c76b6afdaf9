/**
 * Releases of a VM's app: deploys (from git push), rollbacks, config var
 * changes, and the app's logs. The guest does the building and the
 * zero-downtime switch (AppRuntime = the guest agent); this service keeps
 * the record, enforces ownership and ordering, and tells the pusher what
 * happened.
 *
 * Rules:
 * - One release at a time per VM (a per-VM lock; a second push waits).
 * - The VM must be running: a push to a stopped VM fails and says how to start it.
 * - A failed release changes nothing that serves: the guest keeps the previous
 *   build running, the push is rejected (the git ref is not updated), and the
 *   record says why. Env changes whose restart fails are reverted.
 * - Config var values are secrets: never logged, never in descriptions or build logs.
 */
import { PassThrough, type Readable } from 'node:stream';
import type { Logger } from '../log.js';
import { FcmError, isFcmError } from './errors.js';
import type { QuotaService } from './quotas.js';
import { KeyedMutex } from './locks.js';
import type { Principal, VmRecord } from './model.js';
import { AppRuntimeError, type AppResult, type AppRuntime, type LineSink } from './ports/app-runtime.js';
import { type EnvStore, type NewRelease, type ReleasePatch, type ReleaseRecord, type ReleaseStore } from './ports/releases.js';
import { type GitHost } from './ports/git-host.js';
import type { ForkApp } from './vm-forks.js';
import { LogBuffer, describeEnvChange, error, indent, step } from './deploys-output.js';

/** The VMs, as this service needs them (VmService + its store, wired in deploy-wiring.ts). */
export interface VmDirectory {
  /** By name, ownership-checked: vm_not_found for VMs the principal may not see. */
  get(p: Principal, name: string): VmRecord;
  /** By id, unchecked (for pushes already authorized, and events). */
  byId(id: string): VmRecord | undefined;
  all(): VmRecord[];
  /** Wakes the VM if it sleeps and resolves with it once it runs (VmService.awakeForRequest); absent: no sleep. */
  awake?(vm: VmRecord): Promise<VmRecord>;
  /** Throws unless this host runs `vm` (wrong_host, host_unreachable: VmService.here); absent: one host. */
  here?(vm: VmRecord): void;
}

export interface DeployServiceDeps {
  vms: VmDirectory;
  releases: ReleaseStore;
  env: EnvStore;
  runtime: AppRuntime;
  git: GitHost;
  log: Logger;
  urlFor(name: string): string;
  now?: () => number;
  /** The VM owner's config var and repository limits; absent → none. */
  quotas?: Pick<QuotaService, 'checkConfig' | 'checkRepo'>;
}

export interface DeployInput {
  commit: string;
  ref: string;
}

export type DeployOutcome = { ok: true; release: ReleaseRecord } | { ok: false; release: ReleaseRecord | null; error: string };

export interface EnvUpdate {
  set?: Record<string, string>;
  unset?: string[];
}

/** Set by the platform, not by the user. */
const RESERVED_ENV = /^(PORT|FCM_.*)$/;

export class DeployService {
  private readonly locks = new KeyedMutex();
  private readonly now: () => number;

  constructor(private readonly d: DeployServiceDeps) {
    this.now = d.now ?? Date.now;
  }

  // ---- reads -------------------------------------------------------------

  listReleases(p: Principal, name: string): ReleaseRecord[] {
    return this.d.releases.list(this.d.vms.get(p, name).id);
  }

  getRelease(p: Principal, name: string, version: number): ReleaseRecord {
    const vm = this.d.vms.get(p, name);
    const r = this.d.releases.get(vm.id, version);
    if (!r) throw new FcmError('release_not_found', `${name} has no release v${version}.`);
    return r;
  }

  /**
   * Runs `fn` while no deploy, rollback or config change of the VM runs (they wait for it):
   * a fork captures the guest and copies the release rows as one state.
   */
  exclusive<T>(vmId: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(vmId, fn);
  }

  /**
   * A fork's own copy of the app: config vars, every release (same versions, statuses and
   * build logs: the fork's guest holds the same builds) and the git repository. Call under
   * exclusive() of the parent. drop() removes it all again (a failed fork).
   */
  readonly forkApp: ForkApp = {
    copy: async (from, to) => {
      this.d.env.put(to, this.d.env.get(from));
      for (const r of this.d.releases.list(from).reverse()) {
        const made = this.d.releases.create({ vmId: to, status: 'pending', kind: r.kind, commit: r.commit, description: r.description, buildpack: r.buildpack, processes: r.processes, rollbackOf: r.rollbackOf, build: r.build });
        if (made.version !== r.version) throw new Error(`release v${r.version} of the fork landed on v${made.version}`);
        this.d.releases.update(to, made.version, { status: r.status, log: r.log, finishedAt: r.finishedAt });
      }
      await this.d.git.copy(from, to);
    },
    drop: async (vmId) => {
      this.d.releases.removeVm(vmId);
      this.d.env.removeVm(vmId);
      await this.d.git.remove(vmId);
    },
  };

  /** Whether a deploy, rollback or config change of the VM is running (it keeps the VM awake). */
  busy(vmId: string): boolean {
    return this.locks.isLocked(vmId);
  }

  getEnv(p: Principal, name: string): Record<string, string> {
    return this.d.env.get(this.d.vms.get(p, name).id);
  }

  /** The app's output; with follow, live until `signal` aborts (the client went away). */
  async logs(p: Principal, name: string, opts: { lines: number; follow: boolean }, signal: AbortSignal): Promise<Readable> {
    const vm = this.running(await this.wakeIfAsleep(this.d.vms.get(p, name)));
    try {
      return await this.d.runtime.logs(vm, opts, signal);
    } catch (err) {
      throw agentProblem(vm, err);
    }
  }

  // ---- deploy (from a push) ---------------------------------------------

  /**
   * Builds and starts the pushed tree. Everything the pusher should see goes
   * to `out`, line by line, as it happens. Never throws for a failed deploy:
   * the outcome says so (and the hook rejects the push).
   */
  async deploy(p: Principal, vmId: string, input: DeployInput, tar: Readable, out: LineSink): Promise<DeployOutcome> {
    const first = this.d.vms.byId(vmId);
    if (!first) return this.refuse(tar, out, 'This app no longer exists.');
    // The pushed objects are received (in quarantine) but not accepted: refusing now drops them.
    try {
      await this.d.quotas?.checkRepo(first);
    } catch (err) {
      if (!isFcmError(err, 'quota_exceeded')) throw err;
      return this.refuse(tar, out, err.message, 'Make the repository smaller (large files, history), delete apps you no longer need, or ask an admin to raise your quota (fcm quota me).');
    }
    out(step(`Deploying to ${first.name}...`));
    if (this.locks.isLocked(vmId)) out(indent('Waiting for the release in progress to finish...'));
    return this.locks.run(vmId, async () => {
      let vm = this.d.vms.byId(vmId);
      if (!vm) return this.refuse(tar, out, 'This app was deleted.');
      if (vm.state === 'sleeping') {
        out(indent(`${vm.name} is asleep; waking it...`));
        vm = await this.wakeIfAsleep(vm);
      }
      if (vm.state !== 'running') {
        return this.refuse(tar, out, `${vm.name} is ${vm.state}; it must be running to deploy.`, `Start it with: fcm start ${vm.name} — then push again.`);
      }
      const previous = this.current(vmId);
      const short = input.commit.slice(0, 7);
      const rel = this.d.releases.create({
        ...this.base(vmId, previous),
        status: 'building',
        kind: 'deploy',
        commit: input.commit,
        description: `Deploy ${short}${p.email ? ` by ${p.email}` : ''}`.slice(0, 200),
        buildpack: null,
        processes: {},
        build: null,
      });
      const log = new LogBuffer();
      // out's promise (a slow pusher) goes back to the runtime, which then pauses the guest's stream.
      const emit = (l: string) => {
        log.add(l);
        return out(l);
      };
      const vlog = this.d.log.child({ vmId, vm: vm.name, release: rel.version });
      vlog.info({ commit: input.commit, ref: input.ref, by: p.userId }, 'deploy started');
      const t0 = this.now();
      let result: AppResult;
      // The config vars go to the guest while the tree uploads (one agent round trip less
      // before the build): the tree's end is held back until they are stored, and the guest
      // builds only from a whole tree, so the build sees them (AppRuntime.putEnv).
      let envError: unknown = null;
      const envStored = this.d.runtime.putEnv(vm, this.d.env.get(vmId)).catch((err: unknown) => {
        envError = err;
        throw err;
      });
      const upload = endAfter(tar, envStored);
      try {
        result = await this.d.runtime.build(vm, rel.version, input.commit, upload, emit);
      } catch (err) {
        upload.destroy(); // and the tree is drained (endAfter)
        const why = envError ?? err;
        result = { ok: false, code: why instanceof AppRuntimeError ? why.code : 'failed', error: agentMessage(vm, why) };
      } finally {
        // Settled before the lock goes: a late PUT must never overwrite the next change's config.
        await envStored.catch(() => undefined);
      }
      if (result.ok && envError) {
        result = { ok: false, code: envError instanceof AppRuntimeError ? envError.code : 'failed', error: agentMessage(vm, envError) };
      }
      if (!result.ok) {
        vlog.warn({ code: result.code, error: result.error, ms: this.now() - t0 }, 'deploy failed');
        emit(error(result.error));
        emit(error(`Push rejected: v${rel.version} failed; ${previous ? `v${previous.version} keeps serving` : 'nothing was deployed'}.`));
        return { ok: false, release: this.fail(rel, log), error: result.error };
      }
      emit(step('Deploy successful!'));
      emit(indent(this.d.urlFor(vm.name)));
      const done = this.succeed(rel, { buildpack: result.buildpack, processes: result.processes, build: rel.version, log: log.toString() });
      vlog.info({ ms: this.now() - t0, buildpack: result.buildpack }, 'deploy succeeded');
      return done ? { ok: true, release: done } : { ok: false, release: null, error: 'This app was deleted during the deploy.' };
    });
  }

  // ---- rollback ----------------------------------------------------------

  /** Runs an earlier release's build again as a new release (default: the code before the current one). */
  async rollback(p: Principal, name: string, version?: number): Promise<ReleaseRecord> {
    const vm0 = this.d.vms.get(p, name);
    return this.locks.run(vm0.id, async () => {
      const vm = this.running(this.mustGet(vm0.id, name));
      const current = this.current(vm.id);
      if (!current || current.build === null) throw new FcmError('no_previous_release', `Nothing is deployed to ${name} yet: deploy with git push first.`);
      let target: ReleaseRecord | undefined;
      if (version !== undefined) {
        target = this.d.releases.get(vm.id, version);
        if (!target) throw new FcmError('release_not_found', `${name} has no release v${version}.`);
        if (target.build === null || (target.status !== 'succeeded' && target.status !== 'superseded')) {
          throw new FcmError('validation_failed', `v${version} never ran (${target.status}${target.build === null ? ', no code' : ''}); pick a release that succeeded: fcm releases`, {
            errors: [{ path: '/body/version', message: `v${version} cannot be rolled back to` }],
          });
        }
      } else {
        target = this.d.releases
          .list(vm.id)
          .find((r) => r.version < current.version && r.build !== null && r.build !== current.build && (r.status === 'superseded' || r.status === 'succeeded'));
        if (!target) throw new FcmError('no_previous_release', `${name} has no earlier code to roll back to (current: v${current.version}).`);
      }
      const build = target.build!;
      const rel = this.d.releases.create({
        ...this.base(vm.id, current),
        status: 'building',
        kind: 'rollback',
        commit: target.commit,
        description: `Rollback to v${target.version}${p.email ? ` by ${p.email}` : ''}`.slice(0, 200),
        buildpack: target.buildpack,
        processes: target.processes,
        rollbackOf: target.version,
        build,
      });
      const log = new LogBuffer();
      const result = await this.call(vm, async () => {
        await this.d.runtime.putEnv(vm, this.d.env.get(vm.id));
        return this.d.runtime.activate(vm, build, (l) => log.add(l));
      });
      if (!result.ok) {
        this.fail(rel, log);
        throw new FcmError('deploy_failed', `Rollback to v${target.version} failed: ${result.error}. v${current.version} keeps serving.${tailOf(log)}`);
      }
      this.d.log.info({ vmId: vm.id, vm: vm.name, release: rel.version, rollbackOf: target.version }, 'rolled back');
      return this.succeed(rel, { log: log.toString(), ...(result.buildpack ? { buildpack: result.buildpack } : {}) }) ?? rel;
    });
  }

  // ---- config vars -------------------------------------------------------

  /**
   * Applies `set` then `unset` and restarts the app so its processes see the
   * change (the guest restarts with zero downtime). If the app does not come
   * up with the new config, the old config is restored and deploy_failed
   * says why. A stopped VM records the change as `pending`; it is applied
   * when the VM runs again.
   */
  async updateEnv(p: Principal, name: string, upd: EnvUpdate): Promise<{ vars: Record<string, string>; release: number | null }> {
    const vm0 = this.d.vms.get(p, name);
    const set = upd.set ?? {};
    const unset = upd.unset ?? [];
    const problems = [
      ...Object.keys(set).filter((k) => RESERVED_ENV.test(k)).map((k) => ({ path: `/body/set/${k}`, message: `${k} is set by fcm` })),
      ...unset.filter((k) => k in set).map((k) => ({ path: `/body/unset`, message: `${k} is both set and unset` })),
      // A process environment cannot hold NUL bytes.
      ...Object.entries(set).filter(([, v]) => v.includes('\0')).map(([k]) => ({ path: `/body/set/${k}`, message: `${k} contains a NUL character` })),
    ];
    if (problems.length) throw new FcmError('validation_failed', problems.map((e) => e.message).join('; '), { errors: problems });
    return this.locks.run(vm0.id, async () => {
      const vm = this.mustGet(vm0.id, name);
      const before = this.d.env.get(vm.id);
      const after = { ...before, ...set };
      for (const k of unset) delete after[k];
      const setKeys = Object.keys(set).filter((k) => before[k] !== set[k]);
      const unsetKeys = unset.filter((k) => k in before);
      if (!setKeys.length && !unsetKeys.length) return { vars: after, release: null };
      this.d.quotas?.checkConfig(vm.owner, before, after);
      this.d.env.put(vm.id, after);
      const current = this.current(vm.id);
      const description = describeEnvChange(setKeys, unsetKeys);
      const fields: NewRelease = {
        ...this.base(vm.id, current),
        status: vm.state === 'running' ? 'building' : 'pending',
        kind: 'config',
        description,
        buildpack: current?.buildpack ?? null,
        processes: current?.processes ?? {},
        build: current?.build ?? null,
      };
      const rel = this.d.releases.create(fields);
      this.d.log.info({ vmId: vm.id, vm: vm.name, release: rel.version, set: setKeys, unset: unsetKeys }, 'config vars changed');
      if (vm.state !== 'running') return { vars: after, release: rel.version };

      const log = new LogBuffer();
      const result = await this.call(vm, async () => {
        await this.d.runtime.putEnv(vm, after);
        if (rel.build === null) return { ok: true, buildpack: null, processes: {} } as const; // no app yet: nothing to restart
        return this.d.runtime.restart(vm, (l) => log.add(l));
      });
      if (!result.ok) {
        this.d.env.put(vm.id, before);
        await this.d.runtime.putEnv(vm, before).catch((err) => this.d.log.warn({ err, vmId: vm.id }, 'could not restore the previous config in the guest'));
        this.fail(rel, log);
        throw new FcmError('deploy_failed', `The app did not restart with the new config: ${result.error}. The previous config is restored and keeps serving.${tailOf(log)}`);
      }
      this.succeed(rel, { log: log.toString() });
      return { vars: after, release: rel.version };
    });
  }

  // ---- lifecycle: VM events and reconcile -------------------------------

  /** Called on every VM change: forgets deleted VMs, applies pending config when a VM runs again. */
  vmChanged(vmId: string): void {
    const vm = this.d.vms.byId(vmId);
    if (!vm) {
      void this.forget(vmId).catch((err) => this.d.log.error({ err, vmId }, 'could not remove the repository of a deleted VM'));
      return;
    }
    if (vm.state === 'running' && this.d.releases.list(vmId).some((r) => r.status === 'pending')) {
      void this.applyPending(vmId).catch((err) => this.d.log.error({ err, vmId }, 'applying pending config failed'));
    }
  }

  /** After a daemon start: releases interrupted mid-build are failed; repositories of deleted VMs are removed. */
  async reconcile(): Promise<{ interrupted: number; orphans: number }> {
    let interrupted = 0;
    let orphans = 0;
    const all = this.d.vms.all();
    for (const vm of all) {
      for (const r of this.d.releases.list(vm.id).filter((x) => x.status === 'building')) {
        this.patch(r, { status: 'failed', finishedAt: this.iso(), log: `${r.log}${error('Interrupted: the fcm daemon restarted during this release.')}\n` });
        interrupted++;
      }
    }
    const known = new Set(all.map((v) => v.id));
    for (const id of await this.d.git.list()) {
      if (known.has(id)) continue;
      await this.forget(id);
      orphans++;
    }
    if (interrupted || orphans) this.d.log.warn({ interrupted, orphans }, 'deploys reconciled');
    return { interrupted, orphans };
  }

  private async forget(vmId: string): Promise<void> {
    await this.locks.run(vmId, async () => {
      if (this.d.vms.byId(vmId)) return;
      this.d.releases.removeVm(vmId);
      this.d.env.removeVm(vmId);
      await this.d.git.remove(vmId);
    });
  }

  private async applyPending(vmId: string): Promise<void> {
    await this.locks.run(vmId, async () => {
      const vm = this.d.vms.byId(vmId);
      const pending = this.d.releases.list(vmId).filter((r) => r.status === 'pending');
      if (!vm || vm.state !== 'running' || !pending.length) return;
      const [rel, ...older] = pending;
      for (const r of older) this.patch(r, { status: 'superseded', finishedAt: this.iso() });
      this.patch(rel!, { status: 'building' });
      const log = new LogBuffer();
      const result = await this.call(vm, async () => {
        await this.d.runtime.putEnv(vm, this.d.env.get(vmId));
        const cur = this.current(vmId);
        if (!cur || cur.build === null) return { ok: true, buildpack: null, processes: {} } as const;
        return this.d.runtime.restart(vm, (l) => log.add(l));
      });
      if (result.ok) this.succeed(rel!, { log: log.toString() });
      else {
        this.d.log.warn({ vmId, release: rel!.version, error: result.error }, 'pending config change failed at start');
        this.fail(rel!, log);
      }
    });
  }

  // ---- helpers -----------------------------------------------------------

  /** The release serving now (the newest succeeded one). */
  private current(vmId: string): ReleaseRecord | undefined {
    return this.d.releases.list(vmId).find((r) => r.status === 'succeeded');
  }

  private base(vmId: string, current: ReleaseRecord | undefined): Pick<NewRelease, 'vmId' | 'commit' | 'rollbackOf'> {
    return { vmId, commit: current?.commit ?? null, rollbackOf: null };
  }

  /** The release now serves: it becomes the one `succeeded`, the ones before it `superseded`. */
  private succeed(rel: ReleaseRecord, patch: ReleasePatch): ReleaseRecord | null {
    const done = this.patch(rel, { ...patch, status: 'succeeded', finishedAt: this.iso() });
    for (const r of this.d.releases.list(rel.vmId)) {
      if (r.version !== rel.version && (r.status === 'succeeded' || (r.status === 'pending' && r.version < rel.version))) {
        this.patch(r, { status: 'superseded' });
      }
    }
    return done;
  }

  private fail(rel: ReleaseRecord, log: LogBuffer): ReleaseRecord | null {
    return this.patch(rel, { status: 'failed', finishedAt: this.iso(), log: log.toString() });
  }

  /** Row updates tolerate a VM deleted meanwhile (its releases went with it). */
  private patch(rel: ReleaseRecord, patch: ReleasePatch): ReleaseRecord | null {
    try {
      return this.d.releases.update(rel.vmId, rel.version, patch);
    } catch (err) {
      if (err instanceof FcmError && err.code === 'release_not_found') return null;
      throw err;
    }
  }

  /** Runs agent calls; transport failures become a failed result. */
  private async call(vm: VmRecord, fn: () => Promise<AppResult>): Promise<AppResult> {
    try {
      return await fn();
    } catch (err) {
      return { ok: false, code: err instanceof AppRuntimeError ? err.code : 'failed', error: agentMessage(vm, err) };
    }
  }

  private refuse(tar: Readable, out: LineSink, ...lines: string[]): DeployOutcome {
    tar.resume();
    for (const l of lines) out(error(l));
    return { ok: false, release: null, error: lines[0]! };
  }

  /** A sleeping VM woken (its guest is needed); any other, or a wake that fails, as it is. */
  private async wakeIfAsleep(vm: VmRecord): Promise<VmRecord> {
    if (vm.state !== 'sleeping' || !this.d.vms.awake) return vm;
    return this.d.vms.awake(vm).catch(() => this.d.vms.byId(vm.id) ?? vm);
  }

  private running(vm: VmRecord): VmRecord {
    if (vm.state !== 'running') throw new FcmError('invalid_state', `VM "${vm.name}" is ${vm.state}; it must be running. Start it with: fcm start ${vm.name}`);
    return vm;
  }

  private mustGet(id: string, name: string): VmRecord {
    const vm = this.d.vms.byId(id);
    if (!vm) throw new FcmError('vm_not_found', `No VM named "${name}".`);
    return vm;
  }

  private iso(): string {
    return new Date(this.now()).toISOString();
  }
}

/**
 * `src` passed through (backpressure kept), its end held back until `until` resolves; if
 * `until` rejects, the stream fails with that error at once (the upload is cut: the guest
 * discards a partial tree).
 */
export function endAfter(src: Readable, until: Promise<unknown>): Readable {
  const out = new PassThrough();
  src.on('error', (err) => out.destroy(err));
  src.pipe(out, { end: false });
  // Destroyed before its end (the upload failed): the rest of `src` is read and dropped, so its writer is not left stuck.
  out.on('close', () => {
    src.unpipe(out);
    src.resume();
  });
  until.catch((err: unknown) => out.destroy(err instanceof Error ? err : new Error(String(err))));
  src.on('end', () => {
    until.then(
      () => out.end(),
      () => undefined,
    );
  });
  return out;
}

function agentMessage(vm: VmRecord, err: unknown): string {
  if (err instanceof AppRuntimeError) {
    if (err.code === 'deploy_in_progress') return `the guest of ${vm.name} is busy with another release; try again in a moment`;
    if (err.code === 'unreachable') return `the guest agent of ${vm.name} did not answer (${err.message})`;
    // The agent's answer broke a bound (it can be replaced by anything): say which, not "refused".
    if (err.code === 'timeout') return `the guest agent of ${vm.name} did not finish in time (${err.message})`;
    if (err.code === 'output_too_large') return `the guest agent of ${vm.name} sent too much (${err.message})`;
    if (err.code === 'client_gone') return err.message;
    return `the guest agent of ${vm.name} refused: ${err.message}`;
  }
  return err instanceof Error ? err.message : String(err);
}

function agentProblem(vm: VmRecord, err: unknown): FcmError {
  if (err instanceof FcmError) return err;
  return new FcmError('vm_failed', `${agentMessage(vm, err)}.`, { cause: err });
}

function tailOf(log: LogBuffer): string {
  const lines = log.lastLines(8).filter(Boolean);
  return lines.length ? `\n${lines.join('\n')}` : '';
}
