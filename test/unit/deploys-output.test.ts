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
