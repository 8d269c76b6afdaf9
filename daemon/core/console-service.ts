/**
 * Console sessions: one daemon-side connection per VM to its serial console,
 * fanned out to every attached client.
 *
 * - The shell lives in the guest, so a session is only the daemon's view of
 *   it: the link is opened lazily for the first client, closed a little
 *   after the last one leaves, and reopened after it drops (a daemon restart
 *   simply starts without one). QEMU's chardev serves one client at a time,
 *   so the daemon must be that one client for everybody.
 * - Replay: the scrollback is seeded from the tail of the hypervisor's
 *   console log (which has everything, attached or not) and then follows the
 *   live stream, so a client attaching later gets the same bytes the others
 *   saw, with nothing lost or repeated at the seam (console-scrollback.ts).
 * - A client that cannot keep up is dropped rather than buffered without
 *   bound; input is paused while the console is not taking it.
 * - When the VM stops (or fails, or is deleted) clients get {"type":"exit"}
 *   and are closed.
 */
import { FcmError } from './errors.js';
import type { Principal, VmRecord, VmState } from './model.js';
import { CLOSE, type ClientControl, type ServerControl } from './console.js';
import { type Console, type ConsoleLink, type ConsoleTarget, type TermSize } from './ports/console.js';
import { newSince } from '../../api/console-replay.js';
import { Scrollback, overlapLength } from './console-scrollback.js';
import { ConsoleTickets, type ConsoleTicketGrant } from './console-tickets.js';
import type { Logger } from '../log.js';

/** What the console needs from VmService. */
export interface ConsoleVms {
  /** Ownership-checked lookup; throws vm_not_found. */
  get(p: Principal, name: string): VmRecord;
  onChange(listener: (vmId: string) => void): () => void;
  /** Wakes a sleeping VM (ownership already checked) and resolves once it runs (VmService.awakeVm); absent: sleeping VMs have no console. */
  awakeVm?(vm: VmRecord): Promise<VmRecord>;
}

/** A transport (the WebSocket route) as the session sees it. */
export interface ConsoleClient {
  sendBytes(data: Buffer): void;
  sendControl(msg: ServerControl): void;
  /** Bytes queued for this client but not yet sent. */
  readonly bufferedBytes: number;
  close(code: number, reason: string): void;
  /** Stop / resume reading this client's input (the console is not taking more yet). */
  pauseInput(): void;
  resumeInput(): void;
}

/** The session side of one attached client. */
export interface ConsoleAttachment {
  input(data: Buffer): void;
  control(msg: ClientControl): void;
  detach(): void;
}

export interface ConsoleServiceConfig {
  /** Replay at most this much recent output. */
  scrollbackBytes: number;
  /** A client with more than this queued is dropped. */
  maxClientBufferBytes: number;
  /** Keep the link this long after the last client left (quick reconnects reuse it). */
  idleCloseMs: number;
  /** Upper bound of the reconnect backoff while clients wait for a dropped link. */
  reconnectMaxMs: number;
}

export interface ConsoleServiceDeps {
  console: Console;
  vms: ConsoleVms;
  log: Logger;
  tickets?: ConsoleTickets;
  config?: Partial<ConsoleServiceConfig>;
  /**
   * Is the principal a ticket was issued to still valid (its token not
   * revoked, its user still allowed)? Asked when the ticket is redeemed.
   */
  stillValid?: (p: Principal) => boolean;
}

const DEFAULTS: ConsoleServiceConfig = {
  scrollbackBytes: 64 * 1024,
  maxClientBufferBytes: 1024 * 1024,
  idleCloseMs: 5000,
  reconnectMaxMs: 3000,
};

/** Lookups on behalf of the daemon itself (state changes), not of a user. */
const SYSTEM: Principal = Object.freeze({ userId: 'system', email: null, admin: true });
const ATTACHABLE: ReadonlySet<VmState> = new Set(['starting', 'running']);
const ENDED: ReadonlySet<VmState> = new Set(['stopped', 'failed', 'deleting', 'creating']);

export class ConsoleService {
  private readonly sessions = new Map<string, Session>();
  private readonly cfg: ConsoleServiceConfig;
  private readonly unsubscribe: () => void;
  private readonly tickets: ConsoleTickets;
  private closed = false;

  constructor(private readonly d: ConsoleServiceDeps) {
    this.cfg = { ...DEFAULTS, ...d.config };
    this.tickets = d.tickets ?? new ConsoleTickets();
    this.unsubscribe = d.vms.onChange((id) => this.vmChanged(id));
  }

  /** A single-use ticket for a browser to open this VM's console (ownership checked here). */
  issueTicket(p: Principal, name: string): ConsoleTicketGrant & { vm: VmRecord } {
    const vm = this.d.vms.get(p, name);
    return { ...this.tickets.issue(p, vm), vm };
  }

  /**
   * authorize() for a browser: the ticket stands in for the bearer token. It
   * is used up by this call whatever the outcome, and only opens the VM it
   * was issued for (the same VM: a VM deleted and re-created under the name
   * is another one).
   */
  authorizeTicket(ticket: string, name: string): { vm: VmRecord; principal: Principal } {
    const r = this.tickets.redeem(ticket, name);
    if (!r) throw new FcmError('unauthorized', 'The console ticket is unknown, used or expired; get a new link with: fcm console --web ' + name);
    if (this.d.stillValid && !this.d.stillValid(r.principal)) {
      throw new FcmError('unauthorized', 'The token this console ticket was issued to has been revoked (or its user may no longer use fcm).');
    }
    const vm = this.authorize(r.principal, name);
    if (vm.id !== r.vmId) throw new FcmError('unauthorized', 'The console ticket was issued for another VM of that name; get a new link with: fcm console --web ' + name);
    return { vm, principal: r.principal };
  }


  /**
   * The VM `p` may attach to, or why not: vm_not_found (not theirs, or no
   * such VM) or invalid_state (not running). Called before the WebSocket
   * upgrade so a refusal is a plain HTTP problem response.
   */
  authorize(p: Principal, name: string): VmRecord {
    const vm = this.d.vms.get(p, name);
    // A console wakes a sleeping VM (attach waits for it; what the client types meanwhile is kept).
    if (vm.state === 'sleeping' && this.d.vms.awakeVm) return vm;
    if (!ATTACHABLE.has(vm.state)) {
      const fix = vm.state === 'stopped' || vm.state === 'failed' ? `: start it with fcm start ${name}` : '';
      throw new FcmError('invalid_state', `VM "${name}" is ${vm.state}; the console needs it running${fix}.`);
    }
    return vm;
  }

  /** Attaches a client: hello, the replay, then live output. */
  async attach(vm: VmRecord, client: ConsoleClient): Promise<ConsoleAttachment> {
    if (this.closed) throw new FcmError('internal', 'the console service is shut down');
    if (vm.state === 'sleeping' && this.d.vms.awakeVm) vm = await this.d.vms.awakeVm(vm);
    let s = this.sessions.get(vm.id);
    if (!s) {
      const created: Session = new Session(vm, this.d, this.cfg, () => {
        if (this.sessions.get(vm.id) === created) this.sessions.delete(vm.id);
      });
      this.sessions.set(vm.id, created);
      s = created;
    }
    return s.attach(client);
  }

  /** Clients attached per VM id (for tests and health). */
  clientCounts(): Record<string, number> {
    return Object.fromEntries([...this.sessions].map(([id, s]) => [id, s.clientCount]));
  }

  /** Daemon shutdown: clients are told to come back (1001); the shells keep running in the guests. */
  close(): void {
    this.closed = true;
    this.unsubscribe();
    for (const s of [...this.sessions.values()]) s.shutdown();
    this.sessions.clear();
  }

  private vmChanged(id: string): void {
    const s = this.sessions.get(id);
    if (!s) return;
    let vm: VmRecord | null = null;
    try {
      vm = this.d.vms.get(SYSTEM, s.vm.name);
      if (vm.id !== id) vm = null;
    } catch {
      vm = null;
    }
    s.vmChanged(vm);
  }
}

class Session {
  readonly vm: ConsoleTarget & { name: string };
  private readonly clients = new Set<ConsoleClient>();
  private readonly ring: Scrollback;
  private readonly log: Logger;
  private link: ConsoleLink | null = null;
  private opening: Promise<void> | null = null;
  private seeded = false;
  private ended = false;
  private inputPaused = false;
  private idleTimer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private reconnectDelay = 250;
  private lastState: VmState;
  private size: TermSize | null = null;
  private sentSize: TermSize | null = null;
  private resizing = false;

  constructor(
    vm: VmRecord,
    private readonly d: ConsoleServiceDeps,
    private readonly cfg: ConsoleServiceConfig,
    private readonly forget: () => void,
  ) {
    this.vm = { id: vm.id, name: vm.name, ip: vm.ip };
    this.lastState = vm.state;
    this.ring = new Scrollback(cfg.scrollbackBytes);
    this.log = d.log.child({ vmId: vm.id, vm: vm.name });
  }

  get clientCount(): number {
    return this.clients.size;
  }

  async attach(client: ConsoleClient): Promise<ConsoleAttachment> {
    this.clearIdle();
    if (!this.link && !this.opening) this.opening = this.open().finally(() => (this.opening = null));
    if (this.opening) await this.opening;
    if (this.ended) {
      client.sendControl({ type: 'exit', reason: 'the VM stopped' });
      client.close(CLOSE.normal, 'the VM stopped');
      return { input: () => {}, control: () => {}, detach: () => {} };
    }
    // Synchronous from here: no output can slip between the replay snapshot and joining the fan-out.
    const replay = this.ring.snapshot();
    client.sendControl({ type: 'hello', vm: this.vm.name, replayBytes: replay.length });
    if (replay.length) client.sendBytes(replay);
    this.clients.add(client);
    if (this.inputPaused) client.pauseInput();
    this.log.info({ clients: this.clients.size, replayBytes: replay.length }, 'console client attached');
    let gone = false;
    return {
      input: (data) => {
        if (!gone) this.input(data);
      },
      control: (msg) => {
        if (!gone && msg.type === 'resize') this.requestResize({ cols: msg.cols, rows: msg.rows });
      },
      detach: () => {
        if (gone) return;
        gone = true;
        this.remove(client, 'detached');
      },
    };
  }

  vmChanged(vm: VmRecord | null): void {
    if (this.ended) return;
    if (!vm) return this.end('the VM was deleted');
    const prev = this.lastState;
    this.lastState = vm.state;
    if (ENDED.has(vm.state)) {
      return this.end(vm.state === 'failed' ? `the VM failed${vm.lastError ? `: ${vm.lastError}` : ''}` : 'the VM stopped');
    }
    if (ATTACHABLE.has(vm.state) && prev !== vm.state) {
      // A (re)started hypervisor has a new console socket; a rebooted guest is back at 80x24.
      if (!this.link && this.clients.size) this.reconnectSoon(0);
      if (vm.state === 'running') {
        this.sentSize = null;
        this.pumpResize();
      }
    }
  }

  shutdown(): void {
    this.ended = true;
    for (const c of this.clients) c.close(CLOSE.goingAway, 'the fcm daemon is restarting; reconnect');
    this.clients.clear();
    this.dispose();
  }

  // ---- the link -----------------------------------------------------------

  /** Connects (if possible) and seeds or catches up the scrollback from the console log. */
  private async open(): Promise<void> {
    let link: ConsoleLink | null = null;
    const early: Buffer[] = [];
    let catchingUp = true;
    try {
      link = await this.d.console.connect(this.vm);
    } catch (err) {
      this.log.debug({ err }, 'console not reachable yet');
    }
    if (this.ended) {
      link?.close();
      return;
    }
    if (link) {
      const l = link;
      this.link = l;
      l.onData((b) => (catchingUp ? early.push(b) : this.output(b)));
      l.onDrain(() => this.setInputPaused(false));
      l.onClose(() => this.linkClosed(l));
    }
    const tail = await this.d.console.tail(this.vm, this.cfg.scrollbackBytes).catch((err: unknown) => {
      this.log.warn({ err }, 'cannot read the console log');
      return Buffer.alloc(0);
    });
    if (this.ended) return;
    if (!this.seeded) {
      this.ring.reset(tail);
      this.seeded = true;
    } else {
      // Reconnected while clients stayed: what was printed in between is in the log only.
      const gap = newSince(this.ring.snapshot(), tail) ?? tail;
      this.output(gap);
    }
    const e = Buffer.concat(early);
    catchingUp = false;
    this.output(e.subarray(overlapLength(tail, e)));
    if (link) this.reconnectDelay = 250;
    else if (this.clients.size || this.opening) this.reconnectSoon(this.reconnectDelay);
  }

  private linkClosed(l: ConsoleLink): void {
    if (this.link !== l) return;
    this.link = null;
    this.setInputPaused(false);
    if (this.ended) return;
    this.log.info({ clients: this.clients.size }, 'console link closed');
    if (this.clients.size) this.reconnectSoon(this.reconnectDelay);
  }

  private reconnectSoon(delayMs: number): void {
    if (this.reconnectTimer || this.ended) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.ended || this.link || this.opening || !this.clients.size) return;
      this.reconnectDelay = Math.min(this.reconnectDelay * 2, this.cfg.reconnectMaxMs);
      this.opening = this.open().finally(() => (this.opening = null));
    }, delayMs);
    this.reconnectTimer.unref();
  }

  // ---- data paths ---------------------------------------------------------

  private output(data: Buffer): void {
    if (!data.length) return;
    this.ring.append(data);
    for (const c of this.clients) {
      if (c.bufferedBytes > this.cfg.maxClientBufferBytes) {
        this.log.warn({ bufferedBytes: c.bufferedBytes }, 'console client too slow; dropping it');
        c.close(CLOSE.tooSlow, 'too slow: the console output outran this connection');
        this.remove(c, 'too slow');
        continue;
      }
      c.sendBytes(data);
    }
  }

  private input(data: Buffer): void {
    if (!this.link) return; // nobody to type to while the link is down; the guest never sees it
    if (!this.link.write(data)) this.setInputPaused(true);
  }

  private setInputPaused(paused: boolean): void {
    if (this.inputPaused === paused) return;
    this.inputPaused = paused;
    for (const c of this.clients) (paused ? c.pauseInput() : c.resumeInput());
  }

  // ---- resize: the latest request wins, one agent call at a time ----------

  private requestResize(size: TermSize): void {
    this.size = size;
    this.pumpResize();
  }

  private pumpResize(): void {
    const want = this.size;
    if (this.resizing || !want || this.ended) return;
    if (this.sentSize && this.sentSize.cols === want.cols && this.sentSize.rows === want.rows) return;
    this.resizing = true;
    this.sentSize = want;
    this.d.console
      .resize(this.vm, want)
      .catch((err: unknown) => this.log.info({ err: (err as Error).message, size: want }, 'console resize failed'))
      .finally(() => {
        this.resizing = false;
        this.pumpResize();
      });
  }

  // ---- clients --------------------------------------------------------------

  private remove(c: ConsoleClient, why: string): void {
    if (!this.clients.delete(c)) return;
    this.log.info({ clients: this.clients.size, why }, 'console client left');
    if (!this.clients.size && !this.ended) {
      this.clearIdle();
      this.idleTimer = setTimeout(() => {
        if (this.clients.size) return;
        this.ended = true;
        this.dispose();
      }, this.cfg.idleCloseMs);
      this.idleTimer.unref();
    }
  }

  private end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.log.info({ clients: this.clients.size, reason }, 'console session ended');
    for (const c of this.clients) {
      c.sendControl({ type: 'exit', reason });
      c.close(CLOSE.normal, reason.slice(0, 120));
    }
    this.clients.clear();
    this.dispose();
  }

  private dispose(): void {
    this.clearIdle();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const l = this.link;
    this.link = null;
    l?.close();
    this.forget();
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }
}
