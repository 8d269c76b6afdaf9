/**
 * DNS TXT lookups (custom-domain verification, core/domains.ts). Driver:
 * DnsTxt (drivers/dns-txt.ts, node:dns against FCM_DNS_RESOLVERS); twin:
 * MemoryTxt (drivers/memory/memory-txt.ts); contract:
 * test/unit/contracts/domain-ports.test.ts.
 */

export interface TxtResolver {
  /** The TXT records at `name`, each as its joined strings; [] when there are none (NXDOMAIN, NODATA). Throws on other failures. */
  txt(name: string): Promise<string[]>;
}
