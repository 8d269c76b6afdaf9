/**
 * SSH public keys for `git push` over SSH: parsing (pure) and KeyService
 * (add/list/remove with ownership, and the lookups sshd needs through the
 * AuthorizedKeysCommand). The KeyStore port is in ports/key-store.ts.
 *
 * A key identifies one user: the same key (fingerprint) cannot be registered
 * twice, by anyone — otherwise sshd could not tell whose push it is.
 * What reaches an authorized_keys line is rebuilt from the decoded key
 * (`<type> <base64>`), never copied from user input, so no option or
 * newline can be smuggled in.
 *
 * Adding a key proves possession of its private half, or anyone could
 * register someone else's public key (public keys are public: GitHub serves
 * them) and have that person's pushes mapped to their own account. The
 * daemon hands out a challenge — a nonce bound to the user and the key,
 * single use, five minutes — and the client signs it with the key in the
 * `fcm-key-proof` namespace (`ssh-keygen -Y sign -n fcm-key-proof`, from a
 * key file or ssh-agent); the signature is checked by a KeyProofVerifier
 * (drivers/ssh-signatures.ts: `ssh-keygen -Y verify`). The namespace keeps
 * a signature made for anything else (git commits, files) from counting.
 */
import { createHash, randomBytes } from 'node:crypto';
import { randomId } from './ids.js';
import { canAccess } from './access.js';
import { FcmError } from './errors.js';
import { KEY_ID } from './git-wire.js';
import type { Principal } from './model.js';
import { FairTable } from './rate-limit.js';

import { keyTaken, type KeyRecord, type KeyStore } from './ports/key-store.js';

export interface ParsedKey {
  type: string;
  blob: Buffer;
  comment: string;
  fingerprint: string;
  /** RSA modulus size. */
  bits?: number;
}

const invalid = (detail: string) => new FcmError('key_invalid', detail);

/** Key types sshd accepts by default on Debian 12 (OpenSSH 9.2); DSA is gone. */
const TYPES = new Set([
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
]);

export const MIN_RSA_BITS = 2048;

/** Parses one OpenSSH public key line (`ssh-ed25519 AAAA… comment`) and checks the blob really is that key type. */
export function parsePublicKey(text: string): ParsedKey {
  const line = text.trim();
  if (/PRIVATE KEY-----/.test(line)) {
    throw invalid('That is a private key: never share it. Give the public key, the .pub file (e.g. ~/.ssh/id_ed25519.pub).');
  }
  if (/[\r\n]/.test(line)) throw invalid('Give one public key (one line); add more keys one by one.');
  const fields = line.split(/[ \t]+/);
  const [type = '', b64 = ''] = fields;
  if (type === 'ssh-dss') throw invalid('DSA keys are no longer accepted by OpenSSH; create an ed25519 key: ssh-keygen -t ed25519');
  if (!TYPES.has(type)) {
    if (fields.some((f) => TYPES.has(f))) throw invalid('Give the public key alone, without authorized_keys options in front of it.');
    throw invalid(`Not an OpenSSH public key (expected a line starting with one of: ${[...TYPES].join(', ')}).`);
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) throw invalid('The key data is not valid base64.');
  const blob = Buffer.from(b64, 'base64');
  if (blob.toString('base64') !== b64) throw invalid('The key data is not valid base64.');
  const r = new SshReader(blob);
  const inner = r.string().toString('latin1');
  if (inner !== type) throw invalid(`The key data is a ${JSON.stringify(inner.slice(0, 40))} key, but the line says ${type}.`);
  let bits: number | undefined;
  switch (type) {
    case 'ssh-ed25519':
    case 'sk-ssh-ed25519@openssh.com':
      if (r.string().length !== 32) throw invalid('Malformed ed25519 key.');
      break;
    case 'ssh-rsa': {
      r.string(); // e
      const n = r.string();
      bits = mpintBits(n);
      if (bits < MIN_RSA_BITS) throw invalid(`RSA keys need at least ${MIN_RSA_BITS} bits (this one has ${bits}); better: ssh-keygen -t ed25519`);
      break;
    }
    default: {
      const curve = r.string().toString('latin1');
      if (!type.includes(`-${curve}`)) throw invalid(`Malformed ECDSA key (curve ${curve.slice(0, 20)}).`);
      if (r.string().length === 0) throw invalid('Malformed ECDSA key.');
    }
  }
  if (type.startsWith('sk-')) r.string(); // application ("ssh:")
  if (!r.done()) throw invalid('The key data has trailing bytes.');
  const comment = fields.slice(2).join(' ').replace(/[^\x20-\x7e]/g, '').slice(0, 100);
  return { type, blob, comment, fingerprint: fingerprintOf(blob), ...(bits ? { bits } : {}) };
}

export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * The authorized_keys line sshd gets for a registered key: `restrict` (no
 * pty, no port/agent/X11 forwarding, no ~/.ssh/rc) and a forced command that
 * only serves git for apps the key's owner may access. `forcedCommand` is
 * the argv the key id is appended to; sshd hands it to a shell, so every
 * word must be plain (no quotes, spaces or shell characters).
 */
export function authorizedKeyLine(key: Pick<KeyRecord, 'id' | 'publicKey'>, forcedCommand: readonly string[]): string {
  const unsafe = forcedCommand.find((w) => !/^[A-Za-z0-9/._=,:-]+$/.test(w));
  if (unsafe !== undefined || !forcedCommand.length) throw new Error(`unsafe forced command word: ${unsafe}`);
  if (!KEY_ID.test(key.id) || !/^[a-z0-9@.-]+ [A-Za-z0-9+/]+={0,2}$/.test(key.publicKey)) throw new Error('malformed key record');
  return `restrict,command="${[...forcedCommand, key.id].join(' ')}" ${key.publicKey}`;
}

class SshReader {
  private off = 0;
  constructor(private readonly b: Buffer) {}
  string(): Buffer {
    if (this.off + 4 > this.b.length) throw invalid('The key data is truncated.');
    const n = this.b.readUInt32BE(this.off);
    if (n > this.b.length - this.off - 4) throw invalid('The key data is truncated.');
    const s = this.b.subarray(this.off + 4, this.off + 4 + n);
    this.off += 4 + n;
    return s;
  }
  done(): boolean {
    return this.off === this.b.length;
  }
}

function mpintBits(n: Buffer): number {
  let i = 0;
  while (i < n.length && n[i] === 0) i++;
  if (i === n.length) return 0;
  return (n.length - i - 1) * 8 + (32 - Math.clz32(n[i]!));
}

export interface ApiKey {
  id: string;
  name: string;
  type: string;
  fingerprint: string;
  createdAt: string;
}

/** The namespace of proof signatures (`ssh-keygen -Y sign -n`): nothing signed for another purpose counts. */
export const KEY_PROOF_NAMESPACE = 'fcm-key-proof';

/** Checks an SSHSIG signature (`ssh-keygen -Y sign`) over `message`, by `publicKey` (`<type> <base64>`), in `namespace`. */
export interface KeyProofVerifier {
  verify(p: { publicKey: string; namespace: string; message: string; signature: string }): Promise<boolean>;
}

export interface KeyServiceDeps {
  store: KeyStore;
  /** The principal a key acts as, or null when its owner may no longer use fcm (removed from the allowlist). */
  principalFor(userId: string): Principal | null;
  /** Proof of possession; without one no key can be added. */
  proofs: KeyProofVerifier;
  now?: () => number;
  /** How long a challenge may be signed (default 5 minutes: time to type a passphrase). */
  challengeTtlMs?: number;
  /** Key ids (default `key_` + 12 random hex). */
  newId?: () => string;
}

export interface KeyChallenge {
  /** Sign exactly this text. */
  challenge: string;
  namespace: string;
  fingerprint: string;
  expiresAt: string;
}

interface Pending {
  userId: string;
  fingerprint: string;
  expiresAt: number;
}

const proofFailed = (detail: string) => new FcmError('key_proof_failed', detail);
const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('base64url');

export class KeyService {
  /** Challenges handed out, by their hash; each user holds at most 10 (their oldest give way). */
  private readonly challenges = new FairTable<Pending>({ perOwner: 10, max: 100_000 });
  private readonly now: () => number;

  constructor(private readonly d: KeyServiceDeps) {
    this.now = d.now ?? Date.now;
  }

  /** The caller's keys; an admin sees everyone's (like tokens and VMs). */
  list(p: Principal): ApiKey[] {
    return this.d.store.list(p.admin ? null : p.userId).filter((k) => canAccess(p, k.owner)).map(toApi);
  }

  /** A one-time challenge for `p` to sign with this key (step one of adding it). */
  challenge(p: Principal, publicKey: string): KeyChallenge {
    const k = parsePublicKey(publicKey);
    if (this.d.store.byFingerprint(k.fingerprint)) throw keyTaken(k.fingerprint);
    const now = this.now();
    const challenge = `fcm-key-proof:${randomBytes(32).toString('base64url')}`;
    const expiresAt = now + (this.d.challengeTtlMs ?? 5 * 60_000);
    this.challenges.put(p.userId, sha256(challenge), { userId: p.userId, fingerprint: k.fingerprint, expiresAt }, now);
    return { challenge, namespace: KEY_PROOF_NAMESPACE, fingerprint: k.fingerprint, expiresAt: new Date(expiresAt).toISOString() };
  }

  /**
   * Adds a key once `signature` proves the caller holds it: an SSH signature
   * in the fcm-key-proof namespace over a challenge issued to this caller for
   * this key, not used before and not expired. The challenge is used up by
   * any attempt.
   */
  async add(p: Principal, input: { publicKey: string; name?: string | undefined; challenge: string; signature: string }): Promise<ApiKey> {
    const k = parsePublicKey(input.publicKey);
    const c = this.challenges.take(sha256(input.challenge));
    if (!c || c.userId !== p.userId) throw proofFailed('This challenge is unknown, was already used, or was issued to someone else: ask for a new one (POST /v1/keys/challenges; fcm keys add does it for you).');
    if (c.expiresAt <= this.now()) throw proofFailed('This challenge has expired (they last 5 minutes): ask for a new one.');
    if (c.fingerprint !== k.fingerprint) throw proofFailed(`This challenge was issued for the key ${c.fingerprint}, not ${k.fingerprint}.`);
    const sig = parseSshSignature(input.signature);
    if (sig.namespace !== KEY_PROOF_NAMESPACE) throw proofFailed(`The signature is for the namespace "${sig.namespace.slice(0, 40)}", not "${KEY_PROOF_NAMESPACE}" (ssh-keygen -Y sign -n ${KEY_PROOF_NAMESPACE}).`);
    if (!sig.publicKey.equals(k.blob)) throw proofFailed(`The signature was made with the key ${fingerprintOf(sig.publicKey)}, not with ${k.fingerprint}: sign with the private half of the key you are adding.`);
    const publicKey = `${k.type} ${k.blob.toString('base64')}`;
    const ok = await this.d.proofs.verify({ publicKey, namespace: KEY_PROOF_NAMESPACE, message: input.challenge, signature: input.signature });
    if (!ok) throw proofFailed('The signature does not verify: it was not made over this challenge with this key.');
    if (this.d.store.byFingerprint(k.fingerprint)) throw keyTaken(k.fingerprint);
    const rec: KeyRecord = {
      id: this.d.newId?.() ?? randomId('key'),
      owner: p.userId,
      name: (input.name?.trim() || k.comment || `${k.type} key`).slice(0, 100),
      type: k.type,
      fingerprint: k.fingerprint,
      publicKey,
      createdAt: new Date(this.now()).toISOString(),
    };
    this.d.store.insert(rec);
    return toApi(rec);
  }

  remove(p: Principal, id: string): void {
    const k = this.d.store.get(id);
    if (!k || !canAccess(p, k.owner)) throw new FcmError('not_found', `No SSH key ${id}.`);
    this.d.store.remove(id);
  }

  /** For sshd: the registered key with this fingerprint, if its owner may still use fcm. */
  byFingerprint(fingerprint: string): KeyRecord | null {
    const k = this.d.store.byFingerprint(fingerprint);
    return k && this.d.principalFor(k.owner) ? k : null;
  }

  /** Who pushes with this key (checked again at every connection: removed keys and users stop at once). */
  principalOf(keyId: string): Principal | null {
    const k = this.d.store.get(keyId);
    return k ? this.d.principalFor(k.owner) : null;
  }
}

/**
 * The parts of an armored SSH signature (PROTOCOL.sshsig) that decide whose
 * and what for it is — checked here for clear errors; the cryptographic
 * check is the verifier's.
 */
export function parseSshSignature(armored: string): { publicKey: Buffer; namespace: string; hashAlgorithm: string } {
  const m = /^-----BEGIN SSH SIGNATURE-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n?-----END SSH SIGNATURE-----\s*$/.exec(armored.trim());
  if (!m) throw proofFailed('The signature is not an SSH signature (-----BEGIN SSH SIGNATURE----- …, as ssh-keygen -Y sign prints it).');
  const blob = Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
  const bad = () => proofFailed('The SSH signature is malformed.');
  if (blob.length < 10 || blob.subarray(0, 6).toString('latin1') !== 'SSHSIG') throw bad();
  const r = new SigReader(blob.subarray(6), bad);
  if (r.u32() !== 1) throw proofFailed('Unsupported SSH signature version.');
  const publicKey = r.string();
  const namespace = r.string().toString('utf8');
  r.string(); // reserved
  const hashAlgorithm = r.string().toString('latin1');
  r.string(); // the signature itself
  if (!r.done()) throw bad();
  if (hashAlgorithm !== 'sha256' && hashAlgorithm !== 'sha512') throw proofFailed(`Unsupported signature hash ${hashAlgorithm.slice(0, 20)}.`);
  return { publicKey, namespace, hashAlgorithm };
}

class SigReader {
  private off = 0;
  constructor(
    private readonly b: Buffer,
    private readonly bad: () => FcmError,
  ) {}
  u32(): number {
    if (this.off + 4 > this.b.length) throw this.bad();
    const n = this.b.readUInt32BE(this.off);
    this.off += 4;
    return n;
  }
  string(): Buffer {
    const n = this.u32();
    if (n > this.b.length - this.off) throw this.bad();
    const s = this.b.subarray(this.off, this.off + n);
    this.off += n;
    return s;
  }
  done(): boolean {
    return this.off === this.b.length;
  }
}


const toApi = (k: KeyRecord): ApiKey => ({ id: k.id, name: k.name, type: k.type, fingerprint: k.fingerprint, createdAt: k.createdAt });
