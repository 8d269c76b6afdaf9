/**
 * A host test or bench stopped from outside (Ctrl-C, `timeout`, a runner killed by pid) never
 * reaches its harness's close(). The harness tears down on the way out instead: the daemon
 * (nsenter'd, detached: not killed with its parent), everything in the namespace, the namespace
 * and the work dir. A leaked daemon keeps its guests running and skews every later measurement.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, test } from 'node:test';
import { run } from '../../daemon/drivers/proc.js';
import { hostSkipReason, ROOT_DIR } from '../helpers/host-harness.js';

const skip = hostSkipReason();

/** Running (a zombie waiting for its reaper counts as gone: it was killed and holds nothing). */
function alive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('host harness: stopped from outside, it leaves nothing behind', { skip: skip ?? false }, () => {
  for (const [sig, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
    test(`${sig}: daemon, namespace and work dir are gone; exit ${code}`, { timeout: 120_000 }, async () => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT_DIR, 'test', 'helpers', 'harness-child.ts')], { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'inherit'] });
      const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
      const first = await Promise.race([
        new Promise<string>((r) => createInterface({ input: child.stdout! }).once('line', r)),
        exited.then((c) => {
          throw new Error(`the child exited (${c}) before its harness was up`);
        }),
      ]);
      const up = JSON.parse(first) as { ns: string; daemonPid: number; stateDir: string };
      assert.ok(alive(up.daemonPid), 'the daemon runs');
      assert.match((await run('ip', ['netns', 'list'])).stdout, new RegExp(`\\b${up.ns}\\b`));

      child.kill(sig);
      assert.equal(await exited, code);
      assert.equal(alive(up.daemonPid), false, 'the daemon is gone');
      assert.doesNotMatch((await run('ip', ['netns', 'list'])).stdout, new RegExp(`\\b${up.ns}\\b`), 'the namespace is gone');
      assert.equal(existsSync(dirname(up.stateDir)), false, 'the work dir is gone');
    });
  }
});
