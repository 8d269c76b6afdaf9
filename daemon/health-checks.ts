/**
 * Health checks the composition root adds to GET /v1/health `checks` (the
 * dashboard shows them): free disk under the state directory, and the warm
 * pool of pre-booted machines. Pure over what they are given, so a unit
 * test pins them (test/unit/health-checks.test.ts).
 */
import { statfsSync } from 'node:fs';

export interface Check {
  ok: boolean;
  detail?: string;
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

/**
 * Free space for VM disks and state where they live. Below `minFreeRatio`
 * of the filesystem, or `minFreeBytes`, the check fails: guests that fill
 * the host disk pause (SECURITY.md, Known gaps), so the operator should know first.
 */
export function diskCheck(dir: string, o: { minFreeRatio?: number; minFreeBytes?: number; statfs?: (p: string) => { bavail: number; blocks: number; bsize: number } } = {}): Check {
  let s: { bavail: number; blocks: number; bsize: number };
  try {
    s = (o.statfs ?? statfsSync)(dir);
  } catch (e) {
    return { ok: false, detail: `cannot read free space of ${dir}: ${(e as Error).message}` };
  }
  const free = s.bavail * s.bsize;
  const total = s.blocks * s.bsize;
  const ok = free >= (o.minFreeBytes ?? 2 ** 30) && (total === 0 || free / total >= (o.minFreeRatio ?? 0.05));
  return { ok, detail: `${gib(free)} free of ${gib(total)} (${dir})` };
}

/** The warm pool: how many restored machines wait for a create; absent pools are not a failure (snapshots off). */
export function warmPoolCheck(pooled: number, size: number): Check {
  return { ok: true, detail: size === 0 ? 'off' : `${pooled} of ${size} ready` };
}
