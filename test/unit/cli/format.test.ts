import assert from 'node:assert/strict';
import { test } from 'node:test';
import { age, fill, fitWidths, keyValues, localTime, relativeTime, rowsOf, showRelease, showVm, table, truncate } from '../../../api/cli/format.js';
import { colorEnabled, style, terminalColumns, visibleLength } from '../../../api/cli/io.js';
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

test('display width: wide (CJK) and emoji characters take two columns, colour codes none', () => {
  assert.equal(visibleLength('abc'), 3);
  assert.equal(visibleLength('日本語'), 6);
  assert.equal(visibleLength('🚀x'), 3);
  assert.equal(visibleLength('\x1b[32mrunning\x1b[39m'), 7);
  assert.equal(visibleLength('e\u0301'), 1, 'a combining accent takes no column');
});

test('truncate: cut to a display width with "…", never splitting a wide character', () => {
  assert.equal(truncate('cosmic-nova', 20), 'cosmic-nova');
  assert.equal(truncate('cosmic-nova', 6), 'cosmi…');
  assert.equal(truncate('日本語のアプリ', 6), '日本…');
  assert.equal(truncate('日本語のアプリ', 5), '日本…', 'a wide character that would cross the edge is left out');
  assert.equal(visibleLength(truncate('🚀🚀🚀🚀', 5)), 5);
  assert.equal(truncate('\x1b[32mrunning\x1b[39m', 4), 'run…');
  assert.equal(truncate('abc', 0), '');
});

test('fitWidths: the widest column gives way first, none below its minimum', () => {
  const w = [10, 40, 5];
  fitWidths(w, [4, 4, 4], 40);
  assert.deepEqual(w, [10, 19, 5], '10 + 19 + 5 + two gaps of 3 = 40');
  const even = [30, 30];
  fitWidths(even, [4, 4], 33);
  assert.deepEqual(even, [15, 15]);
  const floor = [10, 10];
  fitWidths(floor, [8, 8], 5);
  assert.deepEqual(floor, [8, 8], 'at the minimums it stops (the terminal wraps)');
});

test('table with a terminal width: every line fits, by display width, wide names included', () => {
  const cols = [
    { field: 'name', title: 'NAME', format: 'text' as const },
    { field: 'state', title: 'STATE', format: 'text' as const },
    { field: 'url', title: 'URL', format: 'text' as const },
  ];
  const rows = [
    { name: 'cosmic-nova', state: 'running', url: 'https://cosmic-nova.64-34-93-45.sslip.io' },
    { name: '日本語のアプリ🚀', state: 'stopped', url: 'https://xn--jp-app.64-34-93-45.sslip.io' },
  ];
  for (const width of [80, 60, 45, 30]) {
    const out = table(rows, cols, style(true), NOW, width);
    for (const line of out.trimEnd().split('\n')) assert.ok(visibleLength(line) <= width, `${width}: ${JSON.stringify(line)} is ${visibleLength(line)} wide`);
    const lines = out.split('\n');
    // Columns stay aligned: STATE starts at the same display column in every line.
    const at = (line: string) => visibleLength(line.slice(0, line.indexOf(line.includes('STATE') ? 'STATE' : /running|stopped/.exec(line)![0])));
    assert.equal(at(lines[1]!), at(lines[0]!), `${width}`);
    assert.equal(at(lines[2]!), at(lines[0]!), `${width}`);
  }
  assert.equal(table(rows, cols, plain, NOW, 200), table(rows, cols, plain, NOW), 'a wide terminal changes nothing');
  assert.match(table(rows, cols, plain, NOW, 45), /…/);
});

test('terminalColumns: a TTY\'s width, else $COLUMNS, else no limit (pipes)', () => {
  assert.equal(terminalColumns({ write: () => true, isTTY: true, columns: 91 }, {}), 91);
  assert.equal(terminalColumns({ write: () => true, isTTY: false, columns: 91 }, {}), undefined);
  assert.equal(terminalColumns({ write: () => true }, { COLUMNS: '72' }), 72);
  assert.equal(terminalColumns({ write: () => true }, { COLUMNS: 'wide' }), undefined);
});

test('relativeTime: the largest whole unit, past and future', () => {
  const at = (s: number) => relativeTime(new Date(NOW + s * 1000).toISOString(), NOW);
  assert.deepEqual(
    [at(0), at(-4), at(-5), at(-60), at(-180), at(-3600), at(-7200), at(-86400), at(-3 * 86400), at(-14 * 86400), at(-60 * 86400), at(-400 * 86400), at(300), at(86400)],
    ['just now', 'just now', '5 seconds ago', '1 minute ago', '3 minutes ago', '1 hour ago', '2 hours ago', '1 day ago', '3 days ago', '2 weeks ago', '2 months ago', '1 year ago', 'in 5 minutes', 'in 1 day'],
  );
  assert.equal(relativeTime('soon', NOW), 'soon');
});

test('localTime: the local zone ($TZ) with its offset', () => {
  assert.equal(localTime('2026-01-01T12:00:00Z', { TZ: 'UTC' }), '2026-01-01 12:00:00 +00:00');
  assert.equal(localTime('2026-01-01T12:00:00Z', { TZ: 'Asia/Tokyo' }), '2026-01-01 21:00:00 +09:00');
  assert.equal(localTime('2026-07-01T12:00:00Z', { TZ: 'America/New_York' }), '2026-07-01 08:00:00 -04:00');
  assert.equal(localTime('2026-01-01T23:30:00Z', { TZ: ':Asia/Kolkata' }), '2026-01-02 05:00:00 +05:30');
  assert.match(localTime('2026-01-01T12:00:00Z', { TZ: 'Not/AZone' }), /^2026-01-0[12] \d\d:\d\d:00 [+-]\d\d:\d\d$/, 'an unknown zone: the process\'s own');
});

test('showVm: states, sizes in words, local times with ages, pending domains, the last error', () => {
  const vm = {
    id: 'vm_3f9c2a7e1b4d', name: 'cosmic-nova', state: 'running', vcpus: 2, memoryMib: 2048, diskMib: 2048, swapMib: 0, port: 8000, image: 'base',
    ip: '172.16.0.2', mac: '02:00:00:00:00:02', url: 'https://cosmic-nova.64-34-93-45.sslip.io', domains: ['www.example.com', 'example.com'],
    pendingDomains: ['example.com'], gitUrl: 'root@h:cosmic-nova.git', gitHttpUrl: 'https://h/git/cosmic-nova.git', hypervisor: 'qemu', sleepAfter: '15m',
    lastError: 'saved state could not be restored', createdAt: new Date(NOW - 180_000).toISOString(), updatedAt: new Date(NOW - 2 * 86400_000).toISOString(),
  };
  const out = showVm(vm, plain, NOW, { TZ: 'UTC' });
  assert.equal(out, [
    'cosmic-nova  vm_3f9c2a7e1b4d',
    'State:        running',
    'URL:          https://cosmic-nova.64-34-93-45.sslip.io',
    'IP:           172.16.0.2',
    'Size:         2 vCPUs, 2 GiB memory, 2 GiB disk, no swap',
    'Domains:      www.example.com, example.com (pending)',
    'Git:          root@h:cosmic-nova.git',
    'Git (HTTPS):  https://h/git/cosmic-nova.git',
    'Sleep after:  15m idle',
    'Image:        base (port 8000, qemu)',
    'Created:      2026-01-01 11:57:00 +00:00 (3 minutes ago)',
    'Updated:      2025-12-30 12:00:00 +00:00 (2 days ago)',
    'Last error:   saved state could not be restored',
    '',
  ].join('\n'));
  assert.match(showVm({ ...vm, vcpus: 1, memoryMib: 1000, swapMib: 512, sleepAfter: 'off', lastError: null }, plain, NOW, {}), /Size: +1 vCPU, 1000 MiB memory, 2 GiB disk, 512 MiB swap\n[\s\S]*Sleep after: +never\n(?![\s\S]*Last error)/);
});

test('showRelease: details, then the build log as pushed', () => {
  const r = {
    version: 3, status: 'failed', kind: 'deploy', commit: 'abc1234', description: 'Deploy abc1234', buildpack: 'python', processes: { web: 'gunicorn app:app' },
    rollbackOf: null, log: '-----> Detected Python\n-----> pip install failed', createdAt: new Date(NOW - 90_000).toISOString(), finishedAt: null,
  };
  const out = showRelease(r, plain, NOW, { TZ: 'UTC' });
  assert.equal(out, [
    'v3',
    'Status:       failed',
    'Kind:         deploy',
    'Description:  Deploy abc1234',
    'Commit:       abc1234',
    'Buildpack:    python',
    'Processes:    web: gunicorn app:app',
    'Created:      2026-01-01 11:58:30 +00:00 (1 minute ago)',
    'Finished:     -',
    '',
    'Build log',
    '-----> Detected Python',
    '-----> pip install failed',
    '',
  ].join('\n'));
  assert.match(showRelease({ ...r, kind: 'rollback', rollbackOf: 2, log: '' }, plain, NOW, {}), /Kind: +rollback \(of v2\)\n[\s\S]*\(no build log\)\n$/);
});
