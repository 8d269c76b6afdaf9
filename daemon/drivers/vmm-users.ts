import { readdir, stat } from 'node:fs/promises';
import { run } from './proc.js';

export interface VmmUsersConfig {
  /** First uid (= gid) of the range; none of them may belong to a real account. */
  base: number;
  count: number;
}

/**
 * Hands out one uid (= gid) per VM from a reserved range. A uid is in use
 * while a tap is owned by it (the kernel keeps the owner: a VM's tap is
 * made for its uid, since an unprivileged QEMU may attach only to a tap it
 * owns) or a process runs as it — so nothing needs storing, and after a
 * daemon restart the state is read back from the kernel. Between handing a
 * uid out and its tap or process existing, it is held in memory.
 */
export class VmmUsers {
  private readonly pending = new Map<number, number>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly cfg: VmmUsersConfig) {
    if (!Number.isInteger(cfg.base) || cfg.base < 1000 || !Number.isInteger(cfg.count) || cfg.count < 1 || cfg.base + cfg.count > 2 ** 31) {
      throw new Error(`bad VMM uid range ${cfg.base}+${cfg.count}`);
    }
  }

  owns(uid: number): boolean {
    return uid >= this.cfg.base && uid < this.cfg.base + this.cfg.count;
  }

  /** A uid nobody uses; held until release() (or 10 minutes). */
  allocate(): Promise<number> {
    const next = this.queue.then(async () => {
      const now = Date.now();
      for (const [uid, until] of this.pending) if (until < now) this.pending.delete(uid);
      const used = await this.inUse();
      for (let uid = this.cfg.base; uid < this.cfg.base + this.cfg.count; uid++) {
        if (!used.has(uid) && !this.pending.has(uid)) {
          this.pending.set(uid, now + 10 * 60_000);
          return uid;
        }
      }
      throw new Error(`all ${this.cfg.count} VMM uids from ${this.cfg.base} are in use (FCM_VMM_UID_BASE / FCM_VMM_UID_COUNT)`);
    });
    this.queue = next.catch(() => {});
    return next;
  }

  /** The uid's tap or process exists now (or its start failed): stop holding it. */
  release(uid: number): void {
    this.pending.delete(uid);
  }

  private async inUse(): Promise<Set<number>> {
    const used = new Set<number>();
    const { stdout } = await run('ip', ['-d', '-j', 'link', 'show', 'type', 'tun']);
    for (const l of JSON.parse(stdout || '[]') as { linkinfo?: { info_data?: { user?: number } } }[]) {
      const u = l.linkinfo?.info_data?.user;
      if (typeof u === 'number') used.add(u);
    }
    for (const name of await readdir('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const st = await stat(`/proc/${name}`).catch(() => null);
      if (st && this.owns(st.uid)) used.add(st.uid);
    }
    return used;
  }
}

/** The uid a tap was made for (its owner), or null. */
export async function tapOwner(tap: string): Promise<number | null> {
  const { stdout } = await run('ip', ['-d', '-j', 'link', 'show', 'dev', tap]);
  const u = (JSON.parse(stdout || '[]') as { linkinfo?: { info_data?: { user?: number } } }[])[0]?.linkinfo?.info_data?.user;
  return typeof u === 'number' ? u : null;
}
