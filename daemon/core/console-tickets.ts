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
  /** Outstanding tickets at most; beyond that the oldest are dropped. */
  max?: number;
  now?: () => number;
}

const hash = (t: string) => createHash('sha256').update(t, 'utf8').digest('hex');

export class ConsoleTickets {
  private readonly byHash = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly max: number;
  private readonly now: () => number;

  constructor(opts: ConsoleTicketOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 60_000;
    this.max = opts.max ?? 1000;
    this.now = opts.now ?? Date.now;
  }

  issue(principal: Principal, vm: { id: string; name: string }): ConsoleTicketGrant {
    this.sweep();
    while (this.byHash.size >= this.max) this.byHash.delete(this.byHash.keys().next().value!);
    const ticket = `fct_${randomBytes(24).toString('base64url')}`;
    const expiresAt = this.now() + this.ttlMs;
    this.byHash.set(hash(ticket), { principal: { ...principal }, vmId: vm.id, vmName: vm.name, expiresAt });
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
    this.byHash.delete(key);
    if (e.expiresAt <= this.now()) return null;
    const a = Buffer.from(e.vmName);
    const b = Buffer.from(vmName);
    if (a.length !== b.length || !timingSafeEqual(a, b)) return null;
    return { principal: e.principal, vmId: e.vmId };
  }

  get size(): number {
    return this.byHash.size;
  }

  private sweep(): void {
    const now = this.now();
    for (const [k, e] of this.byHash) if (e.expiresAt <= now) this.byHash.delete(k);
  }
}
