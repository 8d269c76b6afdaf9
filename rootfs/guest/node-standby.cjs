// fcm: a Node.js process started ahead of the next run of the live web command
// (rootfs/guest/prestart.py starts it as `<node> /usr/lib/fcm/node-standby.cjs <fd> <hurry-fd>`,
// through the same `node` the run would find on its PATH, so V8's flags and the
// startup snapshot are the run's own).
//
// Why: under QEMU TCG most of a Node web process's start happens before the app's first
// line or inside Node itself: loading libnode, V8 and OpenSSL set-up, the bootstrap, and
// compiling each built-in module from source at its first require (Debian's Node 18, which
// the image had then, has no code cache for them): ~6 s of a ~8 s start of a plain node:http
// app, measured in the guest; the image's Node 20 has that code cache and Node's own startup
// snapshot, which leaves less to do ahead. Here all of that is done ahead (at normal priority, the optional modules last and at the lowest), and the built-in modules a web
// app uses are loaded.
//
// Protocol on <fd> (a socket to the agent): "ready\n" once loaded (or at once when a byte
// came on <hurry-fd>: a run is here, and what is not loaded yet is left to it); then one JSON line
// {argv, cwd, env} comes; this answers "ok\n" and runs argv[1] as the main module the way
// `node <script> [args]` does (Module.runMain: CommonJS with require.main === module, or
// ES module by extension / package "type"), or answers "no <reason>\n" and exits 0.
// Before "ok": cwd and process.env become the run's, process.argv becomes
// [execPath, <absolute script>, ...args], the socket is closed, this file leaves the
// module cache. stdin is /dev/null from the start. Other differences from a fresh start,
// by design: the built-in modules below are already loaded (process.moduleLoadList),
// process.stderr is open (warmUp), the script runs from a callback of the event loop, not
// from the bootstrap (async_hooks.executionAsyncId() is not 1 on its first line), the
// process started earlier (process.uptime, performance.timeOrigin), /proc cmdline and
// process.title are this file's; an uncaught error's stack shows this file's frames
// below the app's.
// With FCM_NODE_CODE_CACHE in the run's environment the app's CommonJS modules are
// compiled through the code cache (node-code-cache.cjs): installed before "ready" when this
// process's own environment names it (the agent gives it only runs with the same), else on take.
'use strict';
const fs = require('fs');
const path = require('path');
const Module = require('module');

const fd = Number(process.argv[2]);
// "A run is here" (prestart.py's NodeStandby.hurry): a byte on this pipe, non-blocking on
// this side, read between the steps below. Once it came, nothing more is loaded ahead: the
// run is read at once and the app loads what it needs itself, as a fresh start does.
const hurryFd = process.argv.length > 3 ? Number(process.argv[3]) : -1;
// V8 flags to set before "ready" (prestart.py's TCG_NODE_V8_FLAGS, under QEMU TCG only): set
// then, not on the command line, so the built-in modules loaded before come from Node's code
// cache (V8 refuses it once its flags differ from the build's).
const v8Flags = process.argv.length > 4 ? process.argv[4] : '';
let hurried = false;
function hurry() {
  if (hurried || !(hurryFd >= 0)) return hurried;
  try {
    fs.readSync(hurryFd, Buffer.alloc(1), 0, 1, null);
    hurried = true; // the byte, or the end of the pipe (the agent is gone: readLine exits)
  } catch {
    // EAGAIN: no run yet
  }
  return hurried;
}
// The code cache for the app's own modules (node-code-cache.cjs), loaded ahead and
// installed on take when the run names its directory (FCM_NODE_CODE_CACHE, set by the
// agent for Node releases); it leaves the module cache with this file.
const CODE_CACHE = path.join(__dirname, 'node-code-cache.cjs');
let codeCache = null;
try {
  codeCache = require(CODE_CACHE);
} catch {
  // an image without it: no code cache
}
// Built-in modules that web apps and their frameworks load; loading has no effect beyond
// the module itself (no cluster, worker_threads, inspector: those act on load). In the
// order of their worth to a node:http app: FIRST (what `http` pulls in, and what nearly
// every app uses), then the warm-up request (which the app's first request needs too),
// then the rest; a standby hurried half-way has done the most useful part.
const FIRST = ['http', 'net', 'stream', 'events', 'url', 'util', 'fs', 'path', 'buffer', 'string_decoder',
  'querystring', 'timers', 'os', 'async_hooks'];
const THEN = ['https', 'tls', 'stream/promises', 'fs/promises', 'crypto', 'zlib', 'dns', 'timers/promises', 'tty',
  'child_process', 'assert', 'perf_hooks'];
// Loaded ahead for take() itself when it sets V8 flags (require('v8') loads 8 internal
// modules and bindings: 40-80 ms of a taken app's start under TCG, measured in the guest).
if (v8Flags) THEN.unshift('v8');
function preload(names) {
  for (const name of names) {
    if (hurry()) return;
    try {
      require(name);
    } catch {
      // a module this Node lacks: skipped
    }
  }
}
preload(FIRST);

// Runs the code a web process runs for its first request, once, on loopback: under TCG V8
// compiles each function of Node's built-in modules at its first call (lazily, from
// source), and a fresh node:http app spent more on its first answer than on its start
// (the HTTP parser, the server's and the response's paths). A server on 127.0.0.1 and an
// ephemeral port, one GET with `connection: close`, both closed before "ready" (their
// handles too): what is left is the compiled code, and process.stderr opened (net opens
// it when any socket closes, as the app's first closed connection would; so does loading
// assert). Any failure only skips the rest.
function warmUp(done) {
  if (hurry()) {
    done();
    return;
  }
  // process.stderr first: closing the sockets opens it (net), and a handle that was not there
  // before would keep `before` from ever matching again: with stderr a pipe (the agent's),
  // settle() then spun all its turns, ~1.5 s of the guest's CPU under TCG.
  void process.stderr;
  const before = JSON.stringify(process.getActiveResourcesInfo().sort());
  let finished = false;
  let server = null;
  // Until the sockets' handles are closed too (libuv closes them a loop turn after their
  // 'close' events): the app starts with what a fresh start has (no handles).
  const settle = (turns) => {
    if (turns > 0 && JSON.stringify(process.getActiveResourcesInfo().sort()) !== before) setImmediate(settle, turns - 1);
    else done();
  };
  let client = null;
  const finish = () => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    clearInterval(poll);
    const next = () => setImmediate(settle, 1000);
    if (client) client.destroy();
    if (server && server.listening) {
      server.closeAllConnections();
      server.close(next);
    } else next();
  };
  const timer = setTimeout(finish, 30000);
  // A run that comes meanwhile ends the warm-up at once (its request and server closed
  // unfinished) instead of after it: the run's start waits for it.
  const poll = setInterval(() => {
    if (hurry()) finish();
  }, 20);
  try {
    const http = require('http');
    new URL('http://localhost:8000/a/b?c=d#e').searchParams.get('c');
    server = http.createServer((req, res) => {
      req.resume();
      res.setHeader('content-type', 'text/plain; charset=utf-8');
      res.writeHead(200);
      res.end(JSON.stringify({ ok: true, path: req.url }));
    });
    server.on('error', finish);
    server.listen(0, '127.0.0.1', () => {
      if (hurry()) {
        finish();
        return;
      }
      // The request from a plain socket: http's client side is code the app does not run
      // (without it the warm-up took about a third less CPU in the guest); the server closes after the answer.
      client = require('net').connect({ host: '127.0.0.1', port: server.address().port }, () => {
        client.write('GET /warm?x=1 HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\nConnection: close\r\n\r\n');
      });
      client.on('data', () => {});
      client.on('end', finish);
      client.on('close', finish);
      client.on('error', finish);
    });
  } catch {
    finish();
  }
}

function readLine() {
  const chunk = Buffer.alloc(65536);
  const parts = [];
  for (;;) {
    let n;
    try {
      n = fs.readSync(fd, chunk, 0, chunk.length, null);
    } catch (e) {
      if (e.code === 'EAGAIN' || e.code === 'EINTR') continue;
      throw e;
    }
    if (n === 0) process.exit(0); // the agent went away: nothing to run
    parts.push(Buffer.from(chunk.subarray(0, n)));
    if (chunk.subarray(0, n).includes(10)) return Buffer.concat(parts).toString('utf8');
  }
}

// Before the code cache's first key: its entries are for the V8 flags the run has
// (node-code-cache.cjs's nodeTag reads them here).
function nameFlags() {
  if (v8Flags && !Object.prototype.hasOwnProperty.call(globalThis, Symbol.for('fcm.v8Flags'))) {
    Object.defineProperty(globalThis, Symbol.for('fcm.v8Flags'), { value: v8Flags, enumerable: false });
  }
}

// The V8 flags (under TCG), set once every built-in module loaded ahead is loaded (V8 refuses
// Node's code cache for one loaded after: its flag hash differs), before "ready" rather than at
// take: setFlagsFromString took 20-80 ms of the vCPU in a taken start (deploy bench, marks in
// the guest). The app's own code is compiled under them, as in the run.
function setFlags() {
  if (!v8Flags) return;
  nameFlags();
  try {
    require('v8').setFlagsFromString(v8Flags);
  } catch {
    // a Node that refuses them runs as it is
  }
}

// The code cache hook (node-code-cache.cjs) for `dir`, and its first compile's own code run
// once on nothing (warm()) -> installed?
function installCodeCache(dir) {
  nameFlags();
  let installed = false;
  try {
    installed = Boolean(codeCache && codeCache.install(dir));
  } catch {
    // a cache problem never stops the run
  }
  if (installed) {
    try {
      codeCache.warm();
    } catch {
      // only its speed-up lost
    }
  }
  return installed;
}

// Installed ahead, before "ready", when this process's environment names the cache directory:
// the agent gives this process only a run with the same environment (prestart.py's fits(),
// FCM_NODE_CODE_CACHE included), so the run's is the same. Its hook only sees the app's
// modules: nothing here requires a file after it.
let cacheAhead = null;
function installCodeCacheAhead() {
  const dir = process.env.FCM_NODE_CODE_CACHE;
  if (codeCache && dir) cacheAhead = { dir, installed: installCodeCache(dir) };
}

function take() {
  const go = JSON.parse(readLine());
  const { argv, cwd, env } = go;
  let script;
  try {
    process.chdir(cwd);
    script = path.resolve(argv[1]);
    fs.accessSync(script, fs.constants.R_OK);
  } catch (e) {
    fs.writeSync(fd, `no ${String(e.message).split('\n')[0]}\n`);
    process.exit(0);
  }
  for (const k of Object.keys(process.env)) {
    if (!Object.prototype.hasOwnProperty.call(env, k)) delete process.env[k];
  }
  Object.assign(process.env, env);
  const runCache = process.env.FCM_NODE_CODE_CACHE || null;
  if (cacheAhead && cacheAhead.installed && cacheAhead.dir !== runCache) {
    // Never so with the agent (its fits() gives this process only runs with its own
    // environment), but the hook installed ahead is for another directory.
    fs.writeSync(fd, 'no the code cache installed ahead is not the run\'s\n');
    process.exit(0);
  }
  process.argv = [process.argv[0], script, ...argv.slice(2)];
  delete Module._cache[__filename];
  delete Module._cache[CODE_CACHE];
  if (!cacheAhead && runCache) installCodeCache(runCache);
  delete process.mainModule; // set again by Module._load for the app's main module
  fs.writeSync(fd, 'ok\n');
  fs.closeSync(fd);
  if (hurryFd >= 0) fs.closeSync(hurryFd);
}

// The code cache for the run next (its hook sees no file before the run's: the warm-up
// below only runs built-in code): before the warm-up, which a run that comes ends at once,
// while this is work the run would wait for (it is done hurried too). Installed after the
// warm-up it kept a run that came during it waiting 0.4-0.8 s in the deploy bench.
installCodeCacheAhead();

warmUp(() => {
  // The rest is for apps that use more than node:http: at the lowest priority, as the agent
  // puts a ready one (prestart.py; it started at normal priority to have the part above done
  // before the next run). This thread only: os.setPriority acts on the calling thread; a take
  // gives every thread normal priority again. A run already here: it stays at normal.
  if (!hurry()) {
    try {
      require('os').setPriority(19);
    } catch {
      // not allowed: loads at the priority it has
    }
  }
  preload(THEN);
  setFlags();
  fs.writeSync(fd, 'ready\n');
  take();
  Module.runMain();
});
