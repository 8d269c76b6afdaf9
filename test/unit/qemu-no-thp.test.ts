/**
 * The launch without transparent huge pages (planProcessFlags), run for real:
 * the perl prefix must leave the flag set in the program it execs (QEMU's
 * place), pass argv through untouched, and fail loudly rather than start it
 * with huge pages when prctl or exec fails.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { planProcessFlags, PRCTL_SYSCALL } from '../../daemon/drivers/qemu/qemu-confine.js';

const nr = PRCTL_SYSCALL[process.arch];

test('the exec\'d program runs with THP disabled, its argv intact', { skip: nr === undefined ? `no prctl number for ${process.arch}` : false }, () => {
  const l = planProcessFlags({ cmd: '/bin/sh', args: ['-c', 'grep THP_enabled /proc/self/status; printf "%s|" "$@"', 'sh', 'a b', '$HOME', ';x'] }, nr!, { noHugePages: true, memoryMerge: false });
  const r = spawnSync(l.cmd, l.args, { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^THP_enabled:\s+0$/m, 'the flag survives exec into the child');
  assert.match(r.stdout, /a b\|\$HOME\|;x\|$/, 'arguments pass as argv, not through a shell');
  // Without the prefix the same program has THP (the control: the check above can fail).
  const plain = spawnSync('/bin/grep', ['THP_enabled', '/proc/self/status'], { encoding: 'utf8' });
  assert.match(plain.stdout, /^THP_enabled:\s+1$/m);
});

test('a failed prctl or exec stops the launch with a clear message', { skip: nr === undefined ? `no prctl number for ${process.arch}` : false }, () => {
  const bad = planProcessFlags({ cmd: '/nonexistent/qemu', args: [] }, nr!, { noHugePages: true, memoryMerge: false });
  const r = spawnSync(bad.cmd, bad.args, { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /fcm-vmm-launch: exec \/nonexistent\/qemu: No such file/);
  // A wrong syscall number (getpid's 39 on x86_64 returns a pid, not 0): refused, not ignored.
  const wrong = planProcessFlags({ cmd: '/bin/true', args: [] }, 39, { noHugePages: true, memoryMerge: false });
  const w = spawnSync(wrong.cmd, wrong.args, { encoding: 'utf8' });
  if (process.arch === 'x64') {
    assert.notEqual(w.status, 0);
    assert.match(w.stderr, /prctl\(PR_SET_THP_DISABLE\)/);
  }
});

test('FCM_KSM: the exec\'d program has all its memory mergeable (PR_SET_MEMORY_MERGE), with THP still off; a refusal stops the launch', { skip: nr === undefined ? `no prctl number for ${process.arch}` : false }, () => {
  const l = planProcessFlags({ cmd: '/bin/sh', args: ['-c', 'grep -h "^THP_enabled\\|^ksm_merge_any" /proc/self/status /proc/self/ksm_stat'] }, nr!, { noHugePages: true, memoryMerge: true });
  const r = spawnSync(l.cmd, l.args, { encoding: 'utf8' });
  if (process.getuid?.() === 0) {
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^THP_enabled:\s+0$/m);
    assert.match(r.stdout, /^ksm_merge_any: yes$/m, 'the flag survives exec into the child');
  } else {
    // PR_SET_MEMORY_MERGE needs CAP_SYS_RESOURCE: without it the launch must stop, not start QEMU unmerged.
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /prctl\(PR_SET_MEMORY_MERGE\): Operation not permitted/);
  }
  // The control: without the flag, the same program is not mergeable.
  const plain = planProcessFlags({ cmd: '/bin/grep', args: ['ksm_merge_any', '/proc/self/ksm_stat'] }, nr!, { noHugePages: true, memoryMerge: false });
  assert.match(spawnSync(plain.cmd, plain.args, { encoding: 'utf8' }).stdout, /^ksm_merge_any: no$/m);
});
