/**
 * The internal channel between hosts: a request one daemon forwards to the
 * VM's owning host carries, instead of the user's token (which is never
 * replayed), a signature with the cluster key over who asks and what:
 *
 *   x-fcm-cluster: v1.<from host>.<unix ms>.<base64url principal>.<hex HMAC-SHA256>
 *
 * The MAC covers the sending host, the time, the principal, the method and
 * the path with its query. The receiver accepts it within ±`skewMs` of its
 * clock. The cluster key is made by the first host (random, 32 bytes), kept
 * in the shared database and in each host's state dir (0600).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Principal } from './model.js';

export const CLUSTER_HEADER = 'x-fcm-cluster';

const mac = (key: Buffer, parts: string[]) => createHmac('sha256', key).update(parts.join('\n')).digest('hex');

export function signForward(key: Buffer, from: string, p: Principal, method: string, url: string, now = Date.now()): string {
  // The token or SSH key the caller authenticated with travels too: the owning host re-checks it
  // (revocation cuts a forwarded console; a push's hook re-checks it as on its own host).
  const who = Buffer.from(
    JSON.stringify({ userId: p.userId, email: p.email, admin: p.admin, ...(p.tokenId ? { tokenId: p.tokenId } : {}), ...(p.keyId ? { keyId: p.keyId } : {}) }),
  ).toString('base64url');
  return `v1.${from}.${now}.${who}.${mac(key, ['v1', from, String(now), who, method.toUpperCase(), url])}`;
}

/** The principal a valid header vouches for, with the host that sent it; null when it is malformed, stale or forged. */
export function verifyForward(key: Buffer, header: string, method: string, url: string, now = Date.now(), skewMs = 60_000): { from: string; principal: Principal } | null {
  const m = /^v1\.([a-z0-9-]{1,63})\.(\d{1,15})\.([A-Za-z0-9_-]{1,2000})\.([0-9a-f]{64})$/.exec(header);
  if (!m) return null;
  const [, from, ts, who, sig] = m as unknown as [string, string, string, string, string];
  if (Math.abs(now - Number(ts)) > skewMs) return null;
  const want = Buffer.from(mac(key, ['v1', from, ts, who, method.toUpperCase(), url]), 'hex');
  if (!timingSafeEqual(want, Buffer.from(sig, 'hex'))) return null;
  try {
    const p = JSON.parse(Buffer.from(who, 'base64url').toString()) as Principal;
    if (typeof p.userId !== 'string' || typeof p.admin !== 'boolean') return null;
    return {
      from,
      principal: {
        userId: p.userId,
        email: typeof p.email === 'string' ? p.email : null,
        admin: p.admin,
        ...(typeof p.tokenId === 'string' ? { tokenId: p.tokenId } : {}),
        ...(typeof p.keyId === 'string' ? { keyId: p.keyId } : {}),
      },
    };
  } catch {
    return null;
  }
}
