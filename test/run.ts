/**
 * `npm test`: the typecheck (tsc --noEmit, as CI must), then every test file
 * with node:test (spec reporter on stdout, so the summary line is visible),
 * recording a TAP copy and each file's duration. At the end: every skipped
 * test with its reason, the slowest files, and the log audit. With
 * FCM_STRICT_SKIPS=1 (CI), a skip not allowed in test/allowed-skips.txt — by
 * name *and* reason — fails the run: host tests must really run where they can.
 *
 *   npm test                    the typecheck and everything
 *   npm test -- unit api        only these groups (typecheck, unit, api, e2e, iac, host, reliability)
 *   npm test -- test/host/x.test.ts
 *   FCM_SOAK=1 npm test -- reliability   also the long soaks
 *
 * The iac group includes the Terraform provider's own tests
 * (provider/terraform/*.test.ts: the go-plugin handshake, StopProvider,
 * partial state, unknowns, against real Terraform).
 *
 * Every host harness copies its daemon/Caddy logs to FCM_LOG_AUDIT_DIR (set
 * here for the run); after the run they are searched for tokens and secrets
 * (test/helpers/log-audit.ts), and a finding fails the run.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { forwardStopSignals } from './helpers/forward-signals.js';
import { auditLogs } from './helpers/log-audit.js';
import { judgeSkip, parseAllowedSkips, skippedFromTap } from './helpers/skips.js';

const root = join(fileURLToPath(import.meta.url), '..', '..');
// reliability last: its log audit and soak-sized tests come after everything else.
const GROUPS = ['unit', 'api', 'e2e', 'iac', 'host', 'reliability'] as const;
/** Where each group's files live besides test/<group>. */
const EXTRA_DIRS: Partial<Record<(typeof GROUPS)[number], string[]>> = { iac: ['provider'] };

function testFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return ['fixtures', 'bench', 'node_modules'].includes(n) ? [] : testFiles(p);
    return n.endsWith('.test.ts') ? [p] : [];
  });
}

const args = process.argv.slice(2);
const wanted = args.length ? args : ['typecheck', ...GROUPS];
const typecheck = wanted.includes('typecheck');
const files = wanted.filter((a) => a !== 'typecheck').flatMap((a) => {
  const g = GROUPS.find((x) => x === a);
  if (!g) return [join(root, a)];
  return [join('test', g), ...(EXTRA_DIRS[g] ?? [])].flatMap((d) => testFiles(join(root, d)).sort());
});
// Read before anything runs: a malformed list fails at once, not after an hour of tests.
const allowedRules = parseAllowedSkips(readFileSync(join(root, 'test', 'allowed-skips.txt'), 'utf8'));

const outDir = mkdtempSync(join(tmpdir(), 'fcm-test-'));
const tapFile = join(outDir, 'results.tap');
const auditDir = process.env.FCM_LOG_AUDIT_DIR ?? join(outDir, 'logs');
const started = Date.now();

/** The typecheck CI runs (the whole tree: tests and examples too, not only what the build emits). */
let typecheckResult: { ok: boolean; ms: number } | null = null;
if (typecheck) {
  console.log('Typecheck: tsc -p tsconfig.json --noEmit');
  const t0 = Date.now();
  const tc = spawn(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json'), '--noEmit', '--pretty', 'false'], { stdio: 'inherit', cwd: root });
  const code: number = await new Promise((r) => tc.on('exit', (c, sig) => r(c ?? (sig ? 1 : 0))));
  typecheckResult = { ok: code === 0, ms: Date.now() - t0 };
  console.log(`Typecheck: ${typecheckResult.ok ? 'ok' : `FAILED (exit ${code})`} in ${(typecheckResult.ms / 1000).toFixed(1)}s\n`);
}

async function runTests(): Promise<number> {
  console.log(`Running ${files.length} test files (TAP: ${tapFile})`);
  const child = spawn(
    process.execPath,
    [
      '--import', 'tsx',
      '--test',
      '--test-timeout', String(20 * 60_000),
      '--test-reporter', 'spec', '--test-reporter-destination', 'stdout',
      // node's TAP plus each file's duration as a TAP comment (one reporter: see the file).
      '--test-reporter', join(root, 'test', 'helpers', 'tap-with-file-times.mjs'), '--test-reporter-destination', tapFile,
      ...files,
    ],
    // Nothing the tests start may phone home: Terraform's (and cdktf's) update check is off for every child.
    { stdio: 'inherit', cwd: root, env: { ...process.env, CHECKPOINT_DISABLE: '1', FCM_LOG_AUDIT_DIR: auditDir } },
  );
  forwardStopSignals(child);
  return new Promise((r) => child.on('exit', (c, s) => r(c ?? (s ? 1 : 0))));
}
const code = files.length ? await runTests() : 0;

const tap = existsSync(tapFile) ? readFileSync(tapFile, 'utf8') : '';
const skipped = skippedFromTap(tap);

let strictFailure = false;
if (skipped.length) {
  console.log(`\nSKIPPED (${skipped.length}) — these did not run:`);
  for (const s of skipped) {
    const v = judgeSkip(s, allowedRules);
    if (!v.allowed && process.env.FCM_STRICT_SKIPS === '1') strictFailure = true;
    console.log(`  - ${s.name}: ${s.reason}${v.allowed ? ` [allowed here: test/allowed-skips.txt line ${v.rule.line}]` : ` [NOT allowed: ${v.why}]`}`);
  }
  if (strictFailure) console.log('\nFCM_STRICT_SKIPS=1: a skip not allowed in test/allowed-skips.txt (name and reason) fails the run.');
}

const times = [...tap.matchAll(/^# fcm-file-time\t(\d+)\t(pass|fail)\t(.+)$/gm)]
  .map(([, ms, result, file]) => ({ ms: Number(ms), result: result!, file: relative(root, file!) }))
  .sort((a, b) => b.ms - a.ms);
if (times.length) {
  const total = times.reduce((n, t) => n + t.ms, 0);
  console.log(`\nSlowest test files (${times.length} files, ${(total / 1000).toFixed(1)}s in all):`);
  for (const t of times.slice(0, 15)) {
    console.log(`  ${(t.ms / 1000).toFixed(1).padStart(7)}s  ${((100 * t.ms) / total).toFixed(0).padStart(3)}%  ${t.file}${t.result === 'fail' ? '  (failed)' : ''}`);
  }
}
const audit = auditLogs(auditDir);
if (audit.files) {
  console.log(`\nLog audit: ${audit.files} daemon/Caddy logs (${(audit.bytes / 1048576).toFixed(1)} MiB) searched for tokens and secrets: ${audit.findings.length ? `${audit.findings.length} FOUND` : 'none found'} (${auditDir})`);
  for (const f of audit.findings) console.log(`  - ${f.file}: ${f.kind}: ${f.excerpt}`);
}
if (typecheckResult) console.log(`\nTypecheck: ${typecheckResult.ok ? 'ok' : 'FAILED'} (${(typecheckResult.ms / 1000).toFixed(1)}s)`);
console.log(`\nTotal time ${((Date.now() - started) / 1000).toFixed(1)}s`);
const typecheckFailed = typecheckResult !== null && !typecheckResult.ok;
process.exit(code !== 0 ? code : strictFailure || audit.findings.length || typecheckFailed ? 1 : 0);
