import type { AccountService } from '../../core/accounts.js';
import type { QuotaService } from '../../core/quotas.js';
import type { Handler } from '../server.js';

/** Thin handlers for quotas; `whoami` gains the caller's quota (fcm whoami shows usage against limits). */
export function quotaHandlers(quotas: QuotaService, accounts: AccountService): Record<string, Handler> {
  return {
    getQuota: ({ principal, params }) => quotas.report(quotas.resolveUser(principal, params.user)),
    updateQuota: ({ principal, params, body }) => {
      const id = quotas.resolveUser(principal, params.user);
      quotas.setOverrides(principal, id, body);
      return quotas.report(id);
    },
    whoami: async ({ principal }) => ({ ...accounts.whoami(principal), quota: await quotas.report(principal.userId) }),
  };
}
