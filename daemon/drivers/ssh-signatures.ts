/**
 * KeyProofVerifier over OpenSSH's own `ssh-keygen -Y verify` (OpenSSH ≥ 8.1):
 * the same code that checks git's SSH-signed commits, for every key type
 * sshd accepts, security keys (sk-*) included.
 *
 * The key goes into an allowed_signers file as one principal limited to the
 * namespace; the signature into a file; the message on stdin. argv only, no
 * shell; the files live in a private temporary directory removed afterwards.
 * Run as root, the parsing of what a client sent happens as `nobody`: the files
 * are opened here and handed over as descriptors 3 and 4 (`/dev/fd/N`), so
 * `nobody` needs no way into the directory — nor into TMPDIR, which may be
 * private to root (a daemon with TMPDIR set to such a directory refused every
 * key proof as "signature does not verify").
 */
import { spawn } from 'node:child_process';
import { chownSync, closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KeyProofVerifier } from '../core/keys.js';

export interface SshKeygenVerifierOptions {
  binary?: string;
  timeoutMs?: number;
  /** uid/gid to run ssh-keygen as when the daemon is root (default nobody, 65534). */
  runAs?: { uid: number; gid: number } | null;
}

const PRINCIPAL = 'fcm-key-proof@fcm';

export class SshKeygenVerifier implements KeyProofVerifier {
  private readonly binary: string;
  private readonly timeoutMs: number;
  private readonly runAs: { uid: number; gid: number } | null;

  constructor(o: SshKeygenVerifierOptions = {}) {
    this.binary = o.binary ?? 'ssh-keygen';
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.runAs = o.runAs === undefined ? (process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : null) : o.runAs;
  }

  async verify(p: { publicKey: string; namespace: string; message: string; signature: string }): Promise<boolean> {
    // What reaches the allowed_signers line: `<type> <base64>` only (KeyService rebuilt it from the decoded key).
    if (!/^[a-z0-9@.-]+ [A-Za-z0-9+/]+={0,2}$/.test(p.publicKey) || !/^[a-z0-9.-]+$/.test(p.namespace)) throw new Error('malformed key or namespace');
    const dir = mkdtempSync(join(tmpdir(), 'fcm-keyproof-'));
    try {
      const signers = join(dir, 'allowed_signers');
      const sig = join(dir, 'proof.sig');
      writeFileSync(signers, `${PRINCIPAL} namespaces="${p.namespace}" ${p.publicKey}\n`, { mode: 0o600 });
      writeFileSync(sig, p.signature.endsWith('\n') ? p.signature : `${p.signature}\n`, { mode: 0o600 });
      // Reopening /dev/fd/N checks the file's own mode, not the path to it.
      if (this.runAs) for (const f of [signers, sig]) chownSync(f, this.runAs.uid, this.runAs.gid);
      const fds: number[] = [];
      try {
        fds.push(openSync(signers, 'r'), openSync(sig, 'r'));
        const code = await this.run(['-Y', 'verify', '-f', '/dev/fd/3', '-I', PRINCIPAL, '-n', p.namespace, '-s', '/dev/fd/4'], p.message, fds);
        return code === 0;
      } finally {
        for (const fd of fds) closeSync(fd);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Runs ssh-keygen with `stdin` on its stdin and `files` as its descriptors 3, 4, …; → its exit code. */
  private run(args: string[], stdin: string, files: number[]): Promise<number> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.binary, args, {
        stdio: ['pipe', 'ignore', 'ignore', ...files],
        env: { PATH: '/usr/bin:/bin', LANG: 'C' },
        timeout: this.timeoutMs,
        ...(this.runAs ? { uid: this.runAs.uid, gid: this.runAs.gid } : {}),
      });
      child.on('error', (e) => reject(new Error(`cannot run ${this.binary}: ${e.message}`)));
      child.on('close', (code) => resolve(code ?? -1));
      child.stdin!.on('error', () => {});
      child.stdin!.end(stdin);
    });
  }
}
