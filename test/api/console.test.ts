/**
 * The console over the real HTTP layer (server.ts + routes/console.ts,
 * listening on loopback) with the in-memory VM service and the Console
 * twin: the WebSocket protocol, bearer and ticket auth decided before the
 * upgrade, ownership, replay, several clients, resize, exit on stop, and
 * the web console page and its assets.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ConsoleWs, UpgradeRefused, runInConsole } from '../helpers/console-ws.js';
import { startConsoleApi } from '../helpers/console-api.js';

let t: Awaited<ReturnType<typeof startConsoleApi>>;
let base: string;
let tok: typeof t.tok;
let svc: typeof t.svc;
let api: typeof t.api;
let runningVm: typeof t.runningVm;

before(async () => {
  t = await startConsoleApi({ heartbeatMs: 60_000 });
  ({ base, tok, svc, api, runningVm } = t);
});

after(async () => {
  await t?.close();
});

const url = (name: string) => `${base}/v1/vms/${name}/console`;

async function refused(p: Promise<unknown>): Promise<UpgradeRefused> {
  const e = await p.then(
    () => assert.fail('the upgrade was accepted'),
    (err: unknown) => err,
  );
  assert.ok(e instanceof UpgradeRefused, String(e));
  return e;
}

test('bearer: hello, replay of the boot output, then a command round trip (echo $((6*7)) → 42)', async () => {
  const { vm } = await runningVm('calc');
  const c = await ConsoleWs.open(url('calc'), { token: tok.alice });
  assert.deepEqual(c.hello, { type: 'hello', vm: 'calc', replayBytes: c.hello!.replayBytes });
  await c.waitFor(/root@calc:~# $/, { from: 0 });
  assert.equal(c.replay.toString(), 'Debian GNU/Linux 12 ttyS0\r\nroot@calc:~# ');
  assert.equal(await runInConsole(c, 'echo $((6*7))'), '42\n');
  assert.deepEqual(svc.clientCounts(), { [vm.id]: 1 });
  await c.close();
});

test('persistence: a variable set before a disconnect is there after reconnecting, and recent output is replayed', async () => {
  const { guest } = await runningVm('keep');
  const a = await ConsoleWs.open(url('keep'), { token: tok.alice });
  await runInConsole(a, 'GREETING=hello-from-before');
  assert.equal(await runInConsole(a, 'echo marker-$GREETING'), 'marker-hello-from-before\n');
  await a.close();
  const b = await ConsoleWs.open(url('keep'), { token: tok.alice });
  assert.match(b.replay.toString(), /marker-hello-from-before/, 'the last output is replayed');
  assert.equal(await runInConsole(b, 'echo $GREETING'), 'hello-from-before\n');
  await b.close();
  // Also after the link went idle and was closed (a fresh seed from the console log): wait until the
  // service has really closed it (its idle timer, 50 ms here, may fire late on a loaded machine).
  await waitUntil(() => guest.links.size === 0);
  const c = await ConsoleWs.open(url('keep'), { token: tok.alice });
  assert.match(c.replay.toString(), /hello-from-before\r\n/);
  assert.equal(await runInConsole(c, 'echo $GREETING'), 'hello-from-before\n');
  await c.close();
});

test('several clients at once see the same output; either may type', async () => {
  const { vm } = await runningVm('shared');
  const a = await ConsoleWs.open(url('shared'), { token: tok.alice });
  const b = await ConsoleWs.open(url('shared'), { token: tok.admin });
  assert.deepEqual(svc.clientCounts()[vm.id], 2);
  a.send('echo from-a\r');
  await b.waitFor(/from-a\r\n/);
  b.send('echo from-b\r');
  await Promise.all([a.waitFor(/from-b\r\n# $/), b.waitFor(/from-b\r\n# $/)]);
  assert.equal(a.live, b.live, 'both saw identical bytes');
  await Promise.all([a.close(), b.close()]);
});

test('resize: the latest size reaches the guest (stty size), bad control messages get an error message, not a disconnect', async () => {
  const { vm, guest } = await runningVm('sized');
  const c = await ConsoleWs.open(url('sized'), { token: tok.alice });
  c.resize(132, 43);
  await waitUntil(() => guest.size.cols === 132);
  assert.equal(await runInConsole(c, 'stty size'), '43 132\n');
  c.control({ type: 'resize', cols: 0, rows: 10 });
  c.control({ type: 'launch-missiles' });
  c.ws.send('not json');
  const errors = await waitUntil(() => (c.controls.filter((m) => m.type === 'error').length === 3 ? c.controls.filter((m) => m.type === 'error') : null));
  assert.match(errors[0].message, /cols 2-1000 and rows 1-1000/);
  assert.match(errors[1].message, /unknown control message type "launch-missiles"/);
  assert.equal(c.ws.readyState, c.ws.OPEN);
  assert.deepEqual(guest.resizes, [{ cols: 132, rows: 43 }]);
  assert.ok(vm.id);
  await c.close();
});

test('auth is decided before the upgrade: none → 401, revoked → 401, another user → 404, admin → allowed', async () => {
  await runningVm('private');
  const none = await refused(ConsoleWs.open(url('private')));
  assert.equal(none.status, 401);
  assert.equal(none.body.code, 'unauthorized');
  assert.equal((none as any).headers['content-type'], 'application/problem+json');
  assert.equal((none as any).headers['www-authenticate'], 'Bearer realm="fcm"');
  const rev = await refused(ConsoleWs.open(url('private'), { token: tok.revoked }));
  assert.deepEqual([rev.status, rev.body.code], [401, 'unauthorized']);
  const junk = await refused(ConsoleWs.open(url('private'), { token: 'fcm_not-a-real-token-at-all-xxxxxxx' }));
  assert.equal(junk.status, 401);
  const bob = await refused(ConsoleWs.open(url('private'), { token: tok.bob }));
  assert.deepEqual([bob.status, bob.body.code], [404, 'vm_not_found']);
  assert.equal(bob.body.detail, 'No VM named "private".', 'indistinguishable from a VM that does not exist');
  const missing = await refused(ConsoleWs.open(url('nope'), { token: tok.alice }));
  assert.deepEqual([missing.status, missing.body.code], [404, 'vm_not_found']);
  const badName = await refused(ConsoleWs.open(url('Bad_Name'), { token: tok.alice }));
  assert.deepEqual([badName.status, badName.body.code], [400, 'validation_failed']);
  const admin = await ConsoleWs.open(url('private'), { token: tok.admin });
  await admin.close();
  // A plain GET (no Upgrade) gets the same auth answers, then a pointer to WebSockets.
  assert.equal((await api('GET', '/v1/vms/private/console', null)).status, 401);
  assert.equal((await api('GET', '/v1/vms/private/console', tok.bob)).status, 404);
  const plain = await api('GET', '/v1/vms/private/console', tok.alice);
  assert.deepEqual([plain.status, plain.body.code], [400, 'validation_failed']);
  assert.match(plain.body.detail, /WebSocket/);
});

test('tickets: single use, bound to user and VM, 60 s; another user cannot get one for my VM', async () => {
  await runningVm('browser');
  await runningVm('other');
  const tk = await api('POST', '/v1/vms/browser/console/tickets', tok.alice);
  assert.equal(tk.status, 201, JSON.stringify(tk.body));
  assert.match(tk.body.ticket, /^fct_[A-Za-z0-9_-]{32}$/);
  assert.equal(tk.body.webUrl, `/console/browser#ticket=${tk.body.ticket}`);
  const ttl = Date.parse(tk.body.expiresAt) - Date.now();
  assert.ok(ttl > 55_000 && ttl <= 60_000, `expires in ~60 s (${ttl})`);

  const c = await ConsoleWs.open(url('browser'), { ticket: tk.body.ticket });
  assert.equal(c.hello!.vm, 'browser');
  await c.close();
  const again = await refused(ConsoleWs.open(url('browser'), { ticket: tk.body.ticket }));
  assert.deepEqual([again.status, again.body.code], [401, 'unauthorized']);
  assert.match(again.body.detail, /unknown, used or expired/);

  // Bound to the VM: a ticket for "browser" does not open "other" (and is used up trying).
  const t2 = (await api('POST', '/v1/vms/browser/console/tickets', tok.alice)).body.ticket;
  assert.equal((await refused(ConsoleWs.open(url('other'), { ticket: t2 }))).status, 401);
  assert.equal((await refused(ConsoleWs.open(url('browser'), { ticket: t2 }))).status, 401);

  // Expiry.
  const t3 = (await api('POST', '/v1/vms/browser/console/tickets', tok.alice)).body.ticket;
  t.time.offsetMs = 61_000;
  try {
    assert.equal((await refused(ConsoleWs.open(url('browser'), { ticket: t3 }))).status, 401);
  } finally {
    t.time.offsetMs = 0;
  }

  // Bob can neither get a ticket for Alice's VM nor use a made-up one.
  const bob = await api('POST', '/v1/vms/browser/console/tickets', tok.bob);
  assert.deepEqual([bob.status, bob.body.code], [404, 'vm_not_found']);
  assert.equal((await api('POST', '/v1/vms/browser/console/tickets', null)).status, 401);
  assert.equal((await refused(ConsoleWs.open(url('browser'), { ticket: 'fct_madeupmadeupmadeupmadeup' }))).status, 401);
  // A bearer header wins over a ticket: a bad bearer is refused even with a valid ticket.
  const t4 = (await api('POST', '/v1/vms/browser/console/tickets', tok.alice)).body.ticket;
  assert.equal((await refused(ConsoleWs.open(url('browser'), { ticket: t4, token: tok.bob }))).status, 404);
});

test('attacker: 1000 tickets asked for by one user push out none of another user\'s (per-user cap, no shared table)', async () => {
  await runningVm('alices-web');
  await runningVm('bobs-web', tok.bob);
  const alice = (await api('POST', '/v1/vms/alices-web/console/tickets', tok.alice)).body.ticket;
  const bobs: string[] = [];
  for (let i = 0; i < 1000; i += 20) {
    const batch = await Promise.all(Array.from({ length: 20 }, () => api('POST', '/v1/vms/bobs-web/console/tickets', tok.bob)));
    for (const b of batch) {
      assert.equal(b.status, 201, JSON.stringify(b.body));
      bobs.push(b.body.ticket);
    }
  }
  const c = await ConsoleWs.open(url('alices-web'), { ticket: alice });
  assert.equal(c.hello!.vm, 'alices-web', 'alice\'s ticket survived');
  await c.close();
  // Bob's flood only cost bob: his oldest tickets are gone, his newest works.
  assert.equal((await refused(ConsoleWs.open(url('bobs-web'), { ticket: bobs[0]! }))).status, 401);
  const b = await ConsoleWs.open(url('bobs-web'), { ticket: bobs.at(-1)! });
  await b.close();
});

test('a stopped VM: refused with 409 invalid_state; stopping an attached VM sends exit and closes', async () => {
  await runningVm('stopper');
  const c = await ConsoleWs.open(url('stopper'), { token: tok.alice });
  const s = await api('POST', '/v1/vms/stopper/stop', tok.alice, { timeoutMs: 1000 });
  assert.equal(s.status, 200);
  const exit = await c.waitControl('exit');
  assert.equal(exit.reason, 'the VM stopped');
  assert.deepEqual(await c.closed, { code: 1000, reason: 'the VM stopped' });
  const r = await refused(ConsoleWs.open(url('stopper'), { token: tok.alice }));
  assert.deepEqual([r.status, r.body.code], [409, 'invalid_state']);
  assert.match(r.body.detail, /is stopped; the console needs it running: start it with fcm start stopper/);
});

test('deleting the VM ends the session too', async () => {
  await runningVm('goner');
  const c = await ConsoleWs.open(url('goner'), { token: tok.alice });
  assert.equal((await api('DELETE', '/v1/vms/goner', tok.alice)).status, 204);
  assert.match((await c.waitControl('exit')).reason, /stopped|deleted/);
  assert.equal((await c.closed).code, 1000);
});

test('the console link drops (hypervisor restarted): clients stay, the gap is caught up from the log, input works again', async () => {
  const { vm, guest } = await runningVm('relink');
  const c = await ConsoleWs.open(url('relink'), { token: tok.alice });
  await runInConsole(c, 'echo before');
  guest.hangup();
  guest.print('printed while nobody was connected\r\n');
  await c.waitFor(/printed while nobody was connected\r\n/);
  assert.equal(await runInConsole(c, 'echo after'), 'after\n');
  assert.equal((c.live.match(/printed while nobody/g) ?? []).length, 1, 'caught up exactly once');
  assert.equal(svc.clientCounts()[vm.id], 1);
  await c.close();
});

test('a client that cannot keep up is dropped (bounded buffering); the others keep going', async () => {
  const { vm, guest } = await runningVm('flood');
  const slow = await ConsoleWs.open(url('flood'), { token: tok.alice });
  const fast = await ConsoleWs.open(url('flood'), { token: tok.alice });
  // The slow client stops reading its socket: the server's queue for it grows.
  (slow.ws as any)._socket.pause();
  const chunk = Buffer.from('x'.repeat(64 * 1024 - 2) + '\r\n');
  for (let i = 0; i < 400 && svc.clientCounts()[vm.id] === 2; i++) {
    const want = fast.raw.length + chunk.length;
    guest.print(chunk);
    await waitUntil(() => fast.raw.length >= want);
  }
  assert.equal(svc.clientCounts()[vm.id], 1, 'the slow client was dropped (limit 256 KiB queued; the kernel socket buffers take some MiB first)');
  guest.print('end-of-flood\r\n');
  await fast.waitFor(/end-of-flood/);
  (slow.ws as any)._socket.resume();
  const closed = await slow.closed;
  // 4008 with a reason when the client reads its backlog in time; else the server cut it (1006).
  assert.ok(closed.code === 4008 || closed.code === 1006, String(closed.code));
  if (closed.code === 4008) assert.match(closed.reason, /too slow/);
  assert.equal(fast.ws.readyState, fast.ws.OPEN);
  await fast.close();
});

test('web console: the page, its local assets (no CDN) and strict headers', async () => {
  const page = await fetch(`${base}/console/calc`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type')!, /^text\/html/);
  const html = await page.text();
  assert.match(html, /<script src="\/console\/assets\/xterm\.js"><\/script>/);
  assert.doesNotMatch(html, /https?:\/\//, 'nothing loaded from elsewhere');
  const csp = page.headers.get('content-security-policy')!;
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'/);
  assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
  for (const [file, type] of [['xterm.js', /javascript/], ['xterm.css', /css/], ['console.js', /javascript/], ['console.css', /css/]] as const) {
    const r = await fetch(`${base}/console/assets/${file}`);
    assert.equal(r.status, 200, file);
    assert.match(r.headers.get('content-type')!, type);
    assert.ok((await r.text()).length > 100, file);
  }
  assert.equal((await fetch(`${base}/console/assets/..%2f..%2fpackage.json`)).status, 404);
  assert.equal((await fetch(`${base}/console/Not_A_Name`)).status, 404);
  // The ticket lives in the fragment: the page script reads it from location.hash.
  assert.match(await (await fetch(`${base}/console/assets/console.js`)).text(), /location\.hash/);
});

async function waitUntil<T>(fn: () => T | null | false | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
