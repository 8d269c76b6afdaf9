import type { Json } from './openapi-routes.js';

/**
 * The copy of openapi.yaml the API reference (/docs) shows readers: the same
 * operations, schemas and examples, without what is written for the CLI
 * generator and the spec's authors — every key starting with `x-cli`
 * (`x-cli` command tables, `x-cli-notes`), at any depth — and with one
 * server, this daemon itself (a relative URL), so "Try it out" talks to the
 * daemon that served the page (the page's CSP allows no other).
 * Other extensions stay: `x-rate-limit`, `x-admin-only` and `x-websocket` tell
 * readers how an operation behaves. /openapi.json keeps the whole spec.
 */
export function readerSpec(spec: Json): Json {
  const copy = strip(spec) as Json;
  copy.servers = [{ url: '/', description: 'This daemon' }];
  return copy;
}

function strip(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(strip);
  if (v === null || typeof v !== 'object') return v;
  const out: Json = {};
  for (const [k, val] of Object.entries(v)) if (!k.startsWith('x-cli')) out[k] = strip(val);
  return out;
}
