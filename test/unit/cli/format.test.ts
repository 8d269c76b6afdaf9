import assert from 'node:assert/strict';
import { test } from 'node:test';
import { age, fill, keyValues, rowsOf, table } from '../../../api/cli/format.js';
import { colorEnabled, style } from '../../../api/cli/io.js';
import { progress } from '../../../api/cli/progress.js';
import { Capture } from './io-helpers.js';
import { eventually } from '../../helpers/wait.js';

const plain = style(false);
const NOW = Date.parse('2026-01-01T12:00:00Z');

test('age: seconds, minutes, hours up to two days, then days', () => {
  const ago = (s: number) => age(new Date(NOW - s * 1000).toISOString(), NOW);
  assert.deepEqual([ago(0), ago(59), ago(60), ago(3599), ago(3600), ago(47 * 3600), ago(48 * 3600), ago(10 * 86400)], ['0s', '59s', '1m', '59m', '1h', '47h', '2d', '10d']);
  assert.equal(age('not a date', NOW), 'not a date');
});

test('table: titles from the column spec, aligned, "-" for empty, no trailing spaces', () => {
  const cols = [
    { field: 'name', title: 'NAME', format: 'text' as const },
    { field: 'ip', title: 'IP', format: 'text' as const },
    { field: 'createdAt', title: 'AGE', format: 'age' as const },
  ];
  const out = table(
    [
      { name: 'cosmic-nova', ip: '172.16.0.2', createdAt: new Date(NOW - 300_000).toISOString() },
      { name: 'a', ip: null, createdAt: new Date(NOW - 7200_000).toISOString() },
    ],
    cols,
    plain,
    NOW,
  );
  assert.equal(out, 'NAME          IP           AGE\ncosmic-nova   172.16.0.2   5m\na             -            2h\n');
});

test('table: colour codes do not break the alignment', () => {
  const cols = [
    { field: 'state', title: 'STATE', format: 'text' as const },
    { field: 'name', title: 'NAME', format: 'text' as const },
  ];
  const lines = table([{ state: 'running', name: 'x' }, { state: 'failed', name: 'y' }], cols, style(true), NOW).split('\n');
  // eslint-disable-next-line no-control-regex
  const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');
  assert.equal(strip(lines[1]!).indexOf('x'), strip(lines[0]!).indexOf('NAME'));
  assert.equal(strip(lines[2]!).indexOf('y'), strip(lines[0]!).indexOf('NAME'));
  assert.match(lines[2]!, /\x1b\[31mfailed\x1b\[39m/);
});

test('rowsOf: a list response is its one array property', () => {
  assert.deepEqual(rowsOf({ vms: [{ a: 1 }] }), [{ a: 1 }]);
  assert.deepEqual(rowsOf({ a: 1 }), [{ a: 1 }]);
  assert.deepEqual(rowsOf(undefined), []);
});

test('keyValues: aligned, nested objects flattened, lists joined', () => {
  assert.equal(keyValues({ status: 'ok', vms: { total: 2, running: 1 }, domains: ['a.com', 'b.com'], lastError: null }, plain),
    'status:       ok\nvms.total:    2\nvms.running:  1\ndomains:      a.com,b.com\nlastError:    -\n');
});

test('fill: response fields first, then args; unknown placeholders stay', () => {
  assert.equal(fill('VM created: {name}\nURL: {url} {nope}', { name: 'a', url: 'https://a' }, { name: 'ignored' }), 'VM created: a\nURL: https://a {nope}');
  assert.equal(fill('Destroyed {name}.', undefined, { name: 'b' }), 'Destroyed b.');
});

test('colorEnabled: NO_COLOR beats FORCE_COLOR beats the TTY check; TERM=dumb is plain', () => {
  const tty = { write: () => true, isTTY: true };
  const pipe = { write: () => true, isTTY: false };
  assert.equal(colorEnabled(tty, {}), true);
  assert.equal(colorEnabled(pipe, {}), false);
  assert.equal(colorEnabled(tty, { NO_COLOR: '1' }), false);
  assert.equal(colorEnabled(tty, { NO_COLOR: '' }), true, 'NO_COLOR counts only when non-empty');
  assert.equal(colorEnabled(tty, { NO_COLOR: '1', FORCE_COLOR: '1' }), false);
  assert.equal(colorEnabled(pipe, { FORCE_COLOR: '1' }), true);
  assert.equal(colorEnabled(tty, { TERM: 'dumb' }), false);
  assert.equal(colorEnabled(tty, {}, true), false, '--no-color');
});

test('progress without a TTY: lines, no control characters; quiet prints nothing', () => {
  const out = new Capture(false);
  const p = progress(out);
  p.start('Waiting for x to be running');
  p.stop('x is running (1.0s)');
  assert.equal(out.text, 'Waiting for x to be running…\nx is running (1.0s)\n');
  const q = new Capture(false);
  const pq = progress(q, { quiet: true });
  pq.start('a');
  pq.stop('b');
  assert.equal(q.text, '');
});

test('progress on a TTY: frames with elapsed time, redrawn in place, erased, cursor restored', async () => {
  const out = new Capture(true);
  let t = 0;
  const p = progress(out, { intervalMs: 5, now: () => t });
  p.start('Booting');
  t = 1500;
  // The next frame comes from a 5 ms interval timer: wait for it rather than sleeping a fixed time.
  await eventually('a frame at 1.5s', async () => out.text, (x) => x.includes('Booting… 1.5s'), 5000, 5);
  p.stop('ignored on a TTY');
  assert.ok(out.text.startsWith('\x1b[?25l\r\x1b[2K⠋ Booting… 0.0s'));
  assert.match(out.text, /\r\x1b\[2K⠙ Booting… 1\.5s/);
  assert.ok(out.text.endsWith('\r\x1b[2K\x1b[?25h'));
  assert.ok(!out.text.includes('ignored'));
});
