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
import type { Principal, VmRecord } from '../core/model.js';
import type { HostRecord } from '../core/ports/host-registry.js';
import { parseSubnet } from '../core/planners/network-plan.js';
import { planPlacement } from '../core/planners/placement.js';

export interface ClusterHttp {
  /** The principal a forwarded request's signature vouches for (re-checked against the allowlists), and the sending host; null: refused. */
  authenticate(header: string, method: string, url: string): { from: string; principal: Principal } | null;
  /** The API base URL of the live host that runs VM `name`, when that is another host; null: handle here. */
  ownerOf(name: string): string | null;
  /** The signature header for forwarding `method url` on behalf of `p`. */
  sign(p: Principal, method: string, url: string): string;
  /**
   * Where a new VM goes (core/planners/placement.ts over the hosts and rows
   * as they are now, leaving out `tried`): another host's id and API URL, or
   * null for this host — also when nothing fits or the pin is invalid, so the
   * local create gives the refusal.
   */
  placeCreate(need: { vcpus: number; memoryMib: number; diskMib: number }, pin: string | undefined, tried: ReadonlySet<string>): { id: string; apiUrl: string } | null;
}

/** The daemon's ClusterHttp: who runs a VM, whether that host is up, and the key. */
export function clusterHttp(d: {
  key: Buffer;
  self: string;
  hosts(): HostRecord[];
  rows(): VmRecord[];
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
      if (!p) return null;
      // What the user signed in with rides along, for this host's own revocation checks (sessions, push tickets).
      const { tokenId, keyId } = v.principal;
      return { from: v.from, principal: { ...p, ...(tokenId ? { tokenId } : {}), ...(keyId ? { keyId } : {}) } };
    },
    ownerOf: (name) => {
      const host = d.vmHost(name);
      if (host === null || host === d.self) return null;
      const h = d.host(host);
      // An unreachable host's VM is answered here (host_unreachable), not waited on.
      return h && h.state === 'up' ? h.apiUrl : null;
    },
    sign: (p, method, url) => signForward(d.key, d.self, p, method, url),
    placeCreate: (need, pin, tried) => {
      const hosts = d.hosts().filter((h) => !tried.has(h.id));
      if (!hosts.length) return null;
      let id: string;
      try {
        id = planPlacement(hosts.map((h) => ({ ...h, ...parseSubnet(h.subnetCidr) })), d.rows(), need, pin).host;
      } catch {
        return null;
      }
      if (id === d.self) return null;
      return { id, apiUrl: hosts.find((h) => h.id === id)!.apiUrl };
    },
  };
}

/**
 * A create through this host: placement picks the host; another host gets
 * the request pinned to itself (its own insert re-checks capacity under the
 * database's write lock, so a host two API nodes both picked is never
 * overbooked: the loser is refused there and placed again without it).
 * Returns the reply when forwarded, undefined to create here.
 */
export async function forwardCreate(cluster: ClusterHttp, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
  const body = req.body as { vcpus: number; memoryMib: number; diskMib: number; host?: string };
  const tried = new Set<string>();
  for (;;) {
    const to = cluster.placeCreate(body, body.host, tried);
    if (!to) return undefined;
    const url = req.raw.url ?? '/v1/vms';
    let res: Response;
    try {
      res = await fetch(new URL(url, to.apiUrl), {
        method: 'POST',
        headers: { [CLUSTER_HEADER]: cluster.sign(req.principal!, 'POST', url), 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ ...body, host: to.id }),
        redirect: 'manual',
      });
    } catch {
      if (body.host !== undefined) throw new FcmError('host_unreachable', `Host ${to.id} did not answer.`, { retryAfterSec: 10 });
      tried.add(to.id);
      continue;
    }
    const text = await res.text();
    let code: string | undefined;
    try {
      code = (JSON.parse(text) as { code?: string }).code;
    } catch {
      code = undefined;
    }
    // Full after all (another API node placed there first): place again without it, unless pinned.
    if (body.host === undefined && (code === 'insufficient_capacity' || code === 'ip_pool_exhausted')) {
      tried.add(to.id);
      continue;
    }
    reply.code(res.status);
    for (const h of PASS) {
      const v = res.headers.get(h);
      if (v !== null && h !== 'content-length') reply.header(h, v);
    }
    return reply.send(text);
  }
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
  // Snapshots live beside the VM's disks; a backup export copies its disk (streamed back as it is read).
  'listSnapshots', 'createSnapshot', 'deleteSnapshot', 'restoreSnapshot', 'exportBackup',
  // A fork is made from the parent's memory and disks, so on the parent's host (where it then runs).
  'forkVm',
]);

/** Response headers worth passing back (the rest are hop-by-hop or the other host's own). */
const PASS = ['content-type', 'content-length', 'content-disposition', 'retry-after', 'cache-control', 'x-accel-buffering', 'fcm-parent-paused-ms'];

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
