/**
 * Forwarding between the hosts of a cluster: any daemon answers any call,
 * and one bound to a VM's host (start, stop, delete, wait, logs, env,
 * rollback...) is sent on to the host that runs the VM, signed with the
 * cluster key (core/cluster-auth.ts) on behalf of the caller — the caller's
 * token stays here. The answer streams back as it comes (logs -f).
 */
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CLUSTER_HEADER, signForward, verifyForward } from '../core/cluster-auth.js';
import { FcmError } from '../core/errors.js';
import type { Principal } from '../core/model.js';

export interface ClusterHttp {
  /** The principal a forwarded request's signature vouches for (re-checked against the allowlists), and the sending host; null: refused. */
  authenticate(header: string, method: string, url: string): { from: string; principal: Principal } | null;
  /** The API base URL of the live host that runs VM `name`, when that is another host; null: handle here. */
  ownerOf(name: string): string | null;
  /** The signature header for forwarding `method url` on behalf of `p`. */
  sign(p: Principal, method: string, url: string): string;
}

/** The daemon's ClusterHttp: who runs a VM, whether that host is up, and the key. */
export function clusterHttp(d: {
  key: Buffer;
  self: string;
  vmHost(name: string): string | null;
  host(id: string): { state: 'up' | 'unreachable'; apiUrl: string } | undefined;
  /** The user as they are now (allowlists, admin): a forwarded principal is re-derived, not trusted as sent. */
  principalFor(userId: string): Principal | null;
}): ClusterHttp {
  return {
    authenticate: (header, method, url) => {
      const v = verifyForward(d.key, header, method, url);
      if (!v) return null;
      // The admin token has no user row: its principal is the one signed by a host of the cluster.
      if (v.principal.userId === 'admin') return v;
      const p = d.principalFor(v.principal.userId);
      return p ? { from: v.from, principal: p } : null;
    },
    ownerOf: (name) => {
      const host = d.vmHost(name);
      if (host === null || host === d.self) return null;
      const h = d.host(host);
      // An unreachable host's VM is answered here (host_unreachable), not waited on.
      return h && h.state === 'up' ? h.apiUrl : null;
    },
    sign: (p, method, url) => signForward(d.key, d.self, p, method, url),
  };
}

/**
 * Operations bound to the host that runs the VM: they act on its process,
 * its guest, its Caddy routes or wait for its in-process events. Reads of
 * rows (getVm, listReleases, getEnv, listDomains) are answered by any host
 * from the shared database.
 */
export const FORWARDED = new Set([
  'startVm', 'stopVm', 'restartVm', 'sleepVm', 'deleteVm', 'updateVm', 'waitVm',
  'verifyDomain', 'rollbackVm', 'updateEnv', 'getLogs',
]);

/** Response headers worth passing back (the rest are hop-by-hop or the other host's own). */
const PASS = ['content-type', 'retry-after', 'cache-control', 'x-accel-buffering'];

export async function forwardRequest(cluster: ClusterHttp, base: string, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const url = req.raw.url ?? '/';
  const ac = new AbortController();
  // The client went away: so does the forwarded request (a logs -f, a wait).
  reply.raw.once('close', () => ac.abort());
  const headers: Record<string, string> = { [CLUSTER_HEADER]: cluster.sign(req.principal!, req.method, url), accept: String(req.headers.accept ?? '*/*') };
  let body: string | undefined;
  if (req.method !== 'GET' && req.method !== 'HEAD' && req.body !== undefined) {
    body = JSON.stringify(req.body);
    headers['content-type'] = 'application/json';
  }
  let res: Response;
  try {
    res = await fetch(new URL(url, base), { method: req.method, headers, body, signal: ac.signal, redirect: 'manual' });
  } catch (e) {
    throw new FcmError('host_unreachable', `The VM's host (${new URL(base).host}) did not answer: ${(e as Error).message}`, { retryAfterSec: 10 });
  }
  reply.code(res.status);
  for (const h of PASS) {
    const v = res.headers.get(h);
    if (v !== null) reply.header(h, v);
  }
  return reply.send(res.body ? Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>) : undefined);
}
