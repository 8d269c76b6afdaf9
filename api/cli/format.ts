/** Human output: tables from `x-cli.columns`, key/value blocks, message templates. */
import type { ColumnSpec } from '../gen/cli-table.js';
import stringWidth from 'string-width';
import { stripAnsi, visibleLength, type Style } from './io.js';

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

/**
 * Columns aligned by display width. With `maxWidth` (the terminal's), the
 * widest columns give way first, down to their title's width (at least 4),
 * and cut cells end in "…"; the last column is never padded.
 */
export function table(rows: Obj[], columns: ColumnSpec[], st: Style, now: number, maxWidth?: number): string {
  const body = rows.map((r) =>
    columns.map((c) => {
      const v = r[c.field];
      if (c.format === 'age' && typeof v === 'string') return age(v, now);
      return cell(v);
    }),
  );
  const head = columns.map((c) => c.title);
  const widths = head.map((h, i) => Math.max(visibleLength(h), ...body.map((r) => visibleLength(r[i]!))));
  if (maxWidth !== undefined) fitWidths(widths, head.map((h) => Math.max(4, visibleLength(h))), maxWidth);
  const line = (cells: string[], paint: (s: string, i: number) => string) =>
    cells
      .map((raw, i) => {
        const c = paint(truncate(raw, widths[i]!), i);
        return i === cells.length - 1 ? c : c + ' '.repeat(Math.max(0, widths[i]! - visibleLength(c)));
      })
      .join(GAP)
      .trimEnd();
  const paintCell = (s: string, i: number) => (columns[i]!.field === 'state' ? paintState(s, st) : s);
  return [line(head, (s) => st.bold(s)), ...body.map((r) => line(r, paintCell))].join('\n') + '\n';
}

const GAP = '   ';

/** Narrows `widths` in place until they fit `max` (with the gaps): always the widest column above its minimum. */
export function fitWidths(widths: number[], mins: number[], max: number): void {
  let total = widths.reduce((a, b) => a + b, 0) + GAP.length * (widths.length - 1);
  while (total > max) {
    let widest = -1;
    widths.forEach((w, i) => {
      if (w > mins[i]! && (widest === -1 || w > widths[widest]!)) widest = i;
    });
    if (widest === -1) return; // every column at its minimum: let the terminal wrap
    widths[widest]!--;
    total--;
  }
}

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** `s` cut to `width` display columns, ending in "…" when cut; a wide character is never split. Colour codes are dropped from a cut string. */
export function truncate(s: string, width: number): string {
  if (visibleLength(s) <= width) return s;
  if (width <= 0) return '';
  let out = '';
  let used = 0;
  for (const { segment } of segmenter.segment(stripAnsi(s))) {
    const w = stringWidth(segment);
    if (used + w > width - 1) break;
    out += segment;
    used += w;
  }
  return `${out}…`;
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

const UNITS: [number, string][] = [
  [365 * 86400, 'year'],
  [30 * 86400, 'month'],
  [7 * 86400, 'week'],
  [86400, 'day'],
  [3600, 'hour'],
  [60, 'minute'],
  [1, 'second'],
];

/** "3 minutes ago", "in 2 days", "just now" — time from `now` to `iso`, in the largest whole unit. */
export function relativeTime(iso: string, now: number): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const diff = Math.round((t - now) / 1000);
  const abs = Math.abs(diff);
  if (abs < 5) return 'just now';
  const [size, unit] = UNITS.find(([u]) => abs >= u)!;
  const n = Math.floor(abs / size);
  const text = `${n} ${unit}${n === 1 ? '' : 's'}`;
  return diff < 0 ? `${text} ago` : `in ${text}`;
}

/** `2026-01-01 13:00:00 +01:00`: a time in the local zone ($TZ when it names one), with its offset. */
export function localTime(iso: string, env: Record<string, string | undefined> = {}): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  let fmt: Intl.DateTimeFormat;
  const opts: Intl.DateTimeFormatOptions = { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZoneName: 'longOffset' };
  try {
    fmt = new Intl.DateTimeFormat('en-US', { ...opts, ...(env.TZ ? { timeZone: env.TZ.replace(/^:/, '') } : {}) });
  } catch {
    fmt = new Intl.DateTimeFormat('en-US', opts); // an unknown $TZ: the process's own zone
  }
  const p = Object.fromEntries(fmt.formatToParts(new Date(t)).map((x) => [x.type, x.value]));
  const offset = /^GMT([+-]\d\d:\d\d)?$/.exec(p.timeZoneName ?? '')?.[1] ?? '+00:00';
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second} ${offset}`;
}

/** A time for people: local, with how long ago (or until). */
export function when(iso: unknown, now: number, env: Record<string, string | undefined>): string {
  if (typeof iso !== 'string' || !iso) return '-';
  return `${localTime(iso, env)} (${relativeTime(iso, now)})`;
}

function block(rows: [string, string][], st: Style): string {
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${st.dim(`${k}:`)}${' '.repeat(w - k.length + 2)}${v}`).join('\n') + '\n';
}

/** `fcm show`: the VM for people (local times, ages, sizes in words); --json keeps the API object. */
export function showVm(vm: Obj, st: Style, now: number, env: Record<string, string | undefined>): string {
  const mib = (n: unknown) => (typeof n === 'number' ? (n >= 1024 && n % 1024 === 0 ? `${n / 1024} GiB` : `${n} MiB`) : '-');
  const vcpus = Number(vm.vcpus);
  const domains = Array.isArray(vm.domains) ? (vm.domains as string[]) : [];
  const pending = new Set(Array.isArray(vm.pendingDomains) ? (vm.pendingDomains as string[]) : []);
  const rows: [string, string][] = [
    ['State', paintState(cell(vm.state), st)],
    ['URL', cell(vm.url)],
    ['IP', cell(vm.ip)],
    ['Size', `${vcpus} vCPU${vcpus === 1 ? '' : 's'}, ${mib(vm.memoryMib)} memory, ${mib(vm.diskMib)} disk, ${vm.swapMib ? `${mib(vm.swapMib)} swap` : 'no swap'}`],
    ['Domains', domains.length ? domains.map((d) => (pending.has(d) ? `${d} (pending)` : d)).join(', ') : '-'],
    ['Git', cell(vm.gitUrl)],
    ['Git (HTTPS)', cell(vm.gitHttpUrl)],
    ['Sleep after', vm.sleepAfter === 'off' || !vm.sleepAfter ? 'never' : `${cell(vm.sleepAfter)} idle`],
    ['Image', `${cell(vm.image)} (port ${cell(vm.port)}, ${cell(vm.hypervisor)})`],
    ['Created', when(vm.createdAt, now, env)],
    ['Updated', when(vm.updatedAt, now, env)],
  ];
  if (vm.lastError) rows.push(['Last error', st.red(cell(vm.lastError))]);
  return `${st.bold(cell(vm.name))}  ${st.dim(cell(vm.id))}\n${block(rows, st)}`;
}

/** `fcm releases show N`: the release, then its build log as the push printed it. */
export function showRelease(r: Obj, st: Style, now: number, env: Record<string, string | undefined>): string {
  const status = cell(r.status);
  const painted = status === 'succeeded' ? st.green(status) : status === 'failed' ? st.red(status) : status === 'superseded' ? st.dim(status) : st.yellow(status);
  const procs = r.processes && typeof r.processes === 'object' ? Object.entries(r.processes as Record<string, string>) : [];
  const rows: [string, string][] = [
    ['Status', painted],
    ['Kind', `${cell(r.kind)}${typeof r.rollbackOf === 'number' ? ` (of v${r.rollbackOf})` : ''}`],
    ['Description', cell(r.description)],
    ['Commit', cell(r.commit)],
    ['Buildpack', cell(r.buildpack)],
    ['Processes', procs.length ? procs.map(([k, v]) => `${k}: ${v}`).join('; ') : '-'],
    ['Created', when(r.createdAt, now, env)],
    ['Finished', when(r.finishedAt, now, env)],
  ];
  const log = typeof r.log === 'string' ? r.log : '';
  const tail = log ? `\n${st.bold('Build log')}\n${log.endsWith('\n') ? log : `${log}\n`}` : `\n${st.dim('(no build log)')}\n`;
  return `${st.bold(`v${cell(r.version)}`)}\n${block(rows, st)}${tail}`;
}
