/**
 * The daemon's internal git server (http/routes/git.ts) over the in-memory
 * deploy stack: alice with a running app and a registered SSH key, bob
 * with an app of his own. Repositories are real (empty) directories, so a
 * push's repository check (realpath) is the real one.
 */
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { GitHost } from '../../daemon/core/ports/git-host.js';
import { wireDeploys } from '../../daemon/deploy-wiring.js';
import { MemoryAppRuntime, MemoryEnvStore, MemoryKeyStore, MemoryReleaseStore } from '../../daemon/drivers/memory/memory-deploys.js';
import { internalGitServer } from '../../daemon/http/routes/git.js';
import { ALICE, BOB, DEFAULTS, memoryService } from './memory-service.js';
import { newKeyPair, proveKey } from './key-proof.js';

export const FORCED = ['/usr/bin/setpriv', '--reuid=998', '--regid=998', '--clear-groups', '--no-new-privs', '/var/lib/fcm/git/bin/fcm-git-serve.cjs'];

export async function internalGitRig() {
  const h = memoryService();
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'fcm-git-rig-')));
  const git: GitHost = {
    ensure: async (id) => {
      const p = join(dir, `${id}.git`);
      mkdirSync(p, { recursive: true });
      return p;
    },
    remove: async (id) => rmSync(join(dir, `${id}.git`), { recursive: true, force: true }),
    copy: async () => {
      throw new Error('not used by the git rig');
    },
    list: async () => [],
    size: async () => 0,
  };
  const runtime = new MemoryAppRuntime();
  const w = wireDeploys({
    vms: h.service,
    store: h.store,
    releases: new MemoryReleaseStore(),
    env: new MemoryEnvStore(),
    keys: new MemoryKeyStore(),
    runtime,
    git,
    userPrincipal: (id) => ({ [ALICE.userId]: ALICE, [BOB.userId]: BOB })[id] ?? null,
    urlFor: (n) => `https://${n}.64-34-93-45.sslip.io`,
    log: pino({ level: 'silent' }),
  });
  const vm = await h.service.create(ALICE, { ...DEFAULTS, name: 'cosmic-nova' });
  await h.service.wait(ALICE, 'cosmic-nova', 'running', 2000);
  await h.service.create(BOB, { ...DEFAULTS, name: 'bobs-app' });
  const pair = await newKeyPair();
  const publicKey = pair.publicKey;
  const key = await proveKey(w.keys, ALICE, pair);
  const app = internalGitServer({ keys: w.keys, gate: w.gate, forcedCommand: FORCED, log: pino({ level: 'silent' }) });
  return {
    h,
    w,
    app,
    vm,
    key,
    publicKey,
    dir,
    runtime,
    close: async () => {
      await app.close();
      await h.service.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
