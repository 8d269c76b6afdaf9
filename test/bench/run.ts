/**
 * `npm run bench`: runs benchmarks, one process each, in file order, and
 * prints their reports. Benchmarks are test/bench/*.bench.ts; each prints
 * its own figures and exits non-zero if it could not measure.
 *
 *   npm run bench                 every benchmark
 *   npm run bench -- console      those whose file name contains "console"
 *   npm run bench -- console -- --iterations 500   (args after the second -- go to each benchmark)
 *   npm run bench -- deploy -- --help   what a benchmark measures and its options (runs nothing)
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { forwardStopSignals } from '../helpers/forward-signals.js';

const dir = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const split = argv.indexOf('--');
const filters = split === -1 ? argv : argv.slice(0, split);
const passArgs = split === -1 ? [] : argv.slice(split + 1);

const all = readdirSync(dir).filter((f) => f.endsWith('.bench.ts')).sort();
const chosen = filters.length ? all.filter((f) => filters.some((x) => f.includes(x))) : all;
if (!chosen.length) {
  console.error(`no benchmark matches ${filters.join(', ')} (have: ${all.join(', ') || 'none'})`);
  process.exit(2);
}

/**
 * `-- --help` (or -h) after the names: print each chosen benchmark's header comment, which
 * documents what it measures and its options, and run nothing. Benchmarks parse their own
 * options and would take an unknown `--help` as nothing and start a full run.
 */
if (passArgs.includes('--help') || passArgs.includes('-h')) {
  for (const f of chosen) console.log(`\n=== ${f.replace(/\.bench\.ts$/, '')} ===\n${headerComment(readFileSync(join(dir, f), 'utf8'))}`);
  process.exit(0);
}

let failed = 0;
/** Stopped from outside: the running benchmark gets the signal (and tears down); the rest do not start. */
let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => (stopping = true));
for (const f of chosen) {
  console.log(`\n=== ${f.replace(/\.bench\.ts$/, '')} ===`);
  const t0 = Date.now();
  const code: number = await new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(dir, f), ...passArgs], { stdio: 'inherit' });
    forwardStopSignals(child);
    child.on('exit', (c, s) => resolve(c ?? (s ? 1 : 0)));
  });
  console.log(`--- ${f}: ${code === 0 ? 'done' : `FAILED (exit ${code})`} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (code !== 0) failed++;
  if (stopping) break;
}
process.exit(failed ? 1 : 0);

/** The file's first doc comment, without its comment markers. */
function headerComment(source: string): string {
  const m = /\/\*\*([\s\S]*?)\*\//.exec(source);
  if (!m) return '(no header comment)';
  return m[1]!.split('\n').map((l) => l.replace(/^\s*\* ?/, '')).join('\n').trim();
}
