/**
 * One-off commands (`fcm run`, openapi.yaml `runCommand`): who may run what
 * where, before anything starts, and the count of runs per VM (the idle
 * sleeper keeps a VM with a run awake). The bytes flow through the
 * GuestExec port; the WebSocket route (http/routes/run.ts) only relays.
 */
import { FcmError } from './errors.js';
import type { Principal, VmRecord } from './model.js';
import { ExecRefused, type ExecChannel, type GuestExec } from './ports/guest-exec.js';

/** What runs need from VmService. */
export interface RunVms {
  /** Ownership-checked lookup; throws vm_not_found. */
  get(p: Principal, name: string): VmRecord;
  /** Wakes a sleeping VM, waits for a starting one, refuses another host's (VmService.awake). */
  awake(p: Principal, name: string, timeoutMs: number, signal?: AbortSignal): Promise<VmRecord>;
}

export interface RunServiceDeps {
  vms: RunVms;
  exec: GuestExec;
  /** How long a sleeping or starting VM may take to run. */
  bootTimeoutMs: number;
}

/** The guest agent runs at most this many at once (rootfs/guest/oneoff.py MAX_RUNS); the daemon refuses the next one itself. */
export const MAX_RUNS_PER_VM = 4;
/** argv in the query string: within Node's and Caddy's header limits with room for the rest of the request. */
export const MAX_ARGV_BYTES = 8192;

const RUNNABLE = new Set(['running', 'starting', 'sleeping']);

export interface RunTicket {
  vm: VmRecord;
  argv: string[];
  timeoutSec: number;
}

export class RunService {
  private readonly active = new Map<string, number>();

  constructor(private readonly d: RunServiceDeps) {}

  /** Validation, ownership and state; throws FcmError (the route answers problem+json before any upgrade). */
  check(p: Principal, name: string, argv: string[], timeoutSec: number): RunTicket {
    const vm = this.d.vms.get(p, name);
    if (!argv.length || argv[0] === '') throw new FcmError('validation_failed', 'Nothing to run: give a program, e.g. fcm run -- ls -la.', { errors: [{ path: '/query/argv', message: 'must name a program' }] });
    const bytes = argv.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0);
    if (bytes > MAX_ARGV_BYTES) {
      throw new FcmError('validation_failed', `The command is ${bytes} bytes long; at most ${MAX_ARGV_BYTES}: put a longer script in the app and run that.`, { errors: [{ path: '/query/argv', message: `longer than ${MAX_ARGV_BYTES} bytes` }] });
    }
    if (argv.some((a) => a.includes('\0'))) throw new FcmError('validation_failed', 'Arguments cannot contain NUL bytes.', { errors: [{ path: '/query/argv', message: 'contains NUL' }] });
    if (!RUNNABLE.has(vm.state)) {
      const fix = vm.state === 'stopped' || vm.state === 'failed' ? `: start it with fcm start ${name}` : '';
      throw new FcmError('invalid_state', `VM "${name}" is ${vm.state}; fcm run needs it running${fix}.`);
    }
    if (this.count(vm.id) >= MAX_RUNS_PER_VM) throw new FcmError('too_many_runs', `${MAX_RUNS_PER_VM} one-off commands already run in "${name}"; wait for one to end.`);
    return { vm, argv, timeoutSec };
  }

  /**
   * Wakes or awaits the VM, then starts the command. The run counts until
   * `done()` is called (once the channel ended). `signal`: the client left
   * before it started.
   */
  async start(p: Principal, t: RunTicket, signal: AbortSignal): Promise<{ channel: ExecChannel; vm: VmRecord; done: () => void }> {
    let vm = t.vm;
    this.add(vm.id, 1);
    let counted = true;
    const done = () => {
      if (counted) this.add(vm.id, -1);
      counted = false;
    };
    try {
      // Also for a running VM: awake() refuses a VM of another host (wrong_host, host_unreachable),
      // whose address means nothing on this host's bridge.
      vm = await this.d.vms.awake(p, vm.name, this.d.bootTimeoutMs, signal);
      if (vm.state !== 'running') throw new FcmError('invalid_state', `VM "${vm.name}" is ${vm.state}; fcm run needs it running.`);
      const channel = await this.d.exec.open(vm, { argv: t.argv, timeoutSec: t.timeoutSec }, signal);
      return { channel, vm, done };
    } catch (e) {
      done();
      if (!(e instanceof ExecRefused)) throw e;
      if (e.code === 'too_many_runs') throw new FcmError('too_many_runs', `The VM runs as many one-off commands as it takes (${e.message}); wait for one to end.`);
      if (e.code === 'validation_failed') throw new FcmError('validation_failed', `The VM refused the command: ${e.message}`);
      throw new FcmError('guest_unreachable', `VM "${vm.name}": its guest agent did not start the command (${e.code}: ${e.message}).`, { cause: e });
    }
  }

  /** Runs going on in a VM (started or starting). */
  count(vmId: string): number {
    return this.active.get(vmId) ?? 0;
  }

  private add(vmId: string, n: number): void {
    const c = this.count(vmId) + n;
    if (c > 0) this.active.set(vmId, c);
    else this.active.delete(vmId);
  }
}
