/**
 * Idle sleep: a VM with sleepAfter falls asleep once nothing has used it
 * that long — requests (by host, from Caddy's access log), a console, a
 * deploy — and never before it has run that long; and Caddy's access log
 * lines, received over a real loopback socket, are what counts as a request.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { pino } from 'pino';
import { IdleSleeper } from '../../daemon/core/idle-sleep.js';
import type { VmRecord } from '../../daemon/core/model.js';
import { CaddyAccessLog } from '../../daemon/drivers/caddy-access-log.js';
import { MemoryRequestActivity } from '../../daemon/drivers/memory/memory-host.js';
import { ALICE, DEFAULTS, ROOT, memoryService } from '../helpers/memory-service.js';

test('a VM with sleepAfter sleeps after that long without requests, console or deploy; without it, never', async () => {
  let now = 1_000_000;
  const h = memoryService({ sleep: true });
  const activity = new MemoryRequestActivity();
  const busy = new Set<string>();
  const idle = new IdleSleeper({
    vms: { list: () => h.store.list(), onChange: (l) => h.service.onChange(l), get: (id) => h.store.get(id) },
    activity,
    hostsOf: (vm: VmRecord) => [`${vm.name}.example.test`, ...vm.verifiedDomains],
    busy: (vm) => busy.has(vm.id),
    sleep: (vm) => h.service.sleep(ROOT, vm.name),
    log: pino({ level: 'silent' }),
    now: () => now,
    intervalMs: 60_000,
  });
  await h.service.create(ALICE, { ...DEFAULTS, name: 'napper', sleepAfterSec: 60 });
  await h.service.create(ALICE, { ...DEFAULTS, name: 'awake' });
  await h.service.wait(ALICE, 'napper', 'running', 1000);
  await h.service.wait(ALICE, 'awake', 'running', 1000);
  const state = (n: string) => h.service.get(ALICE, n).state;

  now += 59_000;
  await idle.tick();
  assert.equal(state('napper'), 'running', 'not before it has run sleepAfter');
  activity.last.set('napper.example.test', now); // a request
  now += 59_000;
  await idle.tick();
  assert.equal(state('napper'), 'running', 'a request restarts the idle clock');
  const vm = h.service.get(ALICE, 'napper');
  busy.add(vm.id); // a console attached
  now += 120_000;
  await idle.tick();
  assert.equal(state('napper'), 'running', 'a console or deploy keeps it awake');
  busy.delete(vm.id);
  now += 59_000;
  await idle.tick();
  assert.equal(state('napper'), 'running');
  now += 1_000;
  await idle.tick();
  assert.equal(state('napper'), 'sleeping', 'idle for sleepAfter: asleep');
  assert.equal(state('awake'), 'running', 'no sleepAfter: never');

  // Woken, it gets a full sleepAfter again before it can fall asleep.
  await h.service.start(ALICE, 'napper');
  await h.service.wait(ALICE, 'napper', 'running', 1000);
  now += 30_000;
  await idle.tick();
  assert.equal(state('napper'), 'running');
  now += 30_000;
  await idle.tick();
  assert.equal(state('napper'), 'sleeping');
  idle.close();
});

test('a VM that cannot sleep is tried again after another idle period, not at every check', async () => {
  let now = 0;
  const h = memoryService(); // no snapshots: sleep answers not_implemented
  let tries = 0;
  const idle = new IdleSleeper({
    vms: { list: () => h.store.list(), onChange: (l) => h.service.onChange(l), get: (id) => h.store.get(id) },
    activity: new MemoryRequestActivity(),
    hostsOf: () => [],
    busy: () => false,
    sleep: (vm) => (tries++, h.service.sleep(ROOT, vm.name)),
    log: pino({ level: 'silent' }),
    now: () => now,
    intervalMs: 60_000,
  });
  await h.service.create(ALICE, { ...DEFAULTS, name: 'fc', sleepAfterSec: 10 });
  await h.service.wait(ALICE, 'fc', 'running', 1000);
  now += 10_000;
  await idle.tick();
  await idle.tick();
  assert.equal(tries, 1);
  now += 10_000;
  await idle.tick();
  assert.equal(tries, 2);
  assert.equal(h.service.get(ALICE, 'fc').state, 'running');
  idle.close();
});

test("Caddy's access log over loopback: each host's last request time, nothing else; junk is skipped", async () => {
  let now = 5;
  const log = new CaddyAccessLog(() => now);
  await log.listen('127.0.0.1', 0);
  const port = ((log as unknown as { server: { address(): { port: number } } }).server).address().port;
  const sock = connect(port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  const seen = async (host: string) => {
    for (let i = 0; i < 200 && log.lastRequestAt(host) === null; i++) await new Promise((r) => setTimeout(r, 10));
  };
  try {
  // A line as Caddy 2.6 writes it (abridged), split across writes; then junk; then another host.
  const line = JSON.stringify({ level: 'info', ts: 1, logger: 'http.log.access.fcm_access', msg: 'handled request', request: { remote_ip: '10.0.0.1', proto: 'HTTP/2.0', method: 'GET', host: 'Napper.1-2-3-4.sslip.io:443', uri: '/secret?token=x', headers: { Cookie: ['s=1'] } }, status: 200 });
  sock.write(line.slice(0, 40));
  sock.write(`${line.slice(40)}\nnot json\n{"request":{"host":42}}\n`);
  await seen('napper.1-2-3-4.sslip.io');
  now = 9;
  sock.write(`${JSON.stringify({ request: { host: 'www.example.com' } })}\n`);
  await seen('www.example.com');
  assert.equal(log.lastRequestAt('napper.1-2-3-4.sslip.io'), 5, 'lower case, port dropped');
  assert.equal(log.lastRequestAt('www.example.com'), 9);
  assert.equal(log.lastRequestAt('42'), null);
  } finally {
    sock.destroy();
    await log.close();
  }
});
