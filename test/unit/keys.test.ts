import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isFcmError } from '../../daemon/core/errors.js';
import { authorizedKeyLine, KeyService, parsePublicKey } from '../../daemon/core/keys.js';
import { SshKeygenVerifier } from '../../daemon/drivers/ssh-signatures.js';
import { newKeyPair, proveKey, signChallenge } from '../helpers/key-proof.js';
import type { Principal } from '../../daemon/core/model.js';
import { MemoryKeyStore } from '../../daemon/drivers/memory/memory-deploys.js';
import { sshPublicKey } from '../helpers/ssh-keys.js';

const invalid = (e: unknown) => isFcmError(e, 'key_invalid');

test('parses ed25519, RSA ≥ 2048 and ECDSA keys; the fingerprint is what ssh-keygen prints', () => {
  for (const kind of ['ed25519', 'rsa2048', 'ecdsa256'] as const) {
    const line = sshPublicKey(kind, 'me@laptop');
    const k = parsePublicKey(`  ${line}\n`);
    assert.equal(k.comment, 'me@laptop');
    assert.match(k.fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
    // ssh-keygen (openssh-client, installed by daemon/host-setup.sh) is the reference: without it this
    // test fails rather than quietly checking only the fingerprint's format.
    const f = join(mkdtempSync(join(tmpdir(), 'fcm-key-')), 'k.pub');
    writeFileSync(f, `${line}\n`);
    const viaKeygen = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', f], { encoding: 'utf8' }).split(' ')[1]!;
    assert.equal(k.fingerprint, viaKeygen, kind);
  }
  assert.equal(parsePublicKey(sshPublicKey('rsa2048')).bits, 2048);
});

test('refuses what is not one acceptable public key, saying why', () => {
  const ed = sshPublicKey('ed25519');
  const [type, b64] = ed.split(' ') as [string, string];
  const cases: [string, RegExp][] = [
    ['-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----', /private key/],
    [`${ed}\n${sshPublicKey('ed25519')}`, /one public key/],
    [`command="sh" ${ed}`, /without authorized_keys options/],
    [`ssh-dss AAAAB3NzaC1kc3MAAACBAP== x`, /DSA/],
    ['hello world', /Not an OpenSSH public key/],
    [`${type} not*base64`, /base64/],
    [`ssh-rsa ${b64}`, /is a "ssh-ed25519" key/],
    [`${type} ${Buffer.from(b64, 'base64').subarray(0, 20).toString('base64')}`, /truncated|Malformed/],
    [`${type} ${Buffer.concat([Buffer.from(b64, 'base64'), Buffer.from([0, 0, 0, 0])]).toString('base64')}`, /trailing/],
    [sshPublicKey('rsa1024'), /at least 2048 bits/],
  ];
  for (const [input, why] of cases) assert.throws(() => parsePublicKey(input), (e: unknown) => invalid(e) && why.test((e as Error).message), input.slice(0, 40));
});

test('the authorized_keys line is rebuilt from the key: restrict + forced command, no comment', () => {
  const line = authorizedKeyLine({ id: 'key_0123456789ab', publicKey: 'ssh-ed25519 AAAAC3Nz' }, ['/var/lib/fcm/git/bin/fcm-git-serve.cjs']);
  assert.equal(line, 'restrict,command="/var/lib/fcm/git/bin/fcm-git-serve.cjs key_0123456789ab" ssh-ed25519 AAAAC3Nz');
  // The privilege drop in front of it (daemon/drivers/git/git-user.ts): plain words joined by spaces.
  const dropped = authorizedKeyLine({ id: 'key_0123456789ab', publicKey: 'ssh-ed25519 AAAAC3Nz' }, ['/usr/bin/setpriv', '--reuid=998', '--regid=998', '--clear-groups', '/x/fcm-git-serve.cjs']);
  assert.equal(dropped, 'restrict,command="/usr/bin/setpriv --reuid=998 --regid=998 --clear-groups /x/fcm-git-serve.cjs key_0123456789ab" ssh-ed25519 AAAAC3Nz');
  for (const bad of [['/path with space'], ['/x', 'a"b'], ['/x', '$(id)'], ['/x;id'], ['/x', ''], []]) {
    assert.throws(() => authorizedKeyLine({ id: 'key_0123456789ab', publicKey: 'ssh-ed25519 AAAA' }, bad), JSON.stringify(bad));
  }
  assert.throws(() => authorizedKeyLine({ id: 'key_0123456789ab', publicKey: 'ssh-ed25519 AAAA\nssh-rsa B' }, ['/x']));
  assert.throws(() => authorizedKeyLine({ id: 'key_../../etc', publicKey: 'ssh-ed25519 AAAA' }, ['/x']));
});

const verifier = new SshKeygenVerifier();

function keyService() {
  const allowed = new Set(['u_alice', 'u_bob', 'admin']);
  let now = Date.parse('2030-01-01T00:00:00Z');
  const store = new MemoryKeyStore();
  const svc = new KeyService({ store, proofs: verifier, now: () => now, principalFor: (id) => (allowed.has(id) ? { userId: id, email: null, admin: id === 'admin' } : null) });
  return { svc, store, allowed, advance: (ms: number) => (now += ms) };
}
const alice: Principal = { userId: 'u_alice', email: 'alice@example.com', admin: false };
const bob: Principal = { userId: 'u_bob', email: 'bob@example.com', admin: false };
const admin: Principal = { userId: 'admin', email: null, admin: true };
const proofFailed = (re?: RegExp) => (e: unknown) => isFcmError(e, 'key_proof_failed') && (!re || re.test((e as Error).message));

test('KeyService: add (with proof)/list/remove with ownership; a key belongs to one account; removed users lose their keys', async () => {
  const { svc, allowed } = keyService();
  const aliceKey = await newKeyPair('ed25519', 'alice@laptop');
  const k = await proveKey(svc, alice, aliceKey);
  assert.equal(k.name, 'alice@laptop');
  assert.match(k.id, /^key_[0-9a-f]{12}$/);
  assert.deepEqual(Object.keys(k).sort(), ['createdAt', 'fingerprint', 'id', 'name', 'type']);
  assert.equal((await proveKey(svc, alice, await newKeyPair('ecdsa'), 'ci')).name, 'ci');
  assert.equal((await proveKey(svc, alice, await newKeyPair('rsa'))).type, 'ssh-rsa');
  assert.throws(() => svc.challenge(bob, aliceKey.publicKey), (e: unknown) => isFcmError(e, 'key_taken'));
  assert.equal(svc.list(alice).length, 3);
  assert.equal(svc.list(bob).length, 0);
  assert.equal(svc.list(admin).length, 3);
  assert.throws(() => svc.remove(bob, k.id), (e: unknown) => isFcmError(e, 'not_found'));
  assert.equal(svc.byFingerprint(k.fingerprint)!.id, k.id);
  assert.equal(svc.principalOf(k.id)!.userId, 'u_alice');
  allowed.delete('u_alice');
  assert.equal(svc.byFingerprint(k.fingerprint), null, 'sshd no longer gets the key of a removed user');
  assert.equal(svc.principalOf(k.id), null);
  allowed.add('u_alice');
  svc.remove(alice, k.id);
  assert.equal(svc.byFingerprint(k.fingerprint), null);
});

test('attacker: registering someone else\'s public key needs their private key — own-key signatures, forgeries, replays, other namespaces and stale challenges all fail', async () => {
  const { svc, advance } = keyService();
  const victim = await newKeyPair('ed25519', 'victim@laptop'); // only its public half is the attacker's
  const mine = await newKeyPair('ed25519', 'bob@laptop');
  const add = (challenge: string, signature: string, publicKey = victim.publicKey) => svc.add(bob, { publicKey, challenge, signature });

  // Signed with the attacker's own key.
  let c = svc.challenge(bob, victim.publicKey).challenge;
  await assert.rejects(add(c, await signChallenge(mine.keyPath, c)), proofFailed(/made with the key SHA256:\S+, not with SHA256:/));
  await assert.rejects(add(c, await signChallenge(victim.keyPath, c)), proofFailed(/unknown, was already used/), 'the challenge was used up by the failed attempt');
  // A forged signature: the victim's key inside, the attacker's signature bytes.
  c = svc.challenge(bob, victim.publicKey).challenge;
  const own = Buffer.from((await signChallenge(mine.keyPath, c)).split('\n').filter((l) => !l.startsWith('-----')).join(''), 'base64');
  const victimBlob = Buffer.from(victim.publicKey.split(' ')[1]!, 'base64');
  const mineBlob = Buffer.from(mine.publicKey.split(' ')[1]!, 'base64');
  const forged = Buffer.from(own.toString('latin1').replace(mineBlob.toString('latin1'), victimBlob.toString('latin1')), 'latin1');
  const armor = (b: Buffer) => `-----BEGIN SSH SIGNATURE-----\n${b.toString('base64').replace(/(.{70})/g, '$1\n')}\n-----END SSH SIGNATURE-----\n`;
  await assert.rejects(add(c, armor(forged)), proofFailed(/does not verify/));
  // Garbage and truncated signatures.
  for (const junk of ['-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----', armor(forged.subarray(0, 40)), 'not a signature']) {
    await assert.rejects(add(svc.challenge(bob, victim.publicKey).challenge, junk), proofFailed(), junk.slice(0, 30));
  }
  // A real signature by the victim's key, but over something else, or in another namespace (a git commit signature).
  c = svc.challenge(bob, victim.publicKey).challenge;
  await assert.rejects(add(c, await signChallenge(victim.keyPath, `${c}x`)), proofFailed(/does not verify/));
  c = svc.challenge(bob, victim.publicKey).challenge;
  await assert.rejects(add(c, await signChallenge(victim.keyPath, c, 'git')), proofFailed(/namespace "git"/));
  // A replay of the victim's own proof: their challenge was issued to them, not to the attacker.
  const theirs = svc.challenge(alice, victim.publicKey).challenge;
  const theirProof = await signChallenge(victim.keyPath, theirs);
  await assert.rejects(add(theirs, theirProof), proofFailed(/issued to someone else/));
  // A challenge for another key; an expired one.
  c = svc.challenge(bob, mine.publicKey).challenge;
  await assert.rejects(add(c, await signChallenge(victim.keyPath, c)), proofFailed(/issued for the key/));
  c = svc.challenge(bob, mine.publicKey).challenge;
  advance(5 * 60_000);
  await assert.rejects(add(c, await signChallenge(mine.keyPath, c), mine.publicKey), proofFailed(/expired/));
  assert.deepEqual(svc.list(admin), [], 'nothing was registered');

  // The owner proves it; from then on nobody else can have the key, even holding its private half.
  const k = await proveKey(svc, alice, victim);
  assert.throws(() => svc.challenge(bob, victim.publicKey), (e: unknown) => isFcmError(e, 'key_taken'));
  // (a challenge obtained before the owner registered does not help either)
  const { svc: svc2 } = keyService();
  const early = svc2.challenge(bob, victim.publicKey).challenge;
  await proveKey(svc2, alice, victim);
  await assert.rejects(svc2.add(bob, { publicKey: victim.publicKey, challenge: early, signature: await signChallenge(victim.keyPath, early) }), (e: unknown) => isFcmError(e, 'key_taken'));
  assert.equal(svc.principalOf(k.id)!.userId, 'u_alice');
});

test('keys registered before proofs existed stay valid', () => {
  const { svc, store } = keyService();
  const line = sshPublicKey('ed25519', 'old@laptop');
  const parsed = parsePublicKey(line);
  store.insert({ id: 'key_0123456789ab', owner: 'u_alice', name: 'old', type: parsed.type, fingerprint: parsed.fingerprint, publicKey: `${parsed.type} ${parsed.blob.toString('base64')}`, createdAt: '2029-01-01T00:00:00.000Z' });
  assert.equal(svc.byFingerprint(parsed.fingerprint)!.id, 'key_0123456789ab');
  assert.equal(svc.principalOf('key_0123456789ab')!.userId, 'u_alice');
  assert.equal(svc.list(alice).length, 1);
});

test('the verifier (ssh-keygen -Y verify, as nobody): yes only for this key, this message, this namespace', async () => {
  const a = await newKeyPair('ed25519');
  const b = await newKeyPair('ecdsa');
  const key = (k: { publicKey: string }) => k.publicKey.split(' ').slice(0, 2).join(' ');
  const sig = await signChallenge(a.keyPath, 'the message');
  assert.equal(await verifier.verify({ publicKey: key(a), namespace: 'fcm-key-proof', message: 'the message', signature: sig }), true);
  assert.equal(await verifier.verify({ publicKey: key(a), namespace: 'fcm-key-proof', message: 'the messagE', signature: sig }), false);
  assert.equal(await verifier.verify({ publicKey: key(b), namespace: 'fcm-key-proof', message: 'the message', signature: sig }), false);
  assert.equal(await verifier.verify({ publicKey: key(a), namespace: 'git', message: 'the message', signature: sig }), false);
  assert.equal(await verifier.verify({ publicKey: key(a), namespace: 'fcm-key-proof', message: 'the message', signature: 'garbage' }), false);
  await assert.rejects(verifier.verify({ publicKey: `${key(a)} comment`, namespace: 'fcm-key-proof', message: 'x', signature: sig }), /malformed/);
});

test('the verifier works with a TMPDIR only root may enter (nobody reads the files through descriptors it is handed)', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root: ssh-keygen runs as nobody only when the daemon is root');
  const a = await newKeyPair('ed25519');
  const sig = await signChallenge(a.keyPath, 'the message');
  const privateTmp = mkdtempSync(join(tmpdir(), 'fcm-roottmp-'));
  chmodSync(privateTmp, 0o700);
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = privateTmp;
  try {
    const publicKey = a.publicKey.split(' ').slice(0, 2).join(' ');
    assert.equal(await verifier.verify({ publicKey, namespace: 'fcm-key-proof', message: 'the message', signature: sig }), true);
    assert.equal(await verifier.verify({ publicKey, namespace: 'fcm-key-proof', message: 'other', signature: sig }), false);
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
    rmSync(privateTmp, { recursive: true, force: true });
  }
});

test('KeyService: the key id and its creation time come from the injected id source and clock', async () => {
  const svc = new KeyService({ store: new MemoryKeyStore(), proofs: verifier, principalFor: () => null, now: () => Date.UTC(2030, 0, 2), newId: () => 'key_0123456789ab' });
  const k = await proveKey(svc, { userId: 'u_alice', email: null, admin: false }, await newKeyPair('ed25519', 'x'));
  assert.deepEqual([k.id, k.createdAt], ['key_0123456789ab', '2030-01-02T00:00:00.000Z']);
});
