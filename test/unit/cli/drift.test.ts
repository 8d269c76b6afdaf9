/**
 * A new operation in the spec becomes a CLI command with no hand-written code:
 * a fixture spec gains POST /v1/vms/{name}/snapshot with x-cli, and the CLI
 * built from it lists, documents, completes and calls it.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { parse } from 'yaml';
import { buildCommandTable } from '../../../api/gen/cli-table.js';
import { run, tempDir } from './io-helpers.js';

function fixtureSpec() {
  const spec = parse(readFileSync(new URL('../../../openapi.yaml', import.meta.url), 'utf8'));
  spec.components.schemas.Snapshot = {
    type: 'object',
    required: ['id', 'vm', 'label', 'sizeMib'],
    properties: { id: { type: 'string' }, vm: { type: 'string' }, label: { type: 'string' }, sizeMib: { type: 'integer' } },
  };
  spec.paths['/v1/vms/{name}/snapshot'] = {
    parameters: [{ $ref: '#/components/parameters/VmName' }],
    post: {
      operationId: 'snapshotVm',
      tags: ['vms'],
      summary: 'Snapshot a VM disk',
      'x-cli': {
        command: 'snapshot',
        args: ['name'],
        summary: "Snapshot a VM's disk",
        message: 'Snapshot {id} of {vm} ({sizeMib} MiB)',
        examples: ['fcm snapshot', 'fcm snapshot cosmic-nova --label before-upgrade --keep-days 7'],
      },
      requestBody: {
        required: false,
        content: {
          'application/json': {
            schema: {
              type: 'object',
              properties: {
                label: { type: 'string', description: 'A name for the snapshot' },
                keepDays: { type: 'integer', minimum: 1, maximum: 90, description: 'Delete it after this many days' },
                live: { type: 'boolean', default: false, description: 'Snapshot without pausing the VM' },
              },
            },
          },
        },
      },
      responses: {
        '201': { description: 'Taken', content: { 'application/json': { schema: { $ref: '#/components/schemas/Snapshot' } } } },
        default: { $ref: '#/components/responses/Problem' },
      },
    },
  };
  return spec;
}

const table = buildCommandTable(fixtureSpec());

test('buildCommandTable yields a snapshot command with args and typed kebab-case flags', () => {
  const s = table.find((c) => c.command === 'snapshot');
  assert.ok(s, 'snapshot command generated');
  assert.equal(s.operationId, 'snapshotVm');
  assert.equal(s.method, 'post');
  assert.equal(s.path, '/v1/vms/{name}/snapshot');
  assert.equal(s.group, 'vms');
  assert.equal(s.responseSchema, 'Snapshot');
  assert.deepEqual(s.args.map((a) => [a.name, a.in, a.vmRef]), [['name', 'path', true]]);
  assert.deepEqual(
    s.flags.map((f) => [f.flag, f.name, f.type]),
    [['label', 'label', 'string'], ['keep-days', 'keepDays', 'integer'], ['live', 'live', 'boolean']],
  );
});

test('the CLI built from that table lists it in help, documents it, and completes it', async () => {
  const top = await run(['--help'], { table });
  assert.match(top.stdout, /^  snapshot \[name\]\s+Snapshot a VM's disk$/m);
  const help = await run(['snapshot', '--help'], { table });
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--keep-days <int>\s+Delete it after this many days \(1–90\)/);
  assert.match(help.stdout, /--\[no-\]live/);
  assert.match(help.stdout, /fcm snapshot cosmic-nova --label before-upgrade --keep-days 7/);
  assert.match((await run(['completion', 'bash'], { table })).stdout, /--keep-days/);
  const typo = await run(['snapshot', 'x', '--keep-days', '100'], { table });
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /--keep-days must be between 1 and 90/);
  assert.equal((await run(['snapshto'], { table })).stderr.includes('Did you mean fcm snapshot?'), true);
});

test('and invokes it against a server: method, path, body from flags, token; output from x-cli message or --json', async () => {
  const seen: { method?: string; url?: string; auth?: string; body?: unknown }[] = [];
  const srv = createServer(async (req: IncomingMessage, res) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    seen.push({ method: req.method, url: req.url, auth: req.headers.authorization, body: text ? JSON.parse(text) : undefined });
    res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'snap_1', vm: 'cosmic-nova', label: 'x', sizeMib: 42 }));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const env = { FCM_HOST: `127.0.0.1:${(srv.address() as AddressInfo).port}`, FCM_TOKEN: 'fcm_t' };
  try {
    const r = await run(['snapshot', 'cosmic-nova', '--label', 'before-upgrade', '--keep-days', '7', '--live'], { table, env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'Snapshot snap_1 of cosmic-nova (42 MiB)\n');
    assert.deepEqual(seen[0], {
      method: 'POST',
      url: '/v1/vms/cosmic-nova/snapshot',
      auth: 'Bearer fcm_t',
      body: { label: 'before-upgrade', keepDays: 7, live: true },
    });
    const j = await run(['snapshot', 'cosmic-nova', '--json'], { table, env });
    assert.deepEqual(JSON.parse(j.stdout), { id: 'snap_1', vm: 'cosmic-nova', label: 'x', sizeMib: 42 });
    assert.equal(seen[1]!.body, undefined, 'no flags, no body: the server applies its defaults');
  } finally {
    await new Promise((r) => srv.close(r));
  }
});

/** The x-cli shapes later operations use: two-word commands, file args, typed args, an implicit --name, text responses, short flags. */
function fixtureSpec2() {
  const spec = fixtureSpec();
  const problem = { default: { $ref: '#/components/responses/Problem' } };
  spec.paths['/v1/notes'] = {
    get: {
      operationId: 'listNotes', tags: ['notes'],
      'x-cli': { command: 'notes', columns: ['id', 'text'], empty: 'No notes.', examples: ['fcm notes'] },
      responses: { '200': { description: 'ok', content: { 'application/json': { schema: { type: 'object', properties: { notes: { type: 'array' } } } } } }, ...problem },
    },
    post: {
      operationId: 'addNote', tags: ['notes'],
      'x-cli': { command: 'notes add', args: ['text'], argFromFile: 'text', message: 'Added {id}', examples: ['fcm notes add ./note.txt'] },
      requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['text'], properties: { text: { type: 'string' } } } } } },
      responses: { '201': { description: 'ok', content: { 'application/json': { schema: { type: 'object' } } } }, ...problem },
    },
  };
  spec.paths['/v1/vms/{name}/pin'] = {
    parameters: [{ $ref: '#/components/parameters/VmName' }],
    post: {
      operationId: 'pinVm', tags: ['vms'],
      'x-cli': { command: 'pin', args: ['version'], message: 'Pinned {name} to v{version}', examples: ['fcm pin 3'] },
      requestBody: { required: false, content: { 'application/json': { schema: { type: 'object', properties: { version: { type: 'integer', minimum: 1 } } } } } },
      responses: { '200': { description: 'ok', content: { 'application/json': { schema: { type: 'object' } } } }, ...problem },
    },
  };
  spec.paths['/v1/vms/{name}/tail'] = {
    parameters: [{ $ref: '#/components/parameters/VmName' }],
    get: {
      operationId: 'tailVm', tags: ['vms'],
      parameters: [{ name: 'follow', in: 'query', schema: { type: 'boolean', default: false } }],
      'x-cli': { command: 'tail', args: ['name'], short: { follow: 'f' }, examples: ['fcm tail -f'] },
      responses: { '200': { description: 'ok', content: { 'text/plain': { schema: { type: 'string' } } } }, ...problem },
    },
  };
  return spec;
}

test('later x-cli shapes: two-word commands, file args, typed args, implicit -a/--app, text output, short flags', async () => {
  const table2 = buildCommandTable(fixtureSpec2());
  const add = table2.find((c) => c.command === 'notes add')!;
  assert.deepEqual(add.args.map((a) => [a.name, a.in, a.required, a.fromFile]), [['text', 'body', true, true]]);
  const pin = table2.find((c) => c.command === 'pin')!;
  assert.deepEqual(pin.args.map((a) => [a.name, a.type]), [['version', 'integer']]);
  assert.deepEqual(pin.flags.map((f) => [f.flag, f.short, f.in, f.vmRef]), [['app', 'a', 'path', true]]);
  assert.equal(table2.find((c) => c.command === 'tail')!.responseType, 'text');
  assert.equal(table2.find((c) => c.command === 'tail')!.flags[0]!.short, 'f');

  const seen: { method?: string; url?: string; body?: unknown }[] = [];
  const srv = createServer(async (req, res) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    seen.push({ method: req.method, url: req.url, body: text ? JSON.parse(text) : undefined });
    if (req.url?.startsWith('/v1/vms/cosmic-nova/tail')) return res.writeHead(200, { 'content-type': 'text/plain' }).end('line 1\nline 2\n');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'note_1', name: 'cosmic-nova', version: 3 }));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const env = { FCM_HOST: `127.0.0.1:${(srv.address() as AddressInfo).port}`, FCM_TOKEN: 't' };
  const dir = tempDir();
  writeFileSync(join(dir, 'note.txt'), 'hello from a file\n');
  writeFileSync(join(dir, '.fcm'), JSON.stringify({ vm: 'cosmic-nova' }));
  try {
    const added = await run(['notes', 'add', 'note.txt'], { table: table2, env, cwd: dir });
    assert.deepEqual([added.code, added.stdout], [0, 'Added note_1\n'], added.stderr);
    assert.deepEqual(seen.at(-1), { method: 'POST', url: '/v1/notes', body: { text: 'hello from a file' } });
    const missing = await run(['notes', 'add', 'nope.txt'], { table: table2, env, cwd: dir });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /<text> is read from a file, and nope\.txt cannot be read: ENOENT/);

    const pinned = await run(['pin', '3'], { table: table2, env, cwd: dir });
    assert.deepEqual([pinned.code, pinned.stdout], [0, 'Pinned cosmic-nova to v3\n'], pinned.stderr);
    assert.deepEqual(seen.at(-1), { method: 'POST', url: '/v1/vms/cosmic-nova/pin', body: { version: 3 } }, 'the name from .fcm, the version as a number');
    await run(['pin', '2', '-a', 'other-vm'], { table: table2, env, cwd: dir });
    assert.equal(seen.at(-1)!.url, '/v1/vms/other-vm/pin');
    const old = await run(['pin', '2', '--name', 'third-vm'], { table: table2, env, cwd: dir });
    assert.equal(seen.at(-1)!.url, '/v1/vms/third-vm/pin', 'the old --name still works');
    assert.match(old.stderr, /--name is deprecated: use --app \(or -a\)/);
    const bad = await run(['pin', 'three'], { table: table2, env, cwd: dir });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /<version> must be a whole number, not "three"/);

    const tail = await run(['tail', '-f'], { table: table2, env, cwd: dir });
    assert.deepEqual([tail.code, tail.stdout], [0, 'line 1\nline 2\n'], tail.stderr);
    assert.equal(seen.at(-1)!.url, '/v1/vms/cosmic-nova/tail?follow=true');

    const typo = await run(['notes', 'ad'], { table: table2, env, cwd: dir });
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /unknown command "notes ad" \(fcm notes has: add\)\nDid you mean fcm notes add\?/);
    const help = await run(['notes', '--help'], { table: table2 });
    assert.match(help.stdout, /^Commands\n  notes add <text>/m);
  } finally {
    await new Promise((r) => srv.close(r));
  }
});
