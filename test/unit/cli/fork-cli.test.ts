/** fcm fork, in-process against the real HTTP layer (memory services with live snapshots and forks). */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { memoryApi } from '../../helpers/memory-api.js';
import { ROOT } from '../../helpers/memory-service.js';
import { run, tempDir, type RunOpts } from './io-helpers.js';

let api: Awaited<ReturnType<typeof memoryApi>>;
let env: Record<string, string>;
before(async () => {
  api = await memoryApi({ snapshots: true });
  const url = await api.app.listen({ port: 0, host: '127.0.0.1' });
  env = { FCM_HOST: url, FCM_TOKEN: api.admin };
  const c = await run(['create', 'web', '--no-wait'], { env });
  assert.equal(c.code, 0, c.stderr);
  await api.h.service.wait(ROOT, 'web', 'running', 2000);
});
after(async () => {
  await api.app.close();
  await api.h.service.close();
});

const fcm = (argv: string[], o: RunOpts = {}) => run(argv, { env, ...o });

test('fcm fork <vm> <new-name>: the fork, running, with the parent\'s pause; ./.fcm untouched', async () => {
  const cwd = tempDir();
  const r = await fcm(['fork', 'web', 'web-pr-1'], { cwd });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Forked web into web-pr-1: running\nURL: https:\/\/web-pr-1\.64-34-93-45\.sslip\.io\nGit: root@64\.34\.93\.45:web-pr-1\.git\n$/);
  assert.match(r.stderr, /web was paused 12\.5 ms for the fork\./);
  assert.match(r.stderr, /git push web-pr-1 <branch>:main/);
  assert.equal(existsSync(join(cwd, '.fcm')), false);
  assert.equal(api.h.service.get(ROOT, 'web-pr-1').state, 'running');
});

test('fcm fork <new-name> takes the parent from -a or ./.fcm; --json prints the new VM only', async () => {
  const j = await fcm(['fork', '-a', 'web', 'web-pr-2', '--json']);
  assert.equal(j.code, 0, j.stderr);
  const vm = JSON.parse(j.stdout);
  assert.equal(vm.name, 'web-pr-2');
  assert.equal(vm.state, 'running');
  assert.equal(j.stderr, '', 'nothing on stderr under --json');
  const cwd = tempDir();
  writeFileSync(join(cwd, '.fcm'), JSON.stringify({ vm: 'web' }));
  const d = await fcm(['fork', 'web-pr-3', '--no-wait'], { cwd });
  assert.equal(d.code, 0, d.stderr);
  assert.match(d.stdout, /^Forked web into web-pr-3: (starting|running)/);
  assert.deepEqual(JSON.parse(readFileSync(join(cwd, '.fcm'), 'utf8')), { vm: 'web' }, './.fcm still names the parent');
});

test('usage errors and API refusals name their code', async () => {
  assert.equal((await fcm(['fork'])).code, 2);
  assert.equal((await fcm(['fork', 'web', 'Bad_Name'])).code, 2);
  assert.equal((await fcm(['fork', 'a', 'b', 'c'])).code, 2);
  assert.equal((await fcm(['fork', 'web', 'web'])).code, 2);
  const taken = await fcm(['fork', 'web', 'web-pr-1']);
  assert.equal(taken.code, 1);
  assert.match(taken.stderr, /\[name_taken\]/);
  const missing = await fcm(['fork', 'nope', 'x-fork', '--json']);
  assert.equal(missing.code, 1);
  assert.equal(JSON.parse(missing.stderr).code, 'vm_not_found');
});

test('fcm fork --help teaches the preview-app flow', async () => {
  const h = await fcm(['fork', '--help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /fcm fork \[<vm>\] <new-name>|fcm fork/);
  assert.match(h.stdout, /git push fcm-preview feature:main/);
});
