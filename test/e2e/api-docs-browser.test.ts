/**
 * The API reference (/docs) in real headless Chromium, on loopback: the
 * daemon's real HTTP layer (in-memory services behind it; the page needs none
 * of them) serving Swagger UI and the reader copy of the spec. The page lists
 * every operation of openapi.yaml; an operation opens to its parameters, its
 * request body and its responses with example values and schemas; nothing of
 * the CLI generator's notes is shown; the page never violates its CSP, never
 * throws, and never asks for anything outside the daemon. A screenshot of the
 * opened operation is kept (FCM_TEST_ARTIFACTS, default under the system temp
 * dir; the path is printed).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { spec } from '../../api/spec.gen.js';
import { CHROMIUM, launchChromium, screenshotDir } from '../helpers/chromium.js';
import { memoryApi } from '../helpers/memory-api.js';

const reason = !existsSync(CHROMIUM) ? `needs ${CHROMIUM} (apt-get install chromium)` : null;

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];
const operations = Object.entries<any>(spec.paths).flatMap(([path, item]) =>
  METHODS.filter((m) => item[m]).map((m) => ({ path, method: m, id: item[m].operationId as string, tag: (item[m].tags?.[0] ?? 'default') as string })),
);

describe('the API reference in headless Chromium', { skip: reason ?? false }, () => {
  let api: Awaited<ReturnType<typeof memoryApi>>;
  let url: string;
  let browser: Browser;
  let shots: string;

  before(async () => {
    api = await memoryApi();
    url = await api.app.listen({ host: '127.0.0.1', port: 0 });
    shots = screenshotDir('api-docs');
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await api?.app.close();
  });

  test('every operation is listed; one opens to its request and response schemas and examples; no generator notes; nothing external', async (t) => {
    t.diagnostic(`screenshots: ${shots}`);
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    const origin = new URL(url).origin;
    const elsewhere: string[] = [];
    const problems: string[] = [];
    // Network safety and the "works offline" promise: anything not from the daemon is recorded and never sent.
    await ctx.route('**/*', (route) => {
      const u = new URL(route.request().url());
      if (u.origin === origin || u.protocol === 'data:') return route.continue();
      elsewhere.push(u.href);
      return route.abort();
    });
    const page = await ctx.newPage();
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' || /Content Security Policy/i.test(m.text())) problems.push(`console ${m.type()}: ${m.text()}`);
    });
    await page.goto(`${url}/docs`);
    await page.waitForSelector('.opblock', { timeout: 60_000 });

    // Every operation, by its deep-link id (tag + operationId), with its method and path.
    const listed = await page.$$eval('.opblock', (els) => els.map((e) => e.id));
    assert.deepEqual(listed.sort(), operations.map((o) => `operations-${o.tag}-${o.id}`).sort());
    assert.match((await page.textContent('.info .title'))!, /fcm/);

    // createVm opens to its request body (example and schema) and its responses (examples).
    const create = operations.find((o) => o.id === 'createVm')!;
    const block = page.locator(`#operations-${create.tag}-createVm`);
    await block.locator('.opblock-summary').first().click();
    await block.locator('.opblock-body').waitFor();
    const body = block.locator('.opblock-section-request-body');
    await body.waitFor();
    const example = await body.locator('.body-param__example, .highlight-code').first().textContent();
    const wanted = spec.components.schemas.CreateVmRequest.examples[0];
    assert.deepEqual(JSON.parse(example!), wanted, 'the request example from openapi.yaml');
    const responses = block.locator('.responses-wrapper');
    assert.match((await responses.textContent())!, /201/);
    const shown = JSON.parse((await responses.locator('.highlight-code, .microlight').first().textContent())!);
    assert.deepEqual(shown, spec.components.schemas.Vm.examples[0], 'the response example from openapi.yaml');
    // The schema view of the request body names its properties.
    await body.locator('button[data-name="model"]').first().click();
    await body.locator('.model-box').first().waitFor();
    assert.match((await body.locator('.model-box').first().textContent())!, /vcpus/);
    await page.screenshot({ path: join(shots, 'createVm.png'), fullPage: false });

    const text = (await page.textContent('body'))!;
    for (const note of ['x-cli', 'argFromFile', 'waitFor', 'api/cli/']) assert.ok(!text.includes(note), `the page shows "${note}"`);
    assert.deepEqual(elsewhere, [], 'requests outside the daemon');
    assert.deepEqual(problems, []);
    await ctx.close();
  });
});
