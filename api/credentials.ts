/**
 * Credentials per host, shared by the CLI (api/cli/) and the IaC providers
 * (provider/vm-resource.ts): which fcm servers this user is logged in to,
 * the token for each, the CA file that server's certificate chains to (a
 * private CA, e.g. Caddy's internal one under FCM_TLS=internal), and the
 * default server.
 *
 *   $XDG_CONFIG_HOME/fcm/credentials.json  (else ~/.config/fcm/credentials.json;
 *   FCM_CONFIG_DIR overrides the directory), mode 0600 in a 0700 directory:
 *   { "version": 1, "default": "https://fcm.64-34-93-45.sslip.io",
 *     "hosts": { "https://fcm.64-34-93-45.sslip.io": { "token": "fcm_…", "user": "…", "caFile": "…", "savedAt": "…" } } }
 *
 * Keys are host URLs as normalizeHost returns them (scheme, lower-case host,
 * port only when not the scheme's default, no trailing slash), so the same
 * server typed two ways is one entry. A token is only ever sent to the
 * host it is stored under.
 *
 * The legacy ~/.fcm-token (the admin token copied from the server, before
 * this store existed) has no host: it is sent only to a host the user chose
 * by name (--host, FCM_HOST, a provider's `host`) or to the built-in default
 * (localhost), never to one named by a `.fcm` file or taken from this store.
 *
 * SERIALIZATION CONTRACT (Pulumi, see provider/vm-resource.ts): the readers
 * here run inside Pulumi's provider host from serialized closures, so they
 * take Node built-ins through process.getBuiltinModule at call time and keep
 * no module-level state.
 */

import { DEFAULT_HOST, isLoopbackName, normalizeHost, TOKEN_FILE } from './host-url.js';

/** Host-URL rules have one home (api/host-url.ts); re-exported for the store's users. */
export { DEFAULT_HOST, isLoopbackName, normalizeHost as normalizeHostUrl, TOKEN_FILE };
export const CREDENTIALS_FILE = 'credentials.json';

export interface HostCredentials {
  token: string;
  /** Who the token belongs to, as the server said at login (for `fcm hosts`). */
  user?: string;
  /** PEM file of the CA the host's certificate chains to (a copy in the config dir, made at login). */
  caFile?: string;
  savedAt?: string;
}

export interface CredentialStore {
  version: 1;
  /** The host commands use when neither --host, FCM_HOST nor a .fcm names one. */
  default?: string;
  hosts: Record<string, HostCredentials>;
}

type Env = Record<string, string | undefined>;

/** The directory of credentials.json: FCM_CONFIG_DIR, else $XDG_CONFIG_HOME/fcm, else ~/.config/fcm. */
export function configDir(env: Env, home: string): string {
  if (env['FCM_CONFIG_DIR']) return env['FCM_CONFIG_DIR'];
  const xdg = env['XDG_CONFIG_HOME'];
  // The XDG spec: a relative XDG_CONFIG_HOME is invalid and must be ignored.
  return `${xdg && xdg.startsWith('/') ? xdg : `${home}/.config`}/fcm`;
}

export function credentialsPath(env: Env, home: string): string {
  return `${configDir(env, home)}/${CREDENTIALS_FILE}`;
}

export interface LoadedCredentials {
  path: string;
  store: CredentialStore;
  /** Problems worth telling the user (the file is readable by others, or unreadable JSON). */
  warnings: string[];
}

/** Reads the store; a missing file is an empty store, a broken one is reported and treated as empty (never overwritten silently: see saveCredentials). */
export function loadCredentials(env: Env, home: string): LoadedCredentials {
  const fs = process.getBuiltinModule('node:fs');
  const path = credentialsPath(env, home);
  const empty: CredentialStore = { version: 1, hosts: {} };
  let text: string;
  let mode: number;
  try {
    mode = fs.statSync(path).mode;
    text = fs.readFileSync(path, 'utf8');
  } catch {
    return { path, store: empty, warnings: [] };
  }
  const warnings: string[] = [];
  if ((mode & 0o077) !== 0) warnings.push(`${path} can be read by other users (mode ${(mode & 0o777).toString(8)}); run: chmod 600 ${path}`);
  try {
    const j = JSON.parse(text) as Partial<CredentialStore> | null;
    if (!j || typeof j !== 'object' || Array.isArray(j) || typeof j.hosts !== 'object' || j.hosts === null) throw new Error('not an fcm credentials file');
    const hosts: Record<string, HostCredentials> = {};
    for (const [k, v] of Object.entries(j.hosts)) {
      if (v && typeof v === 'object' && typeof v.token === 'string' && v.token.trim()) {
        hosts[k] = {
          token: v.token.trim(),
          ...(typeof v.user === 'string' ? { user: v.user } : {}),
          ...(typeof v.caFile === 'string' && v.caFile ? { caFile: v.caFile } : {}),
          ...(typeof v.savedAt === 'string' ? { savedAt: v.savedAt } : {}),
        };
      }
    }
    const def = typeof j.default === 'string' && hosts[j.default] ? j.default : undefined;
    return { path, store: { version: 1, ...(def ? { default: def } : {}), hosts }, warnings };
  } catch (e) {
    warnings.push(`ignoring ${path}: ${(e as Error).message}`);
    return { path, store: empty, warnings };
  }
}

/** The legacy ~/.fcm-token: its token (trimmed) and a warning when others can read it; null when absent or empty. */
export function readLegacyToken(home: string): { token: string; warnings: string[] } | null {
  const fs = process.getBuiltinModule('node:fs');
  const path = `${home}/${TOKEN_FILE}`;
  try {
    const mode = fs.statSync(path).mode;
    const token = fs.readFileSync(path, 'utf8').trim();
    if (!token) return null;
    const warnings = (mode & 0o077) !== 0 ? [`~/${TOKEN_FILE} can be read by other users (mode ${(mode & 0o777).toString(8)}); run: chmod 600 ~/${TOKEN_FILE}`] : [];
    return { token, warnings };
  } catch {
    return null;
  }
}

/** Where the host came from: the user's own choice (flag/env/provider config), a `.fcm` file, the store's default, or the built-in default. */
export type HostOrigin = 'named' | 'dotfile' | 'stored-default' | 'builtin-default';

export interface TokenChoice {
  token: string | null;
  /** 'FCM_TOKEN' | 'credentials' | '~/.fcm-token' | null */
  source: 'FCM_TOKEN' | 'credentials' | '~/.fcm-token' | null;
  /** Set when a token exists but is withheld from this host, saying why. */
  withheld?: string;
  warnings: string[];
}

/**
 * The token for `host`, by the rules at the top of this file:
 * FCM_TOKEN (for a host the user named, or a default; never for one only a
 * .fcm file names) > the store's token for this exact host > ~/.fcm-token
 * (for a named host or the built-in default only).
 */
export function chooseToken(host: string, origin: HostOrigin, env: Env, home: string, loaded: LoadedCredentials): TokenChoice {
  const stored = loaded.store.hosts[host];
  const envToken = env['FCM_TOKEN']?.trim();
  if (envToken && origin !== 'dotfile') return { token: envToken, source: 'FCM_TOKEN', warnings: [] };
  if (stored) return { token: stored.token, source: 'credentials', warnings: [] };
  if (envToken) {
    return { token: null, source: null, warnings: [], withheld: 'FCM_TOKEN is not sent to a host that only a .fcm file names' };
  }
  if (origin === 'named' || origin === 'builtin-default') {
    const legacy = readLegacyToken(home);
    if (legacy) return { token: legacy.token, source: '~/.fcm-token', warnings: legacy.warnings };
  } else if (readLegacyToken(home)) {
    return { token: null, source: null, warnings: [], withheld: `~/${TOKEN_FILE} is not sent to a host that only a .fcm file names` };
  }
  return { token: null, source: null, warnings: [] };
}
