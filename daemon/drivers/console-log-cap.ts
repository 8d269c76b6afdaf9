/**
 * Keeps QEMU's serial console logs (`<run dir>/<vm>/console.log`) at about
 * `capBytes` each, without a process per VM.
 *
 * QEMU writes the log itself (`-chardev socket,…,logfile=…,logappend=on`),
 * one write(2) per byte the guest prints, through a file descriptor opened
 * with O_APPEND: every write lands at the file's current end, whatever the
 * end is now. So the daemon can shrink the file under QEMU's feet:
 *
 * - `fallocate --collapse-range` drops the oldest whole blocks at once,
 *   atomically against QEMU's appends (ext4 and XFS hold the inode lock for
 *   both): nothing is lost or reordered, and the file keeps the newest
 *   ~capBytes/2. Not on tmpfs or btrfs (EOPNOTSUPP), hence:
 * - `fallocate --punch-hole` frees the old blocks instead: the file keeps its
 *   length (sparse) but not the disk space; every reader here reads the tail
 *   by offset, so holes are never read.
 * - truncation to zero is the last resort (no fallocate at all).
 *
 * Driven by a poll of every run dir (a stat each, every `pollMs`), not by
 * inotify: QEMU writes the log a byte at a time, so a flooding guest would
 * raise ~10^5 events a second in the daemon. The bound therefore holds with a
 * slack of what a guest prints in one poll interval plus one fallocate call
 * (measured in test/reliability/hostile-guest.test.ts: a TCG guest prints
 * ~100 kB/s with nobody attached, so ~25 kB at the default 250 ms). While the
 * daemon is not running nobody trims: the first scan after it starts does.
 */
import { open, readdir, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { run } from './proc.js';

export interface ConsoleLogCapOptions {
  /** Directory whose subdirectories each hold one VM's `console.log`. */
  runDir: string;
  capBytes: number;
  pollMs?: number;
  fileName?: string;
  log: Logger;
}

export type TrimMethod = 'collapse' | 'punch' | 'truncate';

export class ConsoleLogCap {
  private timer: NodeJS.Timeout | null = null;
  private scanning: Promise<void> | null = null;
  /** Trim methods that failed on this host (e.g. collapse on tmpfs): not tried again. */
  private readonly unsupported = new Set<TrimMethod>();
  /** Trims done, by method (for health and tests). */
  readonly trims: Record<TrimMethod, number> = { collapse: 0, punch: 0, truncate: 0 };

  constructor(private readonly o: ConsoleLogCapOptions) {}

  start(): void {
    if (this.timer) return;
    void this.scan();
    this.timer = setInterval(() => void this.scan(), this.o.pollMs ?? 250);
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.scanning;
  }

  /** One pass over every VM's log (never two at once; never throws). */
  scan(): Promise<void> {
    this.scanning ??= this.scanOnce()
      .catch((err: unknown) => this.o.log.warn({ err }, 'console log scan failed'))
      .finally(() => (this.scanning = null));
    return this.scanning;
  }

  private async scanOnce(): Promise<void> {
    const dirs = await readdir(this.o.runDir).catch(() => [] as string[]);
    for (const d of dirs) {
      const path = join(this.o.runDir, d, this.o.fileName ?? 'console.log');
      await this.trim(path).catch((err: unknown) => this.o.log.warn({ err, path }, 'cannot trim a console log'));
    }
  }

  /**
   * If `path` holds more than capBytes, keeps (about) the newest capBytes/2.
   * Returns the method used, or null when the file was small enough.
   */
  async trim(path: string): Promise<TrimMethod | null> {
    const st = await stat(path).catch(() => null);
    if (!st || !st.isFile()) return null;
    const keep = Math.floor(this.o.capBytes / 2);
    // Allocated bytes, not the length: after a punch the length stays but the blocks are gone.
    const used = Math.min(st.size, st.blocks * 512);
    if (used <= this.o.capBytes) return null;
    const block = st.blksize > 0 ? st.blksize : 4096;
    const cut = Math.floor((st.size - keep) / block) * block;
    if (cut <= 0) return null;
    for (const method of ['collapse', 'punch', 'truncate'] as const) {
      if (this.unsupported.has(method)) continue;
      try {
        if (method === 'truncate') await truncate(path, 0);
        else {
          // fallocate(1) from util-linux: argv only; offsets are ours.
          const flag = method === 'collapse' ? '--collapse-range' : '--punch-hole';
          await run('fallocate', [flag, '--offset', '0', '--length', String(cut), path], { timeoutMs: 10_000 });
        }
        this.trims[method]++;
        return method;
      } catch (err) {
        // Only "this filesystem (or host) cannot" moves on to the next method for good; anything
        // else (a timeout under load) is retried at the next scan.
        const notFound = (err as { notFound?: boolean }).notFound === true;
        if (!notFound && !/not supported/i.test((err as Error).message)) throw err;
        if (notFound) this.unsupported.add('punch');
        this.unsupported.add(method);
        this.o.log.warn({ err: (err as Error).message, path, method }, 'console log trim method not usable here; using the next');
      }
    }
    return null;
  }
}

/**
 * The last ≤ maxBytes of a file (empty when it does not exist), read by
 * offset: never the whole file, and never a punched hole at its start.
 */
export async function readTail(path: string, maxBytes: number): Promise<Buffer> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return Buffer.alloc(0);
    throw e;
  }
  try {
    const { size } = await fh.stat();
    const start = Math.max(0, size - maxBytes);
    const buf = Buffer.alloc(size - start);
    const { bytesRead } = await fh.read(buf, 0, buf.length, start);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
