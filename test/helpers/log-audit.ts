/**
 * "No secret in any log": with FCM_LOG_AUDIT_DIR set (test/run.ts sets it
 * for every run), each host harness copies its daemon and Caddy logs there
 * when it closes, with the secrets that daemon held (admin tokens, the
 * agent key, secret-looking settings) in a 0600 secrets.json. auditLogs()
 * then looks for
 * - any admin token the harness saw, and any `fcm_` token at all;
 * - the agent token of every VM id mentioned in the log (HMAC of agent.key,
 *   the same derivation as daemon/core/agent-keys.ts);
 * - the agent key itself and every secret-looking setting's value.
 * test/run.ts runs it after the whole suite; test/reliability/secrets.test.ts
 * also runs it on its own logs and on a planted leak.
 */
import { createHmac } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

export interface AuditSecrets {
  adminTokens: string[];
  /** base64url, as in <state dir>/agent.key */
  agentKey: string | null;
  /** Other secret values (client secrets, passwords) given to the daemon. */
  other: string[];
}

export interface AuditFinding {
  file: string;
  kind: string;
  /** The line, with the secret itself masked. */
  excerpt: string;
}

/** Copies a harness's logs and secrets into `<dir>/<name>/` (dir 0700, files 0600). */
export function captureForAudit(dir: string, name: string, logs: string[], secrets: AuditSecrets): void {
  const out = join(dir, name);
  mkdirSync(out, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  for (const log of logs) {
    if (!existsSync(log)) continue;
    const to = join(out, basename(log));
    copyFileSync(log, to);
    chmodSync(to, 0o600);
  }
  writeFileSync(join(out, 'secrets.json'), JSON.stringify(secrets), { mode: 0o600 });
}

/** Secret-looking settings (FCM_OIDC_CLIENT_SECRET, ..._PASSWORD, ..._TOKEN) in an env map. */
export function secretSettings(env: Record<string, string | undefined>): string[] {
  return Object.entries(env)
    .filter(([k, v]) => /SECRET|PASSWORD|TOKEN/i.test(k) && !/_FILE$/.test(k) && typeof v === 'string' && v.length >= 8)
    .map(([, v]) => v!);
}

const agentToken = (key: Buffer, vmId: string) => createHmac('sha256', key).update(`fcm-agent:${vmId}`).digest('base64url');

export function auditLogs(dir: string): { files: number; bytes: number; findings: AuditFinding[] } {
  const findings: AuditFinding[] = [];
  let files = 0;
  let bytes = 0;
  if (!existsSync(dir)) return { files, bytes, findings };
  for (const sub of readdirSync(dir)) {
    const d = join(dir, sub);
    if (!statSync(d).isDirectory()) continue;
    const secretsPath = join(d, 'secrets.json');
    const secrets: AuditSecrets = existsSync(secretsPath) ? JSON.parse(readFileSync(secretsPath, 'utf8')) : { adminTokens: [], agentKey: null, other: [] };
    const key = secrets.agentKey ? Buffer.from(secrets.agentKey, 'base64url') : null;
    for (const f of readdirSync(d)) {
      if (f === 'secrets.json') continue;
      const path = join(d, f);
      const text = readFileSync(path, 'utf8');
      files++;
      bytes += text.length;
      const needles: [string, string][] = [
        ...secrets.adminTokens.map((t) => ['admin token', t] as [string, string]),
        ...secrets.other.map((t) => ['secret setting', t] as [string, string]),
        ...(secrets.agentKey ? [['agent key', secrets.agentKey] as [string, string]] : []),
      ];
      if (key) for (const id of new Set(text.match(/vm_[0-9a-f]{12}/g) ?? [])) needles.push([`agent token of ${id}`, agentToken(key, id)]);
      const lines = text.split('\n');
      for (const [kind, needle] of needles) {
        if (!needle || !text.includes(needle)) continue;
        const line = lines.find((l) => l.includes(needle)) ?? '';
        findings.push({ file: `${sub}/${f}`, kind, excerpt: line.split(needle).join('<SECRET>').slice(0, 300) });
      }
      for (const m of text.matchAll(/fcm_[A-Za-z0-9_-]{40,}/g)) {
        if (needles.some(([, n]) => n === m[0])) continue; // already reported
        const line = lines.find((l) => l.includes(m[0])) ?? '';
        findings.push({ file: `${sub}/${f}`, kind: 'fcm token', excerpt: line.split(m[0]).join('<SECRET>').slice(0, 300) });
      }
    }
  }
  return { files, bytes, findings };
}
