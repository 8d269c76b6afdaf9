/**
 * The dashboard on a real daemon with a real QEMU guest (the harness's
 * network namespace; Chromium in the test process reaches the daemon through
 * the namespace link only): sign in with a pasted token, create a VM through
 * the form and see it reach running, deploy with real git over smart HTTP
 * into the guest's agent, read the release and its build log, set a config
 * var (the app restarts with it), follow the app's logs, open the web
 * console and run a command in the guest, destroy with confirmation.
 * Screenshots of each step are kept (FCM_TEST_ARTIFACTS, default under the
 * system temp dir; the path is printed). The OIDC login and the isolation
 * between users are shown in e2e/dashboard-browser.test.ts (a real provider
 * on loopback, in-memory VMs).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { CHROMIUM, launchChromium, screenshotDir } from '../helpers/chromium.js';
import { hostSkipReason, startHostHarness, type HostHarness } from '../helpers/host-harness.js';

const skip = hostSkipReason() ?? (existsSync(CHROMIUM) ? null : `needs ${CHROMIUM} (apt-get install chromium)`);
const VM = 'dash';

const PY_APP = `import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class App(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"dashboard app GREETING={os.environ.get('GREETING', '')}\\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


print("dashboard app listening", flush=True)
ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), App).serve_forever()
`;

function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 600_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout: timeoutMs }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

describe('the dashboard on a real VM', { skip: skip ?? false, timeout: 30 * 60_000 }, () => {
  let h: HostHarness;
  let browser: Browser;
  let shots: string;
  let work: string;

  before(async () => {
    h = await startHostHarness();
    shots = screenshotDir('dashboard-host');
    work = mkdtempSync(join(tmpdir(), 'fcm-dash-host-app-'));
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await h?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const shot = (p: Page, name: string) => p.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  const stateIs = (p: Page, re: RegExp, timeoutMs: number) =>
    p.waitForFunction(
      ([vm, src]) => new RegExp(src as string).test((globalThis as any).document.querySelector(`#vms tr[data-name="${vm}"] [data-col="state"]`)?.textContent ?? ''),
      [VM, re.source],
      { timeout: timeoutMs, polling: 250 },
    );

  test('sign in, create, see it run, git deploy, release log, config var, logs, console, destroy', async (t) => {
    t.diagnostic(`screenshots: ${shots}`);
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    // Network safety: the page may only talk to the daemon in the namespace.
    const origin = new URL(h.url).origin;
    const elsewhere: string[] = [];
    await ctx.route('**/*', (route) => {
      const u = new URL(route.request().url());
      if (u.origin === origin) return route.continue();
      elsewhere.push(u.href);
      return route.abort();
    });
    const problems: string[] = [];
    const watch = (p: Page) => {
      p.on('pageerror', (e) => problems.push(`${p.url()}: ${e.message}`));
      p.on('console', (m) => {
        if (/Content Security Policy/i.test(m.text())) problems.push(`${p.url()}: ${m.text()}`);
      });
    };
    ctx.on('page', watch);
    const page = await ctx.newPage();
    await page.goto(`${h.url}/`);
    await page.waitForSelector('body[data-auth="out"]');
    await page.fill('#token', h.token);
    await page.click('#token-form button[type="submit"]');
    await page.waitForSelector('body[data-auth="in"]');
    // The daemon's health, with its real checks: Caddy (not running in this harness), the image, free disk.
    await page.waitForFunction(() => /disk: .*GiB free of/.test((globalThis as any).document.querySelector('#health')?.textContent ?? ''), null, { timeout: 30_000 });
    assert.match((await page.textContent('#health'))!, /image: ok/);
    assert.match((await page.textContent('#health'))!, /confinement: user per-vm/);
    await shot(page, '01-signed-in');

    // Create a small VM; a real guest boots (TCG: slow) and the row follows it live.
    await page.fill('#new-name', VM);
    await page.fill('#new-memory', '512');
    await page.click('#create-form button[type="submit"]');
    await page.waitForSelector(`#vms tr[data-name="${VM}"]`, { timeout: 60_000 });
    await stateIs(page, /^running/, 300_000);
    const ip = (await page.textContent(`#vms tr[data-name="${VM}"] [data-col="ip"]`))!;
    const vm = await h.api('GET', `/v1/vms/${VM}`);
    assert.equal(vm.body.ip, ip);
    assert.equal(vm.body.memoryMib, 512);
    await shot(page, '02-running');

    // Deploy with real git over smart HTTP, into the guest.
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1' };
    writeFileSync(join(work, 'app.py'), PY_APP);
    writeFileSync(join(work, 'requirements.txt'), '# standard library only\n');
    writeFileSync(join(work, 'Procfile'), 'web: python3 app.py\n');
    for (const args of [['init', '-q', '-b', 'main'], ['add', '-A'], ['-c', 'user.name=Admin', '-c', 'user.email=admin@example.com', 'commit', '-q', '-m', 'first']]) {
      const r = await sh('git', ['-C', work, ...args], env);
      assert.equal(r.code, 0, r.stderr);
    }
    const push = await sh('git', ['-C', work, 'push', vm.body.gitHttpUrl.replace('://', `://git:${h.token}@`), 'main'], env);
    assert.equal(push.code, 0, push.stderr);
    assert.match(push.stderr, /Deploy successful/);
    await page.click(`button[aria-label="Details of ${VM}"]`);
    await page.waitForSelector('#releases tr[data-version="1"]');
    assert.match((await page.textContent('#releases tr[data-version="1"]'))!, /v1 deploy [0-9a-f]{7}.*succeeded \(current\)/);
    await page.click('button[aria-label="Build log of v1"]');
    await page.waitForSelector('#release-log:not([hidden])');
    assert.match((await page.textContent('#release-log'))!, /Detected Python/);
    await shot(page, '03-release-log');

    // A config var: the app restarts with it (a config release).
    await page.fill('#env-key', 'GREETING');
    await page.fill('#env-value', 'from-the-dashboard');
    await page.click('#env-form button[type="submit"]');
    await page.waitForSelector('#releases tr[data-version="2"]', { timeout: 300_000 });
    assert.match((await page.textContent('#releases tr[data-version="2"]'))!, /v2 config.*succeeded/);
    assert.match((await page.textContent('#env tr[data-key="GREETING"] td.value'))!, /^•+$/, 'hidden until shown');
    const envNow = await h.api('GET', `/v1/vms/${VM}/env`);
    assert.equal(envNow.body.vars.GREETING, 'from-the-dashboard');
    await shot(page, '04-config-var');

    // The app's own output, followed live.
    await page.click('#logs-toggle');
    await page.waitForFunction(() => /dashboard app listening/.test((globalThis as any).document.querySelector('#logs')?.textContent ?? ''), null, { timeout: 120_000 });
    await shot(page, '05-logs');
    await page.click('#logs-toggle');

    // The web console of the real guest, one click away.
    const [con] = await Promise.all([ctx.waitForEvent('page'), page.click(`button[aria-label="Open the console of ${VM}"]`)]);
    await con.waitForFunction(() => (globalThis as any).fcmConsole?.state === 'open', null, { timeout: 60_000 });
    await con.click('#term');
    await con.keyboard.type('echo dash-$((6*7))');
    await con.keyboard.press('Enter');
    await con.waitForFunction(() => /^dash-42\s*$/m.test((globalThis as any).document.querySelector('.xterm-rows')?.innerText ?? ''), null, { timeout: 60_000 });
    await shot(con, '06-console');
    await con.close();

    // Destroy, confirmed; the row goes and nothing of the VM is left.
    await page.click(`button[aria-label="Destroy ${VM}"]`);
    await page.waitForSelector('#confirm[open]');
    await shot(page, '07-confirm');
    await page.click('#confirm-ok');
    await page.waitForSelector(`#vms tr[data-name="${VM}"]`, { state: 'detached', timeout: 180_000 });
    await shot(page, '08-destroyed');
    assert.equal((await h.api('GET', `/v1/vms/${VM}`)).status, 404);
    await ctx.close();
    assert.deepEqual(problems, []);
    assert.deepEqual(elsewhere, []);
  });
});
