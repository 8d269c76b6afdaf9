/**
 * Where the CLI talks to and as whom.
 *   host:  --host > FCM_HOST > ./.fcm (nearest, walking up) > http://localhost:7777
 *   token: FCM_TOKEN > ~/.fcm-token (should be 0600; a warning otherwise)
 * `.fcm` is JSON {"vm": "...", "host": "..."}, written by `fcm create` so
 * later commands in that directory default to that VM.
 */
import { existsSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { DEFAULT_HOST, normalizeHost as normalizeHostUrl, TOKEN_FILE } from '../host-url.js';
import { UsageError } from './parse.js';

export { DEFAULT_HOST, TOKEN_FILE };
export const DOTFILE = '.fcm';

export interface Dotfile {
  vm?: string;
  host?: string;
  /** Absolute path of the file this came from. */
  path: string;
}

export type HostSource = '--host' | 'FCM_HOST' | '.fcm' | 'default';

export interface ResolvedHost {
  url: string;
  source: HostSource;
}

/** Accepts `host:port`, `host` or a full http(s) URL; returns the base URL without a trailing slash (api/host-url.ts). */
export function normalizeHost(raw: string, source: string): string {
  return normalizeHostUrl(raw, source, (message) => new UsageError(message));
}

export function resolveHost(flag: string | undefined, env: Record<string, string | undefined>, dot: Dotfile | null): ResolvedHost {
  if (flag !== undefined) return { url: normalizeHost(flag, '--host'), source: '--host' };
  if (env.FCM_HOST) return { url: normalizeHost(env.FCM_HOST, 'FCM_HOST'), source: 'FCM_HOST' };
  if (dot?.host) return { url: normalizeHost(dot.host, dot.path), source: '.fcm' };
  return { url: DEFAULT_HOST, source: 'default' };
}

export interface ResolvedToken {
  token: string | null;
  source: 'FCM_TOKEN' | '~/.fcm-token' | null;
  warnings: string[];
}

export function resolveToken(env: Record<string, string | undefined>, home: string): ResolvedToken {
  if (env.FCM_TOKEN?.trim()) return { token: env.FCM_TOKEN.trim(), source: 'FCM_TOKEN', warnings: [] };
  const path = join(home, TOKEN_FILE);
  let text: string;
  let mode: number;
  try {
    mode = statSync(path).mode;
    text = readFileSync(path, 'utf8');
  } catch {
    return { token: null, source: null, warnings: [] };
  }
  const warnings: string[] = [];
  if ((mode & 0o077) !== 0) {
    warnings.push(`~/${TOKEN_FILE} can be read by other users (mode ${(mode & 0o777).toString(8)}); run: chmod 600 ~/${TOKEN_FILE}`);
  }
  const token = text.trim();
  return { token: token || null, source: token ? '~/.fcm-token' : null, warnings };
}

/** The nearest `.fcm` from `cwd` upwards, or null. A broken file is reported, not fatal. */
export function findDotfile(cwd: string, warn: (msg: string) => void): Dotfile | null {
  for (let dir = cwd; ; dir = dirname(dir)) {
    const path = join(dir, DOTFILE);
    if (existsSync(path)) {
      try {
        const j = JSON.parse(readFileSync(path, 'utf8')) as unknown;
        if (!j || typeof j !== 'object' || Array.isArray(j)) throw new Error('not a JSON object');
        const o = j as Record<string, unknown>;
        return {
          path,
          ...(typeof o.vm === 'string' && o.vm ? { vm: o.vm } : {}),
          ...(typeof o.host === 'string' && o.host ? { host: o.host } : {}),
        };
      } catch (e) {
        warn(`ignoring ${displayPath(path, cwd)}: ${(e as Error).message}`);
        return null;
      }
    }
    if (dirname(dir) === dir) return null;
  }
}

export function writeDotfile(dir: string, data: { vm: string; host: string }): string {
  const path = join(dir, DOTFILE);
  writeFileSync(path, `${JSON.stringify({ vm: data.vm, host: data.host })}\n`);
  return path;
}

export function removeDotfile(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* already gone */
  }
}

/** `./.fcm` for the current directory, a relative path otherwise. */
export function displayPath(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel.startsWith('..') ? rel : `./${rel}`;
}
