// fcm: a Node.js process started ahead of the next run of the live web command
// (rootfs/guest/prestart.py starts it as `<node> /usr/lib/fcm/node-standby.cjs <fd>`,
// through the same `node` the run would find on its PATH, so V8's flags and the
// startup snapshot are the run's own).
//
// Why: under QEMU TCG most of a Node web process's start happens before the app's first
// line or inside Node itself: loading libnode, V8 and OpenSSL set-up, the bootstrap, and
// compiling each built-in module from source at its first require (Debian's Node has no
// code cache for them): ~6 s of a ~8 s start of a plain node:http app, measured in the
// guest. Here all of that is done ahead, at idle priority, and the built-in modules a web
// app uses are loaded.
//
// Protocol on <fd> (a socket to the agent): "ready\n" once loaded; then one JSON line
// {argv, cwd, env} comes; this answers "ok\n" and runs argv[1] as the main module the way
// `node <script> [args]` does (Module.runMain: CommonJS with require.main === module, or
// ES module by extension / package "type"), or answers "no <reason>\n" and exits 0.
// Before "ok": cwd and process.env become the run's, process.argv becomes
// [execPath, <absolute script>, ...args], the socket is closed, this file leaves the
// module cache. stdin is /dev/null from the start. Other differences from a fresh start,
// by design: the built-in modules below are already loaded (process.moduleLoadList), the
// process started earlier (process.uptime, performance.timeOrigin), /proc cmdline and
// process.title are this file's; an uncaught error's stack shows this file's frames
// below the app's.
'use strict';
const fs = require('fs');
const path = require('path');
const Module = require('module');

const fd = Number(process.argv[2]);
// Built-in modules that web apps and their frameworks load; loading has no effect beyond
// the module itself (no cluster, worker_threads, inspector: those act on load).
const PRELOAD = ['http', 'https', 'net', 'tls', 'stream', 'stream/promises', 'events', 'url', 'util', 'fs',
  'fs/promises', 'path', 'crypto', 'zlib', 'querystring', 'buffer', 'string_decoder', 'os', 'dns', 'timers',
  'timers/promises', 'tty', 'child_process', 'assert', 'async_hooks', 'perf_hooks'];
for (const name of PRELOAD) {
  try {
    require(name);
  } catch {
    // a module this Node lacks: skipped
  }
}
fs.writeSync(fd, 'ready\n');

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
  // A `node` that is a shell script (the VM's node-shim) gets PWD from the shell: "/" here,
  // the run's cwd in a fresh start.
  const shellPwd = process.env.PWD === '/' && !Object.prototype.hasOwnProperty.call(env, 'PWD');
  for (const k of Object.keys(process.env)) {
    if (!Object.prototype.hasOwnProperty.call(env, k)) delete process.env[k];
  }
  Object.assign(process.env, env);
  if (shellPwd) process.env.PWD = process.cwd();
  process.argv = [process.argv[0], script, ...argv.slice(2)];
  delete Module._cache[__filename];
  delete process.mainModule; // set again by Module._load for the app's main module
  fs.writeSync(fd, 'ok\n');
  fs.closeSync(fd);
}

take();
Module.runMain();
