import { Resolver } from 'node:dns/promises';
import type { TxtResolver } from '../core/ports/txt-resolver.js';

const NONE = new Set(['ENOTFOUND', 'ENODATA']);

/**
 * TXT lookups for custom-domain verification through node:dns's c-ares
 * resolver: the system's servers (/etc/resolv.conf), or FCM_DNS_RESOLVERS
 * when set — used for these lookups only, nothing else in the daemon.
 */
export class DnsTxt implements TxtResolver {
  private readonly resolver: Resolver;

  constructor(servers: readonly string[] = [], opts: { timeoutMs?: number; tries?: number } = {}) {
    this.resolver = new Resolver({ timeout: opts.timeoutMs ?? 3000, tries: opts.tries ?? 2 });
    if (servers.length) this.resolver.setServers([...servers]);
  }

  async txt(name: string): Promise<string[]> {
    try {
      return (await this.resolver.resolveTxt(name)).map((chunks) => chunks.join(''));
    } catch (err) {
      if (NONE.has((err as { code?: string }).code ?? '')) return [];
      throw err;
    }
  }
}
