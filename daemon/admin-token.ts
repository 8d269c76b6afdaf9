import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashToken, newToken } from './core/tokens.js';
import { type TokenStore } from './core/ports/token-store.js';
import type { Logger } from './log.js';

/**
 * The admin token lives in `<state dir>/.token` (0600), generated on first
 * start; an admin copies it to their laptop's ~/.fcm-token. The database
 * only holds its hash. Replacing or deleting the file rotates it: older
 * admin tokens are revoked at the next start.
 */
export function ensureAdminToken(stateDir: string, tokens: TokenStore, log: Logger): string {
  const path = join(stateDir, '.token');
  let token: string;
  try {
    token = readFileSync(path, 'utf8').trim();
    if ((statSync(path).mode & 0o077) !== 0) {
      chmodSync(path, 0o600);
      log.warn({ path }, 'admin token file was readable by others; fixed to 0600');
    }
  } catch {
    token = newToken();
    writeFileSync(path, `${token}\n`, { mode: 0o600, flag: 'wx' });
    log.info({ path }, 'generated the admin token');
  }
  const hash = hashToken(token);
  if (!tokens.findByHash(hash)) {
    tokens.insert({
      id: `tok_${randomBytes(6).toString('hex')}`, hash, userId: 'admin', kind: 'admin',
      description: 'admin token (<state dir>/.token)', createdAt: new Date().toISOString(), expiresAt: null,
    });
  }
  const revoked = tokens.revokeAdminExcept(hash);
  if (revoked) log.warn({ revoked }, 'revoked previous admin tokens');
  return path;
}
