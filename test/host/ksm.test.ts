/**
 * FCM_KSM for real: the daemon turns ksmd on at the rate configured, and a
 * VM restored from the template runs in a QEMU whose private memory is
 * KSM-mergeable (PR_SET_MEMORY_MERGE through the launcher, guest RAM with
 * mem-merge=on), still without transparent huge pages, with the malloc
 * tuning in its environment — and ksmd really merges pages of the clones.
 * ksmd is host-wide: the test puts back the settings it found.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KSM_SYSFS } from '../../daemon/drivers/ksm-host.js';
import { hostSkipReason, startHostHarness, type HostHarness } from '../helpers/host-harness.js';
import { keepKsmSettings, KSM_KNOBS, ksmKnob } from '../helpers/ksm.js';
import { eventually } from '../helpers/wait.js';

const skip = hostSkipReason() ?? (existsSync(KSM_SYSFS) ? null : `no ${KSM_SYSFS} (kernel without CONFIG_KSM)`);

describe('KSM for the VMs of a host (FCM_KSM)', { skip: skip ?? false }, () => {
  let h: HostHarness;
  let restoreKsm = () => {};
  before(async () => {
    restoreKsm = keepKsmSettings();
    h = await startHostHarness({
      env: { FCM_SNAPSHOTS: 'true', FCM_SNAPSHOT_POOL: '1', FCM_KSM: 'true', FCM_KSM_PAGES_TO_SCAN: '4321', FCM_KSM_SLEEP_MS: '20', FCM_QEMU_MALLOC_ARENA_MAX: '2' },
    });
    await eventually('warm pool ready', async () => readFileSync(h.logPath, 'utf8').includes('warm pool: machine ready'), (x) => x, 300_000);
  });
  after(async () => {
    await h?.close();
    restoreKsm();
  });

  test('ksmd runs at the configured rate', () => {
    assert.deepEqual(KSM_KNOBS.map(ksmKnob), ['4321', '20', '1']);
    assert.match(readFileSync(h.logPath, 'utf8'), /"msg":"ksm: ksmd on, QEMU memory mergeable \(FCM_KSM\)"/);
  });

  test("a restored VM's QEMU: all its private memory mergeable, no huge pages, malloc tuned", async () => {
    const pids: number[] = [];
    for (const name of ['ksm-a', 'ksm-b']) {
      const c = await h.api('POST', '/v1/vms', { name });
      assert.equal(c.status, 201, JSON.stringify(c.body));
      assert.equal((await h.api('GET', `/v1/vms/${name}/wait?state=running&timeout=120`)).status, 200);
      pids.push(Number(readFileSync(join(h.stateDir, 'run', c.body.id, 'qemu.pid'), 'utf8')));
    }
    assert.match(readFileSync(h.logPath, 'utf8'), /"vm":"ksm-a"[^\n]*"boot":"(pool|restore)"/, 'ksm-a was restored from the template');
    for (const pid of pids) {
      assert.match(readFileSync(`/proc/${pid}/ksm_stat`, 'utf8'), /^ksm_merge_any: yes$/m, `QEMU ${pid}: PR_SET_MEMORY_MERGE`);
      assert.match(readFileSync(`/proc/${pid}/status`, 'utf8'), /^THP_enabled:\s+0$/m, `QEMU ${pid}: still without transparent huge pages`);
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      assert.match(argv[argv.indexOf('-M') + 1]!, /,mem-merge=on/);
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
      assert.ok(env.includes('MALLOC_ARENA_MAX=2'), env.join(' '));
      // The translation cache (the one rwx mapping) and the guest RAM mapping carry VM_MERGEABLE (`mg`).
      const blocks = readFileSync(`/proc/${pid}/smaps`, 'utf8').split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/);
      const flags = (b: string) => /^VmFlags:(.*)$/m.exec(b)![1]!.trim().split(/\s+/);
      const tcg = blocks.filter((b) => b.split('\n')[0]!.split(/\s+/)[1] === 'rwxp');
      assert.equal(tcg.length, 1, 'one translation cache');
      assert.ok(flags(tcg[0]!).includes('mg'), `TCG cache mergeable: ${flags(tcg[0]!).join(' ')}`);
      const ram = blocks.find((b) => /\/memfd:fcm-template-ram/.test(b.split('\n')[0]!));
      assert.ok(ram && flags(ram).includes('mg'), 'guest RAM mergeable');
    }
    // The control: a process not started through the VMM launcher (this one) has no such flag.
    assert.match(readFileSync('/proc/self/ksm_stat', 'utf8'), /^ksm_merge_any: no$/m);
    // And ksmd merges the clones' identical pages (a pass over two idle clones takes seconds at this rate).
    await eventually('ksmd merged pages of the clones', async () => pids.map((p) => Number(/^ksm_merging_pages\s+(\d+)/m.exec(readFileSync(`/proc/${p}/ksm_stat`, 'utf8'))![1])), (n) => n.every((x) => x > 0), 120_000, 1000);
  });
});
