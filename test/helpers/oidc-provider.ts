/**
 * A real OpenID Connect provider (the `oidc-provider` package) on
 * 127.0.0.1:<random port> for login tests: discovery, JWKS, authorization
 * code + PKCE, device flow, and its development login/consent pages (any
 * password; the login name picks the account). Never contacts anything.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

export interface TestAccount {
  email: string;
  email_verified: boolean;
  name: string;
  /** Google's hosted-domain claim (a Workspace account); absent for a consumer account. */
  hd?: string;
}

export interface TestProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  close(): Promise<void>;
}

export async function startOidcProvider(opts: { redirectUris: string[]; accounts: Record<string, TestAccount>; deviceIntervalSec?: number }): Promise<TestProvider> {
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_q, r) => r.end();
  const server = createServer((req, res) => handler(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const clientId = 'fcm-test-client';
  const clientSecret = `secret-${Math.random().toString(36).slice(2)}-${Date.now()}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: opts.redirectUris,
        response_types: ['code'],
        grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig' }] },
    features: { devInteractions: { enabled: true }, deviceFlow: { enabled: true } },
    pkce: { methods: ['S256'], required: () => true },
    claims: { openid: ['sub'], email: ['email', 'email_verified', 'hd'], profile: ['name'] },
    // Like Google: the ID token itself carries email and name (not only /userinfo).
    conformIdTokenClaims: false,
    cookies: { keys: ['fcm-test-cookie-key'] },
    findAccount: async (_ctx: unknown, id: string) => {
      const a = opts.accounts[id];
      return a ? { accountId: id, claims: async () => ({ sub: id, ...a }) } : undefined;
    },
  });
  // The device authorization response has no `interval` (clients assume 5 s); tests want it shorter.
  if (opts.deviceIntervalSec) {
    provider.on('device_authorization.success', (_ctx: unknown, body: Record<string, unknown>) => {
      body.interval = opts.deviceIntervalSec;
    });
  }
  handler = provider.callback() as typeof handler;
  return {
    issuer,
    clientId,
    clientSecret,
    close: () =>
      new Promise((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
