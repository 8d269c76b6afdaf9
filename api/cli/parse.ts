/**
 * A small argv parser driven by flag definitions (which come from the command
 * table). Types are checked here so a typo fails before any request is sent:
 * integers, numbers, bounds, enums; booleans as --x / --no-x / --x=false;
 * arrays as comma-separated and/or repeated values.
 */
import type { FlagSpec } from '../gen/cli-table.js';

/** A mistake in how the command was called: exit code 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly opts: { suggestion?: string; command?: string } = {},
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export type Scalar = 'string' | 'integer' | 'number' | 'boolean';

export interface FlagDef {
  /** Long name without dashes, kebab-case. */
  long: string;
  short?: string;
  type: FlagSpec['type'];
  items?: Scalar;
  enum?: string[];
  minimum?: number;
  maximum?: number;
  default?: unknown;
  description: string;
  /** Shown as `--host <url>`. */
  valueName?: string;
  /** A boolean that also has a --no-x form (shown as --[no-]x). */
  negatable?: boolean;
  /** Its value is a VM name (completion offers them). */
  vmRef?: boolean;
  /** Old long names still accepted, each reported in `Parsed.deprecated` when used (e.g. --name for --app). */
  aliases?: string[];
}

export type FlagValue = string | number | boolean | (string | number | boolean)[];

export interface Parsed {
  positionals: string[];
  /** Only flags the user gave, by long name. */
  flags: Record<string, FlagValue>;
  /** Deprecated spellings the user gave: [given, instead]; the dispatcher warns about each. */
  deprecated?: [string, string][];
}

export function flagFromSpec(f: FlagSpec): FlagDef {
  return {
    long: f.flag,
    type: f.type,
    description: f.vmRef ? `${f.description} (default: the VM in ./.fcm)` : f.description,
    ...(f.vmRef ? { vmRef: true, valueName: 'vm' } : {}),
    ...(f.type === 'boolean' ? { negatable: true } : {}),
    ...(f.short ? { short: f.short } : {}),
    ...(f.items ? { items: f.items } : {}),
    ...(f.enum ? { enum: f.enum } : {}),
    ...(f.minimum !== undefined ? { minimum: f.minimum } : {}),
    ...(f.maximum !== undefined ? { maximum: f.maximum } : {}),
    ...(f.default !== undefined ? { default: f.default } : {}),
  };
}

/**
 * Parses `argv` against `defs`. `maxPositionals` null = any number.
 * `stopAtPositional`: stop at the first positional and return the rest
 * untouched in `positionals` (for the global flags before the command name).
 */
export function parseArgs(
  argv: string[],
  defs: FlagDef[],
  opts: { maxPositionals?: number | null; stopAtPositional?: boolean } = {},
): Parsed {
  const byLong = new Map(defs.map((d) => [d.long, d]));
  const byAlias = new Map(defs.flatMap((d) => (d.aliases ?? []).map((a) => [a, d] as const)).filter(([a]) => !byLong.has(a)));
  const byShort = new Map(defs.filter((d) => d.short).map((d) => [d.short!, d]));
  const out: Parsed = { positionals: [], flags: {} };
  const max = opts.maxPositionals === undefined ? null : opts.maxPositionals;

  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--') && a.length > 2) {
      const eq = a.indexOf('=');
      const name = eq === -1 ? a.slice(2) : a.slice(2, eq);
      const inline = eq === -1 ? undefined : a.slice(eq + 1);
      let def = byLong.get(name);
      if (!def && byAlias.has(name)) {
        def = byAlias.get(name)!;
        (out.deprecated ??= []).push([`--${name}`, `--${def.long}`]);
      }
      if (!def && name.startsWith('no-')) {
        const neg = byLong.get(name.slice(3));
        if (neg?.type === 'boolean' && neg.negatable) {
          if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
          out.flags[neg.long] = false;
          continue;
        }
      }
      if (!def) throw unknownFlag(`--${name}`, defs);
      if (def.type === 'boolean') {
        out.flags[def.long] = inline === undefined ? true : parseBool(def, inline);
        continue;
      }
      let raw = inline;
      if (raw === undefined) {
        if (i + 1 >= argv.length) throw new UsageError(`--${def.long} needs a value${hintValue(def)}`);
        raw = argv[++i]!;
      }
      set(out, def, raw);
      continue;
    }
    if (a.startsWith('-') && a.length > 1 && !/^-\d/.test(a)) {
      // Short flags combine as in getopt: `-fn 50` is `-f -n 50`, `-n50` is `-n 50`, `-yf` is `-y -f`.
      // A flag that takes a value ends the group: the rest of the word, else the next word, is its value.
      const letters = a.slice(1);
      for (let j = 0; j < letters.length; j++) {
        const ch = letters[j]!;
        const def = byShort.get(ch);
        if (!def) throw unknownFlag(letters.length === 1 ? a : `-${ch}${j === 0 ? '' : ` (in ${a})`}`, defs);
        if (def.type === 'boolean') {
          out.flags[def.long] = true;
          continue;
        }
        const attached = letters.slice(j + 1).replace(/^=/, '');
        if (attached) set(out, def, attached);
        else {
          if (i + 1 >= argv.length) throw new UsageError(`-${ch} needs a value${hintValue(def)}`);
          set(out, def, argv[++i]!);
        }
        break;
      }
      continue;
    }
    if (opts.stopAtPositional) {
      out.positionals.push(...argv.slice(i));
      break;
    }
    if (max !== null && out.positionals.length >= max) {
      throw new UsageError(max === 0 ? `unexpected argument "${a}": this command takes none` : `unexpected argument "${a}"`);
    }
    out.positionals.push(a);
  }
  return out;
}

function set(out: Parsed, def: FlagDef, raw: string): void {
  if (def.type === 'array') {
    const items = raw.split(',').map((s) => s.trim()).filter(Boolean).map((s) => convert(def, def.items ?? 'string', s));
    const prev = out.flags[def.long];
    out.flags[def.long] = [...(Array.isArray(prev) ? prev : []), ...items];
    return;
  }
  out.flags[def.long] = convert(def, def.type, raw);
}

/** A positional value converted to its declared type; `label` names it in errors (e.g. "<version>"). */
export function convertArg(label: string, type: Scalar, raw: string): string | number | boolean {
  return convert({ long: label, type, description: '' }, type, raw, label);
}

function convert(def: FlagDef, type: Scalar, raw: string, label = `--${def.long}`): string | number | boolean {
  const flag = label;
  if (type === 'boolean') return parseBool(def, raw, label);
  if (type === 'integer' || type === 'number') {
    const ok = type === 'integer' ? /^[+-]?\d+$/.test(raw.trim()) : raw.trim() !== '' && Number.isFinite(Number(raw));
    if (!ok) throw new UsageError(`${flag} must be ${type === 'integer' ? 'a whole number' : 'a number'}, not "${raw}"`);
    const n = Number(raw);
    const { minimum: lo, maximum: hi } = def;
    if ((lo !== undefined && n < lo) || (hi !== undefined && n > hi)) {
      const range = lo !== undefined && hi !== undefined ? `between ${lo} and ${hi}` : lo !== undefined ? `at least ${lo}` : `at most ${hi}`;
      throw new UsageError(`${flag} must be ${range}, not ${raw}`);
    }
    return n;
  }
  if (def.enum && !def.enum.includes(raw)) {
    const s = suggest(raw, def.enum);
    throw new UsageError(`${flag} must be one of ${def.enum.join(', ')}; not "${raw}"`, s ? { suggestion: s } : {});
  }
  return raw;
}

function parseBool(def: FlagDef, raw: string, label?: string): boolean {
  const v = raw.toLowerCase();
  if (['true', 'yes', '1', 'on'].includes(v)) return true;
  if (['false', 'no', '0', 'off'].includes(v)) return false;
  if (label && !label.startsWith('--')) throw new UsageError(`${label} must be true or false, not "${raw}"`);
  throw new UsageError(`--${def.long} is a switch: use --${def.long} or --no-${def.long}, not "${raw}"`);
}

function hintValue(def: FlagDef): string {
  if (def.enum) return ` (one of ${def.enum.join(', ')})`;
  if (def.type === 'integer') return ' (a whole number)';
  return '';
}

function unknownFlag(given: string, defs: FlagDef[]): UsageError {
  const names = defs.flatMap((d) => [`--${d.long}`, ...(d.negatable ? [`--no-${d.long}`] : []), ...(d.short ? [`-${d.short}`] : [])]);
  // A one-letter flag is not worth a guess (any other letter is "close").
  const s = given.startsWith('--') ? suggest(given, names) : undefined;
  return new UsageError(`unknown flag ${given}`, s ? { suggestion: s } : {});
}

/** The closest candidate, if it is close enough to be a typo (or the only one the input is a prefix of). */
export function suggest(input: string, candidates: string[]): string | undefined {
  const prefixed = candidates.filter((c) => c.startsWith(input) && input.length >= 2);
  if (prefixed.length === 1) return prefixed[0];
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(input.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  const limit = Math.max(1, Math.min(3, Math.floor(input.replace(/^-+/, '').length / 3) + 1));
  return bestD <= limit ? best : undefined;
}

/** Damerau–Levenshtein (optimal string alignment): a swap of two letters costs 1. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
