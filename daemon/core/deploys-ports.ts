/**
 * Ports of the deploy feature (git push → release). Each has a real driver
 * and an in-memory twin (daemon/drivers/memory/memory-deploys.ts) passing
 * the same contract suite (test/unit/contracts/deploys-*.test.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';

export const RELEASE_STATUSES = ['pending', 'building', 'succeeded', 'failed', 'superseded'] as const;
export type ReleaseStatus = (typeof RELEASE_STATUSES)[number];
export type ReleaseKind = 'deploy' | 'rollback' | 'config';
export type Buildpack = 'python' | 'ruby' | 'node' | 'none';

/**
 * One release of a VM's app. Versions count 1, 2, 3… per VM. At most one
 * release is `succeeded` at a time — the one serving; the one it replaced
 * becomes `superseded`. Config changes while the VM is stopped are `pending`
 * until the VM runs again.
 */
export interface ReleaseRecord {
  vmId: string;
  version: number;
  status: ReleaseStatus;
  kind: ReleaseKind;
  commit: string | null;
  description: string;
  buildpack: Buildpack | null;
  processes: Record<string, string>;
  rollbackOf: number | null;
  /** The deploy release whose build runs in this release (the guest keeps builds by that version); null: no code yet. */
  build: number | null;
  /** Build output, capped (see LogBuffer). */
  log: string;
  createdAt: string;
  finishedAt: string | null;
}

export type NewRelease = Omit<ReleaseRecord, 'version' | 'createdAt' | 'finishedAt' | 'log'>;
export type ReleasePatch = Partial<Pick<ReleaseRecord, 'status' | 'buildpack' | 'processes' | 'build' | 'log' | 'finishedAt'>>;

/** Release rows. */
export interface ReleaseStore {
  /** Inserts with the VM's next version (atomically). */
  create(r: NewRelease): ReleaseRecord;
  /** Throws release_not_found when the row is gone (e.g. the VM was deleted meanwhile). */
  update(vmId: string, version: number, patch: ReleasePatch): ReleaseRecord;
  get(vmId: string, version: number): ReleaseRecord | undefined;
  /** Newest first. */
  list(vmId: string): ReleaseRecord[];
  removeVm(vmId: string): void;
}

/** Config vars per VM. Values are secrets: stores never log them. */
export interface EnvStore {
  get(vmId: string): Record<string, string>;
  put(vmId: string, vars: Record<string, string>): void;
  removeVm(vmId: string): void;
}

/** Bare git repositories, one per VM (keyed by VM id, so a rename or a reused name never sees old history). */
export interface GitHost {
  /** Creates the VM's repository if missing; returns its absolute path. Idempotent. */
  ensure(vmId: string): Promise<string>;
  /** Idempotent. */
  remove(vmId: string): Promise<void>;
  /** VM ids that have a repository (for orphan cleanup). */
  list(): Promise<string[]>;
  /** Bytes the VM's repository holds on disk, including a push still in quarantine (0 when there is none). */
  size(vmId: string): Promise<number>;
}

/** One git smart HTTP request the daemon has authenticated and authorized. */
export interface GitHttpRequest {
  /** The authorized repository (PushGrant.repo). */
  repo: string;
  /** What follows `<app>.git/` in the URL: `info/refs`, `git-upload-pack` or `git-receive-pack`. */
  path: string;
  /** Who pushes or fetches (git enables receive-pack only for an authenticated user). */
  remoteUser: string;
  /** The push ticket the pre-receive hook presents (receive-pack only). */
  ticket: string | null;
}

/**
 * Git smart HTTP for the public `/git/<app>.git/…` routes: streams the
 * request body to git and git's answer to the client. The route has
 * authorized the request before; this only speaks git. Real driver:
 * GitHttpBackend (`git http-backend`); exercised end to end over real HTTP
 * in test/e2e/deploy-git.test.ts (a twin would have to speak git's pack
 * protocol, which is git's job).
 */
export interface GitSmartHttp {
  serve(req: IncomingMessage, res: ServerResponse, r: GitHttpRequest): Promise<void>;
}

/** Where a VM's guest agent listens. */
export interface AppTarget {
  id: string;
  ip: string;
}

export type AppResult =
  | { ok: true; buildpack: Buildpack | null; processes: Record<string, string> }
  | { ok: false; code: string; error: string };

/**
 * Receives the guest's output one line at a time (without the newline). It
 * may return a promise (its reader is slow): the runtime then stops reading
 * the guest until it settles — backpressure from the pusher to the guest.
 * A rejected promise fails the call. (Typed `unknown` so that plain
 * callbacks like `(l) => lines.push(l)` stay sinks.)
 */
export type LineSink = (line: string) => unknown;

/**
 * The app's runtime inside the guest (the guest agent's /v1 API). Streaming
 * calls relay every output line to `onLine` as it arrives and resolve with
 * the final result; they throw (AppRuntimeError) when the agent cannot be
 * reached, refuses (busy, unauthorized) or stops mid-stream.
 */
export interface AppRuntime {
  /** Persists config vars in the guest (the next start, build or restart uses them). */
  putEnv(vm: AppTarget, vars: Record<string, string>): Promise<void>;
  /** Uploads the tree (tar) of `commit` as release `version`, builds it and switches to it with zero downtime. */
  build(vm: AppTarget, version: number, commit: string, tar: Readable, onLine: LineSink): Promise<AppResult>;
  /** Switches back to an earlier build (rollback). */
  activate(vm: AppTarget, version: number, onLine: LineSink): Promise<AppResult>;
  /** Restarts the current release (after config changes). */
  restart(vm: AppTarget, onLine: LineSink): Promise<AppResult>;
  /** The app's output: the last `lines`, then, with follow, live until `signal` aborts. */
  logs(vm: AppTarget, opts: { lines: number; follow: boolean }, signal: AbortSignal): Promise<Readable>;
}

export class AppRuntimeError extends Error {
  constructor(
    message: string,
    /** The agent's problem code (`deploy_in_progress`, `unauthorized`…) or `unreachable`. */
    readonly code: string,
  ) {
    super(message);
    this.name = 'AppRuntimeError';
  }
}
