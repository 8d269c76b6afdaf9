/**
 * A process that opens a host harness and waits to be stopped from outside, for
 * test/reliability/harness-teardown.test.ts. Prints one JSON line once the daemon answers.
 */
import { startHostHarness } from './host-harness.js';

const h = await startHostHarness();
process.stdout.write(`${JSON.stringify({ ns: h.ns, daemonPid: h.daemonPid(), stateDir: h.stateDir })}\n`);
setInterval(() => {}, 60_000);
