/**
 * The dashboard in real headless Chromium, end to end on loopback: the
 * daemon's real HTTP layer over in-memory VM services (the twin hypervisor:
 * no guests here — test/host/console.test.ts drives a real VM's web console),
 * a real OpenID Connect provider (oidc-provider) for the browser login, real
 * git over smart HTTP for the deploy, and the console twin behind the real
 * web console page. The test logs in through the provider, creates a VM and
 * sees it running, sees a change made elsewhere without reloading, deploys
 * with git and reads the release's build log, sets a config var (hidden until
 * shown), follows the logs, opens the console and types in it, rolls back,
 * destroys with confirmation, and signs out; another user's VM never appears,
 * and that user's own session shows only theirs. The page never violates its
 * CSP and never asks for anything outside the daemon and the provider.
 * Screenshots of each step are kept (FCM_TEST_ARTIFACTS, default under the
 * system temp dir; the path is printed).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ensureGitUser } from '../../daemon/drivers/git/git-user.js';
import type { MemoryAppRuntime } from '../../daemon/drivers/memory/memory-deploys.js';
import { memoryApi } from '../helpers/memory-api.js';
import { CHROMIUM, launchChromium, screenshotDir } from '../helpers/chromium.js';
import { startOidcProvider, type TestProvider } from '../helpers/oidc-provider.js';
import { onFreePort } from '../helpers/ports.js';

const reason = process.getuid?.() !== 0 ? 'needs root (the git user runs the pushes)' : !existsSync(CHROMIUM) ? `needs ${CHROMIUM} (apt-get install chromium)` : !existsSync('/usr/bin/git') ? 'needs git' : null;

function sh(cmd: string, args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { ...o, timeout: 120_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

describe('the dashboard in headless Chromium', { skip: reason ?? false }, () => {
  let base: string;
  let provider: TestProvider;
  let api: Awaited<ReturnType<typeof memoryApi>>;
  let url: string;
  let browser: Browser;
  let shots: string;
  /** Requests the daemon's pages made to anywhere else (aborted, never sent). */
  const elsewhere: string[] = [];
  const cspViolations: string[] = [];
  const pageErrors: string[] = [];

  before(async () => {
    base = mkdtempSync('/run/fcm-e2e-dash-');
    const gitUser = await ensureGitUser('fcm-git');
    chownSync(base, 0, gitUser.gid);
    chmodSync(base, 0o710);
    // The daemon's URL is in the provider's redirect URIs and the daemon's configuration before it
    // listens: a port chosen in advance, and if something took it meanwhile both start again.
    await onFreePort(async (port) => {
      url = `http://127.0.0.1:${port}`;
      provider = await startOidcProvider({
        redirectUris: [`${url}/v1/auth/callback`],
        accounts: { alice: { email: 'alice@example.com', email_verified: true, name: 'Alice' }, mallory: { email: 'mallory@evil.example', email_verified: true, name: 'Mallory' } },
      });
      let a: typeof api | undefined;
      try {
        a = await memoryApi({
          git: { stateDir: join(base, 'state') },
          console: true,
          publicUrl: url,
          auth: { oidc: { issuer: provider.issuer, clientId: provider.clientId, clientSecret: provider.clientSecret, deviceClientId: null, deviceClientSecret: null, googleHostedDomains: false } },
        });
        await a.app.listen({ host: '127.0.0.1', port });
        api = a;
      } catch (e) {
        await a?.app.close();
        await provider.close();
        throw e;
      }
    });
    shots = screenshotDir('dashboard');
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await api?.app.close();
    await provider?.close();
    if (base) rmSync(base, { recursive: true, force: true });
  });

  /** A fresh browser profile whose pages may reach only the daemon and the provider (both loopback). */
  async function context(): Promise<BrowserContext> {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const allowed = new Set([new URL(url).origin, new URL(provider.issuer).origin]);
    await ctx.route('**/*', (route) => {
      const u = new URL(route.request().url());
      if (allowed.has(u.origin)) return route.continue();
      // Never sent, whoever asks. Only the daemon's pages count against the dashboard
      // (oidc-provider's development login page asks for a web font).
      let from = '';
      try {
        from = new URL(route.request().frame().url()).origin;
      } catch {}
      if (from !== new URL(provider.issuer).origin) elsewhere.push(`${u.href} (from ${from || 'unknown'})`);
      return route.abort();
    });
    ctx.on('page', (p) => watch(p));
    return ctx;
  }
  function watch(p: Page): void {
    p.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(`${p.url()}: ${m.text()}`);
    });
    p.on('pageerror', (e) => pageErrors.push(`${p.url()}: ${e.message}`));
  }
  const shot = (p: Page, name: string) => p.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  const rowState = (p: Page, vm: string) => p.locator(`#vms tr[data-name="${vm}"] [data-col="state"]`);

  test('log in with OIDC, create, see it run, deploy with git, config var, logs, console, rollback, destroy, sign out', async (t) => {
    t.diagnostic(`screenshots: ${shots}`);
    const bob = api.loginAs('bob@example.com', 'Bob');
    const bobVm = await api.app.inject({ method: 'POST', url: '/v1/vms', headers: bob.headers, payload: { name: 'bob-secret' } });
    assert.equal(bobVm.statusCode, 201);

    const ctx = await context();
    const page = await ctx.newPage();
    await page.goto(`${url}/`);
    assert.equal(new URL(page.url()).pathname, '/dashboard/');
    await page.waitForSelector('body[data-auth="out"]');
    await page.waitForSelector('#oidc:not([hidden])');
    await shot(page, '01-sign-in');

    // The daemon's OIDC flow, in the browser: the provider's own login and consent pages.
    await page.click('#oidc');
    await page.waitForURL((u) => u.origin === new URL(provider.issuer).origin);
    await page.fill('input[name="login"]', 'alice');
    await page.fill('input[name="password"]', 'any');
    await page.click('button[type="submit"]');
    for (let i = 0; i < 3 && !page.url().startsWith(url); i++) {
      await page.waitForLoadState();
      if (page.url().startsWith(url)) break;
      if (await page.locator('button[type="submit"]').count()) await page.click('button[type="submit"]');
    }
    await page.waitForSelector('body[data-auth="in"]', { timeout: 30_000 });
    assert.equal(new URL(page.url()).pathname, '/dashboard/');
    assert.equal(new URL(page.url()).search, '', 'no code or token in the address');
    assert.match((await page.textContent('#who'))!, /alice@example.com/);
    const cookies = await ctx.cookies(url);
    const sessionCookie = cookies.find((c) => c.name === 'fcm_session')!;
    assert.ok(sessionCookie, 'the session cookie');
    assert.equal(sessionCookie.httpOnly, true);
    assert.equal(sessionCookie.sameSite, 'Strict');
    assert.equal(await page.evaluate(() => (globalThis as any).document.cookie), '', 'scripts cannot read it');
    await shot(page, '02-signed-in');

    // Create through the form; the row appears and reaches running without a reload.
    await page.fill('#new-name', 'web-1');
    await page.click('#create-form button[type="submit"]');
    await page.waitForFunction(() => /running/.test((globalThis as any).document.querySelector('#vms tr[data-name="web-1"] [data-col="state"]')?.textContent ?? ''), null, { timeout: 30_000 });
    const row = page.locator('#vms tr[data-name="web-1"]');
    assert.match((await row.locator('[data-col="url"]').textContent())!, /^web-1\./);
    assert.match((await row.locator('[data-col="ip"]').textContent())!, /^\d+\.\d+\.\d+\.\d+$/);
    assert.match((await row.locator('[data-col="size"]').textContent())!, /1 vCPU · 1 GiB RAM · 2 GiB disk/);
    assert.match((await row.locator('[data-col="age"]').textContent())!, /^\d+s$/);
    assert.equal(await page.locator('#vms tr[data-name="bob-secret"]').count(), 0, "bob's VM never appears");
    assert.doesNotMatch((await page.textContent('#vms'))!, /bob-secret/);
    await shot(page, '03-created');

    // Live: a change made elsewhere (the CLI, say) shows up without reloading.
    const user = [...api.users.rows.values()].find((u) => u.email === 'alice@example.com' && u.issuer === provider.issuer)!;
    const cli = api.accounts.mint(user, 'test');
    const stop = await api.app.inject({ method: 'POST', url: '/v1/vms/web-1/stop', headers: { authorization: `Bearer ${cli.token}` } });
    assert.equal(stop.statusCode, 200);
    await page.waitForFunction(() => /^stopped/.test((globalThis as any).document.querySelector('#vms tr[data-name="web-1"] [data-col="state"]')?.textContent ?? ''), null, { timeout: 15_000 });
    assert.equal(await row.locator('button', { hasText: 'Console' }).isDisabled(), true, 'no console for a stopped VM');
    await page.click('button[aria-label="Start web-1"]');
    await page.waitForFunction(() => /^running/.test((globalThis as any).document.querySelector('#vms tr[data-name="web-1"] [data-col="state"]')?.textContent ?? ''), null, { timeout: 15_000 });

    // Deploy with git over smart HTTP, then the release and its build log in the page.
    const work = mkdtempSync(join(tmpdir(), 'fcm-dash-app-'));
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1' };
    writeFileSync(join(work, 'requirements.txt'), 'flask\n');
    writeFileSync(join(work, 'Procfile'), 'web: python app.py\n');
    writeFileSync(join(work, 'app.py'), 'print("hi")\n');
    for (const args of [['init', '-q', '-b', 'main'], ['add', '-A'], ['-c', 'user.name=Alice', '-c', 'user.email=alice@example.com', 'commit', '-q', '-m', 'first']]) {
      const r = await sh('git', ['-C', work, ...args], { env });
      assert.equal(r.code, 0, r.stderr);
    }
    const push = await sh('git', ['-C', work, 'push', `${url.replace('://', `://git:${cli.token}@`)}/git/web-1.git`, 'main'], { env });
    assert.equal(push.code, 0, push.stderr);
    assert.match(push.stderr, /Deploy successful/);
    rmSync(work, { recursive: true, force: true });
    await page.click('button[aria-label="Details of web-1"]');
    await page.waitForSelector('#releases tr[data-version="1"]');
    assert.match((await page.textContent('#releases tr[data-version="1"]'))!, /v1 deploy [0-9a-f]{7}.*succeeded \(current\)/);
    await page.click('button[aria-label="Build log of v1"]');
    await page.waitForSelector('#release-log:not([hidden])');
    assert.match((await page.textContent('#release-log'))!, /Detected Python/);
    assert.match((await page.textContent('#detail-git'))!, /git remote add fcm /);
    await shot(page, '04-release-log');

    // A config var: set through the form, hidden until shown.
    await page.fill('#env-key', 'GREETING');
    await page.fill('#env-value', 'hello-secret-value');
    await page.click('#env-form button[type="submit"]');
    await page.waitForSelector('#env tr[data-key="GREETING"]');
    assert.doesNotMatch((await page.textContent('main'))!, /hello-secret-value/, 'the value is not on the page');
    assert.match((await page.textContent('#env tr[data-key="GREETING"] td.value'))!, /^•+$/);
    await page.click('button[aria-label="Show GREETING"]');
    assert.equal(await page.textContent('#env tr[data-key="GREETING"] td.value'), 'hello-secret-value');
    const runtime = api.deploys.runtime as MemoryAppRuntime;
    assert.equal(runtime.env.get([...api.h.store.list()].find((v) => v.name === 'web-1')!.id)?.GREETING, 'hello-secret-value', 'the app got it');
    await page.waitForSelector('#releases tr[data-version="2"]');
    assert.match((await page.textContent('#releases tr[data-version="2"]'))!, /v2 config/);
    await shot(page, '05-config-var');

    // Live logs.
    await page.click('#logs-toggle');
    await page.waitForFunction(() => /web\.1: started v/.test((globalThis as any).document.querySelector('#logs')?.textContent ?? ''), null, { timeout: 15_000 });
    assert.equal(await page.getAttribute('#logs-toggle', 'aria-pressed'), 'true');
    await shot(page, '06-logs');
    await page.click('#logs-toggle');

    // Roll back to v1.
    await page.click('button[aria-label="Roll back to v1"]');
    await page.waitForSelector('#releases tr[data-version="3"]');
    assert.match((await page.textContent('#releases tr[data-version="3"]'))!, /v3 rollback .*\(rollback to v1\).*succeeded/);

    // The web console, one click away: a new tab with a single-use ticket, then a shell.
    const [consolePage] = await Promise.all([ctx.waitForEvent('page'), page.click('button[aria-label="Open the console of web-1"]')]);
    await consolePage.waitForFunction(() => (globalThis as any).fcmConsole?.state === 'open', null, { timeout: 30_000 });
    assert.equal(new URL(consolePage.url()).pathname, '/console/web-1');
    assert.equal(new URL(consolePage.url()).hash, '', 'the ticket is wiped from the address bar');
    await consolePage.click('#term');
    await consolePage.keyboard.type('echo dash-$((6*7))');
    await consolePage.keyboard.press('Enter');
    await consolePage.waitForFunction(() => /^dash-42\s*$/m.test((globalThis as any).document.querySelector('.xterm-rows')?.innerText ?? ''), null, { timeout: 30_000 });
    await shot(consolePage, '07-console');
    await consolePage.close();

    // Daemon health.
    await page.waitForFunction(() => /hypervisor: qemu \(tcg\)/.test((globalThis as any).document.querySelector('#health')?.textContent ?? ''));

    // Destroy, with confirmation: Cancel keeps it, Destroy removes it.
    await page.click('button[aria-label="Destroy web-1"]');
    await page.waitForSelector('#confirm[open]');
    assert.equal(await page.evaluate(() => (globalThis as any).document.activeElement?.id), 'confirm-cancel', 'focus on the safe choice');
    await shot(page, '08-confirm-destroy');
    await page.keyboard.press('Escape');
    await page.waitForSelector('#confirm[open]', { state: 'detached' });
    assert.equal(await page.locator('#vms tr[data-name="web-1"]').count(), 1, 'Escape destroys nothing');
    await page.click('button[aria-label="Destroy web-1"]');
    await page.click('#confirm-ok');
    await page.waitForSelector('#vms tr[data-name="web-1"]', { state: 'detached', timeout: 15_000 });
    await page.waitForSelector('#no-vms:not([hidden])');
    await shot(page, '09-destroyed');
    assert.equal((await api.app.inject({ url: '/v1/vms/bob-secret', headers: bob.headers })).statusCode, 200, "bob's VM untouched");

    // Sign out: the session's token is revoked, the page goes back to sign-in.
    await page.click('#signout');
    await page.waitForSelector('body[data-auth="out"]');
    assert.equal((await ctx.cookies(url)).find((c) => c.name === 'fcm_session'), undefined);
    assert.equal((await api.app.inject({ url: '/v1/vms', headers: { cookie: `fcm_session=${sessionCookie.value}` } })).statusCode, 401, 'its token is revoked');
    await shot(page, '10-signed-out');
    await ctx.close();

    assert.deepEqual(cspViolations, []);
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(elsewhere, [], 'nothing outside the daemon and the provider');
  });

  test("another user's session, by pasted token, shows only their own VMs", async () => {
    const alice = api.loginAs('alice@example.com', 'Alice');
    assert.equal((await api.app.inject({ method: 'POST', url: '/v1/vms', headers: alice.headers, payload: { name: 'alice-only' } })).statusCode, 201);
    const bob = api.loginAs('bob@example.com', 'Bob');
    const ctx = await context();
    const page = await ctx.newPage();
    await page.goto(`${url}/dashboard/`);
    await page.waitForSelector('body[data-auth="out"]');
    // Keyboard only: focus the token field, type, Enter.
    await page.focus('#token');
    await page.keyboard.type(bob.token);
    await page.keyboard.press('Enter');
    await page.waitForSelector('body[data-auth="in"]');
    assert.equal(await page.inputValue('#token'), '', 'the pasted token does not stay in the page');
    await page.waitForSelector('#vms tr[data-name="bob-secret"]');
    assert.deepEqual(await page.locator('#vms tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-name'))), ['bob-secret']);
    await shot(page, '11-other-user');
    await ctx.close();

    // A login the allowlist refuses comes back to the sign-in page with the reason, and no session.
    const ctx2 = await context();
    const p2 = await ctx2.newPage();
    await p2.goto(`${url}/dashboard/`);
    await p2.waitForSelector('#oidc:not([hidden])');
    await p2.click('#oidc');
    await p2.waitForURL((u) => u.origin === new URL(provider.issuer).origin);
    await p2.fill('input[name="login"]', 'mallory');
    await p2.fill('input[name="password"]', 'any');
    await p2.click('button[type="submit"]');
    for (let i = 0; i < 3 && !p2.url().startsWith(url); i++) {
      await p2.waitForLoadState();
      if (p2.url().startsWith(url)) break;
      if (await p2.locator('button[type="submit"]').count()) await p2.click('button[type="submit"]');
    }
    await p2.waitForSelector('#alert:not([hidden])', { timeout: 30_000 });
    assert.match((await p2.textContent('#alert'))!, /access_denied.*Login refused/);
    assert.equal(await p2.getAttribute('body', 'data-auth'), 'out');
    assert.equal((await ctx2.cookies(url)).find((c) => c.name === 'fcm_session'), undefined);
    assert.equal(new URL(p2.url()).hash, '', 'the reason is wiped from the address bar');
    await shot(p2, '12-refused');
    await ctx2.close();
    assert.deepEqual(cspViolations, []);
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(elsewhere, []);
  });
});
