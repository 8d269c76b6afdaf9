/**
 * Root disks in and out of backup archives (core/backups.ts). Driver:
 * QemuImgDiskArchive (drivers/disk-archive.ts).
 */
import type { VmDisks } from './disks.js';

/** A standalone copy of a VM's root disk, made for one export. */
export interface ExportedDisk {
  bytes: number;
  sha256: string;
  /** Its bytes, from the start. */
  read(): AsyncIterable<Buffer>;
  /** Deletes the copy. Idempotent. */
  remove(): Promise<void>;
}

/** Where an import's members land while they are checked; nothing outside it is touched until the import is known good. */
export interface ImportStaging {
  /** A sink for the disk member's bytes, in order; close() once all are written. */
  openDisk(): Promise<{ write(chunk: Buffer): Promise<void>; close(): Promise<void> }>;
  /** A sink for the memory.bin member (kept only when the import may resume it); close() once all are written. */
  openMemory(): Promise<{ write(chunk: Buffer): Promise<void>; close(): Promise<void> }>;
  /** Where openMemory() wrote the memory state (what a restore reads), null when nothing was staged. */
  memoryPath(): string | null;
  /** Deletes everything staged. Idempotent. */
  remove(): Promise<void>;
}

export interface DiskArchive {
  /** A compressed, standalone (no backing file) copy of the root disk of VM `vmId`, which must not be running. */
  exportRoot(vmId: string): Promise<ExportedDisk>;
  /**
   * A copy of file `path` of VM `vmId` (its sleep save's state) that stays whole while the
   * VM moves on (a wake deletes the save): for one export. Same contract as exportRoot's.
   */
  exportFile(vmId: string, path: string): Promise<ExportedDisk>;
  staging(): Promise<ImportStaging>;
  /**
   * Deletes the stagings no import of this process owns (left by a daemon killed mid-import);
   * answers how many. Safe while imports run: their stagings are kept.
   */
  sweepStagings(): Promise<number>;
  /**
   * Checks the staged disk (an image that could name a host file as its backing or data
   * file, is damaged, or is larger than `diskMib`: backup_invalid) and makes it the root
   * disk of new VM `vmId`, with a fresh swap and `seed`. All or nothing.
   */
  importRoot(vmId: string, staging: ImportStaging, sizes: { diskMib: number; swapMib: number }, seed: Buffer): Promise<VmDisks>;
}
