import { randomBytes } from 'node:crypto';

/**
 * Row ids: `<prefix>_` + 12 random hex. Services take their id source
 * injected (`newId`), beside their clock (`now`), so tests can make both
 * deterministic. Ids are unique, not secret: tokens, tickets and guest
 * entropy stay crypto-random where they are made and are never injected.
 */
export function randomId(prefix: 'vm' | 'tok' | 'key'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}
