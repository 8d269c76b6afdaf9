/**
 * `npm test`: runs every test file with node:test (spec reporter on stdout,
 * so the summary line is visible), records a TAP copy, and prints every
 * skipped test with its reason at the end. With FCM_STRICT_SKIPS=1 (CI), a
 * skip not listed in test/allowed-skips.txt fails the run: host tests must
 * really run where they can.
 *
 *   npm test                    everything
 *   npm test -- unit api        only these groups (unit, api, e2e, host, iac)
 *   npm test -- test/host/x.test.ts
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const GROUPS = ['unit', 'api', 'e2e', 'iac', 'host'] as const;

function testFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return n === 'fixtures' || n === 'bench' ? [] : testFiles(p);
    return n.endsWith('.test.ts') ? [p] : [];
  });
}

const args = process.argv.slice(2);
const files = (args.length ? args : [...GROUPS]).flatMap((a) =>
  (GROUPS as readonly string[]).includes(a) ? testFiles(join(root, 'test', a)).sort() : [join(root, a)],
);

const tapFile = join(mkdtempSync(join(tmpdir(), 'fcm-test-')), 'results.tap');
const started = Date.now();
console.log(`Running ${files.length} test files (${relative(root, tapFile) ? tapFile : ''})`);

const child = spawn(
  process.execPath,
  [
    '--import', 'tsx',
    '--test',
    '--test-timeout', String(20 * 60_000),
    '--test-reporter', 'spec', '--test-reporter-destination', 'stdout',
    '--test-reporter', 'tap', '--test-reporter-destination', tapFile,
    ...files,
  ],
  { stdio: 'inherit', cwd: root },
);

const code: number = await new Promise((r) => child.on('exit', (c, s) => r(c ?? (s ? 1 : 0))));

const tap = existsSync(tapFile) ? readFileSync(tapFile, 'utf8') : '';
const skipped = [...tap.matchAll(/^\s*ok \d+ - (.*?) # SKIP ?(.*)$/gm)].map((m) => ({ name: m[1]!.trim(), reason: m[2]!.trim() }));
const allowed = new Set(
  readFileSync(join(root, 'test', 'allowed-skips.txt'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#')),
);

let strictFailure = false;
if (skipped.length) {
  console.log(`\nSKIPPED (${skipped.length}) — these did not run:`);
  for (const s of skipped) {
    const ok = allowed.has(s.name);
    if (!ok && process.env.FCM_STRICT_SKIPS === '1') strictFailure = true;
    console.log(`  - ${s.name}: ${s.reason || '(no reason given)'}${ok ? ' [allowed here: test/allowed-skips.txt]' : ''}`);
  }
  if (strictFailure) console.log('\nFCM_STRICT_SKIPS=1: skipped tests not listed in test/allowed-skips.txt fail the run.');
}
console.log(`\nTotal time ${((Date.now() - started) / 1000).toFixed(1)}s`);
process.exit(code !== 0 ? code : strictFailure ? 1 : 0);
