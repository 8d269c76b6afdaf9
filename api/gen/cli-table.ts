/**
 * Builds the `fcm` CLI's command table from the OpenAPI document: one
 * command per operation that has `x-cli`, its flags from query parameters
 * and request-body properties, positional args from `x-cli.args`.
 * Pure: the drift test feeds it a fixture spec.
 *
 * x-cli fields: command (may be two words: "keys add"), args, columns,
 * message, empty, waitFor, confirm, summary, description, examples,
 * argFromFile (an arg given as a file path; its contents are sent),
 * short ({ follow: f } gives --follow the short form -f), progress (a
 * spinner label shown on stderr while the call runs, `{arg}` placeholders).
 * A path parameter `name` that is not in `args` becomes the `-a/--app` flag
 * that defaults to the VM in ./.fcm; any other path parameter must be an arg.
 */
export interface FlagSpec {
  /** --kebab-case flag name. */
  flag: string;
  /** Where the value goes. */
  in: 'query' | 'body' | 'path';
  /** Property / parameter name in the API. */
  name: string;
  /** `array`: comma-separated and/or repeated (`--domains a.com,b.com`, `--domains a.com --domains b.com`). */
  type: 'string' | 'integer' | 'number' | 'boolean' | 'array';
  /** Item type of an `array` flag. */
  items?: Scalar;
  description: string;
  enum?: string[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  /** One-letter form (x-cli `short`). */
  short?: string;
  /** A VM name that defaults to the VM remembered in ./.fcm (a path `name` not listed in args). */
  vmRef?: boolean;
}

export interface ArgSpec {
  name: string;
  in: 'path' | 'body';
  required: boolean;
  /** Defaults to the VM remembered in ./.fcm */
  vmRef: boolean;
  description: string;
  /** Positional values are converted to this type (a body `version: integer` is sent as a number). */
  type: Scalar;
  /** The user gives a file path; the file's contents are sent (x-cli `argFromFile`). */
  fromFile: boolean;
}

/** A table column: `x-cli.columns` items are a field name or `{ field, title, format }`. */
export interface ColumnSpec {
  field: string;
  /** Header; defaults to the field name in upper case (createdAt → CREATED AT). */
  title: string;
  /** `age`: a date-time shown as time since (5m, 3h, 2d). */
  format: 'text' | 'age';
}

export interface CommandSpec {
  operationId: string;
  command: string;
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  path: string;
  /** The operation's first tag; the CLI groups commands by it in help. */
  group: string;
  summary: string;
  description: string;
  args: ArgSpec[];
  flags: FlagSpec[];
  /** Table output (a list response: its one array property; an object: one row). */
  columns: ColumnSpec[] | null;
  /** Human output on success: `{field}` from the response, else from the args (e.g. "Stopped {name}."). */
  message: string | null;
  /** Human output for an empty list. */
  empty: string | null;
  waitFor: string | null;
  /** Question asked before the call; `{arg}` placeholders. */
  confirm: string | null;
  /** Spinner label on stderr while the call runs (a call that takes time: stop, rollback); `{arg}` placeholders. */
  progress: string | null;
  examples: string[];
  auth: boolean;
  /** Response schema name, for output formatting (e.g. Vm, VmList). */
  responseSchema: string | null;
  /** Media type of the success response: JSON, plain text (printed as is), or no body. */
  responseType: 'json' | 'text' | null;
}

type Json = Record<string, unknown>;

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

export function kebab(s: string): string {
  return s.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

function deref(spec: Json, obj: unknown): Json {
  let cur = obj as Json;
  for (let i = 0; i < 20 && cur && typeof cur.$ref === 'string'; i++) {
    const path = (cur.$ref as string).replace(/^#\//, '').split('/');
    let next: unknown = spec;
    for (const p of path) next = (next as Json)[p];
    cur = { ...(next as Json), ...Object.fromEntries(Object.entries(cur).filter(([k]) => k !== '$ref')) };
  }
  return cur ?? {};
}

function refName(obj: unknown): string | null {
  const ref = (obj as Json | undefined)?.$ref;
  return typeof ref === 'string' ? ref.split('/').pop()! : null;
}

function bounds(s: Json): Pick<FlagSpec, 'minimum' | 'maximum'> {
  return {
    ...(typeof s.minimum === 'number' ? { minimum: s.minimum } : {}),
    ...(typeof s.maximum === 'number' ? { maximum: s.maximum } : {}),
  };
}

function columns(raw: unknown, operationId: string): ColumnSpec[] | null {
  if (raw === undefined) return null;
  if (!Array.isArray(raw)) throw new Error(`${operationId}: x-cli columns must be a list`);
  return raw.map((c: unknown) => {
    const col = (typeof c === 'string' ? { field: c } : c) as Json;
    if (typeof col.field !== 'string') throw new Error(`${operationId}: x-cli column without a field: ${JSON.stringify(c)}`);
    const format = col.format ?? 'text';
    if (format !== 'text' && format !== 'age') throw new Error(`${operationId}: x-cli column format "${String(format)}" is not text or age`);
    return { field: col.field, title: String(col.title ?? kebab(col.field).replace(/-/g, ' ').toUpperCase()), format };
  });
}

type Scalar = 'string' | 'integer' | 'number' | 'boolean';

function scalarType(s: Json): Scalar {
  const t = Array.isArray(s.type) ? (s.type as string[]).find((x) => x !== 'null') : s.type;
  return t === 'integer' || t === 'number' || t === 'boolean' ? t : 'string';
}

/** Type, enum, bounds and default of a flag from its schema. */
function flagShape(spec: Json, s: Json): Pick<FlagSpec, 'type' | 'items' | 'enum' | 'default' | 'minimum' | 'maximum'> {
  const t = Array.isArray(s.type) ? (s.type as string[]).find((x) => x !== 'null') : s.type;
  if (t === 'array') {
    const items = deref(spec, s.items);
    return {
      type: 'array', items: scalarType(items),
      ...(items.enum ? { enum: items.enum as string[] } : {}),
      ...(s.default !== undefined ? { default: s.default } : {}),
    };
  }
  return {
    type: scalarType(s),
    ...(s.enum ? { enum: s.enum as string[] } : {}),
    ...(s.default !== undefined ? { default: s.default } : {}),
    ...bounds(s),
  };
}

export function buildCommandTable(spec: Json): CommandSpec[] {
  const out: CommandSpec[] = [];
  const globalSecurity = (spec.security as unknown[] | undefined) ?? [];
  for (const [path, item] of Object.entries((spec.paths as Json) ?? {})) {
    const pathItem = item as Json;
    const pathParams = ((pathItem.parameters as unknown[]) ?? []).map((p) => deref(spec, p));
    for (const method of METHODS) {
      const op = pathItem[method] as Json | undefined;
      if (!op || !op['x-cli']) continue;
      const cli = op['x-cli'] as Json;
      const params = [...pathParams, ...((op.parameters as unknown[]) ?? []).map((p) => deref(spec, p))];
      const body = deref(spec, ((op.requestBody as Json)?.content as Json)?.['application/json'] && (((op.requestBody as Json).content as Json)['application/json'] as Json).schema);
      const bodyProps = (body.properties as Json) ?? {};
      const argNames = (cli.args as string[] | undefined) ?? [];
      const fromFile = cli.argFromFile as string | undefined;
      if (fromFile !== undefined && !argNames.includes(fromFile)) throw new Error(`${op.operationId}: x-cli argFromFile "${fromFile}" is not one of its args`);
      const required = new Set((body.required as string[] | undefined) ?? []);
      const args: ArgSpec[] = argNames.map((name) => {
        const inPath = params.find((p) => p.in === 'path' && p.name === name);
        const common = { fromFile: name === fromFile };
        if (inPath) {
          const s = deref(spec, inPath.schema);
          return { name, in: 'path', required: true, vmRef: name === 'name', description: String(inPath.description ?? s.description ?? ''), type: scalarType(s), ...common };
        }
        if (name in bodyProps) {
          const s = deref(spec, bodyProps[name]);
          return { name, in: 'body', required: required.has(name), vmRef: false, description: String(s.description ?? ''), type: scalarType(s), ...common };
        }
        throw new Error(`${op.operationId}: x-cli arg "${name}" is neither a path parameter nor a body property`);
      });
      const flags: FlagSpec[] = [];
      for (const p of params) {
        if (p.in === 'path' && !argNames.includes(String(p.name))) {
          if (p.name !== 'name') throw new Error(`${op.operationId}: path parameter "${String(p.name)}" must be listed in x-cli args`);
          flags.push({ flag: 'app', in: 'path', name: 'name', description: 'The app (VM) to act on', type: 'string', short: 'a', vmRef: true });
          continue;
        }
        if (p.in !== 'query') continue;
        const s = deref(spec, p.schema);
        // An enum's own description describes the type, not this parameter (the values are listed anyway).
        const description = p.description ?? (s.enum ? '' : s.description);
        flags.push({ flag: kebab(String(p.name)), in: 'query', name: String(p.name), description: String(description ?? ''), ...flagShape(spec, s) });
      }
      for (const [name, raw] of Object.entries(bodyProps)) {
        if (argNames.includes(name)) continue;
        const s = deref(spec, raw);
        // x-cli flagNames: another flag name where the property's own would clash with a global flag (host → --on-host).
        const renamed = ((cli.flagNames as Record<string, string> | undefined) ?? {})[name];
        flags.push({ flag: renamed ?? kebab(name), in: 'body', name, description: String(s.description ?? ''), ...flagShape(spec, s) });
      }
      const shorts = (cli.short as Record<string, string> | undefined) ?? {};
      for (const [name, letter] of Object.entries(shorts)) {
        const f = flags.find((x) => x.name === name);
        if (!f || !/^[a-z]$/i.test(letter)) throw new Error(`${op.operationId}: x-cli short "${name}: ${letter}" needs a flag of that name and one letter`);
        f.short = letter;
      }
      const ok = Object.entries((op.responses as Json) ?? {}).find(([code]) => /^2/.test(code))?.[1] as Json | undefined;
      const okContent = (ok?.content as Json | undefined) ?? {};
      const okSchema = (okContent['application/json'] as Json | undefined)?.schema;
      const responseType = okContent['application/json'] ? 'json' : Object.keys(okContent).some((t) => t.startsWith('text/')) ? 'text' : null;
      const security = (op.security as unknown[] | undefined) ?? globalSecurity;
      out.push({
        operationId: String(op.operationId),
        command: String(cli.command),
        method,
        path,
        group: String((op.tags as string[] | undefined)?.[0] ?? 'other'),
        summary: String(cli.summary ?? op.summary ?? ''),
        description: String(cli.description ?? op.description ?? '').trim(),
        args,
        flags,
        columns: columns(cli.columns, String(op.operationId)),
        message: (cli.message as string | undefined) ?? null,
        empty: (cli.empty as string | undefined) ?? null,
        waitFor: (cli.waitFor as string | undefined) ?? null,
        confirm: (cli.confirm as string | undefined) ?? null,
        progress: (cli.progress as string | undefined) ?? null,
        examples: (cli.examples as string[] | undefined) ?? [],
        auth: security.length > 0,
        responseSchema: refName(okSchema),
        responseType,
      });
    }
  }
  const seen = new Set<string>();
  for (const c of out) {
    if (seen.has(c.command)) throw new Error(`two operations map to the command "${c.command}"`);
    seen.add(c.command);
  }
  return out.sort((a, b) => a.command.localeCompare(b.command));
}
