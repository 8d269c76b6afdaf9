import type { Json } from './openapi-routes.js';

const esc = (s: unknown) =>
  String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** A self-contained human-readable API page rendered from openapi.yaml (no CDN: works offline). */
export function renderDocs(spec: Json): string {
  const ops: string[] = [];
  for (const [path, item] of Object.entries<Json>(spec.paths ?? {})) {
    for (const m of ['get', 'post', 'put', 'patch', 'delete']) {
      const op = item[m];
      if (!op) continue;
      const params = [...(item.parameters ?? []), ...(op.parameters ?? [])].map((p: Json) => {
        const ref = p.$ref ? spec.components.parameters[p.$ref.split('/').pop()] : p;
        return `<li><code>${esc(ref.name)}</code> (${esc(ref.in)}) ${esc(ref.description ?? '')}</li>`;
      });
      const body = op.requestBody?.content?.['application/json']?.schema?.$ref?.split('/').pop();
      const cli = op['x-cli'] ? `<p class="cli">CLI: <code>fcm ${esc(op['x-cli'].command)}</code></p>` : '';
      ops.push(`<section id="${esc(op.operationId)}">
  <h3><span class="m ${m}">${m.toUpperCase()}</span> <code>${esc(path)}</code></h3>
  <p><b>${esc(op.summary)}</b> — <code>${esc(op.operationId)}</code>${op.security && op.security.length === 0 ? ' · no auth' : ''}</p>
  ${op.description ? `<p>${esc(op.description)}</p>` : ''}
  ${params.length ? `<ul>${params.join('')}</ul>` : ''}
  ${body ? `<p>Body: <a href="#schema-${esc(body)}">${esc(body)}</a></p>` : ''}
  ${cli}
  <p>Responses: ${Object.keys(op.responses ?? {}).map(esc).join(', ')}</p>
</section>`);
    }
  }
  const schemas = Object.entries<Json>(spec.components?.schemas ?? {}).map(
    ([name, s]) => `<section id="schema-${esc(name)}"><h3>${esc(name)}</h3>${s.description ? `<p>${esc(s.description)}</p>` : ''}<pre>${esc(JSON.stringify(s, null, 2))}</pre></section>`,
  );
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(spec.info?.title)} API</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
code,pre{font-family:ui-monospace,monospace}pre{background:#f5f5f5;padding:.75rem;overflow:auto}
.m{display:inline-block;min-width:4.5rem;padding:0 .4rem;border-radius:4px;color:#fff;font-size:13px;text-align:center}
.get{background:#2b7}.post{background:#27c}.delete{background:#c33}.put,.patch{background:#c80}section{border-bottom:1px solid #eee;padding:.5rem 0}</style></head>
<body><h1>${esc(spec.info?.title)} API <small>${esc(spec.info?.version)}</small></h1>
<p>${esc(spec.info?.description)}</p><p>Machine-readable: <a href="/openapi.json">/openapi.json</a></p>
<h2>Operations</h2>${ops.join('\n')}<h2>Schemas</h2>${schemas.join('\n')}</body></html>`;
}
