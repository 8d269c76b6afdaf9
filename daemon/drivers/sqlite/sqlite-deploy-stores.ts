import type { Transaction } from 'better-sqlite3';
import { FcmError } from '../../core/errors.js';
import { keyTaken, type KeyRecord, type KeyStore } from '../../core/ports/key-store.js';
import type { EnvStore, NewRelease, ReleasePatch, ReleaseRecord, ReleaseStore } from '../../core/ports/releases.js';
import type { Db } from './db.js';

interface ReleaseRow {
  vm_id: string; version: number; status: string; kind: string; commit_sha: string | null; description: string;
  buildpack: string | null; processes: string; rollback_of: number | null; build: number | null; log: string;
  created_at: string; finished_at: string | null;
}

const releaseFromRow = (r: ReleaseRow): ReleaseRecord => ({
  vmId: r.vm_id, version: r.version, status: r.status as ReleaseRecord['status'], kind: r.kind as ReleaseRecord['kind'],
  commit: r.commit_sha, description: r.description, buildpack: r.buildpack as ReleaseRecord['buildpack'],
  processes: JSON.parse(r.processes) as Record<string, string>, rollbackOf: r.rollback_of, build: r.build, log: r.log,
  createdAt: r.created_at, finishedAt: r.finished_at,
});

const PATCH_COLUMNS: Record<keyof ReleasePatch, string> = {
  status: 'status', buildpack: 'buildpack', processes: 'processes', build: 'build', log: 'log', finishedAt: 'finished_at',
};

/** Releases in SQLite; the next version is allocated inside the insert transaction. */
export class SqliteReleaseStore implements ReleaseStore {
  private readonly createTx: Transaction<(r: NewRelease) => ReleaseRecord>;

  constructor(private readonly db: Db) {
    const next = db.prepare('SELECT COALESCE(MAX(version), 0) + 1 FROM releases WHERE vm_id = ?').pluck();
    const ins = db.prepare(`INSERT INTO releases (vm_id, version, status, kind, commit_sha, description, buildpack, processes, rollback_of, build, log, created_at)
      VALUES (@vmId, @version, @status, @kind, @commit, @description, @buildpack, @processes, @rollbackOf, @build, '', @createdAt)`);
    this.createTx = db.transaction((r: NewRelease) => {
      const version = next.get(r.vmId) as number;
      ins.run({ ...r, version, processes: JSON.stringify(r.processes), createdAt: new Date().toISOString() });
      return this.get(r.vmId, version)!;
    });
  }

  create(r: NewRelease): ReleaseRecord {
    return this.createTx(r);
  }

  update(vmId: string, version: number, patch: ReleasePatch): ReleaseRecord {
    const sets: string[] = [];
    const vals: Record<string, unknown> = { vmId, version };
    for (const [k, v] of Object.entries(patch) as [keyof ReleasePatch, unknown][]) {
      if (v === undefined) continue;
      sets.push(`${PATCH_COLUMNS[k]} = @${k}`);
      vals[k] = k === 'processes' ? JSON.stringify(v) : v;
    }
    if (sets.length) this.db.prepare(`UPDATE releases SET ${sets.join(', ')} WHERE vm_id = @vmId AND version = @version`).run(vals);
    const r = this.get(vmId, version);
    if (!r) throw new FcmError('release_not_found', `No release v${version}.`);
    return r;
  }

  get(vmId: string, version: number): ReleaseRecord | undefined {
    const r = this.db.prepare('SELECT * FROM releases WHERE vm_id = ? AND version = ?').get(vmId, version) as ReleaseRow | undefined;
    return r ? releaseFromRow(r) : undefined;
  }

  list(vmId: string): ReleaseRecord[] {
    return (this.db.prepare('SELECT * FROM releases WHERE vm_id = ? ORDER BY version DESC').all(vmId) as ReleaseRow[]).map(releaseFromRow);
  }

  removeVm(vmId: string): void {
    this.db.prepare('DELETE FROM releases WHERE vm_id = ?').run(vmId);
  }
}

/** Config vars, one row per key. The values are secrets: the database file is 0600 root. */
export class SqliteEnvStore implements EnvStore {
  private readonly putTx: Transaction<(vmId: string, vars: Record<string, string>) => void>;

  constructor(private readonly db: Db) {
    const del = db.prepare('DELETE FROM env_vars WHERE vm_id = ?');
    const ins = db.prepare('INSERT INTO env_vars (vm_id, key, value) VALUES (?, ?, ?)');
    this.putTx = db.transaction((vmId: string, vars: Record<string, string>) => {
      del.run(vmId);
      for (const [k, v] of Object.entries(vars)) ins.run(vmId, k, v);
    });
  }

  get(vmId: string): Record<string, string> {
    const rows = this.db.prepare('SELECT key, value FROM env_vars WHERE vm_id = ? ORDER BY key').all(vmId) as { key: string; value: string }[];
    return Object.fromEntries(rows.map((r) => [r.key, r.value]));
  }

  put(vmId: string, vars: Record<string, string>): void {
    this.putTx(vmId, vars);
  }

  removeVm(vmId: string): void {
    this.db.prepare('DELETE FROM env_vars WHERE vm_id = ?').run(vmId);
  }
}

interface KeyRow { id: string; owner: string; name: string; type: string; fingerprint: string; public_key: string; created_at: string }

const keyFromRow = (r: KeyRow): KeyRecord => ({
  id: r.id, owner: r.owner, name: r.name, type: r.type, fingerprint: r.fingerprint, publicKey: r.public_key, createdAt: r.created_at,
});

export class SqliteKeyStore implements KeyStore {
  constructor(private readonly db: Db) {}

  insert(k: KeyRecord): void {
    try {
      this.db
        .prepare('INSERT INTO ssh_keys (id, owner, name, type, fingerprint, public_key, created_at) VALUES (@id, @owner, @name, @type, @fingerprint, @publicKey, @createdAt)')
        .run(k);
    } catch (e) {
      if (/UNIQUE constraint failed: ssh_keys\.fingerprint/.test((e as Error).message)) throw keyTaken(k.fingerprint);
      throw e;
    }
  }

  list(owner: string | null): KeyRecord[] {
    const rows = owner === null
      ? this.db.prepare('SELECT * FROM ssh_keys ORDER BY created_at, id').all()
      : this.db.prepare('SELECT * FROM ssh_keys WHERE owner = ? ORDER BY created_at, id').all(owner);
    return (rows as KeyRow[]).map(keyFromRow);
  }

  get(id: string): KeyRecord | undefined {
    const r = this.db.prepare('SELECT * FROM ssh_keys WHERE id = ?').get(id) as KeyRow | undefined;
    return r ? keyFromRow(r) : undefined;
  }

  byFingerprint(fingerprint: string): KeyRecord | undefined {
    const r = this.db.prepare('SELECT * FROM ssh_keys WHERE fingerprint = ?').get(fingerprint) as KeyRow | undefined;
    return r ? keyFromRow(r) : undefined;
  }

  remove(id: string): void {
    this.db.prepare('DELETE FROM ssh_keys WHERE id = ?').run(id);
  }
}
