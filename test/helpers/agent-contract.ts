/**
 * The guest agent's contract (rootfs/guest/agent-openapi.yaml) as checks, for
 * tests on both sides of it:
 *   checkRequest   — is this request one the document allows? (the fake agent
 *                    refuses any other, so the daemon's client cannot drift)
 *   checkResponse  — is this answer one the document allows? (the real Python
 *                    agent's answers, and the fake's own)
 *   contractDrift  — do the document, the Python agent's route table and
 *                    constants, and the daemon's constants agree?
 * Validation uses the document's own schemas (Ajv, JSON Schema 2020-12, as
 * the daemon does for openapi.yaml), plus what JSON Schema cannot say and the
 * document says in extensions: the line stream of an operation
 * (`x-fcm-stream`) and the status of each error code (`x-fcm-status`).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';
import { derefAll, type Json } from '../../daemon/http/openapi-routes.js';

export const ROOT_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const AGENT_CONTRACT = join(ROOT_DIR, 'rootfs', 'guest', 'agent-openapi.yaml');

const METHODS = ['get', 'put', 'post', 'patch', 'delete'] as const;

export function loadAgentDoc(path = AGENT_CONTRACT): Json {
  const doc = parse(readFileSync(path, 'utf8')) as Json;
  if (doc?.openapi !== '3.1.0' || typeof doc.paths !== 'object') throw new Error(`${path} is not an OpenAPI 3.1 document`);
  return doc;
}

export interface AgentOperation {
  operationId: string;
  method: string;
  /** The template, e.g. /v1/releases/{version}. */
  path: string;
  public: boolean;
  re: RegExp;
  params: Json[];
  requestBody: Json | null;
  responses: Record<string, Json>;
}

export interface Verdict {
  operationId: string | null;
  errors: string[];
}

export interface AgentRequest {
  method: string;
  /** Path and query, as on the request line. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** undefined: not checked here (a body streamed elsewhere); a Buffer, possibly empty: checked. */
  body?: Buffer;
}

export interface AgentResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** What the Python agent says about itself (test/guest/serve_agent.py --describe). */
export interface GuestFacts {
  routes: { method: string; path: string; public: boolean }[];
  envKeyPattern: string;
  resultPrefix: string;
  problemCodes: { status: number; code: string }[];
  resultCodes: string[];
}

/** What the daemon's side holds that must agree with the document. */
export interface DaemonFacts {
  /** openapi.yaml components.schemas.EnvKey.pattern (what users may set). */
  envKeyPattern: string;
  /** daemon/core/deploys-output.ts RESULT_PREFIX (what the stream parser looks for). */
  resultPrefix: string;
}

export interface AgentContract {
  doc: Json;
  operations: AgentOperation[];
  checkRequest(req: AgentRequest): Verdict;
  checkResponse(operationId: string, res: AgentResponse): string[];
  /** For answers to requests outside the document (404, 405): a problem document with a known code. */
  checkProblem(res: AgentResponse): string[];
  envKeyPattern: string;
  resultPrefix: string;
  errorStatus: Record<string, number>;
  resultCodes: string[];
}

const header = (h: AgentRequest['headers'], name: string): string | undefined => {
  const v = h[name.toLowerCase()];
  return Array.isArray(v) ? v.join(', ') : v;
};
const essence = (ct: string | undefined) => (ct ?? '').split(';')[0]!.trim().toLowerCase();

export function agentContract(rawDoc: Json): AgentContract {
  const doc = derefAll(rawDoc, rawDoc) as Json;
  const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
  addFormats.default(ajv);
  ajv.addVocabulary(['x-fcm-status']);
  const cache = new Map<unknown, ValidateFunction>();
  const compile = (schema: Json): ValidateFunction => {
    let v = cache.get(schema);
    if (!v) cache.set(schema, (v = ajv.compile(schema)));
    return v;
  };
  const describe = (v: ValidateFunction, where: string) =>
    (v.errors ?? []).map((e) => {
      const p = (e.params ?? {}) as Record<string, unknown>;
      const extra = 'additionalProperty' in p ? ` (${String(p.additionalProperty)})` : 'allowedValues' in p ? ` (${JSON.stringify(p.allowedValues)})` : e.propertyName !== undefined ? ` (property name ${JSON.stringify(e.propertyName)})` : 'propertyName' in p ? ` (property name ${JSON.stringify(p.propertyName)})` : '';
      return `${where}${e.instancePath} ${e.message}${extra}`;
    });

  const operations: AgentOperation[] = [];
  for (const [path, item] of Object.entries<Json>(doc.paths)) {
    const names: string[] = [];
    const re = new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{([^}]+)\\?\}/g, (_m, n: string) => (names.push(n), '([^/]+)'))}$`);
    for (const m of METHODS) {
      const op = item[m] as Json | undefined;
      if (!op) continue;
      const security = (op.security ?? doc.security ?? []) as Json[];
      operations.push({
        operationId: op.operationId,
        method: m.toUpperCase(),
        path,
        public: security.length === 0 || security.some((s) => Object.keys(s).length === 0),
        re,
        params: [...(item.parameters ?? []), ...(op.parameters ?? [])],
        requestBody: op.requestBody ?? null,
        responses: op.responses ?? {},
      });
    }
  }

  // Every schema compiles up front (strict mode): a misspelt keyword fails loading, not a late check.
  for (const op of operations) {
    for (const p of op.params) compile(p.schema);
    for (const m of Object.values<Json>(op.requestBody?.content ?? {})) compile(m.schema);
    for (const r of Object.values<Json>(op.responses)) {
      for (const h of Object.values<Json>(r.headers ?? {})) compile(h.schema);
      for (const m of Object.values<Json>(r.content ?? {})) {
        compile(m.schema);
        if (m['x-fcm-stream']?.result) compile(m['x-fcm-stream'].result);
      }
    }
  }

  /** A string from the wire, as the schema's type (query and path values are strings). */
  const coerce = (raw: string, schema: Json): unknown => {
    const types = ([] as string[]).concat(schema.type ?? []);
    if (types.includes('integer') && /^-?\d+$/.test(raw)) return Number(raw);
    if (types.includes('boolean') && (raw === 'true' || raw === 'false')) return raw === 'true';
    return raw;
  };

  function checkRequest(req: AgentRequest): Verdict {
    const url = new URL(req.url, 'http://agent');
    const matching = operations.filter((o) => o.re.test(url.pathname));
    if (!matching.length) return { operationId: null, errors: [`${req.method} ${url.pathname}: no such path in the agent contract`] };
    const op = matching.find((o) => o.method === req.method);
    if (!op) return { operationId: null, errors: [`${req.method} ${url.pathname}: the agent contract allows only ${matching.map((o) => o.method).join(', ')} here`] };
    const errors: string[] = [];
    const at = `${op.operationId}:`;
    if (!op.public && !/^Bearer \S+$/.test(header(req.headers, 'authorization') ?? '')) errors.push(`${at} no bearer token`);
    const values = op.re.exec(url.pathname)!.slice(1);
    const pathNames = [...op.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
    const seenQuery = new Set<string>();
    for (const p of op.params) {
      let raw: string | undefined;
      if (p.in === 'path') raw = values[pathNames.indexOf(p.name)];
      else if (p.in === 'query') {
        seenQuery.add(p.name);
        raw = url.searchParams.getAll(p.name).at(-1) ?? undefined;
      } else if (p.in === 'header') raw = header(req.headers, p.name);
      if (raw === undefined) {
        if (p.required) errors.push(`${at} ${p.in} parameter ${p.name} is required`);
        continue;
      }
      const v = compile(p.schema);
      if (!v(coerce(raw, p.schema))) errors.push(...describe(v, `${at} ${p.in} parameter ${p.name}`));
    }
    for (const name of url.searchParams.keys()) if (!seenQuery.has(name)) errors.push(`${at} unknown query parameter ${name}`);
    const ct = essence(header(req.headers, 'content-type'));
    if (!op.requestBody) {
      if (req.body?.length) errors.push(`${at} takes no body`);
      return { operationId: op.operationId, errors };
    }
    const media = op.requestBody.content?.[ct] as Json | undefined;
    if (!media) {
      errors.push(`${at} content-type ${ct || '(none)'} is not one of ${Object.keys(op.requestBody.content ?? {}).join(', ')}`);
      return { operationId: op.operationId, errors };
    }
    if (req.body === undefined) return { operationId: op.operationId, errors };
    if (!req.body.length) {
      if (op.requestBody.required) errors.push(`${at} a body is required`);
      return { operationId: op.operationId, errors };
    }
    if (ct === 'application/json') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(req.body.toString('utf8'));
      } catch (e) {
        errors.push(`${at} body is not JSON: ${(e as Error).message}`);
        return { operationId: op.operationId, errors };
      }
      const v = compile(media.schema);
      if (!v(parsed)) errors.push(...describe(v, `${at} body`));
    }
    return { operationId: op.operationId, errors };
  }

  function checkResponse(operationId: string, res: AgentResponse): string[] {
    const op = operations.find((o) => o.operationId === operationId);
    if (!op) return [`no operation ${operationId} in the agent contract`];
    const at = `${operationId} → ${res.status}:`;
    const spec = op.responses[String(res.status)] ?? (res.status >= 400 ? op.responses.default : undefined);
    if (!spec) return [`${at} status not in the agent contract (${Object.keys(op.responses).join(', ')})`];
    const errors: string[] = [];
    for (const [name, h] of Object.entries<Json>(spec.headers ?? {})) {
      const value = header(res.headers, name);
      if (value === undefined) errors.push(`${at} header ${name} missing`);
      else {
        const v = compile(h.schema);
        if (!v(value)) errors.push(...describe(v, `${at} header ${name}`));
      }
    }
    const content = (spec.content ?? {}) as Record<string, Json>;
    if (!Object.keys(content).length) {
      if (res.body.length) errors.push(`${at} must have no body`);
      return errors;
    }
    const ct = essence(header(res.headers, 'content-type'));
    const media = content[ct];
    if (!media) return [...errors, `${at} content-type ${ct || '(none)'} is not one of ${Object.keys(content).join(', ')}`];
    if (ct === 'application/json' || ct === 'application/problem+json') {
      let body: unknown;
      try {
        body = JSON.parse(res.body.toString('utf8'));
      } catch (e) {
        return [...errors, `${at} body is not JSON: ${(e as Error).message}`];
      }
      const v = compile(media.schema);
      if (!v(body)) errors.push(...describe(v, `${at} body`));
      if (ct === 'application/problem+json' && body && typeof body === 'object') {
        const p = body as { status?: unknown; code?: unknown };
        if (p.status !== res.status) errors.push(`${at} problem status ${String(p.status)} differs from the HTTP status`);
        const expected = errorStatus[String(p.code)];
        if (expected !== undefined && expected !== res.status) errors.push(`${at} code ${String(p.code)} is documented with status ${expected}`);
      }
      return errors;
    }
    const text = res.body.toString('utf8');
    const stream = media['x-fcm-stream'] as Json | undefined;
    if (stream?.kind === 'operation') {
      if (!text.endsWith('\n')) return [...errors, `${at} the stream does not end with a newline`];
      const last = text.slice(0, -1).split('\n').at(-1)!;
      if (!last.startsWith(stream.resultPrefix)) return [...errors, `${at} the last line is not a result line: ${JSON.stringify(last.slice(0, 200))}`];
      let result: unknown;
      try {
        result = JSON.parse(last.slice(stream.resultPrefix.length));
      } catch (e) {
        return [...errors, `${at} the result is not JSON: ${(e as Error).message}`];
      }
      const v = compile(stream.result);
      if (!v(result)) errors.push(...describe(v, `${at} result`));
    } else if (stream?.kind === 'log') {
      if (text && !text.endsWith('\n')) errors.push(`${at} the log does not end with a newline`);
      const re = new RegExp(stream.linePattern);
      for (const line of text.split('\n').slice(0, -1)) if (!re.test(line)) errors.push(`${at} not a log line: ${JSON.stringify(line.slice(0, 200))}`);
    }
    return errors;
  }

  function checkProblem(res: AgentResponse): string[] {
    const at = `${res.status}:`;
    if (essence(header(res.headers, 'content-type')) !== 'application/problem+json') return [`${at} not application/problem+json`];
    let body: { status?: unknown; code?: unknown };
    try {
      body = JSON.parse(res.body.toString('utf8'));
    } catch (e) {
      return [`${at} body is not JSON: ${(e as Error).message}`];
    }
    const v = compile(doc.components.schemas.Problem);
    const errors = v(body) ? [] : describe(v, `${at} body`);
    if (body.status !== res.status) errors.push(`${at} problem status ${String(body.status)} differs from the HTTP status`);
    if (errorStatus[String(body.code)] !== res.status) errors.push(`${at} code ${String(body.code)} is documented with status ${errorStatus[String(body.code)]}`);
    return errors;
  }

  const schemas = doc.components?.schemas ?? {};
  const streamMedia = doc.components?.responses?.OperationStream?.content?.['text/plain']?.['x-fcm-stream'] ?? {};
  const errorStatus = (schemas.AgentErrorCode?.['x-fcm-status'] ?? {}) as Record<string, number>;
  return {
    doc,
    operations,
    checkRequest,
    checkResponse,
    checkProblem,
    envKeyPattern: schemas.EnvKey?.pattern,
    resultPrefix: streamMedia.resultPrefix,
    errorStatus,
    resultCodes: schemas.OperationFailure?.enum ?? [],
  };
}

/**
 * Where the document, the Python agent and the daemon disagree; [] when they
 * agree. Also checks the document against itself (every secured operation can
 * answer 401, every error answer is a problem, every code has a status).
 */
export function contractDrift(rawDoc: Json, guest: GuestFacts, daemon: DaemonFacts): string[] {
  const drift: string[] = [];
  let c: AgentContract;
  try {
    c = agentContract(rawDoc);
  } catch (e) {
    return [`the document does not load: ${(e as Error).message}`];
  }
  const key = (r: { method: string; path: string }) => `${r.method} ${r.path}`;
  const documented = new Map(c.operations.map((o) => [key(o), o]));
  const served = new Map(guest.routes.map((r) => [key(r), r]));
  for (const [k, op] of documented) {
    const r = served.get(k);
    if (!r) drift.push(`${k} (${op.operationId}) is in the document but the agent does not serve it`);
    else if (r.public !== op.public) drift.push(`${k}: the agent serves it ${r.public ? 'without' : 'with'} a token, the document says ${op.public ? 'without' : 'with'}`);
  }
  for (const k of served.keys()) if (!documented.has(k)) drift.push(`${k} is served by the agent but not in the document`);

  if (c.envKeyPattern !== guest.envKeyPattern) drift.push(`EnvKey: the document says ${c.envKeyPattern}, the agent (storage.ENV_KEY) ${guest.envKeyPattern}`);
  if (c.envKeyPattern !== daemon.envKeyPattern) drift.push(`EnvKey: the document says ${c.envKeyPattern}, openapi.yaml ${daemon.envKeyPattern}`);
  if (c.resultPrefix !== guest.resultPrefix) drift.push(`result prefix: the document says ${JSON.stringify(c.resultPrefix)}, the agent ${JSON.stringify(guest.resultPrefix)}`);
  if (c.resultPrefix !== daemon.resultPrefix) drift.push(`result prefix: the document says ${JSON.stringify(c.resultPrefix)}, the daemon ${JSON.stringify(daemon.resultPrefix)}`);

  const enumCodes = new Set<string>(c.doc.components?.schemas?.AgentErrorCode?.enum ?? []);
  for (const code of enumCodes) if (!(code in c.errorStatus)) drift.push(`error code ${code} has no status in x-fcm-status`);
  for (const code of Object.keys(c.errorStatus)) if (!enumCodes.has(code)) drift.push(`x-fcm-status lists ${code}, which AgentErrorCode does not`);
  const agentCodes = new Map<string, Set<number>>();
  for (const { code, status } of guest.problemCodes) agentCodes.set(code, (agentCodes.get(code) ?? new Set()).add(status));
  for (const [code, statuses] of agentCodes) {
    if (!enumCodes.has(code)) drift.push(`the agent answers error code ${code}, which the document does not list`);
    for (const s of statuses) if (code in c.errorStatus && c.errorStatus[code] !== s) drift.push(`the agent answers ${code} with status ${s}, the document says ${c.errorStatus[code]}`);
  }
  for (const code of enumCodes) if (!agentCodes.has(code)) drift.push(`the document lists error code ${code}, which the agent never answers`);
  const resultCodes = new Set(guest.resultCodes);
  for (const code of resultCodes) if (!c.resultCodes.includes(code)) drift.push(`the agent fails operations with ${code}, which OperationFailure does not list`);
  for (const code of c.resultCodes) if (!resultCodes.has(code)) drift.push(`OperationFailure lists ${code}, which the agent never sends`);

  for (const op of c.operations) {
    if (!op.operationId) drift.push(`${key(op)} has no operationId`);
    if (!op.public && !op.responses['401']) drift.push(`${op.operationId} needs a token but documents no 401`);
    if (!op.responses.default) drift.push(`${op.operationId} documents no default (problem) answer`);
    for (const [status, r] of Object.entries<Json>(op.responses)) {
      if ((status === 'default' || Number(status) >= 400) && !r.content?.['application/problem+json']) drift.push(`${op.operationId} ${status} is not a problem+json answer`);
    }
  }
  return drift;
}

/**
 * A planted change to the document (test/fixtures/agent-contract/planted.yaml):
 * `set` or `remove` at a JSON pointer.
 */
export interface Mutation {
  name: string;
  op: 'set' | 'remove';
  pointer: string;
  value?: unknown;
}

export function mutate(doc: Json, m: Mutation): Json {
  const copy = structuredClone(doc);
  const parts = m.pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  const last = parts.pop()!;
  const parent = parts.reduce((o: any, k) => {
    if (!o || typeof o !== 'object' || !(k in o)) throw new Error(`${m.name}: ${m.pointer} does not exist in the document`);
    return o[k];
  }, copy);
  if (m.op === 'remove') {
    if (!(last in parent)) throw new Error(`${m.name}: ${m.pointer} does not exist in the document`);
    delete parent[last];
  } else parent[last] = m.value;
  return copy;
}
