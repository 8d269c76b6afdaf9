import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Principal } from './model.js';

/**
 * Console tickets: how a browser authenticates a WebSocket (it cannot set an
 * Authorization header on one). A ticket is bound to the user and the VM
 * that asked for it, works once, and only for `ttlMs`. Kept in memory and
 * only as a SHA-256 hash: a daemon restart voids them all, which costs a
 * browser a fresh link at most a minute old.
 */
export interface ConsoleTicketGrant {
  ticket: string;
  expiresAt: Date;
}

interface Entry {
  principal: Principal;
  vmId: string;
  vmName: string;
  expiresAt: number;
}

export interface ConsoleTicketOptions {
  ttlMs?: number;
  /**
   * Outstanding tickets per user at most; beyond that that user's oldest are
   * dropped. There is no shared cap: one user's tickets never push out
   * another's (memory stays bounded: users come from the allowlist, and
   * issuing needs their token).
   */
  perUser?: number;
  now?: () => number;
}

const hash = (t: string) => createHash('sha256').update(t, 'utf8').digest('hex');

export class ConsoleTickets {
  private readonly byHash = new Map<string, Entry>();
  /** Each user's outstanding ticket hashes, oldest first. */
  private readonly byUser = new Map<string, string[]>();
  private readonly ttlMs: number;
  private readonly perUser: number;
  private readonly now: () => number;

  constructor(opts: ConsoleTicketOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 60_000;
    this.perUser = opts.perUser ?? 20;
    this.now = opts.now ?? Date.now;
  }

  issue(principal: Principal, vm: { id: string; name: string }): ConsoleTicketGrant {
    this.sweep();
    const mine = this.byUser.get(principal.userId) ?? [];
    while (mine.length >= this.perUser) this.byHash.delete(mine.shift()!);
    const ticket = `fct_${randomBytes(24).toString('base64url')}`;
    const expiresAt = this.now() + this.ttlMs;
    const key = hash(ticket);
    this.byHash.set(key, { principal: { ...principal }, vmId: vm.id, vmName: vm.name, expiresAt });
    mine.push(key);
    this.byUser.set(principal.userId, mine);
    return { ticket, expiresAt: new Date(expiresAt) };
  }

  /**
   * The principal the ticket was issued to, if it is valid for this VM
   * (`vmName` from the URL; `vmId` checked by the caller after its own
   * ownership lookup). Any redeem attempt uses the ticket up.
   */
  redeem(ticket: string, vmName: string): { principal: Principal; vmId: string } | null {
    const key = hash(ticket);
    const e = this.byHash.get(key);
    if (!e) return null;
    this.forget(key, e);
    if (e.expiresAt <= this.now()) return null;
    const a = Buffer.from(e.vmName);
    const b = Buffer.from(vmName);
    if (a.length !== b.length || !timingSafeEqual(a, b)) return null;
    return { principal: e.principal, vmId: e.vmId };
  }

  get size(): number {
    return this.byHash.size;
  }

  /** Outstanding tickets of one user. */
  sizeOf(userId: string): number {
    return this.byUser.get(userId)?.length ?? 0;
  }

  private forget(key: string, e: Entry): void {
    this.byHash.delete(key);
    const mine = this.byUser.get(e.principal.userId);
    if (!mine) return;
    const i = mine.indexOf(key);
    if (i !== -1) mine.splice(i, 1);
    if (!mine.length) this.byUser.delete(e.principal.userId);
  }

  private sweep(): void {
    const now = this.now();
    for (const [k, e] of this.byHash) if (e.expiresAt <= now) this.forget(k, e);
  }
}
