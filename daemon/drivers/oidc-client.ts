/**
 * IdentityProvider over any OpenID Connect issuer: discovery
 * (/.well-known/openid-configuration, `issuer` must match exactly), the
 * authorization code flow with PKCE, the device authorization grant
 * (RFC 8628) and ID token verification against the issuer's JWKS.
 * Google is the default issuer; nothing here is Google-specific except
 * tolerating its `verification_url` spelling.
 *
 * Secrets (client secret, codes, tokens) are sent only in request bodies or
 * the Authorization header, and never appear in errors or logs.
 */
import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
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

interface Metadata {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  device_authorization_endpoint?: string;
  token_endpoint_auth_methods_supported?: string[];
  code_challenge_methods_supported?: string[];
}

interface Client {
  id: string;
  secret: string | null;
}

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

export class OidcError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OidcError';
  }
}

export class OidcClient implements IdentityProvider {
  private meta: Promise<Metadata> | null = null;
  private keys: JWTVerifyGetKey | null = null;
  private readonly web: Client;
  private readonly device: Client;
  private readonly fetch: typeof globalThis.fetch;

  constructor(private readonly o: OidcClientOptions) {
    this.web = { id: o.clientId, secret: o.clientSecret };
    this.device = o.deviceClientId ? { id: o.deviceClientId, secret: o.deviceClientSecret ?? null } : this.web;
    this.fetch = o.fetch ?? globalThis.fetch;
  }

  async capabilities(): Promise<{ browser: boolean; device: boolean }> {
    const m = await this.discover();
    return { browser: true, device: Boolean(m.device_authorization_endpoint) };
  }

  async authorizationUrl(p: { redirectUri: string; state: string; nonce: string; codeChallenge: string }): Promise<string> {
    const m = await this.discover();
    const u = new URL(m.authorization_endpoint);
    const params = {
      response_type: 'code',
      client_id: this.web.id,
      redirect_uri: p.redirectUri,
      scope: this.o.scope ?? 'openid email profile',
      state: p.state,
      nonce: p.nonce,
      code_challenge: p.codeChallenge,
      code_challenge_method: 'S256',
    };
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    return u.toString();
  }

  async redeemCode(p: { code: string; codeVerifier: string; redirectUri: string; nonce: string }): Promise<IdTokenClaims> {
    const m = await this.discover();
    const res = await this.post(m.token_endpoint, this.web, m, {
      grant_type: 'authorization_code',
      code: p.code,
      redirect_uri: p.redirectUri,
      code_verifier: p.codeVerifier,
    });
    if (res.status !== 200) throw new OidcError(`token endpoint answered ${res.status} ${oauthError(res.body)}`);
    return this.verify(res.body, this.web, p.nonce);
  }

  async startDevice(): Promise<DeviceAuthorization> {
    const m = await this.discover();
    if (!m.device_authorization_endpoint) throw new OidcError('the issuer has no device_authorization_endpoint');
    const res = await this.post(m.device_authorization_endpoint, this.device, m, { scope: this.o.scope ?? 'openid email profile' });
    const b = res.body;
    // Google spells it verification_url.
    const uri = str(b.verification_uri) ?? str(b.verification_url);
    if (res.status !== 200 || !str(b.device_code) || !str(b.user_code) || !uri) {
      throw new OidcError(`device authorization endpoint answered ${res.status} ${oauthError(b)}`);
    }
    return {
      deviceCode: b.device_code as string,
      userCode: b.user_code as string,
      verificationUri: uri,
      verificationUriComplete: str(b.verification_uri_complete),
      intervalSec: typeof b.interval === 'number' && b.interval > 0 ? b.interval : 5,
      expiresInSec: typeof b.expires_in === 'number' && b.expires_in > 0 ? b.expires_in : 600,
    };
  }

  async pollDevice(deviceCode: string): Promise<DevicePoll> {
    const m = await this.discover();
    const res = await this.post(m.token_endpoint, this.device, m, { grant_type: DEVICE_GRANT, device_code: deviceCode });
    if (res.status === 200) return { status: 'ok', claims: await this.verify(res.body, this.device, null) };
    switch (res.body.error) {
      case 'authorization_pending':
        return { status: 'pending' };
      case 'slow_down':
        return { status: 'slow_down' };
      case 'access_denied':
        return { status: 'denied' };
      case 'expired_token':
        return { status: 'expired' };
    }
    throw new OidcError(`token endpoint answered ${res.status} ${oauthError(res.body)}`);
  }

  private async verify(body: Record<string, unknown>, client: Client, nonce: string | null): Promise<IdTokenClaims> {
    const idToken = str(body.id_token);
    if (!idToken) throw new OidcError('the token response has no id_token (is the "openid" scope allowed?)');
    await this.discover();
    return verifyIdToken(idToken, { issuer: this.o.issuer, audience: client.id, nonce, keys: this.keys! });
  }

  /** Discovery, cached; a failure is retried on the next call. */
  private discover(): Promise<Metadata> {
    this.meta ??= this.load().catch((e) => {
      this.meta = null;
      throw e;
    });
    return this.meta;
  }

  private async load(): Promise<Metadata> {
    const url = `${this.o.issuer}/.well-known/openid-configuration`;
    const res = await this.fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(this.o.timeoutMs ?? 10_000), redirect: 'error' });
    if (!res.ok) throw new OidcError(`discovery at ${url} answered ${res.status}`);
    const m = (await res.json()) as Metadata;
    // OIDC Discovery §4.3: the issuer in the document must be exactly the one configured.
    if (m.issuer !== this.o.issuer) throw new OidcError(`discovery at ${url} names issuer "${m.issuer}", not "${this.o.issuer}"`);
    const secure = new URL(this.o.issuer).protocol === 'https:';
    for (const k of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'device_authorization_endpoint'] as const) {
      const v = m[k];
      if (v === undefined && k === 'device_authorization_endpoint') continue;
      let u: URL;
      try {
        u = new URL(String(v));
      } catch {
        throw new OidcError(`discovery: ${k} is not a URL`);
      }
      if (secure && u.protocol !== 'https:') throw new OidcError(`discovery: ${k} is not https`);
    }
    if (m.code_challenge_methods_supported && !m.code_challenge_methods_supported.includes('S256')) {
      throw new OidcError('the issuer does not support PKCE with S256');
    }
    this.keys = createRemoteJWKSet(new URL(m.jwks_uri), { timeoutDuration: this.o.timeoutMs ?? 10_000 });
    return m;
  }

  /** A form POST with client authentication (client_secret_basic unless only client_secret_post is offered; public clients send client_id). */
  private async post(url: string, client: Client, m: Metadata, form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    const body = new URLSearchParams(form);
    const methods = m.token_endpoint_auth_methods_supported ?? ['client_secret_basic'];
    if (!client.secret) {
      body.set('client_id', client.id);
    } else if (methods.includes('client_secret_basic') || !methods.includes('client_secret_post')) {
      // RFC 6749 §2.3.1: id and secret are form-urlencoded before base64.
      const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
      headers.authorization = `Basic ${Buffer.from(`${enc(client.id)}:${enc(client.secret)}`).toString('base64')}`;
    } else {
      body.set('client_id', client.id);
      body.set('client_secret', client.secret);
    }
    const res = await this.fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(this.o.timeoutMs ?? 10_000), redirect: 'error' });
    let parsed: unknown;
    try {
      parsed = await res.json();
    } catch {
      parsed = {};
    }
    return { status: res.status, body: parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {} };
  }
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v ? v : null;
}

/** The OAuth error code only (descriptions may echo input). */
function oauthError(b: Record<string, unknown>): string {
  return typeof b.error === 'string' && /^[a-z_]{1,64}$/.test(b.error) ? `(${b.error})` : '';
}
