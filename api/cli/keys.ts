/**
 * `fcm keys add <file.pub>`: more than one API call, because the daemon
 * wants proof that you hold the private key (else anyone could register
 * your public key and take your pushes). fcm asks for a one-time challenge,
 * signs it with OpenSSH's own `ssh-keygen -Y sign -n fcm-key-proof` — with
 * ssh-agent when it holds the key, else with the private key file next to
 * the .pub (ssh-keygen asks for its passphrase on the terminal) — and sends
 * the signature with the key. The private key never leaves this machine.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import type { Command } from './command.js';
import type { Ctx } from './context.js';
import { UsageError, type Parsed } from './parse.js';
import { CliError, EXIT } from './render-error.js';

const DESCRIPTION = `Registers an SSH public key for git push over SSH. Give the public key file (.pub).

The server checks that you hold the private key: fcm gets a one-time challenge
from it and signs it with ssh-keygen -Y sign -n fcm-key-proof, using
  - ssh-agent, when it holds the key (SSH_AUTH_SOCK), or else
  - the private key file: the .pub path without .pub, or --private-key
    (ssh-keygen asks for its passphrase, if it has one).
Only the signature is sent; the private key never leaves this machine.
A key can belong to one account only (key_taken).

Without fcm: POST /v1/keys/challenges {"publicKey": …}, sign the "challenge"
text with ssh-keygen -Y sign -n fcm-key-proof -f <key>, then POST /v1/keys
{"publicKey", "challenge", "signature"}.`;

export function keysCommands(): Command[] {
  return [
    {
      name: 'keys add',
      group: 'keys',
      summary: 'Add an SSH public key (give the .pub file); proves you hold the private key',
      description: DESCRIPTION,
      args: [{ name: 'publicKey', description: 'The public key file, e.g. ~/.ssh/id_ed25519.pub', optional: false, file: true }],
      flags: [
        { long: 'name', type: 'string', valueName: 'name', description: 'A name for the key (default: its comment)' },
        { long: 'private-key', type: 'string', valueName: 'file', description: 'The private key to sign with (default: the .pub path without .pub, or ssh-agent)' },
      ],
      examples: ['fcm keys add ~/.ssh/id_ed25519.pub', 'fcm keys add ~/.ssh/id_ed25519.pub --name laptop', 'fcm keys add work.pub --private-key ~/.ssh/work_key'],
      run: keysAdd,
    },
  ];
}

async function keysAdd(ctx: Ctx, parsed: Parsed): Promise<number> {
  ctx.errCtx.command = 'keys add';
  const given = parsed.positionals[0];
  if (!given) throw new UsageError('missing <publicKey>: the public key file, e.g. fcm keys add ~/.ssh/id_ed25519.pub');
  const pubPath = expand(ctx, given);
  let publicKey: string;
  try {
    publicKey = readFileSync(pubPath, 'utf8').trim();
  } catch (e) {
    throw new UsageError(`<publicKey> is read from a file, and ${given} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (/PRIVATE KEY-----/.test(publicKey)) {
    throw new UsageError(`${given} is a private key: give the public key (${given}.pub); fcm signs with the private key without sending it`);
  }
  const name = typeof parsed.flags.name === 'string' ? parsed.flags.name : undefined;
  const privateFlag = typeof parsed.flags['private-key'] === 'string' ? expand(ctx, parsed.flags['private-key']) : null;
  const client = ctx.client();
  const signal = ctx.io.signal ? { signal: ctx.io.signal } : {};
  const c = (await client.call('post', '/v1/keys/challenges', { body: { publicKey } }, signal)) as { challenge: string; namespace: string; fingerprint: string };
  const signature = await sign(ctx, c, pubPath, privateFlag);
  const key = await client.call('post', '/v1/keys', { body: { publicKey, challenge: c.challenge, signature, ...(name !== undefined ? { name } : {}) } }, signal);
  if (ctx.json) ctx.print(`${JSON.stringify(key, null, 2)}\n`);
  else ctx.print(`Added key ${(key as { fingerprint: string }).fingerprint}\n`);
  return EXIT.ok;
}

function expand(ctx: Ctx, p: string): string {
  return resolvePath(ctx.io.cwd, p.startsWith('~/') ? join(ctx.io.home, p.slice(2)) : p);
}

/** ssh-agent first (when it holds this key), then the private key file. */
async function sign(ctx: Ctx, c: { challenge: string; namespace: string; fingerprint: string }, pubPath: string, privateKey: string | null): Promise<string> {
  const env = ctx.io.env;
  const attempts: { file: string; how: string }[] = [];
  if (!privateKey && env.SSH_AUTH_SOCK) attempts.push({ file: pubPath, how: 'ssh-agent' });
  const file = privateKey ?? (pubPath.endsWith('.pub') ? pubPath.slice(0, -4) : null);
  if (file && (privateKey || existsSync(file))) attempts.push({ file, how: file });
  if (!attempts.length) {
    throw new CliError(`Cannot prove you hold the key ${c.fingerprint}: no ssh-agent (SSH_AUTH_SOCK) and no private key file next to ${pubPath}`, {
      hint: 'load it into ssh-agent (ssh-add <private key>), or name it: fcm keys add <file.pub> --private-key <file>',
    });
  }
  const failures: string[] = [];
  for (const a of attempts) {
    const r = await sshKeygenSign(a.file, c.namespace, c.challenge, env);
    if (r.ok) return r.signature;
    failures.push(`${a.how}: ${r.error}`);
  }
  throw new CliError(`Could not sign the server's challenge with the key ${c.fingerprint}`, {
    detail: failures.join('\n'),
    hint: 'fcm signs with ssh-keygen -Y sign (OpenSSH 8.1 or later); the private key must be the one of this .pub (ssh-add -L lists the agent\'s keys)',
  });
}

function sshKeygenSign(file: string, namespace: string, message: string, env: Record<string, string | undefined>): Promise<{ ok: true; signature: string } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    // stdin: the message; stdout: the signature; a passphrase prompt goes to the terminal (/dev/tty).
    const child = spawn('ssh-keygen', ['-Y', 'sign', '-n', namespace, '-f', file], { stdio: ['pipe', 'pipe', 'pipe'], env: env as NodeJS.ProcessEnv });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', (e) => resolve({ ok: false, error: (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'ssh-keygen is not installed (OpenSSH client)' : e.message }));
    child.on('close', (code) => {
      if (code === 0 && out.includes('-----BEGIN SSH SIGNATURE-----')) resolve({ ok: true, signature: out });
      else resolve({ ok: false, error: err.replace(/Signing data on standard input\s*/g, '').trim() || `ssh-keygen exited ${code}` });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(message);
  });
}
