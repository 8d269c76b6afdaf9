/**
 * The seed disk: a tiny read-only block device (/dev/vdb in the guest) that
 * carries per-VM configuration that must not travel on the kernel command
 * line — above all the agent token, which the host's `ps` would show.
 * Format: the magic line `FCMSEED1\n`, one line of JSON, then NUL padding to
 * SEED_BYTES. The guest init reads it at boot (root-only device node).
 */
export const SEED_MAGIC = 'FCMSEED1\n';
export const SEED_BYTES = 4096;

export interface SeedData {
  vmId: string;
  hostname: string;
  /** Bearer token the guest agent requires for everything but /health. */
  agentToken: string;
  /** The port the VM's HTTP traffic goes to (PORT for the web process). */
  port: number;
  /** A snapshot template: it waits to be restored instead of being used (rootfs/guest/identity.py). */
  template?: boolean;
  /**
   * A machine entering the warm pool: the guest takes vmId, mac, agentToken, nowMs and entropy
   * (the half of an identity that names no user), warms up and waits for its claim — the same
   * vmId with the rest, without `pool` (rootfs/guest/identity.py).
   */
  pool?: boolean;
  /** Network identity, applied by a guest restored from a template (cold boots use the kernel command line). */
  net?: { ip: string; prefix: number; gateway: string; dns: string[] };
  mac?: string;
  /** Host wall clock when the seed was written: a restored guest's clock is as old as its snapshot. */
  nowMs?: number;
  /** Fresh random bytes (base64) credited to the guest CRNG on restore, so siblings never share random state. */
  entropy?: string;
}

export function planSeed(data: SeedData): Buffer {
  const text = `${SEED_MAGIC}${JSON.stringify(data)}\n`;
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length > SEED_BYTES) throw new Error(`seed too large (${bytes.length} bytes)`);
  const out = Buffer.alloc(SEED_BYTES);
  bytes.copy(out);
  return out;
}

export function parseSeed(buf: Buffer): SeedData {
  const text = buf.toString('utf8').replace(/\0+$/, '');
  if (!text.startsWith(SEED_MAGIC)) throw new Error('not an fcm seed');
  return JSON.parse(text.slice(SEED_MAGIC.length)) as SeedData;
}
