/** Bare git repositories. Driver: BareRepos (drivers/git/bare-repos.ts); twin: MemoryGitHost (drivers/memory/memory-deploys.ts). */

/** One bare repository per VM (keyed by VM id, so a rename or a reused name never sees old history). */
export interface GitHost {
  /** Creates the VM's repository if missing; returns its absolute path. Idempotent. */
  ensure(vmId: string): Promise<string>;
  /** Idempotent. */
  remove(vmId: string): Promise<void>;
  /**
   * A repository for `toVmId` holding every ref and object of `fromVmId`'s (a fork's copy;
   * an empty one when `fromVmId` has none). `toVmId` must have none yet.
   */
  copy(fromVmId: string, toVmId: string): Promise<void>;
  /** VM ids that have a repository (for orphan cleanup). */
  list(): Promise<string[]>;
  /** Bytes the VM's repository holds on disk, including a push still in quarantine (0 when there is none). */
  size(vmId: string): Promise<number>;
}
