/**
 * test/allowed-skips.txt as test/run.ts reads it: a skip is allowed only by
 * name *and* reason, so the Firecracker boot test may skip here for its
 * missing binary but not because the rootfs or root is missing.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { judgeSkip, parseAllowedSkips, skippedFromTap } from '../helpers/skips.js';

const rules = parseAllowedSkips(readFileSync(join(fileURLToPath(import.meta.url), '..', '..', 'allowed-skips.txt'), 'utf8'));
const FC = 'Firecracker boots a real guest';
const FC_HOST = 'Firecracker real-boot test SKIPPED — missing: a usable Firecracker host: firecracker binary "firecracker" not found on PATH (set FCM_FIRECRACKER_BINARY)';

test('the Firecracker boot test may skip for its missing binary (as on this machine), for nothing else', () => {
  const here = `${FC_HOST}; /dev/kvm is provided by kvm_pvm (nested PVM), which cannot run stock guest kernels such as Firecracker's vmlinux; the Firecracker kernel at /var/cache/fcm/images/firecracker/vmlinux (an uncompressed vmlinux with VIRTIO_MMIO_CMDLINE_DEVICES)`;
  assert.equal(judgeSkip({ name: FC, reason: here }, rules).allowed, true);
  assert.equal(judgeSkip({ name: FC, reason: FC_HOST }, rules).allowed, true);
  for (const other of [
    `${FC_HOST}; the rootfs at /var/cache/fcm/images/current/rootfs.ext4 (build it: sudo rootfs/build.sh)`,
    `Firecracker real-boot test SKIPPED — missing: root (to create the network namespace and tap); ${FC_HOST.split('missing: ')[1]}`,
    `${FC_HOST}; /dev/net/tun`,
    'Firecracker real-boot test SKIPPED — missing: a usable Firecracker host: /dev/kvm is provided by kvm_pvm (nested PVM)',
    '',
  ]) {
    const v = judgeSkip({ name: FC, reason: other }, rules);
    assert.equal(v.allowed, false, other);
    assert.match(v.allowed ? '' : v.why, /only for a reason matching/);
  }
});

test('the soak may skip only because FCM_SOAK is unset; unlisted tests may not skip at all', () => {
  const soak = rules.find((r) => r.name.startsWith('soak:'))!;
  assert.equal(judgeSkip({ name: soak.name, reason: 'long soak: set FCM_SOAK=1 (FCM_SOAK_MINUTES, default 15)' }, rules).allowed, true);
  assert.equal(judgeSkip({ name: soak.name, reason: 'host tests need root (taps, bridges, network namespaces)' }, rules).allowed, false);
  const v = judgeSkip({ name: 'HTTPS routes through a real Caddy', reason: 'host tests need root (taps, bridges, network namespaces)' }, rules);
  assert.deepEqual(v, { allowed: false, why: 'not listed in test/allowed-skips.txt' });
});

test('every rule names a reason; a bare name or a bad pattern is refused with the line', () => {
  assert.ok(rules.length >= 2 && rules.every((r) => r.reason.source !== '(?:)'));
  assert.throws(() => parseAllowedSkips('# c\nSome test\n'), /line 2: "<test name> \| <reason regexp>" expected/);
  assert.throws(() => parseAllowedSkips('Some test |  \n'), /line 1/);
  assert.throws(() => parseAllowedSkips('Some test | ([\n'), /line 1: bad reason pattern/);
});

test('skips and todos are read from node:test TAP, suites and nested tests alike', () => {
  const tap = [
    'ok 1 - plain',
    '# Subtest: suite',
    'ok 2 - suite # SKIP host tests need root',
    '    ok 1 - nested # SKIP why not',
    'ok 3 - half done # TODO',
    'not ok 4 - failing todo # TODO later',
    'ok 5 - a # SKIP in the name? no: this is the directive',
  ].join('\n');
  assert.deepEqual(skippedFromTap(tap), [
    { name: 'suite', reason: 'host tests need root' },
    { name: 'nested', reason: 'why not' },
    { name: 'half done', reason: '(TODO without a reason)' },
    { name: 'failing todo', reason: 'later' },
    { name: 'a', reason: 'in the name? no: this is the directive' },
  ]);
});
