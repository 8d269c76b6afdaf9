/**
 * In-memory twin of the Console port (same contract as SocketConsole, see
 * test/unit/console-contract.test.ts). Each VM has a fake guest: everything
 * it prints goes to its log (attached or not) and to every open link; input
 * goes to `onInput`, by default a tiny shell (echo with $VAR and $((a*b)),
 * VAR=value, stty size, `;`) so HTTP-level tests can run the same scenarios as
 * the host tests against a real VM.
 */
import { FcmError } from '../../core/errors.js';
import type { Console, ConsoleLink, ConsoleTarget, TermSize } from '../../core/ports/console.js';
import { tailAtLineBoundary } from '../../core/console-scrollback.js';

interface MemoryLink extends ConsoleLink {
  deliver(data: Buffer): void;
  end(): void;
  unstall(): void;
}

export class MemoryConsoleGuest {
  log: Buffer = Buffer.alloc(0);
  readonly links = new Set<MemoryLink>();
  /** false: connect() fails, as with no hypervisor process. */
  up = true;
  size: TermSize = { cols: 80, rows: 24 };
  readonly resizes: TermSize[] = [];
  /** Everything typed, as received. */
  input: Buffer = Buffer.alloc(0);
  failResize: string | null = null;
  /** Stops the guest reading input (links report backpressure after `stallAfterBytes`). */
  stallAfterBytes: number | null = null;
  onInput: (data: Buffer, guest: MemoryConsoleGuest) => void = fakeShell();

  print(s: string | Buffer): void {
    const b = typeof s === 'string' ? Buffer.from(s) : s;
    this.log = Buffer.concat([this.log, b]);
    for (const l of this.links) l.deliver(b);
  }

  /** The hypervisor went away: every link closes. */
  hangup(): void {
    for (const l of [...this.links]) l.end();
  }
}

export class MemoryConsole implements Console {
  readonly guests = new Map<string, MemoryConsoleGuest>();

  guest(vmId: string): MemoryConsoleGuest {
    let g = this.guests.get(vmId);
    if (!g) this.guests.set(vmId, (g = new MemoryConsoleGuest()));
    return g;
  }

  async connect(vm: ConsoleTarget): Promise<ConsoleLink> {
    const g = this.guest(vm.id);
    if (!g.up) throw new FcmError('hypervisor_failed', `no console for ${vm.id}: the VM is not running`);
    let closed = false;
    let pending = 0;
    const data: ((b: Buffer) => void)[] = [];
    const drain: (() => void)[] = [];
    const closeCbs: (() => void)[] = [];
    const link: MemoryLink = {
      write: (b) => {
        if (closed) return false;
        g.input = Buffer.concat([g.input, b]);
        if (g.stallAfterBytes !== null) {
          pending += b.length;
          return pending < g.stallAfterBytes;
        }
        g.onInput(b, g);
        return true;
      },
      onData: (cb) => void data.push(cb),
      onDrain: (cb) => void drain.push(cb),
      onClose: (cb) => (closed ? queueMicrotask(cb) : void closeCbs.push(cb)),
      close: () => link.end(),
      deliver: (b) => {
        if (!closed) for (const cb of data) cb(b);
      },
      end: () => {
        if (closed) return;
        closed = true;
        g.links.delete(link);
        queueMicrotask(() => closeCbs.forEach((cb) => cb()));
      },
      unstall: () => {
        pending = 0;
        for (const cb of drain) cb();
      },
    };
    g.links.add(link);
    return link;
  }

  /** Lets a stalled guest read again: links drain. */
  unstall(vmId: string): void {
    const g = this.guest(vmId);
    g.stallAfterBytes = null;
    for (const l of g.links) l.unstall();
  }

  async tail(vm: ConsoleTarget, maxBytes: number): Promise<Buffer> {
    return Buffer.from(tailAtLineBoundary(this.guest(vm.id).log, maxBytes));
  }

  async resize(vm: ConsoleTarget, size: TermSize): Promise<void> {
    const g = this.guest(vm.id);
    if (g.failResize) throw new Error(g.failResize);
    g.size = { ...size };
    g.resizes.push({ ...size });
  }
}

/** A line-editing fake shell on a "tty" in cooked mode: echoes input, runs a line on CR. */
export function fakeShell(prompt = '# '): (data: Buffer, g: MemoryConsoleGuest) => void {
  const vars = new Map<string, string>();
  let line = '';
  const expand = (s: string) =>
    s
      .replace(/\$\(\((\d+)\s*([*+-])\s*(\d+)\)\)/g, (_m, a: string, op: string, b: string) =>
        String(op === '*' ? Number(a) * Number(b) : op === '+' ? Number(a) + Number(b) : Number(a) - Number(b)),
      )
      .replace(/\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, k: string) => vars.get(k) ?? '');
  const run = (cmd: string, g: MemoryConsoleGuest): string => {
    const t = cmd.trim();
    if (!t) return '';
    const assign = /^([A-Za-z_][A-Za-z0-9_]*)=(\S*)$/.exec(t);
    if (assign) {
      vars.set(assign[1]!, expand(assign[2]!));
      return '';
    }
    if (t === 'stty size') return `${g.size.rows} ${g.size.cols}\r\n`;
    if (t === 'echo' || t.startsWith('echo ')) return `${expand(t.slice(5)).replace(/["']/g, '')}\r\n`;
    return `sh: ${t.split(' ')[0]}: not found\r\n`;
  };
  return (data, g) => {
    for (const ch of data.toString('utf8')) {
      if (ch === '\r' || ch === '\n') {
        const cmd = line;
        line = '';
        g.print(`\r\n${cmd.split(';').map((c) => run(c, g)).join('')}${prompt}`);
      } else if (ch === '\x7f') {
        if (line) {
          line = line.slice(0, -1);
          g.print('\b \b');
        }
      } else if (ch === '\x03') {
        line = '';
        g.print(`^C\r\n${prompt}`);
      } else {
        line += ch;
        g.print(ch);
      }
    }
  };
}
