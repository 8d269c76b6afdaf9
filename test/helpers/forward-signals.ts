/**
 * A runner (test/run.ts, test/bench/run.ts) stopped with SIGINT/SIGTERM/SIGHUP passes the signal
 * on to the child it is waiting for, so the child's own teardown runs (host harnesses kill their
 * daemon, QEMUs and namespace on the way out: test/helpers/host-harness.ts). Without this a runner
 * killed by pid exits alone and leaves the child running. The runner itself keeps waiting for the
 * child's exit and reports it as usual.
 */
import type { ChildProcess } from 'node:child_process';

export function forwardStopSignals(child: ChildProcess): void {
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((sig) => {
    const h = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  child.once('exit', () => {
    for (const [sig, h] of handlers) process.off(sig, h);
  });
}
