/**
 * The one parser of `Authorization: Bearer <token>` (RFC 6750 §2.1; the
 * scheme is case-insensitive). Used by the API's auth hook, the console
 * WebSocket upgrade and git over HTTPS. Which token formats are valid is the
 * authenticator's business (TokenAuthenticator), not the header parser's.
 */
export function bearerToken(header: string | undefined): string | null {
  if (typeof header !== 'string') return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1]! : null;
}
