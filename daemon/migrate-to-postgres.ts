/**
 * `fcm daemon migrate-to-postgres`: moves a single host's SQLite state
 * (<state dir>/fcm.db) into the empty PostgreSQL database FCM_DATABASE_URL
 * names, in one PostgreSQL transaction. Every row of every table is copied
 * and then compared, field by field, with its source before COMMIT: either
 * all of it arrives or none does. The SQLite file is left as it was (it is
 * the backup). Files in the state dir (disks, admin token, keys) stay where
 * they are: only the database moves.
 *
 * Refuses a target that already holds rows (no merging of two states) and
 * a missing source. Run it with the daemon stopped: it reads the SQLite file
 * inside one transaction (a consistent snapshot), but a running daemon's
 * later writes would not be copied.
 */
import { existsSync } from 'node:fs';
import { openDb } from './drivers/sqlite/db.js';
import { openPg, PG_TABLES } from './drivers/postgres/pg-db.js';

export interface MigrationReport {
  /** Rows copied (and verified) per table. */
  tables: Record<(typeof PG_TABLES)[number], number>;
}

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

/** A row as comparable text: keys sorted, so column order does not matter. */
const canon = (r: Record<string, unknown>): string => JSON.stringify(Object.keys(r).sort().map((k) => [k, r[k] ?? null]));

export function migrateToPostgres(o: { sqlitePath: string; databaseUrl: string }): MigrationReport {
  if (!existsSync(o.sqlitePath)) throw new MigrationError(`there is no SQLite state at ${o.sqlitePath} (set FCM_STATE_DIR to the daemon's state dir)`);
  // openDb brings an older file up to the current schema first, which is the one PostgreSQL's first migration mirrors.
  const lite = openDb(o.sqlitePath);
  try {
    const pg = openPg({ url: o.databaseUrl, applicationName: 'fcm-migrate', statementTimeoutMs: 10 * 60_000 });
    try {
      const tables = {} as MigrationReport['tables'];
      // Readers of a WAL database see one snapshot for the whole read transaction.
      lite.transaction(() => {
        pg.transaction(() => {
          for (const t of PG_TABLES) {
            const n = pg.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t}`).rows[0]!.n;
            if (n) throw new MigrationError(`the PostgreSQL database is not empty (${t} has ${n} rows): migrate into a new, empty database`);
          }
          for (const t of PG_TABLES) {
            const rows = lite.prepare(`SELECT * FROM ${t}`).all() as Record<string, unknown>[];
            // One statement per table; columns are matched by name.
            if (rows.length) pg.query(`INSERT INTO ${t} SELECT * FROM jsonb_populate_recordset(NULL::${t}, $1::jsonb)`, [JSON.stringify(rows)]);
            // Columns PostgreSQL has beyond SQLite's (vms.host_id, NULL until a host adopts the rows) are not compared.
            const cols = (lite.prepare(`SELECT name FROM pragma_table_info('${t}')`).all() as { name: string }[]).map((c) => c.name);
            const back = pg.query<Record<string, unknown>>(`SELECT * FROM ${t}`).rows.map((r) => Object.fromEntries(cols.map((c) => [c, r[c]])));
            const want = rows.map(canon).sort();
            const got = back.map(canon).sort();
            if (want.length !== got.length || want.some((w, i) => w !== got[i])) {
              const missing = want.filter((w) => !got.includes(w)).length;
              throw new MigrationError(`${t}: ${rows.length} rows in SQLite, ${back.length} in PostgreSQL, ${missing} not identical after the copy; nothing was committed`);
            }
            tables[t] = rows.length;
          }
        });
      })();
      return { tables };
    } finally {
      pg.close();
    }
  } finally {
    lite.close();
  }
}
