/**
 * Console logs stay capped on the host: QEMU's (trimmed in place by the
 * daemon while QEMU appends: ConsoleLogCap) and the Firecracker holder's
 * (rotated by the holder itself: CappedLog); and every reader reads the tail
 * only. On real files: ext4 (collapse-range) where the test's temp dir is,
 * tmpfs (/dev/shm: punch-hole) where the host has one.
 */
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConsoleLogCap, readTail } from '../../daemon/drivers/console-log-cap.js';
import { CappedLog } from '../../daemon/drivers/firecracker/capped-log.js';
import { createLogger } from '../../daemon/log.js';

const log = createLogger('silent');
const KiB = 1024;
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tempDir = (base = tmpdir()) => {
  const d = mkdtempSync(join(base, 'fcm-console-cap-'));
  dirs.push(d);
  return d;
};

/** Lines "000000\n", "000001\n"…: a file of them is a contiguous run iff nothing was lost or reordered. */
const line = (i: number) => `${String(i).padStart(6, '0')}\n`;
function assertContiguousSuffix(text: string, last: number): number {
  const lines = text.split('\n').filter(Boolean);
  // The first line may be cut in the middle by a block-aligned trim.
  const whole = lines.slice(1).map(Number);
  for (let k = 1; k < whole.length; k++) assert.equal(whole[k], whole[k - 1]! + 1, `line ${whole[k - 1]} is followed by ${whole[k]}`);
  assert.equal(whole.at(-1), last);
  return whole[0]!;
}

const fsType = (dir: string) => (existsSync(dir) ? readFileSync('/proc/mounts', 'utf8') : '').split('\n').map((l) => l.split(' ')).filter((f) => f[1] && dir.startsWith(f[1])).sort((a, b) => b[1]!.length - a[1]!.length)[0]?.[2];

describe('QEMU console logs: trimmed in place under an O_APPEND writer', () => {
  for (const [where, base] of [
    ['the temp dir', tmpdir()],
    ['tmpfs', '/dev/shm'],
  ] as const) {
    test(`a log past the cap keeps its newest half, losing and reordering nothing (${where})`, async (t) => {
      if (!existsSync(base)) return t.skip(`${base} does not exist here`);
      const dir = tempDir(base);
      const vm = join(dir, 'vm_1');
      mkdirSync(vm);
      const path = join(vm, 'console.log');
      const cap = new ConsoleLogCap({ runDir: dir, capBytes: 256 * KiB, log });
      // The writer appends one line per write(2), like QEMU's one byte per write, through O_APPEND.
      const fd = openSync(path, 'a', 0o600);
      let i = 0;
      let peak = 0;
      const method: string[] = [];
      for (let round = 0; round < 20; round++) {
        for (let k = 0; k < 10_000; k++) writeSync(fd, line(i++));
        const used = statSync(path).blocks * 512;
        peak = Math.max(peak, used);
        const m = await cap.trim(path);
        if (m) method.push(m);
      }
      closeSync(fd);
      const used = statSync(path).blocks * 512;
      t.diagnostic(`${fsType(dir)}: ${i * 7} bytes written, ${used} bytes held, trims: ${JSON.stringify(cap.trims)}`);
      assert.ok(method.length >= 8, `trimmed ${method.length} times`);
      assert.ok(used <= 256 * KiB + 70 * KiB, `held ${used} bytes`);
      const tail = await readTail(path, 128 * KiB);
      assertContiguousSuffix(tail.toString('latin1'), i - 1);
      if (fsType(dir) === 'ext4' || fsType(dir) === 'xfs') {
        assert.deepEqual(new Set(method), new Set(['collapse']));
        // Collapse leaves a file that starts where the kept output starts: everything in it is contiguous.
        const first = assertContiguousSuffix(readFileSync(path, 'latin1'), i - 1);
        assert.ok(first > 0);
      }
      if (fsType(dir) === 'tmpfs') assert.deepEqual(new Set(method), new Set(['punch']));
    });
  }

  test('concurrent appends from another process while the daemon trims: nothing lost, nothing reordered', async (t) => {
    const dir = tempDir();
    mkdirSync(join(dir, 'vm_2'));
    const path = join(dir, 'vm_2', 'console.log');
    const writer = join(dir, 'writer.cjs');
    writeFileSync(
      writer,
      `const fs = require('fs'); const fd = fs.openSync(process.argv[2], 'a');
       for (let i = 0; i < 300000; i++) fs.writeSync(fd, String(i).padStart(6, '0') + '\\n');
       fs.closeSync(fd);`,
    );
    const cap = new ConsoleLogCap({ runDir: dir, capBytes: 128 * KiB, pollMs: 5, log });
    const child = fork(writer, [path], { stdio: 'ignore' });
    cap.start();
    await new Promise<void>((r) => child.on('exit', () => r()));
    await cap.close();
    await cap.trim(path);
    const trims = cap.trims.collapse + cap.trims.punch + cap.trims.truncate;
    t.diagnostic(`${300000 * 7} bytes appended by another process; ${trims} trims meanwhile (${JSON.stringify(cap.trims)})`);
    assert.ok(trims >= 3, `${trims} trims`);
    assertContiguousSuffix((await readTail(path, 64 * KiB)).toString('latin1'), 299999);
  });

  test('readTail reads only the end, and an absent file is empty', async () => {
    const dir = tempDir();
    const p = join(dir, 'x.log');
    assert.equal((await readTail(p, 10)).length, 0);
    writeFileSync(p, 'hello world');
    assert.equal((await readTail(p, 5)).toString(), 'world');
    assert.equal((await readTail(p, 100)).toString(), 'hello world');
  });
});

describe('Firecracker console holder log: rotated by its only writer', () => {
  test('writing 20× the cap leaves ≤ the cap, ending with the newest bytes; reopening keeps the bound', () => {
    const dir = tempDir();
    const path = join(dir, 'console.log');
    const max = 64 * KiB;
    let l = new CappedLog(path, max);
    let i = 0;
    let peak = 0;
    while (i * 7 < 20 * max) {
      l.write(Buffer.from(line(i++)));
      peak = Math.max(peak, statSync(path).size);
    }
    l.close();
    assert.ok(peak <= max + 7, `peaked at ${peak} bytes`);
    assertContiguousSuffix(readFileSync(path, 'latin1'), i - 1);
    assert.equal(existsSync(`${path}.tmp`), false);
    // A holder restarted on an oversized log (an older holder's) trims it at once.
    writeFileSync(path, 'x'.repeat(3 * max));
    l = new CappedLog(path, max);
    l.close();
    assert.ok(statSync(path).size <= max);
  });
});
