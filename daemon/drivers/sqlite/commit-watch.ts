import { closeSync, openSync, readSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';

/** Size of one copy of the wal-index header (SQLite walformat.html, "the WAL-index header"). */
const HDR_BYTES = 48;

const closeFd = new FinalizationRegistry<number>((fd) => {
  try {
    closeSync(fd);
  } catch {
    /* already closed */
  }
});

/**
 * Has any connection — another process included — committed to the database since the last
 * look? What `PRAGMA data_version` answers, for less: that pragma is a read transaction (lock
 * and unlock calls on the database and its -shm file, the wal-index header read and checked),
 * ~3 µs idle and far more on a busy machine — most of the auth cost of a kept GET /v1/vms.
 *
 * In WAL mode (openDb sets it; it persists in the file) every commit, by any connection of any
 * process, rewrites the wal-index header at the start of the `-shm` file: its change counter
 * (iChange) goes up by one with every write transaction, and the WAL's frame count and salts move
 * with it. Every SQLite of every version reading the database shares that file, so its layout is
 * fixed (https://www.sqlite.org/walformat.html, section 2). One pread of the header's first copy,
 * compared with the copy seen last time, tells a commit happened: a changed header — also one
 * read while a writer was rewriting it — counts as a change (at worst a needless re-read), and
 * after the commit that revoked something returns, the header already is the new one.
 *
 * Only commits: an uncommitted write on this connection does not show (the caller checks
 * total_changes() for its own connection). Without a -shm file (an in-memory database, another
 * journal mode) it asks `PRAGMA data_version` each time.
 */
export class CommitWatch {
  /** The -shm file, opened read-only; null: not available (data_version instead). */
  private readonly fd: number | null;
  private readonly now = Buffer.alloc(HDR_BYTES);
  private readonly seen = Buffer.alloc(HDR_BYTES);
  private first = true;
  private readonly dataVersion: Statement;
  private lastVersion = -1;

  constructor(db: Db) {
    this.dataVersion = db.prepare('PRAGMA data_version').pluck();
    let fd: number | null = null;
    if (!db.memory && String(db.pragma('journal_mode', { simple: true })).toLowerCase() === 'wal') {
      try {
        fd = openSync(`${resolve(db.name)}-shm`, 'r');
        closeFd.register(this, fd);
      } catch {
        fd = null;
      }
    }
    this.fd = fd;
  }

  /**
   * Commits by the watched connection itself show too (the -shm header is shared); without the
   * -shm file (PRAGMA data_version) they do not, and the caller has to watch its own writes.
   */
  get seesOwnCommits(): boolean {
    return this.fd !== null;
  }

  /** True when some connection committed since the last call (and on the first call). */
  changed(): boolean {
    if (this.fd !== null && readSync(this.fd, this.now, 0, HDR_BYTES, 0) === HDR_BYTES) {
      if (!this.first && this.now.equals(this.seen)) return false;
      this.now.copy(this.seen);
      this.first = false;
      return true;
    }
    const v = this.dataVersion.get() as number;
    if (v === this.lastVersion) return false;
    this.lastVersion = v;
    return true;
  }
}
