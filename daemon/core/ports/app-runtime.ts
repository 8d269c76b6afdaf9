/**
 * The app's runtime inside the guest (the guest agent's /v1 API). Driver:
 * GuestAgentRuntime (drivers/guest-agent-runtime.ts); twin: MemoryAppRuntime
 * (drivers/memory/memory-deploys.ts); contract: test/unit/contracts/app-runtime.test.ts.
 */
import type { Readable } from 'node:stream';

export type Buildpack = 'python' | 'ruby' | 'node' | 'static' | 'none';

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
 * Streaming calls relay every output line to `onLine` as it arrives and
 * resolve with the final result; they throw (AppRuntimeError) when the agent
 * cannot be reached, refuses (busy, unauthorized) or stops mid-stream.
 */
export interface AppRuntime {
  /**
   * Persists config vars in the guest (the next start, build or restart uses them). A build
   * whose tree ends after this resolved uses them too: the tree is received whole before it
   * is built (DeployService sends both at once and holds the tree's end back).
   */
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
