/**
 * SSH keys with their private halves, for tests that register keys: made
 * and used with the real `ssh-keygen` (as `fcm keys add` does), so the
 * daemon's proof-of-possession check sees what it sees in production.
 *
 * - newKeyPair(): an ed25519 key without passphrase in a temp directory
 * - signChallenge(): `ssh-keygen -Y sign -n fcm-key-proof` of a text
 * - registerKey(): the API's two steps (challenge, then the signed add)
 * - proveKey(): the same against KeyService directly (unit tests)
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { ApiKey, KeyService } from '../../daemon/core/keys.js';
import type { Principal } from '../../daemon/core/model.js';
import { tempDir } from './temp-dir.js';

export interface KeyPair {
  keyPath: string;
  publicKey: string;
}

export async function newKeyPair(type: 'ed25519' | 'ecdsa' | 'rsa' = 'ed25519', comment = 'test@example'): Promise<KeyPair> {
  const keyPath = join(tempDir('fcm-key-'), `id_${type}`);
  await new Promise<void>((resolve, reject) =>
    execFile('ssh-keygen', ['-q', '-t', type, ...(type === 'rsa' ? ['-b', '2048'] : []), '-N', '', '-C', comment, '-f', keyPath], (e) => (e ? reject(e) : resolve())),
  );
  return { keyPath, publicKey: readFileSync(`${keyPath}.pub`, 'utf8').trim() };
}

/** The armored SSH signature of `message`, as `ssh-keygen -Y sign` makes it (from the key file, or the agent for a .pub). */
export function signChallenge(keyFile: string, message: string, namespace = 'fcm-key-proof', env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('ssh-keygen', ['-Y', 'sign', '-n', namespace, '-f', keyFile], { stdio: ['pipe', 'pipe', 'pipe'], env });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`ssh-keygen -Y sign failed (${code}): ${err}`))));
    child.stdin.end(message);
  });
}

export async function registerKey(app: FastifyInstance, headers: Record<string, string>, key: KeyPair, name?: string): Promise<{ status: number; body: any }> {
  const c = await app.inject({ method: 'POST', url: '/v1/keys/challenges', headers, payload: { publicKey: key.publicKey } });
  if (c.statusCode !== 201) return { status: c.statusCode, body: c.json() };
  const { challenge } = c.json() as { challenge: string };
  const signature = await signChallenge(key.keyPath, challenge);
  const r = await app.inject({ method: 'POST', url: '/v1/keys', headers, payload: { publicKey: key.publicKey, challenge, signature, ...(name ? { name } : {}) } });
  return { status: r.statusCode, body: r.body ? JSON.parse(r.body) : null };
}

/** The same through any API caller (a host harness's `api(method, path, body, token)`). */
export async function registerKeyWith(
  call: (method: string, path: string, body: unknown, token?: string) => Promise<{ status: number; body: any }>,
  key: KeyPair,
  token?: string,
): Promise<{ status: number; body: any }> {
  const c = await call('POST', '/v1/keys/challenges', { publicKey: key.publicKey }, token);
  if (c.status !== 201) return c;
  const signature = await signChallenge(key.keyPath, c.body.challenge);
  return call('POST', '/v1/keys', { publicKey: key.publicKey, challenge: c.body.challenge, signature }, token);
}

export async function proveKey(keys: KeyService, p: Principal, key: KeyPair, name?: string): Promise<ApiKey> {
  const { challenge } = keys.challenge(p, key.publicKey);
  return keys.add(p, { publicKey: key.publicKey, challenge, signature: await signChallenge(key.keyPath, challenge), ...(name ? { name } : {}) });
}
