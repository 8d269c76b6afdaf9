/**
 * One licence, said the same way everywhere: package.json's `license`, the
 * LICENSE file's text, and openapi.yaml's info.license.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { spec } from '../../api/spec.gen.js';

const ROOT_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The first lines of each licence text this project could carry, by SPDX id. */
const HEADINGS: Record<string, RegExp> = {
  'Apache-2.0': /^\s*Apache License\s+Version 2\.0, January 2004\s/,
};

test('LICENSE is the text of the licence package.json and openapi.yaml name', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT_DIR, 'package.json'), 'utf8')) as { license: string };
  const text = readFileSync(join(ROOT_DIR, 'LICENSE'), 'utf8');
  assert.ok(HEADINGS[pkg.license], `no known text for ${pkg.license}`);
  assert.match(text, HEADINGS[pkg.license]!);
  assert.match(text, /TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION/);
  assert.match(text, /END OF TERMS AND CONDITIONS/, 'the whole text, not a stub');
  assert.equal(spec.info.license.identifier, pkg.license);
});
