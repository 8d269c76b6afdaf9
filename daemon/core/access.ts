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
  /** Lower-case exact emails. */
  emails: readonly string[];
  /** Lower-case domains; exact match on the part after the last @ (no subdomains). */
  domains: readonly string[];
  /** Lower-case emails that are admins (and may therefore log in). */
  adminEmails: readonly string[];
}

export interface LoginIdentity {
  email: string;
  emailVerified: boolean;
  /** Google's hosted-domain claim (Workspace accounts only). */
  hd?: string | undefined;
}

export type LoginDecision = { allowed: true; admin: boolean } | { allowed: false; reason: string };

/**
 * Default deny: an empty configuration lets nobody in. Having an account at
 * the identity provider is never enough; the verified email must be listed
 * (FCM_ALLOWED_EMAILS, FCM_ADMIN_EMAILS) or its domain (FCM_ALLOWED_DOMAINS).
 */
export class LoginPolicy {
  private readonly emails: Set<string>;
  private readonly domains: Set<string>;
  private readonly admins: Set<string>;

  constructor(
    rules: AccessRules,
    /**
     * Require the `hd` claim to equal the domain when access comes from a
     * domain rule (Google: a consumer account can carry a verified address
     * at any domain; only Workspace accounts of that domain have `hd`).
     */
    private readonly domainNeedsHd = false,
  ) {
    this.emails = new Set(rules.emails.map((e) => e.toLowerCase()));
    this.domains = new Set(rules.domains.map((d) => d.toLowerCase()));
    this.admins = new Set(rules.adminEmails.map((e) => e.toLowerCase()));
  }

  /** Nobody can log in (worth a warning at start). */
  get empty(): boolean {
    return this.emails.size === 0 && this.domains.size === 0 && this.admins.size === 0;
  }

  isAdmin(email: string | null): boolean {
    return email !== null && this.admins.has(email.toLowerCase());
  }

  /** For tokens already issued: is this email still allowed (the lists may have changed since)? */
  allows(email: string | null): boolean {
    if (email === null) return false;
    const e = email.toLowerCase();
    return this.admins.has(e) || this.emails.has(e) || this.domains.has(domainOf(e));
  }

  decide(id: LoginIdentity): LoginDecision {
    if (!id.emailVerified) return { allowed: false, reason: `the identity provider has not verified ${id.email}` };
    const e = id.email.toLowerCase();
    if (this.admins.has(e)) return { allowed: true, admin: true };
    if (this.emails.has(e)) return { allowed: true, admin: false };
    const d = domainOf(e);
    if (this.domains.has(d)) {
      if (this.domainNeedsHd && id.hd?.toLowerCase() !== d) {
        return { allowed: false, reason: `${id.email} is not an account managed by ${d}` };
      }
      return { allowed: true, admin: false };
    }
    return { allowed: false, reason: `${id.email} is not allowed on this server` };
  }
}

function domainOf(email: string): string {
  return email.slice(email.lastIndexOf('@') + 1);
}
