/**
 * The API reference's server side over real HTTP (the daemon's HTTP layer on
 * loopback, in-memory services): /docs and every file it loads are served by
 * the daemon with the right types and the docs CSP, nothing on the page or in
 * its own script points off this origin, and the spec it shows is the reader
 * copy — every operation, no `x-cli*` key anywhere, this daemon as the server.
 * The page rendered in a real browser: test/host/api-docs.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { spec } from '../../api/spec.gen.js';
import { DASHBOARD_CSP } from '../../daemon/http/routes/dashboard.js';
import { DOCS_CSP } from '../../daemon/http/routes/api-docs.js';
import { readerSpec } from '../../daemon/http/reader-spec.js';
import { memoryApi } from '../helpers/memory-api.js';

let api: Awaited<ReturnType<typeof memoryApi>>;
let base: string;

before(async () => {
  api = await memoryApi();
  base = await api.app.listen({ host: '127.0.0.1', port: 0 });
});
after(async () => {
  await api.app.close();
});

const directives = (csp: string) => Object.fromEntries(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k!, v.join(' ')]));

/** Every key of a JSON value, at any depth. */
function keys(v: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(v)) v.forEach((x) => keys(x, out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) (out.add(k), keys(x, out));
  return out;
}

test('the docs CSP is the dashboard policy plus data: images, nothing else', () => {
  const docs = directives(DOCS_CSP);
  const dash = directives(DASHBOARD_CSP);
  assert.deepEqual({ ...docs, 'img-src': dash['img-src'] }, dash);
  assert.equal(docs['img-src'], "'self' data:");
  for (const v of Object.values(docs)) assert.doesNotMatch(v, /unsafe|https?:|\*/);
});

test('/docs and its assets: types, CSP, security headers; no external URL on the page or in its script', async () => {
  const page = await fetch(`${base}/docs`);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.equal(page.headers.get('content-security-policy'), DOCS_CSP);
  assert.equal(page.headers.get('x-frame-options'), 'DENY');
  assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
  const html = await page.text();
  assert.doesNotMatch(html, /https?:\/\/|\/\/[a-z]/i, 'no absolute or protocol-relative URL');
  assert.doesNotMatch(html, /<script>|<style|\sstyle=|\son[a-z]+=/i, 'no inline script, style or handler (the CSP forbids them)');
  const loaded = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
  assert.ok(loaded.includes('/docs/assets/swagger-ui-bundle.js') && loaded.includes('/docs/assets/swagger-ui.css'), loaded.join(' '));
  const types: Record<string, RegExp> = { js: /^text\/javascript; charset=utf-8$/, css: /^text\/css; charset=utf-8$/, json: /^application\/json/ };
  for (const path of loaded.filter((p) => p.startsWith('/docs/'))) {
    const r = await fetch(`${base}${path}`);
    assert.equal(r.status, 200, path);
    assert.match(r.headers.get('content-type')!, types[path.split('.').pop()!] ?? /^text\/html/, path);
    assert.equal(r.headers.get('content-security-policy'), DOCS_CSP, path);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff', path);
    const body = await r.text();
    assert.ok(body.length > 0, path);
    if (path === '/docs/assets/docs.js') {
      assert.doesNotMatch(body, /https?:\/\//, 'our start-up script names no other host');
      assert.match(body, /validatorUrl: null/, 'no validator badge (it loads an image from swagger.io)');
      assert.match(body, /url: '\/docs\/openapi\.json'/);
    }
  }
  const big = await fetch(`${base}/docs/assets/swagger-ui-bundle.js`);
  assert.ok(Number(big.headers.get('content-length') ?? (await big.arrayBuffer()).byteLength) > 500_000, 'the real bundle');
  const missing = await fetch(`${base}/docs/assets/..%2Fpackage.json`);
  assert.equal(missing.status, 404);
  assert.equal(((await missing.json()) as { code: string }).code, 'not_found');
  assert.equal((await fetch(`${base}/docs/assets/index.html`)).status, 404, 'only the files the page uses');
});

test('the reader copy: every operation, no x-cli* key, this daemon as server; /openapi.json keeps the whole spec', async () => {
  const reader: any = await (await fetch(`${base}/docs/openapi.json`)).json();
  const full = await (await fetch(`${base}/openapi.json`)).json();
  assert.deepEqual(reader, readerSpec(spec));
  const ops = (s: any) => Object.values(s.paths).flatMap((item: any) => ['get', 'post', 'put', 'patch', 'delete'].filter((m) => item[m]).map((m) => item[m].operationId));
  assert.deepEqual(ops(reader), ops(spec));
  assert.ok(ops(reader).length > 30);
  const readerKeys = [...keys(reader)];
  assert.deepEqual(readerKeys.filter((k) => k.startsWith('x-cli')), []);
  assert.ok(keys(full).has('x-cli') && keys(full).has('x-cli-notes'), 'the generator still gets its notes');
  assert.ok(readerKeys.includes('x-rate-limit'), 'extensions meant for readers stay');
  assert.doesNotMatch(JSON.stringify(reader), /api\/cli\/|argFromFile|waitFor/, 'no generator prose either');
  assert.deepEqual(reader.servers, [{ url: '/', description: 'This daemon' }]);
  assert.deepEqual(reader.components.schemas, strip(spec.components.schemas));
});

function strip(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v, (k, x) => (k.startsWith('x-cli') ? undefined : x)));
}
