/**
 * The API reference shows an example for every request body and every success
 * response (openapi.yaml `examples` on the schema, or `example` on the media
 * type), and every example in the spec is valid against the schema it
 * illustrates — an example that drifts from the contract fails here, not in a
 * reader's hands.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { spec } from '../../../api/spec.gen.js';

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];
const ID = 'https://fcm.test/openapi.json';
const ajv = new Ajv2020({ strict: false, allErrors: true, allowUnionTypes: true });
addFormats.default(ajv);
ajv.addSchema({ ...spec, $id: ID });

const ptr = (parts: (string | number)[]) => '#/' + parts.map((p) => encodeURIComponent(String(p).replace(/~/g, '~0').replace(/\//g, '~1'))).join('/');
const resolve = (s: any): any => (s?.$ref?.startsWith('#/') ? resolve(s.$ref.slice(2).split('/').reduce((o: any, k: string) => o[k.replace(/~1/g, '/').replace(/~0/g, '~')], spec)) : s);

function mediaTypes(): { where: string; media: any; at: (string | number)[] }[] {
  const out: { where: string; media: any; at: (string | number)[] }[] = [];
  for (const [path, item] of Object.entries<any>(spec.paths))
    for (const m of METHODS) {
      const op = item[m];
      if (!op) continue;
      for (const [ct, media] of Object.entries<any>(op.requestBody?.content ?? {})) out.push({ where: `${op.operationId} request ${ct}`, media, at: ['paths', path, m, 'requestBody', 'content', ct] });
      for (const [code, r] of Object.entries<any>(op.responses ?? {})) {
        if (!/^2\d\d$/.test(code) || r.$ref) continue;
        for (const [ct, media] of Object.entries<any>(r.content ?? {})) out.push({ where: `${op.operationId} ${code} ${ct}`, media, at: ['paths', path, m, 'responses', code, 'content', ct] });
      }
    }
  return out;
}

test('every request body and success response has an example', () => {
  const all = mediaTypes();
  assert.ok(all.length > 40, `${all.length} media types`);
  const without = all.filter(({ media }) => media.example === undefined && !media.examples && !resolve(media.schema)?.examples?.length).map((x) => x.where);
  assert.deepEqual(without, []);
});

test('every example in openapi.yaml is valid against its schema', () => {
  let checked = 0;
  const bad: string[] = [];
  const walk = (node: unknown, at: (string | number)[]) => {
    if (Array.isArray(node)) return node.forEach((x, i) => walk(x, [...at, i]));
    if (!node || typeof node !== 'object') return;
    const n = node as Record<string, unknown>;
    const isSchema = at.includes('schemas') || at.at(-1) === 'schema' || at.includes('schema') || at.includes('properties');
    if (isSchema && Array.isArray(n.examples) && at.at(-1) !== 'properties') {
      const validate = ajv.compile({ $ref: ID + ptr(at) });
      for (const ex of n.examples) {
        checked++;
        if (!validate(ex)) bad.push(`${ptr(at)}: ${JSON.stringify(ex).slice(0, 80)} — ${ajv.errorsText(validate.errors)}`);
      }
    }
    for (const [k, v] of Object.entries(n)) if (!k.startsWith('x-')) walk(v, [...at, k]);
  };
  walk(spec.paths, ['paths']);
  walk(spec.components, ['components']);
  for (const { where, media, at } of mediaTypes()) {
    if (media.example === undefined) continue;
    checked++;
    const validate = ajv.compile({ $ref: ID + ptr([...at, "schema"]) });
    if (!validate(media.example)) bad.push(`${where}: ${ajv.errorsText(validate.errors)}`);
  }
  assert.deepEqual(bad, []);
  assert.ok(checked > 40, `${checked} examples checked`);
});
