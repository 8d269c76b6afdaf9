// fcm: a V8 code cache for an app's CommonJS modules (the guest's Node 20 has none of its
// own: module.enableCompileCache / NODE_COMPILE_CACHE are Node 22.1+).
//
// Why: under QEMU TCG, V8 parsing and compiling each module's source, and each function at
// its first call (lazily), is a large part of loading a framework's packages. V8 can save
// what it compiled (bytecode of every function compiled so far) and take it back on the
// next start instead of compiling: vm.Script's cachedData / createCachedData().
//
// install(dir) replaces Module.prototype._compile with one that compiles the module's
// wrapped source with vm.Script and the cached data stored for it, then runs it exactly as
// Node's does (this = exports; exports, require, module, __filename, __dirname; a require
// function built as Node builds it). Node's own _compile is used instead, for that module,
// whenever this one could differ from it: Module.wrap or Module.wrapper patched, a source
// with `import(` (dynamic import needs Node's ESM loader as referrer, which user land
// cannot reach), a compile error (Node's then reports it, with its hints). install()
// refuses (returns null) when _compile is not Node's own any more (another hook came
// first), or under --inspect-brk, a policy, or source maps. ES modules are not cached.
//
// The cache: one file per module source in `dir` (the app user's, 0700), named by the
// SHA-256 of the source and of this Node (version, V8 version, arch, execArgv), so it is
// content-addressed: a new release whose node_modules did not change finds every entry.
// V8 checks only the source's length, its own version and flags: so each file carries the
// SHA-256 of its payload, checked before V8 sees it (V8 trusts a code cache it accepts);
// a file that fails the check is ignored and replaced; one V8 rejects
// (script.cachedDataRejected) is compiled from source and replaced. Entries are written
// once the app has been quiet (no module compiled from source) for QUIET_MS and has
// finished one HTTP response after its first compile from source (or SERVE_WAIT_MS after that
// without one), so the data holds
// what the first request compiled too; each is written to a temporary name and renamed.
// The directory is kept under MAX_BYTES (oldest files go first). Any error of the cache
// itself (unreadable, full disk, a bad file) only means compiling from source: a cache
// problem never breaks a start.
//
// Observable: globalThis[Symbol.for('fcm.nodeCodeCache')] is {hits, misses, rejected,
// bad, uncached, written} for this process (tests read it).
'use strict';
const Module = require('module');
const vm = require('vm');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const MAGIC = Buffer.from('fcmv8cc1');
const HASH_BYTES = 32;
const MAX_BYTES = 64 * 1024 * 1024;
const QUIET_MS = 2000;
const SERVE_WAIT_MS = 30000;
const IMPORT_CALL = /\bimport\s*\(/g;
const STATS_KEY = Symbol.for('fcm.nodeCodeCache');

function sha256(data) {
  return crypto.createHash('sha256').update(data).digest();
}

/** The tag every key includes: cached data is only good for the same Node and V8 flags. */
function nodeTag() {
  // V8 flags set at run time by the process started ahead (node-standby.cjs), if any.
  const flags = globalThis[Symbol.for('fcm.v8Flags')] || '';
  return [process.version, process.versions.v8, process.arch, JSON.stringify(process.execArgv), flags].join('\0');
}

/** The cache file name for a module source under `tag`. */
function keyOf(tag, source) {
  return crypto.createHash('sha256').update(tag).update('\0').update(source).digest('hex');
}

/** A cache file's bytes for V8's cached data: magic, SHA-256 of the data, the data. */
function encode(data) {
  return Buffer.concat([MAGIC, sha256(data), data]);
}

/** V8's cached data from a cache file's bytes, or null when it is not one or is damaged. */
function decode(buf) {
  if (!buf || buf.length <= MAGIC.length + HASH_BYTES || !buf.subarray(0, MAGIC.length).equals(MAGIC)) return null;
  const data = buf.subarray(MAGIC.length + HASH_BYTES);
  return sha256(data).equals(buf.subarray(MAGIC.length, MAGIC.length + HASH_BYTES)) ? data : null;
}

/** Files to delete (oldest first) to bring `entries` ({name, size, mtimeMs}) to 3/4 of max. */
function evictions(entries, max) {
  let total = entries.reduce((n, e) => n + e.size, 0);
  if (total <= max) return [];
  const out = [];
  for (const e of [...entries].sort((a, b) => a.mtimeMs - b.mtimeMs)) {
    if (total <= (max * 3) / 4) break;
    out.push(e.name);
    total -= e.size;
  }
  return out;
}

/**
 * Might `source` call import()? Every `import(` counts unless it is plainly inside a comment:
 * on a line that starts with `//`, `/*` or `*` (a JSDoc block), or between `/*` and `*/` on
 * its own line (`/** @type {import('./x')} *\/`, common in small packages). A false yes
 * only costs the cache for that module; a false no would break its import(): the one known
 * is a string holding "/*" before a real import( with a "*\/" after it on the same line.
 */
function mayImport(source) {
  // Most modules never name import: a string search is built-in code, while the regexp below is
  // compiled to machine code in each process (which QEMU TCG then translates: 70-170 ms of a
  // taken app's start, profiled in the guest).
  if (!source.includes('import')) return false;
  IMPORT_CALL.lastIndex = 0;
  for (let m = IMPORT_CALL.exec(source); m; m = IMPORT_CALL.exec(source)) {
    const start = source.lastIndexOf('\n', m.index) + 1;
    let end = source.indexOf('\n', m.index);
    if (end < 0) end = source.length;
    const before = source.slice(start, m.index);
    if (/^\s*(\/\/|\/\*|\*)/.test(before)) continue;
    const open = before.lastIndexOf('/*');
    if (open >= 0 && !before.slice(open).includes('*/') && source.slice(m.index, end).includes('*/')) continue;
    return true;
  }
  return false;
}

/** Why the hook must not be installed in this process, or null. */
function refusal(execArgv, nodeOptions) {
  if (!/\bwrapSafe\(/.test(Function.prototype.toString.call(Module.prototype._compile))) {
    return 'Module.prototype._compile is not Node\'s own';
  }
  const opts = `${execArgv.join(' ')} ${nodeOptions || ''}`;
  const m = /--(inspect-brk|experimental-policy|policy-integrity|enable-source-maps)\b/.exec(opts);
  return m ? `node runs with --${m[1]}` : null;
}

/** Node's module-scope require for `mod` (lib/internal/modules/helpers.js, no policy). */
function makeRequire(mod) {
  const require = function require(id) {
    return mod.require(id);
  };
  function resolve(request, options) {
    if (typeof request !== 'string') return Module.createRequire(mod.filename).resolve(request);
    return Module._resolveFilename(request, mod, false, options);
  }
  function paths(request) {
    if (typeof request !== 'string') return Module.createRequire(mod.filename).resolve.paths(request);
    return Module._resolveLookupPaths(request, mod);
  }
  resolve.paths = paths;
  require.resolve = resolve;
  Object.defineProperty(require, 'main', { value: process.mainModule, writable: true, enumerable: true, configurable: true });
  require.extensions = Module._extensions;
  require.cache = Module._cache;
  return require;
}

/**
 * Hooks CommonJS compilation to use the code cache in `dir` (which must exist and be this
 * user's alone). -> the stats object, or null when not installed (see refusal()).
 */
function install(dir, options = {}) {
  const quietMs = options.quietMs ?? QUIET_MS;
  const serveWaitMs = options.serveWaitMs ?? SERVE_WAIT_MS;
  const maxBytes = options.maxBytes ?? MAX_BYTES;
  if (globalThis[STATS_KEY] || refusal(process.execArgv, process.env.NODE_OPTIONS)) return null;
  try {
    const st = fs.statSync(dir);
    if (!st.isDirectory() || st.uid !== process.getuid() || (st.mode & 0o077) !== 0) return null;
  } catch {
    return null;
  }
  const stats = { hits: 0, misses: 0, rejected: 0, bad: 0, uncached: 0, written: 0 };
  Object.defineProperty(globalThis, STATS_KEY, { value: stats, enumerable: false });
  const original = Module.prototype._compile;
  const wrap = Module.wrap;
  const wrapper = Module.wrapper;
  const head = wrapper[0];
  const tail = wrapper[1];
  const tag = nodeTag();
  const pending = new Map(); // file -> vm.Script compiled from source, to save
  let served = false;
  let quietTimer = null;
  let serveTimer = null;

  const flush = () => {
    quietTimer = null;
    if (!served) return; // again once served, or when serveTimer gives up waiting
    const batch = [...pending];
    pending.clear();
    for (const [file, script] of batch) {
      try {
        const tmp = `${file}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, encode(script.createCachedData()), { mode: 0o600, flag: 'wx' });
        fs.renameSync(tmp, file);
        stats.written++;
      } catch {
        // a full disk or a removed directory: this entry stays uncached
      }
    }
    try {
      const entries = [];
      for (const name of fs.readdirSync(dir)) {
        try {
          const st = fs.statSync(path.join(dir, name));
          entries.push({ name, size: st.size, mtimeMs: st.mtimeMs });
        } catch {
          // gone meanwhile
        }
      }
      for (const name of evictions(entries, maxBytes)) fs.rmSync(path.join(dir, name), { force: true });
    } catch {
      // the bound is kept at the next write
    }
  };
  const schedule = () => {
    armed = true;
    if (quietTimer) clearTimeout(quietTimer);
    quietTimer = setTimeout(flush, quietMs);
    quietTimer.unref();
    if (!served && !serveTimer) {
      serveTimer = setTimeout(() => {
        served = true;
        if (!quietTimer) flush();
      }, serveWaitMs);
      serveTimer.unref();
    }
  };
  // Responses count from the first module compiled from source on (armed): what a response
  // before it did, such as the warm-up request of the process started ahead, which installs
  // this before it, says nothing about the app's code. Subscribed here, not at that compile:
  // the channel's first subscriber changes its prototype, ~20-60 ms of a taken app's start
  // under TCG (profiled in the guest). With every module from the cache it stays subscribed
  // and ignores each response (one call).
  let armed = false;
  let dc;
  const onFinish = () => {
    if (served || !armed) return;
    // Not from inside the publish: Node 18 then reads the subscribers it just dropped
    // and throws in the app's response ("Cannot read properties of undefined").
    setImmediate(() => dc.channel('http.server.response.finish').unsubscribe(onFinish));
    served = true;
    if (serveTimer) clearTimeout(serveTimer);
    if (pending.size && !quietTimer) {
      quietTimer = setTimeout(flush, quietMs);
      quietTimer.unref();
    }
  };
  try {
    dc = require('diagnostics_channel');
    dc.channel('http.server.response.finish').subscribe(onFinish);
  } catch {
    served = true; // no channel: write after the quiet time alone
  }

  Module.prototype._compile = function _compile(content, filename) {
    if (Module.wrap !== wrap || Module.wrapper !== wrapper || wrapper[0] !== head || wrapper[1] !== tail ||
        typeof content !== 'string' || mayImport(content)) {
      stats.uncached++;
      return original.call(this, content, filename);
    }
    let script;
    let file;
    try {
      // V8 takes a hashbang only at the very start of a script: the wrapper comes first.
      const source = content.startsWith('#!') ? `//${content.slice(2)}` : content;
      file = path.join(dir, keyOf(tag, source));
      let cachedData;
      try {
        // A missing entry (a first start) found without an exception: an ENOENT error and its
        // stack cost 50-100 ms of a taken app's start under TCG (profiled in the guest).
        if (fs.statSync(file, { throwIfNoEntry: false })) {
          cachedData = decode(fs.readFileSync(file));
          if (!cachedData) stats.bad++;
        }
      } catch {
        // gone meanwhile, or unreadable: compiled from source
      }
      script = new vm.Script(head + source + tail, {
        filename,
        columnOffset: -head.length, // columns of the first line as in Node's own compile
        cachedData: cachedData || undefined,
      });
      if (cachedData && !script.cachedDataRejected) {
        stats.hits++;
      } else {
        if (cachedData) stats.rejected++;
        stats.misses++;
        pending.set(file, script);
        schedule();
      }
    } catch {
      // a syntax error (Node's compile reports it, with its hints) or a cache problem
      stats.uncached++;
      return original.call(this, content, filename);
    }
    const fn = script.runInThisContext({ displayErrors: true });
    return Reflect.apply(fn, this.exports, [this.exports, makeRequire(this), this, filename, path.dirname(filename)]);
  };
  return stats;
}

/**
 * Runs, once, the code a module's first compile through the hook runs besides the module
 * itself (the process started ahead calls it: node-standby.cjs), on an empty module that is
 * neither run, cached nor written: the source's hash (OpenSSL's SHA-256 set-up), a cache
 * file's check, the import() scan, and vm.Script's compile of a wrapped source. Under QEMU
 * TCG the first call of each costs V8's lazy compile of it, and the hash OpenSSL's method
 * fetch: ~100 ms of a taken app's start, measured in the guest. No effect beyond that.
 */
function warm() {
  const source = '';
  keyOf(nodeTag(), source);
  fs.statSync(path.join(__dirname, 'fcm-warm.cache'), { throwIfNoEntry: false });
  decode(encode(Buffer.from(source)));
  mayImport(source);
  const [head, tail] = Module.wrapper;
  new vm.Script(head + source + tail, { filename: path.join(__dirname, 'fcm-warm.js'), columnOffset: -head.length })
    .runInThisContext({ displayErrors: true });
}

module.exports = { install, warm, mayImport, keyOf, nodeTag, encode, decode, evictions, refusal, MAX_BYTES };
