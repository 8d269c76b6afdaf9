/** Policy numbers live in config: defaults, validation, and every key documented in the README's table. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { autoPoolSize, CONFIG_KEYS, ConfigError, loadConfig } from '../../daemon/config.js';

const root = join(fileURLToPath(import.meta.url), '..', '..', '..');

test('restart limit and window, monitor, pool refill and route watch intervals: defaults and overrides', () => {
  const d = loadConfig({});
  assert.deepEqual(
    [d.restartMax, d.restartWindowMs, d.monitorIntervalMs, d.snapshots.refillDelayMs, d.proxy.watchIntervalMs],
    [3, 300_000, 1000, 2000, 2000],
  );
  const c = loadConfig({
    FCM_RESTART_MAX: '5', FCM_RESTART_WINDOW_MS: '60000', FCM_MONITOR_INTERVAL_MS: '500',
    FCM_SNAPSHOT_REFILL_DELAY_MS: '0', FCM_ROUTE_WATCH_INTERVAL_MS: '10000',
  });
  assert.deepEqual([c.restartMax, c.restartWindowMs, c.monitorIntervalMs, c.snapshots.refillDelayMs, c.proxy.watchIntervalMs], [5, 60_000, 500, 0, 10_000]);
});

test('warm pool size: auto (the default) keeps ten machines for a burst of creates, fewer on small hosts; a number is taken as it is', () => {
  assert.deepEqual([autoPoolSize(24_000), autoPoolSize(65_536), autoPoolSize(8192), autoPoolSize(2048), autoPoolSize(1024)], [10, 10, 4, 1, 1]);
  assert.equal(loadConfig({ FCM_HOST_MEMORY_MIB: '8192' }).snapshots.poolSize, 4);
  assert.equal(loadConfig({ FCM_HOST_MEMORY_MIB: '8192', FCM_SNAPSHOT_POOL: 'auto' }).snapshots.poolSize, 4);
  assert.equal(loadConfig({ FCM_HOST_MEMORY_MIB: '8192', FCM_SNAPSHOT_POOL: '0' }).snapshots.poolSize, 0);
  assert.throws(() => loadConfig({ FCM_SNAPSHOT_POOL: 'lots' }), (e) => e instanceof ConfigError && e.message.startsWith('FCM_SNAPSHOT_POOL must be an integer'));
});

test('out-of-range or non-integer policy numbers are refused at start, naming the key', () => {
  for (const [k, v] of [
    ['FCM_RESTART_MAX', '0'], ['FCM_RESTART_MAX', 'three'], ['FCM_RESTART_WINDOW_MS', '10'],
    ['FCM_SNAPSHOT_REFILL_DELAY_MS', '-1'], ['FCM_ROUTE_WATCH_INTERVAL_MS', '1.5'], ['FCM_MONITOR_INTERVAL_MS', '0'],
  ] as const) {
    assert.throws(() => loadConfig({ [k]: v }), (e) => e instanceof ConfigError && e.message.startsWith(`${k} must be an integer`), `${k}=${v}`);
  }
});

test("every key the daemon reads is in the README's configuration table", () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const table = readme.slice(readme.indexOf('| key | default |'), readme.indexOf('The CLI reads'));
  assert.ok(table.length > 100, 'the table was found');
  const documented = new Set(
    [...table.matchAll(/`(FCM_[A-Z0-9_]+)(\[_FILE\])?`/g)].flatMap((m) => (m[2] ? [m[1]!, `${m[1]}_FILE`] : [m[1]!])),
  );
  assert.deepEqual(CONFIG_KEYS.filter((k) => !documented.has(k)), []);
  assert.deepEqual([...documented].filter((k) => !(CONFIG_KEYS as readonly string[]).includes(k)), [], 'and nothing documented is not read');
});

test('FCM_DATABASE_URL: unset or empty is SQLite; a postgresql:// URL with a database and a host (or socket dir) is taken; anything else is refused without echoing it', () => {
  assert.equal(loadConfig({}).databaseUrl, null);
  assert.equal(loadConfig({ FCM_DATABASE_URL: '' }).databaseUrl, null);
  for (const ok of ['postgresql://fcm:s3cret@db.internal:5432/fcm', 'postgres://fcm@10.0.0.5/fcm?sslmode=require', 'postgresql://fcm@/fcm?host=/run/postgresql']) {
    assert.equal(loadConfig({ FCM_DATABASE_URL: ok }).databaseUrl, ok);
  }
  for (const [bad, why] of [
    ['not a url', /is not a URL/], ['mysql://u:pw-secret@h/db', /must be a postgresql:\/\/ URL/], ['postgresql://u:pw-secret@h', /must name the database/],
    ['postgresql://u:pw-secret@h/', /must name the database/], ['postgresql://u:pw-secret@/db', /names no host/],
  ] as const) {
    assert.throws(
      () => loadConfig({ FCM_DATABASE_URL: bad }),
      (e) => e instanceof ConfigError && why.test(e.message) && !e.message.includes('pw-secret'),
      bad,
    );
  }
});
