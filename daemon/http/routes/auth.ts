import type { AccountService } from '../../core/accounts.js';
import { FcmError } from '../../core/errors.js';
import type { LoginService } from '../../core/login-service.js';
import { ADMIN } from '../../core/tokens.js';
import type { Authenticator, Handler } from '../server.js';
import { LOGIN_COOKIE, clearLoginCookie, clearSessionCookie, csrfFor, readCookie, refuseCrossSite, setLoginCookie, setSessionCookie } from '../session-cookie.js';

/** Thin handlers for the `auth` tag: each one service call (the session ones also set or clear their cookie). */
export function authHandlers(login: LoginService, accounts: AccountService, auth: Authenticator): Record<string, Handler> {
  return {
    getAuthConfig: () => login.config(),
    startLogin: ({ body, client }) => login.startLogin(body as Parameters<LoginService['startLogin']>[0], client),
    authCallback: async ({ req, query, reply }) => {
      const r = await login.finishLogin(query, readCookie(req.headers.cookie, LOGIN_COOKIE) ?? undefined);
      // The location carries a one-time code for the CLI: never cache it, never leak it as a referrer.
      reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer');
      const cookies = [...(r.clearBinding ? [clearLoginCookie(req)] : []), ...(r.session ? [setSessionCookie(req, r.session.token, r.session.expiresAt)] : [])];
      if (cookies.length) reply.header('set-cookie', cookies);
      return reply.redirect(r.location, 302);
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

    getSession: ({ req, principal, reply }) => {
      reply.header('cache-control', 'no-store');
      const w = accounts.whoami(principal);
      return { user: w.user, csrfToken: req.sessionToken ? csrfFor(req.sessionToken) : null, expiresAt: w.token.expiresAt };
    },
    createSession: ({ req, body, reply }) => {
      refuseCrossSite(req);
      const principal = auth.authenticate(body.token);
      if (!principal) throw new FcmError('unauthorized', 'The token is unknown, expired or revoked.');
      const grant = accounts.mintSession(principal);
      const token = grant?.token ?? body.token;
      const w = accounts.whoami(grant ? auth.authenticate(token)! : principal);
      reply.header('cache-control', 'no-store').header('set-cookie', setSessionCookie(req, token, w.token.expiresAt));
      return { user: w.user, csrfToken: csrfFor(token), expiresAt: w.token.expiresAt };
    },
    deleteSession: ({ req, principal, reply }) => {
      // The admin token is not revoked through the API (and was kept as it is): only the cookie goes.
      if (principal.userId !== ADMIN.userId) accounts.logout(principal);
      reply.header('set-cookie', clearSessionCookie(req));
    },
    startSessionLogin: async ({ req, client, reply }) => {
      refuseCrossSite(req);
      const r = await login.startSessionLogin(client);
      const maxAge = Math.max(1, Math.floor((Date.parse(r.expiresAt) - Date.now()) / 1000));
      reply.header('cache-control', 'no-store').header('set-cookie', setLoginCookie(req, r.binding, maxAge));
      return { authorizeUrl: r.authorizeUrl, expiresAt: r.expiresAt };
    },
  };
}
