/**
 * Issue 6's "done means", against a real daemon and a real QEMU guest in a
 * private network namespace (test/helpers/host-harness.ts): the console
 * WebSocket, persistence across disconnects and a daemon restart, resize
 * reaching the guest's tty, refusals for other users, the web console in
 * headless Chromium, `fcm console` under a real pty, and an admin taken off
 * the allowlist by a configuration reload (SIGHUP) losing their open console.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { spawnPty } from '../helpers/pty.js';
import { hashToken, newToken } from '../../daemon/core/tokens.js';
import { openDb } from '../../daemon/drivers/sqlite/db.js';
import { SqliteTokenStore } from '../../daemon/drivers/sqlite/sqlite-token-store.js';
import { SqliteUserStore } from '../../daemon/drivers/sqlite/sqlite-user-store.js';
import { BIN, ensureBuilt, tempDir } from '../e2e/cli-run.js';
import { ConsoleWs, UpgradeRefused, runInConsole } from '../helpers/console-ws.js';
import { CHROMIUM, launchChromium } from '../helpers/chromium.js';
import { hostSkipReason, startHostHarness, type HostHarness } from '../helpers/host-harness.js';

const skip = hostSkipReason();
const VM = 'shell';

describe('persistent consoles on a real VM', { skip: skip ?? false }, () => {
  let h: HostHarness;
  let bobToken = '';
  /** An admin by the FCM_CONFIG file (which a SIGHUP reads again), not by the environment. */
  let carolToken = '';
  const configFile = join(tempDir('fcm-con-cfg-'), 'fcm.json');
  const url = () => `${h.url}/v1/vms/${VM}/console`;
  const attach = () => ConsoleWs.open(url(), { token: h.token, timeoutMs: 30_000 });

  before(async () => {
    ensureBuilt();
    writeFileSync(configFile, JSON.stringify({ FCM_ADMIN_EMAILS: 'carol@example.com' }));
    h = await startHostHarness({ env: { FCM_ALLOWED_EMAILS: 'bob@example.com', FCM_CONFIG: configFile } });
    // Another user with a valid token of their own (as fcm login would mint it).
    const db = openDb(join(h.stateDir, 'fcm.db'));
    try {
      const bob = new SqliteUserStore(db).upsert({ issuer: 'https://issuer.test', subject: 'bob', email: 'bob@example.com', name: 'Bob' }, new Date().toISOString());
      bobToken = newToken();
      new SqliteTokenStore(db).insert({ id: 'tok_bob000000000', hash: hashToken(bobToken), userId: bob.id, kind: 'user', description: 'test', createdAt: new Date().toISOString(), expiresAt: null });
      const carol = new SqliteUserStore(db).upsert({ issuer: 'https://issuer.test', subject: 'carol', email: 'carol@example.com', name: 'Carol' }, new Date().toISOString());
      carolToken = newToken();
      new SqliteTokenStore(db).insert({ id: 'tok_carol0000000', hash: hashToken(carolToken), userId: carol.id, kind: 'user', description: 'test', createdAt: new Date().toISOString(), expiresAt: null });
    } finally {
      db.close();
    }
    const c = await h.api('POST', '/v1/vms', { name: VM, memoryMib: 256, swapMib: 64 });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    const w = await h.api('GET', `/v1/vms/${VM}/wait?state=running&timeout=240`);
    assert.equal(w.status, 200, JSON.stringify(w.body));
  });
  after(async () => {
    await h?.close();
  });

  test('echo $((6*7)) through the WebSocket reads 42', async () => {
    const c = await attach();
    c.send('\r');
    await c.waitFor(/# $/, { timeoutMs: 30_000 });
    assert.equal((await runInConsole(c, 'echo $((6*7))')).trim(), '42');
    await c.close();
  });

  test('a shell variable survives a disconnect; the reconnect replays recent output', async () => {
    const a = await attach();
    await runInConsole(a, 'FCM_PERSIST=still-here-7');
    assert.equal((await runInConsole(a, 'echo seen-$FCM_PERSIST')).trim(), 'seen-still-here-7');
    await a.close();
    const b = await attach();
    assert.match(b.replay.toString(), /seen-still-here-7/, 'recent output replayed');
    assert.ok(b.hello!.replayBytes <= 64 * 1024, 'bounded scrollback');
    assert.equal((await runInConsole(b, 'echo $FCM_PERSIST')).trim(), 'still-here-7');
    await b.close();
  });

  test('two clients at once: both see what either types', async () => {
    const a = await attach();
    const b = await attach();
    a.send('echo from-$((20+3))\r');
    await b.waitFor(/from-23\r\n/);
    await Promise.all([a.close(), b.close()]);
  });

  test('a resize message reaches the guest: stty size', async () => {
    const c = await attach();
    c.resize(101, 37);
    // The agent applies it asynchronously; poll with stty size.
    let size = '';
    for (let i = 0; i < 40 && size !== '37 101'; i++) {
      size = (await runInConsole(c, 'stty size')).trim();
      if (size !== '37 101') await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(size, '37 101');
    c.resize(80, 24);
    await c.close();
  });

  test('no token → 401; another user → 404 (before any upgrade); a ticket works once', async () => {
    const none = await ConsoleWs.open(url()).then(() => null, (e: unknown) => e);
    assert.ok(none instanceof UpgradeRefused);
    assert.deepEqual([none.status, none.body.code], [401, 'unauthorized']);
    const bob = await ConsoleWs.open(url(), { token: bobToken }).then(() => null, (e: unknown) => e);
    assert.ok(bob instanceof UpgradeRefused);
    assert.deepEqual([bob.status, bob.body.code], [404, 'vm_not_found']);
    assert.equal((await h.api('POST', `/v1/vms/${VM}/console/tickets`, undefined, bobToken)).status, 404);
    const t = await h.api('POST', `/v1/vms/${VM}/console/tickets`);
    assert.equal(t.status, 201);
    const c = await ConsoleWs.open(url(), { ticket: t.body.ticket });
    await c.close();
    const again = await ConsoleWs.open(url(), { ticket: t.body.ticket }).then(() => null, (e: unknown) => e);
    assert.ok(again instanceof UpgradeRefused && again.status === 401);
  });

  test('the daemon restarts: the same shell is still there, with its variable and its recent output', async () => {
    const a = await attach();
    await runInConsole(a, 'FCM_BEFORE_RESTART=$((1000+337))');
    await runInConsole(a, 'echo marker-before-restart');
    const closed = a.closed;
    await h.restartDaemon();
    const code = (await closed).code;
    assert.ok(code === 1001 || code === 1006, `clients are told to come back (${code})`);
    const b = await attach();
    assert.match(b.replay.toString(), /marker-before-restart/);
    assert.equal((await runInConsole(b, 'echo $FCM_BEFORE_RESTART')).trim(), '1337');
    // A crash (SIGKILL: no goodbye to QEMU's socket) works the same way.
    await runInConsole(b, 'echo marker-before-crash');
    await h.restartDaemon({ kill9: true });
    assert.equal((await b.closed).code, 1006);
    const c = await attach();
    assert.match(c.replay.toString(), /marker-before-crash/);
    assert.equal((await runInConsole(c, 'echo again-$FCM_BEFORE_RESTART')).trim(), 'again-1337');
    await c.close();
  });

  test('web console in headless Chromium: type a command, read its output on the page', { skip: existsSync(CHROMIUM) ? false : `needs ${CHROMIUM} (apt-get install chromium)` }, async () => {
    const t = await h.api('POST', `/v1/vms/${VM}/console/tickets`);
    assert.equal(t.status, 201);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1000, height: 600 } });
      // Network safety: the page may only talk to the daemon in the namespace.
      const origin = new URL(h.url).origin;
      const elsewhere: string[] = [];
      await page.route('**/*', (route) => {
        const u = new URL(route.request().url());
        if (u.origin === origin) return route.continue();
        elsewhere.push(u.href);
        return route.abort();
      });
      await page.goto(`${h.url}${t.body.webUrl}`);
      await page.waitForFunction(() => (globalThis as any).fcmConsole?.state === 'open', null, { timeout: 30_000 });
      assert.equal(new URL(page.url()).hash, '', 'the ticket is wiped from the address bar');
      await page.click('#term');
      await page.keyboard.type('echo web-$((6*7))');
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => /^web-42\s*$/m.test((globalThis as any).document.querySelector('.xterm-rows')?.innerText ?? ''), null, { timeout: 30_000 });
      const rows = await page.locator('.xterm-rows').innerText();
      assert.match(rows, /echo web-\$\(\(6\*7\)\)/);
      // The page sized the terminal to its window and told the guest.
      const cols = await page.evaluate(() => (globalThis as any).fcmConsole.term.cols as number);
      assert.ok(cols > 80, `fitted to 1000 px (${cols} cols)`);
      assert.deepEqual(elsewhere, []);
      assert.ok(!readFileSync(h.logPath, 'utf8').includes(t.body.ticket), 'the ticket never reaches the daemon log');
    } finally {
      await browser.close();
    }
  });

  test('fcm console under a real pty: type, read, detach with Ctrl-], terminal restored; it rides out a daemon restart', async () => {
    const dir = tempDir('fcm-con-host-');
    const p = spawnPty('/bin/sh', ['-c', `stty -g > before; '${process.execPath}' '${BIN}' console ${VM}; echo "rc=$?"; stty -g > after`], {
      cwd: dir,
      cols: 120,
      rows: 30,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, TERM: 'xterm-256color', NO_COLOR: '1', ...h.env },
    });
    let out = '';
    p.onData((d) => (out += d));
    const exited = new Promise<number>((r) => p.onExit((e) => r(e.exitCode)));
    const waitFor = async (re: RegExp, timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!re.test(out)) {
        if (Date.now() > deadline) throw new Error(`terminal never showed ${re}; it showed:\n${JSON.stringify(out.slice(-3000))}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      await waitFor(/Detach with Ctrl-\]/);
      p.write('\r');
      await waitFor(/# $/);
      p.write('echo pty-$((6*7))\r');
      await waitFor(/pty-42\r+\n/);
      p.write('FCM_CLI=via-cli; echo set-$((1+1))\r');
      await waitFor(/set-2\r+\n/);
      const mark = out.length;
      await h.restartDaemon();
      await waitFor(/\[fcm\] reconnected/, 60_000);
      assert.doesNotMatch(out.slice(mark), /pty-42/, 'output already shown is not shown again after reconnecting');
      p.write('echo got-$FCM_CLI\r');
      await waitFor(/got-via-cli\r+\n/);
      p.write('\x1d');
      await waitFor(/Detached from shell/);
      assert.equal(await exited, 0);
      assert.match(out, /rc=0/);
      assert.equal(readFileSync(join(dir, 'after'), 'utf8'), readFileSync(join(dir, 'before'), 'utf8'), 'terminal settings restored');
    } finally {
      p.kill('SIGKILL');
    }
  });

  test('an admin removed from the allowlist by a reload (SIGHUP): their fcm console is closed with the reason, their token stops; others stay', async () => {
    const dir = tempDir('fcm-con-revoke-');
    const p = spawnPty(process.execPath, [BIN, 'console', VM], {
      cwd: dir,
      cols: 100,
      rows: 30,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, TERM: 'xterm-256color', NO_COLOR: '1', FCM_HOST: h.url, FCM_TOKEN: carolToken },
    });
    let out = '';
    p.onData((d) => (out += d));
    const exited = new Promise<number>((r) => p.onExit((e) => r(e.exitCode)));
    const waitFor = async (re: RegExp, timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!re.test(out)) {
        if (Date.now() > deadline) throw new Error(`terminal never showed ${re}; it showed:\n${JSON.stringify(out.slice(-3000))}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const other = await attach();
    try {
      await waitFor(/Detach with Ctrl-\]/);
      p.write('echo carol-$((40+2))\r');
      await waitFor(/carol-42\r+\n/);
      writeFileSync(configFile, JSON.stringify({ FCM_ADMIN_EMAILS: '' }));
      process.kill(h.daemonPid()!, 'SIGHUP');
      await waitFor(/The server closed the console: your access was revoked/, 15_000);
      assert.equal(await exited, 1);
      assert.doesNotMatch(out, /reconnecting/, 'a revoked console does not try to come back');
      assert.equal((await h.api('GET', '/v1/vms', undefined, carolToken)).status, 401);
      assert.equal((await runInConsole(other, 'echo admin-$((1+1))')).trim(), 'admin-2', 'the admin token\'s console stays');
      assert.match(readFileSync(h.logPath, 'utf8'), /configuration reloaded: allowlists applied/);
    } finally {
      p.kill('SIGKILL');
      await other.close();
    }
  });

  test('stopping the VM tells attached clients {"type":"exit"} and closes; a stopped VM is refused with 409', async () => {
    const c = await attach();
    const s = await h.api('POST', `/v1/vms/${VM}/stop`, { timeoutMs: 30_000 });
    assert.equal(s.status, 200);
    assert.equal((await c.waitControl('exit', 60_000)).reason, 'the VM stopped');
    assert.equal((await c.closed).code, 1000);
    assert.match(c.live, /reboot|Restarting|power/i, 'the shutdown was visible on the console');
    const r = await ConsoleWs.open(url(), { token: h.token }).then(() => null, (e: unknown) => e);
    assert.ok(r instanceof UpgradeRefused);
    assert.deepEqual([r.status, r.body.code], [409, 'invalid_state']);
  });
});
