/**
 * Where clients find the daemon: shared by the CLI (api/cli/resolve.ts) and
 * the IaC providers (provider/vm-resource.ts), which resolve the host and
 * token the same way.
 */

export const DEFAULT_HOST = 'http://localhost:7777';

/** The token file in the user's home directory (written 0600 by `fcm login`). */
export const TOKEN_FILE = '.fcm-token';

/**
 * Accepts `host:port`, `host` or a full http(s) URL; returns the base URL
 * without a trailing slash. `fail` turns a message (which names `source`,
 * where the value came from) into the caller's own error type.
 */
export function normalizeHost(raw: string, source: string, fail: (message: string) => Error): string {
  let s = raw.trim();
  if (!s) throw fail(`${source} is empty`);
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) s = `http://${s}`;
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw fail(`${source} is not a host or URL: "${raw}" (expected e.g. localhost:7777 or https://fcm.example.com)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw fail(`${source} must be an http:// or https:// URL, not "${raw}"`);
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}
