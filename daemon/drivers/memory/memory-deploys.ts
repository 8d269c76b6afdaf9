/**
 * In-memory twins of the deploy ports (same contract suites as the SQLite
 * stores, the bare-repo GitHost and the guest agent client).
 */
import { Readable } from 'node:stream';
import { FcmError } from '../../core/errors.js';
import { keyTaken, type KeyRecord, type KeyStore } from '../../core/ports/key-store.js';
import { AppRuntimeError, type AppResult, type AppRuntime, type AppTarget, type Buildpack, type LineSink } from '../../core/ports/app-runtime.js';
import { type EnvStore, type NewRelease, type ReleasePatch, type ReleaseRecord, type ReleaseStore } from '../../core/ports/releases.js';
import { type GitHost } from '../../core/ports/git-host.js';

export class MemoryReleaseStore implements ReleaseStore {
  private readonly rows = new Map<string, ReleaseRecord[]>();

  create(r: NewRelease): ReleaseRecord {
    const list = this.rows.get(r.vmId) ?? [];
    const rec: ReleaseRecord = {
      ...r,
      processes: { ...r.processes },
      version: (list[0]?.version ?? 0) + 1,
      log: '',
      createdAt: new Date().toISOString(),
      finishedAt: null,
    };
    this.rows.set(r.vmId, [rec, ...list]);
    return structuredClone(rec);
  }

  update(vmId: string, version: number, patch: ReleasePatch): ReleaseRecord {
    const r = this.rows.get(vmId)?.find((x) => x.version === version);
    if (!r) throw new FcmError('release_not_found', `No release v${version}.`);
    Object.assign(r, Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)));
    return structuredClone(r);
  }

  get(vmId: string, version: number): ReleaseRecord | undefined {
    const r = this.rows.get(vmId)?.find((x) => x.version === version);
    return r ? structuredClone(r) : undefined;
  }

  list(vmId: string): ReleaseRecord[] {
    return structuredClone(this.rows.get(vmId) ?? []);
  }

  removeVm(vmId: string): void {
    this.rows.delete(vmId);
  }
}

export class MemoryEnvStore implements EnvStore {
  private readonly vars = new Map<string, Record<string, string>>();
  get(vmId: string): Record<string, string> {
    return { ...this.vars.get(vmId) };
  }
  put(vmId: string, vars: Record<string, string>): void {
    this.vars.set(vmId, { ...vars });
  }
  removeVm(vmId: string): void {
    this.vars.delete(vmId);
  }
}

export class MemoryKeyStore implements KeyStore {
  private readonly rows: KeyRecord[] = [];
  insert(key: KeyRecord): void {
    if (this.rows.some((k) => k.fingerprint === key.fingerprint)) throw keyTaken(key.fingerprint);
    if (this.rows.some((k) => k.id === key.id)) throw new Error('UNIQUE constraint failed: ssh_keys.id');
    this.rows.push({ ...key });
  }
  list(owner: string | null): KeyRecord[] {
    return this.rows.filter((k) => owner === null || k.owner === owner).map((k) => ({ ...k }));
  }
  get(id: string): KeyRecord | undefined {
    const k = this.rows.find((x) => x.id === id);
    return k ? { ...k } : undefined;
  }
  byFingerprint(fingerprint: string): KeyRecord | undefined {
    const k = this.rows.find((x) => x.fingerprint === fingerprint);
    return k ? { ...k } : undefined;
  }
  remove(id: string): void {
    const i = this.rows.findIndex((k) => k.id === id);
    if (i !== -1) this.rows.splice(i, 1);
  }
}

export class MemoryGitHost implements GitHost {
  readonly repos = new Set<string>();
  async ensure(vmId: string): Promise<string> {
    this.repos.add(vmId);
    return `/mem/git/${vmId}.git`;
  }
  async remove(vmId: string): Promise<void> {
    this.repos.delete(vmId);
  }
  async list(): Promise<string[]> {
    return [...this.repos];
  }
  /** Injects a failure into the next copy. */
  failCopy = false;
  async copy(fromVmId: string, toVmId: string): Promise<void> {
    if (this.repos.has(toVmId)) throw new Error(`${toVmId} already has a repository`);
    if (this.failCopy) {
      this.failCopy = false;
      throw new Error('injected: the repository copy failed');
    }
    this.repos.add(toVmId);
    if (this.sizes.has(fromVmId)) this.sizes.set(toVmId, this.sizes.get(fromVmId)!);
  }
  /** Repository sizes tests set (bytes). */
  readonly sizes = new Map<string, number>();
  async size(vmId: string): Promise<number> {
    return this.repos.has(vmId) ? (this.sizes.get(vmId) ?? 0) : 0;
  }
}

/** Entries of a (ustar/GNU) tar archive: enough to look at a pushed tree. */
export function listTar(buf: Buffer): { name: string; type: 'file' | 'dir' | 'other'; data: Buffer }[] {
  const out: { name: string; type: 'file' | 'dir' | 'other'; data: Buffer }[] = [];
  let off = 0;
  let longName: string | null = null;
  let paxPath: string | null = null;
  while (off + 512 <= buf.length) {
    const h = buf.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const str = (a: number, n: number) => h.subarray(a, a + n).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(str(124, 12).trim() || '0', 8);
    const flag = String.fromCharCode(h[156]!);
    const prefix = str(345, 155);
    const data = buf.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
    if (flag === 'L') {
      longName = data.toString('utf8').replace(/\0.*$/s, '');
      continue;
    }
    if (flag === 'x') {
      const m = /\d+ path=([^\n]*)\n/.exec(data.toString('utf8'));
      paxPath = m ? m[1]! : null;
      continue;
    }
    if (flag === 'g') continue;
    const name = paxPath ?? longName ?? (prefix ? `${prefix}/${str(0, 100)}` : str(0, 100));
    longName = paxPath = null;
    out.push({ name, type: flag === '0' || flag === '\0' ? 'file' : flag === '5' ? 'dir' : 'other', data });
  }
  return out;
}

/** What a build of this tree looks like (the fake agent and the twin agree on it). */
export function detectApp(files: Map<string, Buffer>): { buildpack: Buildpack; marker: string | null; processes: Record<string, string> } {
  const processes: Record<string, string> = {};
  for (const line of (files.get('Procfile')?.toString('utf8') ?? '').split('\n')) {
    const m = /^([A-Za-z0-9_-]+):\s*(.+)$/.exec(line.trim());
    if (m) processes[m[1]!] = m[2]!;
  }
  // The guest's detection order (rootfs/guest/buildpacks.py detect).
  const markers: [string, Buildpack, string][] = [
    ['requirements.txt', 'python', 'Python'],
    ['pyproject.toml', 'python', 'Python'],
    ['Gemfile', 'ruby', 'Ruby'],
    ['package.json', 'node', 'Node.js'],
    ['index.html', 'static', 'a static site'],
  ];
  for (const [file, buildpack] of markers) if (files.has(file)) return { buildpack, marker: file, processes };
  return { buildpack: 'none', marker: null, processes };
}

export const BUILDPACK_TITLES: Record<Buildpack, string> = { python: 'Python', node: 'Node.js', ruby: 'Ruby', static: 'a static site', none: 'no buildpack' };

interface Build {
  files: Map<string, Buffer>;
  buildpack: Buildpack;
  processes: Record<string, string>;
}

/**
 * The guest agent's behaviour (rootfs/guest/agent-openapi.yaml), in memory:
 * builds are kept by version, one release operation at a time
 * (deploy_in_progress), activating a build the guest does not have is
 * release_not_found. A tree with a file named FAIL_BUILD fails to install
 * (build_failed) and one with FAIL_START has a web process that does not
 * come up (start_failed) — both leave the current build serving. A tree
 * without a `web` process deploys, with a warning, as in the guest.
 */
export class MemoryAppRuntime implements AppRuntime {
  readonly env = new Map<string, Record<string, string>>();
  readonly builds = new Map<string, Map<number, Build>>();
  readonly current = new Map<string, number>();
  readonly appLog = new Map<string, string[]>();
  /** Makes every call fail as if the guest did not answer. */
  unreachable = false;
  /** Each build/activate/restart waits this long (to observe concurrency). */
  delayMs = 0;
  /** Awaited with the VM's lock held, before each build/activate/restart (tests hold an operation open with it). */
  whileLocked: (() => Promise<void>) | null = null;
  private readonly busy = new Set<string>();

  async putEnv(vm: AppTarget, vars: Record<string, string>): Promise<void> {
    this.reach();
    this.env.set(vm.id, { ...vars });
  }

  async build(vm: AppTarget, version: number, commit: string, tar: Readable, onLine: LineSink): Promise<AppResult> {
    this.reach();
    const chunks: Buffer[] = [];
    for await (const c of tar) chunks.push(c as Buffer);
    return this.exclusive(vm.id, async () => {
      const files = new Map(listTar(Buffer.concat(chunks)).filter((e) => e.type === 'file').map((e) => [e.name, e.data]));
      const app = detectApp(files);
      onLine(`-----> Received ${commit.slice(0, 7)} (${files.size} files)`);
      if (app.marker) onLine(`-----> Detected ${BUILDPACK_TITLES[app.buildpack]} (${app.marker})`);
      if (files.has('FAIL_BUILD')) {
        onLine('       ERROR: install failed');
        return { ok: false, code: 'build_failed', error: 'Installing dependencies failed (see the output above).' };
      }
      const web = app.processes.web;
      if (!web) onLine('-----> No web process: add a Procfile with `web: <command>` that listens on $PORT; nothing will answer on port 8000');
      else onLine(`-----> Starting: ${web}`);
      if (web && files.has('FAIL_START')) return { ok: false, code: 'start_failed', error: 'the web process exited with status 1 before it listened on $PORT' };
      this.builds.set(vm.id, (this.builds.get(vm.id) ?? new Map()).set(version, { files, buildpack: app.buildpack, processes: app.processes }));
      this.switchTo(vm.id, version);
      return { ok: true, buildpack: app.buildpack, processes: app.processes };
    });
  }

  async activate(vm: AppTarget, version: number, onLine: LineSink): Promise<AppResult> {
    this.reach();
    return this.exclusive(vm.id, async () => {
      const b = this.builds.get(vm.id)?.get(version);
      if (!b) throw new AppRuntimeError(`v${version} is not on this VM (the last 5 are kept)`, 'release_not_found');
      onLine(`-----> Starting: ${b.processes.web ?? '(no web process)'}`);
      this.switchTo(vm.id, version);
      return { ok: true, buildpack: b.buildpack, processes: b.processes };
    });
  }

  async restart(vm: AppTarget, onLine: LineSink): Promise<AppResult> {
    this.reach();
    return this.exclusive(vm.id, async () => {
      const v = this.current.get(vm.id);
      const b = v === undefined ? undefined : this.builds.get(vm.id)?.get(v);
      if (!b) {
        onLine('-----> Nothing deployed yet; nothing to restart');
        return { ok: true, buildpack: 'none', processes: {} };
      }
      if (this.env.get(vm.id)?.CRASH_ON_START === '1') return { ok: false, code: 'start_failed', error: 'the web process exited with status 1 before it listened on $PORT' };
      onLine(`-----> Restarting: ${b.processes.web ?? '(no web process)'}`);
      this.switchTo(vm.id, v!);
      return { ok: true, buildpack: b.buildpack, processes: b.processes };
    });
  }

  async logs(vm: AppTarget, opts: { lines: number; follow: boolean }, signal: AbortSignal): Promise<Readable> {
    this.reach();
    const all = this.appLog.get(vm.id) ?? [];
    const lines = opts.lines === 0 ? [] : all.slice(-opts.lines);
    if (!opts.follow) return Readable.from(lines.map((l) => `${l}\n`));
    const s = new Readable({ read() {} });
    for (const l of lines) s.push(`${l}\n`);
    signal.addEventListener('abort', () => s.push(null), { once: true });
    return s;
  }

  private switchTo(vmId: string, version: number): void {
    this.current.set(vmId, version);
    const log = this.appLog.get(vmId) ?? [];
    log.push(`web.1: started v${version}`);
    this.appLog.set(vmId, log);
  }

  private reach(): void {
    if (this.unreachable) throw new AppRuntimeError('connect ECONNREFUSED', 'unreachable');
  }

  private async exclusive(vmId: string, fn: () => Promise<AppResult>): Promise<AppResult> {
    if (this.busy.has(vmId)) throw new AppRuntimeError('another release is in progress', 'deploy_in_progress');
    this.busy.add(vmId);
    try {
      if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
      if (this.whileLocked) await this.whileLocked();
      return await fn();
    } finally {
      this.busy.delete(vmId);
    }
  }
}
