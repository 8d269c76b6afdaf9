/**
 * The guest's Python unit tests (test/guest/test_*.py, stdlib unittest, for
 * the modules in rootfs/guest) as part of `npm test`: runs them the way
 * `python3 -m unittest discover -s test/guest -t test/guest` does (same
 * loader, test/guest/run_tests.py), fails when they fail, and reports each
 * Python test here by name — a skipped one as a skip with its reason, so
 * `npm test` lists it (and FCM_STRICT_SKIPS fails on it) instead of counting
 * it as passed. Python is whatever `python3` is on PATH; the guest runs
 * Debian bookworm's 3.11, so the guest code keeps to 3.11 syntax (checked
 * here by compiling it with feature_version 3.11).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT_DIR } from '../helpers/agent-contract.js';

interface Record {
  id: string;
  outcome: 'pass' | 'fail' | 'skip';
  detail: string;
  ms: number;
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('guest Python modules keep to Python 3.11 syntax (Debian bookworm in the guest)', async () => {
  const check = [
    'import ast, glob, sys',
    'bad = []',
    "for p in sorted(glob.glob('rootfs/guest/*.py') + glob.glob('test/guest/*.py')):",
    '    try:',
    "        ast.parse(open(p, encoding='utf-8').read(), p, feature_version=(3, 11))",
    '    except SyntaxError as e:',
    "        bad.append(f'{p}:{e.lineno}: {e.msg}')",
    "print('\\n'.join(bad))",
    'sys.exit(1 if bad else 0)',
  ].join('\n');
  const r = await run('python3', ['-c', check]);
  assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
});

test('guest Python unit tests (python3 -m unittest, test/guest)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fcm-guest-py-'));
  try {
    const json = join(dir, 'results.json');
    const r = await run('python3', [join('test', 'guest', 'run_tests.py'), '--json', json]);
    let results: { testsRun: number; records: Record[] };
    try {
      results = JSON.parse(readFileSync(json, 'utf8'));
    } catch {
      assert.fail(`the Python tests did not run (exit ${r.code}):\n${r.stderr}`);
    }
    const count = (o: Record['outcome']) => results.records.filter((x) => x.outcome === o).length;
    t.diagnostic(`Python guest tests: ${results.testsRun} run, ${count('pass')} passed, ${count('fail')} failed, ${count('skip')} skipped`);
    console.log(`# Python guest tests: ${results.testsRun} run, ${count('pass')} passed, ${count('fail')} failed, ${count('skip')} skipped`);
    for (const rec of results.records) {
      await t.test(rec.id, (st) => {
        if (rec.outcome === 'skip') st.skip(rec.detail);
        else if (rec.outcome === 'fail') assert.fail(rec.detail);
      });
    }
    assert.ok(results.testsRun > 0, 'no Python test was found');
    assert.equal(r.code, 0, `python3 test/guest/run_tests.py failed:\n${r.stderr.slice(-20_000)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
