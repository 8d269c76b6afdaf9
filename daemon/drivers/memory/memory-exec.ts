/**
 * GuestExec's in-memory twin: a few programs the guest also has, played in
 * process, with the same observable behaviour the contract suite checks
 * (test/unit/guest-exec-contract.test.ts): `true`, `false`, `echo ARGS`,
 * `cat` (stdin to stdout until its end), `sleep N` (ended by a signal, the
 * deadline or close), `sh -c 'exit N'`, `sh -c 'echo X >&2'`; anything else
 * is not found (127). At most `maxRuns` at once per VM (too_many_runs).
 */
import { ExecRefused, type ExecChannel, type ExecEnd, type ExecRequest, type ExecSignal, type GuestExec } from '../../core/ports/guest-exec.js';

export class MemoryExec implements GuestExec {
  private readonly running = new Map<string, number>();
  /** Commands started, in order (for tests). */
  readonly started: { vmId: string; argv: string[] }[] = [];
  /** Channels closed before their command ended (the client left), for tests. */
  killed = 0;

  constructor(private readonly maxRuns = 4) {}

  async open(vm: { id: string; ip: string }, req: ExecRequest, signal: AbortSignal): Promise<ExecChannel> {
    if (signal.aborted) throw new ExecRefused('the client went away', 'client_gone');
    if (!req.argv.length || req.argv[0] === '') throw new ExecRefused('argv must name a program', 'validation_failed');
    const n = this.running.get(vm.id) ?? 0;
    if (n >= this.maxRuns) throw new ExecRefused(`${this.maxRuns} one-off commands already run`, 'too_many_runs');
    this.running.set(vm.id, n + 1);
    this.started.push({ vmId: vm.id, argv: [...req.argv] });
    return new MemoryChannel(req, () => this.running.set(vm.id, (this.running.get(vm.id) ?? 1) - 1), () => this.killed++);
  }

  /** Commands running in a VM now. */
  count(vmId: string): number {
    return this.running.get(vmId) ?? 0;
  }
}

class MemoryChannel implements ExecChannel {
  private out: ((s: 'stdout' | 'stderr', d: Buffer) => void) | null = null;
  private held: ['stdout' | 'stderr', Buffer][] = [];
  private endCb: ((e: ExecEnd) => void) | null = null;
  private ended: ExecEnd | null = null;
  private delivered = false;
  private stdinOpen = true;
  private readonly timer: NodeJS.Timeout;
  private readonly program: string;

  constructor(
    private readonly req: ExecRequest,
    private readonly free: () => void,
    private readonly onKilled: () => void,
  ) {
    this.timer = setTimeout(() => this.exit({ code: null, signal: 'KILL', timedOut: true }), req.timeoutSec * 1000);
    const [prog, ...args] = req.argv;
    this.program = prog!;
    queueMicrotask(() => this.begin(args));
  }

  private begin(args: string[]): void {
    const p = this.program;
    if (p === 'true') return this.exit({ code: 0, signal: null, timedOut: false });
    if (p === 'false') return this.exit({ code: 1, signal: null, timedOut: false });
    if (p === 'echo') {
      this.emit('stdout', Buffer.from(`${args.join(' ')}\n`));
      return this.exit({ code: 0, signal: null, timedOut: false });
    }
    if (p === 'sh' && args[0] === '-c') {
      const exit = /^exit (\d{1,3})$/.exec(args[1] ?? '');
      if (exit) return this.exit({ code: Number(exit[1]) & 255, signal: null, timedOut: false });
      const err = /^echo (\S+) >&2$/.exec(args[1] ?? '');
      if (err) {
        this.emit('stderr', Buffer.from(`${err[1]}\n`));
        return this.exit({ code: 0, signal: null, timedOut: false });
      }
    }
    if (p === 'cat' || p === 'sleep') return; // until stdin ends (cat) or a signal, the deadline or close
    this.emit('stderr', Buffer.from(`fcm: cannot run ${p}: No such file or directory\n`));
    this.exit({ code: 127, signal: null, timedOut: false });
  }

  onOutput(cb: (stream: 'stdout' | 'stderr', data: Buffer) => void): void {
    this.out = cb;
    for (const [st, d] of this.held.splice(0)) cb(st, d);
    this.deliver();
  }

  onEnd(cb: (end: ExecEnd) => void): void {
    this.endCb = cb;
    this.deliver();
  }

  write(data: Buffer): boolean {
    if (!this.ended && this.stdinOpen && this.program === 'cat') this.emit('stdout', Buffer.from(data));
    return true;
  }

  onDrain(): void {}

  endInput(): void {
    this.stdinOpen = false;
    if (this.program === 'cat') this.exit({ code: 0, signal: null, timedOut: false });
  }

  signal(name: ExecSignal): void {
    if (!this.ended) this.exit({ code: null, signal: name, timedOut: false });
  }

  pause(): void {}

  resume(): void {}

  close(): void {
    if (this.ended) return;
    this.onKilled();
    this.finish({ error: 'closed' });
  }

  private emit(s: 'stdout' | 'stderr', d: Buffer): void {
    if (this.out) this.out(s, d);
    else this.held.push([s, d]);
  }

  private exit(e: { code: number | null; signal: string | null; timedOut: boolean }): void {
    this.finish({ exit: e });
  }

  private finish(end: ExecEnd): void {
    if (this.ended) return;
    this.ended = end;
    clearTimeout(this.timer);
    this.free();
    this.deliver();
  }

  /** The end, once, after the output (held until there is a subscriber, as the guest's pipe would hold it). */
  private deliver(): void {
    if (!this.ended || !this.endCb || this.held.length || this.delivered) return;
    this.delivered = true;
    this.endCb(this.ended);
  }
}
