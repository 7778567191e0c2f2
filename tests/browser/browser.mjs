// Real Chromium (Debian's `chromium`, driven by playwright-core) against the real Worker
// under wrangler dev: helpers for the dashboard's browser tests.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import { chromium } from 'playwright-core';

import { ROOT } from '../e2e/harness.mjs';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** The Chromium to drive: KEYWARD_CHROMIUM, or Debian's. */
export const CHROMIUM = process.env.KEYWARD_CHROMIUM ?? '/usr/bin/chromium';

/** Screenshots go to target/screenshots (CI artefacts); with KEYWARD_UPDATE_SCREENSHOTS=1
 *  also to docs/screenshots (the README's). */
const SHOTS = join(ROOT, 'target/screenshots');
const DOCS = join(ROOT, 'docs/screenshots');

export async function launch() {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: run scripts/setup.sh (apt: chromium)`);
  // --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

/** A fresh tab that fails the test on any dialog (alert, confirm) and records console
 *  errors and page errors. */
export async function openPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const problems = [];
  page.on('dialog', async (d) => {
    problems.push(`dialog: ${d.type()} ${d.message()}`);
    await d.dismiss();
  });
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  return { context, page, problems };
}

export async function screenshot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  if (process.env.KEYWARD_UPDATE_SCREENSHOTS === '1') {
    mkdirSync(DOCS, { recursive: true });
    await page.screenshot({ path: join(DOCS, `${name}.png`), fullPage: false });
  }
}

/** axe-core on the page as it is: no serious or critical violation. axe is evaluated over
 *  the DevTools protocol, so the page's CSP (no inline script) stays as it is. */
export async function assertAccessible(page, what) {
  if (!(await page.evaluate(() => typeof /** @type {any} */ (window).axe === 'object'))) await page.evaluate(AXE);
  const result = await page.evaluate(async () => {
    const r = await /** @type {any} */ (window).axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) }));
  });
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `${what}: ${JSON.stringify(bad, null, 1)}`);
  return result;
}

/** Presses Tab until focus comes round again and asserts every enabled control of
 *  `scope` (buttons, links, fields) was reached from the keyboard. */
export async function assertKeyboardReachable(page, what, scope = 'body') {
  const count = await page.evaluate((sel) => {
    const root = document.querySelector(sel);
    const all = [...root.querySelectorAll('a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled])')]
      .filter((el) => el.offsetParent !== null || el.getClientRects().length > 0);
    all.forEach((el, i) => el.setAttribute('data-kb', String(i)));
    return all.length;
  }, scope);
  assert.ok(count > 0, `${what}: nothing to reach`);
  const reached = new Set();
  for (let i = 0; i < count * 2 + 10 && reached.size < count; i++) {
    await page.keyboard.press('Tab');
    const at = await page.evaluate(() => document.activeElement?.getAttribute('data-kb'));
    if (at !== null && at !== undefined) reached.add(at);
  }
  const missed = await page.evaluate((seen) => [...document.querySelectorAll('[data-kb]')]
    .filter((el) => !seen.includes(el.getAttribute('data-kb')))
    .map((el) => el.outerHTML.slice(0, 120)), [...reached]);
  assert.deepEqual(missed, [], `${what}: not reachable by Tab`);
}
