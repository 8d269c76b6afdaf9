/**
 * Hostile requests generated from openapi.yaml: every operation (walked
 * with operationRoutes, so a new operation is fuzzed the moment it is in the
 * spec) gets boundary values, wrong types, unicode and path-traversal
 * strings for each path/query parameter and body property (by JSON Schema
 * type), malformed and oversized bodies, and header abuse; a few
 * protocol-level cases are not tied to an operation.
 *
 * Each case says what the spec implies: `invalid` (the server must not
 * answer 2xx), `valid` (it may), `unknown` (no claim). Validity is decided
 * by Ajv over the same derefed schemas with the server's options, so the
 * oracle is the spec itself; only framing and header cases (which the spec
 * does not describe) carry a hand-set expectation.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { operationRoutes, type Json, type OperationRoute } from '../../../daemon/http/openapi-routes.js';
import { sample } from '../../helpers/authz-matrix.js';
import type { RawRequest } from './raw-http.js';

export type Expect = 'invalid' | 'valid' | 'unknown';

export interface FuzzCase extends RawRequest {
  /** operationId, or `(protocol)` / `(method)` for cases not tied to one operation. */
  op: string;
  /** What was mutated, e.g. `body.memoryMib=-1`. */
  label: string;
  expect: Expect;
  /** The operation may hold the connection open (long-poll or stream): a client timeout is not a failure. */
  mayHold: boolean;
  /** Accepted, it would create a VM (host runs cap these: each one boots a real guest). */
  creates: boolean;
}

export interface FuzzContext {
  host: string;
  /** Bearer token of the caller (runFuzz swaps in the current one when a case revoked it). */
  token: () => string;
  /** An existing VM the caller owns: valid `{name}` values point at it. */
  targetVm: string;
}

const BIG = 'a'.repeat(10_000);
/** Strings that have broken parsers, paths, shells, SQL and terminals before. */
const HOSTILE_STRINGS: [string, string][] = [
  ['empty', ''],
  ['space', ' '],
  ['10k', BIG],
  ['unicode-e-acute', 'é'],
  ['fullwidth', 'ｆｃｍ'],
  ['emoji', '😀'],
  ['rtl-override', 'a\u202eb'],
  ['zero-width', 'a\u200bb'],
  ['kelvin', 'K'],
  ['dotless-i', 'ı'],
  ['lone-surrogate', '\ud800'],
  ['nul', 'a\u0000b'],
  ['newline', 'a\nb'],
  ['crlf-inject', 'a\r\nX-Injected: 1'],
  ['tab', 'a\tb'],
  ['ansi', '\u001b[31mred'],
  ['dotdot', '..'],
  ['traversal', '../../etc/passwd'],
  ['traversal-backslash', '..\\..\\windows'],
  ['abs-path', '/etc/passwd'],
  ['tilde', '~root'],
  ['sql', "'; DROP TABLE vms;--"],
  ['shell', '$(id)`id`|id;id&&id'],
  ['template', '${7*7}{{7*7}}'],
  ['html', '<script>alert(1)</script>'],
  ['format', '%s%n%x%d'],
  ['dash-flag', '--help'],
  ['percent', '100%'],
  ['uppercase', 'UPPER'],
  ['leading-digit', '1abc'],
  ['trailing-dash', 'abc-'],
  ['dots', 'a.b.c'],
  ['ip', '127.0.0.1'],
  ['url', 'http://169.254.169.254/latest/meta-data/'],
];

/** Raw path-segment values (inserted without encoding). */
const RAW_SEGMENTS: [string, string, Expect][] = [
  ['raw-dotdot', '..', 'invalid'],
  ['raw-dotdot-keys', '../../keys', 'invalid'],
  ['raw-dotdot-encoded', '%2e%2e', 'invalid'],
  ['raw-encoded-slash', '..%2f..%2fetc%2fpasswd', 'invalid'],
  ['raw-double-encoded', '%252e%252e%252f', 'invalid'],
  ['raw-bad-percent', '%zz', 'invalid'],
  ['raw-percent-nul', 'a%00b', 'invalid'],
  ['raw-overlong-utf8', '%c0%ae%c0%ae', 'invalid'],
  ['raw-semicolon', 'x;y=1', 'invalid'],
  ['raw-empty', '', 'unknown'],
  ['raw-300-chars', 'a'.repeat(300), 'invalid'],
];

interface Mut {
  label: string;
  value: unknown;
}

const typeOf = (s: Json): string | undefined => (Array.isArray(s.type) ? s.type.find((t: string) => t !== 'null') : s.type);

/** Mutations for one JSON value by its schema (body properties; path/query values are stringified). */
function mutationsFor(schema: Json, depth = 0): Mut[] {
  const out: Mut[] = [];
  const t = typeOf(schema) ?? (schema.enum ? 'string' : undefined);
  const wrongTypes: Mut[] = [
    { label: 'null', value: null },
    { label: 'true', value: true },
    { label: 'number', value: 1 },
    { label: 'float', value: 1.5 },
    { label: 'string', value: 'x' },
    { label: 'array', value: ['x'] },
    { label: 'object', value: { x: 1 } },
  ];
  switch (t) {
    case 'integer':
    case 'number': {
      const min: number | undefined = schema.minimum;
      const max: number | undefined = schema.maximum;
      for (const [label, v] of [
        ['min-1', min !== undefined ? min - 1 : undefined],
        ['min', min],
        ['max', max],
        ['max+1', max !== undefined ? max + 1 : undefined],
        ['zero', 0],
        ['-1', -1],
        ['2^31', 2 ** 31],
        ['2^53+2', 2 ** 53 + 2],
        ['-2^53', -(2 ** 53)],
        ['1e308', 1e308],
        ['float', 1.5],
        ['neg-zero', -0],
      ] as [string, number | undefined][]) {
        if (v !== undefined) out.push({ label, value: v });
      }
      out.push({ label: 'numeric-string', value: String(min ?? 1) }, { label: 'bool', value: true }, { label: 'null', value: null }, { label: 'array', value: [min ?? 1] });
      break;
    }
    case 'boolean':
      out.push({ label: 'true', value: true }, { label: 'false', value: false }, { label: 'string-true', value: 'true' }, { label: 'one', value: 1 }, { label: 'null', value: null });
      break;
    case 'string': {
      const ok = String(sample(schema));
      if (schema.enum) {
        for (const e of schema.enum) if (typeof e === 'string') out.push({ label: `enum-${e}`, value: e }, { label: `enum-upper-${e}`, value: e.toUpperCase() });
      }
      const pad = (n: number) => (ok + 'a'.repeat(Math.max(0, n))).slice(0, Math.max(0, n));
      if (schema.minLength !== undefined) {
        if (schema.minLength > 0) out.push({ label: 'minLength-1', value: pad(schema.minLength - 1) });
        out.push({ label: 'minLength', value: pad(schema.minLength) });
      }
      if (schema.maxLength !== undefined) out.push({ label: 'maxLength', value: pad(schema.maxLength) }, { label: 'maxLength+1', value: pad(schema.maxLength + 1) });
      out.push({ label: 'valid', value: ok }, { label: 'valid-upper', value: ok.toUpperCase() }, { label: 'valid+space', value: `${ok} ` });
      for (const [label, v] of HOSTILE_STRINGS) out.push({ label, value: v });
      out.push(...wrongTypes.filter((w) => w.label !== 'string'));
      break;
    }
    case 'array': {
      const item: Json = schema.items ?? {};
      const one = sample(item);
      out.push({ label: 'empty', value: [] }, { label: 'one', value: [one] }, { label: 'duplicates', value: [one, one] });
      if (schema.maxItems !== undefined) {
        out.push({ label: 'maxItems+1', value: Array.from({ length: schema.maxItems + 1 }, (_, i) => uniqueLike(one, i)) });
      }
      out.push({ label: '10k-items', value: Array.from({ length: 10_000 }, (_, i) => uniqueLike(one, i)) });
      out.push({ label: 'nested', value: [[one]] });
      if (depth < 2) for (const m of mutationsFor(item, depth + 1)) out.push({ label: `item:${m.label}`, value: [m.value] });
      out.push(...wrongTypes.filter((w) => w.label !== 'array'));
      break;
    }
    case 'object': {
      out.push({ label: 'empty', value: {} });
      const names: Json = schema.propertyNames ?? {};
      const valueSchema: Json = typeof schema.additionalProperties === 'object' ? schema.additionalProperties : { type: 'string' };
      const okKey = String(sample({ type: 'string', ...names }));
      const okValue = sample(valueSchema);
      if (schema.maxProperties !== undefined) {
        out.push({ label: 'maxProperties+1', value: Object.fromEntries(Array.from({ length: schema.maxProperties + 1 }, (_, i) => [`K${i}`, okValue])) });
      }
      const keys: [string, string][] = [['key-proto', '__proto__'], ['key-constructor', 'constructor'], ['key-empty', ''], ['key-dash', 'A-B'], ['key-digit', '1A'], ['key-long', 'A'.repeat(129)], ['key-unicode', 'É'], ['key-nul', 'A\u0000']];
      for (const [label, k] of keys) {
        out.push({ label, value: { [k]: okValue } });
      }
      if (depth < 2) for (const m of mutationsFor(valueSchema, depth + 1).slice(0, 40)) out.push({ label: `value:${m.label}`, value: { [okKey]: m.value } });
      out.push(...wrongTypes.filter((w) => w.label !== 'object'));
      break;
    }
    default:
      out.push(...wrongTypes);
  }
  return out;
}

function uniqueLike(v: unknown, i: number): unknown {
  return typeof v === 'string' ? `${'abcdefghijklmnopqrstuvwxyz'[i % 26]}${i}${v}` : v;
}

/** The spec's validators with the server's own Ajv options (coercion for path/query, strict bodies). */
class Oracle {
  private readonly coerce = mk(true);
  private readonly strict = mk(false);
  private readonly cache = new Map<object, ValidateFunction>();
  valid(schema: Json | undefined, value: unknown, coerce: boolean): boolean {
    if (!schema) return true;
    let v = this.cache.get(schema);
    if (!v) {
      v = (coerce ? this.coerce : this.strict).compile(schema);
      this.cache.set(schema, v);
    }
    return v(structuredClone(value)) as boolean;
  }
}

function mk(coerce: boolean) {
  const ajv = new Ajv2020({ allErrors: true, coerceTypes: coerce, useDefaults: true, strict: true, allowUnionTypes: true });
  addFormats.default(ajv);
  return ajv;
}

interface Parts {
  path: Record<string, { raw: string; value: string | null }>;
  query: [string, string][];
  /** undefined = no body sent. */
  body?: { bytes: Buffer; json: unknown; parses: boolean };
  contentType?: string | null;
  headers: [string, string][];
}

/** Every case for a spec: per operation, then undefined methods per path, then protocol-level garbage. */
export function generateCases(spec: Json, ctx: FuzzContext): FuzzCase[] {
  const oracle = new Oracle();
  const routes = operationRoutes(spec);
  const cases: FuzzCase[] = [];
  for (const route of routes) cases.push(...routeCases(route, ctx, oracle));
  cases.push(...methodCases(routes, ctx));
  cases.push(...protocolCases(ctx));
  return cases;
}

const jsonBytes = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8');

/** Percent-encodes the UTF-8 bytes (a lone surrogate becomes U+FFFD, where encodeURIComponent would throw). */
function pct(s: string): string {
  return [...Buffer.from(s, 'utf8')].map((b) => (/[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

function routeCases(route: OperationRoute, ctx: FuzzContext, oracle: Oracle): FuzzCase[] {
  const out: FuzzCase[] = [];
  const pathProps: Json = route.schema.params?.properties ?? {};
  const queryProps: Json = route.schema.querystring?.properties ?? {};
  const bodySchema = route.schema.body;
  const longPoll = 'timeout' in queryProps || 'follow' in queryProps;
  const validPathValue = (p: string) => (p === 'name' && route.path.startsWith('/v1/vms/{name}') ? ctx.targetVm : String(sample(pathProps[p] ?? { type: 'string' })));

  const base = (): Parts => ({
    path: Object.fromEntries(Object.keys(pathProps).map((p) => [p, { raw: pct(validPathValue(p)), value: validPathValue(p) }])),
    query: [],
    body: bodySchema ? (() => {
      const v = sample(bodySchema);
      return { bytes: jsonBytes(v), json: v, parses: true };
    })() : undefined,
    contentType: bodySchema ? 'application/json' : undefined,
    headers: route.auth ? [['Authorization', `Bearer ${ctx.token()}`]] : [],
  });

  const emit = (label: string, parts: Parts, expectOverride?: Expect) => {
    let target = route.path.replace(/\{([^}]+)\}/g, (_m, p: string) => parts.path[p]!.raw);
    if (parts.query.length) target += `?${parts.query.map(([k, v]) => `${pct(k)}=${pct(v)}`).join('&')}`;
    const headers: [string, string][] = [['Host', ctx.host], ...parts.headers];
    // A mutation that sets its own framing headers keeps them.
    const framed = parts.headers.some(([k]) => /^(content-length|transfer-encoding)$/i.test(k));
    if (parts.body) {
      if (parts.contentType) headers.push(['Content-Type', parts.contentType]);
      if (!framed) headers.push(['Content-Length', String(parts.body.bytes.length)]);
    } else if (!framed && route.method !== 'GET' && route.method !== 'DELETE') headers.push(['Content-Length', '0']);
    headers.push(['Connection', 'close']);
    const expect = expectOverride ?? expectFor(route, parts, oracle);
    // A fork makes a VM too (named in its answer, like a create's).
    const creates = route.operationId === 'createVm' || route.operationId === 'forkVm' || (route.method === 'POST' && route.path === '/v1/vms');
    out.push({ op: route.operationId, label, method: route.method, target, headers, body: parts.body?.bytes, expect, mayHold: longPoll, creates });
  };

  emit('valid', base());

  // Path parameters.
  for (const p of Object.keys(pathProps)) {
    for (const m of mutationsFor(pathProps[p]!)) {
      if (m.value !== null && typeof m.value === 'object') continue;
      const s = String(m.value);
      const parts = base();
      parts.path[p] = { raw: pct(s), value: s };
      emit(`path.${p}=${m.label}`, parts);
    }
    for (const [label, raw, expect] of RAW_SEGMENTS) {
      const parts = base();
      parts.path[p] = { raw, value: null };
      emit(`path.${p}=${label}`, parts, expect);
    }
    // A valid value for another owner's VM is the authz matrix's job; here: one that does not exist.
    const parts = base();
    parts.path[p] = { raw: 'no-such-thing-0', value: 'no-such-thing-0' };
    emit(`path.${p}=absent`, parts);
  }

  // Query parameters: each declared one, an unknown one, a repeated one.
  for (const q of Object.keys(queryProps)) {
    for (const m of mutationsFor(queryProps[q]!)) {
      if (m.value !== null && typeof m.value === 'object') continue;
      const parts = base();
      parts.query = [[q, String(m.value)]];
      emit(`query.${q}=${m.label}`, parts);
    }
    const parts = base();
    parts.query = [[q, String(sample(queryProps[q]!))], [q, String(sample(queryProps[q]!))]];
    emit(`query.${q}=repeated`, parts);
  }
  {
    const parts = base();
    parts.query = [['zzz_unknown', '1']];
    emit('query.unknown', parts);
    const huge = base();
    huge.query = [['zzz', 'a'.repeat(8000)]];
    emit('query.8k-value', huge);
    const many = base();
    many.query = Array.from({ length: 300 }, (_, i) => [`k${i}`, 'v'] as [string, string]);
    emit('query.300-params', many);
  }

  // Bodies.
  const withBody = (label: string, bytes: Buffer | undefined, json: unknown, parses: boolean, contentType: string | null = 'application/json', expect?: Expect) => {
    const parts = base();
    parts.body = bytes === undefined ? undefined : { bytes, json, parses };
    parts.contentType = contentType;
    emit(label, parts, expect);
  };
  if (bodySchema) {
    const ok = sample(bodySchema) as Json;
    const props: Json = bodySchema.properties ?? {};
    for (const [k, s] of Object.entries<Json>(props)) {
      for (const m of mutationsFor(s)) {
        const v = { ...ok, [k]: m.value };
        withBody(`body.${k}=${m.label}`, jsonBytes(v), v, true);
      }
      if ((bodySchema.required ?? []).includes(k)) {
        const { [k]: _gone, ...rest } = ok;
        withBody(`body.${k}=missing`, jsonBytes(rest), rest, true);
      }
    }
    withBody('body.unknown-property', jsonBytes({ ...ok, zzz: 1 }), { ...ok, zzz: 1 }, true);
    {
      // JSON.parse keeps the last duplicate: the junk value first must not win.
      const keys = Object.keys(ok);
      const text = keys.length ? `{${JSON.stringify(keys[0])}:{"junk":true},${JSON.stringify(ok).slice(1)}` : '{"zzz":1,"zzz":2}';
      withBody('body.duplicate-key', Buffer.from(text), JSON.parse(text), true);
    }
  }
  // Generic malformed bodies: sent to every operation that takes one, and to a few that do not.
  if (bodySchema || route.method === 'POST' || route.method === 'PATCH') {
    const garbage: [string, Buffer | undefined, unknown, boolean][] = [
      ['no-body', undefined, undefined, true],
      ['empty', Buffer.alloc(0), undefined, true],
      ['null', Buffer.from('null'), null, true],
      ['array', Buffer.from('[]'), [], true],
      ['string', Buffer.from('"x"'), 'x', true],
      ['number', Buffer.from('0'), 0, true],
      ['truncated', Buffer.from('{"a":'), undefined, false],
      ['open-brace', Buffer.from('{'), undefined, false],
      ['trailing-comma', Buffer.from('{"a":1,}'), undefined, false],
      ['single-quotes', Buffer.from("{'a':1}"), undefined, false],
      ['nan', Buffer.from('{"a":NaN}'), undefined, false],
      ['bom', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{}')]), {}, true], // RFC 8259 §8.1: a parser may ignore a BOM
      ['invalid-utf8', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), undefined, false],
      ['utf16', Buffer.from('{}', 'utf16le'), undefined, false],
      ['proto-pollution', Buffer.from('{"__proto__":{"admin":true}}'), undefined, false],
      ['constructor-pollution', Buffer.from('{"constructor":{"prototype":{"admin":true}}}'), undefined, false],
      ['deep-arrays', Buffer.from('['.repeat(5000) + ']'.repeat(5000)), undefined, true],
      ['deep-objects', Buffer.from('{"a":'.repeat(3000) + '1' + '}'.repeat(3000)), undefined, true],
      ['20k-keys', Buffer.from(`{${Array.from({ length: 2000 }, (_, i) => `"k${i}":1`).join(',')}}`), undefined, true],
      ['100KiB', jsonBytes({ zzz: 'a'.repeat(100 * 1024) }), undefined, true],
      ['2MiB', jsonBytes({ zzz: 'a'.repeat(2 * 1024 * 1024) }), undefined, true],
    ];
    for (const [label, bytes, json, parses] of garbage) {
      // Whether these validate is decided by the oracle below (e.g. no body is fine where the body is optional).
      let expect: Expect | undefined;
      if (!parses || label === 'proto-pollution' || label === 'constructor-pollution' || label === '100KiB' || label === '2MiB') expect = bodySchema ? 'invalid' : 'unknown';
      else if (json === undefined && label !== 'no-body' && label !== 'empty') expect = bodySchema ? 'invalid' : 'unknown';
      else if (!bodySchema) expect = 'unknown';
      withBody(`body=${label}`, bytes, json, parses, 'application/json', expect);
    }
    // Content types.
    const okBytes = bodySchema ? jsonBytes(sample(bodySchema)) : Buffer.from('{}');
    const ct: [string, string | null, Expect][] = [
      ['none', null, bodySchema ? 'invalid' : 'unknown'],
      ['text-plain', 'text/plain', bodySchema ? 'invalid' : 'unknown'],
      ['form', 'application/x-www-form-urlencoded', bodySchema ? 'invalid' : 'unknown'],
      ['multipart', 'multipart/form-data; boundary=x', bodySchema ? 'invalid' : 'unknown'],
      ['xml', 'application/xml', bodySchema ? 'invalid' : 'unknown'],
      ['json-utf16', 'application/json; charset=utf-16', 'unknown'],
      ['json-upper', 'APPLICATION/JSON', 'unknown'],
      ['json-list', 'application/json, text/plain', 'unknown'],
      ['jsonp', 'application/jsonp', bodySchema ? 'invalid' : 'unknown'],
      ['merge-patch', 'application/merge-patch+json', 'unknown'],
      ['empty', '', bodySchema ? 'invalid' : 'unknown'],
      ['garbage', ';;;==', bodySchema ? 'invalid' : 'unknown'],
    ];
    for (const [label, type, expect] of ct) withBody(`content-type=${label}`, okBytes, undefined, true, type, expect);
  }

  // Header abuse on the otherwise valid request.
  const hdr = (label: string, edit: (h: [string, string][]) => [string, string][], expect: Expect = 'unknown') => {
    const parts = base();
    parts.headers = edit(parts.headers.filter(([k]) => k !== 'Authorization'));
    emit(label, parts, expect);
  };
  const tok = ctx.token;
  const authExpect: Expect = route.auth ? 'invalid' : 'unknown';
  hdr('auth=none', (h) => h, authExpect);
  hdr('auth=empty-bearer', (h) => [...h, ['Authorization', 'Bearer']], authExpect);
  hdr('auth=bearer-spaces', (h) => [...h, ['Authorization', 'Bearer    ']], authExpect);
  hdr('auth=basic', (h) => [...h, ['Authorization', `Basic ${Buffer.from('admin:admin').toString('base64')}`]], authExpect);
  hdr('auth=no-scheme', (h) => [...h, ['Authorization', tok()]], authExpect);
  hdr('auth=lowercase-scheme', (h) => [...h, ['Authorization', `bearer ${tok()}`]], 'unknown');
  hdr('auth=trailing-garbage', (h) => [...h, ['Authorization', `Bearer ${tok()} x`]], authExpect);
  hdr('auth=token-prefix-only', (h) => [...h, ['Authorization', 'Bearer fcm_']], authExpect);
  hdr('auth=token-truncated', (h) => [...h, ['Authorization', `Bearer ${tok().slice(0, -1)}`]], authExpect);
  hdr('auth=token-4k', (h) => [...h, ['Authorization', `Bearer fcm_${'A'.repeat(4000)}`]], authExpect);
  hdr('auth=token-sql', (h) => [...h, ['Authorization', "Bearer fcm_' OR '1'='1"]], authExpect);
  hdr('auth=duplicate-valid-then-bad', (h) => [...h, ['Authorization', `Bearer ${tok()}`], ['Authorization', 'Bearer fcm_nottherightoneatallxxxxxxxxxxx']], authExpect);
  hdr('auth=duplicate-bad-then-valid', (h) => [...h, ['Authorization', 'Bearer fcm_nottherightoneatallxxxxxxxxxxx'], ['Authorization', `Bearer ${tok()}`]], authExpect);
  hdr('auth=duplicate-valid-twice', (h) => [...h, ['Authorization', `Bearer ${tok()}`], ['authorization', `Bearer ${tok()}`]], authExpect);
  hdr('auth=comma-joined', (h) => [...h, ['Authorization', `Bearer ${tok()}, Bearer ${tok()}`]], authExpect);
  const auth = (h: [string, string][]): [string, string][] => (route.auth ? [...h, ['Authorization', `Bearer ${tok()}`]] : h);
  hdr('header=20KiB', (h) => [...auth(h), ['X-Big', 'a'.repeat(20 * 1024)]], 'invalid');
  hdr('header=150-headers', (h) => [...auth(h), ...Array.from({ length: 150 }, (_, i) => [`X-H${i}`, 'v'] as [string, string])]);
  hdr('header=non-ascii-value', (h) => [...auth(h), ['X-Latin1', 'caf\u00e9']]);
  hdr('header=bad-name', (h) => [...auth(h), ['X Bad', 'v']], 'invalid');
  hdr('header=nul-value', (h) => [...auth(h), ['X-Nul', 'a\u0000b']], 'invalid');
  hdr('header=method-override', (h) => [...auth(h), ['X-HTTP-Method-Override', 'DELETE'], ['X-Method-Override', 'DELETE']]);
  hdr('header=forwarded-for', (h) => [...auth(h), ['X-Forwarded-For', '127.0.0.1'], ['X-Real-IP', '127.0.0.1'], ['Forwarded', 'for=127.0.0.1']]);
  hdr('header=host-evil', (h) => [...auth(h).filter(([k]) => k !== 'Host'), ['X-Forwarded-Host', 'evil.example']]);
  hdr('header=upgrade-websocket', (h) => [...auth(h), ['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='], ['Sec-WebSocket-Version', '13']]);
  hdr('header=expect-100', (h) => [...auth(h), ['Expect', '100-continue']]);
  hdr('header=expect-bogus', (h) => [...auth(h), ['Expect', 'bogus']]);
  hdr('header=accept-xml', (h) => [...auth(h), ['Accept', 'application/xml']]);
  hdr('header=content-encoding-gzip', (h) => [...auth(h), ['Content-Encoding', 'gzip']]);
  hdr('content-length=nan', (h) => [...auth(h), ['Content-Length', 'abc']], 'invalid');
  hdr('content-length=negative', (h) => [...auth(h), ['Content-Length', '-1']], 'invalid');
  hdr('content-length=huge', (h) => [...auth(h), ['Content-Length', '99999999999999999999']], 'invalid');
  hdr('content-length=duplicate-conflicting', (h) => [...auth(h), ['Content-Length', '1'], ['Content-Length', '2']], 'invalid');
  hdr('content-length+chunked', (h) => [...auth(h), ['Content-Length', '2'], ['Transfer-Encoding', 'chunked']], 'invalid');
  hdr('transfer-encoding=bogus', (h) => [...auth(h), ['Transfer-Encoding', 'bogus']], 'invalid');
  {
    // A body cut short: the declared length is larger than what is sent, and the client half-closes.
    const parts = base();
    const bytes = parts.body?.bytes ?? Buffer.from('{}');
    parts.body = { bytes, json: undefined, parses: false };
    parts.contentType = 'application/json';
    const c = out.length;
    emit('content-length=longer-than-body', parts, 'unknown');
    out[c]!.headers = out[c]!.headers.map(([k, v]) => (k === 'Content-Length' ? [k, String(bytes.length + 10)] : [k, v]));
    out[c]!.halfClose = true;
  }
  {
    // Chunked encoding: a well-formed one (must behave like the plain request) and a broken one.
    const parts = base();
    const bytes = parts.body?.bytes ?? Buffer.alloc(0);
    const c = out.length;
    emit('chunked=valid', parts, 'unknown');
    out[c]!.headers = [...out[c]!.headers.filter(([k]) => k !== 'Content-Length'), ['Transfer-Encoding', 'chunked']];
    out[c]!.body = Buffer.concat([bytes.length ? Buffer.from(`${bytes.length.toString(16)}\r\n`) : Buffer.alloc(0), bytes, bytes.length ? Buffer.from('\r\n') : Buffer.alloc(0), Buffer.from('0\r\n\r\n')]);
    emit('chunked=bad-size', parts, 'invalid');
    out[c + 1]!.headers = [...out[c + 1]!.headers.filter(([k]) => k !== 'Content-Length'), ['Transfer-Encoding', 'chunked']];
    out[c + 1]!.body = Buffer.from('zz\r\n{}\r\n0\r\n\r\n');
  }
  {
    const parts = base();
    const c = out.length;
    emit('http/1.0', parts, 'unknown');
    out[c]!.version = 'HTTP/1.0';
    emit('no-host', parts, 'invalid');
    out[c + 1]!.headers = out[c + 1]!.headers.filter(([k]) => k !== 'Host');
    emit('duplicate-host', parts, 'invalid');
    out[c + 2]!.headers = [...out[c + 2]!.headers, ['Host', 'other.example']];
    emit('head', parts, 'unknown');
    out[c + 3]!.method = 'HEAD';
  }
  return out;
}

/** What the spec says about this combination of path, query, body, content type and auth. */
function expectFor(route: OperationRoute, parts: Parts, oracle: Oracle): Expect {
  if (route.auth && !parts.headers.some(([k, v]) => k.toLowerCase() === 'authorization' && /^Bearer fcm_/.test(v))) return 'invalid';
  const params: Json = {};
  for (const [k, v] of Object.entries(parts.path)) {
    if (v.value === null) return 'unknown';
    if (v.value === '') return 'unknown'; // an empty segment is another route (`/v1/vms/` is listVms)
    if (v.value.includes('/')) return 'invalid';
    if (v.value.length > 200) return 'invalid'; // maxParamLength
    params[k] = v.value;
  }
  if (!oracle.valid(route.schema.params, params, true)) return 'invalid';
  if (route.schema.querystring) {
    const q: Json = {};
    for (const [k, v] of parts.query) q[k] = k in q ? [].concat(q[k], v as never) : v;
    if (!oracle.valid(route.schema.querystring, q, true)) return 'invalid';
  }
  if (route.schema.body) {
    if (!parts.body) return route.bodyRequired ? 'invalid' : 'valid';
    if (!parts.body.parses || parts.contentType !== 'application/json') return 'invalid';
    // A JSON null is taken as "no body" where the body is optional (server.ts preValidation).
    if (parts.body.json === undefined || parts.body.json === null) return route.bodyRequired ? 'invalid' : 'valid';
    if (!oracle.valid(route.schema.body, parts.body.json, false)) return 'invalid';
  }
  return 'valid';
}

/** Methods the spec does not define on a path, and paths it does not define. */
function methodCases(routes: OperationRoute[], ctx: FuzzContext): FuzzCase[] {
  const out: FuzzCase[] = [];
  const byPath = new Map<string, Set<string>>();
  for (const r of routes) byPath.set(r.path, (byPath.get(r.path) ?? new Set()).add(r.method));
  for (const [path, methods] of byPath) {
    const target = path.replace(/\{name\}/g, ctx.targetVm).replace(/\{([^}]+)\}/g, 'x');
    for (const m of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'PROPFIND']) {
      if (methods.has(m)) continue;
      out.push({
        op: '(method)', label: `${m} ${path}`, method: m, target, expect: 'invalid', mayHold: false, creates: false,
        headers: [['Host', ctx.host], ['Authorization', `Bearer ${ctx.token()}`], ['Content-Length', '0'], ['Connection', 'close']],
      });
    }
  }
  return out;
}

/** Requests not tied to an operation: broken request lines, odd targets, garbage. */
function protocolCases(ctx: FuzzContext): FuzzCase[] {
  const auth = (): [string, string][] => [['Host', ctx.host], ['Authorization', `Bearer ${ctx.token()}`], ['Connection', 'close']];
  const c = (label: string, method: string, target: string, expect: Expect = 'invalid', extra: Partial<FuzzCase> = {}): FuzzCase => ({
    op: '(protocol)', label, method, target, headers: auth(), expect, mayHold: false, creates: false, ...extra,
  });
  return [
    c('unknown-path', 'GET', '/v1/nope'),
    c('root-traversal', 'GET', '/../../etc/passwd'),
    c('encoded-traversal', 'GET', '/v1/%2e%2e/%2e%2e/etc/passwd'),
    c('double-slash', 'GET', '//v1//vms', 'unknown'),
    c('upper-case-path', 'GET', '/V1/VMS', 'unknown'),
    c('matrix-param', 'GET', '/v1/vms;x=1'),
    c('nul-in-path', 'GET', '/v1/vms%00'),
    c('bad-percent', 'GET', '/v1/vms/%'),
    c('absolute-form', 'GET', `http://evil.example/v1/vms`, 'unknown'),
    c('asterisk', 'OPTIONS', '*'),
    c('no-leading-slash', 'GET', 'v1/vms'),
    c('fragment', 'GET', '/v1/vms#x', 'unknown'),
    c('long-url-64k', 'GET', `/v1/vms/${'a'.repeat(64 * 1024)}`),
    c('long-query-64k', 'GET', `/v1/vms?x=${'a'.repeat(64 * 1024)}`),
    c('connect', 'CONNECT', `${ctx.host}`),
    c('lowercase-method', 'get', '/v1/vms'),
    c('http-9.9', 'GET', '/v1/vms', 'invalid', { version: 'HTTP/9.9' }),
    c('http-0.9-style', 'GET', '/v1/vms', 'invalid', { raw: Buffer.from('GET /v1/vms\r\n\r\n') }),
    c('garbage-bytes', 'GET', '/', 'invalid', { raw: Buffer.from([0x00, 0x01, 0x02, 0xff, 0x0d, 0x0a, 0x0d, 0x0a]) }),
    c('tls-hello-on-http', 'GET', '/', 'invalid', { raw: Buffer.from('160301020001000200030300', 'hex') }),
    c('bare-lf', 'GET', '/', 'unknown', { raw: Buffer.from(`GET /v1/health HTTP/1.1\nHost: ${ctx.host}\nConnection: close\n\n`) }),
    c('obs-fold', 'GET', '/', 'invalid', { raw: Buffer.from(`GET /v1/vms HTTP/1.1\r\nHost: ${ctx.host}\r\nAuthorization: Bearer\r\n ${ctx.token()}\r\nConnection: close\r\n\r\n`) }),
    c('header-no-colon', 'GET', '/', 'invalid', { raw: Buffer.from(`GET /v1/health HTTP/1.1\r\nHost: ${ctx.host}\r\nNoColonHere\r\nConnection: close\r\n\r\n`) }),
    c('request-smuggling-cl-te', 'POST', '/', 'invalid', {
      raw: Buffer.from(`POST /v1/vms HTTP/1.1\r\nHost: ${ctx.host}\r\nAuthorization: Bearer ${ctx.token()}\r\nContent-Type: application/json\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\nGET /v1/keys HTTP/1.1\r\n\r\n`),
    }),
  ];
}
