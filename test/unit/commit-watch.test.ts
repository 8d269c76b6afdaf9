/**
 * drivers/sqlite/commit-watch.ts: "did any connection commit since the last look" from the
 * -shm file's wal-index header instead of a read transaction. It must never miss a commit that
 * PRAGMA data_version (SQLite's own answer) sees — by this connection, another connection, or
 * another process, across WAL checkpoints and restarts — and must say "no" when nothing was
 * committed (else it saves nothing).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openDb } from '../../daemon/drivers/sqlite/db.js';
import { CommitWatch } from '../../daemon/drivers/sqlite/commit-watch.js';

const betterSqlite = createRequire(import.meta.url).resolve('better-sqlite3');

function tempDb() {
  const dir = mkdtempSync(join(tmpdir(), 'fcm-commit-watch-'));
  const path = join(dir, 'fcm.db');
  const db = openDb(path);
  db.exec('CREATE TABLE t (x INTEGER)');
  return { dir, path, db };
}

test('no commit: no change; a commit by this connection, another connection or another process: a change, once', () => {
  const { dir, path, db } = tempDb();
  try {
    const w = new CommitWatch(db);
    assert.equal(w.changed(), true, 'the first look counts as a change');
    assert.equal(w.changed(), false);
    db.prepare('SELECT count(*) FROM t').get();
    assert.equal(w.changed(), false, 'reads are not commits');

    db.prepare('INSERT INTO t VALUES (1)').run();
    assert.equal(w.changed(), true, 'this connection');
    assert.equal(w.changed(), false);

    const other = openDb(path);
    other.prepare('INSERT INTO t VALUES (2)').run();
    assert.equal(w.changed(), true, 'another connection');
    assert.equal(w.changed(), false);
    other.close();

    execFileSync(process.execPath, ['-e', `const D = require(${JSON.stringify(betterSqlite)}); const d = new D(${JSON.stringify(path)}); d.prepare('UPDATE t SET x = x + 1').run(); d.close();`]);
    assert.equal(w.changed(), true, 'another process');
    assert.equal(w.changed(), false);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every commit PRAGMA data_version sees is seen, through checkpoints that restart and truncate the WAL', () => {
  const { dir, path, db } = tempDb();
  const other = openDb(path);
  try {
    const w = new CommitWatch(db);
    const version = db.prepare('PRAGMA data_version').pluck();
    w.changed();
    let last = version.get();
    let seen = 0;
    let quiet = 0;
    // A fixed pseudo-random mix of commits by the other connection, checkpoints of each kind, and nothing.
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 6);
    for (let i = 0; i < 600; i++) {
      const step = rnd();
      if (step === 0 || step === 1) other.prepare('INSERT INTO t VALUES (?)').run(i);
      else if (step === 2) other.pragma('wal_checkpoint(TRUNCATE)');
      else if (step === 3) other.pragma('wal_checkpoint(RESTART)');
      else if (step === 4) db.pragma('wal_checkpoint(PASSIVE)');
      const changed = w.changed();
      const now = version.get();
      if (now !== last) {
        assert.equal(changed, true, `step ${i} (${step}): data_version moved, the watch must say so`);
        seen++;
      } else if (!changed) quiet++;
      last = now;
    }
    assert.ok(seen > 100, `commits seen: ${seen}`);
    assert.ok(quiet > 100, `steps without a commit that cost nothing: ${quiet}`);
  } finally {
    other.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an in-memory database (no -shm file) asks data_version instead', () => {
  const db = openDb(':memory:');
  try {
    db.exec('CREATE TABLE t (x INTEGER)');
    const w = new CommitWatch(db);
    assert.equal(w.changed(), true);
    assert.equal(w.changed(), false);
  } finally {
    db.close();
  }
});
