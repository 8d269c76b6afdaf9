/**
 * The identity provider: one OpenID Connect issuer, seen from the daemon as
 * its client. Driver: OidcClient (drivers/oidc-client.ts); unit tests use a
 * scripted fake (test/unit/auth/login-service.test.ts), e2e a real OIDC
 * provider on loopback.
 */

/** What the daemon keeps from a verified ID token (core/id-token.ts verifies it). */
export interface IdTokenClaims {
  issuer: string;
  subject: string;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
  hd: string | undefined;
}

export interface DeviceAuthorization {
  deviceCode: string;
  userCode: string;
  verificationUri: string;
  verificationUriComplete: string | null;
  intervalSec: number;
  expiresInSec: number;
}

export type DevicePoll =
  | { status: 'pending' | 'slow_down' | 'denied' | 'expired' }
  | { status: 'ok'; claims: IdTokenClaims };

export interface IdentityProvider {
  /** What the issuer supports (its discovery document); throws when it cannot be reached. */
  capabilities(): Promise<{ browser: boolean; device: boolean }>;
  /** The issuer's authorization URL for the code flow with PKCE (S256), `state` and `nonce`. */
  authorizationUrl(p: { redirectUri: string; state: string; nonce: string; codeChallenge: string }): Promise<string>;
  /** Redeems an authorization code and returns the verified ID token's claims (nonce checked). */
  redeemCode(p: { code: string; codeVerifier: string; redirectUri: string; nonce: string }): Promise<IdTokenClaims>;
  startDevice(): Promise<DeviceAuthorization>;
  /** One poll of the token endpoint for a device code. */
  pollDevice(deviceCode: string): Promise<DevicePoll>;
}
