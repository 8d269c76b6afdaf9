/**
 * Static properties of the dashboard's page, style and script that no
 * browser run would notice by itself: text colours meet WCAG AA contrast on
 * the backgrounds they are used on, and the scripts never turn data into
 * markup or code (the CSP would block eval; innerHTML would not be blocked).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DASHBOARD_APP_JS } from '../../../daemon/http/dashboard/app.js';
import { DASHBOARD_LIB_JS } from '../../../daemon/http/dashboard/lib.js';
import { DASHBOARD_CSS, DASHBOARD_HTML } from '../../../daemon/http/dashboard/page.js';

/** WCAG 2.x relative luminance of #rrggbb. */
function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}
function contrast(a: string, b: string): number {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x! + 0.05) / (y! + 0.05);
}

test('text colours meet WCAG AA (4.5:1) on every background they appear on', () => {
  const vars = Object.fromEntries([...DASHBOARD_CSS.matchAll(/--([a-z]+):\s*(#[0-9a-f]{6})/g)].map((m) => [m[1]!, m[2]!]));
  for (const k of ['fg', 'muted', 'accent', 'ok', 'bad', 'busy', 'bg']) assert.ok(vars[k], `--${k} defined`);
  const backgrounds = { page: vars.bg!, selectedRow: '#eef4fb', button: '#f6f6f6', pre: '#f3f3f3' };
  const pairs: [string, string, string][] = [];
  for (const k of ['fg', 'muted', 'accent', 'ok', 'bad', 'busy']) {
    pairs.push([`--${k} on the page`, vars[k]!, backgrounds.page]);
    pairs.push([`--${k} on a selected row`, vars[k]!, backgrounds.selectedRow]);
  }
  pairs.push(['button text', vars.fg!, backgrounds.button], ['danger button text', vars.bad!, backgrounds.button], ['disabled button text', '#6b6b6b', backgrounds.button], ['log text', '#111111', backgrounds.pre]);
  for (const [what, fg, bg] of pairs) {
    const c = contrast(fg, bg);
    assert.ok(c >= 4.5, `${what}: ${fg} on ${bg} is ${c.toFixed(2)}:1`);
  }
  // The colours the tests read are the ones the style uses.
  assert.match(DASHBOARD_CSS, /tr\.selected \{ background: #eef4fb; \}/);
  assert.match(DASHBOARD_CSS, /button:disabled \{ color: #6b6b6b;/);
  assert.match(DASHBOARD_CSS, /:focus-visible \{ outline: 3px solid/);
});

test('the scripts never make markup or code out of data', () => {
  for (const [name, src] of [['app.js', DASHBOARD_APP_JS], ['lib.js', DASHBOARD_LIB_JS]] as const) {
    for (const bad of [/innerHTML/, /outerHTML/, /insertAdjacentHTML/, /document\.write/, /\beval\(/, /new Function/, /setTimeout\(\s*['"`]/, /localStorage|sessionStorage/]) {
      assert.doesNotMatch(src, bad, `${name}: ${bad}`);
    }
  }
  // No secret is ever put into a URL by the page: the console ticket rides in the fragment the daemon made.
  assert.doesNotMatch(DASHBOARD_APP_JS, /[?&](token|ticket)=/);
});

test('state is never shown by colour alone: the state cell carries the state as text', () => {
  assert.match(DASHBOARD_APP_JS, /setText\(s, vm\.state/);
  assert.match(DASHBOARD_APP_JS, /row\.ok \? '' : 'problem — '/);
  assert.match(DASHBOARD_HTML, /<a class="skip" href="#vms-heading">/);
});
