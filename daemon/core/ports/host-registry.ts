/**
 * The hosts of a cluster: every daemon joined to one database registers
 * itself and holds a lease it renews. Drivers: PgHostRegistry
 * (drivers/postgres/); twin: MemoryHostRegistry (drivers/memory/, also the
 * single implicit host of a SQLite daemon); contract:
 * test/unit/contracts/host-registry.test.ts.
 *
 * Lease times are the registry's clock (the database server's for
 * PostgreSQL), never the daemons': hosts whose clocks drift still agree on
 * whose lease has lapsed.
 */

/** What a daemon says about itself when it registers. */
export interface HostInfo {
  /** FCM_HOST_ID: stable across restarts; a VM row names the host it runs on by it. */
  id: string;
  /** The address VM URLs embed (`<name>.<ip-dashed>.<base domain>`). */
  publicIp: string;
  /** The daemon's API as other hosts and clients reach it. */
  apiUrl: string;
  vcpus: number;
  memoryMib: number;
  diskMib: number;
  /** This host's VM subnet (FCM_SUBNET). */
  subnetCidr: string;
}

export interface HostRecord extends HostInfo {
  /** `up` while its lease runs; `unreachable` once it lapsed (crashed, cut off, or stopped). */
  state: 'up' | 'unreachable';
  startedAt: string;
  renewedAt: string;
  leaseExpiresAt: string;
}

/** register()'s answer: the lease is ours, or another process holds this id until `heldUntil`. */
export type Registration = { ok: true } | { ok: false; heldUntil: string };

export interface HostRegistry {
  /**
   * Claims `info.id` for the process `instance` (random per daemon start)
   * for `leaseMs`, replacing what was recorded about it — unless another
   * instance holds a lease on it that has not lapsed (two daemons with one
   * host id would both drive the same VMs).
   */
  register(info: HostInfo, instance: string, leaseMs: number): Registration;
  /** Extends the lease; false when `instance` no longer holds it (it lapsed and another process took the id). */
  renew(id: string, instance: string, leaseMs: number): boolean;
  /** Ends the lease now (clean shutdown); a no-op unless `instance` holds it. */
  release(id: string, instance: string): void;
  /** Every host ever registered, by id. */
  list(): HostRecord[];
  /** The cluster key (core/cluster-auth.ts): the stored one, or `candidate` stored now if there is none yet (the first host makes it). */
  clusterKey(candidate: Buffer): Buffer;
}
