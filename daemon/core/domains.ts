/**
 * Custom domains are routed only once their owner has proven control.
 *
 * A domain added to a VM (`domains` on create or update) is a claim: it is
 * stored as pending, gets no Caddy route and no certificate (so nobody can
 * take a name before its owner, or make the shared ACME account fail
 * validations for names that do not point here). To verify it the owner
 * publishes a DNS TXT record
 *
 *   _fcm-challenge.<domain>  TXT  "<token>"
 *
 * where the token is HMAC(domain.key, user id + domain): stable for that
 * user and domain (re-adding a domain, or moving it to another of the
 * user's VMs, needs no new record), different for every other user, and not
 * guessable. The daemon looks it up on request (POST …/domains/{domain}/verify)
 * through its own resolvers (FCM_DNS_RESOLVERS). A domain verified for one VM
 * cannot be claimed or verified by any other; pending claims of a name by
 * several users do not block each other (a squatter's claim never locks the
 * real owner out). Each user may have FCM_QUOTA_PENDING_DOMAINS pending.
 *
 * Why DNS and not an HTTP challenge served through Caddy: a token Caddy
 * serves for a name that points at this server proves only that the name
 * points here — which every tenant of this server could claim alike, first
 * come first served. A TXT record under the domain proves that whoever
 * controls the domain's DNS chose this user.
 *
 * Reserved (never claimable): the daemon's own host name and everything at
 * or under the VM base domain (e.g. `sslip.io`), where VM URLs live.
 */
import { createHmac } from 'node:crypto';
import { FcmError } from './errors.js';
import type { Principal, VmRecord } from './model.js';
import type { TxtResolver } from './ports/txt-resolver.js';
import type { VmStore } from './ports/vm-store.js';

export interface CustomDomain {
  domain: string;
  status: 'pending' | 'verified';
  recordType: 'TXT';
  recordName: string;
  recordValue: string;
}

export interface Reserved {
  /** Exact names (the daemon's own host name). */
  names: readonly string[];
  /** Zones: the name and everything under it (the VM base domain). */
  zones: readonly string[];
}

/** Throws validation_failed for a domain nobody may claim (pure). */
export function checkClaimable(domains: readonly string[], reserved: Reserved, path = '/body/domains'): void {
  const errors: { path: string; message: string }[] = [];
  for (const d of domains) {
    const name = d.toLowerCase().replace(/\.$/, '');
    if (reserved.names.includes(name)) errors.push({ path, message: `${d} is this server's own host name` });
    else {
      const zone = reserved.zones.find((z) => name === z || name.endsWith(`.${z}`));
      if (zone) errors.push({ path, message: `${d} is under ${zone}, which is reserved for VM URLs` });
    }
  }
  if (errors.length) throw new FcmError('validation_failed', `${errors.map((e) => e.message).join('; ')}.`, { errors });
}

/** How many pending (claimed, unverified) domains `owner` would hold with `vm` given `domains`. */
export function pendingAfter(rows: readonly VmRecord[], owner: string, vmId: string | null, domains: readonly string[]): number {
  let n = 0;
  for (const r of rows) {
    if (r.owner !== owner || r.id === vmId) continue;
    n += r.domains.filter((d) => !r.verifiedDomains.includes(d)).length;
  }
  const verifiedHere = rows.find((r) => r.id === vmId)?.verifiedDomains ?? [];
  return n + domains.filter((d) => !verifiedHere.includes(d)).length;
}

export interface DomainServiceDeps {
  store: VmStore;
  resolver: TxtResolver;
  /** Secret for the tokens (`<state>/domain.key`). */
  key: Buffer;
  /** The one ownership check (VmService.get): vm_not_found for VMs the caller may not see. */
  vm(p: Principal, name: string): VmRecord;
  /** Called after a domain is verified (routes follow). */
  changed(vmId: string): void;
}

export const CHALLENGE_LABEL = '_fcm-challenge';

export class DomainService {
  constructor(private readonly d: DomainServiceDeps) {}

  tokenFor(owner: string, domain: string): string {
    return `fcm-${createHmac('sha256', this.d.key).update(`${owner}\n${domain}`).digest('base64url').slice(0, 32)}`;
  }

  describe(vm: VmRecord): CustomDomain[] {
    return vm.domains.map((domain) => ({
      domain,
      status: vm.verifiedDomains.includes(domain) ? 'verified' : 'pending',
      recordType: 'TXT',
      recordName: `${CHALLENGE_LABEL}.${domain}`,
      recordValue: this.tokenFor(vm.owner, domain),
    }));
  }

  list(p: Principal, name: string): CustomDomain[] {
    return this.describe(this.d.vm(p, name));
  }

  /**
   * Looks the TXT record up now; on success the domain is verified and
   * routed. domain_not_verified says what was found instead.
   */
  async verify(p: Principal, name: string, domain: string): Promise<CustomDomain> {
    const vm = this.d.vm(p, name);
    if (!vm.domains.includes(domain)) {
      throw new FcmError('not_found', `${domain} is not a domain of ${name}: add it first (fcm update ${name} --domains …).`);
    }
    const record = `${CHALLENGE_LABEL}.${domain}`;
    const token = this.tokenFor(vm.owner, domain);
    if (!vm.verifiedDomains.includes(domain)) {
      let found: string[];
      try {
        found = await this.d.resolver.txt(record);
      } catch (err) {
        const code = (err as { code?: string }).code ?? (err as Error).message;
        throw new FcmError('domain_not_verified', `Could not look up TXT ${record} (${code}); try again in a moment.`, { cause: err });
      }
      if (!found.includes(token)) {
        throw new FcmError(
          'domain_not_verified',
          found.length
            ? `TXT ${record} has ${found.length} value(s), none of them this VM owner's token. Set it to: ${token}`
            : `No TXT record at ${record}. Create it with the value ${token} (DNS changes can take a while to be visible).`,
        );
      }
      // Re-read and write in one synchronous step: the claim may have been removed meanwhile.
      const cur = this.d.store.get(vm.id);
      if (!cur?.domains.includes(domain)) throw new FcmError('not_found', `${domain} was removed from ${name} meanwhile.`);
      this.d.store.update(vm.id, { verifiedDomains: [...new Set([...cur.verifiedDomains, domain])] });
      this.d.changed(vm.id);
    }
    return this.describe(this.d.store.get(vm.id)!).find((c) => c.domain === domain)!;
  }
}
