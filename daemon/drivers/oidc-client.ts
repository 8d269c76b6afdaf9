/**
 * IdentityProvider over any OpenID Connect issuer, on `openid-client` (the
 * maintained certified OIDC relying-party library): discovery (the document's
 * `issuer` must be exactly the one configured), the authorization request
 * with PKCE, the code and device-code grants (RFC 8628) with client
 * authentication chosen from the issuer's metadata. The ID token is then
 * verified once more by core/id-token.ts against the issuer's JWKS (signature,
 * nonce, azp — and the access rules read its claims). Google is the default
 * issuer; nothing here is Google-specific except tolerating its
 * `verification_url` spelling of the device answer.
 *
 * A plain-http issuer is allowed only on loopback (the tests' real provider on
 * 127.0.0.1); anything else must be https. Secrets (client secret, codes,
 * tokens) are sent only in request bodies or the Authorization header, and
 * never appear in errors or logs.
 */
import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import * as oidc from 'openid-client';
import { verifyIdToken } from '../core/id-token.js';
import { type IdTokenClaims } from '../core/ports/identity.js';
import type { DeviceAuthorization, DevicePoll, IdentityProvider } from '../core/ports/identity.js';

export interface OidcClientOptions {
  issuer: string;
  clientId: string;
  clientSecret: string | null;
  /** Separate client for the device flow (Google requires a "TVs and Limited Input" client); default the one above. */
  deviceClientId?: string | null;
  deviceClientSecret?: string | null;
  scope?: string;
  timeoutMs?: number;
  fetch?: typeof globalThis.fetch;
}

interface Client {
  id: string;
  secret: string | null;
}

interface Configs {
  web: oidc.Configuration;
  device: oidc.Configuration;
  keys: JWTVerifyGetKey;
}

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

export class OidcError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OidcError';
  }
}

export class OidcClient implements IdentityProvider {
  private configs: Promise<Configs> | null = null;
  private readonly web: Client;
  private readonly device: Client;
  private readonly fetch: typeof globalThis.fetch;

  constructor(private readonly o: OidcClientOptions) {
    this.web = { id: o.clientId, secret: o.clientSecret };
    this.device = o.deviceClientId ? { id: o.deviceClientId, secret: o.deviceClientSecret ?? null } : this.web;
    this.fetch = o.fetch ?? globalThis.fetch;
  }

  async capabilities(): Promise<{ browser: boolean; device: boolean }> {
    const c = await this.discover();
    return { browser: true, device: Boolean(c.web.serverMetadata().device_authorization_endpoint) };
  }

  async authorizationUrl(p: { redirectUri: string; state: string; nonce: string; codeChallenge: string }): Promise<string> {
    const c = await this.discover();
    return oidc
      .buildAuthorizationUrl(c.web, {
        redirect_uri: p.redirectUri,
        scope: this.o.scope ?? 'openid email profile',
        state: p.state,
        nonce: p.nonce,
        code_challenge: p.codeChallenge,
        code_challenge_method: 'S256',
      })
      .toString();
  }

  async redeemCode(p: { code: string; codeVerifier: string; redirectUri: string; nonce: string }): Promise<IdTokenClaims> {
    const c = await this.discover();
    // The daemon checked state (and iss) at its callback already; this is the token request with the PKCE verifier.
    const tokens = await grant(() => oidc.genericGrantRequest(c.web, 'authorization_code', { code: p.code, redirect_uri: p.redirectUri, code_verifier: p.codeVerifier }));
    return this.verify(tokens.id_token, this.web, p.nonce, c.keys);
  }

  async startDevice(): Promise<DeviceAuthorization> {
    const c = await this.discover();
    if (!c.device.serverMetadata().device_authorization_endpoint) throw new OidcError('the issuer has no device_authorization_endpoint');
    const b = await grant(() => oidc.initiateDeviceAuthorization(c.device, { scope: this.o.scope ?? 'openid email profile' }), 'device authorization endpoint');
    return {
      deviceCode: b.device_code,
      userCode: b.user_code,
      verificationUri: b.verification_uri,
      verificationUriComplete: b.verification_uri_complete ?? null,
      intervalSec: typeof b.interval === 'number' && b.interval > 0 ? b.interval : 5,
      expiresInSec: typeof b.expires_in === 'number' && b.expires_in > 0 ? b.expires_in : 600,
    };
  }

  async pollDevice(deviceCode: string): Promise<DevicePoll> {
    const c = await this.discover();
    // One poll per call (the CLI polls the daemon): openid-client's own loop would hold the request.
    try {
      const tokens = await oidc.genericGrantRequest(c.device, DEVICE_GRANT, { device_code: deviceCode });
      return { status: 'ok', claims: await this.verify(tokens.id_token, this.device, null, c.keys) };
    } catch (e) {
      if (e instanceof oidc.ResponseBodyError) {
        switch (e.error) {
          case 'authorization_pending':
            return { status: 'pending' };
          case 'slow_down':
            return { status: 'slow_down' };
          case 'access_denied':
            return { status: 'denied' };
          case 'expired_token':
            return { status: 'expired' };
        }
      }
      throw failure(e, 'token endpoint');
    }
  }

  private async verify(idToken: string | undefined, client: Client, nonce: string | null, keys: JWTVerifyGetKey): Promise<IdTokenClaims> {
    if (!idToken) throw new OidcError('the token response has no id_token (is the "openid" scope allowed?)');
    return verifyIdToken(idToken, { issuer: this.o.issuer, audience: client.id, nonce, keys });
  }

  /** Discovery, cached; a failure is retried on the next call. */
  private discover(): Promise<Configs> {
    this.configs ??= this.load().catch((e) => {
      this.configs = null;
      throw e;
    });
    return this.configs;
  }

  private async load(): Promise<Configs> {
    const issuer = new URL(this.o.issuer);
    const insecure = issuer.protocol === 'http:';
    if (insecure && !['127.0.0.1', 'localhost', '[::1]'].includes(issuer.hostname)) throw new OidcError(`the issuer ${this.o.issuer} must be https (plain http only on loopback)`);
    const timeout = Math.ceil((this.o.timeoutMs ?? 10_000) / 1000);
    const fetchImpl = this.customFetch();
    let web: oidc.Configuration;
    try {
      web = await oidc.discovery(issuer, this.web.id, undefined, oidc.None(), {
        timeout,
        [oidc.customFetch]: fetchImpl,
        ...(insecure ? { execute: [oidc.allowInsecureRequests] } : {}),
      });
    } catch (e) {
      throw failure(e, `discovery at ${this.o.issuer}/.well-known/openid-configuration`);
    }
    const meta = web.serverMetadata();
    // openid-client compares issuers; say so in our words too (OIDC Discovery §4.3).
    if (meta.issuer !== this.o.issuer) throw new OidcError(`discovery names issuer "${meta.issuer}", not "${this.o.issuer}"`);
    if (meta.code_challenge_methods_supported && !meta.code_challenge_methods_supported.includes('S256')) {
      throw new OidcError('the issuer does not support PKCE with S256');
    }
    if (!meta.jwks_uri) throw new OidcError('discovery: no jwks_uri');
    const configure = (client: Client) => {
      const c = new oidc.Configuration(meta, client.id, client.secret ? { client_secret: client.secret } : undefined, clientAuth(client, meta.token_endpoint_auth_methods_supported));
      c.timeout = timeout;
      c[oidc.customFetch] = fetchImpl;
      if (insecure) oidc.allowInsecureRequests(c);
      return c;
    };
    return {
      web: configure(this.web),
      device: configure(this.device),
      keys: createRemoteJWKSet(new URL(meta.jwks_uri), { timeoutDuration: this.o.timeoutMs ?? 10_000 }),
    };
  }

  /**
   * The injected fetch, with redirects refused (an endpoint must answer itself),
   * and Google's device answer normalized: it spells `verification_uri` as
   * `verification_url`, which openid-client (rightly, per RFC 8628) requires.
   */
  private customFetch(): oidc.CustomFetch {
    return async (url, options) => {
      const res = await this.fetch(url, { ...options, redirect: 'error' } as RequestInit);
      if (!res.ok || !(res.headers.get('content-type') ?? '').includes('json')) return res;
      const text = await res.clone().text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return res;
      }
      const b = body as Record<string, unknown>;
      if (b && typeof b === 'object' && typeof b.device_code === 'string' && b.verification_uri === undefined && typeof b.verification_url === 'string') {
        const { verification_url, ...rest } = b;
        return new Response(JSON.stringify({ ...rest, verification_uri: verification_url }), { status: res.status, headers: res.headers });
      }
      return res;
    };
  }
}

/** client_secret_basic unless only client_secret_post is offered; public clients send client_id alone. */
function clientAuth(client: Client, methods: string[] | undefined): oidc.ClientAuth {
  if (!client.secret) return oidc.None();
  const offered = methods ?? ['client_secret_basic'];
  return offered.includes('client_secret_basic') || !offered.includes('client_secret_post') ? oidc.ClientSecretBasic(client.secret) : oidc.ClientSecretPost(client.secret);
}

async function grant<T>(call: () => Promise<T>, what = 'token endpoint'): Promise<T> {
  try {
    return await call();
  } catch (e) {
    throw failure(e, what);
  }
}

/** The library's error as ours: the OAuth error code and the status only (descriptions may echo input; no token ever). */
function failure(e: unknown, what: string): OidcError {
  if (e instanceof OidcError) return e;
  if (e instanceof oidc.ResponseBodyError) {
    const code = /^[a-z_]{1,64}$/.test(e.error) ? ` (${e.error})` : '';
    return new OidcError(`${what} answered ${e.status}${code}`);
  }
  const err = e as { code?: unknown; message?: unknown; cause?: unknown };
  const code = typeof err?.code === 'string' ? `${err.code}: ` : '';
  return new OidcError(`${what} failed: ${code}${typeof err?.message === 'string' ? err.message.split('\n')[0] : String(e)}`);
}
