/**
 * Writing the credential store (api/credentials.ts reads it): `fcm login`
 * adds a host, `fcm logout` removes one, `fcm hosts use` picks the default.
 * The file is replaced atomically (temp file 0600 + fsync + rename) inside a
 * 0700 directory, so no moment exists where it is partial or readable by
 * others. A CA file given at login is copied next to it (ca/<host>.pem):
 * the login keeps working when the original is moved, and git can be
 * pointed at a stable path.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, copyFileSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { configDir, type CredentialStore, type HostCredentials } from '../credentials.js';
import { CliError } from './render-error.js';

/** Writes `text` to `path` atomically with mode 0600. */
export function writeSecretFile(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export function saveStore(path: string, store: CredentialStore): void {
  writeSecretFile(path, `${JSON.stringify(store, null, 2)}\n`);
}

/** A file name for a host URL: `https://fcm.1-2-3-4.sslip.io:8443` → `https_fcm.1-2-3-4.sslip.io_8443`. */
export function hostSlug(host: string): string {
  return host.replace(/^([a-z]+):\/\//, '$1_').replace(/[^A-Za-z0-9.-]+/g, '_').slice(0, 200);
}

/** Copies a CA file into the config dir (0600 is not needed for a certificate: 0644), returns the copy's path. */
export function storeCaFile(env: Record<string, string | undefined>, home: string, host: string, from: string): string {
  const dir = join(configDir(env, home), 'ca');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const to = join(dir, `${hostSlug(host)}.pem`);
  if (from !== to) {
    try {
      copyFileSync(from, to);
    } catch (e) {
      throw new CliError(`cannot copy the CA file ${from}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  chmodSync(to, 0o644);
  return to;
}

export function withHost(store: CredentialStore, host: string, creds: HostCredentials, makeDefault: boolean): CredentialStore {
  return { version: 1, ...(makeDefault ? { default: host } : store.default ? { default: store.default } : {}), hosts: { ...store.hosts, [host]: creds } };
}

export function withoutHost(store: CredentialStore, host: string): CredentialStore {
  const hosts = { ...store.hosts };
  delete hosts[host];
  return { version: 1, ...(store.default && store.default !== host ? { default: store.default } : {}), hosts };
}

/** Removes a CA copy this store made (only files inside the config dir's ca/). */
export function removeCaCopy(env: Record<string, string | undefined>, home: string, caFile: string | undefined): void {
  if (!caFile || dirname(caFile) !== join(configDir(env, home), 'ca')) return;
  try {
    unlinkSync(caFile);
  } catch {
    /* already gone */
  }
}
