import type { AccountService } from '../../core/accounts.js';
import type { LoginService } from '../../core/login-service.js';
import type { Handler } from '../server.js';

/** Thin handlers for the `auth` tag: each one service call. */
export function authHandlers(login: LoginService, accounts: AccountService): Record<string, Handler> {
  return {
    getAuthConfig: () => login.config(),
    startLogin: ({ body, client }) => login.startLogin(body as Parameters<LoginService['startLogin']>[0], client),
    authCallback: async ({ query, reply }) => {
      const location = await login.callback(query);
      // The location carries a one-time code for the CLI: never cache it, never leak it as a referrer.
      reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer');
      return reply.redirect(location, 302);
    },
    exchangeLoginCode: ({ body, reply }) => {
      reply.header('cache-control', 'no-store');
      return login.exchange(body as Parameters<LoginService['exchange']>[0]);
    },
    startDeviceLogin: ({ client }) => login.startDevice(client),
    pollDeviceLogin: async ({ body, reply }) => {
      reply.header('cache-control', 'no-store');
      return login.pollDevice(body.deviceCode);
    },
    whoami: ({ principal }) => accounts.whoami(principal),
    logout: ({ principal }) => {
      accounts.logout(principal);
    },
    listTokens: ({ principal }) => ({ tokens: accounts.list(principal) }),
    revokeToken: ({ principal, params }) => {
      accounts.revoke(principal, params.id);
    },
  };
}
