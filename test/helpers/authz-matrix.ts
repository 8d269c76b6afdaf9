/**
 * The authorization matrix, generated from a spec: every operation is called
 * as user A (the owner of the resources in the path), user B, the admin, no
 * token and a revoked token, and each answer is judged by rules that do not
 * name operations — so an operation added to openapi.yaml is covered the
 * moment it exists, implemented or still answering 501.
 *
 * Rules:
 * - no token / revoked token: 401 `unauthorized` for every operation that
 *   needs auth; never 401 for `security: []` ones.
 * - B on A's resource (a path naming A's VM or token): 404
 *   (`vm_not_found` / `not_found`) or 501 `not_implemented`; never 2xx.
 *   B elsewhere: authorized for B's own things (no 401/403).
 * - A and the admin: never 401 (A never 403), never "not found" for A's own
 *   resource; their request must pass validation (else the B row would
 *   prove nothing).
 * - Any 2xx answer to B must not mention A's VM, A's token or A's email.
 * - Operations marked `x-admin-only` (e.g. changing a user's quota): A gets
 *   403 `forbidden` on its own resource, the admin is served.
 * - Nobody gets a 5xx other than 501.
 */
import type { FastifyInstance } from 'fastify';
import { operationRoutes, type Json, type OperationRoute } from '../../daemon/http/openapi-routes.js';

export type Who = 'A' | 'B' | 'admin' | 'none' | 'revoked';
export const WHO: Who[] = ['none', 'revoked', 'B', 'admin', 'A'];

export interface MatrixRow {
  operationId: string;
  who: Who;
  request: string;
  status: number;
  code: string | null;
  /** null when the answer follows the rules, else why not. */
  problem: string | null;
}

export interface MatrixSubject {
  app: FastifyInstance;
  spec: Json;
  adminToken: string;
  /** A fresh token for the user with this email (each call gets its own: logout revokes it). */
  tokenFor(email: string): string;
  /** A token of that user, already revoked. */
  revokedTokenFor(email: string): string;
  /** A fresh token of A's to be the {id} of token operations; returns its id. */
  victimTokenId(email: string): string;
}

const A_EMAIL = 'alice@example.com';
const B_EMAIL = 'bob@example.com';

type Owned = 'vm' | 'token' | 'user';

/** Path parameters that name a resource of A's, and the "not found" code a stranger gets for it. */
function ownedParam(route: OperationRoute, param: string): Owned | null {
  if (param === 'name' && route.path.startsWith('/v1/vms/{name}')) return 'vm';
  if (param === 'id' && route.path.startsWith('/v1/tokens/{id}')) return 'token';
  if (param === 'user' && route.path.startsWith('/v1/users/{user}')) return 'user';
  return null;
}

const NOT_FOUND_CODE = { vm: 'vm_not_found', token: 'not_found', user: 'not_found' } as const;

export async function runMatrix(s: MatrixSubject): Promise<{ rows: MatrixRow[]; websocket: string[] }> {
  const routes = operationRoutes(s.spec);
  const rows: MatrixRow[] = [];
  let n = 0;
  for (const route of routes.filter((r) => !r.websocket)) {
    for (const who of WHO) {
      n++;
      const owner = s.tokenFor(A_EMAIL);
      const vmName = `mx${n}`;
      const created = await s.app.inject({ method: 'POST', url: '/v1/vms', headers: { authorization: `Bearer ${owner}` }, payload: { name: vmName } });
      if (created.statusCode !== 201) throw new Error(`matrix setup: A could not create a VM: ${created.body}`);
      const tokenId = s.victimTokenId(A_EMAIL);
      const owned = new Set<Owned>();

      let url = route.path.replace(/\{([^}]+)\}/g, (_m, p: string) => {
        const kind = ownedParam(route, p);
        if (kind) owned.add(kind);
        if (kind === 'vm') return vmName;
        if (kind === 'token') return tokenId;
        if (kind === 'user') return encodeURIComponent(A_EMAIL);
        return encodeURIComponent(String(sample(route.schema.params?.properties?.[p] ?? { type: 'string' })));
      });
      const query = new URLSearchParams();
      for (const [k, sch] of Object.entries<Json>(route.schema.querystring?.properties ?? {})) {
        // Integers at their minimum (wait timeout 1 s, 0 log lines); others only when required.
        if (sch.type === 'integer' && sch.minimum !== undefined) query.set(k, String(sch.minimum));
        else if ((route.schema.querystring?.required ?? []).includes(k)) query.set(k, String(sample(sch)));
      }
      if ([...query].length) url += `?${query}`;
      const payload = route.schema.body ? sample(route.schema.body) : undefined;

      const token =
        who === 'A' ? s.tokenFor(A_EMAIL) : who === 'B' ? s.tokenFor(B_EMAIL) : who === 'admin' ? s.adminToken : who === 'revoked' ? s.revokedTokenFor(A_EMAIL) : null;
      const res = await s.app.inject({
        method: route.method,
        url,
        headers: token ? { authorization: `Bearer ${token}` } : {},
        ...(payload !== undefined ? { payload: payload as object } : {}),
      });
      let code: string | null = null;
      try {
        code = (res.json() as { code?: string }).code ?? null;
      } catch {
        code = null;
      }
      const adminOnly = (s.spec.paths?.[route.path]?.[route.method.toLowerCase()] as Json | undefined)?.['x-admin-only'] === true;
      const problem = judge(route, who, res.statusCode, code, owned, adminOnly, () => [vmName, tokenId, A_EMAIL].find((x) => res.body.includes(x)) ?? null);
      rows.push({ operationId: route.operationId, who, request: `${route.method} ${url}`, status: res.statusCode, code, problem });

      // Clean up every VM (B may have created one) so the address pool never runs out.
      const all = await s.app.inject({ method: 'GET', url: '/v1/vms', headers: { authorization: `Bearer ${s.adminToken}` } });
      for (const vm of (all.json() as { vms: { name: string }[] }).vms) {
        await s.app.inject({ method: 'DELETE', url: `/v1/vms/${vm.name}`, headers: { authorization: `Bearer ${s.adminToken}` } });
      }
    }
  }
  return { rows, websocket: routes.filter((r) => r.websocket).map((r) => r.operationId) };
}

function judge(route: OperationRoute, who: Who, status: number, code: string | null, owned: Set<Owned>, adminOnly: boolean, leaked: () => string | null): string | null {
  if (status >= 500 && status !== 501) return `server error ${status} ${code}`;
  if (who === 'none' || who === 'revoked') {
    if (route.auth) return status === 401 && code === 'unauthorized' ? null : `needs auth: expected 401 unauthorized, got ${status} ${code}`;
    return status === 401 ? 'security: [] yet 401' : null;
  }
  // An admin-only operation on nothing of A's (listHosts) refuses B as it refuses A.
  if (adminOnly && who === 'B' && !owned.size) return status === 403 && code === 'forbidden' ? null : `admin-only: expected 403 forbidden for B, got ${status} ${code}`;
  if (who === 'B') {
    if (status >= 200 && status < 300) {
      if (owned.size) return `B got ${status} on A's resource`;
      const l = leaked();
      if (l) return `B's ${status} answer mentions A's ${l}`;
    }
    if (owned.size) {
      const ok = (status === 404 && [...owned].some((k) => code === NOT_FOUND_CODE[k])) || (status === 501 && code === 'not_implemented');
      return ok ? null : `B on A's resource: expected 404 (${[...owned].map((k) => NOT_FOUND_CODE[k]).join('/')}) or 501, got ${status} ${code}`;
    }
    return status === 401 || status === 403 ? `B refused its own request: ${status} ${code}` : null;
  }
  // A and the admin
  if (status === 401) return `${who} got 401`;
  if (adminOnly && who === 'A') return status === 403 && code === 'forbidden' ? null : `admin-only: expected 403 forbidden for A, got ${status} ${code}`;
  if (adminOnly && who === 'admin' && (status < 200 || status >= 300)) return `admin-only: the admin got ${status} ${code}`;
  if (who === 'A' && status === 403) return 'A got 403';
  if (status === 404 && [...owned].some((k) => code === NOT_FOUND_CODE[k])) return `${who} cannot find A's own resource (${code})`;
  if (status === 400 && code === 'validation_failed') return `the matrix's request for ${route.operationId} is invalid: fix sample()`;
  return null;
}

/** A small valid value for a JSON Schema (request bodies, path and query parameters). */
export function sample(schema: Json): unknown {
  if (schema.examples?.length) return schema.examples[0];
  if (schema.default !== undefined) return schema.default;
  if (schema.enum) return schema.enum.find((v: unknown) => v !== null);
  const type = Array.isArray(schema.type) ? schema.type.find((t: string) => t !== 'null') : schema.type;
  switch (type) {
    case 'integer':
    case 'number':
      return Math.max(schema.minimum ?? 1, 1);
    case 'boolean':
      return false;
    case 'array':
      return [];
    case 'object': {
      const props: Json = schema.properties ?? {};
      const keys = Object.keys(props).filter((k) => (schema.required ?? []).includes(k));
      if (!keys.length && (schema.minProperties ?? 0) > 0 && Object.keys(props).length) keys.push(Object.keys(props)[0]!);
      return Object.fromEntries(keys.map((k) => [k, sample(props[k])]));
    }
    default: {
      const min = Math.max(schema.minLength ?? 1, 1);
      const candidates = ['http://127.0.0.1:8080/callback', `tok_${'0'.repeat(12)}`, `key_${'0'.repeat(12)}`, 'a'.repeat(min)];
      const re = schema.pattern ? new RegExp(schema.pattern, 'u') : null;
      return candidates.find((c) => (!re || re.test(c)) && c.length >= min && c.length <= (schema.maxLength ?? Infinity)) ?? 'a'.repeat(min);
    }
  }
}

/** Rows as a readable table, for failure messages. */
export function formatRows(rows: MatrixRow[]): string {
  return rows.map((r) => `${r.operationId.padEnd(20)} ${r.who.padEnd(8)} ${String(r.status).padEnd(4)} ${(r.code ?? '').padEnd(18)} ${r.request}${r.problem ? `  ← ${r.problem}` : ''}`).join('\n');
}
