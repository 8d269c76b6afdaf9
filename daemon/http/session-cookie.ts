/**
 * The dashboard's browser session: an fcm token in an HttpOnly cookie, and
 * the CSRF rule for requests it authenticates.
 *
 * - The cookie is `HttpOnly` (no script, so no XSS, can read it),
 *   `SameSite=Strict` (other sites' pages never send it), `Path=/`; over
 *   HTTPS it is `Secure` and named `__Host-fcm_session`, which browsers
 *   accept only host-only (no `Domain`): an app under the same parent domain
 *   cannot plant one for the daemon (cookie tossing). Over plain HTTP it is
 *   `fcm_session`; only the name of the request's own scheme is read.
 * - The CSRF token is SHA-256 of a label and the session's token: the
 *   server recomputes it from the cookie, so it needs no state; a page that
 *   cannot read the cookie or same-origin responses (any other site) cannot
 *   know it. Every cookie-authenticated request but GET/HEAD must send it as
 *   `X-FCM-CSRF`, and none may say `Sec-Fetch-Site: cross-site`/`same-site`.
 *   (A custom header also forces a CORS preflight, which this server never
 *   grants: a cross-origin page cannot even send such a request.)
 * - The login binding cookie (`fcm_login`) ties a dashboard OIDC login to
 *   the browser that started it; it must be `SameSite=Lax`, because it comes
 *   back on the identity provider's cross-site redirect to the callback.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { FcmError } from '../core/errors.js';

export const CSRF_HEADER = 'x-fcm-csrf';
export const LOGIN_COOKIE = 'fcm_login';
const CALLBACK_PATH = '/v1/auth/callback';
const SAFE = new Set(['GET', 'HEAD']);

/** Over HTTPS (directly, or X-Forwarded-Proto from a trusted proxy: fastify's req.protocol). */
export function isSecure(req: FastifyRequest): boolean {
  return req.protocol === 'https';
}

export function sessionCookieName(secure: boolean): string {
  return secure ? '__Host-fcm_session' : 'fcm_session';
}

/** The value of one cookie in a Cookie header (RFC 6265 §5.4 pairs); the first one wins, as browsers send the most specific first. */
export function readCookie(header: string | string[] | undefined, name: string): string | null {
  if (typeof header !== 'string') return null;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    if (part.slice(0, i).trim() === name) {
      const v = part.slice(i + 1).trim();
      return v.length > 0 && v.length <= 512 ? v : null;
    }
  }
  return null;
}

/** The session token a request carries in its cookie (only the cookie name of its own scheme). */
export function sessionToken(req: FastifyRequest): string | null {
  return readCookie(req.headers.cookie, sessionCookieName(isSecure(req)));
}

export function csrfFor(sessionToken: string): string {
  return createHash('sha256').update('fcm-csrf\0', 'utf8').update(sessionToken, 'utf8').digest('base64url');
}

/**
 * The CSRF rule for a request authenticated by the session cookie; throws
 * `csrf_failed`. Safe methods pass (no operation changes anything on GET).
 */
export function checkCsrf(req: FastifyRequest, token: string): void {
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') {
    throw new FcmError('csrf_failed', 'Requests from other sites cannot use the dashboard session.');
  }
  if (SAFE.has(req.method)) return;
  const sent = req.headers[CSRF_HEADER];
  const want = Buffer.from(csrfFor(token));
  const got = Buffer.from(typeof sent === 'string' ? sent : '');
  if (got.length !== want.length || !timingSafeEqual(got, want)) {
    throw new FcmError('csrf_failed', `A change made with the session cookie needs the ${CSRF_HEADER} header (csrfToken from GET /v1/auth/session).`);
  }
}

/** Refuses a cross-site request outright (the no-token session operations: sign in with a pasted token, start a login). */
export function refuseCrossSite(req: FastifyRequest): void {
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') throw new FcmError('csrf_failed', 'Sign in to the dashboard from the dashboard itself.');
}

function cookie(name: string, value: string, attrs: string[]): string {
  return [`${name}=${value}`, ...attrs].join('; ');
}

/** Set-Cookie for a new session; Max-Age follows the token's expiry (a session cookie for tokens that do not expire). */
export function setSessionCookie(req: FastifyRequest, token: string, expiresAt: string | null, now = Date.now()): string {
  const secure = isSecure(req);
  const maxAge = expiresAt ? Math.max(0, Math.floor((Date.parse(expiresAt) - now) / 1000)) : null;
  return cookie(sessionCookieName(secure), token, ['Path=/', 'HttpOnly', 'SameSite=Strict', ...(secure ? ['Secure'] : []), ...(maxAge !== null ? [`Max-Age=${maxAge}`] : [])]);
}

export function clearSessionCookie(req: FastifyRequest): string {
  const secure = isSecure(req);
  return cookie(sessionCookieName(secure), '', ['Path=/', 'HttpOnly', 'SameSite=Strict', ...(secure ? ['Secure'] : []), 'Max-Age=0']);
}

/** The binding cookie of a dashboard login: sent only to the callback, for the login's lifetime. */
export function setLoginCookie(req: FastifyRequest, binding: string, maxAgeSec: number): string {
  return cookie(LOGIN_COOKIE, binding, [`Path=${CALLBACK_PATH}`, 'HttpOnly', 'SameSite=Lax', ...(isSecure(req) ? ['Secure'] : []), `Max-Age=${maxAgeSec}`]);
}

export function clearLoginCookie(req: FastifyRequest): string {
  return cookie(LOGIN_COOKIE, '', [`Path=${CALLBACK_PATH}`, 'HttpOnly', 'SameSite=Lax', ...(isSecure(req) ? ['Secure'] : []), 'Max-Age=0']);
}
