import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isFcmError } from '../../daemon/core/errors.js';
import { authorizedKeyLine, KeyService, parsePublicKey } from '../../daemon/core/keys.js';
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
    let viaKeygen: string | null = null;
    try {
      const f = join(mkdtempSync(join(tmpdir(), 'fcm-key-')), 'k.pub');
      writeFileSync(f, `${line}\n`);
      viaKeygen = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', f], { encoding: 'utf8' }).split(' ')[1]!;
    } catch {
      /* no ssh-keygen here: the format check above stands */
    }
    if (viaKeygen) assert.equal(k.fingerprint, viaKeygen, kind);
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

test('KeyService: add/list/remove with ownership; a key belongs to one account; removed users lose their keys', () => {
  const alice: Principal = { userId: 'u_alice', email: 'alice@example.com', admin: false };
  const bob: Principal = { userId: 'u_bob', email: 'bob@example.com', admin: false };
  const admin: Principal = { userId: 'admin', email: null, admin: true };
  const allowed = new Set(['u_alice', 'u_bob', 'admin']);
  const svc = new KeyService({ store: new MemoryKeyStore(), principalFor: (id) => (allowed.has(id) ? { userId: id, email: null, admin: id === 'admin' } : null) });
  const line = sshPublicKey('ed25519', 'alice@laptop');
  const k = svc.add(alice, { publicKey: line });
  assert.equal(k.name, 'alice@laptop');
  assert.match(k.id, /^key_[0-9a-f]{12}$/);
  assert.deepEqual(Object.keys(k).sort(), ['createdAt', 'fingerprint', 'id', 'name', 'type']);
  assert.equal(svc.add(alice, { publicKey: sshPublicKey('ed25519'), name: 'ci' }).name, 'ci');
  assert.throws(() => svc.add(bob, { publicKey: line }), (e: unknown) => isFcmError(e, 'key_taken'));
  assert.equal(svc.list(alice).length, 2);
  assert.equal(svc.list(bob).length, 0);
  assert.equal(svc.list(admin).length, 2);
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

test('KeyService: the key id and its creation time come from the injected id source and clock', () => {
  const svc = new KeyService({ store: new MemoryKeyStore(), principalFor: () => null, now: () => Date.UTC(2030, 0, 2), newId: () => 'key_0123456789ab' });
  const k = svc.add({ userId: 'u_alice', email: null, admin: false }, { publicKey: sshPublicKey('ed25519', 'x') });
  assert.deepEqual([k.id, k.createdAt], ['key_0123456789ab', '2030-01-02T00:00:00.000Z']);
});
