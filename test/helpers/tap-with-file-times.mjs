/**
 * A node:test reporter (test/run.ts passes it with --test-reporter): node's own
 * TAP output, followed by one TAP comment line per test file,
 * `# fcm-file-time <ms> <pass|fail> <file>`, from the event node:test emits
 * when a file's process has finished (its name is the file's path). test/run.ts
 * prints the slowest files from it, so CI shows where the time goes.
 * One reporter for both (not a third --test-reporter beside spec and tap):
 * node 20 warns of a listener leak on its test stream with three.
 * Plain JavaScript: node loads reporters before tsx's loader is registered.
 */
import { tap } from 'node:test/reporters';

export default async function* tapWithFileTimes(source) {
  const times = [];
  async function* watched() {
    for await (const ev of source) {
      const d = ev.data;
      if (ev.type === 'test:complete' && d && d.nesting === 0 && d.file && d.name === d.file) {
        times.push(`# fcm-file-time\t${Math.round(d.details?.duration_ms ?? 0)}\t${d.details?.error ? 'fail' : 'pass'}\t${d.file}\n`);
      }
      yield ev;
    }
  }
  yield* tap(watched());
  yield* times;
}
