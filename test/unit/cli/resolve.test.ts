import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { UsageError } from '../../../api/cli/parse.js';
import { findDotfile, normalizeHost, resolveHost, resolveToken } from '../../../api/cli/resolve.js';
import { tempDir } from './io-helpers.js';

test('host: --host > FCM_HOST > .fcm > http://localhost:7777', () => {
  const dot = { path: '/x/.fcm', vm: 'a', host: 'http://from-dotfile:1' };
  assert.deepEqual(resolveHost('flag:2', { FCM_HOST: 'env:3' }, dot), { url: 'http://flag:2', source: '--host' });
  assert.deepEqual(resolveHost(undefined, { FCM_HOST: 'env:3' }, dot), { url: 'http://env:3', source: 'FCM_HOST' });
  assert.deepEqual(resolveHost(undefined, {}, dot), { url: 'http://from-dotfile:1', source: '.fcm' });
  assert.deepEqual(resolveHost(undefined, { FCM_HOST: '' }, { path: '/x/.fcm', vm: 'a' }), { url: 'http://localhost:7777', source: 'default' });
});

test('host: host:port without a scheme, trailing slashes, https kept; junk is a usage error', () => {
  assert.equal(normalizeHost('localhost:7777', 'x'), 'http://localhost:7777');
  assert.equal(normalizeHost('10.0.0.1', 'x'), 'http://10.0.0.1');
  assert.equal(normalizeHost('[::1]:7777', 'x'), 'http://[::1]:7777');
  assert.equal(normalizeHost('https://fcm.example.com/', 'x'), 'https://fcm.example.com');
  assert.equal(normalizeHost('http://h:1/prefix/', 'x'), 'http://h:1/prefix');
  assert.throws(() => normalizeHost('ftp://h', '--host'), UsageError);
  assert.throws(() => normalizeHost('http://', 'FCM_HOST'), /FCM_HOST is not a host or URL/);
  assert.throws(() => normalizeHost('  ', '--host'), /--host is empty/);
});

test('token: FCM_TOKEN first, then ~/.fcm-token (trimmed); none is null', () => {
  const home = tempDir();
  assert.deepEqual(resolveToken({}, home), { token: null, source: null, warnings: [] });
  writeFileSync(join(home, '.fcm-token'), 'fcm_file\n', { mode: 0o600 });
  assert.deepEqual(resolveToken({}, home), { token: 'fcm_file', source: '~/.fcm-token', warnings: [] });
  assert.deepEqual(resolveToken({ FCM_TOKEN: ' fcm_env ' }, home), { token: 'fcm_env', source: 'FCM_TOKEN', warnings: [] });
});

test('token file readable by others: used, with a warning naming the fix', () => {
  const home = tempDir();
  writeFileSync(join(home, '.fcm-token'), 'fcm_file\n');
  chmodSync(join(home, '.fcm-token'), 0o644);
  const r = resolveToken({}, home);
  assert.equal(r.token, 'fcm_file');
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0]!, /~\/\.fcm-token can be read by other users \(mode 644\); run: chmod 600 ~\/\.fcm-token/);
  chmodSync(join(home, '.fcm-token'), 0o640);
  assert.equal(resolveToken({}, home).warnings.length, 1, 'group-readable counts too');
});

test('.fcm: the nearest one walking up; broken files are reported and ignored', () => {
  const root = tempDir();
  const deep = join(root, 'a', 'b');
  mkdirSync(deep, { recursive: true });
  assert.equal(findDotfile(deep, () => {}), null);
  writeFileSync(join(root, '.fcm'), JSON.stringify({ vm: 'outer', host: 'http://h:1' }));
  assert.deepEqual(findDotfile(deep, () => {}), { path: join(root, '.fcm'), vm: 'outer', host: 'http://h:1' });
  writeFileSync(join(root, 'a', '.fcm'), '{not json');
  const warnings: string[] = [];
  assert.equal(findDotfile(deep, (w) => warnings.push(w)), null);
  assert.match(warnings[0]!, /^ignoring \.\.\/\.fcm: /);
  writeFileSync(join(root, 'a', '.fcm'), '["x"]');
  assert.equal(findDotfile(join(root, 'a'), (w) => warnings.push(w)), null);
  assert.match(warnings[1]!, /^ignoring \.\/\.fcm: not a JSON object/);
});
