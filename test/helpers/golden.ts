import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const GOLDEN_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'golden');

/** Compares `actual` with test/golden/<name>; `UPDATE_GOLDEN=1` rewrites the file instead. */
export function assertGolden(name: string, actual: unknown): void {
  const text = typeof actual === 'string' ? actual : `${JSON.stringify(actual, null, 2)}\n`;
  const path = join(GOLDEN_DIR, name);
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    return;
  }
  let expected: string;
  try {
    expected = readFileSync(path, 'utf8');
  } catch {
    assert.fail(`golden file test/golden/${name} is missing; create it with UPDATE_GOLDEN=1`);
  }
  assert.equal(text, expected, `output differs from test/golden/${name} (UPDATE_GOLDEN=1 to accept)`);
}
