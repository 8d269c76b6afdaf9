/**
 * The Firecracker console holder's log file (see console-holder.ts), kept
 * in a module of its own so that it can be tested without running a holder.
 */
import { closeSync, fstatSync, openSync, readSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';

/**
 * The console log, appended to and kept under `max` bytes: past it, the
 * newest max/2 bytes go to `<path>.tmp`, which is renamed over the log
 * (readers that have the old file open keep reading it; new opens get the
 * new one). Errors (a full disk) are swallowed: the console and the VM go
 * on without a log rather than stall.
 */
export class CappedLog {
  private fd: number;
  private size: number;

  constructor(
    private readonly path: string,
    private readonly max: number,
  ) {
    this.fd = openSync(path, 'a+', 0o600);
    this.size = fstatSync(this.fd).size;
    if (this.size > max) this.rotate();
  }

  write(chunk: Buffer): void {
    try {
      writeSync(this.fd, chunk);
      this.size += chunk.length;
    } catch {
      return; // ENOSPC and the like
    }
    if (this.size > this.max) this.rotate();
  }

  close(): void {
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
  }

  private rotate(): void {
    const keep = Math.min(this.size, Math.floor(this.max / 2));
    const tmp = `${this.path}.tmp`;
    try {
      const buf = Buffer.alloc(keep);
      const n = readSync(this.fd, buf, 0, keep, this.size - keep);
      writeFileSync(tmp, buf.subarray(0, n), { mode: 0o600 });
      renameSync(tmp, this.path);
      closeSync(this.fd);
      this.fd = openSync(this.path, 'a+', 0o600);
      this.size = n;
    } catch {
      // Could not copy (a full disk): start over empty rather than grow without bound.
      try {
        unlinkSync(tmp);
      } catch {
        /* not there */
      }
      try {
        closeSync(this.fd);
      } catch {
        /* closed */
      }
      this.fd = openSync(this.path, 'w', 0o600);
      this.size = 0;
    }
  }
}
