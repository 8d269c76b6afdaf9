/**
 * Joining console output without repeats, shared by the daemon (a log tail
 * read after a reconnect, daemon/core/console-service.ts) and the CLI
 * (the replay a re-attached `fcm console` gets, api/cli/console.ts). Pure;
 * here in api/ because clients may not import the daemon.
 */

/**
 * What `tail` holds beyond what `known` ended with: the last `anchor` bytes
 * of `known` are looked up in `tail` (last occurrence) and everything after
 * them is new. null when they are not found (the gap is too long, or the
 * output is not recognisable): the caller then replays `tail` whole.
 */
export function newSince(known: Buffer, tail: Buffer, anchor = 256): Buffer | null {
  if (known.length === 0) return tail;
  const a = known.subarray(Math.max(0, known.length - anchor));
  const i = tail.lastIndexOf(a);
  return i === -1 ? null : tail.subarray(i + a.length);
}
