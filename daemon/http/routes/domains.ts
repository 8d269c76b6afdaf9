import type { DomainService } from '../../core/domains.js';
import type { Handler } from '../server.js';

/** Thin handlers for custom-domain verification. */
export function domainHandlers(domains: DomainService): Record<string, Handler> {
  return {
    listDomains: ({ principal, params }) => ({ domains: domains.list(principal, params.name) }),
    verifyDomain: ({ principal, params }) => domains.verify(principal, params.name, params.domain),
  };
}
