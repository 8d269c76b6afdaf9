/**
 * The wire between the daemon and its git helpers (core/git-wire.ts). That
 * the guest uses the same `fcm-result:` marker and openapi.yaml's EnvKey is
 * checked by test/unit/agent-contract.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VmName } from '../../api/patterns.gen.js';
import { appFromRepoPath, outputLine, parseResultLine, RESULT_PREFIX, resultLine } from '../../daemon/core/git-wire.js';

test('app names in git paths: what git clients send, by the spec’s VmName', () => {
  for (const [path, app] of [
    ['cosmic-nova.git', 'cosmic-nova'],
    ['/cosmic-nova.git', 'cosmic-nova'],
    ['cosmic-nova.git/', 'cosmic-nova'],
    ['/cosmic-nova/', 'cosmic-nova'],
    ['cosmic-nova', 'cosmic-nova'],
    ['a', 'a'],
    [`a${'b'.repeat(39)}`, `a${'b'.repeat(39)}`],
  ] as const) {
    assert.equal(appFromRepoPath(path), app, path);
  }
  for (const path of ['', '/', '.git', '../etc.git', 'Cosmic.git', '9lives.git', 'a-.git', 'a/b.git', 'x.git.git', `a${'b'.repeat(40)}.git`, '//x.git', 'a b.git']) {
    assert.equal(appFromRepoPath(path), null, path);
  }
  assert.equal(VmName.maxLength, 40);
});

test('the deploy stream: output lines that look like a result are escaped; only the last line is one', () => {
  assert.equal(outputLine('-----> Building'), '-----> Building\n');
  assert.equal(outputLine(`${RESULT_PREFIX}{"ok":true}`), ` ${RESULT_PREFIX}{"ok":true}\n`);
  assert.equal(resultLine({ ok: true, version: 3 }), `${RESULT_PREFIX}{"ok":true,"version":3}\n`);
  assert.deepEqual(parseResultLine(resultLine({ ok: true, version: 3 }).trimEnd()), { ok: true, version: 3 });
  assert.deepEqual(parseResultLine(resultLine({ ok: false, error: 'pip failed' }).trimEnd()), { ok: false, error: 'pip failed' });
  assert.equal(parseResultLine(' fcm-result: {"ok":true}'), null);
  assert.equal(parseResultLine('-----> Deploy successful!'), null);
  assert.deepEqual(parseResultLine(`${RESULT_PREFIX}{"ok":tru`), { ok: false, error: 'malformed result line' });
  assert.equal(parseResultLine(`${RESULT_PREFIX}{"ok":"true"}`)!.ok, false);
});
