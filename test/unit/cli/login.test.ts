/** Pieces of fcm login that need no server: the token file and the browser opener. */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeSecretFile } from '../../../api/cli/credential-store.js';
import { openBrowser, removeToken } from '../../../api/cli/login.js';

test('writeSecretFile replaces a file atomically with mode 0600, even over a 0644 file; removeToken is idempotent', () => {
  const home = mkdtempSync(join(tmpdir(), 'fcm-home-'));
  const path = join(home, '.fcm-token');
  writeFileSync(path, 'old\n', { mode: 0o644 });
  chmodSync(path, 0o644);
  writeSecretFile(path, 'fcm_new\n');
  assert.equal(readFileSync(path, 'utf8'), 'fcm_new\n');
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(home), ['.fcm-token'], 'no temp file left');
  removeToken(home);
  removeToken(home);
  assert.ok(!existsSync(path));
});

test('openBrowser: $BROWSER, else xdg-open only in a desktop session; false when there is none', async () => {
  const bin = mkdtempSync(join(tmpdir(), 'fcm-bin-'));
  const out = join(bin, 'opened');
  writeFileSync(join(bin, 'xdg-open'), `#!/bin/sh\necho "xdg $1" > ${out}\n`, { mode: 0o755 });
  writeFileSync(join(bin, 'mybrowser'), `#!/bin/sh\necho "mine $1" > ${out}\n`, { mode: 0o755 });
  const url = 'http://127.0.0.1:1/auth?a=1&b=$(touch /tmp/pwned)';
  assert.equal(openBrowser(url, { PATH: bin }), false, 'no DISPLAY: no browser to open');
  assert.equal(openBrowser(url, { PATH: '/nonexistent', DISPLAY: ':0' }), false, 'no xdg-open');
  const wait = async (expect: string) => {
    for (let i = 0; i < 100 && !(existsSync(out) && readFileSync(out, 'utf8').trim() === expect); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(readFileSync(out, 'utf8').trim(), expect);
  };
  assert.equal(openBrowser(url, { PATH: bin, DISPLAY: ':0' }), true);
  await wait(`xdg ${url}`);
  assert.equal(openBrowser(url, { PATH: bin, BROWSER: 'mybrowser' }), true);
  await wait(`mine ${url}`);
});
