import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { ERROR_CODES } from '../../daemon/core/errors.js';
import { VM_STATES } from '../../daemon/core/model.js';
import { generate } from '../../api/gen/generate.js';

const spec = parse(readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8'));

test('the error-code table and openapi.yaml ErrorCode list the same codes', () => {
  assert.deepEqual(Object.keys(ERROR_CODES).sort(), [...spec.components.schemas.ErrorCode.enum].sort());
});

test('VM states match openapi.yaml VmState', () => {
  assert.deepEqual([...VM_STATES].sort(), [...spec.components.schemas.VmState.enum].sort());
});

test('generated files are up to date with openapi.yaml (run npm run gen)', async () => {
  const files = await generate();
  for (const [rel, content] of Object.entries(files)) {
    assert.equal(readFileSync(new URL(`../../${rel}`, import.meta.url), 'utf8'), content, `${rel} drifted from openapi.yaml — run: npm run gen`);
  }
});

test('every operation has an operationId, and every error response is problem+json', () => {
  for (const [path, item] of Object.entries<any>(spec.paths)) {
    for (const [m, op] of Object.entries<any>(item)) {
      if (m === 'parameters') continue;
      assert.ok(op.operationId, `${m} ${path} has no operationId`);
      if (op.security?.length === 0) continue;
      assert.ok(op.responses.default, `${op.operationId} declares no default (problem) response`);
    }
  }
});
