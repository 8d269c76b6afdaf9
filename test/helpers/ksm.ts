/**
 * ksmd is host-wide, and a daemon with FCM_KSM turns it on and leaves it on (ksm-host.ts): tests
 * and benches that start such a daemon put back the settings they found.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KSM_SYSFS, planKsm } from '../../daemon/drivers/ksm-host.js';

/** The knobs the daemon writes (planKsm's, in its order: `run` last), so putting them back covers each. */
export const KSM_KNOBS = planKsm({ pagesToScan: 1, sleepMs: 1 }).map(([file]) => file);

/** One of ksmd's files under /sys/kernel/mm/ksm, as text. */
export function ksmKnob(file: string): string {
  return readFileSync(join(KSM_SYSFS, file), 'utf8').trim();
}

/** The knobs' values now; call the result to write them back (nothing on a kernel without KSM). */
export function keepKsmSettings(): () => void {
  const found = existsSync(KSM_SYSFS) ? KSM_KNOBS.map((f) => [f, ksmKnob(f)] as const) : [];
  return () => {
    for (const [f, v] of found) writeFileSync(join(KSM_SYSFS, f), v);
  };
}
