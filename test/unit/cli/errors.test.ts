import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { commandTable } from '../../../api/cli/commands.gen.js';
import { style } from '../../../api/cli/io.js';
import { UsageError } from '../../../api/cli/parse.js';
import { CliError, exitCodeFor, fieldName, hintFor, renderError } from '../../../api/cli/render-error.js';
import { ApiError, unreachable, type ApiErrorCode } from '../../../api/errors.js';
import { spec } from '../../../api/spec.gen.js';

const plain = style(false);
const stop = commandTable.find((c) => c.command === 'stop')!;
const create = commandTable.find((c) => c.command === 'create')!;
const err = (code: ApiErrorCode, extra: Partial<ConstructorParameters<typeof ApiError>[0]> = {}) =>
  new ApiError({ code, status: 400, title: 'T', ...extra });

test('exit codes: usage 2, API failure 1, CLI failure 1, interrupted 130', () => {
  assert.equal(exitCodeFor(new UsageError('x')), 2);
  assert.equal(exitCodeFor(err('vm_not_found')), 1);
  assert.equal(exitCodeFor(new CliError('x')), 1);
  assert.equal(exitCodeFor(Object.assign(new Error('x'), { name: 'AbortError' })), 130);
  assert.equal(exitCodeFor(new Error('boom')), 1);
});

test('every code the CLI has a hint for is a code the API can send (no dead hints after a rename)', () => {
  const codes = new Set<string>([...(spec.components.schemas.ErrorCode.enum as string[]), 'unreachable', 'bad_response']);
  const src = readFileSync(new URL('../../../api/cli/render-error.ts', import.meta.url), 'utf8');
  const hinted = [...src.slice(src.indexOf('export function hintFor')).matchAll(/case '([a-z_]+)':/g)].map((m) => m[1]!);
  assert.ok(hinted.length > 10);
  for (const code of hinted) assert.ok(codes.has(code), `hint for unknown code ${code}`);
});

test('the hints the README promises', () => {
  const refused = unreachable('http://localhost:7777', Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:7777'), { code: 'ECONNREFUSED' }) }));
  assert.equal(hintFor(refused, { command: 'ls' }), 'is the daemon running? sudo fcm daemon');
  assert.match(hintFor(err('unauthorized'), { command: 'ls', tokenSource: 'FCM_TOKEN' })!, /run fcm login/);
  assert.match(hintFor(err('unauthorized'), { command: 'ls', tokenSource: null })!, /no token found .* run fcm login/);
  assert.equal(hintFor(err('vm_not_found'), { command: 'stop' }), 'fcm ls shows your VMs');
  assert.match(hintFor(err('name_taken'), { command: 'create' })!, /pick another name/);
  assert.equal(hintFor(err('validation_failed'), { command: 'create' }), 'fcm create --help shows the flags and their limits');
  assert.equal(hintFor(err('vm_failed'), { command: 'start', vm: { name: 'x' } }), 'fcm show x shows lastError; fcm destroy x removes the VM');
  assert.equal(hintFor(err('vm_failed'), { command: 'start', vm: { name: 'x', dotfile: './.fcm' } }), 'fcm show shows lastError; fcm destroy removes the VM');
  const dns = unreachable('http://nohost:1', Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('getaddrinfo ENOTFOUND nohost'), { code: 'ENOTFOUND' }) }));
  assert.match(hintFor(dns, { command: 'ls' })!, /check the host name/);
});

test('field errors are named as the flag or argument the user typed', () => {
  assert.equal(fieldName('/body/timeoutMs', stop), '--timeout-ms');
  assert.equal(fieldName('/body/memoryMib', create), '--memory-mib');
  assert.equal(fieldName('/body/name', create), '<name>');
  assert.equal(fieldName('/params/name', stop), '<name>');
  assert.equal(fieldName('/body/domains/0', create), '--domains/0');
  assert.equal(fieldName('/body/unknownThing', create), '/body/unknownThing');
  assert.equal(fieldName('/body/x', undefined), '/body/x');
});

test('rendering: title, indented detail or field list, request id for server errors, hint', () => {
  assert.equal(
    renderError(err('validation_failed', { title: 'Invalid request', detail: 'joined', errors: [{ path: '/body/memoryMib', message: 'must be >= 128' }, { path: '/body/vcpus', message: 'must be <= 8' }] }), { command: 'create', spec: create }, plain),
    'Error: Invalid request [validation_failed]\n  --memory-mib: must be >= 128\n  --vcpus: must be <= 8\nHint: fcm create --help shows the flags and their limits\n',
  );
  assert.equal(
    renderError(err('internal', { status: 500, title: 'Internal error', detail: 'Something went wrong', requestId: 'req_1' }), { command: 'ls' }, plain),
    "Error: Internal error [internal]\n  Something went wrong\n  request id: req_1\nHint: the daemon's log has the details (search for the request id)\n",
  );
  assert.equal(renderError(new UsageError('unknown flag --x', { suggestion: '--y' }), { command: 'stop' }, plain), 'Error: unknown flag --x\nDid you mean --y?\nHint: fcm stop --help shows how to use it\n');
  assert.equal(renderError(new CliError('Nope', { detail: 'why', hint: 'do this' }), { command: null }, plain), 'Error: Nope\n  why\nHint: do this\n');
  assert.match(renderError(err('vm_not_found'), { command: 'ls' }, style(true)), /^\x1b\[31m\x1b\[1mError:/);
});
