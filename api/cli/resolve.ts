/**
 * Where the CLI talks to and as whom.
 *   host:  --host > FCM_HOST > ./.fcm (nearest, walking up) > the default host
 *          of the credential store (fcm login / fcm hosts use) > http://localhost:7777
 *   token: chosen per host by api/credentials.ts (FCM_TOKEN, the store's token
 *          for that host, the legacy ~/.fcm-token), never sent elsewhere
 *   CA:    --ca-file > FCM_CA_FILE > the CA file stored with the host's credentials
 * `.fcm` is JSON {"vm": "...", "host": "..."}, written by `fcm create` so
 * later commands in that directory default to that VM. Anyone can commit a
 * `.fcm` to a repository: it chooses the host, never which token goes there.
 */
import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { DEFAULT_HOST, normalizeHost as normalizeHostUrl, TOKEN_FILE } from '../host-url.js';
import { chooseToken, type HostOrigin, type LoadedCredentials, type TokenChoice } from '../credentials.js';
import { UsageError } from './parse.js';

export { DEFAULT_HOST, TOKEN_FILE };
export const DOTFILE = '.fcm';

export interface Dotfile {
  vm?: string;
  host?: string;
  /** Absolute path of the file this came from. */
  path: string;
}

export type HostSource = '--host' | 'FCM_HOST' | '.fcm' | 'credentials' | 'default';

export interface ResolvedHost {
  url: string;
  source: HostSource;
}

/** Accepts `host:port`, `host` or a full http(s) URL; returns the base URL without a trailing slash (api/host-url.ts). */
export function normalizeHost(raw: string, source: string): string {
  return normalizeHostUrl(raw, source, (message) => new UsageError(message));
}

export function resolveHost(flag: string | undefined, env: Record<string, string | undefined>, dot: Dotfile | null, storedDefault?: string): ResolvedHost {
  if (flag !== undefined) return { url: normalizeHost(flag, '--host'), source: '--host' };
  if (env.FCM_HOST) return { url: normalizeHost(env.FCM_HOST, 'FCM_HOST'), source: 'FCM_HOST' };
  if (dot?.host) return { url: normalizeHost(dot.host, dot.path), source: '.fcm' };
  if (storedDefault) return { url: storedDefault, source: 'credentials' };
  return { url: DEFAULT_HOST, source: 'default' };
}

export function hostOrigin(source: HostSource): HostOrigin {
  switch (source) {
    case '--host':
    case 'FCM_HOST':
      return 'named';
    case '.fcm':
      return 'dotfile';
    case 'credentials':
      return 'stored-default';
    default:
      return 'builtin-default';
  }
}

export type ResolvedToken = TokenChoice;

export function resolveToken(host: ResolvedHost, env: Record<string, string | undefined>, home: string, creds: LoadedCredentials): ResolvedToken {
  return chooseToken(host.url, hostOrigin(host.source), env, home, creds);
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
