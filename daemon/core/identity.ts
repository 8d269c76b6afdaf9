/**
 * Ports for login: the identity provider (an OpenID Connect issuer) and the
 * user table. Drivers: OidcClient (daemon/drivers/oidc-client.ts),
 * SqliteUserStore; in-memory twins for tests.
 */
import type { IdTokenClaims } from './id-token.js';

export interface UserRow {
  /** `usr_` + 12 hex; what VMs and tokens point at. */
  id: string;
  /** A user is (issuer, subject): emails can change, subjects do not. */
  issuer: string;
  subject: string;
  email: string | null;
  name: string | null;
  /** Google's hosted-domain claim at the last login (null: none); the allowlist needs it on every request. */
  hd: string | null;
  createdAt: string;
  lastLoginAt: string;
}

export interface UserStore {
  /** Creates the user for (issuer, subject) or refreshes its email, name, hd and lastLoginAt. */
  upsert(u: { issuer: string; subject: string; email: string | null; name: string | null; hd?: string | null }, now: string): UserRow;
  get(id: string): UserRow | undefined;
  /** Users with this email (compared lower-cased); an email can belong to accounts at several issuers. */
  byEmail(email: string): UserRow[];
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

/** One OpenID Connect issuer (discovered), seen from the daemon as its client. */
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
