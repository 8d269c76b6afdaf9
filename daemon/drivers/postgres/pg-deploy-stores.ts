import { FcmError } from '../../core/errors.js';
import { keyTaken, type KeyRecord, type KeyStore } from '../../core/ports/key-store.js';
import type { EnvStore, NewRelease, ReleasePatch, ReleaseRecord, ReleaseStore } from '../../core/ports/releases.js';
import { uniqueViolation, type PgDb } from './pg-db.js';

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

/** Arbitrary, fixed: with the VM id's hash, the advisory lock under which a VM's next release version is chosen. */
const RELEASE_LOCK = 0x66636d02;

/**
 * Releases in PostgreSQL. The next version is chosen and inserted under a
 * per-VM advisory lock, so two daemons deploying one app cannot pick the same
 * version (the primary key would refuse the second, failing its deploy).
 */
export class PgReleaseStore implements ReleaseStore {
  constructor(private readonly db: PgDb) {}

  create(r: NewRelease): ReleaseRecord {
    return this.db.transaction(() => {
      this.db.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [RELEASE_LOCK, r.vmId]);
      const row = this.db.query<ReleaseRow>(
        `INSERT INTO releases (vm_id, version, status, kind, commit_sha, description, buildpack, processes, rollback_of, build, log, created_at)
         SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4, $5, $6, $7, $8, $9, '', $10 FROM releases WHERE vm_id = $1
         RETURNING *`,
        [r.vmId, r.status, r.kind, r.commit, r.description, r.buildpack, JSON.stringify(r.processes), r.rollbackOf, r.build, new Date().toISOString()],
      ).rows[0]!;
      return releaseFromRow(row);
    });
  }

  update(vmId: string, version: number, patch: ReleasePatch): ReleaseRecord {
    const sets: string[] = [];
    const vals: unknown[] = [vmId, version];
    for (const [k, v] of Object.entries(patch) as [keyof ReleasePatch, unknown][]) {
      if (v === undefined) continue;
      vals.push(k === 'processes' ? JSON.stringify(v) : v);
      sets.push(`${PATCH_COLUMNS[k]} = $${vals.length}`);
    }
    const r = sets.length
      ? this.db.query<ReleaseRow>(`UPDATE releases SET ${sets.join(', ')} WHERE vm_id = $1 AND version = $2 RETURNING *`, vals).rows[0]
      : this.db.query<ReleaseRow>('SELECT * FROM releases WHERE vm_id = $1 AND version = $2', vals).rows[0];
    if (!r) throw new FcmError('release_not_found', `No release v${version}.`);
    return releaseFromRow(r);
  }

  get(vmId: string, version: number): ReleaseRecord | undefined {
    const r = this.db.query<ReleaseRow>('SELECT * FROM releases WHERE vm_id = $1 AND version = $2', [vmId, version]).rows[0];
    return r ? releaseFromRow(r) : undefined;
  }

  list(vmId: string): ReleaseRecord[] {
    return this.db.query<ReleaseRow>('SELECT * FROM releases WHERE vm_id = $1 ORDER BY version DESC', [vmId]).rows.map(releaseFromRow);
  }

  removeVm(vmId: string): void {
    this.db.query('DELETE FROM releases WHERE vm_id = $1', [vmId]);
  }
}

/** Config vars, one row per key, replaced whole in one transaction. Values are secrets: they are never logged, and the connection URL is the operator's to protect. */
export class PgEnvStore implements EnvStore {
  constructor(private readonly db: PgDb) {}

  get(vmId: string): Record<string, string> {
    const rows = this.db.query<{ key: string; value: string }>('SELECT key, value FROM env_vars WHERE vm_id = $1 ORDER BY key', [vmId]).rows;
    return Object.fromEntries(rows.map((r) => [r.key, r.value]));
  }

  put(vmId: string, vars: Record<string, string>): void {
    this.db.transaction(() => {
      this.db.query('DELETE FROM env_vars WHERE vm_id = $1', [vmId]);
      this.db.query('INSERT INTO env_vars (vm_id, key, value) SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS t(k, v)', [
        vmId, Object.keys(vars), Object.values(vars),
      ]);
    });
  }

  removeVm(vmId: string): void {
    this.db.query('DELETE FROM env_vars WHERE vm_id = $1', [vmId]);
  }
}

interface KeyRow { id: string; owner: string; name: string; type: string; fingerprint: string; public_key: string; created_at: string }

const keyFromRow = (r: KeyRow): KeyRecord => ({
  id: r.id, owner: r.owner, name: r.name, type: r.type, fingerprint: r.fingerprint, publicKey: r.public_key, createdAt: r.created_at,
});

export class PgKeyStore implements KeyStore {
  constructor(private readonly db: PgDb) {}

  insert(k: KeyRecord): void {
    try {
      this.db.query('INSERT INTO ssh_keys (id, owner, name, type, fingerprint, public_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
        k.id, k.owner, k.name, k.type, k.fingerprint, k.publicKey, k.createdAt,
      ]);
    } catch (e) {
      if (uniqueViolation(e) === 'ssh_keys_fingerprint_key') throw keyTaken(k.fingerprint);
      throw e;
    }
  }

  list(owner: string | null): KeyRecord[] {
    const rows = owner === null
      ? this.db.query<KeyRow>('SELECT * FROM ssh_keys ORDER BY created_at, id').rows
      : this.db.query<KeyRow>('SELECT * FROM ssh_keys WHERE owner = $1 ORDER BY created_at, id', [owner]).rows;
    return rows.map(keyFromRow);
  }

  get(id: string): KeyRecord | undefined {
    const r = this.db.query<KeyRow>('SELECT * FROM ssh_keys WHERE id = $1', [id]).rows[0];
    return r ? keyFromRow(r) : undefined;
  }

  byFingerprint(fingerprint: string): KeyRecord | undefined {
    const r = this.db.query<KeyRow>('SELECT * FROM ssh_keys WHERE fingerprint = $1', [fingerprint]).rows[0];
    return r ? keyFromRow(r) : undefined;
  }

  remove(id: string): void {
    this.db.query('DELETE FROM ssh_keys WHERE id = $1', [id]);
  }
}
