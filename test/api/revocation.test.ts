/**
 * Revocation is immediate, on the real HTTP layer with real sockets: what a
 * token holds open — console WebSockets (bearer and web-console ticket),
 * `logs -f`, a long poll — ends within seconds of revoking the token,
 * logging out, or the user leaving the allowlist (a configuration reload);
 * outstanding console tickets stop working; nobody else's sessions are
 * touched. The sessions' periodic sweep is off here: the events alone must
 * do it.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { ConsoleWs, UpgradeRefused } from '../helpers/console-ws.js';
import { startConsoleApi } from '../helpers/console-api.js';
import { memoryApi } from '../helpers/memory-api.js';
import { eventually } from '../helpers/wait.js';
import { makeTar } from '../helpers/tar.js';

let c: Awaited<ReturnType<typeof startConsoleApi>>;

before(async () => {
  c = await startConsoleApi({ heartbeatMs: 60_000 });
});
after(async () => {
  await c?.close();
});

const url = (name: string) => `${c.base}/v1/vms/${name}/console`;
/** A fresh token of a user (as a login would mint). */
const tokenOf = (email: string) => {
  const u = [...c.users.rows.values()].find((r) => r.email === email)!;
  return c.auth.accounts.mint(u, 'test').token;
};
const idOf = async (token: string) => (await c.api('GET', '/v1/auth/whoami', token)).body.token.id as string;

/** Resolves with the close code once the socket closes, or rejects after `ms` (the claim is "within seconds"). */
function closesWithin(w: ConsoleWs, ms: number): Promise<{ code: number; reason: string }> {
  return Promise.race([w.closed, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`still open after ${ms} ms`)), ms).unref())]);
}

async function stillOpen(w: ConsoleWs, marker: string): Promise<void> {
  w.send(`echo ${marker}\r`);
  await w.waitFor(new RegExp(`${marker}\\r\\n`));
}

test('revoking a token closes the consoles it opened (1008, after an error message saying why); other tokens\' consoles stay', async () => {
  await c.runningVm('rv-one');
  await c.runningVm('rv-bob', c.tok.bob);
  const mine = tokenOf('alice@example.com');
  const other = tokenOf('alice@example.com');
  const a1 = await ConsoleWs.open(url('rv-one'), { token: mine });
  const a2 = await ConsoleWs.open(url('rv-one'), { token: mine });
  const a3 = await ConsoleWs.open(url('rv-one'), { token: other });
  const b = await ConsoleWs.open(url('rv-bob'), { token: c.tok.bob });
  const admin = await ConsoleWs.open(url('rv-one'), { token: c.tok.admin });

  const del = await c.api('DELETE', `/v1/tokens/${await idOf(mine)}`, other);
  assert.equal(del.status, 204);
  for (const w of [a1, a2]) {
    const closed = await closesWithin(w, 5000);
    assert.deepEqual(closed, { code: 1008, reason: 'access revoked' });
    const said = w.controls.find((m) => m.type === 'error');
    assert.match(said?.message ?? '', /^Console closed: your access was revoked/);
  }
  for (const [w, m] of [[a3, 'a3'], [b, 'bob'], [admin, 'admin']] as const) await stillOpen(w, `still-${m}`);
  // Reconnecting with the revoked token is refused before any WebSocket exists.
  const again = await ConsoleWs.open(url('rv-one'), { token: mine }).then(() => null, (e: unknown) => e as UpgradeRefused);
  assert.equal(again?.status, 401);
  await Promise.all([a3.close(), b.close(), admin.close()]);
});

test('logout closes the consoles of the token it revokes, and its own 204 still arrives', async () => {
  await c.runningVm('rv-logout');
  const t = tokenOf('alice@example.com');
  const w = await ConsoleWs.open(url('rv-logout'), { token: t });
  const out = await c.api('POST', '/v1/auth/logout', t);
  assert.equal(out.status, 204, JSON.stringify(out.body));
  assert.equal((await closesWithin(w, 5000)).code, 1008);
});

test('the web console: revoking the token that asked for the ticket closes the page\'s WebSocket, and its unused tickets stop working', async () => {
  await c.runningVm('rv-web');
  const t = tokenOf('alice@example.com');
  const used = (await c.api('POST', '/v1/vms/rv-web/console/tickets', t)).body.ticket;
  const unused = (await c.api('POST', '/v1/vms/rv-web/console/tickets', t)).body.ticket;
  const keeper = tokenOf('alice@example.com');
  const othersTicket = (await c.api('POST', '/v1/vms/rv-web/console/tickets', keeper)).body.ticket;
  const page = await ConsoleWs.open(url('rv-web'), { ticket: used });
  assert.equal((await c.api('DELETE', `/v1/tokens/${await idOf(t)}`, c.tok.admin)).status, 204);
  assert.equal((await closesWithin(page, 5000)).code, 1008);
  const refused = await ConsoleWs.open(url('rv-web'), { ticket: unused }).then(() => null, (e: unknown) => e as UpgradeRefused);
  assert.deepEqual([refused?.status, refused?.body.code], [401, 'unauthorized']);
  const fine = await ConsoleWs.open(url('rv-web'), { ticket: othersTicket });
  await stillOpen(fine, 'other-ticket');
  await fine.close();
});

test('a user removed from the allowlist (configuration reload): all their consoles close at once and their tokens stop; others go on', async () => {
  await c.runningVm('rv-gone');
  await c.runningVm('rv-stays', c.tok.bob);
  const t1 = tokenOf('alice@example.com');
  const t2 = tokenOf('alice@example.com');
  const w1 = await ConsoleWs.open(url('rv-gone'), { token: t1 });
  const ticket = (await c.api('POST', '/v1/vms/rv-gone/console/tickets', t2)).body.ticket;
  const w2 = await ConsoleWs.open(url('rv-gone'), { ticket });
  const bob = await ConsoleWs.open(url('rv-stays'), { token: c.tok.bob });
  try {
    const ended = c.auth.reloadAccess({ emails: ['bob@example.com'], domains: [], adminEmails: [] });
    assert.ok(ended >= 2, `ended ${ended}`);
    assert.equal((await closesWithin(w1, 5000)).code, 1008);
    assert.equal((await closesWithin(w2, 5000)).code, 1008);
    await stillOpen(bob, 'bob-stays');
    assert.equal((await c.api('GET', '/v1/vms', t1)).status, 401);
    assert.equal((await c.api('GET', '/v1/vms', c.tok.alice)).status, 401, 'every token of hers');
  } finally {
    c.auth.reloadAccess({ emails: ['alice@example.com', 'bob@example.com'], domains: [], adminEmails: [] });
    await bob.close();
  }
  assert.equal((await c.api('GET', '/v1/vms', c.tok.alice)).status, 200, 'back on the list: back in');
});

test('an admin demoted by a reload loses the consoles they opened on others\' VMs', async () => {
  await c.runningVm('rv-demote', c.tok.bob);
  c.auth.reloadAccess({ emails: ['alice@example.com', 'bob@example.com'], domains: [], adminEmails: ['carol@example.com'] });
  c.users.upsert({ issuer: 'https://i.test', subject: 'carol@example.com', email: 'carol@example.com', name: null }, new Date().toISOString());
  const carol = tokenOf('carol@example.com');
  try {
    const w = await ConsoleWs.open(url('rv-demote'), { token: carol });
    c.auth.reloadAccess({ emails: ['alice@example.com', 'bob@example.com', 'carol@example.com'], domains: [], adminEmails: [] });
    assert.equal((await closesWithin(w, 5000)).code, 1008);
    assert.equal((await c.api('GET', '/v1/vms/rv-demote', carol)).status, 404, 'now a user like the others');
  } finally {
    c.auth.reloadAccess({ emails: ['alice@example.com', 'bob@example.com'], domains: [], adminEmails: [] });
  }
});

test('logs -f and a long poll end within seconds of revoking the token; another user\'s stream goes on', async () => {
  const a = await memoryApi();
  const base = await a.app.listen({ host: '127.0.0.1', port: 0 });
  /** Streams still open (a failed assertion must not leave app.close() waiting on them). */
  const open: { destroy(): void }[] = [];
  try {
    const alice = a.loginAs('alice@example.com');
    const bob = a.loginAs('bob@example.com');
    for (const [who, name] of [[alice, 'rv-logs'], [bob, 'rv-logs-bob']] as const) {
      const vm = (await a.app.inject({ method: 'POST', url: '/v1/vms', headers: who.headers, payload: { name } })).json();
      assert.equal((await a.app.inject({ url: `/v1/vms/${name}/wait?state=running&timeout=5`, headers: who.headers })).statusCode, 200);
      // A release, so the log has a line (a streamed answer's headers go out with its first bytes).
      const p = { userId: who.user.id, email: who.user.email, admin: false };
      await a.deploys.deploys.deploy(p, vm.id, { commit: '1'.repeat(40), ref: 'refs/heads/main' }, Readable.from([makeTar({ Procfile: 'web: python3 app.py\n', 'app.py': '' })]), () => {});
    }
    /** A streaming GET: resolves `ended` when the response ends or the connection drops. */
    const stream = (path: string, token: string) =>
      new Promise<{ status: number; ended: Promise<string> }>((resolve, reject) => {
        const req = request(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } }, (res) => {
          open.push(req);
          const ended = new Promise<string>((r) => {
            res.on('end', () => r('end'));
            res.on('error', () => r('dropped'));
            res.on('aborted', () => r('dropped'));
            res.socket.on('close', () => r('closed'));
          });
          res.resume();
          resolve({ status: res.statusCode ?? 0, ended });
        });
        req.on('error', reject);
        req.end();
      });
    const logs = await stream('/v1/vms/rv-logs/logs?follow=true', alice.token);
    assert.equal(logs.status, 200);
    const bobLogs = await stream('/v1/vms/rv-logs-bob/logs?follow=true', bob.token);
    // A long poll for a state the VM will not reach (up to 10 minutes).
    const held = a.sessions.size;
    const poll = new Promise<string>((resolve) => {
      const req = request(`${base}/v1/vms/rv-logs/wait?state=stopped&timeout=600`, { headers: alice.headers }, (res) => {
        res.resume();
        res.on('end', () => resolve(`answered ${res.statusCode}`));
      });
      req.on('error', () => resolve('dropped'));
      req.end();
    });
    // Revoke only once the daemon holds the poll open (authenticated): a fixed pause raced its arrival.
    await eventually('the long poll held open by the daemon', async () => a.sessions.size, (n) => n > held, 10_000, 10);
    const id = (await a.app.inject({ url: '/v1/auth/whoami', headers: alice.headers })).json().token.id;
    assert.equal((await a.app.inject({ method: 'DELETE', url: `/v1/tokens/${id}`, headers: a.auth })).statusCode, 204);
    const timeout = (p: Promise<string>) => Promise.race([p, new Promise<string>((r) => setTimeout(() => r('still open after 5 s'), 5000).unref())]);
    assert.notEqual(await timeout(logs.ended), 'still open after 5 s');
    assert.equal(await timeout(poll), 'dropped');
    assert.equal(await Promise.race([bobLogs.ended, new Promise<string>((r) => setTimeout(() => r('open'), 500))]), 'open', 'bob\'s stream is not touched');
  } finally {
    for (const r of open) r.destroy();
    await a.app.close();
    await a.h.service.close();
  }
});
