/**
 * Terraform values on the plugin wire (tfplugin6 `DynamicValue`).
 *
 * Values are always interpreted against a cty type (from the schema): the
 * MessagePack encoding is not self-describing enough on its own (numbers may
 * be ints, floats or decimal strings; sets and lists look the same; "dynamic"
 * values carry their type in-band).
 *
 * JS representation of a decoded value:
 *   null                      null (of any type)
 *   Unknown                   a value known only after apply (`isUnknown(v)`)
 *   string / boolean          string / bool
 *   number | bigint           number; bigint only for integers beyond 2^53
 *   Value[]                   list, set (order not significant) and tuple
 *   { [k]: Value }            object and map
 * A "dynamic" value decodes to its inner value (the in-band type is dropped)
 * and is encoded with a type inferred from the JS value (`inferType`).
 */
import { decode, encode, ExtData, ExtensionCodec } from '@msgpack/msgpack';

// ---- types -------------------------------------------------------------------

export type PrimitiveType = 'string' | 'number' | 'bool';
export type CtyType =
  | PrimitiveType
  | 'dynamic'
  | readonly ['list', CtyType]
  | readonly ['set', CtyType]
  | readonly ['map', CtyType]
  | readonly ['object', { readonly [attr: string]: CtyType }]
  | readonly ['object', { readonly [attr: string]: CtyType }, readonly string[]] // with optional attrs (type constraints only)
  | readonly ['tuple', readonly CtyType[]];

/** Refinements Terraform may attach to an unknown value (ext type 12). Informational only. */
export interface Refinements {
  /** false: definitely not null (true would mean definitely null, which Terraform never sends). */
  nullness?: boolean;
  stringPrefix?: string;
  numberLower?: { value: Value; inclusive: boolean };
  numberUpper?: { value: Value; inclusive: boolean };
  lengthLower?: number;
  lengthUpper?: number;
}

/** A value that will only be known after apply. */
export class Unknown {
  constructor(readonly refinements?: Refinements) {}
  toJSON(): string {
    return '(known after apply)';
  }
}

/** The plain (unrefined) unknown value. */
export const UNKNOWN: Unknown = Object.freeze(new Unknown()) as Unknown;

export type Value = null | Unknown | string | number | bigint | boolean | Value[] | { [key: string]: Value };

export function isUnknown(v: unknown): v is Unknown {
  return v instanceof Unknown;
}

/** True if `v` is unknown or contains an unknown anywhere inside. */
export function containsUnknown(v: unknown): boolean {
  if (v instanceof Unknown) return true;
  if (Array.isArray(v)) return v.some(containsUnknown);
  if (v !== null && typeof v === 'object') return Object.values(v).some(containsUnknown);
  return false;
}

export class WireError extends Error {
  constructor(
    message: string,
    readonly path: (string | number)[] = [],
  ) {
    super(path.length ? `${formatPath(path)}: ${message}` : message);
    this.name = 'WireError';
  }
}

function formatPath(path: (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** Compact JSON of a type, as used in `Schema.Attribute.type` (object attribute names sorted, like cty). */
export function typeToJson(t: CtyType): string {
  return JSON.stringify(normalizeType(t));
}

function normalizeType(t: CtyType): unknown {
  if (typeof t === 'string') return t;
  switch (t[0]) {
    case 'list':
    case 'set':
    case 'map':
      return [t[0], normalizeType(t[1])];
    case 'tuple':
      return ['tuple', t[1].map(normalizeType)];
    case 'object': {
      const attrs: Record<string, unknown> = {};
      for (const k of Object.keys(t[1]).sort()) attrs[k] = normalizeType(t[1][k]!);
      return t.length === 3 && t[2].length ? ['object', attrs, [...t[2]].sort()] : ['object', attrs];
    }
  }
}

/** Parses cty type JSON (string or already-parsed) and checks its shape. */
export function parseType(json: string | unknown): CtyType {
  const raw: unknown = typeof json === 'string' && !/^(string|number|bool|dynamic)$/.test(json) ? JSON.parse(json) : json;
  return checkType(raw);
}

function checkType(raw: unknown): CtyType {
  if (raw === 'string' || raw === 'number' || raw === 'bool' || raw === 'dynamic') return raw;
  if (Array.isArray(raw) && (raw.length === 2 || raw.length === 3)) {
    const [kind, arg] = raw as [unknown, unknown];
    if ((kind === 'list' || kind === 'set' || kind === 'map') && raw.length === 2) return [kind, checkType(arg)];
    if (kind === 'tuple' && Array.isArray(arg) && raw.length === 2) return ['tuple', arg.map(checkType)];
    if (kind === 'object' && arg !== null && typeof arg === 'object' && !Array.isArray(arg)) {
      const attrs: Record<string, CtyType> = {};
      for (const [k, v] of Object.entries(arg)) attrs[k] = checkType(v);
      if (raw.length === 3) {
        const opt = raw[2];
        if (!Array.isArray(opt) || !opt.every((o) => typeof o === 'string')) throw new WireError(`invalid optional attributes in type ${JSON.stringify(raw)}`);
        return ['object', attrs, opt as string[]];
      }
      return ['object', attrs];
    }
  }
  throw new WireError(`invalid cty type ${JSON.stringify(raw)}`);
}

/** Infers a type for a JS value (used for "dynamic" attributes when encoding). */
export function inferType(v: Value): CtyType {
  if (v === null || v instanceof Unknown) return 'dynamic';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number' || typeof v === 'bigint') return 'number';
  if (typeof v === 'boolean') return 'bool';
  if (Array.isArray(v)) return ['tuple', v.map(inferType)];
  const attrs: Record<string, CtyType> = {};
  for (const [k, x] of Object.entries(v)) attrs[k] = inferType(x);
  return ['object', attrs];
}

// ---- MessagePack ---------------------------------------------------------------

// Every extension type means "unknown"; override the built-in timestamp (-1) so
// nothing is ever decoded as a Date.
const codec = new ExtensionCodec();
codec.register({ type: -1, encode: () => null, decode: (data: Uint8Array) => new ExtData(-1, data) });

const UNKNOWN_EXT = new ExtData(0, new Uint8Array([0]));

/** Decodes a MessagePack DynamicValue payload against `type`. */
export function decodeMsgpack(bytes: Uint8Array, type: CtyType): Value {
  const raw = decode(bytes, { extensionCodec: codec, useBigInt64: true });
  return fromMsgpack(raw, type, []);
}

/** Encodes a value of `type` as MessagePack (values are coerced/validated against the type first). */
export function encodeMsgpack(value: unknown, type: CtyType): Uint8Array {
  return encode(toMsgpack(value, type, []), { extensionCodec: codec, useBigInt64: true });
}

function refinementsFrom(data: Uint8Array): Refinements | undefined {
  let raw: unknown;
  try {
    raw = decode(data, { extensionCodec: codec, useBigInt64: true });
  } catch {
    return undefined;
  }
  if (raw === null || typeof raw !== 'object') return undefined;
  const m = raw as Record<string, unknown>;
  const r: Refinements = {};
  if (typeof m['1'] === 'boolean') r.nullness = m['1'];
  if (typeof m['2'] === 'string') r.stringPrefix = m['2'];
  const bound = (x: unknown): { value: Value; inclusive: boolean } | undefined =>
    Array.isArray(x) && x.length === 2 ? { value: fromMsgpack(x[0], 'number', []), inclusive: x[1] === true } : undefined;
  const lo = bound(m['3']);
  if (lo) r.numberLower = lo;
  const hi = bound(m['4']);
  if (hi) r.numberUpper = hi;
  if (typeof m['5'] === 'number' || typeof m['5'] === 'bigint') r.lengthLower = Number(m['5']);
  if (typeof m['6'] === 'number' || typeof m['6'] === 'bigint') r.lengthUpper = Number(m['6']);
  return Object.keys(r).length ? r : undefined;
}

function numberFrom(raw: unknown, path: (string | number)[]): number | bigint {
  if (typeof raw === 'number') return raw;
  if (typeof raw === 'bigint') return Number.isSafeInteger(Number(raw)) ? Number(raw) : raw;
  if (typeof raw === 'string') return parseNumber(raw, path);
  throw new WireError(`expected number, got ${describe(raw)}`, path);
}

/** Parses a decimal number string; integers beyond 2^53 stay exact as bigint. */
export function parseNumber(s: string, path: (string | number)[] = []): number | bigint {
  const t = s.trim();
  if (/^[-+]?\d+$/.test(t)) {
    const n = Number(t);
    return Number.isSafeInteger(n) ? n : BigInt(t);
  }
  const n = Number(t);
  if (t === '' || Number.isNaN(n)) throw new WireError(`invalid number ${JSON.stringify(s)}`, path);
  return n;
}

function describe(raw: unknown): string {
  if (raw === null) return 'null';
  if (Array.isArray(raw)) return 'array';
  if (raw instanceof Uint8Array) return 'binary';
  return typeof raw;
}

function fromMsgpack(raw: unknown, type: CtyType, path: (string | number)[]): Value {
  if (raw === null || raw === undefined) return null;
  if (raw instanceof ExtData) {
    const refinements = raw.type === 12 && raw.data instanceof Uint8Array ? refinementsFrom(raw.data) : undefined;
    return refinements ? new Unknown(refinements) : UNKNOWN;
  }
  if (typeof type === 'string') {
    switch (type) {
      case 'string':
        if (typeof raw === 'string') return raw;
        throw new WireError(`expected string, got ${describe(raw)}`, path);
      case 'number':
        return numberFrom(raw, path);
      case 'bool':
        if (typeof raw === 'boolean') return raw;
        throw new WireError(`expected bool, got ${describe(raw)}`, path);
      case 'dynamic': {
        if (!Array.isArray(raw) || raw.length !== 2 || !(raw[0] instanceof Uint8Array))
          throw new WireError('expected [type JSON, value] for dynamic value', path);
        const inner = parseType(new TextDecoder().decode(raw[0]));
        return fromMsgpack(raw[1], inner, path);
      }
    }
  }
  switch (type[0]) {
    case 'list':
    case 'set': {
      if (!Array.isArray(raw)) throw new WireError(`expected ${type[0]}, got ${describe(raw)}`, path);
      return raw.map((x, i) => fromMsgpack(x, type[1], [...path, i]));
    }
    case 'tuple': {
      if (!Array.isArray(raw)) throw new WireError(`expected tuple, got ${describe(raw)}`, path);
      if (raw.length !== type[1].length) throw new WireError(`expected tuple of ${type[1].length} elements, got ${raw.length}`, path);
      return raw.map((x, i) => fromMsgpack(x, type[1][i]!, [...path, i]));
    }
    case 'map': {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || raw instanceof Uint8Array)
        throw new WireError(`expected map, got ${describe(raw)}`, path);
      const out: Record<string, Value> = {};
      for (const [k, x] of Object.entries(raw)) out[k] = fromMsgpack(x, type[1], [...path, k]);
      return out;
    }
    case 'object': {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || raw instanceof Uint8Array)
        throw new WireError(`expected object, got ${describe(raw)}`, path);
      const src = raw as Record<string, unknown>;
      const out: Record<string, Value> = {};
      for (const [k, t] of Object.entries(type[1])) out[k] = k in src ? fromMsgpack(src[k], t, [...path, k]) : null;
      return out;
    }
  }
}

function toMsgpack(v: unknown, type: CtyType, path: (string | number)[]): unknown {
  if (v === null || v === undefined) return null;
  if (v instanceof Unknown) return UNKNOWN_EXT;
  if (typeof type === 'string') {
    if (type === 'dynamic') {
      const t = inferType(v as Value);
      return [new TextEncoder().encode(typeToJson(t)), toMsgpack(v, t, path)];
    }
    const p = coercePrimitive(v, type, path);
    if (typeof p === 'bigint') {
      // int64 range goes as a msgpack integer, beyond that as a decimal string
      return p >= -(2n ** 63n) && p < 2n ** 64n ? p : p.toString();
    }
    return p;
  }
  switch (type[0]) {
    case 'list':
    case 'set':
    case 'tuple': {
      if (!Array.isArray(v) && !(v instanceof Set)) throw new WireError(`expected ${type[0]}, got ${describe(v)}`, path);
      const arr = [...v];
      if (type[0] === 'tuple') {
        if (arr.length !== type[1].length) throw new WireError(`expected tuple of ${type[1].length} elements, got ${arr.length}`, path);
        return arr.map((x, i) => toMsgpack(x, type[1][i]!, [...path, i]));
      }
      return arr.map((x, i) => toMsgpack(x, type[1], [...path, i]));
    }
    case 'map': {
      if (typeof v !== 'object' || Array.isArray(v)) throw new WireError(`expected map, got ${describe(v)}`, path);
      const entries = v instanceof Map ? [...v.entries()] : Object.entries(v);
      const out: Record<string, unknown> = {};
      for (const [k, x] of entries) out[String(k)] = toMsgpack(x, type[1], [...path, String(k)]);
      return out;
    }
    case 'object': {
      if (typeof v !== 'object' || Array.isArray(v)) throw new WireError(`expected object, got ${describe(v)}`, path);
      // Exactly the attributes of the type: missing ones become null, extra ones are dropped
      // (Terraform rejects undeclared attributes).
      const src = v as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const [k, t] of Object.entries(type[1])) out[k] = toMsgpack(src[k], t, [...path, k]);
      return out;
    }
  }
}

/**
 * Coerces a JS primitive to a primitive type the way Terraform's own type
 * conversion would (number/bool -> string, "true" -> bool, "12" -> number),
 * and rejects everything else.
 */
function coercePrimitive(v: unknown, type: PrimitiveType, path: (string | number)[]): string | number | bigint | boolean {
  switch (type) {
    case 'string':
      if (typeof v === 'string') return v;
      if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
      if (v instanceof Date) return v.toISOString();
      break;
    case 'number':
      if (typeof v === 'number') {
        if (Number.isNaN(v)) throw new WireError('NaN is not a valid number', path);
        return v;
      }
      if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v;
      if (typeof v === 'string') return parseNumber(v, path);
      break;
    case 'bool':
      if (typeof v === 'boolean') return v;
      if (v === 'true') return true;
      if (v === 'false') return false;
      break;
  }
  throw new WireError(`expected ${type}, got ${describe(v)}`, path);
}

// ---- JSON ----------------------------------------------------------------------

/** Decodes the JSON form (DynamicValue.json, RawState.json) against `type`. Unknowns cannot appear in JSON. */
export function decodeJson(json: string | Uint8Array, type: CtyType): Value {
  const text = typeof json === 'string' ? json : new TextDecoder().decode(json);
  return fromJson(JSON.parse(text), type, []);
}

function fromJson(raw: unknown, type: CtyType, path: (string | number)[]): Value {
  if (raw === null || raw === undefined) return null;
  if (typeof type === 'string') {
    if (type === 'dynamic') {
      if (raw === null || typeof raw !== 'object' || !('type' in raw) || !('value' in raw))
        throw new WireError('expected {"type","value"} for dynamic value', path);
      const r = raw as { type: unknown; value: unknown };
      return fromJson(r.value, parseType(r.type), path);
    }
    return coercePrimitive(raw, type, path);
  }
  switch (type[0]) {
    case 'list':
    case 'set':
      if (!Array.isArray(raw)) throw new WireError(`expected ${type[0]}, got ${describe(raw)}`, path);
      return raw.map((x, i) => fromJson(x, type[1], [...path, i]));
    case 'tuple':
      if (!Array.isArray(raw) || raw.length !== type[1].length) throw new WireError('expected tuple', path);
      return raw.map((x, i) => fromJson(x, type[1][i]!, [...path, i]));
    case 'map': {
      if (typeof raw !== 'object' || Array.isArray(raw)) throw new WireError(`expected map, got ${describe(raw)}`, path);
      const out: Record<string, Value> = {};
      for (const [k, x] of Object.entries(raw)) out[k] = fromJson(x, type[1], [...path, k]);
      return out;
    }
    case 'object': {
      if (typeof raw !== 'object' || Array.isArray(raw)) throw new WireError(`expected object, got ${describe(raw)}`, path);
      const src = raw as Record<string, unknown>;
      const out: Record<string, Value> = {};
      for (const [k, t] of Object.entries(type[1])) out[k] = fromJson(src[k], t, [...path, k]);
      return out;
    }
  }
}

// ---- DynamicValue ----------------------------------------------------------------

export interface DynamicValueMsg {
  msgpack?: Uint8Array | null;
  json?: Uint8Array | null;
}

/** Decodes a tfplugin6 DynamicValue: MessagePack when present, else JSON, else null. */
export function decodeDynamicValue(dv: DynamicValueMsg | null | undefined, type: CtyType): Value {
  if (!dv) return null;
  if (dv.msgpack && dv.msgpack.length > 0) return decodeMsgpack(dv.msgpack, type);
  if (dv.json && dv.json.length > 0) return decodeJson(dv.json, type);
  return null;
}

/** Encodes a value as a tfplugin6 DynamicValue (always MessagePack). */
export function encodeDynamicValue(value: unknown, type: CtyType): { msgpack: Buffer } {
  const bytes = encodeMsgpack(value, type);
  return { msgpack: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
}

// ---- comparisons -------------------------------------------------------------------

/** Converts a value to match `type` exactly (same rules as encoding), without serializing. */
export function conform(value: unknown, type: CtyType): Value {
  return fromMsgpack(toMsgpack(value, type, []), type, []);
}

/**
 * Semantic equality of two values of `type`: sets ignore order, numbers compare
 * numerically, unknown equals nothing (not even another unknown).
 */
export function valuesEqual(a: Value, b: Value, type: CtyType): boolean {
  if (a instanceof Unknown || b instanceof Unknown) return false;
  if (a === null || b === null) return a === b;
  if (typeof type === 'string') {
    if (type === 'dynamic') return valuesEqual(a, b, inferType(a)) && typeToJson(inferType(a)) === typeToJson(inferType(b));
    if (type === 'number') {
      if (typeof a === 'bigint' || typeof b === 'bigint') {
        if ((typeof a !== 'number' && typeof a !== 'bigint') || (typeof b !== 'number' && typeof b !== 'bigint')) return false;
        if (!Number.isInteger(Number(a)) || !Number.isInteger(Number(b))) return false;
        return BigInt(a) === BigInt(b);
      }
      return a === b;
    }
    return a === b;
  }
  switch (type[0]) {
    case 'list':
    case 'tuple': {
      if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
      return a.every((x, i) => valuesEqual(x, b[i]!, type[0] === 'tuple' ? type[1][i]! : (type[1] as CtyType)));
    }
    case 'set': {
      if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
      const used = new Set<number>();
      return a.every((x) => {
        const j = b.findIndex((y, k) => !used.has(k) && valuesEqual(x, y, type[1]));
        if (j < 0) return false;
        used.add(j);
        return true;
      });
    }
    case 'map': {
      if (typeof a !== 'object' || typeof b !== 'object' || Array.isArray(a) || Array.isArray(b)) return false;
      const ka = Object.keys(a);
      if (ka.length !== Object.keys(b).length) return false;
      return ka.every((k) => k in b && valuesEqual(a[k]!, (b as Record<string, Value>)[k]!, type[1]));
    }
    case 'object': {
      if (typeof a !== 'object' || typeof b !== 'object' || Array.isArray(a) || Array.isArray(b)) return false;
      return Object.entries(type[1]).every(([k, t]) => valuesEqual(a[k] ?? null, (b as Record<string, Value>)[k] ?? null, t));
    }
  }
}
