/**
 * A generic Terraform provider (plugin protocol 6) driven by a declarative
 * description: schemas as `AttributeSpec[]`, behaviour as handler objects.
 * The fcm resources plug into this; nothing here knows about fcm itself.
 *
 * Semantics implemented for handlers:
 *  - Values handed to handlers are decoded wire values (see wire.ts): null,
 *    strings, numbers, booleans, arrays, objects and `Unknown` (only in
 *    validate/plan inputs; use `isUnknown`).
 *  - Results of create/update/read/import are merged over their input:
 *    a key the handler leaves out (undefined) keeps the planned/current
 *    value, an explicit null sets null. Extra keys are dropped.
 *  - Thrown errors become error diagnostics (summary = message; `detail`,
 *    `code` and `attribute` properties are used when present, `attribute`
 *    pointing the diagnostic at that attribute in the configuration).
 *  - Private state is passed through untouched.
 */
import * as grpc from '@grpc/grpc-js';
import { createLogger, type Logger } from './log.js';
import { HandshakeError, loadProto, serviceDefinition, servePlugin, type PluginServer, type PluginServerOptions } from './plugin-server.js';
import {
  conform,
  containsUnknown,
  decodeDynamicValue,
  decodeJson,
  encodeDynamicValue,
  isUnknown,
  typeToJson,
  UNKNOWN,
  valuesEqual,
  type CtyType,
  type DynamicValueMsg,
  type Value,
} from './wire.js';

export { isUnknown, UNKNOWN, type Value, type CtyType } from './wire.js';

// ---- public API ------------------------------------------------------------------

export type AttributeType = CtyType;

export interface AttributeSpec {
  name: string;
  /** cty type: 'string' | 'number' | 'bool' | ['list','string'] | ['map','number'] | ['object',{...}] ... */
  type: AttributeType;
  required?: boolean;
  optional?: boolean;
  computed?: boolean;
  sensitive?: boolean;
  deprecated?: boolean;
  description: string;
  /** Changing the value replaces the resource (RequiresReplace). */
  forceNew?: boolean;
  /**
   * Planned value when the configuration leaves this (optional + computed)
   * attribute unset, so the plan shows the real value instead of
   * "(known after apply)" and removing the argument reverts to it.
   */
  default?: unknown;
  /**
   * For computed attributes: keep the prior value in the plan of an in-place
   * update (ids, creation times). Without it, computed-only attributes are
   * "(known after apply)" whenever another argument changes.
   */
  useStateForUnknown?: boolean;
  /** Per-attribute check; return a message to report an error on this attribute. Not called for null/unknown values. */
  validate?: (value: Value) => string | undefined | void;
}

/** One step of an attribute path: attribute name, list index, or map key. */
export type PathStep = string | number | { key: string };

export interface Diagnostic {
  severity: 'error' | 'warning';
  summary: string;
  detail?: string;
  /** Top-level attribute name, or a path such as ['tags', { key: 'env' }] / ['ports', 0]. */
  attribute?: string | PathStep[];
}

export interface HandlerContext {
  /** Aborted when Terraform asks the provider to stop (Ctrl-C). */
  signal: AbortSignal;
  typeName: string;
  log: Logger;
}

export interface PlanResult<State> {
  planned: State;
  /** Names of top-level attributes whose change forces replacement. */
  requiresReplace: string[];
  diagnostics?: Diagnostic[];
}

export interface PlanContext<State> extends HandlerContext {
  config: State;
  /** The built-in plan (see `defaultPlan`), to refine instead of rebuild. */
  defaultPlan(): PlanResult<State>;
}

// Handler state types are loose on purpose: values come from the wire.
/* eslint-disable @typescript-eslint/no-explicit-any */
export interface ResourceHandler<State extends object = Record<string, unknown>> {
  /** ValidateResourceConfig. Values may be unknown (`isUnknown`): skip those. */
  validate?(config: State, ctx: HandlerContext): Diagnostic[] | Promise<Diagnostic[]>;
  /**
   * PlanResourceChange. Default: `proposed` with computed attributes unknown
   * on create (or their `default`), prior computed values kept on update
   * unless an argument changed, `forceNew` attributes that change listed in
   * requiresReplace.
   */
  plan?(prior: State | null, proposed: State, ctx: PlanContext<State>): PlanResult<State> | Promise<PlanResult<State>>;
  /**
   * Attributes the result leaves out keep their planned value; computed
   * attributes arrive as `UNKNOWN` and must be filled in.
   */
  create(planned: State, ctx: HandlerContext): Promise<Partial<State>>;
  /** null = the object is gone (Terraform then plans to create it again). Left-out attributes keep their current value. */
  read(current: State, ctx: HandlerContext): Promise<Partial<State> | null>;
  update(prior: State, planned: State, ctx: HandlerContext): Promise<Partial<State>>;
  delete(prior: State, ctx: HandlerContext): Promise<void>;
  /** `terraform import`: null = no such object. Omit to make the resource not importable. */
  importById?(id: string, ctx: HandlerContext): Promise<State | null>;
}

export interface DataSourceHandler<State extends object = Record<string, unknown>> {
  validate?(config: State, ctx: HandlerContext): Diagnostic[] | Promise<Diagnostic[]>;
  /** Left-out attributes keep their configured value. */
  read(config: State, ctx: HandlerContext): Promise<Partial<State>>;
}

export interface ResourceDefinition<State extends object = any> {
  description?: string;
  /** Schema version recorded in state (default 0). */
  version?: number;
  schema: AttributeSpec[];
  handler: ResourceHandler<State>;
  /** Converts state written by an older schema version (raw JSON object) to the current schema. Default: keep matching attributes. */
  upgradeState?(version: number, raw: Record<string, unknown>): Record<string, unknown>;
}

export interface DataSourceDefinition<State extends object = any> {
  description?: string;
  schema: AttributeSpec[];
  handler: DataSourceHandler<State>;
}

export interface ProviderSpec {
  /** Provider type name, e.g. "fcm" (resource types are "<name>_<thing>"). */
  name: string;
  /** Registry namespace (default "fcm") and host (default "registry.terraform.io"): the source address is host/namespace/name. */
  namespace?: string;
  hostname?: string;
  description?: string;
  providerSchema: AttributeSpec[];
  validateConfig?(config: Record<string, Value>): Diagnostic[] | Promise<Diagnostic[]>;
  /** ConfigureProvider. Values may be unknown when they depend on resources not yet created. */
  configure(config: Record<string, Value>, ctx: { terraformVersion: string; log: Logger }): Promise<void | Diagnostic[]> | void | Diagnostic[];
  resources: Record<string, ResourceDefinition>;
  dataSources: Record<string, DataSourceDefinition>;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/** An error carrying an attribute to point the diagnostic at. */
export class ProviderError extends Error {
  override name = 'ProviderError';
  readonly attribute?: string | PathStep[];
  readonly code?: string;
  readonly detail?: string;
  /**
   * For create/update failures after the remote object was (partly) changed:
   * the state to record anyway (merged over the plan, unknowns become null).
   * Terraform keeps it and marks the resource tainted, so the next apply
   * replaces it instead of leaking it.
   */
  readonly state?: object;
  constructor(message: string, opts: { attribute?: string | PathStep[]; code?: string; detail?: string; state?: object } = {}) {
    super(message);
    if (opts.attribute !== undefined) this.attribute = opts.attribute;
    if (opts.code !== undefined) this.code = opts.code;
    if (opts.detail !== undefined) this.detail = opts.detail;
    if (opts.state !== undefined) this.state = opts.state;
  }
}

/** Source address of the provider, e.g. "registry.terraform.io/fcm/fcm". */
export function providerAddress(spec: ProviderSpec): string {
  return `${spec.hostname ?? 'registry.terraform.io'}/${spec.namespace ?? 'fcm'}/${spec.name}`;
}

/** The object type of a block described by `attrs`. */
export function objectType(attrs: AttributeSpec[]): CtyType {
  const o: Record<string, CtyType> = {};
  for (const a of attrs) o[a.name] = a.type;
  return ['object', o];
}

// ---- schema --------------------------------------------------------------------

function checkSchema(where: string, attrs: AttributeSpec[]): void {
  const seen = new Set<string>();
  for (const a of attrs) {
    if (!/^[a-z_][a-z0-9_]*$/.test(a.name)) throw new Error(`${where}: invalid attribute name ${JSON.stringify(a.name)}`);
    if (seen.has(a.name)) throw new Error(`${where}: duplicate attribute ${a.name}`);
    seen.add(a.name);
    const modes = [a.required, a.optional, a.computed].filter(Boolean).length;
    if (modes === 0) throw new Error(`${where}.${a.name}: one of required, optional or computed must be set`);
    if (a.required && (a.optional || a.computed)) throw new Error(`${where}.${a.name}: required excludes optional/computed`);
    if (a.default !== undefined && !(a.optional && a.computed)) throw new Error(`${where}.${a.name}: a default needs optional + computed`);
    typeToJson(a.type); // throws on malformed types
  }
}

function validateSpec(spec: ProviderSpec): void {
  if (!/^[a-z][a-z0-9-]*$/.test(spec.name)) throw new Error(`invalid provider name ${JSON.stringify(spec.name)}`);
  checkSchema('provider', spec.providerSchema);
  for (const [t, r] of Object.entries(spec.resources)) {
    if (!t.startsWith(`${spec.name}_`)) throw new Error(`resource type ${t} must start with ${spec.name}_`);
    checkSchema(t, r.schema);
  }
  for (const [t, d] of Object.entries(spec.dataSources)) {
    if (!t.startsWith(`${spec.name}_`)) throw new Error(`data source type ${t} must start with ${spec.name}_`);
    checkSchema(`data.${t}`, d.schema);
  }
}

interface SchemaMsg {
  version: number;
  block: {
    version: number;
    attributes: {
      name: string;
      type: Buffer;
      description: string;
      description_kind: 'PLAIN';
      required: boolean;
      optional: boolean;
      computed: boolean;
      sensitive: boolean;
      deprecated: boolean;
    }[];
    block_types: never[];
    description: string;
    description_kind: 'PLAIN';
    deprecated: boolean;
  };
}

function schemaMsg(attrs: AttributeSpec[], description = '', version = 0): SchemaMsg {
  return {
    version,
    block: {
      version,
      attributes: attrs.map((a) => ({
        name: a.name,
        type: Buffer.from(typeToJson(a.type)),
        description: a.description,
        description_kind: 'PLAIN',
        required: !!a.required,
        optional: !!a.optional,
        computed: !!a.computed,
        sensitive: !!a.sensitive,
        deprecated: !!a.deprecated,
      })),
      block_types: [],
      description,
      description_kind: 'PLAIN',
      deprecated: false,
    },
  };
}

/* Key order below follows Terraform's jsonprovider structs, so that
 * JSON.stringify() of the result is byte-identical to the CLI output. */
function jsonBlock(attrs: AttributeSpec[], description = ''): Record<string, unknown> {
  const attributes: Record<string, unknown> = {};
  for (const a of [...attrs].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))) {
    const j: Record<string, unknown> = { type: JSON.parse(typeToJson(a.type)) };
    if (a.description) j['description'] = a.description;
    j['description_kind'] = 'plain';
    if (a.deprecated) j['deprecated'] = true;
    if (a.required) j['required'] = true;
    if (a.optional) j['optional'] = true;
    if (a.computed) j['computed'] = true;
    if (a.sensitive) j['sensitive'] = true;
    attributes[a.name] = j;
  }
  const block: Record<string, unknown> = {};
  if (attrs.length) block['attributes'] = attributes;
  if (description) block['description'] = description;
  block['description_kind'] = 'plain';
  return block;
}

function sortedRecord<T>(r: Record<string, T>, f: (v: T) => unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(r).sort()) out[k] = f(r[k]!);
  return out;
}

/** Exactly what `terraform providers schema -json` prints for this provider (parse its output and deep-compare, or compare JSON.stringify). */
export function providerSchemaJson(spec: ProviderSpec): Record<string, unknown> {
  validateSpec(spec);
  const p: Record<string, unknown> = {
    provider: { version: 0, block: jsonBlock(spec.providerSchema, spec.description) },
  };
  if (Object.keys(spec.resources).length)
    p['resource_schemas'] = sortedRecord(spec.resources, (r) => ({ version: r.version ?? 0, block: jsonBlock(r.schema, r.description) }));
  if (Object.keys(spec.dataSources).length)
    p['data_source_schemas'] = sortedRecord(spec.dataSources, (d) => ({ version: 0, block: jsonBlock(d.schema, d.description) }));
  return { format_version: '1.0', provider_schemas: { [providerAddress(spec)]: p } };
}

/**
 * The exact text `terraform providers schema -json` prints: compact JSON with
 * Go's HTML-safe escaping (<, >, & as \u003c, \u003e, \u0026; U+2028/9
 * escaped) and a trailing newline.
 */
export function providerSchemaJsonText(spec: ProviderSpec): string {
  const goEscapes: Record<string, string> = { '<': '\\u003c', '>': '\\u003e', '&': '\\u0026', '\u2028': '\\u2028', '\u2029': '\\u2029' };
  return JSON.stringify(providerSchemaJson(spec)).replace(/[<>&\u2028\u2029]/g, (c) => goEscapes[c]!) + '\n';
}

// ---- diagnostics --------------------------------------------------------------------

interface DiagnosticMsg {
  severity: 'ERROR' | 'WARNING';
  summary: string;
  detail: string;
  attribute?: { steps: ({ attribute_name: string } | { element_key_string: string } | { element_key_int: number })[] };
}

function pathMsg(attr: string | PathStep[]): NonNullable<DiagnosticMsg['attribute']> {
  const steps = (typeof attr === 'string' ? [attr] : attr).map((s) =>
    typeof s === 'string' ? { attribute_name: s } : typeof s === 'number' ? { element_key_int: s } : { element_key_string: s.key },
  );
  return { steps };
}

function diagMsg(d: Diagnostic): DiagnosticMsg {
  const m: DiagnosticMsg = { severity: d.severity === 'warning' ? 'WARNING' : 'ERROR', summary: d.summary, detail: d.detail ?? '' };
  if (d.attribute !== undefined && d.attribute !== '' && !(Array.isArray(d.attribute) && d.attribute.length === 0)) m.attribute = pathMsg(d.attribute);
  return m;
}

/** Converts anything thrown by a handler into a diagnostic. */
export function errorToDiagnostic(e: unknown, summaryPrefix = ''): Diagnostic {
  const err = e as { message?: unknown; detail?: unknown; code?: unknown; attribute?: unknown } | null;
  const message = err && typeof err.message === 'string' ? err.message : String(e);
  const d: Diagnostic = { severity: 'error', summary: summaryPrefix + message };
  const details: string[] = [];
  if (err && typeof err.detail === 'string' && err.detail) details.push(err.detail);
  if (err && typeof err.code === 'string' && err.code) details.push(`Error code: ${err.code}`);
  if (details.length) d.detail = details.join('\n\n');
  if (err && (typeof err.attribute === 'string' || Array.isArray(err.attribute))) d.attribute = err.attribute as string | PathStep[];
  return d;
}

const hasErrors = (ds: Diagnostic[]): boolean => ds.some((d) => d.severity === 'error');

// ---- planning ------------------------------------------------------------------------

/** The built-in PlanResourceChange logic (exported for handlers that want to extend it). */
export function defaultPlan(
  schema: AttributeSpec[],
  prior: Record<string, Value> | null,
  proposed: Record<string, Value>,
  config: Record<string, Value>,
): PlanResult<Record<string, Value>> {
  const planned: Record<string, Value> = { ...proposed };
  for (const a of schema) {
    if (!a.computed || (config[a.name] ?? null) !== null) continue;
    if (a.default !== undefined) planned[a.name] = conform(a.default, a.type);
    else if (prior === null) planned[a.name] = UNKNOWN;
    // update: `proposed` already carries the prior value
  }
  const requiresReplace: string[] = [];
  if (prior !== null) {
    const configurable = schema.filter((a) => a.required || a.optional);
    const changed = configurable.some((a) => !valuesEqual(prior[a.name] ?? null, planned[a.name] ?? null, a.type));
    if (changed) {
      for (const a of schema) {
        if (a.computed && !a.optional && !a.useStateForUnknown) planned[a.name] = UNKNOWN;
      }
    }
    for (const a of configurable) {
      if (a.forceNew && !valuesEqual(prior[a.name] ?? null, planned[a.name] ?? null, a.type)) requiresReplace.push(a.name);
    }
  }
  return { planned, requiresReplace };
}

// ---- the tfplugin6.Provider service ---------------------------------------------------------

type Req = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function emptyBuf(b: unknown): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.alloc(0);
}

function merge(base: Record<string, Value>, result: object | null | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  if (result) for (const [k, v] of Object.entries(result)) if (v !== undefined) out[k] = v;
  return out;
}

function unknownPaths(v: Value, prefix: string[] = []): string[] {
  if (isUnknown(v)) return [prefix.join('.') || '(root)'];
  if (Array.isArray(v)) return v.flatMap((x, i) => unknownPaths(x, [...prefix, String(i)]));
  if (v !== null && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => unknownPaths(x, [...prefix, k]));
  return [];
}

function unknownAsNull(v: Value): Value {
  if (isUnknown(v)) return null;
  if (Array.isArray(v)) return v.map(unknownAsNull);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unknownAsNull(x)]));
  return v;
}

function attributeChecks(schema: AttributeSpec[], config: Record<string, Value>): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const a of schema) {
    const v = config[a.name] ?? null;
    if (!a.validate || v === null || containsUnknown(v)) continue;
    const msg = a.validate(v);
    if (msg) out.push({ severity: 'error', summary: `Invalid ${a.name}`, detail: msg, attribute: a.name });
  }
  return out;
}

/** The Provider service: one async function per RPC (request object in, response object out). */
export class ProviderServer {
  readonly log: Logger;
  private stop = new AbortController();
  private readonly providerType: CtyType;
  private readonly resourceTypes = new Map<string, CtyType>();
  private readonly dataTypes = new Map<string, CtyType>();
  private readonly capabilities = { plan_destroy: false, get_provider_schema_optional: true, move_resource_state: false };

  constructor(
    readonly spec: ProviderSpec,
    logger?: Logger,
  ) {
    validateSpec(spec);
    this.log = logger ?? createLogger(`provider.${spec.name}`);
    this.providerType = objectType(spec.providerSchema);
    for (const [t, r] of Object.entries(spec.resources)) this.resourceTypes.set(t, objectType(r.schema));
    for (const [t, d] of Object.entries(spec.dataSources)) this.dataTypes.set(t, objectType(d.schema));
  }

  private ctx(typeName: string): HandlerContext {
    return { signal: this.stop.signal, typeName, log: this.log };
  }

  private resource(typeName: string): { def: ResourceDefinition; type: CtyType } {
    const def = this.spec.resources[typeName];
    const type = this.resourceTypes.get(typeName);
    if (!def || !type) throw new Error(`unknown resource type ${typeName}`);
    return { def, type };
  }

  private dataSource(typeName: string): { def: DataSourceDefinition; type: CtyType } {
    const def = this.spec.dataSources[typeName];
    const type = this.dataTypes.get(typeName);
    if (!def || !type) throw new Error(`unknown data source type ${typeName}`);
    return { def, type };
  }

  private obj(dv: DynamicValueMsg | null | undefined, type: CtyType): Record<string, Value> | null {
    return decodeDynamicValue(dv, type) as Record<string, Value> | null;
  }

  /** Normalizes handler output to the schema and rejects leftover unknowns (Terraform would reject them less clearly). */
  private finalState(value: Record<string, unknown>, type: CtyType, what: string): Record<string, Value> {
    const state = conform(value, type) as Record<string, Value>;
    const unknowns = unknownPaths(state);
    if (unknowns.length) throw new Error(`${what} left unknown values in the new state: ${unknowns.join(', ')}`);
    return state;
  }

  // -- information --

  async GetMetadata(): Promise<Req> {
    return {
      server_capabilities: this.capabilities,
      diagnostics: [],
      data_sources: Object.keys(this.spec.dataSources).map((type_name) => ({ type_name })),
      resources: Object.keys(this.spec.resources).map((type_name) => ({ type_name })),
      functions: [],
    };
  }

  async GetProviderSchema(): Promise<Req> {
    const resource_schemas: Record<string, SchemaMsg> = {};
    for (const [t, r] of Object.entries(this.spec.resources)) resource_schemas[t] = schemaMsg(r.schema, r.description, r.version ?? 0);
    const data_source_schemas: Record<string, SchemaMsg> = {};
    for (const [t, d] of Object.entries(this.spec.dataSources)) data_source_schemas[t] = schemaMsg(d.schema, d.description);
    return {
      provider: schemaMsg(this.spec.providerSchema, this.spec.description),
      resource_schemas,
      data_source_schemas,
      functions: {},
      diagnostics: [],
      server_capabilities: this.capabilities,
    };
  }

  async GetFunctions(): Promise<Req> {
    return { functions: {}, diagnostics: [] };
  }

  async CallFunction(req: Req): Promise<Req> {
    return { error: { text: `provider ${this.spec.name} has no function ${String(req['name'])}` } };
  }

  // -- validation / configuration --

  async ValidateProviderConfig(req: Req): Promise<Req> {
    return {
      diagnostics: await this.diagnose(async () => {
        const config = this.obj(req['config'], this.providerType) ?? {};
        return [...attributeChecks(this.spec.providerSchema, config), ...((await this.spec.validateConfig?.(config)) ?? [])];
      }),
    };
  }

  async ConfigureProvider(req: Req): Promise<Req> {
    return {
      diagnostics: await this.diagnose(async () => {
        const config = this.obj(req['config'], this.providerType) ?? {};
        return (await this.spec.configure(config, { terraformVersion: String(req['terraform_version'] ?? ''), log: this.log })) ?? [];
      }),
    };
  }

  async ValidateResourceConfig(req: Req): Promise<Req> {
    return {
      diagnostics: await this.diagnose(async () => {
        const { def, type } = this.resource(req['type_name']);
        const config = this.obj(req['config'], type) ?? {};
        return [...attributeChecks(def.schema, config), ...((await def.handler.validate?.(config, this.ctx(req['type_name']))) ?? [])];
      }),
    };
  }

  async ValidateDataResourceConfig(req: Req): Promise<Req> {
    return {
      diagnostics: await this.diagnose(async () => {
        const { def, type } = this.dataSource(req['type_name']);
        const config = this.obj(req['config'], type) ?? {};
        return [...attributeChecks(def.schema, config), ...((await def.handler.validate?.(config, this.ctx(req['type_name']))) ?? [])];
      }),
    };
  }

  // -- managed resources --

  async UpgradeResourceState(req: Req): Promise<Req> {
    const diags: Diagnostic[] = [];
    try {
      const { def, type } = this.resource(req['type_name']);
      const raw = req['raw_state'] as { json?: Buffer; flatmap?: Record<string, string> } | null;
      if (raw?.json && raw.json.length) {
        const version = Number(req['version'] ?? 0);
        let value: Value;
        if (def.upgradeState && version !== (def.version ?? 0)) {
          value = conform(def.upgradeState(version, JSON.parse(raw.json.toString('utf8'))), type);
        } else {
          value = decodeJson(raw.json, type); // keeps the schema's attributes, drops removed ones
        }
        return { upgraded_state: encodeDynamicValue(value, type), diagnostics: [] };
      }
      if (raw?.flatmap && Object.keys(raw.flatmap).length) throw new Error('legacy flatmap state is not supported');
      return { upgraded_state: encodeDynamicValue(null, type), diagnostics: [] };
    } catch (e) {
      diags.push(errorToDiagnostic(e, 'Upgrading state failed: '));
      return { diagnostics: diags.map(diagMsg) };
    }
  }

  async ReadResource(req: Req): Promise<Req> {
    let type: CtyType | undefined;
    let current: Record<string, Value> | null = null;
    try {
      const r = this.resource(req['type_name']);
      type = r.type;
      current = this.obj(req['current_state'], type);
      let next: Record<string, Value> | null = null;
      if (current !== null) {
        const got = await r.def.handler.read(current, this.ctx(req['type_name']));
        next = got === null ? null : this.finalState(merge(current, got), type, 'read');
      }
      if (next === null) this.log.info('resource no longer exists', { type: req['type_name'] });
      return { new_state: encodeDynamicValue(next, type), diagnostics: [], private: emptyBuf(req['private']) };
    } catch (e) {
      // Keep the known state so Terraform does not forget the object on a transient error.
      return {
        new_state: type ? encodeDynamicValue(current, type) : undefined,
        diagnostics: [diagMsg(errorToDiagnostic(e))],
        private: emptyBuf(req['private']),
      };
    }
  }

  async PlanResourceChange(req: Req): Promise<Req> {
    try {
      const typeName = String(req['type_name']);
      const { def, type } = this.resource(typeName);
      const prior = this.obj(req['prior_state'], type);
      const proposed = this.obj(req['proposed_new_state'], type);
      const private_ = emptyBuf(req['prior_private']);
      if (proposed === null) {
        // destroy (only sent with the plan_destroy capability)
        return { planned_state: encodeDynamicValue(null, type), requires_replace: [], planned_private: private_, diagnostics: [] };
      }
      const config = this.obj(req['config'], type) ?? {};
      const base = (): PlanResult<Record<string, Value>> => defaultPlan(def.schema, prior, proposed, config);
      const result = def.handler.plan
        ? await def.handler.plan(prior, proposed, { ...this.ctx(typeName), config, defaultPlan: base })
        : base();
      const diagnostics = result.diagnostics ?? [];
      const planned = conform(result.planned, type);
      return {
        planned_state: encodeDynamicValue(planned, type),
        requires_replace: prior === null ? [] : result.requiresReplace.map((a) => pathMsg(a)),
        planned_private: private_,
        diagnostics: diagnostics.map(diagMsg),
      };
    } catch (e) {
      return { diagnostics: [diagMsg(errorToDiagnostic(e))] };
    }
  }

  async ApplyResourceChange(req: Req): Promise<Req> {
    const typeName = String(req['type_name']);
    let type: CtyType | undefined;
    let prior: Record<string, Value> | null = null;
    let planned: Record<string, Value> | null = null;
    const private_ = emptyBuf(req['planned_private']);
    try {
      const r = this.resource(typeName);
      type = r.type;
      prior = this.obj(req['prior_state'], type);
      planned = this.obj(req['planned_state'], type);
      const ctx = this.ctx(typeName);
      let next: Record<string, Value> | null;
      if (planned === null) {
        if (prior !== null) await r.def.handler.delete(prior, ctx);
        next = null;
      } else if (prior === null) {
        next = this.finalState(merge(planned, await r.def.handler.create(planned, ctx)), type, 'create');
      } else {
        next = this.finalState(merge(planned, await r.def.handler.update(prior, planned, ctx)), type, 'update');
      }
      return { new_state: encodeDynamicValue(next, type), private: private_, diagnostics: [] };
    } catch (e) {
      // Failed create: nothing exists (null). Failed update/delete: the prior object still exists.
      // Unless the error carries the state that does exist now (partial apply).
      let failedState: Value = prior;
      const partial = (e as { state?: unknown } | null)?.state;
      if (type && planned !== null && partial !== null && typeof partial === 'object') {
        try {
          failedState = unknownAsNull(conform(merge(planned, partial), type));
        } catch (convErr) {
          this.log.warn('ignoring unusable partial state from failed apply', { error: convErr });
        }
      }
      return {
        new_state: type ? encodeDynamicValue(failedState, type) : undefined,
        private: private_,
        diagnostics: [diagMsg(errorToDiagnostic(e))],
      };
    }
  }

  async ImportResourceState(req: Req): Promise<Req> {
    const typeName = String(req['type_name']);
    try {
      const { def, type } = this.resource(typeName);
      if (!def.handler.importById) throw new Error(`Resource ${typeName} does not support import`);
      const got = await def.handler.importById(String(req['id']), this.ctx(typeName));
      if (got === null) {
        return {
          imported_resources: [],
          diagnostics: [
            diagMsg({
              severity: 'error',
              summary: 'Cannot import non-existent remote object',
              detail: `No ${typeName} with id ${JSON.stringify(req['id'])} exists.`,
            }),
          ],
        };
      }
      const state = this.finalState(got as Record<string, unknown>, type, 'import');
      return { imported_resources: [{ type_name: typeName, state: encodeDynamicValue(state, type), private: Buffer.alloc(0) }], diagnostics: [] };
    } catch (e) {
      return { imported_resources: [], diagnostics: [diagMsg(errorToDiagnostic(e))] };
    }
  }

  async MoveResourceState(req: Req): Promise<Req> {
    return {
      diagnostics: [
        diagMsg({
          severity: 'error',
          summary: 'Move Resource State Not Supported',
          detail: `The ${this.spec.name} provider cannot move state from ${String(req['source_type_name'])} to ${String(req['target_type_name'])}.`,
        }),
      ],
    };
  }

  // -- data sources --

  async ReadDataSource(req: Req): Promise<Req> {
    const typeName = String(req['type_name']);
    try {
      const { def, type } = this.dataSource(typeName);
      const config = this.obj(req['config'], type) ?? {};
      const got = await def.handler.read(config, this.ctx(typeName));
      return { state: encodeDynamicValue(this.finalState(merge(config, got), type, 'read'), type), diagnostics: [] };
    } catch (e) {
      return { diagnostics: [diagMsg(errorToDiagnostic(e))] };
    }
  }

  // -- lifecycle --

  async StopProvider(): Promise<Req> {
    this.log.info('StopProvider: cancelling in-flight operations');
    this.stop.abort(new Error('provider stopped'));
    this.stop = new AbortController();
    return { Error: '' };
  }

  private async diagnose(f: () => Promise<Diagnostic[]>): Promise<DiagnosticMsg[]> {
    try {
      return (await f()).map(diagMsg);
    } catch (e) {
      return [diagMsg(errorToDiagnostic(e))];
    }
  }

  /** gRPC registration of this object as tfplugin6.Provider. */
  grpcService(): { definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation } {
    const definition = serviceDefinition(loadProto('tfplugin6.proto'), 'tfplugin6.Provider');
    const implementation: grpc.UntypedServiceImplementation = {};
    for (const method of Object.keys(definition)) {
      const fn = (this as unknown as Record<string, unknown>)[method];
      if (typeof fn !== 'function') continue;
      implementation[method] = (call: grpc.ServerUnaryCall<Req, Req>, cb: grpc.sendUnaryData<Req>) => {
        const t0 = performance.now();
        (fn as (r: Req) => Promise<Req>)
          .call(this, call.request)
          .then((res) => {
            this.log.trace(`rpc ${method}`, { type: call.request['type_name'], ms: Math.round(performance.now() - t0) });
            cb(null, res);
          })
          .catch((e: unknown) => {
            this.log.error(`rpc ${method} failed`, { error: e });
            cb({ code: grpc.status.INTERNAL, details: e instanceof Error ? e.message : String(e) });
          });
      };
    }
    return { definition, implementation };
  }
}

export interface ServeProviderOptions extends Partial<Omit<PluginServerOptions, 'services' | 'appProtocolVersion'>> {}

/** Starts the plugin server for `spec` and performs the handshake; resolves once it is listening. */
export async function startProviderServer(spec: ProviderSpec, opts: ServeProviderOptions = {}): Promise<PluginServer & { provider: ProviderServer }> {
  const provider = new ProviderServer(spec, opts.logger);
  const server = await servePlugin({ ...opts, services: [provider.grpcService()], appProtocolVersion: 6, logger: opts.logger ?? provider.log });
  return Object.assign(server, { provider });
}

/**
 * Entry point of a provider executable: serves until Terraform shuts the
 * plugin down (the process then exits). Run directly by a user (no magic
 * cookie), it prints an explanation and exits with status 1.
 */
export async function serveProvider(spec: ProviderSpec, opts: ServeProviderOptions = {}): Promise<void> {
  let server: PluginServer;
  try {
    server = await startProviderServer(spec, opts);
  } catch (e) {
    if (e instanceof HandshakeError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
  await server.closed;
}
