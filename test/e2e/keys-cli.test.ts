/**
 * `fcm keys add` proves possession of the key, with the built binary, the
 * real `ssh-keygen` and a real `ssh-agent`, against the real HTTP layer:
 * signing with the private key next to the .pub, with a key that only
 * ssh-agent holds (passphrase-protected on disk), refusing clearly when
 * neither is there; and played as an attacker holding only someone else's
 * public key, or a copy of an already registered key.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { newKeyPair } from '../helpers/key-proof.js';
import { memoryApi } from '../helpers/memory-api.js';
import { eventually } from '../helpers/wait.js';
import { ensureBuilt, fcm, tempDir } from './cli-run.js';

let api: Awaited<ReturnType<typeof memoryApi>>;
let url: string;
let agent: ChildProcess | null = null;
let agentSock = '';

const exec = (cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile(cmd, args, { env }, (e, stdout, stderr) => resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, stdout, stderr })),
  );

before(async () => {
  ensureBuilt();
  api = await memoryApi();
  url = await api.app.listen({ port: 0, host: '127.0.0.1' });
  agentSock = join(tempDir('fcm-agent-'), 'agent.sock');
  agent = spawn('ssh-agent', ['-D', '-a', agentSock], { stdio: 'ignore' });
  // Its socket file appears at bind(), before listen(): ask the agent itself (ssh-add -l: 1 = no
  // keys, 2 = cannot connect) rather than take the file for a listening agent.
  await eventually('ssh-agent answers ssh-add -l (exit 1: no keys)', () => exec('ssh-add', ['-l'], { ...process.env, SSH_AUTH_SOCK: agentSock }), (r) => r.code === 1, 5_000, 50);
});

after(async () => {
  agent?.kill('SIGTERM');
  await api?.app.close();
  await api?.h.service.close();
});

const as = (email: string, extra: Record<string, string> = {}) => ({ FCM_HOST: url, FCM_TOKEN: api.loginAs(email).token, ...extra });

test('with the private key next to the .pub: fcm keys add signs the challenge itself; --json gives the key', async () => {
  const key = await newKeyPair('ed25519', 'alice@laptop');
  const r = await fcm(['keys', 'add', `${key.keyPath}.pub`, '--name', 'laptop', '--json'], { cwd: tempDir(), env: as('alice@example.com') });
  assert.equal(r.code, 0, r.stderr);
  const k = JSON.parse(r.stdout) as { name: string; fingerprint: string; type: string };
  assert.equal(k.name, 'laptop');
  assert.equal(k.type, 'ssh-ed25519');
  assert.match(k.fingerprint, /^SHA256:/);
});

test('with the key only in ssh-agent (the file on disk is passphrase-protected, or gone): signed by the agent, no prompt', async () => {
  const dir = tempDir('fcm-agentkey-');
  const keyPath = join(dir, 'id_ed25519');
  assert.equal((await exec('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'a passphrase nobody types', '-C', 'agent@laptop', '-f', keyPath])).code, 0);
  // ssh-add takes the passphrase from an askpass program (SSH_ASKPASS_REQUIRE=force: no terminal needed).
  const askpass = join(dir, 'askpass.sh');
  writeFileSync(askpass, '#!/bin/sh\necho "a passphrase nobody types"\n');
  chmodSync(askpass, 0o700);
  const added = await exec('ssh-add', [keyPath], { ...process.env, SSH_AUTH_SOCK: agentSock, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force' });
  assert.equal(added.code, 0, added.stderr);
  const r = await fcm(['keys', 'add', `${keyPath}.pub`], { cwd: dir, env: as('alice@example.com', { SSH_AUTH_SOCK: agentSock }) });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Added key SHA256:\S+\n$/);
  // Only the .pub left on disk: still the agent.
  const second = await newKeyPair('ecdsa', 'agent2@laptop');
  assert.equal((await exec('ssh-add', [second.keyPath], { ...process.env, SSH_AUTH_SOCK: agentSock })).code, 0);
  const pubOnly = join(tempDir('fcm-pubonly-'), 'agent2.pub');
  copyFileSync(`${second.keyPath}.pub`, pubOnly);
  const r2 = await fcm(['keys', 'add', pubOnly], { cwd: dir, env: as('alice@example.com', { SSH_AUTH_SOCK: agentSock }) });
  assert.equal(r2.code, 0, r2.stderr);
});

test('without the private key (no agent, no file): a clear refusal saying what to do; nothing registered', async () => {
  const key = await newKeyPair('ed25519');
  renameSync(key.keyPath, `${key.keyPath}.moved`);
  const before = (await api.app.inject({ url: '/v1/keys', headers: api.auth })).json().keys.length;
  const r = await fcm(['keys', 'add', `${key.keyPath}.pub`], { cwd: tempDir(), env: as('alice@example.com') });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^Error: Cannot prove you hold the key SHA256:\S+: no ssh-agent \(SSH_AUTH_SOCK\) and no private key file next to /m);
  assert.match(r.stderr, /Hint: load it into ssh-agent \(ssh-add <private key>\), or name it: fcm keys add <file\.pub> --private-key <file>/);
  assert.equal((await api.app.inject({ url: '/v1/keys', headers: api.auth })).json().keys.length, before);
  // The private key itself given by mistake: told to give the .pub.
  const wrong = await fcm(['keys', 'add', `${key.keyPath}.moved`], { cwd: tempDir(), env: as('alice@example.com') });
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /is a private key: give the public key/);
});

test('attacker: only the victim\'s public key → no proof possible; signing with another key → key_proof_failed; a copy of a registered key → key_taken', async () => {
  const victim = await newKeyPair('ed25519', 'victim@laptop');
  const stolen = join(tempDir('fcm-stolen-'), 'victim.pub');
  copyFileSync(`${victim.keyPath}.pub`, stolen); // public keys are public (GitHub serves them)
  const mallory = await newKeyPair('ed25519', 'mallory@evil');
  const bob = as('bob@example.com');
  const none = await fcm(['keys', 'add', stolen], { cwd: tempDir(), env: bob });
  assert.equal(none.code, 1);
  assert.match(none.stderr, /Cannot prove you hold the key/);
  const own = await fcm(['keys', 'add', stolen, '--private-key', mallory.keyPath], { cwd: tempDir(), env: bob });
  assert.equal(own.code, 1);
  assert.match(own.stderr, /^Error: Possession of the SSH key not proven/m);
  assert.match(own.stderr, /signature was made with the key SHA256:\S+, not with SHA256:/);
  // The owner registers it; then even someone holding a copy of the private key cannot claim it.
  const mine = await fcm(['keys', 'add', `${victim.keyPath}.pub`], { cwd: tempDir(), env: as('alice@example.com') });
  assert.equal(mine.code, 0, mine.stderr);
  const copy = await fcm(['keys', 'add', `${victim.keyPath}.pub`], { cwd: tempDir(), env: bob });
  assert.equal(copy.code, 1);
  assert.match(copy.stderr, /^Error: SSH key already registered/m);
  assert.match(copy.stderr, /a key can belong to one account only/);
  const bobs = (await api.app.inject({ url: '/v1/keys', headers: { authorization: `Bearer ${bob.FCM_TOKEN}` } })).json().keys;
  assert.deepEqual(bobs, [], 'bob has no key');
});

test('fcm keys add --help explains the proof, ssh-agent and the way without fcm', async () => {
  const r = await fcm(['keys', 'add', '--help'], { cwd: tempDir(), env: {} });
  assert.equal(r.code, 0, r.stderr);
  for (const re of [/ssh-keygen -Y sign -n fcm-key-proof/, /ssh-agent/, /never leaves this machine/, /--private-key/, /POST \/v1\/keys\/challenges/]) assert.match(r.stdout, re);
});
