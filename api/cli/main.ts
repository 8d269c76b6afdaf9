#!/usr/bin/env node
/** The `fcm` binary (package.json "bin"). */
import { processIo } from './io.js';
import { commandName, runCli } from './run.js';

const argv = process.argv.slice(2);
const ac = new AbortController();
// Ctrl-C aborts the current wait or prompt (exit 130); a second one exits at once.
// `fcm daemon` forwards signals to the daemon itself instead.
if (commandName(argv) !== 'daemon') {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (ac.signal.aborted) process.exit(130);
      ac.abort();
    });
  }
}
process.exitCode = await runCli(argv, processIo(ac.signal));
