/**
 * A directory `fcm run` unpacks in a guest, as a .tar.gz: Koa and every package it depends on, as
 * resolved in this repository's node_modules (nested copies too, at their relative paths), plus
 * whatever `fill` writes into the staging directory (the guest script, the apps). Used by the
 * code-cache host test and the node-start bench.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { ROOT_DIR } from './host-harness.js';

/** Koa and what it depends on, as resolved from this repository's root. */
export function koaPackages(): string[] {
  const seen = new Set<string>();
  const walk = (name: string, from: string) => {
    for (let d = from; ; d = dirname(d)) {
      const p = join(d, 'node_modules', name);
      if (existsSync(join(p, 'package.json'))) {
        if (seen.has(p)) return;
        seen.add(p);
        const pj = JSON.parse(readFileSync(join(p, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
        for (const dep of Object.keys(pj.dependencies ?? {})) walk(dep, p);
        return;
      }
      if (dirname(d) === d) throw new Error(`${name} is not installed (needed by ${from})`);
    }
  };
  walk('koa', ROOT_DIR);
  return [...seen];
}

export async function koaPayload(fill: (stage: string) => void): Promise<Buffer> {
  const stage = mkdtempSync(join(tmpdir(), 'fcm-koa-payload-'));
  try {
    fill(stage);
    for (const p of koaPackages()) cpSync(p, join(stage, relative(ROOT_DIR, p)), { recursive: true, dereference: true });
    return await new Promise<Buffer>((resolve, reject) => {
      const tar = spawn('tar', ['-czf', '-', '--owner=0', '--group=0', '-C', stage, '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
      const out: Buffer[] = [];
      tar.stdout.on('data', (c: Buffer) => out.push(c));
      tar.on('error', reject);
      tar.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`tar exited ${code}`))));
    });
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}
