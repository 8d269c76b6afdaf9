import type { HostInfo, HostRecord, HostRegistry, Registration } from '../../core/ports/host-registry.js';
import type { PgDb } from './pg-db.js';

interface Row {
  id: string; public_ip: string; api_url: string; vcpus: number; memory_mib: number; disk_mib: number; subnet_cidr: string;
  started_at: Date; renewed_at: Date; lease_expires_at: Date; up: boolean;
}

const iso = (d: Date | string) => new Date(d).toISOString();
const LEASE = "now() + $LEASE * interval '1 millisecond'";

/**
 * Hosts in PostgreSQL. Every lease time is the server's now(), so daemons
 * with drifting clocks agree on who is up. Each call is one statement
 * (atomic on its own); none holds a lock beyond it.
 */
export class PgHostRegistry implements HostRegistry {
  constructor(private readonly db: PgDb) {}

  register(info: HostInfo, instance: string, leaseMs: number): Registration {
    return this.db.transaction(() => {
      const got = this.db.query(
        `INSERT INTO hosts (id, public_ip, api_url, vcpus, memory_mib, disk_mib, subnet_cidr, instance, started_at, renewed_at, lease_expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now(), now(), ${LEASE.replace('$LEASE', '$9')})
         ON CONFLICT (id) DO UPDATE SET public_ip = EXCLUDED.public_ip, api_url = EXCLUDED.api_url, vcpus = EXCLUDED.vcpus,
           memory_mib = EXCLUDED.memory_mib, disk_mib = EXCLUDED.disk_mib, subnet_cidr = EXCLUDED.subnet_cidr, instance = EXCLUDED.instance,
           started_at = EXCLUDED.started_at, renewed_at = EXCLUDED.renewed_at, lease_expires_at = EXCLUDED.lease_expires_at
         WHERE hosts.instance = EXCLUDED.instance OR hosts.lease_expires_at <= now()
         RETURNING id`,
        [info.id, info.publicIp, info.apiUrl, info.vcpus, info.memoryMib, info.diskMib, info.subnetCidr, instance, leaseMs],
      );
      if (!got.rowCount) {
        const held = this.db.query<{ lease_expires_at: Date }>('SELECT lease_expires_at FROM hosts WHERE id = $1', [info.id]).rows[0]!;
        return { ok: false, heldUntil: iso(held.lease_expires_at) };
      }
      // VM rows moved from one host's SQLite state (migrate-to-postgres) run where the daemon that moved them runs:
      // the first host to register adopts them.
      this.db.query('UPDATE vms SET host_id = $1 WHERE host_id IS NULL', [info.id]);
      return { ok: true };
    });
  }

  renew(id: string, instance: string, leaseMs: number): boolean {
    return this.db.query(`UPDATE hosts SET renewed_at = now(), lease_expires_at = ${LEASE.replace('$LEASE', '$3')} WHERE id = $1 AND instance = $2`, [id, instance, leaseMs]).rowCount > 0;
  }

  release(id: string, instance: string): void {
    this.db.query('UPDATE hosts SET lease_expires_at = LEAST(lease_expires_at, now()) WHERE id = $1 AND instance = $2', [id, instance]);
  }

  clusterKey(candidate: Buffer): Buffer {
    this.db.query('INSERT INTO cluster_key (one, key) VALUES (true, $1) ON CONFLICT (one) DO NOTHING', [candidate.toString('hex')]);
    return Buffer.from(this.db.query<{ key: string }>('SELECT key FROM cluster_key').rows[0]!.key, 'hex');
  }

  list(): HostRecord[] {
    return this.db.query<Row>('SELECT *, lease_expires_at > now() AS up FROM hosts ORDER BY id').rows.map((r) => ({
      id: r.id, publicIp: r.public_ip, apiUrl: r.api_url, vcpus: r.vcpus, memoryMib: r.memory_mib, diskMib: r.disk_mib, subnetCidr: r.subnet_cidr,
      state: r.up ? 'up' : 'unreachable',
      startedAt: iso(r.started_at), renewedAt: iso(r.renewed_at), leaseExpiresAt: iso(r.lease_expires_at),
    }));
  }
}
