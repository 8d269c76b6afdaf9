import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { UsageError } from '../../../api/cli/parse.js';
import { findDotfile, normalizeHost, resolveHost, resolveToken } from '../../../api/cli/resolve.js';
import { tempDir } from './io-helpers.js';

test('host: --host > FCM_HOST > .fcm > the stored default > http://localhost:7777', () => {
  const dot = { path: '/x/.fcm', vm: 'a', host: 'http://from-dotfile:1' };
  assert.deepEqual(resolveHost('flag:2', { FCM_HOST: 'env:3' }, dot), { url: 'https://flag:2', source: '--host' });
  assert.deepEqual(resolveHost(undefined, { FCM_HOST: 'env:3' }, dot), { url: 'https://env:3', source: 'FCM_HOST' });
  assert.deepEqual(resolveHost(undefined, {}, dot, 'https://stored'), { url: 'http://from-dotfile:1', source: '.fcm' });
  assert.deepEqual(resolveHost(undefined, {}, { path: '/x/.fcm', vm: 'a' }, 'https://stored'), { url: 'https://stored', source: 'credentials' });
  assert.deepEqual(resolveHost(undefined, { FCM_HOST: '' }, { path: '/x/.fcm', vm: 'a' }), { url: 'http://localhost:7777', source: 'default' });
});

test('host: without a scheme, https except on loopback; trailing slashes, https kept; junk is a usage error', () => {
  assert.equal(normalizeHost('localhost:7777', 'x'), 'http://localhost:7777');
  assert.equal(normalizeHost('127.0.0.1:7777', 'x'), 'http://127.0.0.1:7777');
  assert.equal(normalizeHost('[::1]:7777', 'x'), 'http://[::1]:7777');
  assert.equal(normalizeHost('10.0.0.1', 'x'), 'https://10.0.0.1');
  assert.equal(normalizeHost('fcm.64-34-93-45.sslip.io', 'x'), 'https://fcm.64-34-93-45.sslip.io');
  assert.equal(normalizeHost('HTTPS://FCM.Example.com:443/', 'x'), 'https://fcm.example.com', 'one key per server: case and default port');
  assert.equal(normalizeHost('http://h:1/prefix/', 'x'), 'http://h:1/prefix');
  assert.throws(() => normalizeHost('ftp://h', '--host'), UsageError);
  assert.throws(() => normalizeHost('http://', 'FCM_HOST'), /FCM_HOST is not a host or URL/);
  assert.throws(() => normalizeHost('  ', '--host'), /--host is empty/);
});

const named = { url: 'https://a.example', source: 'FCM_HOST' as const };
const fromDot = { url: 'https://evil.example', source: '.fcm' as const };
const builtin = { url: 'http://localhost:7777', source: 'default' as const };
const store = (hosts: Record<string, string>) => ({
  path: '/x',
  warnings: [],
  store: { version: 1 as const, hosts: Object.fromEntries(Object.entries(hosts).map(([h, token]) => [h, { token }])) },
});

test('token: FCM_TOKEN for a named or default host, else the stored one for that host, else ~/.fcm-token (named or built-in host only)', () => {
  const home = tempDir();
  const none = store({});
  assert.deepEqual(resolveToken(named, {}, home, none), { token: null, source: null, warnings: [] });
  writeFileSync(join(home, '.fcm-token'), 'fcm_file\n', { mode: 0o600 });
  assert.deepEqual(resolveToken(named, {}, home, none), { token: 'fcm_file', source: '~/.fcm-token', warnings: [] });
  assert.deepEqual(resolveToken(builtin, {}, home, none), { token: 'fcm_file', source: '~/.fcm-token', warnings: [] });
  assert.deepEqual(resolveToken(named, { FCM_TOKEN: ' fcm_env ' }, home, none), { token: 'fcm_env', source: 'FCM_TOKEN', warnings: [] });
  const a = store({ 'https://a.example': 'fcm_a' });
  assert.deepEqual(resolveToken(named, {}, home, a), { token: 'fcm_a', source: 'credentials', warnings: [] }, 'the stored token beats the legacy file');
  assert.deepEqual(resolveToken({ url: 'https://b.example', source: '--host' }, {}, home, a).token, 'fcm_file', 'no stored login for b: the legacy file, for a host named by the user');
});

test('token: a host only a .fcm file names gets its own stored token or nothing: never FCM_TOKEN, ~/.fcm-token or another host\'s', () => {
  const home = tempDir();
  writeFileSync(join(home, '.fcm-token'), 'fcm_file\n', { mode: 0o600 });
  const a = store({ 'https://a.example': 'fcm_a' });
  const r = resolveToken(fromDot, { FCM_TOKEN: 'fcm_env' }, home, a);
  assert.equal(r.token, null);
  assert.match(r.withheld!, /FCM_TOKEN is not sent to a host that only a \.fcm file names/);
  const legacy = resolveToken(fromDot, {}, home, a);
  assert.equal(legacy.token, null);
  assert.match(legacy.withheld!, /~\/\.fcm-token is not sent/);
  const loggedIn = store({ 'https://a.example': 'fcm_a', 'https://evil.example': 'fcm_evil' });
  assert.equal(resolveToken(fromDot, { FCM_TOKEN: 'fcm_env' }, home, loggedIn).token, 'fcm_evil', 'a .fcm host the user logged in to gets its own token');
});

test('token file readable by others: used, with a warning naming the fix', () => {
  const home = tempDir();
  writeFileSync(join(home, '.fcm-token'), 'fcm_file\n');
  chmodSync(join(home, '.fcm-token'), 0o644);
  const r = resolveToken(named, {}, home, store({}));
  assert.equal(r.token, 'fcm_file');
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0]!, /~\/\.fcm-token can be read by other users \(mode 644\); run: chmod 600 ~\/\.fcm-token/);
  chmodSync(join(home, '.fcm-token'), 0o640);
  assert.equal(resolveToken(named, {}, home, store({})).warnings.length, 1, 'group-readable counts too');
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
