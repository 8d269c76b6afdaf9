/**
 * Revocation reaches what is already open. Every long-lived thing a token
 * keeps open — a console WebSocket, a `logs -f` stream, a long poll, any
 * request still running — is registered here with the principal that
 * opened it and a way to end it. When a token is revoked, its user logs
 * out, or the allowlist changes, `recheck()` asks again whether each
 * principal is still valid (the token unrevoked and unexpired, its user
 * still allowed, not less of an admin than when it started) and ends those
 * that are not. A sweep every few seconds catches what no event announces
 * (expiry, a change made to the database by another process).
 *
 * Things that are checked when used rather than held open (console tickets,
 * push tickets) ask `valid()` at that moment (and expire on their own).
 */
import type { Principal } from './model.js';

export type StillValid = (p: Principal) => boolean;

interface Live {
  principal: Principal;
  end(reason: string): void;
}

export interface LiveSessionsOptions {
  valid: StillValid;
  log?: { info(o: object, msg: string): void };
  /** The safety-net sweep; 0: none (tests drive recheck()). */
  sweepMs?: number;
}

export const REVOKED_REASON = 'your access was revoked (token revoked or expired, logged out, or removed from the allowlist)';

export class LiveSessions {
  private readonly live = new Set<Live>();
  private timer: NodeJS.Timeout | null = null;
  private soonTimer: NodeJS.Immediate | null = null;

  constructor(private readonly o: LiveSessionsOptions) {}

  /** Registers something `p` holds open; returns its unregister function (call it when it ends by itself). */
  open(principal: Principal, end: (reason: string) => void): () => void {
    const s: Live = { principal, end };
    this.live.add(s);
    return () => void this.live.delete(s);
  }

  /** Is this principal still what it was when it was issued? */
  valid(p: Principal): boolean {
    return this.o.valid(p);
  }

  /**
   * Ends everything whose principal is no longer valid; returns how many.
   * Each principal is checked once, however many sessions it holds.
   */
  recheck(): number {
    const verdict = new Map<string, boolean>();
    const gone = new Set<string>();
    let ended = 0;
    for (const s of [...this.live]) {
      const p = s.principal;
      const key = `${p.tokenId ?? ''}|${p.keyId ?? ''}|${p.userId}|${p.admin}`;
      let ok = verdict.get(key);
      if (ok === undefined) verdict.set(key, (ok = this.o.valid(p)));
      if (ok) continue;
      gone.add(p.userId);
      this.live.delete(s);
      ended++;
      try {
        s.end(REVOKED_REASON);
      } catch {
        /* already gone */
      }
    }
    if (ended) this.o.log?.info({ ended, userIds: [...gone] }, 'revoked access: open sessions ended');
    return ended;
  }

  /**
   * recheck() once the current request has answered: the request that
   * revoked a token (logout) is one of that token's sessions, and its own
   * answer must still go out.
   */
  soon(): void {
    if (this.soonTimer) return;
    this.soonTimer = setImmediate(() => {
      this.soonTimer = null;
      this.recheck();
    });
  }

  start(): void {
    if (this.timer || !this.o.sweepMs) return;
    this.timer = setInterval(() => this.recheck(), this.o.sweepMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.soonTimer) clearImmediate(this.soonTimer);
    this.soonTimer = null;
  }

  get size(): number {
    return this.live.size;
  }
}
