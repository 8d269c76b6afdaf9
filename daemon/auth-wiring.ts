/**
 * The login half of the composition root (daemon/main.ts), kept apart so
 * tests can build the same auth stack over their own stores: config →
 * policy, OIDC client, account and login services, the bearer
 * authenticator, the live sessions revocation ends, and the `auth` handlers.
 */
import type { AccessConfig, OidcConfig } from './config.js';
import { LoginPolicy, type AccessRules } from './core/access.js';
import { LiveSessions } from './core/sessions.js';
import { AccountService } from './core/accounts.js';
import type { IdentityProvider } from './core/ports/identity.js';
import type { UserStore } from './core/ports/user-store.js';
import { LoginService, type LoginDeps } from './core/login-service.js';
import { TokenAuthenticator } from './core/tokens.js';
import { type TokenStore } from './core/ports/token-store.js';
import { OidcClient } from './drivers/oidc-client.js';
import { authHandlers } from './http/routes/auth.js';
import type { Logger } from './log.js';

export interface AuthWiringConfig {
  oidc: OidcConfig | null;
  access: AccessConfig;
  tokenTtlDays: number;
}

export interface AuthWiringDeps {
  tokens: TokenStore;
  users: UserStore;
  /** The daemon's external base URL; the OIDC redirect URI is `<publicUrl>/v1/auth/callback`. */
  publicUrl: string;
  log: Logger;
  /** Tests may swap the identity provider. */
  idp?: IdentityProvider | null;
  fetch?: typeof globalThis.fetch;
  now?: () => number;
  limits?: LoginDeps['limits'];
  /** The sessions' safety-net sweep (default 5 s; 0: only events). */
  sweepMs?: number;
}

export function wireAuth(cfg: AuthWiringConfig, d: AuthWiringDeps) {
  const policy = new LoginPolicy(cfg.access, cfg.oidc?.googleHostedDomains ?? false);
  // What revocation ends: a revoke or logout checks every open session once the request answered.
  const accounts: AccountService = new AccountService({
    users: d.users,
    tokens: d.tokens,
    policy,
    tokenTtlMs: cfg.tokenTtlDays * 86_400_000,
    ...(d.now ? { now: d.now } : {}),
    onRevoked: () => sessions.soon(),
  });
  const authenticator = new TokenAuthenticator(d.tokens, (userId) => accounts.principalFor(userId), d.now);
  const sessions = new LiveSessions({ valid: (p) => authenticator.stillValid(p), log: d.log.child({ svc: 'sessions' }), sweepMs: d.sweepMs ?? 5000 });
  const idp =
    d.idp !== undefined
      ? d.idp
      : cfg.oidc
        ? new OidcClient({
            issuer: cfg.oidc.issuer,
            clientId: cfg.oidc.clientId,
            clientSecret: cfg.oidc.clientSecret,
            deviceClientId: cfg.oidc.deviceClientId,
            deviceClientSecret: cfg.oidc.deviceClientSecret,
            ...(d.fetch ? { fetch: d.fetch } : {}),
          })
        : null;
  const login = new LoginService({
    idp,
    issuer: cfg.oidc?.issuer ?? null,
    callbackUrl: `${d.publicUrl.replace(/\/+$/, '')}/v1/auth/callback`,
    policy,
    users: d.users,
    accounts,
    log: d.log.child({ svc: 'auth' }),
    ...(d.now ? { now: d.now } : {}),
    ...(d.limits ? { limits: d.limits } : {}),
  });
  if (idp && policy.empty) {
    d.log.warn('login is configured but nobody may log in: set FCM_ALLOWED_EMAILS, FCM_ALLOWED_DOMAINS or FCM_ADMIN_EMAILS');
  }
  return {
    policy,
    accounts,
    login,
    authenticator,
    sessions,
    handlers: authHandlers(login, accounts, authenticator),
    /**
     * New allowlists (a configuration reload, SIGHUP): applied to every
     * token from the next request on, and what removed users hold open ends now.
     */
    reloadAccess(rules: AccessRules): number {
      policy.update(rules);
      return sessions.recheck();
    },
  };
}
