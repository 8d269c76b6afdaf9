/**
 * OpenID Connect ID token verification (OIDC Core §3.1.3.7): signature
 * against the issuer's keys (JWKS), `iss`, `aud` (+ `azp` when there are
 * several audiences), `exp`/`iat`, and the `nonce` we sent. Only asymmetric
 * algorithms: `none` and HMAC (which would use the client secret) are refused.
 */
import { timingSafeEqual } from 'node:crypto';
import { errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { IdTokenClaims } from './ports/identity.js';

export const ID_TOKEN_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

export interface IdTokenExpectations {
  issuer: string;
  audience: string;
  /** The nonce sent in the authorization request; null when none was sent (device flow). */
  nonce: string | null;
  keys: JWTVerifyGetKey;
  /** Seconds of clock skew tolerated on exp/iat/nbf. */
  clockToleranceSec?: number;
  now?: () => number;
}

/** Why a token was refused; the message never contains the token. */
export class IdTokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IdTokenError';
  }
}

export async function verifyIdToken(jwt: string, x: IdTokenExpectations): Promise<IdTokenClaims> {
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(jwt, x.keys, {
      issuer: x.issuer,
      audience: x.audience,
      algorithms: ID_TOKEN_ALGORITHMS,
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat'],
      clockTolerance: x.clockToleranceSec ?? 60,
      ...(x.now ? { currentDate: new Date(x.now()) } : {}),
    }));
  } catch (e) {
    throw new IdTokenError(`ID token refused: ${describe(e)}`);
  }
  const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  if (aud.length > 1 && payload.azp !== x.audience) throw new IdTokenError('ID token refused: several audiences and azp is not this client');
  if (payload.azp !== undefined && payload.azp !== x.audience) throw new IdTokenError('ID token refused: azp is not this client');
  if (x.nonce !== null) {
    if (typeof payload.nonce !== 'string' || !sameString(payload.nonce, x.nonce)) throw new IdTokenError('ID token refused: nonce mismatch');
  }
  const str = (v: unknown) => (typeof v === 'string' && v ? v : null);
  return {
    issuer: payload.iss!,
    subject: payload.sub!,
    email: str(payload.email),
    // Only a real boolean true counts (some providers send "false" strings; "true" strings are not trusted either).
    emailVerified: payload.email_verified === true,
    name: str(payload.name),
    hd: str(payload.hd) ?? undefined,
  };
}

export function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

function describe(e: unknown): string {
  if (e instanceof joseErrors.JWTExpired) return 'expired';
  if (e instanceof joseErrors.JWTClaimValidationFailed) return `claim ${e.claim} ${e.reason === 'check_failed' ? 'does not match' : e.reason}`;
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return 'bad signature';
  if (e instanceof joseErrors.JWKSNoMatchingKey) return 'signed with a key the issuer does not publish';
  if (e instanceof joseErrors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (e instanceof joseErrors.JWSInvalid || e instanceof joseErrors.JWTInvalid) return 'malformed';
  if (e instanceof joseErrors.JOSEError) return e.code;
  return (e as Error)?.message ?? String(e);
}
