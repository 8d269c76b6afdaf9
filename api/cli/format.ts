/** Human output: tables from `x-cli.columns`, key/value blocks, message templates. */
import type { ColumnSpec } from '../gen/cli-table.js';
import { visibleLength, type Style } from './io.js';

type Obj = Record<string, unknown>;

/** 42s, 5m, 3h, 2d — time since `iso`. */
export function age(iso: string, now: number): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.max(0, Math.floor((now - t) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 48 * 3600) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** Colours for VM states; unknown values stay plain. */
export function paintState(state: string, st: Style): string {
  switch (state) {
    case 'running':
      return st.green(state);
    case 'failed':
      return st.red(state);
    case 'stopped':
      return st.dim(state);
    case 'creating':
    case 'starting':
    case 'stopping':
    case 'deleting':
      return st.yellow(state);
    default:
      return state;
  }
}

export function cell(v: unknown): string {
  if (v === null || v === undefined || v === '') return '-';
  if (Array.isArray(v)) return v.length ? v.map(cell).join(',') : '-';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** The rows of a response: a list response's one array property, or the object itself. */
export function rowsOf(data: unknown): Obj[] {
  if (Array.isArray(data)) return data as Obj[];
  if (data && typeof data === 'object') {
    const arrays = Object.values(data as Obj).filter(Array.isArray);
    if (arrays.length === 1) return arrays[0] as Obj[];
    return [data as Obj];
  }
  return [];
}

export function table(rows: Obj[], columns: ColumnSpec[], st: Style, now: number): string {
  const body = rows.map((r) =>
    columns.map((c) => {
      const v = r[c.field];
      if (c.format === 'age' && typeof v === 'string') return age(v, now);
      const text = cell(v);
      return c.field === 'state' ? paintState(text, st) : text;
    }),
  );
  const head = columns.map((c) => c.title);
  const widths = head.map((h, i) => Math.max(visibleLength(h), ...body.map((r) => visibleLength(r[i]!))));
  const line = (cells: string[], paint: (s: string) => string = (s) => s) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? paint(c) : paint(c) + ' '.repeat(widths[i]! - visibleLength(c))))
      .join('   ')
      .trimEnd();
  return [line(head, st.bold), ...body.map((r) => line(r))].join('\n') + '\n';
}

/** `key  value` lines; nested objects flattened with dots. */
export function keyValues(obj: Obj, st: Style): string {
  const pairs: [string, string][] = [];
  const walk = (o: Obj, prefix: string) => {
    for (const [k, v] of Object.entries(o)) {
      if (v && typeof v === 'object' && !Array.isArray(v)) walk(v as Obj, `${prefix}${k}.`);
      else pairs.push([`${prefix}${k}`, k === 'state' ? paintState(cell(v), st) : cell(v)]);
    }
  };
  walk(obj, '');
  const w = Math.max(0, ...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${st.dim(`${k}:`)}${' '.repeat(w - k.length + 2)}${v}`).join('\n') + (pairs.length ? '\n' : '');
}

/** Fills `{field}` from the first source that has it; unknown placeholders stay as they are. */
export function fill(template: string, ...sources: (Obj | null | undefined)[]): string {
  return template.replace(/\{([A-Za-z0-9_.]+)\}/g, (m, key: string) => {
    for (const s of sources) {
      if (s && s[key] !== undefined && s[key] !== null) return cell(s[key]);
    }
    return m;
  });
}
