/**
 * Polling for tests that watch a real system settle: retry `fn` until `ok`
 * accepts its value, and fail with the last value (or error) seen, so a
 * timeout says what the system was doing instead of just "timed out".
 */
import assert from 'node:assert/strict';

export async function eventually<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, withinMs = 30_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + withinMs;
  let last: T | Error | undefined;
  for (;;) {
    try {
      last = await fn();
      if (ok(last)) return last;
    } catch (e) {
      last = e as Error;
    }
    if (Date.now() > deadline) assert.fail(`${what}: still ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
