/**
 * Console core: the scrollback rules, control-message parsing, tickets, and
 * ConsoleService behaviour around the link (the replay seam, catch-up after
 * a drop, backpressure, resize coalescing, idle close, shutdown) with the
 * Console twin and a fake transport.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { CLOSE, parseClientControl, type ServerControl } from '../../daemon/core/console.js';
import { type Console, type ConsoleLink, type ConsoleTarget, type TermSize } from '../../daemon/core/ports/console.js';
import { newSince } from '../../api/console-replay.js';
import { Scrollback, overlapLength, tailAtLineBoundary } from '../../daemon/core/console-scrollback.js';
import { ConsoleService, type ConsoleClient, type ConsoleVms } from '../../daemon/core/console-service.js';
import { ConsoleTickets } from '../../daemon/core/console-tickets.js';
import { FcmError } from '../../daemon/core/errors.js';
import type { Principal, VmRecord, VmState } from '../../daemon/core/model.js';
import { MemoryConsole } from '../../daemon/drivers/memory/memory-console.js';

const B = (s: string) => Buffer.from(s);
const ALICE: Principal = { userId: 'u_alice', email: 'alice@example.com', admin: false };
const BOB: Principal = { userId: 'u_bob', email: 'bob@example.com', admin: false };

test('tailAtLineBoundary: whole when short, else from the first line start inside the window', () => {
  assert.equal(tailAtLineBoundary(B('abc\ndef\n'), 100).toString(), 'abc\ndef\n');
  assert.equal(tailAtLineBoundary(B('line one\nline two\n'), 12).toString(), 'line two\n');
  assert.equal(tailAtLineBoundary(B('line one\nline two\n'), 9).toString(), 'line two\n', 'window starts right after a newline');
  assert.equal(tailAtLineBoundary(B('xxxxxxxxxxxxxxxx'), 4).toString(), 'xxxx', 'no newline: raw window');
  assert.equal(tailAtLineBoundary(B('aaaa\nbbbbbbbbbb\n'), 6).toString(), 'bbbbb\n', 'only the final newline: raw window');
});

test('overlapLength and newSince: joining a log tail and a live stream without gaps or repeats', () => {
  assert.equal(overlapLength(B('boot\nprompt# ec'), B('xyz')), 0);
  assert.equal(overlapLength(B('boot\nprompt# ec'), B('# echo hi')), 4, 'the "# ec" already in the log is dropped');
  assert.equal(overlapLength(B('boot\nprompt# ec'), B('prompt# ec')), 10, 'all of it was logged');
  assert.equal(overlapLength(B('boot\nprompt# ec'), B('cho hi')), 1, 'longest match: a coincidental 1-byte overlap counts (only matters in a µs race)');
  assert.equal(overlapLength(B('abc'), B('abcdef')), 3);
  assert.equal(newSince(B(''), B('all new'))!.toString(), 'all new');
  assert.equal(newSince(B('old stuff\nprompt# '), B('old stuff\nprompt# gap bytes\n'))!.toString(), 'gap bytes\n');
  assert.equal(newSince(B('old stuff\nprompt# '), B('stuff\nprompt# gap\n'), 8)!.toString(), 'gap\n', 'only the last `anchor` bytes need to be found');
  assert.equal(newSince(B('something else entirely'), B('unrelated')), null);
});

test('Scrollback keeps ≈maxBytes from a line boundary, whatever the chunking', () => {
  const sb = new Scrollback(32);
  sb.reset(B('seed line\n'));
  for (let i = 0; i < 50; i++) sb.append(B(`line ${String(i).padStart(2, '0')}\n`));
  const snap = sb.snapshot().toString();
  assert.ok(snap.length <= 32, snap);
  assert.ok(snap.endsWith('line 49\n'));
  assert.match(snap, /^line \d\d\n/, 'starts at a line');
  assert.equal(sb.length, snap.length);
});

test('parseClientControl: resize with sane integers; everything else is an error message', () => {
  assert.deepEqual(parseClientControl('{"type":"resize","cols":120,"rows":40}'), { type: 'resize', cols: 120, rows: 40 });
  for (const bad of ['{"type":"resize","cols":1,"rows":40}', '{"type":"resize","cols":100,"rows":1001}', '{"type":"resize","cols":"80","rows":24}', '{"type":"resize","cols":80.5,"rows":24}']) {
    assert.ok('error' in parseClientControl(bad), bad);
  }
  assert.match((parseClientControl('nope') as { error: string }).error, /JSON/);
  assert.match((parseClientControl('[1]') as { error: string }).error, /objects/);
  assert.match((parseClientControl('{"type":"exec"}') as { error: string }).error, /unknown control message type "exec"/);
});

test('tickets: single use, expire, bound to the VM name, only hashes kept, bounded per user', () => {
  let now = 1_000_000;
  const t = new ConsoleTickets({ ttlMs: 60_000, perUser: 3, now: () => now });
  const a = t.issue(ALICE, { id: 'vm_1', name: 'one' });
  assert.equal(a.expiresAt.getTime(), now + 60_000);
  assert.doesNotMatch(JSON.stringify([...(t as any).byHash.keys()]), new RegExp(a.ticket), 'stored hashed');
  assert.deepEqual(t.redeem(a.ticket, 'one'), { principal: ALICE, vmId: 'vm_1' });
  assert.equal(t.redeem(a.ticket, 'one'), null, 'used up');
  const b = t.issue(ALICE, { id: 'vm_1', name: 'one' });
  assert.equal(t.redeem(b.ticket, 'two'), null, 'another VM');
  assert.equal(t.redeem(b.ticket, 'one'), null, 'the wrong-VM attempt used it up');
  const c = t.issue(ALICE, { id: 'vm_1', name: 'one' });
  now += 60_000;
  assert.equal(t.redeem(c.ticket, 'one'), null, 'expired');
  for (let i = 0; i < 10; i++) t.issue(BOB, { id: 'vm_2', name: 'two' });
  assert.equal(t.sizeOf(BOB.userId), 3, 'bounded per user');
  assert.equal(t.size, 3);
});

test('attacker: one user issuing 1000 tickets evicts only their own; another user\'s ticket still works', () => {
  const now = 1_000_000;
  const t = new ConsoleTickets({ ttlMs: 60_000, perUser: 20, now: () => now });
  const alices = [t.issue(ALICE, { id: 'vm_1', name: 'one' }), t.issue(ALICE, { id: 'vm_1', name: 'one' })];
  const bobs = Array.from({ length: 1000 }, () => t.issue(BOB, { id: 'vm_2', name: 'two' }));
  assert.equal(t.sizeOf(BOB.userId), 20);
  assert.equal(t.sizeOf(ALICE.userId), 2);
  assert.equal(t.size, 22, 'nothing shared to fill');
  assert.equal(t.redeem(bobs[0]!.ticket, 'two'), null, 'bob\'s oldest went');
  assert.deepEqual(t.redeem(bobs.at(-1)!.ticket, 'two'), { principal: BOB, vmId: 'vm_2' }, 'bob\'s newest works');
  for (const a of alices) assert.deepEqual(t.redeem(a.ticket, 'one'), { principal: ALICE, vmId: 'vm_1' });
});

// ---- ConsoleService ---------------------------------------------------------

class FakeVms implements ConsoleVms {
  readonly vms = new Map<string, VmRecord>();
  private listeners: ((id: string) => void)[] = [];
  add(name: string, owner = ALICE.userId, state: VmState = 'running'): VmRecord {
    const vm = { id: `vm_${name}`, name, owner, state, ip: '10.0.0.2', lastError: null } as unknown as VmRecord;
    this.vms.set(name, vm);
    return vm;
  }
  get(p: Principal, name: string): VmRecord {
    const vm = this.vms.get(name);
    if (!vm || (!p.admin && vm.owner !== p.userId)) throw new FcmError('vm_not_found', `No VM named "${name}".`);
    return vm;
  }
  onChange(l: (id: string) => void) {
    this.listeners.push(l);
    return () => (this.listeners = this.listeners.filter((x) => x !== l));
  }
  set(name: string, patch: Partial<VmRecord>) {
    const vm = { ...this.vms.get(name)!, ...patch } as VmRecord;
    this.vms.set(name, vm);
    for (const l of this.listeners) l(vm.id);
  }
  remove(name: string) {
    const id = this.vms.get(name)!.id;
    this.vms.delete(name);
    for (const l of this.listeners) l(id);
  }
}

class FakeClient implements ConsoleClient {
  bytes = '';
  controls: ServerControl[] = [];
  closedWith: [number, string] | null = null;
  bufferedBytes = 0;
  paused = false;
  sendBytes(b: Buffer) {
    this.bytes += b.toString();
  }
  sendControl(m: ServerControl) {
    this.controls.push(m);
  }
  close(code: number, reason: string) {
    this.closedWith = [code, reason];
  }
  pauseInput() {
    this.paused = true;
  }
  resumeInput() {
    this.paused = false;
  }
}

function setup(config: Parameters<typeof makeService>[2] = {}) {
  const vms = new FakeVms();
  const mem = new MemoryConsole();
  return { vms, mem, svc: makeService(vms, mem, config) };
}
function makeService(vms: ConsoleVms, console: Console, config: Record<string, number> = {}) {
  return new ConsoleService({ console, vms, log: pino({ level: 'silent' }), config: { idleCloseMs: 30, reconnectMaxMs: 50, ...config } });
}
const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));
async function until(fn: () => boolean, what: string, ms = 2000) {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await tick();
  }
}

test('authorize: ownership (404 for others), and only starting/running VMs', () => {
  const { vms, svc } = setup();
  vms.add('mine');
  vms.add('off', ALICE.userId, 'stopped');
  assert.equal(svc.authorize(ALICE, 'mine').name, 'mine');
  assert.throws(() => svc.authorize(BOB, 'mine'), (e: FcmError) => e.code === 'vm_not_found');
  assert.throws(() => svc.authorize({ ...BOB, admin: true }, 'off'), (e: FcmError) => e.code === 'invalid_state' && /start it with fcm start off/.test(e.message));
  svc.close();
});

test('the replay seam: bytes that reach the socket while the log is read are neither lost nor repeated', async () => {
  const vms = new FakeVms();
  const vm = vms.add('seam');
  const mem = new MemoryConsole();
  const g = mem.guest(vm.id);
  g.print('boot\r\nprompt# ');
  // A console whose log read is slow: output printed meanwhile is both in the log and on the link.
  const slow: Console = {
    connect: (t) => mem.connect(t),
    tail: async (t, n) => {
      g.print('X');
      const tail = await mem.tail(t, n);
      g.print('Y');
      return tail;
    },
    resize: (t, s) => mem.resize(t, s),
  };
  const svc = makeService(vms, slow);
  const a = new FakeClient();
  await svc.attach(vm, a);
  assert.equal(a.bytes, 'boot\r\nprompt# XY');
  assert.deepEqual(a.controls[0], { type: 'hello', vm: 'seam', replayBytes: 'boot\r\nprompt# XY'.length });
  g.print('Z');
  const b = new FakeClient();
  await svc.attach(vm, b);
  assert.equal(b.bytes, 'boot\r\nprompt# XYZ');
  assert.equal(a.bytes, 'boot\r\nprompt# XYZ');
  svc.close();
});

test('input pauses every client while the console is not taking it, and resumes on drain', async () => {
  const { vms, mem, svc } = setup();
  const vm = vms.add('slowguest');
  const a = new FakeClient();
  const b = new FakeClient();
  const att = await svc.attach(vm, a);
  await svc.attach(vm, b);
  mem.guest(vm.id).stallAfterBytes = 10;
  att.input(B('0123456789abc'));
  assert.equal(a.paused && b.paused, true);
  const c = new FakeClient();
  await svc.attach(vm, c);
  assert.equal(c.paused, true, 'a client joining meanwhile starts paused');
  mem.unstall(vm.id);
  assert.equal(a.paused || b.paused || c.paused, false);
  svc.close();
});

test('resize: the latest wins, one agent call at a time, a failure is not retried in a loop; re-applied after a reboot', async () => {
  const vms = new FakeVms();
  const vm = vms.add('sz');
  const calls: TermSize[] = [];
  let release: (() => void) | null = null;
  let fail = false;
  const mem = new MemoryConsole();
  const console: Console = {
    connect: (t) => mem.connect(t),
    tail: (t, n) => mem.tail(t, n),
    resize: (_t: ConsoleTarget, s: TermSize) => {
      calls.push(s);
      return new Promise<void>((res, rej) => (release = () => (fail ? rej(new Error('agent down')) : res())));
    },
  };
  const svc = makeService(vms, console);
  const att = await svc.attach(vm, new FakeClient());
  att.control({ type: 'resize', cols: 100, rows: 30 });
  att.control({ type: 'resize', cols: 110, rows: 31 });
  att.control({ type: 'resize', cols: 120, rows: 32 });
  assert.deepEqual(calls, [{ cols: 100, rows: 30 }], 'one in flight');
  release!();
  await until(() => calls.length === 2, 'the latest follows');
  assert.deepEqual(calls[1], { cols: 120, rows: 32 }, 'intermediate sizes skipped');
  fail = true;
  release!();
  await tick(20);
  assert.equal(calls.length, 2, 'no retry loop after a failure');
  att.control({ type: 'resize', cols: 120, rows: 32 });
  await tick(5);
  assert.equal(calls.length, 2, 'the same size is not sent again');
  // The guest rebooted (starting → running): its tty is 80x24 again, so the size is re-applied.
  fail = false;
  vms.set('sz', { state: 'starting' });
  vms.set('sz', { state: 'running' });
  await until(() => calls.length === 3, 're-applied');
  assert.deepEqual(calls[2], { cols: 120, rows: 32 });
  release!();
  svc.close();
});

test('link lifecycle: opened for the first client, closed after the idle delay, reopened (and re-seeded) on demand', async () => {
  const { vms, mem, svc } = setup({ idleCloseMs: 30 });
  const vm = vms.add('idle');
  const g = mem.guest(vm.id);
  g.print('hello\r\n');
  const a = new FakeClient();
  const att = await svc.attach(vm, a);
  assert.equal(g.links.size, 1);
  att.detach();
  await tick(10);
  assert.equal(g.links.size, 1, 'kept for a quick reconnect');
  await until(() => g.links.size === 0, 'closed when idle');
  g.print('while away\r\n');
  const b = new FakeClient();
  await svc.attach(vm, b);
  assert.equal(b.bytes, 'hello\r\nwhile away\r\n');
  assert.equal(g.links.size, 1);
  svc.close();
  assert.deepEqual(b.closedWith, [CLOSE.goingAway, 'the fcm daemon is restarting; reconnect']);
  assert.equal(g.links.size, 0);
});

test('a console that is not there yet (VM starting): the client attaches, and the link comes when it can', async () => {
  const { vms, mem, svc } = setup({ reconnectMaxMs: 20 });
  const vm = vms.add('early', ALICE.userId, 'starting');
  const g = mem.guest(vm.id);
  g.up = false;
  const a = new FakeClient();
  await svc.attach(vm, a);
  assert.equal(a.controls[0]!.type, 'hello');
  g.up = true;
  await until(() => g.links.size === 1, 'connected by the retry');
  g.print('[    0.000000] Linux version 6.1\r\n');
  assert.match(a.bytes, /Linux version/);
  svc.close();
});

test('end of the VM: exit with a reason for failed and deleted VMs; no exit while merely stopping', async () => {
  const { vms, svc } = setup();
  const v1 = vms.add('f');
  const v2 = vms.add('d');
  const a = new FakeClient();
  const b = new FakeClient();
  await svc.attach(v1, a);
  await svc.attach(v2, b);
  vms.set('f', { state: 'stopping' });
  assert.equal(a.closedWith, null, 'the shutdown is still worth watching');
  vms.set('f', { state: 'failed', lastError: 'the hypervisor process exited unexpectedly' });
  assert.deepEqual(a.controls.at(-1), { type: 'exit', reason: 'the VM failed: the hypervisor process exited unexpectedly' });
  assert.equal(a.closedWith![0], CLOSE.normal);
  vms.remove('d');
  assert.deepEqual(b.controls.at(-1), { type: 'exit', reason: 'the VM was deleted' });
  assert.deepEqual(svc.clientCounts(), {});
  svc.close();
});

test('a slow client is dropped with 4008; the rest keep receiving', async () => {
  const { vms, mem, svc } = setup({ maxClientBufferBytes: 100 });
  const vm = vms.add('slow');
  const slow = new FakeClient();
  const ok = new FakeClient();
  await svc.attach(vm, slow);
  await svc.attach(vm, ok);
  slow.bufferedBytes = 101;
  mem.guest(vm.id).print('more output\r\n');
  assert.equal(slow.closedWith![0], CLOSE.tooSlow);
  assert.doesNotMatch(slow.bytes, /more output/);
  assert.match(ok.bytes, /more output/);
  assert.equal(svc.clientCounts()[vm.id], 1);
  svc.close();
});
