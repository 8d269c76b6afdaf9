/**
 * A node:test reporter (test/run.ts passes it with --test-reporter): one
 * line per test file, `<ms>\t<pass|fail>\t<file>`, from the event node:test
 * emits when a file's process has finished (its name is the file's path).
 * test/run.ts prints the slowest files from it, so CI shows where the time goes.
 * Plain JavaScript: node loads reporters before tsx's loader is registered.
 */
export default async function* fileTimes(source) {
  for await (const ev of source) {
    const d = ev.data;
    if (ev.type !== 'test:complete' || !d || d.nesting !== 0 || !d.file || d.name !== d.file) continue;
    yield `${Math.round(d.details?.duration_ms ?? 0)}\t${d.details?.error ? 'fail' : 'pass'}\t${d.file}\n`;
  }
}
