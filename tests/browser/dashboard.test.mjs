// The operator's dashboard in real Chromium against the real Worker (wrangler dev, fresh
// state): sign in, create (the key shown once), use, rotate, revoke, a read-only key,
// restrictions and what a bounded key may grant, hostile data, the page's own security headers, axe-core and the keyboard.
import assert from 'node:assert/strict';
import http from 'node:http';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';

import { call, eventually, startWorker } from '../e2e/harness.mjs';
import { assertAccessible, assertKeyboardReachable, launch, openPage, screenshot } from './browser.mjs';

const { Webhook } = createRequire(import.meta.url)('standardwebhooks');

const HOSTILE = '<img src=x onerror=alert(1)>';
const HOSTILE_UA = '<script>alert(2)</script>';

let worker;
let browser;
let dash;
let receiver;
const received = [];
const root = (path, opts = {}) => call(worker.url, path, { key: worker.rootKey, ...opts });

/** Signs `page` in with `key` and waits for the keys page. */
async function signIn(page, key) {
  await page.goto(dash);
  await page.getByLabel('API key').fill(key);
  await page.getByLabel('API key').press('Enter');
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

before(async () => {
  // A webhook receiver on loopback: it records every delivery and answers 200.
  receiver = await new Promise((res) => {
    const srv = http.createServer((req, resp) => {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => { received.push({ url: req.url, headers: req.headers, body }); resp.end('ok'); });
    });
    srv.listen(0, '127.0.0.1', () => res(srv));
  });
  worker = await startWorker({
    vars: {
      KEYWARD_ROLES: JSON.stringify({ reader: ['scans:read', 'repos:read'], writer: ['repos:write', 'scans:read'] }),
      KEYWARD_WEBHOOK_ALLOW_LOOPBACK_HTTP: 'true',
    },
  });
  dash = `${worker.url}/_keyward/`;
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await worker?.stop();
  receiver?.close();
});

describe('the page itself', () => {
  test('every asset answer carries a strict CSP, nosniff and no-referrer; API answers are no-store', async () => {
    for (const path of ['/_keyward/', '/_keyward/app.js', '/_keyward/app.css', '/_keyward/missing.js', '/_keyward']) {
      const r = await fetch(worker.url + path, { redirect: 'manual' });
      const csp = r.headers.get('content-security-policy') ?? '';
      for (const part of ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) {
        assert.ok(csp.includes(part), `${path}: ${part} in ${csp}`);
      }
      assert.ok(!/unsafe-inline|unsafe-eval/.test(csp), `${path}: ${csp}`);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff', path);
      assert.equal(r.headers.get('referrer-policy'), 'no-referrer', path);
    }
    assert.equal((await fetch(`${worker.url}/_keyward`, { redirect: 'manual' })).headers.get('location'), '/_keyward/');
    const html = await (await fetch(dash)).text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
    assert.doesNotMatch(html, /https?:\/\//, 'nothing from another origin');
    const me = await root('/v1/me');
    assert.equal(me.headers.get('cache-control'), 'no-store');
    // Only GET: a POST to the dashboard changes nothing and is refused.
    const post = await fetch(dash, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
  });

  test('the sign-in page is accessible and a wrong key is refused with its code', async () => {
    const { context, page, problems } = await openPage(browser);
    await page.goto(dash);
    await assertAccessible(page, 'sign-in');
    await page.getByLabel('API key').fill('sk_live_notakey');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'malformed' }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'a refused key is not kept');
    assert.deepEqual(problems.filter((p) => !p.includes('401')), []);
    await context.close();
  });
});

describe('the root key: create, use, rotate, revoke', () => {
  let context;
  let page;
  let problems;
  let rawKey;
  let keyId;

  before(async () => {
    ({ context, page, problems } = await openPage(browser));
    await signIn(page, worker.rootKey);
  });
  after(async () => context?.close());

  test('signed in: the key is kept for the tab only (sessionStorage, never localStorage or a cookie)', async () => {
    await page.getByText('Signed in with the root key').waitFor();
    assert.equal(await page.evaluate(() => localStorage.length), 0);
    assert.deepEqual(await context.cookies(), []);
    assert.deepEqual(await page.evaluate(() => Object.values(sessionStorage)), [worker.rootKey]);
    await assertAccessible(page, 'keys list (empty)');
  });

  test('create a key: declared scopes as choices; the key is shown once, then gone from the page and storage', async () => {
    await page.getByRole('button', { name: 'Create key' }).click();
    const dialog = page.getByRole('dialog', { name: 'Create a key' });
    await dialog.waitFor();
    await dialog.getByLabel('Name', { exact: true }).fill('billing service');
    await dialog.getByLabel('Owner').fill('acme');
    await dialog.getByLabel('Environment').selectOption('live');
    await dialog.getByLabel(/scans:read/).check();
    await dialog.getByLabel(/Metadata/).fill('team=payments');
    await assertAccessible(page, 'create dialog');
    await screenshot(page, 'create-dialog');
    await dialog.getByRole('button', { name: 'Create key' }).click();
    const shown = page.getByRole('dialog', { name: 'Your new key' });
    await shown.waitFor();
    rawKey = await shown.getByLabel(/Key for billing service/).inputValue();
    assert.match(rawKey, /^sk_live_/);
    await shown.getByText('It is shown once').waitFor();
    await shown.getByRole('button', { name: 'Copy key' }).click();
    await shown.getByRole('status').waitFor();
    await shown.getByRole('button', { name: /I have stored it/ }).click();
    await page.getByRole('link', { name: 'billing service' }).waitFor();
    // Gone: not in the page, not in storage; the list shows only the hint.
    assert.ok(!(await page.content()).includes(rawKey), 'the key left the page with its dialog');
    const stored = await page.evaluate(() => [...Object.values(sessionStorage), ...Object.values(localStorage)].join('\n'));
    assert.ok(!stored.includes(rawKey));
    await page.reload();
    await page.getByRole('link', { name: 'billing service' }).waitFor();
    assert.ok(!(await page.content()).includes(rawKey), 'not shown again after a reload');
    // What the page made is what the API holds.
    const list = await root('/v1/keys?owner=acme');
    const made = list.body.keys.find((k) => k.name === 'billing service');
    assert.deepEqual(made.scopes, ['scans:read']);
    assert.deepEqual(made.metadata, { team: 'payments' });
    assert.ok(rawKey.startsWith(made.hint), 'the list shows the hint');
    keyId = made.id;
    await assertAccessible(page, 'keys list');
    await assertKeyboardReachable(page, 'keys list');
    await screenshot(page, 'keys-list');
  });

  test('a use of the key appears in its audit trail and its chart', async () => {
    const v = await root('/v1/verify', { method: 'POST', body: { key: rawKey, env: 'live', scopes: ['scans:read'], context: { ip: '203.0.113.9', user_agent: 'curl/8.5', action: 'GET /scans' } } });
    assert.equal(v.body.valid, true);
    const refused = await root('/v1/verify', { method: 'POST', body: { key: rawKey, env: 'live', scopes: ['scans:trigger'], context: { ip: '203.0.113.9', action: 'POST /scans' } } });
    assert.equal(refused.body.code, 'insufficient_scope');
    await eventually(async () => (await root(`/v1/audit?key_id=${keyId}&refused=true`)).body.events.length > 0, { what: 'the queue to deliver' });
    await page.getByRole('link', { name: 'billing service' }).click();
    await page.getByRole('heading', { name: 'billing service' }).waitFor();
    await eventually(async () => {
      const text = await page.locator('figure.chart figcaption').textContent({ timeout: 5000 });
      if (text.includes('2 uses')) return true;
      await page.reload();
      return false;
    }, { what: 'the chart to count both uses' });
    const caption = await page.locator('figure.chart figcaption').textContent();
    assert.match(caption, /valid 1/);
    assert.match(caption, /insufficient_scope 1/);
    assert.equal(await page.locator('figure.chart canvas').count(), 1, 'uPlot drew the chart');
    const trail = page.getByRole('table', { name: /Audit trail/ });
    await trail.getByRole('cell', { name: 'GET /scans' }).waitFor();
    await trail.getByRole('cell', { name: '203.0.113.9' }).first().waitFor();
    await trail.getByRole('cell', { name: 'key.create' }).waitFor();
    await assertAccessible(page, 'key page');
    await assertKeyboardReachable(page, 'key page');
    await screenshot(page, 'key-page');
  });

  test('rotate with a grace period: the new key shown once, the chain both ways', async () => {
    await page.getByRole('button', { name: 'Rotate…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Rotate billing service' });
    await dialog.getByLabel('The old key keeps working for').selectOption('3600');
    await dialog.getByRole('button', { name: 'Rotate' }).click();
    const shown = page.getByRole('dialog', { name: 'The new key' });
    const next = await shown.getByRole('textbox').inputValue();
    assert.match(next, /^sk_live_/);
    assert.notEqual(next, rawKey);
    await page.keyboard.press('Escape');
    await shown.waitFor({ state: 'detached' });
    assert.ok(!(await page.content()).includes(next));
    await page.getByRole('link', { name: keyId }).waitFor();
    const newId = page.url().split('/').pop();
    assert.notEqual(newId, keyId);
    // Both keys work during the grace; the old one is `rotating` until its end.
    for (const k of [rawKey, next]) {
      assert.equal((await root('/v1/verify', { method: 'POST', body: { key: k, env: 'live' } })).body.valid, true);
    }
    await page.getByRole('link', { name: keyId }).click();
    await page.getByRole('link', { name: newId }).waitFor();
    await page.getByText(/works until .* \(grace end\)/).waitFor();
    assert.equal(await page.locator('.title .status').textContent(), 'rotating');
  });

  test('revoke with a reason, after a confirmation that names the key: status and key.revoke event', async () => {
    await page.getByRole('button', { name: 'Revoke…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Revoke billing service?' });
    await dialog.getByText(keyId).waitFor();
    // Cancelling changes nothing.
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.equal((await root(`/v1/keys/${keyId}`)).body.status, 'rotating');
    await page.getByRole('button', { name: 'Revoke…' }).click();
    await dialog.getByLabel('Reason').fill('laptop stolen');
    await dialog.getByRole('button', { name: 'Revoke billing service' }).click();
    await page.locator('.title .status', { hasText: 'revoked' }).waitFor();
    await page.getByText(/by root: laptop stolen/).waitFor();
    assert.equal((await root(`/v1/keys/${keyId}`)).body.status, 'revoked');
    assert.equal((await root('/v1/verify', { method: 'POST', body: { key: rawKey, env: 'live' } })).body.code, 'revoked');
    await eventually(async () => {
      const cell = page.getByRole('table', { name: /Audit trail/ }).getByRole('cell', { name: 'key.revoke' });
      if (await cell.count()) return true;
      await page.reload();
      return false;
    }, { what: 'the key.revoke event' });
    await page.getByRole('button', { name: 'Revoke…' }).isDisabled();
    assert.equal(await page.getByRole('button', { name: 'Revoke…' }).isDisabled(), true, 'a revoked key cannot be revoked again');
  });

  test('alerts: the revoked key\'s use is listed with a link to the key', async () => {
    await eventually(async () => (await root(`/v1/alerts?key_id=${keyId}`)).body.alerts.some((a) => a.kind === 'revoked_key_used'), { what: 'the alert' });
    await page.getByRole('link', { name: 'Alerts' }).click();
    const row = page.getByRole('row').filter({ hasText: 'revoked_key_used' }).first();
    await row.waitFor();
    await row.getByRole('link').click();
    await page.getByRole('heading', { name: 'billing service' }).waitFor();
    await page.getByRole('link', { name: 'Alerts' }).click();
    await assertAccessible(page, 'alerts');
    assert.deepEqual(problems, []);
  });

  test('overview: the deployment\'s uses by hour, refusals by code, the most used keys and the alerts, as the API counts them', async () => {
    const counted = (await root('/v1/overview')).body;
    const mine = counted.top_keys.find((k) => k.key_id === keyId);
    assert.ok(mine && mine.uses >= 3 && mine.refused >= 2, JSON.stringify(mine));
    await page.getByRole('link', { name: 'Overview', exact: true }).click();
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    await page.locator('figure.chart canvas').waitFor();
    const refusals = page.getByRole('table', { name: /Refused uses/ });
    for (const code of ['insufficient_scope', 'revoked']) {
      const n = counted.refusals.find((c) => c.code === code).uses;
      await refusals.getByRole('row', { name: `${code} ${n}` }).waitFor();
    }
    const top = page.getByRole('table', { name: /most used keys/ });
    const row = top.getByRole('row').filter({ has: page.getByRole('link', { name: mine.hint }) });
    assert.deepEqual(await row.getByRole('cell').allTextContents(), [mine.hint, 'acme', String(mine.uses), String(mine.refused)]);
    await page.getByText('revoked_key_used').first().waitFor();
    // The root key's calls count, shown without a link (it has no page).
    await top.getByRole('cell', { name: /^the root key/ }).waitFor();
    assert.equal(await top.getByRole('row').filter({ hasText: 'the root key' }).getByRole('link').count(), 0);
    assert.match(await page.locator('figure.chart figcaption').textContent(), /insufficient_scope/);
    await assertAccessible(page, 'overview');
    await screenshot(page, 'overview');
    await row.getByRole('link').click();
    await page.getByRole('heading', { name: 'billing service' }).waitFor();
    assert.deepEqual(problems, []);
  });
});

describe('the keys list', () => {
  test('filters by owner, environment and status, and pages through the API\'s cursor', async () => {
    const make = (body) => root('/v1/keys', { method: 'POST', body: { owner: 'fleet', env: 'live', scopes: ['scans:read'], ...body } });
    for (let i = 0; i < 52; i++) assert.equal((await make({ name: `fleet ${String(i).padStart(2, '0')}` })).status, 201);
    const gone = await make({ name: 'fleet revoked' });
    await root(`/v1/keys/${gone.body.id}/revoke`, { method: 'POST', body: { reason: 'test' } });
    await make({ name: 'fleet admin', scopes: ['admin'] });
    await make({ name: 'fleet wildcard', scopes: ['scans:*'] });
    await make({ name: 'fleet soon', expires_in: 3 * 86400 });
    await make({ name: 'fleet staging', env: 'staging' });
    const { context, page, problems } = await openPage(browser);
    await signIn(page, worker.rootKey);
    // Each filter is asked of the API: wait for its answer before reading the table.
    const answered = (fragment) => page.waitForResponse((r) => r.url().includes(fragment) && r.status() === 200);
    let listed = answered('/v1/keys?owner=fleet&limit=50');
    await page.getByLabel('Owner').fill('fleet');
    await listed;
    const caption = page.locator('table.keys caption');
    await eventually(async () => (await caption.textContent()) === '50 keys (more on the next page)', { what: 'the first page' });
    listed = answered('cursor=');
    await page.getByRole('button', { name: 'Load the next page' }).click();
    await listed;
    await eventually(async () => (await caption.textContent()) === '57 keys', { what: 'the second page' });
    const names = async () => (await page.locator('table.keys tbody tr td:first-child').allTextContents()).sort();
    assert.equal(new Set(await names()).size, 57, 'no key twice across pages');
    // Each status filter is the server's: asked of the API, and answered whole.
    const filtered = async (status, expected) => {
      const answer = answered(`status=${status}`);
      await page.getByLabel('Status').selectOption(status);
      await answer;
      await eventually(async () => (await caption.textContent()) === `${expected.length} key${expected.length === 1 ? '' : 's'}`, { what: `the ${status} keys` });
      assert.deepEqual(await names(), expected);
    };
    await filtered('revoked', ['fleet revoked']);
    await filtered('over_privileged', ['fleet admin', 'fleet wildcard']);
    await page.getByRole('row').filter({ hasText: 'fleet admin' }).getByText('broad scopes').waitFor();
    await filtered('expiring', ['fleet soon']);
    await filtered('stale', []);
    await page.getByLabel('Status').selectOption('any');
    await eventually(async () => (await caption.textContent()) === '50 keys (more on the next page)', { what: 'every key again' });
    listed = answered('env=staging');
    await page.getByLabel('Environment').selectOption('staging');
    await listed;
    // The API reads on until a page is full or the list ends: one page, one key.
    await eventually(async () => (await caption.textContent()) === '1 key', { what: 'the staging page' });
    assert.equal(await page.getByRole('button', { name: 'Load the next page' }).count(), 0);
    assert.deepEqual(await names(), ['fleet staging']);
    assert.deepEqual(problems, []);
    await context.close();
  });
});

describe('restrictions and what a key may grant', () => {
  test('networks, a start time and a role from the create dialog are what the key holds, shown on its page', async () => {
    const { context, page, problems } = await openPage(browser);
    await signIn(page, worker.rootKey);
    // The list shows this owner's keys (the deployment has more than a page by now).
    const listed = page.waitForResponse((r) => r.url().includes('owner=restricted') && r.status() === 200);
    await page.getByLabel('Owner').fill('restricted');
    await listed;
    await page.getByRole('button', { name: 'Create key' }).click();
    const dialog = page.getByRole('dialog', { name: 'Create a key' });
    await dialog.getByLabel('Name', { exact: true }).fill('scheduled reader');
    await dialog.getByLabel('Owner').fill('restricted');
    await dialog.getByLabel(/^reader\b/).check();
    await dialog.getByLabel(/Allowed client networks/).fill('203.0.113.0/24\n2001:db8::/32\n');
    // A start within the default 90-day life (a start after its expiry is refused).
    const start = new Date(Math.floor(Date.now() / 1000) * 1000 + 30 * 86_400_000).toISOString().slice(0, 19);
    await dialog.getByLabel(/Works from/).fill(start);
    await assertAccessible(page, 'create dialog with restrictions');
    await dialog.getByRole('button', { name: 'Create key' }).click();
    const shown = page.getByRole('dialog', { name: 'Your new key' });
    const raw = await shown.getByLabel(/Key for scheduled reader/).inputValue();
    await shown.getByRole('button', { name: /I have stored it/ }).click();
    await page.getByRole('link', { name: 'scheduled reader' }).click();
    await page.getByRole('heading', { name: 'scheduled reader' }).waitFor();
    const field = (name) => page.locator('dl.record dt', { hasText: new RegExp(`^${name}$`) }).locator('xpath=following-sibling::dd[1]');
    assert.equal(await field('Roles').textContent(), 'reader');
    assert.equal(await field('Scopes').textContent(), 'repos:read scans:read');
    assert.equal(await field('Allowed networks').textContent(), '203.0.113.0/24 2001:db8::/32');
    assert.equal(await field('Works from').textContent(), `${start.replace('T', ' ')} UTC`);
    // What the page shows is what the API holds, and the Worker enforces it.
    const id = page.url().split('/').pop();
    const record = (await root(`/v1/keys/${id}`)).body;
    assert.deepEqual(record.roles, ['reader']);
    assert.deepEqual(record.allowed_ips, ['203.0.113.0/24', '2001:db8::/32']);
    assert.equal(record.not_before, `${start}Z`);
    const use = await root('/v1/verify', { method: 'POST', body: { key: raw, env: 'live', context: { ip: '203.0.113.9' } } });
    assert.equal(use.body.code, 'not_yet_valid');
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('a bounded key is offered only the scopes and roles the API says it may grant', async () => {
    const minter = await root('/v1/keys', { method: 'POST', body: { name: 'minter', owner: 'granting', env: 'live', scopes: ['keys:*', 'scans:read'] } });
    assert.equal(minter.status, 201, minter.text);
    const { context, page, problems } = await openPage(browser);
    await signIn(page, minter.body.key);
    await page.getByRole('button', { name: 'Create key' }).click();
    const dialog = page.getByRole('dialog', { name: 'Create a key' });
    for (const held of ['scans:read', 'keys:read', 'keys:write']) assert.equal(await dialog.getByLabel(new RegExp(`^${held} `)).isEnabled(), true, held);
    for (const not of ['scans:trigger', 'repos:read', 'admin', 'audit:read']) assert.equal(await dialog.getByLabel(new RegExp(`^${not} `)).isDisabled(), true, not);
    assert.equal(await dialog.getByLabel(/^reader\b/).isDisabled(), true, 'reader gives repos:read, which it does not hold');
    assert.equal(await dialog.getByLabel(/^writer\b/).isDisabled(), true);
    await dialog.getByLabel('Name', { exact: true }).fill('narrow');
    await dialog.getByLabel(/^scans:read /).check();
    await dialog.getByRole('button', { name: 'Create key' }).click();
    await page.getByRole('dialog', { name: 'Your new key' }).waitFor();
    const made = (await root('/v1/keys?owner=granting&limit=100')).body.keys.find((k) => k.name === 'narrow');
    assert.deepEqual(made.scopes, ['scans:read']);
    assert.equal(made.env, 'live');
    assert.deepEqual(problems, []);
    await context.close();
  });
});

describe('webhooks', () => {
  test('create an endpoint (the secret shown once, never stored), see its deliveries, delete it', async () => {
    const { context, page, problems } = await openPage(browser);
    await signIn(page, worker.rootKey);
    await page.getByRole('link', { name: 'Webhooks' }).click();
    await page.getByRole('heading', { name: 'Webhooks', level: 1 }).waitFor();
    await page.getByText('No webhook endpoints.').waitFor();
    await page.getByRole('button', { name: 'Create endpoint' }).click();
    const dialog = page.getByRole('dialog', { name: 'Create a webhook endpoint' });
    const url = `http://127.0.0.1:${receiver.address().port}/hook`;
    await dialog.getByLabel(/^URL/).fill(url);
    await dialog.getByLabel('key.created').check();
    await dialog.getByLabel(/^Owner/).fill('hooked');
    await dialog.getByLabel('Environment').selectOption('live');
    await assertAccessible(page, 'webhook create dialog');
    await dialog.getByRole('button', { name: 'Create endpoint' }).click();
    const shown = page.getByRole('dialog', { name: 'Its signing secret' });
    const secret = await shown.getByLabel(/Signing secret of/).inputValue();
    assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    await shown.getByText('It is shown once').waitFor();
    await shown.getByRole('button', { name: /I have stored it/ }).click();
    await page.getByRole('cell', { name: url, exact: true }).waitFor();
    // Gone: not in the page, nor in any storage, nor in anything the API answers.
    assert.ok(!(await page.content()).includes(secret), 'the secret left the page with its dialog');
    const stored = await page.evaluate(() => [...Object.values(sessionStorage), ...Object.values(localStorage)].join('\n'));
    assert.ok(!stored.includes(secret));
    assert.deepEqual(await context.cookies(), []);
    const listed = (await root('/v1/webhooks')).body.webhooks;
    const hook = listed.find((h) => h.url === url);
    assert.deepEqual([hook.owner, hook.env, hook.events, hook.state], ['hooked', 'live', ['key.created'], 'active']);
    assert.ok(!JSON.stringify(listed).includes(secret));
    await page.getByRole('row').filter({ hasText: url }).getByRole('cell', { name: 'active' }).waitFor();

    // An event: the receiver verifies it with the secret the dialog showed, and the page
    // lists the delivery.
    const made = await root('/v1/keys', { method: 'POST', body: { name: 'hooked key', owner: 'hooked', env: 'live', scopes: [] } });
    assert.equal(made.status, 201, made.text);
    await eventually(async () => received.some((r) => r.url === '/hook'), { what: 'the delivery' });
    const delivery = received.find((r) => r.url === '/hook');
    const event = new Webhook(secret).verify(delivery.body, delivery.headers);
    assert.equal(event.type, 'key.created');
    assert.equal(event.data.id, made.body.id);
    await page.getByRole('button', { name: `Deliveries to ${url}` }).click();
    const deliveries = page.getByRole('table', { name: /delivery attempts/ });
    await eventually(async () => {
      if (await deliveries.getByRole('cell', { name: 'key.created' }).count()) return true;
      await page.getByRole('button', { name: 'Refresh deliveries' }).click();
      return false;
    }, { what: 'the delivery in the page', every: 500 });
    const cells = await deliveries.getByRole('row').nth(1).getByRole('cell').allTextContents();
    assert.deepEqual([cells[1], cells[2], cells[3], cells[5]], ['key.created', '1', '200', '-']);
    await assertAccessible(page, 'webhooks');
    await screenshot(page, 'webhooks');

    // Delete, after a confirmation naming it; cancelling first changes nothing.
    await page.getByRole('button', { name: `Delete ${url}` }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete this endpoint?' });
    await confirm.getByText(hook.id).waitFor();
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    assert.ok((await root('/v1/webhooks')).body.webhooks.some((h) => h.id === hook.id));
    await page.getByRole('button', { name: `Delete ${url}` }).click();
    await confirm.getByRole('button', { name: `Delete ${url}` }).click();
    await page.getByText('No webhook endpoints.').waitFor();
    assert.equal((await root(`/v1/webhooks/${hook.id}`)).status, 404);
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('a key without keys:write sees creating endpoints disabled with the reason', async () => {
    const reader = await root('/v1/keys', { method: 'POST', body: { name: 'hook reader', owner: 'hooked', env: 'live', scopes: ['keys:read', 'audit:read'] } });
    const { context, page, problems } = await openPage(browser);
    await signIn(page, reader.body.key);
    await page.getByRole('link', { name: 'Webhooks' }).click();
    assert.equal(await page.getByRole('button', { name: 'Create endpoint' }).isDisabled(), true);
    await page.getByText(/may not manage webhook endpoints/).waitFor();
    // Its overview is its own owner's and environment's, as the API confines it.
    await page.getByRole('link', { name: 'Overview', exact: true }).click();
    await page.getByText(/Keys of hooked in live/).waitFor();
    await assertAccessible(page, 'bounded overview');
    assert.deepEqual(problems, []);
    await context.close();
  });
});

describe('a key with keys:read only', () => {
  test('create, rotate and revoke are shown disabled with the reason, and the API refuses them anyway', async () => {
    const reader = await root('/v1/keys', { method: 'POST', body: { name: 'auditor', owner: 'acme', env: 'live', scopes: ['keys:read'] } });
    const target = await root('/v1/keys', { method: 'POST', body: { name: 'target', owner: 'acme', env: 'live', scopes: ['scans:read'] } });
    const { context, page, problems } = await openPage(browser);
    await signIn(page, reader.body.key);
    const create = page.getByRole('button', { name: 'Create key' });
    assert.equal(await create.isDisabled(), true);
    await page.getByText(/may not create keys/).waitFor();
    await page.getByRole('link', { name: 'target' }).click();
    assert.equal(await page.getByRole('button', { name: 'Rotate…' }).isDisabled(), true);
    assert.equal(await page.getByRole('button', { name: 'Revoke…' }).isDisabled(), true);
    await page.getByText(/may not revoke keys/).waitFor();
    await page.getByText(/does not hold audit:read/).first().waitFor();
    await assertAccessible(page, 'read-only key page');
    // The attack: the buttons are only the page; the same calls from the page are refused.
    const tries = await page.evaluate(async (id) => {
      const key = sessionStorage.getItem('keyward.session');
      const post = (path, body) => fetch(path, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
        .then(async (r) => [r.status, (await r.json()).error?.code]);
      return [
        await post('/v1/keys', { name: 'sneaky', owner: 'acme', env: 'live', scopes: [] }),
        await post(`/v1/keys/${id}/revoke`, { reason: 'sneaky' }),
        await post(`/v1/keys/${id}/rotate`, {}),
      ];
    }, target.body.id);
    assert.deepEqual(tries, [[403, 'insufficient_scope'], [403, 'insufficient_scope'], [403, 'insufficient_scope']]);
    const after = await root('/v1/keys?owner=acme&limit=100');
    assert.ok(!after.body.keys.some((k) => k.name === 'sneaky'), 'nothing minted');
    assert.equal(after.body.keys.find((k) => k.id === target.body.id).status, 'active', 'nothing revoked or rotated');
    assert.deepEqual(problems.filter((p) => !p.includes('403')), []);
    await context.close();
  });
});

describe('hostile data is shown as text', () => {
  test('a name, owner filter, metadata and user agent holding HTML run nothing', async () => {
    // An owner cannot hold HTML (the owner grammar refuses it at creation); the owner
    // filter still takes any text, and sends it as a query value.
    const refused = await root('/v1/keys', { method: 'POST', body: { name: 'x', owner: HOSTILE, env: 'live', scopes: ['scans:read'] } });
    assert.equal(refused.status, 400, refused.text);
    const made = await root('/v1/keys', { method: 'POST', body: { name: HOSTILE, owner: 'hostile-data', env: 'live', scopes: ['scans:read'], metadata: { note: HOSTILE } } });
    assert.equal(made.status, 201, made.text);
    const use = await root('/v1/verify', { method: 'POST', body: { key: made.body.key, env: 'live', context: { ip: '198.51.100.4', user_agent: HOSTILE_UA, action: HOSTILE } } });
    assert.equal(use.body.valid, true);
    await eventually(async () => (await root(`/v1/audit?key_id=${made.body.id}`)).body.events.some((e) => e.user_agent === HOSTILE_UA), { what: 'the hostile use in the audit trail' });
    const { context, page, problems } = await openPage(browser);
    await signIn(page, worker.rootKey);
    // Filtered by a hostile owner: a filter value goes to the API as a query value.
    const none = page.waitForResponse((r) => r.url().includes('owner=%3Cimg') && r.status() === 200);
    await page.getByLabel('Owner').fill(HOSTILE);
    await none;
    const listed = page.waitForResponse((r) => r.url().includes('owner=hostile-data') && r.status() === 200);
    await page.getByLabel('Owner').fill('hostile-data');
    await listed;
    await page.getByRole('link', { name: HOSTILE }).waitFor();
    await page.getByRole('cell', { name: HOSTILE }).first().waitFor();
    await page.getByRole('link', { name: HOSTILE }).click();
    await page.getByRole('heading', { name: HOSTILE }).waitFor();
    await page.getByRole('cell', { name: HOSTILE_UA }).waitFor();
    await page.getByText(`note = ${HOSTILE}`).waitFor();
    assert.equal(await page.locator('img').count(), 0, 'no element was made from the data');
    assert.equal(await page.locator('script:not([src])').count(), 0);
    assert.equal(await page.locator('script').count(), 1, 'only the page\'s own script');
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(problems, [], 'no dialog, no error');
    await context.close();
  });
});
