/**
 * Turns openapi.yaml into route definitions: fastify URL, the JSON Schemas
 * that validate params/query/body, response schemas by status, and whether
 * the operation needs a bearer token. Validation therefore comes from the
 * spec itself, never from hand-copied schemas.
 */
export type Json = Record<string, any>;

export interface OperationRoute {
  operationId: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** OpenAPI path, e.g. /v1/vms/{name} */
  path: string;
  /** fastify path, e.g. /v1/vms/:name */
  url: string;
  auth: boolean;
  /**
   * How requests without a token are limited per client address (limits.ts):
   * `x-rate-limit: login` in the spec, else `public`. Only meaningful when
   * the operation can be called without a token.
   */
  rateLimit: 'login' | 'public';
  /** Served by a WebSocket handler registered outside the JSON route machinery. */
  websocket: boolean;
  bodyRequired: boolean;
  schema: { params?: Json; querystring?: Json; body?: Json };
  /** status code ("200", "default") → schema (null = no body) */
  responses: Record<string, Json | null>;
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

/** Inlines every local $ref (the spec has no recursive schemas). */
export function derefAll(spec: Json, node: unknown, depth = 0): any {
  if (depth > 50) throw new Error('$ref nesting too deep (recursive schema?)');
  if (Array.isArray(node)) return node.map((n) => derefAll(spec, n, depth + 1));
  if (!node || typeof node !== 'object') return node;
  const obj = node as Json;
  if (typeof obj.$ref === 'string') {
    const target = (obj.$ref as string).replace(/^#\//, '').split('/').reduce((o: any, k) => o?.[k], spec);
    if (target === undefined) throw new Error(`unresolved $ref ${obj.$ref}`);
    const { $ref: _ignored, ...rest } = obj;
    return derefAll(spec, { ...target, ...rest }, depth + 1);
  }
  const out: Json = {};
  for (const [k, v] of Object.entries(obj)) out[k] = derefAll(spec, v, depth + 1);
  return out;
}

export function operationRoutes(spec: Json): OperationRoute[] {
  const routes: OperationRoute[] = [];
  const globalSecurity: unknown[] = spec.security ?? [];
  for (const [path, rawItem] of Object.entries<Json>(spec.paths ?? {})) {
    const item = derefAll(spec, rawItem) as Json;
    for (const m of METHODS) {
      const op = item[m] as Json | undefined;
      if (!op) continue;
      const params: Json[] = [...(item.parameters ?? []), ...(op.parameters ?? [])];
      const schema: OperationRoute['schema'] = {};
      const group = (where: string) => {
        const ps = params.filter((p) => p.in === where);
        if (!ps.length) return undefined;
        return {
          type: 'object',
          properties: Object.fromEntries(ps.map((p) => [p.name, { ...p.schema, ...(p.description ? { description: p.description } : {}) }])),
          required: ps.filter((p) => p.required).map((p) => p.name),
          // x-extra-query: the operation ignores query parameters it does not know (OAuth redirects).
          additionalProperties: where === 'path' || (where === 'query' && op['x-extra-query'] === true),
        };
      };
      const pp = group('path');
      if (pp) schema.params = pp;
      const qp = group('query');
      if (qp) schema.querystring = qp;
      const body = op.requestBody?.content?.['application/json']?.schema;
      if (body) schema.body = body;
      const responses: Record<string, Json | null> = {};
      for (const [code, r] of Object.entries<Json>(op.responses ?? {})) {
        const content = r.content ?? {};
        responses[code] = content['application/json']?.schema ?? content['application/problem+json']?.schema ?? null;
      }
      const rateLimit = op['x-rate-limit'] ?? 'public';
      if (rateLimit !== 'login' && rateLimit !== 'public') throw new Error(`${op.operationId}: x-rate-limit must be login or public, got ${JSON.stringify(rateLimit)}`);
      routes.push({
        operationId: op.operationId,
        rateLimit,
        method: m.toUpperCase() as OperationRoute['method'],
        path,
        url: path.replace(/\{([^}]+)\}/g, ':$1'),
        // Required unless the operation lists an empty alternative ({}), i.e. "or no credentials".
        auth: ((op.security ?? globalSecurity) as Json[]).length > 0 && !((op.security ?? globalSecurity) as Json[]).some((s) => Object.keys(s).length === 0),
        websocket: Boolean(op['x-websocket']),
        bodyRequired: Boolean(op.requestBody?.required),
        schema,
        responses,
      });
    }
  }
  return routes;
}
