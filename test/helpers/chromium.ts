/**
 * Headless Chromium for browser tests (dashboard, /docs, web console): one launch
 * recipe and one place for screenshots. The flags turn off everything that would
 * make the browser itself talk to the internet (component updates, sync,
 * translation, background networking); each test still routes its pages so that
 * only its own loopback/namespace origins can be reached.
 */
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Why a browser test cannot run here, or null. */
export function chromiumMissing(): string | null {
  return existsSync(CHROMIUM) ? null : `needs ${CHROMIUM} (apt-get install chromium)`;
}

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-features=Translate,OptimizationHints,MediaRouter',
    ],
  });
}

/** Where a test's screenshots go: $FCM_TEST_ARTIFACTS/<name> (kept by CI), else a fresh temp dir. */
export function screenshotDir(name: string): string {
  const dir = process.env.FCM_TEST_ARTIFACTS ? join(process.env.FCM_TEST_ARTIFACTS, name) : mkdtempSync(join(tmpdir(), `fcm-${name}-shots-`));
  mkdirSync(dir, { recursive: true });
  return dir;
}
