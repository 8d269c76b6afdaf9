import { pino } from 'pino';
import { spec } from '../../api/spec.gen.js';
import { hashToken, newToken, TokenAuthenticator, type TokenRow, type TokenStore } from '../../daemon/core/tokens.js';
import { buildServer } from '../../daemon/http/server.js';
import { systemHandlers } from '../../daemon/http/routes/system.js';
import { vmHandlers } from '../../daemon/http/routes/vms.js';
import { vmUrl } from '../../daemon/core/planners/url.js';
import { memoryService } from './memory-service.js';
import { pendingHandlers } from '../../daemon/http/routes/pending.js';
import { operationRoutes } from '../../daemon/http/openapi-routes.js';

export class MemoryTokens implements TokenStore {
  rows: TokenRow[] = [];
  insert(t: Omit<TokenRow, 'lastUsedAt' | 'revokedAt'>) {
    this.rows.push({ ...t, lastUsedAt: null, revokedAt: null });
  }
  findByHash(hash: string) {
    return this.rows.find((r) => r.hash === hash);
  }
  listByUser(userId: string) {
    return this.rows.filter((r) => r.userId === userId);
  }
  revoke(id: string) {
    const r = this.rows.find((x) => x.id === id);
    if (r) r.revokedAt = new Date().toISOString();
  }
  revokeAdminExcept(hash: string) {
    let n = 0;
    for (const r of this.rows) if (r.kind === 'admin' && r.hash !== hash && !r.revokedAt) (r.revokedAt = 'now'), n++;
    return n;
  }
}

/** The real HTTP layer (spec validation, problem+json, auth) over in-memory services. */
export async function memoryApi() {
  const h = memoryService();
  const tokens = new MemoryTokens();
  const admin = newToken();
  tokens.insert({ id: 'tok_admin', hash: hashToken(admin), userId: 'admin', kind: 'admin', description: null, createdAt: '', expiresAt: null });
  const implemented = {
    ...vmHandlers(h.service, { urlFor: (n) => vmUrl(n, '64.34.93.45', 'sslip.io'), gitUrls: (n) => ({ ssh: `root@64.34.93.45:${n}.git`, http: `https://64.34.93.45/git/${n}.git` }) }),
    ...systemHandlers({ version: 'test', hypervisor: 'qemu', accel: 'tcg', counts: () => h.service.counts(), checks: async () => ({}) }),
  };
  const app = await buildServer({
    spec,
    log: pino({ level: 'silent' }),
    auth: new TokenAuthenticator(tokens),
    validateResponses: true,
    handlers: { ...implemented, ...pendingHandlers(implemented, operationRoutes(spec).filter((r) => !r.websocket).map((r) => r.operationId)) },
    websocketOperations: ['openConsole'],
  });
  return { app, h, tokens, admin, auth: { authorization: `Bearer ${admin}` } };
}
