/**
 * The V8 code cache of a Node app's modules (rootfs/guest/node-code-cache.cjs) in a real
 * guest: one QEMU TCG VM from the built image; `fcm run` sends a Koa app (Koa and its 62
 * packages from this repository's node_modules) and test/host/fixtures/node-code-cache-guest.py,
 * which starts the image's Node.js process started ahead (/usr/lib/fcm/prestart.py with its
 * node-standby.cjs) twice, each taken for `node app.js` with FCM_NODE_CODE_CACHE set to one
 * private directory, as the agent starts a Node release. The first start compiles from
 * source and writes the cache once it served; the second takes every cached module from it
 * and serves the same answers. Behaviour only: how much faster is the bench's
 * (npm run bench -- node-start). Also: the guest's Node.js is one with the code cache of its
 * built-in modules and its startup snapshot (rootfs/build.sh ships the host's; Debian's Node
 * 18 has neither, and a Node start under TCG then costs ~1.6x the CPU), with its npm, which
 * builds native addons against that Node's own headers.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BIN, ensureBuilt } from '../e2e/cli-run.js';
import { hostSkipReason, ROOT_DIR, startHostHarness, type HostHarness } from '../helpers/host-harness.js';
import { koaPayload } from '../helpers/koa-payload.js';

const skip = hostSkipReason();

const APP = `const Koa = require('koa');
const app = new Koa();
app.use(async (ctx) => {
  const stats = globalThis[Symbol.for('fcm.nodeCodeCache')];
  ctx.body = { path: ctx.path, query: ctx.query, stats: stats ? { ...stats } : null, koa: require('koa/package.json').version };
});
app.listen(Number(process.env.PORT));
`;

function payload(): Promise<Buffer> {
  return koaPayload((stage) => {
    cpSync(join(ROOT_DIR, 'test', 'host', 'fixtures', 'node-code-cache-guest.py'), join(stage, 'guest.py'));
    writeFileSync(join(stage, 'app.js'), APP);
  });
}

let h: HostHarness | undefined;
before(async () => {
  if (skip) return;
  ensureBuilt();
  h = await startHostHarness();
  const c = await h.api('POST', '/v1/vms', { name: 'code-cache', memoryMib: 1024, swapMib: 256 });
  assert.equal(c.status, 201, JSON.stringify(c.body));
  const w = await h.api('GET', '/v1/vms/code-cache/wait?state=running&timeout=600');
  assert.equal(w.status, 200, JSON.stringify(w.body));
});
after(async () => {
  await h?.close();
});

interface Start {
  start: number;
  answers: { path: string; query: Record<string, string>; stats: Record<string, number> | null; koa: string }[];
  files?: number;
  modes?: string[];
  dirMode?: string;
}

test('a Koa app taken from the Node.js process started ahead: the second start takes its modules from the code cache and serves the same', { skip: skip ?? false }, async () => {
  const tarball = await payload();
  const script = 'rm -rf /tmp/ccg && mkdir /tmp/ccg && cd /tmp/ccg && tar -xzf - && exec python3 guest.py';
  const starts: Start[] = [];
  let out = '';
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'run', '-a', 'code-cache', '--', 'sh', '-c', script], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir(), ...h!.env },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.on('error', reject);
    child.on('close', resolve);
    child.stdin.end(tarball);
  });
  for (const line of out.split('\n')) {
    if (line.startsWith('{')) starts.push(JSON.parse(line) as Start);
    else if (line.trim()) console.log(`# guest: ${line}`);
  }
  assert.equal(code, 0, out);
  assert.equal(starts.length, 2, out);
  const [cold, warm] = starts as [Start, Start];
  for (const s of starts) {
    assert.deepEqual(s.answers.map((a) => [a.path, a.query, a.koa]), [['/', {}, cold.answers[0]!.koa], ['/q', { a: '1' }, cold.answers[0]!.koa]]);
  }
  const c = cold.answers[0]!.stats!;
  assert.ok(c, 'the hook was installed in the first start');
  assert.equal(c.hits, 0);
  assert.ok(c.misses! > 50, `Koa's modules compiled from source at the first start: ${JSON.stringify(c)}`);
  assert.ok(cold.files! > 50, `the first start wrote the cache once it served: ${cold.files} files`);
  assert.equal(cold.dirMode, '700');
  assert.deepEqual([...new Set(cold.modes)], ['600'], 'entries are the app user\'s alone');
  const w = warm.answers[0]!.stats!;
  assert.deepEqual({ misses: w.misses, rejected: w.rejected, bad: w.bad }, { misses: 0, rejected: 0, bad: 0 }, JSON.stringify(w));
  assert.equal(w.hits, c.misses, 'every module compiled at the first start came from the cache');
  assert.equal(w.uncached, c.uncached);
});

test("the guest's node has its built-ins' code cache and startup snapshot, one binary, and npm points node-gyp at its headers", { skip: skip ?? false }, () => {
  const script = 'command -v node && command -v npm && node -p "const { node_use_node_code_cache: cc, node_use_node_snapshot: snapshot, ' +
    'node_shared: shared } = process.config.variables; JSON.stringify({ version: process.version, execPath: process.execPath, ' +
    'v: { cc, snapshot, shared } })" && npm config get nodedir && test -f /usr/include/node/node_api.h && echo headers';
  const out = execFileSync(process.execPath, [BIN, 'run', '-a', 'code-cache', '--', 'sh', '-c', script], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir(), ...h!.env }, encoding: 'utf8', timeout: 300_000,
  });
  const lines = out.trim().split('\n');
  assert.deepEqual(lines.slice(0, 2), ['/usr/bin/node', '/usr/bin/npm'], out);
  const node = JSON.parse(lines[2]!) as { version: string; execPath: string; v: Record<string, unknown> };
  assert.deepEqual(node.v, { cc: true, snapshot: true, shared: false }, out);
  assert.equal(node.execPath, '/usr/bin/node');
  assert.ok(Number(/^v(\d+)\./.exec(node.version)?.[1]) >= 20, `a Node that is not end of life: ${node.version}`);
  assert.deepEqual(lines.slice(3), ['/usr', 'headers'], out);
});
