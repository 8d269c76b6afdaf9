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

export const ADMIN: Principal = Object.freeze({ userId: 'admin', email: null, admin: true });

/** Bearer tokens → principals. Unknown, expired and revoked tokens are all just "no". */
export class TokenAuthenticator {
  constructor(
    private readonly tokens: TokenStore,
    private readonly userPrincipal: (userId: string) => Principal | null = () => null,
    private readonly now: () => number = Date.now,
  ) {}

  authenticate(token: string): Principal | null {
    if (!/^fcm_[A-Za-z0-9_-]{20,100}$/.test(token)) return null;
    const row = this.tokens.findByHash(hashToken(token));
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
