/** In-process CLI runs for unit tests: captured streams, a private HOME and cwd, a chosen env. */
import { EventEmitter } from 'node:events';
import type { CommandSpec } from '../../../api/gen/cli-table.js';
import type { InStream, Io, OutStream } from '../../../api/cli/io.js';
import { runCli } from '../../../api/cli/run.js';
import { refusedPort } from '../../helpers/ports.js';
import { tempDir as makeTempDir } from '../../helpers/temp-dir.js';

export class Capture implements OutStream {
  text = '';
  constructor(
    public isTTY = false,
    public columns = 100,
  ) {}
  write(s: string) {
    this.text += s;
    return true;
  }
}

export class FakeStdin extends EventEmitter implements InStream {
  constructor(public isTTY = false) {
    super();
  }
  setEncoding() {
    return this;
  }
  resume() {
    return this;
  }
  pause() {
    return this;
  }
  /** Types a line (as a user would, then Enter) once the CLI is listening. */
  typeWhenAsked(line: string) {
    const tick = () => (this.listenerCount('data') ? this.emit('data', `${line}\n`) : setTimeout(tick, 2));
    setTimeout(tick, 2);
  }
}

/** A fresh private directory (HOME, cwd, a token file's place), removed when the test process exits. */
export function tempDir(prefix = 'fcm-cli-'): string {
  return makeTempDir(prefix);
}

/** A loopback port nothing listens on (connection refused), held so for the rest of the test process. */
export const closedPort = refusedPort;

export interface RunOpts {
  env?: Record<string, string | undefined>;
  cwd?: string;
  home?: string;
  tty?: boolean;
  stdin?: FakeStdin;
  table?: CommandSpec[];
  now?: () => number;
  signal?: AbortSignal;
  /** Capture stdout here (to watch it while the command runs). */
  stdout?: Capture;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function run(argv: string[], o: RunOpts = {}): Promise<RunResult> {
  const stdout = o.stdout ?? new Capture(o.tty ?? false);
  const stderr = new Capture(o.tty ?? false);
  const io: Io = {
    stdout,
    stderr,
    stdin: o.stdin ?? new FakeStdin(o.tty ?? false),
    env: o.env ?? {},
    cwd: o.cwd ?? tempDir(),
    home: o.home ?? tempDir('fcm-home-'),
    ...(o.now ? { now: o.now } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  };
  const code = await runCli(argv, io, { ...(o.table ? { table: o.table } : {}), version: '9.9.9' });
  return { code, stdout: stdout.text, stderr: stderr.text };
}
