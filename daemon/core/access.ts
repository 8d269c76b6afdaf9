/**
 * The access policy, in one place: who may log in, who is an admin, and
 * who may act on an owned resource (VM, key, token, release...).
 * Services call these; handlers never decide access themselves.
 */
import { FcmError } from './errors.js';
import type { Principal } from './model.js';

/** A principal may act on a resource it owns; admins on every resource. */
export function canAccess(p: Principal, ownerId: string): boolean {
  return p.admin || p.userId === ownerId;
}

/**
 * The resource, if the principal may act on it; otherwise the same error as
 * for a resource that does not exist, so nobody learns what others own.
 */
export function owned<T extends { owner: string }>(p: Principal, resource: T | undefined, notFound: () => FcmError): T {
  if (!resource || !canAccess(p, resource.owner)) throw notFound();
  return resource;
}

export interface AccessRules {
  /** Lower-case ASCII exact emails. */
  emails: readonly string[];
  /** Lower-case ASCII domains; exact match on the part after the last @ (no subdomains). */
  domains: readonly string[];
  /** Lower-case ASCII emails that are admins (and may therefore log in). */
  adminEmails: readonly string[];
}

export interface LoginIdentity {
  email: string;
  emailVerified: boolean;
  /** Google's hosted-domain claim (Workspace accounts only). */
  hd?: string | null | undefined;
}

export type LoginDecision = { allowed: true; admin: boolean } | { allowed: false; reason: string };

/** Google's own consumer domains: Google is authoritative for these addresses without a hosted domain. */
const GOOGLE_CONSUMER_DOMAINS: ReadonlySet<string> = new Set(['gmail.com', 'googlemail.com']);

/**
 * An email as the allowlist compares it: ASCII lower case, or null when it
 * is not plain ASCII. Unicode case folding is not used on purpose: it maps
 * other characters onto ASCII letters (the Kelvin sign K → k, the long s ſ
 * → s with toUpperCase...), so an address that only looks like a listed one
 * would match it.
 */
export function asciiEmail(email: string): string | null {
  if (!/^[\x21-\x7e]+$/.test(email)) return null;
  return email.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/**
 * Default deny: an empty configuration lets nobody in. Having an account at
 * the identity provider is never enough; the verified email must be listed
 * (FCM_ALLOWED_EMAILS, FCM_ADMIN_EMAILS) or its domain (FCM_ALLOWED_DOMAINS).
 *
 * With `googleHostedDomains` (the issuer is Google) the email must also be
 * one Google is authoritative for, whichever rule lets it in: a Gmail
 * address, or an address whose domain equals the ID token's `hd` claim (a
 * Workspace account of that domain). A consumer Google account can carry a
 * verified address at any domain (alice@corp.example, created while Alice
 * could read that mailbox, or by anyone the address once belonged to);
 * only the domain's own Workspace vouches for it now.
 */
export class LoginPolicy {
  private emails: Set<string>;
  private domains: Set<string>;
  private admins: Set<string>;

  constructor(
    rules: AccessRules,
    private readonly googleHostedDomains = false,
  ) {
    this.emails = new Set();
    this.domains = new Set();
    this.admins = new Set();
    this.update(rules);
  }

  /** New lists (a configuration reload); tokens already issued are judged by them from now on. */
  update(rules: AccessRules): void {
    const norm = (xs: readonly string[]) => new Set(xs.map((x) => asciiEmail(x)).filter((x): x is string => x !== null));
    this.emails = norm(rules.emails);
    this.domains = norm(rules.domains);
    this.admins = norm(rules.adminEmails);
  }

  /** Nobody can log in (worth a warning at start). */
  get empty(): boolean {
    return this.emails.size === 0 && this.domains.size === 0 && this.admins.size === 0;
  }

  /**
   * For users who already logged in (every request with their token): the
   * same decision as at login, from the email and `hd` stored at their last
   * login — so removing someone from the lists, or an account that no
   * longer passes the hosted-domain rule, locks out their tokens too.
   */
  decideUser(u: { email: string | null; hd?: string | null | undefined }): LoginDecision {
    if (u.email === null) return { allowed: false, reason: 'no email address' };
    return this.decide({ email: u.email, emailVerified: true, hd: u.hd });
  }

  decide(id: LoginIdentity): LoginDecision {
    if (!id.emailVerified) return { allowed: false, reason: `the identity provider has not verified ${id.email}` };
    const e = asciiEmail(id.email);
    if (e === null) return { allowed: false, reason: `${JSON.stringify(id.email)} is not a plain ASCII address (fcm compares addresses exactly)` };
    const d = domainOf(e);
    if (this.googleHostedDomains) {
      const hd = id.hd ? asciiEmail(id.hd) : null;
      const authoritative = GOOGLE_CONSUMER_DOMAINS.has(d) ? !id.hd : hd === d;
      if (!authoritative) {
        return { allowed: false, reason: `${e} is not an account managed by ${d} (a Google account holding this address is not enough; it must belong to ${d}'s Google Workspace)` };
      }
    }
    if (this.admins.has(e)) return { allowed: true, admin: true };
    if (this.emails.has(e) || this.domains.has(d)) return { allowed: true, admin: false };
    return { allowed: false, reason: `${e} is not allowed on this server` };
  }
}

function domainOf(email: string): string {
  return email.slice(email.lastIndexOf('@') + 1);
}
