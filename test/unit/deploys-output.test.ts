import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgentStreamParser, LogBuffer, describeEnvChange, parseResult } from '../../daemon/core/deploys-output.js';
import { parseCgiHeaders } from '../../daemon/drivers/git/http-backend.js';

test('the agent stream: lines relayed as they complete (even split mid-character); the last line is the result', () => {
  const lines: string[] = [];
  const p = new AgentStreamParser((l) => lines.push(l));
  const bytes = Buffer.from('-----> Détecté\r\n       pip ok\nfcm-result: {"ok":true,"buildpack":"python","processes":{"web":"gunicorn app:app"}}\n');
  const cut = bytes.indexOf(0xc3) + 1; // inside "é"
  p.push(bytes.subarray(0, cut));
  assert.deepEqual(lines, []);
  p.push(bytes.subarray(cut));
  assert.deepEqual(lines, ['-----> Détecté', '       pip ok']);
  assert.deepEqual(p.end(), { ok: true, buildpack: 'python', processes: { web: 'gunicorn app:app' } });
});

test('a result line that is not the last one is ordinary output (a build cannot fake success)', () => {
  const lines: string[] = [];
  const p = new AgentStreamParser((l) => lines.push(l));
  p.push('fcm-result: {"ok":true}\nreal output\nfcm-result: {"ok":false,"code":"build_failed","error":"pip failed"}');
  assert.deepEqual(p.end(), { ok: false, code: 'build_failed', error: 'pip failed' });
  assert.deepEqual(lines, ['fcm-result: {"ok":true}', 'real output']);
  const q = new AgentStreamParser(() => {});
  q.push('no result\n');
  assert.equal(q.end(), null);
});

test('results are sanitized: unknown buildpacks become null, malformed JSON is a failure', () => {
  assert.deepEqual(parseResult('{"ok":true,"buildpack":"cobol","processes":{"web":"x","bad key":"y","n":1}}'), { ok: true, buildpack: null, processes: { web: 'x' } });
  assert.equal(parseResult('not json').ok, false);
  assert.deepEqual(parseResult('{"ok":false}'), { ok: false, code: 'failed', error: 'the release failed (no reason given)' });
});

test('the build log keeps its head and tail within the cap', () => {
  const b = new LogBuffer(100, 200);
  for (let i = 0; i < 100; i++) b.add(`line ${i} ${'x'.repeat(10)}`);
  const s = b.toString();
  assert.ok(s.length < 400);
  assert.ok(s.startsWith('line 0 '));
  assert.match(s, /lines of output not kept/);
  assert.ok(s.trimEnd().endsWith(`line 99 ${'x'.repeat(10)}`));
  assert.deepEqual(b.lastLines(1), [`line 99 ${'x'.repeat(10)}`]);
});

test('env change descriptions name keys, never values', () => {
  assert.equal(describeEnvChange(['A', 'B'], []), 'Set A, B');
  assert.equal(describeEnvChange([], ['C']), 'Unset C');
  assert.equal(describeEnvChange(['A'], ['C']), 'Set A; unset C');
});

test('CGI headers: Status sets the code; other headers pass', () => {
  assert.deepEqual(parseCgiHeaders('Status: 404 Not Found\r\nContent-Type: text/plain\r\nExpires: Fri, 01 Jan 1980 00:00:00 GMT'), {
    status: 404,
    headers: { 'content-type': 'text/plain', expires: 'Fri, 01 Jan 1980 00:00:00 GMT' },
  });
  assert.equal(parseCgiHeaders('Content-Type: application/x-git-upload-pack-advertisement\n').status, 200);
});

// ---- bounds: nothing the guest sends makes the daemon's work or memory grow faster than the input

/** Counts the bytes Buffer#indexOf looks at and Buffer.concat copies while `fn` runs. */
function countWork(fn: () => void): { scanned: number; copied: number } {
  const indexOf = Buffer.prototype.indexOf;
  const concat = Buffer.concat;
  let scanned = 0;
  let copied = 0;
  Buffer.prototype.indexOf = function (this: Buffer, value: unknown, from?: unknown, enc?: unknown) {
    const start = typeof from === 'number' ? from : 0;
    const i = indexOf.call(this, value as number, start, enc as BufferEncoding);
    scanned += (i === -1 ? this.length : i + 1) - start;
    return i;
  } as typeof indexOf;
  Buffer.concat = ((list: readonly Uint8Array[], total?: number) => {
    const b = concat(list, total);
    copied += b.length;
    return b;
  }) as typeof concat;
  try {
    fn();
  } finally {
    Buffer.prototype.indexOf = indexOf;
    Buffer.concat = concat;
  }
  return { scanned, copied };
}

test('50 MiB without a newline: each byte is looked at once, at most one line bound is kept, and one cut line comes out', (t) => {
  const lines: string[] = [];
  const p = new AgentStreamParser((l) => lines.push(l), { maxLineBytes: 64 * 1024, maxTotalBytes: 64 * 1024 * 1024 });
  const chunk = Buffer.alloc(64 * 1024, 'a');
  const total = 50 * 1024 * 1024;
  const t0 = process.hrtime.bigint();
  const work = countWork(() => {
    for (let n = 0; n < total; n += chunk.length) assert.equal(p.push(chunk), true);
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  t.diagnostic(`50 MiB newline-free: ${ms.toFixed(0)} ms, ${work.scanned} bytes scanned, ${work.copied} bytes copied`);
  // Linear, shown by counting rather than timing: the old parser rescanned (and re-sliced) the
  // whole pending line on every chunk — 800 chunks × ~25 MiB each.
  assert.equal(work.scanned, total);
  assert.equal(work.copied, 0, 'nothing is joined before the line ends');
  assert.deepEqual(lines, []);
  assert.equal(p.end(), null);
  assert.equal(lines.length, 1);
  assert.equal(lines[0], `${'a'.repeat(64 * 1024)}… [fcm: ${total - 64 * 1024} more bytes of this line cut]`);
});

test('many short lines: each byte scanned once, each line joined once', () => {
  const p = new AgentStreamParser(() => {}, { maxTotalBytes: 64 * 1024 * 1024, maxLines: 10_000_000 });
  const chunk = Buffer.from('ab\n'.repeat(20_000));
  let total = 0;
  const work = countWork(() => {
    for (let i = 0; i < 100; i++) {
      p.push(chunk);
      total += chunk.length;
    }
  });
  assert.equal(work.scanned, total);
  assert.ok(work.copied <= total);
});

test('a line over the bound is cut at a character boundary and marked; a line split across chunks is joined; \\r\\n endings lose the \\r', () => {
  const lines: string[] = [];
  const p = new AgentStreamParser((l) => lines.push(l), { maxLineBytes: 10 });
  // "é" is 2 bytes: the 10-byte bound falls inside the 5th one.
  p.push(Buffer.from('abcdéééé'));
  p.push(Buffer.from('ééé tail\r\nnext\r'));
  p.push(Buffer.from('\n'));
  assert.equal(p.end(), null);
  assert.deepEqual(lines, ['abcdééé… [fcm: 13 more bytes of this line cut]', 'next']);
  // A bound inside a character: the half character is cut, not shown as U+FFFD.
  const split: string[] = [];
  const q = new AgentStreamParser((l) => split.push(l), { maxLineBytes: 9 });
  q.push(Buffer.from('abcdéééé ééé tail\r\n'));
  assert.deepEqual(split, ['abcdéé… [fcm: 16 more bytes of this line cut]']);
});

test('past the total bound push() refuses and reads nothing more', () => {
  const lines: string[] = [];
  const p = new AgentStreamParser((l) => lines.push(l), { maxTotalBytes: 10 });
  assert.equal(p.push('12345\n'), true);
  assert.equal(p.push('67890\n'), false);
  assert.equal(p.overLimit, 'more than 10 bytes of output');
  assert.equal(p.push('more\n'), false);
  assert.deepEqual(lines, ['12345']);
});

test('only the last line may be the result: a cut result line fails; a result followed by output is output', () => {
  const out: string[] = [];
  const cut = new AgentStreamParser((l) => out.push(l), { maxLineBytes: 40 });
  cut.push(`fcm-result: {"ok":true,"processes":{"web":"${'x'.repeat(100)}"}}`);
  assert.deepEqual(cut.end(), { ok: false, code: 'bad_result', error: 'the guest agent sent a result line longer than 40 bytes' });
  const q: string[] = [];
  const after = new AgentStreamParser((l) => q.push(l));
  after.push('fcm-result: {"ok":true}\n\n');
  assert.equal(after.end(), null, 'an empty line after the result makes it ordinary output');
  assert.deepEqual(q, ['fcm-result: {"ok":true}', '']);
  const bad = new AgentStreamParser(() => {});
  bad.push('fcm-result: {"ok": tru\n');
  assert.deepEqual(bad.end(), { ok: false, code: 'bad_result', error: 'the guest agent sent a malformed result line' });
});

test('the build log stays within its caps and O(1) per line with a million tiny lines', () => {
  const b = new LogBuffer(1024, 4096);
  for (let i = 0; i < 1_000_000; i++) b.add('');
  const s = b.toString();
  assert.ok(s.length <= 1024 + 4096 + 100, `${s.length}`);
  assert.match(s, /\[… \d+ lines of output not kept …\]/);
});

test('past the line bound likewise: a flood of empty lines is refused after maxLines', () => {
  let n = 0;
  const p = new AgentStreamParser(() => n++, { maxLines: 1000 });
  assert.equal(p.push(Buffer.alloc(1000, '\n')), true);
  assert.equal(p.push('\n'), false);
  assert.equal(p.overLimit, 'more than 1000 lines of output');
  assert.equal(n, 1000);
});
