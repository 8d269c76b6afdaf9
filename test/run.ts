/**
 * `npm test`: runs every test file with node:test (spec reporter on stdout,
 * so the summary line is visible), records a TAP copy, and prints every
 * skipped test with its reason at the end. With FCM_STRICT_SKIPS=1 (CI), a
 * skip not listed in test/allowed-skips.txt fails the run: host tests must
 * really run where they can.
 *
 *   npm test                    everything
 *   npm test -- unit api        only these groups (unit, api, e2e, iac, host, reliability)
 *   npm test -- test/host/x.test.ts
 *   FCM_SOAK=1 npm test -- reliability   also the long soaks
 *
 * Every host harness copies its daemon/Caddy logs to FCM_LOG_AUDIT_DIR (set
 * here for the run); after the run they are searched for tokens and secrets
 * (test/helpers/log-audit.ts), and a finding fails the run.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { auditLogs } from './helpers/log-audit.js';

const root = join(fileURLToPath(import.meta.url), '..', '..');
// reliability last: its log audit and soak-sized tests come after everything else.
const GROUPS = ['unit', 'api', 'e2e', 'iac', 'host', 'reliability'] as const;

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
const auditDir = process.env.FCM_LOG_AUDIT_DIR ?? join(dirname(tapFile), 'logs');
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
  // Nothing the tests start may phone home: Terraform's (and cdktf's) update check is off for every child.
  { stdio: 'inherit', cwd: root, env: { ...process.env, CHECKPOINT_DISABLE: '1', FCM_LOG_AUDIT_DIR: auditDir } },
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
const audit = auditLogs(auditDir);
if (audit.files) {
  console.log(`\nLog audit: ${audit.files} daemon/Caddy logs (${(audit.bytes / 1048576).toFixed(1)} MiB) searched for tokens and secrets: ${audit.findings.length ? `${audit.findings.length} FOUND` : 'none found'} (${auditDir})`);
  for (const f of audit.findings) console.log(`  - ${f.file}: ${f.kind}: ${f.excerpt}`);
}
console.log(`\nTotal time ${((Date.now() - started) / 1000).toFixed(1)}s`);
process.exit(code !== 0 ? code : strictFailure || audit.findings.length ? 1 : 0);
