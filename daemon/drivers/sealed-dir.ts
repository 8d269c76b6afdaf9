/**
 * A directory that holds one saved machine (a sleep's save, a named snapshot):
 * made fresh (whatever an interrupted attempt left there is nobody's), filled by
 * the hypervisor, and sealed by writing `meta.json` last through a rename, so a
 * directory without it is incomplete and ignored. Shared by saved-states.ts and
 * vm-snapshots.ts; both keep these under the VM's 0700 disk directory.
 */
import { lstat, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { asDiskFull } from './cow-disks.js';

/** Removes `dir` and makes it again, empty, 0700 (its parent too if missing); ENOSPC → disk_full. */
export async function freshDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  try {
    await mkdir(join(dir, '..'), { recursive: true, mode: 0o700 });
    await mkdir(dir, { mode: 0o700 });
  } catch (e) {
    throw asDiskFull(e);
  }
}

/** Writes `meta.json` (0600) atomically: the seal that makes the directory complete. */
export async function writeSeal(dir: string, meta: unknown): Promise<void> {
  const tmp = join(dir, 'meta.json.tmp');
  try {
    await writeFile(tmp, JSON.stringify(meta), { mode: 0o600 });
    await rename(tmp, join(dir, 'meta.json'));
  } catch (e) {
    throw asDiskFull(e);
  }
}

/** Bytes the directory's files take on disk (allocated blocks: sparse files count what they hold). */
export async function allocatedBytes(dir: string): Promise<number> {
  let bytes = 0;
  for (const f of await readdir(dir)) {
    const st = await lstat(join(dir, f));
    if (st.isFile()) bytes += st.blocks * 512;
  }
  return bytes;
}
