/**
 * The git helpers from a build: the daemon in dist/ bundles them from the
 * compiled JavaScript beside it (no TypeScript, no tsx at run time) and
 * finds the key lookup script in the source tree it was built from. The
 * helpers themselves are tested from source in test/unit/git-helpers.test.ts
 * and end to end in test/e2e/deploy-git.test.ts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import { ensureBuilt, ROOT } from './cli-run.js';

let dir: string;
before(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'fcm-built-helpers-'));
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('dist/ bundles the helpers from its own compiled JavaScript; they run', async () => {
  const built = (await import(pathToFileURL(join(ROOT, 'dist', 'daemon', 'drivers', 'git', 'helpers.js')).href)) as typeof import('../../daemon/drivers/git/helpers.js');
  const paths = built.helperPaths(join(dir, 'bin'), join(dir, 'hooks'));
  const socketPath = join(dir, 'no-daemon.sock');
  await built.installHelpers(paths, { socketPath, node: process.execPath });
  const serve = readFileSync(paths.forcedCommand, 'utf8');
  // esbuild names each module it bundled: the compiled files, not the sources.
  const modules = [...serve.matchAll(/^\/\/ (\S+\.(?:js|ts))$/gm)].map((m) => m[1]!);
  for (const m of ['dist/daemon/drivers/git/helpers/git-serve.js', 'dist/daemon/core/git-wire.js', 'dist/api/patterns.gen.js']) {
    assert.ok(modules.some((x) => x.endsWith(m)), `${m} not in ${modules.join(', ')}`);
  }
  assert.ok(!modules.some((m) => m.endsWith('.ts')), modules.join(', '));
  assert.match(readFileSync(paths.sshKeysCommand, 'utf8'), new RegExp(`--unix-socket "\\$socket"[^\\n]*http://fcm/ssh/keys`));
  const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(paths.forcedCommand, ['key_0123456789ab'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', SSH_ORIGINAL_COMMAND: "git-upload-pack 'cosmic-nova.git'" } }, (err, _out, stderr) =>
      resolve({ code: err ? Number((err as { code?: unknown }).code) : 0, stderr: String(stderr) }),
    );
  });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^fcm: the fcm daemon is not answering \(connect ENOENT/);
});
