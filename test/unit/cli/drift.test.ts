/**
 * A new operation in the spec becomes a CLI command with no hand-written code:
 * a fixture spec gains POST /v1/vms/{name}/snapshot with x-cli, and the CLI
 * built from it lists, documents, completes and calls it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { parse } from 'yaml';
import { buildCommandTable } from '../../../api/gen/cli-table.js';
import { run } from './io-helpers.js';

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
