/**
 * SSH public key rows. Drivers: SqliteKeyStore (drivers/sqlite/sqlite-deploy-stores.ts), PgKeyStore (drivers/postgres/);
 * twin: MemoryKeyStore (drivers/memory/memory-deploys.ts); contract:
 * test/unit/contracts/deploy-stores.test.ts.
 */
import { FcmError } from '../errors.js';

export interface KeyRecord {
  id: string;
  owner: string;
  name: string;
  type: string;
  /** `SHA256:<base64, unpadded>` of the key blob, as `ssh-keygen -lf` and sshd's %f print it. */
  fingerprint: string;
  /** `<type> <base64>` — no options, no comment. */
  publicKey: string;
  createdAt: string;
}

/** Key rows. `insert` throws key_taken (keyTaken) when the fingerprint is already registered. */
export interface KeyStore {
  insert(key: KeyRecord): void;
  /** One owner's keys, or every key (null), oldest first. */
  list(owner: string | null): KeyRecord[];
  get(id: string): KeyRecord | undefined;
  byFingerprint(fingerprint: string): KeyRecord | undefined;
  remove(id: string): void;
}

/** The error a KeyStore (and KeyService, checking first) throws for a fingerprint already registered. */
export function keyTaken(fingerprint: string): FcmError {
  return new FcmError('key_taken', `The key ${fingerprint} is already registered (a key can belong to one account only).`);
}
