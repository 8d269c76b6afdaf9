/**
 * Fairness between clients, as two pure structures (clock injected):
 *
 * - RateBuckets: a token bucket per key (a client address, a user). `count`
 *   requests per `perMs` on average, bursts of up to `count`. What one key
 *   spends never touches another key's bucket.
 * - FairTable: entries in progress (logins, device codes) owned by a client
 *   address. Each owner holds at most `perOwner` — its oldest give way to its
 *   newest — and when the whole table is full, the owner holding the most
 *   gives up its oldest. A flood from one address therefore only ever evicts
 *   that address's own entries; nobody else's wait ends early. (Only more
 *   distinct addresses than `max` entries could push out someone holding
 *   one entry.)
 *
 * Both are bounded in memory whatever the number of keys.
 */

/** The daemon's default request limits per class (FCM_RATE_LOGIN, FCM_RATE_PUBLIC, FCM_RATE_USER). */
export const DEFAULT_RATES = { login: '10/min', public: '600/min', user: '1200/min' } as const;

export interface Rate {
  /** Requests allowed per period (and the largest burst). */
  count: number;
  perMs: number;
}

export type Take = { ok: true } | { ok: false; retryAfterMs: number };

interface Bucket {
  tokens: number;
  at: number;
}

export class RateBuckets {
  private readonly m = new Map<string, Bucket>();
  private readonly perMs: number;

  constructor(
    private readonly rate: Rate,
    private readonly now: () => number = Date.now,
    /** Keys remembered at most; a forgotten key starts again with a full bucket. */
    private readonly maxKeys = 100_000,
  ) {
    if (!(rate.count >= 1) || !(rate.perMs > 0)) throw new Error(`bad rate ${JSON.stringify(rate)}`);
    this.perMs = rate.count / rate.perMs;
  }

  /** Spends one request of `key`'s allowance, or says when the next one is available. */
  take(key: string): Take {
    const now = this.now();
    const b = this.m.get(key);
    let tokens = this.rate.count;
    if (b) {
      tokens = Math.min(this.rate.count, b.tokens + (now - b.at) * this.perMs);
      this.m.delete(key); // re-inserted below: the map stays in least-recently-used order
    } else if (this.m.size >= this.maxKeys) {
      this.shrink(now);
    }
    if (tokens < 1) {
      this.m.set(key, { tokens, at: now });
      return { ok: false, retryAfterMs: Math.ceil((1 - tokens) / this.perMs) };
    }
    this.m.set(key, { tokens: tokens - 1, at: now });
    return { ok: true };
  }

  get size(): number {
    return this.m.size;
  }

  /** Forgets buckets that are full again (the same as never seen), then the least recently used. */
  private shrink(now: number): void {
    for (const [k, b] of this.m) if (b.tokens + (now - b.at) * this.perMs >= this.rate.count) this.m.delete(k);
    const excess = this.m.size - Math.floor(this.maxKeys * 0.9);
    if (excess <= 0) return;
    let n = 0;
    for (const k of this.m.keys()) {
      if (n++ >= excess) break;
      this.m.delete(k);
    }
  }
}

export interface FairTableOptions {
  /** Entries one owner may hold. */
  perOwner: number;
  /** Entries in all. */
  max: number;
}

export class FairTable<T extends { expiresAt: number }> {
  private readonly entries = new Map<string, { owner: string; value: T }>();
  /** Each owner's keys, oldest first. */
  private readonly owners = new Map<string, string[]>();

  constructor(private readonly o: FairTableOptions) {
    if (o.perOwner < 1 || o.max < o.perOwner) throw new Error(`bad table bounds ${JSON.stringify(o)}`);
  }

  /** Adds an entry; makes room among `owner`'s own entries first, and only then (table full) from the largest owner. */
  put(owner: string, key: string, value: T, now: number): void {
    this.delete(key);
    const mine = this.owners.get(owner) ?? [];
    for (const k of [...mine]) if (this.entries.get(k)!.value.expiresAt <= now) this.delete(k);
    const left = this.owners.get(owner) ?? [];
    while (left.length >= this.o.perOwner) this.delete(left[0]!);
    if (this.entries.size >= this.o.max) {
      for (const [k, e] of this.entries) if (e.value.expiresAt <= now) this.delete(k);
    }
    while (this.entries.size >= this.o.max) {
      // The owner holding the most; among equals the newest owner (owners are kept in the order
      // they first appeared), so an address that has been waiting is the last to lose its entry.
      let largest: string[] | null = null;
      for (const keys of this.owners.values()) if (!largest || keys.length >= largest.length) largest = keys;
      this.delete(largest![0]!);
    }
    this.entries.set(key, { owner, value });
    const list = this.owners.get(owner) ?? [];
    list.push(key);
    this.owners.set(owner, list);
  }

  get(key: string): T | undefined {
    return this.entries.get(key)?.value;
  }

  /** The entry's owner (who started it). */
  ownerOf(key: string): string | undefined {
    return this.entries.get(key)?.owner;
  }

  /** Single use: a found entry is removed. */
  take(key: string): T | undefined {
    const v = this.get(key);
    this.delete(key);
    return v;
  }

  delete(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    const keys = this.owners.get(e.owner)!;
    keys.splice(keys.indexOf(key), 1);
    if (!keys.length) this.owners.delete(e.owner);
  }

  get size(): number {
    return this.entries.size;
  }

  sizeOf(owner: string): number {
    return this.owners.get(owner)?.length ?? 0;
  }
}

/** `10/min`, `5/s`, `1000/h`, `300/10min` → a Rate; `off` → null. Throws on anything else. */
export function parseRate(text: string): Rate | null {
  const t = text.trim().toLowerCase();
  if (t === 'off' || t === 'none') return null;
  const m = /^(\d{1,7})\s*\/\s*(\d{0,5})\s*(ms|s|sec|min|m|h|hour)$/.exec(t);
  if (!m) throw new Error(`"${text}" is not a rate like 10/min, 5/s, 1000/h or off`);
  const count = Number(m[1]);
  const n = m[2] ? Number(m[2]) : 1;
  const unit = { ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000, hour: 3_600_000 }[m[3]!]!;
  if (count < 1 || n < 1) throw new Error(`"${text}": the count and the period must be at least 1`);
  return { count, perMs: n * unit };
}
