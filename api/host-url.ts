/**
 * Where clients find the daemon: shared by the CLI (api/cli/resolve.ts) and
 * the IaC providers (provider/vm-resource.ts), which resolve the host and
 * token the same way.
 */

export const DEFAULT_HOST = 'http://localhost:7777';

/** The legacy token file in the user's home directory (the seed's workflow; fcm login now writes api/credentials.ts's store). */
export const TOKEN_FILE = '.fcm-token';

/**
 * Accepts `host:port`, `host` or a full http(s) URL; returns the base URL
 * without a trailing slash. Without a scheme, loopback names get http://
 * (a daemon's own listener) and every other name https:// (never plain
 * text to a remote host by accident). `fail` turns a message (which names
 * `source`, where the value came from) into the caller's own error type.
 */
export function normalizeHost(raw: string, source: string, fail: (message: string) => Error): string {
  let s = raw.trim();
  if (!s) throw fail(`${source} is empty`);
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) {
    const name = /^\[([^\]]*)\]/.exec(s)?.[1] ?? s.split(/[:/]/)[0] ?? '';
    s = `${isLoopbackName(name) ? 'http' : 'https'}://${s}`;
  }
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw fail(`${source} is not a host or URL: "${raw}" (expected e.g. localhost:7777 or https://fcm.example.com)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw fail(`${source} must be an http:// or https:// URL, not "${raw}"`);
  if (!u.hostname) throw fail(`${source} is not a host or URL: "${raw}" (expected e.g. localhost:7777 or https://fcm.example.com)`);
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

/** localhost, 127.0.0.0/8 and ::1 (a name, without brackets). */
export function isLoopbackName(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(h) || h === '::1';
}
