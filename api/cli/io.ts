/**
 * Everything the CLI touches outside itself, injectable so unit tests can run
 * it in-process: streams (with their TTY-ness), environment, directories, fetch.
 */
import { homedir } from 'node:os';
import stringWidth from 'string-width';

export interface OutStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface InStream extends NodeJS.EventEmitter {
  isTTY?: boolean;
  setEncoding?(enc: BufferEncoding): unknown;
  resume?(): unknown;
  pause?(): unknown;
}

export interface Io {
  stdout: OutStream;
  stderr: OutStream;
  stdin: InStream;
  env: Record<string, string | undefined>;
  cwd: string;
  home: string;
  fetch?: typeof globalThis.fetch;
  /** Aborted on Ctrl-C: long waits stop cleanly. */
  signal?: AbortSignal;
  now?: () => number;
}

export function processIo(signal?: AbortSignal): Io {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    cwd: process.cwd(),
    home: homedir(),
    ...(signal ? { signal } : {}),
  };
}

/** NO_COLOR (any non-empty value) wins, then FORCE_COLOR, then: a TTY that is not TERM=dumb. */
export function colorEnabled(stream: OutStream, env: Io['env'], noColorFlag = false): boolean {
  if (noColorFlag || (env.NO_COLOR !== undefined && env.NO_COLOR !== '')) return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '' && env.FORCE_COLOR !== '0') return true;
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}

export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

const sgr = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`;

export function style(enabled: boolean): Style {
  if (!enabled) {
    const id = (s: string) => s;
    return { bold: id, dim: id, red: id, green: id, yellow: id, cyan: id };
  }
  return { bold: sgr(1, 22), dim: sgr(2, 22), red: sgr(31, 39), green: sgr(32, 39), yellow: sgr(33, 39), cyan: sgr(36, 39) };
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

export function stripAnsi(s: string): string {
  return s.replace(ANSI, '');
}

/** Columns `s` takes on a terminal: colour codes take none, wide (CJK) and emoji characters two, combining marks none (string-width). */
export function visibleLength(s: string): number {
  return stringWidth(s);
}

/** The terminal's width for tables: a TTY's columns, else $COLUMNS when set; undefined (no limit) for pipes and files. */
export function terminalColumns(stream: OutStream, env: Io['env']): number | undefined {
  if (stream.isTTY && stream.columns && stream.columns > 0) return stream.columns;
  const c = Number(env.COLUMNS);
  return Number.isInteger(c) && c > 0 ? c : undefined;
}
