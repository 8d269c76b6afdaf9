/**
 * Users' fcm tokens: minting (after a login), whoami, logout, list, revoke,
 * and the bearer → principal mapping for user tokens. Tokens are random
 * (`fcm_` + 32 bytes), stored only as SHA-256, and expire.
 */
import { randomId } from './ids.js';
import { canAccess, type LoginPolicy } from './access.js';
import { FcmError } from './errors.js';
import type { UserRow, UserStore } from './ports/user-store.js';
import type { Principal } from './model.js';
import { hashToken, newToken } from './tokens.js';
import { type TokenRow, type TokenStore } from './ports/token-store.js';

export interface ApiUser {
  id: string;
  email: string | null;
  name: string | null;
  admin: boolean;
}

export interface TokenInfo {
  id: string;
  kind: 'admin' | 'user';
  description: string | null;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
}

export interface TokenGrant {
  token: string;
  expiresAt: string | null;
  user: ApiUser;
}

export interface AccountDeps {
  users: UserStore;
  tokens: TokenStore;
  policy: LoginPolicy;
  tokenTtlMs: number;
  now?: () => number;
  /** A token was revoked (revoke, logout): what it holds open must end (sessions.ts). */
  onRevoked?: () => void;
  /** Token row ids (default `tok_` + 12 random hex). */
  newId?: () => string;
}

const ADMIN_USER: ApiUser = { id: 'admin', email: null, name: 'admin token', admin: true };

const info = (t: TokenRow): TokenInfo => ({
  id: t.id, kind: t.kind, description: t.description, createdAt: t.createdAt, expiresAt: t.expiresAt, lastUsedAt: t.lastUsedAt,
});

export class AccountService {
  private readonly now: () => number;

  constructor(private readonly d: AccountDeps) {
    this.now = d.now ?? Date.now;
  }

  /**
   * The principal of a user token's owner. Access is checked again on every
   * request: removing someone from the allowlist locks out their tokens too.
   */
  principalFor(userId: string): Principal | null {
    const u = this.d.users.get(userId);
    const d = u ? this.d.policy.decideUser(u) : null;
    if (!u || !d?.allowed) return null;
    return { userId: u.id, email: u.email, admin: d.admin };
  }

  /** A new token for a user who just logged in; its value is returned once and never stored. */
  mint(user: UserRow, how: string, notAfter: string | null = null): TokenGrant {
    const token = newToken();
    const now = this.now();
    const ttlEnd = now + this.d.tokenTtlMs;
    const expiresAt = new Date(notAfter === null ? ttlEnd : Math.min(ttlEnd, Date.parse(notAfter))).toISOString();
    this.d.tokens.insert({
      id: this.d.newId?.() ?? randomId('tok'),
      hash: hashToken(token),
      userId: user.id,
      kind: 'user',
      description: `${how === 'dashboard' ? 'dashboard session' : `fcm login (${how})`} ${user.email ?? user.subject}`.slice(0, 200),
      createdAt: new Date(now).toISOString(),
      expiresAt,
    });
    return { token, expiresAt, user: this.apiUser(user) };
  }

  /**
   * A browser session's own token, bought with a token the user pasted into
   * the dashboard: same user, expiring no later than the pasted one, so
   * signing out of the browser (which revokes it) leaves the pasted token
   * alone. Null for the admin token, which is kept as it is (it has no user
   * to mint for, and cannot be revoked through the API anyway).
   */
  mintSession(p: Principal): TokenGrant | null {
    const t = this.current(p);
    if (t.kind === 'admin') return null;
    const u = this.d.users.get(p.userId);
    if (!u) throw new FcmError('unauthorized', 'This token belongs to no user.');
    const grant = this.mint(u, 'dashboard', t.expiresAt);
    return grant;
  }

  whoami(p: Principal): { user: ApiUser; token: TokenInfo } {
    const t = this.current(p);
    if (t.kind === 'admin') return { user: ADMIN_USER, token: info(t) };
    const u = this.d.users.get(p.userId);
    if (!u) throw new FcmError('unauthorized', 'This token belongs to no user.');
    return { user: this.apiUser(u), token: info(t) };
  }

  logout(p: Principal): void {
    const t = this.current(p);
    if (t.kind === 'admin') {
      throw new FcmError('forbidden', "The admin token is not revoked through the API: delete <state dir>/.token and restart the daemon to rotate it.");
    }
    this.d.tokens.revoke(t.id);
    this.d.onRevoked?.();
  }

  /** Active tokens: the caller's own; an admin sees everyone's. */
  list(p: Principal): TokenInfo[] {
    return this.active(p).map(info);
  }

  revoke(p: Principal, id: string): void {
    const t = this.active(p).find((x) => x.id === id);
    if (!t) throw new FcmError('not_found', `No token ${id}.`);
    if (t.kind === 'admin') {
      throw new FcmError('forbidden', 'The admin token is rotated by deleting <state dir>/.token and restarting the daemon.');
    }
    this.d.tokens.revoke(t.id);
    this.d.onRevoked?.();
  }

  apiUser(u: UserRow): ApiUser {
    const d = this.d.policy.decideUser(u);
    return { id: u.id, email: u.email, name: u.name, admin: d.allowed && d.admin };
  }

  private active(p: Principal): TokenRow[] {
    const now = this.now();
    return this.d.tokens
      .list(p.admin ? null : p.userId)
      .filter((t) => canAccess(p, t.userId) && !t.revokedAt && !(t.expiresAt && Date.parse(t.expiresAt) <= now));
  }

  private current(p: Principal): TokenRow {
    const t = p.tokenId ? this.d.tokens.list(p.userId).find((x) => x.id === p.tokenId) : undefined;
    if (!t || t.revokedAt) throw new FcmError('unauthorized', 'The token is unknown, expired or revoked. Run: fcm login');
    return t;
  }
}
