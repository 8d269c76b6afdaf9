import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A host secret kept in `<state dir>/<name>` (0600), generated on first use. */
export function loadOrCreateSecret(stateDir: string, name: string, bytes = 32): Buffer {
  const path = join(stateDir, name);
  try {
    const b = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64url');
    if (b.length >= bytes) {
      chmodSync(path, 0o600);
      return b;
    }
  } catch {
    /* create below */
  }
  const b = randomBytes(bytes);
  writeFileSync(path, `${b.toString('base64url')}\n`, { mode: 0o600 });
  return b;
}
