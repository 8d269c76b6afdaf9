/**
 * rootfs/guest/node-code-cache.cjs (the V8 code cache of a Node app's CommonJS modules),
 * run by this machine's node in child processes: a second start takes every module from
 * the cache and behaves as the first; damaged or foreign entries are compiled from source;
 * modules Node must compile itself are left to it; the directory is refused unless private.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const HOOK = fileURLToPath(new URL('../../rootfs/guest/node-code-cache.cjs', import.meta.url));
const cc = createRequire(import.meta.url)(HOOK) as {
  mayImport(s: string): boolean;
  encode(b: Buffer): Buffer;
  decode(b: Buffer): Buffer | null;
  evictions(e: { name: string; size: number; mtimeMs: number }[], max: number): string[];
};

const work = mkdtempSync(join(tmpdir(), 'fcm-code-cache-'));
after(() => rmSync(work, { recursive: true, force: true }));

const APP: Record<string, string> = {
  // Serves one request to itself (the hook writes after the first response), then prints
  // what the modules saw and the cache's counters once they were written.
  'main.js': `const http = require('http');
const lib = require('./lib');
const stats = globalThis[Symbol.for('fcm.nodeCodeCache')];
const seen = { lib: lib.describe(), main: require.main === module, file: __filename, tool: require('./tool.js')(),
  typed: require('./typed.js').n, imp: typeof require('./dyn.js').load, resolve: require.resolve('./lib') };
let err;
try { require('./throws.js'); } catch (e) { err = e.stack.split('\\n')[1].trim(); }
const server = http.createServer((req, res) => res.end('ok')).listen(0, '127.0.0.1', () => {
  http.get({ host: '127.0.0.1', port: server.address().port }, (res) => {
    res.resume();
    res.on('end', () => {
      server.close();
      const done = () => (stats && stats.misses && stats.written === 0 ? setTimeout(done, 20) : finish());
      done();
    });
  });
});
function finish() {
  require('./dyn.js').load().then((m) => {
    console.log(JSON.stringify({ seen, err, dyn: m.default, stats }));
  });
}
`,
  'lib/index.js': `'use strict';
exports.describe = () => ({ parentIsMain: module.parent === require.main, dir: __dirname.split('/').pop(), self: this === exports });
`,
  'tool.js': '#!/usr/bin/env node\nmodule.exports = () => "shebang ok";\n',
  'typed.js': "module.exports = /** @type {import('./lib')} */ ({ n: 3 });\n",
  'dyn.js': "exports.load = () => import('./esm.mjs');\n",
  'esm.mjs': 'export default "esm ok";\n',
  'throws.js': 'module.exports = 1; throw new Error("here");\n',
  'start.js': `const s = require(${JSON.stringify(HOOK)}).install(process.argv[2], { quietMs: 50, serveWaitMs: 60000 });
if (!s) { console.log(JSON.stringify({ installed: false })); process.exit(0); }
// as the Node process started ahead runs the app: main.js becomes the main module
process.argv.splice(1, 2, require('path').join(__dirname, 'main.js'));
require('module').runMain();
`,
};

function makeApp(name: string): string {
  const dir = join(work, name);
  for (const [f, text] of Object.entries(APP)) {
    mkdirSync(join(dir, f, '..'), { recursive: true });
    writeFileSync(join(dir, f), text);
  }
  return dir;
}

function cacheDir(name: string, mode = 0o700): string {
  const d = join(work, name);
  mkdirSync(d, { mode });
  chmodSync(d, mode);
  return d;
}

async function run(app: string, cache: string): Promise<any> {
  const out = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [join(app, 'start.js'), cache], { cwd: app, timeout: 60_000 }, (e, stdout, stderr) =>
      e ? reject(new Error(`${e.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
  return JSON.parse(out.trim().split('\n').pop()!);
}

test('second start: every cacheable module from the cache, and the app sees what it saw at the first', async () => {
  const app = makeApp('app1');
  const cache = cacheDir('cache1');
  const first = await run(app, cache);
  // main, lib, tool, typed, throws: compiled here; dyn.js (a real import()) by Node itself
  assert.deepEqual(first.stats, { hits: 0, misses: 5, rejected: 0, bad: 0, uncached: 1, written: 5 });
  assert.equal(readdirSync(cache).length, 5);
  const second = await run(app, cache);
  assert.deepEqual(second.stats, { hits: 5, misses: 0, rejected: 0, bad: 0, uncached: 1, written: 0 });
  assert.deepEqual(second.seen, first.seen);
  assert.deepEqual(second.seen, {
    lib: { parentIsMain: true, dir: 'lib', self: true }, main: true, file: join(app, 'main.js'),
    tool: 'shebang ok', typed: 3, imp: 'function', resolve: join(app, 'lib', 'index.js'),
  });
  assert.equal(second.dyn, 'esm ok');
  // the stack frame of an error on the first line names the column Node's own compile gives
  assert.equal(second.err, `at Object.<anonymous> (${join(app, 'throws.js')}:1:27)`);
  assert.equal(first.err, second.err);

  // a new release (another directory) with the same sources finds every entry
  const moved = await run(makeApp('app1-next'), cache);
  assert.deepEqual(moved.stats, { hits: 5, misses: 0, rejected: 0, bad: 0, uncached: 1, written: 0 });
});

test('a damaged entry or one V8 refuses is compiled from source and replaced', async () => {
  const app = makeApp('app2');
  const cache = cacheDir('cache2');
  await run(app, cache);
  const files = readdirSync(cache).sort();
  writeFileSync(join(cache, files[0]!), 'garbage');
  // well formed for our check, but not V8's data: V8 rejects it
  writeFileSync(join(cache, files[1]!), cc.encode(Buffer.from('not a code cache, but long enough to be one '.repeat(4))));
  const r = await run(app, cache);
  assert.equal(r.stats.bad, 1);
  assert.equal(r.stats.rejected, 1);
  assert.equal(r.stats.hits, 3);
  assert.equal(r.stats.misses, 2);
  assert.equal(r.stats.written, 2);
  assert.equal(r.seen.tool, 'shebang ok');
  const again = await run(app, cache);
  assert.deepEqual(again.stats, { hits: 5, misses: 0, rejected: 0, bad: 0, uncached: 1, written: 0 });
});

test('a response before the first compile from source (the warm-up of the process started ahead) does not count as the app having served', async () => {
  const app = makeApp('app4');
  writeFileSync(join(app, 'early.js'), `const http = require('http');
const s = require(${JSON.stringify(HOOK)}).install(process.argv[2], { quietMs: 50, serveWaitMs: 60000 });
const get = (port) => new Promise((r) => http.get({ host: '127.0.0.1', port }, (res) => { res.resume(); res.on('end', r); }));
const server = http.createServer((req, res) => res.end('ok')).listen(0, '127.0.0.1', async () => {
  const port = server.address().port;
  await get(port); // before any module of the app: only built-in code ran
  require('./lib');
  await new Promise((r) => setTimeout(r, 400));
  const before = s.written;
  await get(port); // the app's first response
  await new Promise((r) => setTimeout(r, 400));
  console.log(JSON.stringify({ before, after: s.written, misses: s.misses }));
  server.close();
});
`);
  const out = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [join(app, 'early.js'), cacheDir('cache4')], { cwd: app, timeout: 60_000 }, (e, stdout, stderr) =>
      e ? reject(new Error(`${e.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
  const r = JSON.parse(out.trim().split('\n').pop()!);
  assert.ok(r.misses >= 1, JSON.stringify(r));
  assert.deepEqual({ before: r.before, after: r.after }, { before: 0, after: r.misses }, 'written only once the app served after its first compile');
});

test('a directory others can read is refused: nothing is installed', async () => {
  const r = await run(makeApp('app3'), cacheDir('cache3', 0o755));
  assert.deepEqual(r, { installed: false });
});

test('import( counts as dynamic import unless plainly in a comment', () => {
  assert.equal(cc.mayImport('module.exports = () => import("./x.mjs");'), true);
  assert.equal(cc.mayImport('const m = await import (\n"x")'), true);
  // Known limit (the doc says so): a string holding "/*" before a real import( and "*/"
  // after it on the same line would pass for a comment.
  assert.equal(cc.mayImport("module.exports = /** @type {import('./x')} */ (f);"), false);
  assert.equal(cc.mayImport("/**\n * @param {import('x').T} t\n */\nfunction f(t) {}"), false);
  assert.equal(cc.mayImport("// import('x')\nconst important = 1;"), false);
  assert.equal(cc.mayImport('reimport(x); imports(y)'), false);
});

test('cache file format: the payload comes back only when its hash matches', () => {
  const data = Buffer.from('some cached data');
  const file = cc.encode(data);
  assert.deepEqual(cc.decode(file), data);
  const bad = Buffer.from(file);
  bad[bad.length - 1] = bad.at(-1)! ^ 1;
  assert.equal(cc.decode(bad), null);
  assert.equal(cc.decode(Buffer.from('fcmv8cc1')), null);
  assert.equal(cc.decode(Buffer.from('x'.repeat(100))), null);
});

test('size bound: oldest entries go until 3/4 of the bound is left', () => {
  const e = (name: string, size: number, mtimeMs: number) => ({ name, size, mtimeMs });
  assert.deepEqual(cc.evictions([e('a', 10, 1), e('b', 10, 2)], 20), []);
  assert.deepEqual(cc.evictions([e('new', 40, 3), e('old', 40, 1), e('mid', 40, 2)], 100), ['old', 'mid']);
});
