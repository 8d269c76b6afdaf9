/**
 * The built `fcm` binary against a real daemon with real VMs (QEMU guests in
 * a private network namespace, test/helpers/host-harness.ts): the README
 * session end to end. Skips loudly where host tests cannot run.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { hostLeftovers, hostSkipReason, startHostHarness } from '../helpers/host-harness.js';
import { ensureBuilt, fcm, fcmPty, killPtys, tempDir } from './cli-run.js';

test('fcm create, ls, stop, start, destroy against a real daemon with a real VM', { timeout: 600_000 }, async (t) => {
  const reason = hostSkipReason();
  if (reason) {
    t.skip(reason);
    return;
  }
  ensureBuilt();
  const h = await startHostHarness();
  try {
    const dir = tempDir();
    const run = (...args: string[]) => fcm(args, { cwd: dir, env: h.env, timeoutMs: 300_000 });

    // create under a real terminal: the spinner runs while the guest boots.
    const started = Date.now();
    const term = fcmPty(['create'], { cwd: dir, env: h.env });
    const { exitCode } = await term.exited;
    const bootMs = Date.now() - started;
    const screen = term.output();
    assert.equal(exitCode, 0, screen);
    const m = /VM created: ([a-z]+-[a-z]+)\r\nURL: (https:\/\/\S+)\r\n$/.exec(screen);
    assert.ok(m, screen);
    const name = m[1]!;
    assert.ok(m[2]!.startsWith(`https://${name}.`), m[2]);
    const frames = screen.match(/Waiting for [a-z-]+ to be running… \d+\.\ds/g) ?? [];
    assert.ok(frames.length >= 5, `the spinner ran while booting (${frames.length} frames in ${bootMs} ms)`);
    t.diagnostic(`create (hypervisor up + guest boot) took ${bootMs} ms`);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, '.fcm'), 'utf8')), { vm: name, host: h.url });

    const ls = await run('ls');
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^NAME\s+STATE\s+IP\s+URL\s+AGE\n/);
    assert.match(ls.stdout, new RegExp(`^${name}\\s+running\\s+\\d+\\.\\d+\\.\\d+\\.\\d+\\s+https://${name}\\.\\S+\\s+\\d+[sm]$`, 'm'));

    const stop = await run('stop');
    assert.deepEqual([stop.code, stop.stdout], [0, `Stopped ${name}.\n`], stop.stderr);
    assert.match((await run('ls')).stdout, new RegExp(`^${name}\\s+stopped`, 'm'));

    const t0 = Date.now();
    const start = await run('start');
    assert.equal(start.code, 0, start.stderr);
    assert.match(start.stdout, new RegExp(`^Started ${name}: https://${name}\\.\\S+\\n$`));
    assert.match(start.stderr, new RegExp(`^Waiting for ${name} to be running…\\n${name} is running \\(\\d+\\.\\ds\\)\\n$`), 'progress lines, no spinner, without a TTY');
    t.diagnostic(`start took ${Date.now() - t0} ms`);
    assert.equal(JSON.parse((await run('show', '--json')).stdout).state, 'running');

    assert.equal((await run('destroy')).code, 2, 'no TTY, no --yes');
    const destroy = await run('destroy', '-y');
    assert.deepEqual([destroy.code, destroy.stdout], [0, `Destroyed ${name}.\n`], destroy.stderr);
    assert.equal(existsSync(join(dir, '.fcm')), false);
    assert.deepEqual(JSON.parse((await run('ls', '--json')).stdout), { vms: [] });
    assert.deepEqual(await hostLeftovers(h), { taps: [], qemus: [], disks: [], runDirs: [] }, 'destroy left nothing behind');
  } finally {
    killPtys();
    await h.close();
  }
});
