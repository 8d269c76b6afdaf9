/**
 * package.json `engines` says which Node versions fcm supports, and that has
 * to be true: the Node running the tests is one of them, and the lowest
 * version the range admits in each major line satisfies the `engines` of
 * every package in package-lock.json (what `npm ci` checks, and warns about).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..');
// semver is npm's own range logic (installed with npm's tooling in node_modules); no types needed here.
const semver = createRequire(import.meta.url)('semver') as {
  satisfies(v: string, range: string): boolean;
  minVersion(range: string): { version: string } | null;
  validRange(range: string): string | null;
};
const engines = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; engines?: { node?: string } | string[] }> };

/** The lowest version of each major line the range admits, e.g. "^20.17.0 || >=22.9.0" → 20.17.0, 22.9.0. */
function floors(range: string): string[] {
  return range.split('||').map((part) => semver.minVersion(part.trim())!.version);
}

test('the running Node is one package.json supports', () => {
  assert.ok(semver.validRange(engines), `engines.node "${engines}" is a valid range`);
  assert.ok(semver.satisfies(process.versions.node, engines), `Node ${process.versions.node} is outside engines.node "${engines}"`);
});

test("every dependency's engines admit the lowest Node of each supported line (npm ci does not warn)", () => {
  const lows = floors(engines);
  assert.ok(lows.some((v) => v.startsWith('20.')), `Node 20 is supported (${lows.join(', ')})`);
  const misfits: string[] = [];
  for (const [path, p] of Object.entries(lock.packages)) {
    if (!path || Array.isArray(p.engines) || !p.engines?.node) continue;
    for (const v of lows) {
      if (!semver.satisfies(v, p.engines.node)) misfits.push(`${path.replace(/^.*node_modules\//, '')}@${p.version}: engines.node "${p.engines.node}" excludes ${v}`);
    }
  }
  assert.deepEqual(misfits, [], `raise engines.node in package.json or pin these:\n${misfits.join('\n')}`);
});
