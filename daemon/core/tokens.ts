import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Principal } from './model.js';
import type { TokenStore } from './ports/token-store.js';

/** Tokens are `fcm_` + 32 random bytes (base64url). Only their SHA-256 is stored. */
export function newToken(): string {
  return `fcm_${randomBytes(32).toString('base64url')}`;
}

/**
 * High-entropy random tokens need no slow KDF: SHA-256 is enough to make a stolen DB useless.
 * crypto.hash (one shot) rather than createHash().update().digest(): a third of the time, and
 * every authenticated request hashes its token.
 */
export function hashToken(token: string): string {
  return hash('sha256', token, 'hex');
}

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** TokenAuthenticator: token hashes kept (each is a token that named a row; ~200 bytes apiece). */
const HASHES_MAX = 1024;

export const ADMIN: Principal = Object.freeze({ userId: 'admin', email: null, admin: true });

/** Bearer tokens → principals. Unknown, expired and revoked tokens are all just "no". */
export class TokenAuthenticator {
  constructor(
    private readonly tokens: TokenStore,
    private readonly userPrincipal: (userId: string) => Principal | null = () => null,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The hashes of tokens that named a row, by token (at most HASHES_MAX): a token's hash never
   * changes, so a client presenting the same token on every request has it hashed once, not per
   * request (SHA-256 through node:crypto, ~2–3 µs of a kept GET /v1/vms). Only the hashing is
   * skipped: the row is still looked up by its hash each time (the store answers a revocation at
   * once), so what this holds decides nothing. Tokens that named no row are not kept (guesses do
   * not crowd out real ones). The lookup is a Map's: V8 compares strings only when their
   * (per-process seeded) hashes match, so its timing tells a guess nothing of the tokens held.
   */
  private readonly hashes = new Map<string, string>();

  authenticate(token: string): Principal | null {
    let hash = this.hashes.get(token);
    if (hash === undefined) {
      if (!/^fcm_[A-Za-z0-9_-]{20,100}$/.test(token)) return null;
      hash = hashToken(token);
    }
    const row = this.tokens.findByHash(hash);
    if (row && !this.hashes.has(token)) {
      if (this.hashes.size >= HASHES_MAX) this.hashes.clear();
      this.hashes.set(token, hash);
    }
    if (!row || row.revokedAt) return null;
    if (row.expiresAt && Date.parse(row.expiresAt) <= this.now()) return null;
    if (row.kind === 'admin') return { ...ADMIN, tokenId: row.id };
    const p = this.userPrincipal(row.userId);
    return p ? { ...p, tokenId: row.id } : null;
  }

  /**
   * For what a token opened earlier and still holds (sessions.ts): the token
   * is still unrevoked and unexpired, its user still allowed, and not less
   * of an admin than then. Principals without a token are not ours: false.
   */
  stillValid(p: Principal): boolean {
    if (!p.tokenId) return false;
    const row = this.tokens.list(p.userId).find((t) => t.id === p.tokenId);
    if (!row || row.revokedAt || row.userId !== p.userId) return false;
    if (row.expiresAt && Date.parse(row.expiresAt) <= this.now()) return false;
    if (row.kind === 'admin') return true;
    const now = this.userPrincipal(row.userId);
    return now !== null && (now.admin || !p.admin);
  }
}
