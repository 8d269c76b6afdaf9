import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Where Linux exposes ksmd's knobs and counters. */
export const KSM_SYSFS = '/sys/kernel/mm/ksm';

export interface KsmSettings {
  /** Pages ksmd looks at per wake-up. */
  pagesToScan: number;
  /** How long ksmd sleeps between wake-ups. */
  sleepMs: number;
}

/**
 * The sysfs writes that turn ksmd on (pure, golden-tested), in order: the
 * rate first, `run` last, so ksmd never runs at a rate nobody chose.
 * `run=1` only starts scanning: nothing merges but what processes marked
 * mergeable (fcm's QEMUs with FCM_KSM on: PR_SET_MEMORY_MERGE and guest RAM).
 * The rate bounds ksmd's CPU: it looks at pagesToScan pages per 1000/sleepMs
 * wake-ups a second at most (the defaults, 1000 pages every 50 ms: 20,000
 * pages, 78 MiB a second — a full pass over 50 idle clones' ~2 GiB of
 * mergeable pages in ~30 s; what that costs here is measured by
 * test/bench/density.bench.ts, "ksmd CPU").
 */
export function planKsm(s: KsmSettings): [file: string, value: string][] {
  for (const [k, v, max] of [['pagesToScan', s.pagesToScan, 100_000], ['sleepMs', s.sleepMs, 60_000]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > max) throw new Error(`unusable ksm ${k} ${v}`);
  }
  return [
    ['pages_to_scan', String(s.pagesToScan)],
    ['sleep_millisecs', String(s.sleepMs)],
    ['run', '1'],
  ];
}

/** Turn ksmd on (idempotent: the same writes again change nothing). A kernel without KSM says so clearly. */
export async function enableKsm(s: KsmSettings, dir = KSM_SYSFS): Promise<void> {
  for (const [file, value] of planKsm(s)) {
    try {
      await writeFile(join(dir, file), value);
    } catch (e) {
      throw new Error(`FCM_KSM: cannot set ${join(dir, file)} to ${value} (kernel built without CONFIG_KSM, or /sys read-only?): ${(e as Error).message}`, { cause: e });
    }
  }
}

/** ksmd's counters (pages): for logs and the density bench. */
export async function ksmCounters(dir = KSM_SYSFS): Promise<Record<'run' | 'pages_shared' | 'pages_sharing' | 'pages_unshared' | 'full_scans', number>> {
  const read = async (f: string) => Number((await readFile(join(dir, f), 'utf8')).trim());
  return {
    run: await read('run'),
    pages_shared: await read('pages_shared'),
    pages_sharing: await read('pages_sharing'),
    pages_unshared: await read('pages_unshared'),
    full_scans: await read('full_scans'),
  };
}
