/** OpenSSH public key lines generated in-process (no ssh-keygen needed). */
import { generateKeyPairSync } from 'node:crypto';

const str = (b: Buffer | string) => {
  const x = Buffer.isBuffer(b) ? b : Buffer.from(b, 'latin1');
  const n = Buffer.alloc(4);
  n.writeUInt32BE(x.length);
  return Buffer.concat([n, x]);
};
const mpint = (b: Buffer) => str(b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
const b64u = (s: string) => Buffer.from(s, 'base64url');

export function sshPublicKey(kind: 'ed25519' | 'rsa2048' | 'rsa1024' | 'ecdsa256', comment = 'test@example'): string {
  if (kind === 'ed25519') {
    const jwk = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
    return `ssh-ed25519 ${Buffer.concat([str('ssh-ed25519'), str(b64u(jwk.x!))]).toString('base64')} ${comment}`;
  }
  if (kind === 'ecdsa256') {
    const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
    const q = Buffer.concat([Buffer.from([4]), b64u(jwk.x!), b64u(jwk.y!)]);
    return `ecdsa-sha2-nistp256 ${Buffer.concat([str('ecdsa-sha2-nistp256'), str('nistp256'), str(q)]).toString('base64')} ${comment}`;
  }
  const jwk = generateKeyPairSync('rsa', { modulusLength: kind === 'rsa2048' ? 2048 : 1024 }).publicKey.export({ format: 'jwk' });
  return `ssh-rsa ${Buffer.concat([str('ssh-rsa'), mpint(b64u(jwk.e!)), mpint(b64u(jwk.n!))]).toString('base64')} ${comment}`;
}
