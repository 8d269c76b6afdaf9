/**
 * The API reference (`/docs`): Swagger UI (swagger-ui-dist, a maintained
 * OpenAPI 3.1 renderer) over the reader copy of the spec (reader-spec.ts),
 * every file served by the daemon itself — no CDN, works offline.
 *
 *   /docs                      the page (no inline script or style)
 *   /docs/openapi.json         the reader copy of openapi.yaml
 *   /docs/assets/<file>        swagger-ui's bundle and style, read once from
 *                              node_modules/swagger-ui-dist; docs.js starts it
 *
 * The CSP is the dashboard's (routes/dashboard.ts) with one addition:
 * `img-src 'self' data:`, because swagger-ui.css draws its icons (arrows,
 * locks, the copy button) as data: URIs. Scripts and styles stay same-origin
 * only (no 'unsafe-inline', no 'unsafe-eval': swagger-ui sets element styles
 * through the DOM, which style-src does not govern), requests only to this
 * daemon (connect-src 'self': the spec and "Try it out"), no frames, no forms
 * posted anywhere. Swagger UI's own outbound features are off: no validator
 * badge (validatorUrl: null), no `?url=` to load another spec (queryConfigEnabled).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { FcmError } from '../../core/errors.js';
import { browserPageHeaders } from '../page-headers.js';
import type { Json } from '../openapi-routes.js';
import { readerSpec } from '../reader-spec.js';

export const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>fcm API reference</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="stylesheet" href="/docs/assets/docs.css">
</head>
<body>
<header class="fcm-docs-header">
  <h1>fcm API reference</h1>
  <nav aria-label="Elsewhere"><a href="/dashboard/">Dashboard</a> · <a href="/docs/openapi.json">this spec as JSON</a> · <a href="/openapi.json">the full spec (with the CLI generator's notes)</a></nav>
</header>
<main id="swagger-ui"><noscript>This page needs JavaScript. The spec itself: <a href="/docs/openapi.json">/docs/openapi.json</a>.</noscript></main>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/docs.js"></script>
</body>
</html>
`;

/** Starts Swagger UI on the reader copy: operations listed (each expands to its parameters, request body, responses, examples and schemas). */
export const DOCS_JS = `'use strict';
window.addEventListener('DOMContentLoaded', function () {
  window.ui = SwaggerUIBundle({
    url: '/docs/openapi.json',
    dom_id: '#swagger-ui',
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
    deepLinking: true,
    docExpansion: 'list',
    defaultModelsExpandDepth: 0,
    defaultModelExpandDepth: 3,
    defaultModelRendering: 'example',
    displayOperationId: true,
    displayRequestDuration: true,
    showExtensions: true,
    showCommonExtensions: true,
    filter: true,
    validatorUrl: null,
    queryConfigEnabled: false,
    tryItOutEnabled: false,
    withCredentials: false,
  });
});
`;

const DOCS_CSS = `.fcm-docs-header{font:15px/1.5 system-ui,sans-serif;max-width:1460px;margin:0 auto;padding:1rem 20px 0;color:#3b4151}
.fcm-docs-header h1{font-size:1.5rem;margin:0 0 .25rem}
.fcm-docs-header a{color:#1f5fa8}
`;

interface Asset { type: string; body: string | Buffer }

/** swagger-ui-dist's files, read once (the first /docs request), from the installed package. */
let dist: Record<string, Asset> | null = null;
function assets(): Record<string, Asset> {
  if (dist) return dist;
  const dir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  dist = {
    'swagger-ui-bundle.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(join(dir, 'swagger-ui-bundle.js')) },
    'swagger-ui.css': { type: 'text/css; charset=utf-8', body: readFileSync(join(dir, 'swagger-ui.css')) },
    'docs.js': { type: 'text/javascript; charset=utf-8', body: DOCS_JS },
    'docs.css': { type: 'text/css; charset=utf-8', body: DOCS_CSS },
  };
  return dist;
}

function secure(reply: FastifyReply, type: string): FastifyReply {
  return browserPageHeaders(reply, type, DOCS_CSP);
}

export function apiDocsRoutes(app: FastifyInstance, spec: Json): void {
  const reader = JSON.stringify(readerSpec(spec));
  app.get('/docs', { logLevel: 'warn' }, async (_req, reply) => secure(reply, 'text/html; charset=utf-8').header('cache-control', 'no-cache').send(DOCS_HTML));
  app.get('/docs/openapi.json', { logLevel: 'warn' }, async (_req, reply) => secure(reply, 'application/json; charset=utf-8').header('cache-control', 'no-cache').send(reader));
  app.get('/docs/assets/:file', { logLevel: 'warn' }, async (req, reply) => {
    const file = (req.params as { file: string }).file;
    const all = assets();
    const asset = Object.hasOwn(all, file) ? all[file]! : null;
    if (!asset) throw new FcmError('not_found', 'No such API reference asset.');
    return secure(reply, asset.type).header('cache-control', 'no-cache').send(asset.body);
  });
}
