// The edges an attacker reaches first, each attack performed against the real Worker
// under wrangler dev and the state read back: what the origin receives and may trust
// (header stripping, the gateway's signature checked by keyward/origin's verifier), who
// the failed-attempt throttle refuses, what the audit trail and alerts may hold, credit
// bounds, and reads that must fail closed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { ORIGIN_SECRET, call as rawCall, eventually, inOneMinute, makeKey, startWorker, alertWebhook, verifiedAlert } from './harness.mjs';

const require = createRequire(import.meta.url);
const { verifyGatewayRequest } = require('../../npm/lib/origin.cjs');

let worker;
let origin;
/** What the origin served: requests whose gateway signature verified. */
const served = [];
/** What the origin refused, with the verifier's reason. */
const refusedAtOrigin = [];
const webhook = [];
let nextIp = 0;
const freshIp = () => `198.51.100.${(nextIp++ % 250) + 1}`;

const call = (path, opts) => rawCall(worker.url, path, opts);
const root = (path, opts = {}) => call(path, { key: worker.rootKey, ...opts });

async function create(body) {
  const r = await root('/v1/keys', { method: 'POST', body: { name: 'k', owner: 'edges', scopes: ['repos:read'], env: 'live', ...body } });
  assert.equal(r.status, 201, r.text);
  return r.body;
}

/** `n` calls of `fn`, `batch` at a time. */
async function many(n, fn, batch = 20) {
  const out = [];
  for (let i = 0; i < n; i += batch) {
    out.push(...await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, j) => fn(i + j))));
  }
  return out;
}

before(async () => {
  origin = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', async () => {
      if (req.url === '/alerts') {
        webhook.push({ size: body.length, alert: verifiedAlert(req.headers, body) });
        res.writeHead(204).end();
        return;
      }
      // The origin trusts nothing it cannot verify: keyward/origin on the IncomingMessage.
      try {
        const who = await verifyGatewayRequest(req, { secret: ORIGIN_SECRET });
        served.push({ method: req.method, url: req.url, headers: req.headers, who });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ path: req.url, who }));
      } catch (e) {
        refusedAtOrigin.push({ url: req.url, reason: e.reason });
        res.writeHead(e.status ?? 500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: e.code, reason: e.reason } }));
      }
    });
  });
  await new Promise((r) => origin.listen(0, '127.0.0.1', r));
  const o = `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (origin.address()).port}`;
  worker = await startWorker({
    vars: {
      ORIGIN_URL: o,
      ...alertWebhook(`${o}/alerts`),
      ROUTES: JSON.stringify([
        { method: 'GET', path: '/admin*', scope: 'settings:write' },
        { method: '*', path: '/repos*', scope: 'repos:read' },
      ]),
    },
  });
});

after(async () => {
  await worker?.stop();
  origin?.close();
});

describe('what the origin receives', () => {
  test('URL-rewrite, proxy-credential and client-address headers never reach it; X-Forwarded-* are the gateway\'s', async () => {
    const k = await create({ name: 'reader' });
    const ip = freshIp();
    const r = await call('/repos/1', {
      key: k.key,
      headers: {
        'CF-Connecting-IP': ip,
        'X-Original-URL': '/admin',
        'X-Rewrite-URL': '/admin',
        'X-Original-URI': '/admin',
        'X-Forwarded-For': '10.0.0.1',
        'X-Forwarded-Host': 'admin.internal',
        'X-Forwarded-Proto': 'https',
        'X-Forwarded-Prefix': '/admin',
        Forwarded: 'for=10.0.0.1;host=admin.internal',
        'X-Real-IP': '10.0.0.1',
        'True-Client-IP': '10.0.0.1',
        'X-Client-IP': '10.0.0.1',
        'Proxy-Authorization': 'Basic c2VjcmV0OnNlY3JldA==',
        'x-trace': 'kept',
      },
    });
    assert.equal(r.status, 200, r.text);
    const got = served.at(-1);
    assert.equal(got.url, '/repos/1');
    for (const h of ['x-original-url', 'x-rewrite-url', 'x-original-uri', 'x-forwarded-prefix', 'forwarded', 'x-real-ip',
      'true-client-ip', 'x-client-ip', 'proxy-authorization', 'authorization']) {
      assert.equal(got.headers[h], undefined, h);
    }
    assert.equal(got.headers['x-forwarded-for'], ip, 'the address the platform saw, not the client\'s claim');
    assert.equal(got.headers['x-forwarded-host'], new URL(worker.url).host);
    assert.equal(got.headers['x-forwarded-proto'], 'http');
    assert.equal(got.headers['x-trace'], 'kept');
    // What it asserts is signed, and the origin's verifier read it back.
    assert.deepEqual(got.who.scopes, ['repos:read']);
    assert.equal(got.who.keyId, k.id);
    assert.equal(got.who.owner, 'edges');
    assert.match(got.headers['x-keyward-signature'], /^v1=[0-9a-f]{64}$/);
  });

  test('forged, altered and replayed-too-late requests straight to the origin are refused there', async () => {
    const k = await create({ name: 'signed' });
    assert.equal((await call('/repos/5?x=1', { key: k.key })).status, 200);
    const real = served.at(-1).headers;
    const pick = (h) => Object.fromEntries(Object.entries(h).filter(([n]) => n.startsWith('x-keyward-')));
    const signed = pick(real);
    const o = `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (origin.address()).port}`;
    const servedBefore = served.length;
    // Forged: identity headers without the gateway's signature.
    const forged = await fetch(`${o}/admin`, { headers: { 'x-keyward-key-id': k.id, 'x-keyward-owner': 'edges', 'x-keyward-scopes': 'settings:write' } });
    assert.equal(forged.status, 401);
    assert.equal((await forged.json()).error.reason, 'missing');
    // Altered: the gateway's real signature on another path, method or scope.
    for (const [path, method, headers] of /** @type {Array<[string, string, Record<string, string>]>} */ ([
      ['/admin', 'GET', signed],
      ['/repos/5?x=2', 'GET', signed],
      ['/repos/5?x=1', 'DELETE', signed],
      ['/repos/5?x=1', 'GET', { ...signed, 'x-keyward-scopes': 'settings:write' }],
      ['/repos/5?x=1', 'GET', { ...signed, 'x-keyward-owner': 'victim' }],
    ])) {
      const r = await fetch(`${o}${path}`, { method, headers });
      assert.equal(r.status, 401, `${method} ${path}`);
      assert.equal((await r.json()).error.reason, 'mismatch', `${method} ${path}`);
    }
    assert.equal(served.length, servedBefore, 'the origin served none of them');
    // Replayed as it was, later than the window: refused (the clock moved, as the
    // verifier's `now` option says; the request is the gateway's own).
    const later = new Request(`${o}/repos/5?x=1`, { headers: signed });
    const ts = Number(signed['x-keyward-timestamp']);
    await assert.rejects(verifyGatewayRequest(later, { secret: ORIGIN_SECRET, now: () => (ts + 61) * 1000 }), (/** @type {any} */ e) => e.reason === 'stale');
    const who = await verifyGatewayRequest(later, { secret: ORIGIN_SECRET, now: () => ts * 1000 });
    assert.equal(who.keyId, k.id, 'the same request in its window, as a Web Request');
  });

  test('an owner name that could break a header is refused at creation', async () => {
    for (const owner of ['team a, admin', 'a;b', '"q"', 'x\u202Ey', '50%']) {
      const r = await root('/v1/keys', { method: 'POST', body: { name: 'x', owner, scopes: ['repos:read'], env: 'live' } });
      assert.equal(r.status, 400, `${owner}: ${r.text}`);
      assert.equal(r.body.error.code, 'invalid_request');
      assert.match(r.body.error.message, /owner/);
    }
    const listed = await root('/v1/keys?owner=team%20a%2C%20admin');
    assert.equal(listed.status, 200, 'an old-grammar owner can still be looked up');
    assert.deepEqual(listed.body.keys, []);
  });

  test('a gateway without ORIGIN_SECRET does not start: every request answers 503 naming it', async () => {
    const w = await startWorker({
      vars: { ORIGIN_URL: 'http://127.0.0.1:9', ROUTES: JSON.stringify([{ method: '*', path: '/*', scope: 'repos:read' }]), ORIGIN_SECRET: null },
      ready: (s) => s === 503,
    });
    try {
      for (const path of ['/healthz', '/repos/1', '/v1/keys']) {
        const r = await rawCall(w.url, path, { key: w.rootKey });
        assert.equal(r.status, 503, path);
        assert.equal(r.body.error.code, 'unavailable');
        assert.match(r.body.error.message, /ORIGIN_SECRET is required/);
      }
    } finally {
      await w.stop();
    }
  });
});

describe('the failed-attempt throttle', () => {
  /** Floods `n` unknown keys from `ipOf(i)`; the answers. */
  const flood = async (n, ipOf, path = '/v1/keys') => {
    await inOneMinute();
    return many(n, (i) => call(path, { key: makeKey('sk', 'live'), headers: { 'CF-Connecting-IP': ipOf(i) } }));
  };

  test('after a flood from an address, the root key and a valid gateway key from it still work', async () => {
    const good = await create({ name: 'bystander' });
    const ip = freshIp();
    const answers = await flood(130, () => ip);
    assert.ok(answers.some((a) => a.status === 429), 'the flood was cut off');
    // The attacker's next unknown key is still refused...
    assert.equal((await call('/repos/1', { key: makeKey('sk', 'live'), headers: { 'CF-Connecting-IP': ip } })).status, 429);
    // ...while those who hold a key are not.
    const mine = await call('/v1/keys?limit=1', { key: worker.rootKey, headers: { 'CF-Connecting-IP': ip } });
    assert.equal(mine.status, 200, mine.text);
    const viaGateway = await call('/repos/1', { key: good.key, headers: { 'CF-Connecting-IP': ip } });
    assert.equal(viaGateway.status, 200, viaGateway.text);
    assert.equal(served.at(-1).who.keyId, good.id);
  });

  test('IPv6: 130 addresses of one /64 are one address', async () => {
    const net = `2001:db8:${(Date.now() % 0xffff).toString(16)}:1`;
    const answers = await flood(130, (i) => `${net}:${(i + 1).toString(16)}::${(i * 7 + 1).toString(16)}`);
    const limited = answers.filter((a) => a.status === 429).length;
    assert.ok(limited >= 10, `${limited} of 130 limited`);
    // Another /64 is not.
    const other = await call('/v1/keys', { key: makeKey('sk', 'live'), headers: { 'CF-Connecting-IP': `2001:db8:ffff:2::1` } });
    assert.equal(other.status, 401);
  });

  test('150 uses of a revoked key from one address: limited after its audit event and alert', async () => {
    const k = await create({ name: 'gone' });
    assert.equal((await root(`/v1/keys/${k.id}/revoke`, { method: 'POST', body: { reason: 'test' } })).status, 200);
    const ip = freshIp();
    await inOneMinute();
    const answers = await many(150, () => call('/repos/1', { key: k.key, headers: { 'CF-Connecting-IP': ip } }));
    const revoked = answers.filter((a) => a.status === 401 && a.body.error.code === 'revoked').length;
    const limited = answers.filter((a) => a.status === 429).length;
    assert.equal(revoked + limited, 150);
    assert.ok(revoked >= 1 && revoked <= 100, `${revoked} answered revoked (the limiter allows 100 a minute)`);
    // The trail: one row per use answered `revoked`, plus those in flight when the limit
    // tripped; not 150.
    await eventually(async () => (await root(`/v1/audit?key_id=${k.id}&limit=1000`)).body.events.filter((e) => e.outcome === 'revoked').length >= revoked,
      { what: 'the revoked uses in D1' });
    await new Promise((r) => setTimeout(r, 1500));
    const rows = (await root(`/v1/audit?key_id=${k.id}&limit=1000`)).body.events.filter((e) => e.outcome === 'revoked');
    assert.ok(rows.length >= revoked && rows.length <= revoked + 20, `${rows.length} audit rows for 150 uses`);
    // The use of a revoked key raised its alert.
    await eventually(async () => (await root(`/v1/alerts?key_id=${k.id}`)).body.alerts.some((a) => a.kind === 'revoked_key_used'),
      { what: 'a revoked_key_used alert' });
  });
});

describe('the audit trail and alerts', () => {
  const verify = (key, body) => root('/v1/verify', { method: 'POST', body: { key, env: 'live', ...body } });
  const byOutcome = (u) => Object.fromEntries(u.rows.map((r) => [r.outcome, r.uses]));

  test('the key. prefix is reserved in any case; usage counts by exact lifecycle values', async () => {
    const k = await create({ name: 'counted', owner: 'usage-exact' });
    for (const action of ['KEY.create', 'Key.revoke', 'key.anything']) {
      const r = await verify(k.key, { context: { action } });
      assert.equal(r.status, 400, action);
      assert.equal(r.body.error.code, 'invalid_request');
    }
    assert.equal((await verify(k.key, { context: { action: 'GET /reports' } })).body.code, 'valid');
    await eventually(async () => byOutcome((await root(`/v1/usage?key_id=${k.id}`)).body).valid === 1, { what: 'the use in D1' });
    // A use stored under a name SQLite's LIKE would fold into the lifecycle namespace
    // (written before the API refused it) is still counted as a use.
    worker.d1(`INSERT INTO audit_events (event_id, key_id, hint, owner, actor, action, ip, country, user_agent, time, outcome, status)
      VALUES ('${'e'.repeat(32)}', '${k.id}', NULL, 'usage-exact', NULL, 'KEY.create', NULL, NULL, NULL, '${new Date().toISOString()}', 'valid', 200)`);
    assert.equal(byOutcome((await root(`/v1/usage?key_id=${k.id}`)).body).valid, 2);
  });

  test('bidi and other invisible format characters are refused where stored', async () => {
    const k = await create({ name: 'plain' });
    for (const [body, field] of /** @type {Array<[any, string]>} */ ([
      [{ name: 'admin\u202Etxt.exe' }, 'name'],
      [{ name: 'a\u2066b' }, 'name'],
      [{ name: 'zero\u200Bwidth' }, 'name'],
      [{ owner: 'own\u2069er' }, 'owner'],
    ])) {
      const r = await root('/v1/keys', { method: 'POST', body: { name: 'x', owner: 'edges', scopes: ['repos:read'], env: 'live', ...body } });
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
      assert.match(r.body.error.message, new RegExp(field));
    }
    for (const context of [{ user_agent: 'curl\u202E' }, { action: 'GET /x\u200D' }]) {
      const r = await verify(k.key, { context });
      assert.equal(r.status, 400, JSON.stringify(context));
    }
    const names = (await root('/v1/keys?owner=edges&limit=100')).body.keys.map((x) => x.name);
    assert.ok(names.every((n) => !/[\u200B-\u200F\u202A-\u202E\u2066-\u2069]/.test(n)), 'nothing stored');
  });

  test('a leak report with a 900 KB url raises an alert of bounded size, in D1 and at the webhook', async () => {
    const k = await create({ name: 'leaky' });
    const url = `https://example.com/${'u'.repeat(900_000)}`;
    const r = await root('/v1/leaks', { method: 'POST', body: [{ token: k.key, type: 'keyward_api_key', url, source: 's'.repeat(50_000) }] });
    assert.equal(r.status, 200, r.text.slice(0, 300));
    const alerts = await eventually(async () => {
      const a = (await root(`/v1/alerts?key_id=${k.id}`)).body.alerts.filter((x) => x.kind === 'leaked');
      return a.length === 1 && a;
    }, { what: 'the leaked alert' });
    assert.ok(alerts[0].detail.length <= 2048, `${alerts[0].detail.length} characters`);
    assert.match(alerts[0].detail, /revoked|leaked/);
    const stored = worker.d1(`SELECT length(detail) AS n FROM alerts WHERE key_id = '${k.id}'`)[0].results[0].n;
    assert.ok(stored <= 2048, `${stored} stored`);
    const posted = await eventually(() => webhook.find((w) => w.alert.key_id === k.id && w.alert.kind === 'leaked'), { what: 'the webhook' });
    assert.ok(posted.size < 8192, `${posted.size} bytes posted`);
  });

  test('JSON answers carry X-Content-Type-Options: nosniff', async () => {
    for (const r of [await root('/v1/keys?limit=1'), await call('/v1/keys'), await call('/v1/openapi.json'), await call('/healthz'), await call('/v1/nope')]) {
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
      assert.match(r.headers.get('content-type'), /application\/json/);
    }
  });

  test('credit adds never take a balance past MAX_CREDITS (nor 2^53)', async () => {
    const MAX = 1_000_000_000_000;
    const k = await create({ name: 'rich', credits: { remaining: 0 } });
    for (let i = 0; i < 10; i++) {
      const r = await root(`/v1/keys/${k.id}/credits`, { method: 'POST', body: { add: MAX / 10 } });
      assert.equal(r.status, 200, r.text);
    }
    for (const add of [1, MAX]) {
      const r = await root(`/v1/keys/${k.id}/credits`, { method: 'POST', body: { add } });
      assert.equal(r.status, 409, r.text);
      assert.equal(r.body.error.code, 'conflict');
    }
    const shown = (await root(`/v1/keys/${k.id}`)).body;
    assert.equal(shown.credits.remaining, MAX);
    assert.ok(Number.isSafeInteger(shown.credits.remaining));
  });
});

/** Overwrites, in every Durable Object's SQLite file under `dir`, the stored rate-limit
 *  windows named `name` (all of them when null) with bytes no window decodes from (a bad
 *  write, a format from another version); returns how many rows changed. */
function damageWindows(dir, name = null) {
  const files = [];
  const walk = (d) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (f.endsWith('.sqlite')) files.push(p);
    }
  };
  walk(join(dir, 'v3', 'do'));
  let damaged = 0;
  for (const f of files) {
    damaged += Number(execFileSync('python3', ['-c', `
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
try:
    if sys.argv[2]:
        n = db.execute("UPDATE windows SET uses = 'not a window' WHERE name = ?", (sys.argv[2],)).rowcount
    else:
        n = db.execute("UPDATE windows SET uses = 'not a window'").rowcount
    db.commit()
except sqlite3.OperationalError:
    n = 0
print(n)`, f, name ?? '']).toString().trim());
  }
  return damaged;
}

describe('reads that fail closed', () => {
  test('a rate-limit window that cannot be decoded refuses the use instead of resetting the limit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyward-window-'));
    let w = await startWorker({ persistDir: dir });
    try {
      const made = await rawCall(w.url, '/v1/keys', { method: 'POST', key: w.rootKey, body: { name: 'w', owner: 'edges', scopes: ['repos:read'], env: 'live', rate_limits: [{ name: 'm', limit: 3, period: '1h' }] } });
      assert.equal(made.status, 201, made.text);
      const use = (ww) => rawCall(ww.url, '/v1/verify', { method: 'POST', key: ww.rootKey, body: { key: made.body.key, env: 'live' } });
      for (let i = 0; i < 3; i++) assert.equal((await use(w)).body.code, 'valid');
      assert.equal((await use(w)).body.code, 'rate_limited');
      await w.stop();
      // The stored window is damaged (a bad write, a format from another version).
      const damaged = damageWindows(dir);
      assert.equal(damaged, 1, 'the key\'s one window');
      w = await startWorker({ persistDir: dir });
      for (let i = 0; i < 3; i++) {
        const r = await use(w);
        assert.equal(r.status, 503, r.text);
        assert.equal(r.body.error.code, 'unavailable');
      }
    } finally {
      await w.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a use the owner\'s object cannot count is refused and given back to the key whole: its credits and its own window', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyward-owner-'));
    let w = await startWorker({ persistDir: dir });
    try {
      const as = (ww) => (path, opts = {}) => rawCall(ww.url, path, { key: ww.rootKey, ...opts });
      let r = await as(w)('/v1/owners/broken-co/limits', { method: 'PUT', body: { rate_limits: [{ name: 'team', limit: 100, period: '1h' }] } });
      assert.equal(r.status, 200, r.text);
      const made = await as(w)('/v1/keys', { method: 'POST', body: { name: 'o', owner: 'broken-co', scopes: ['repos:read'], env: 'live', credits: { remaining: 10 }, rate_limits: [{ name: 'own', limit: 5, period: '1h' }] } });
      assert.equal(made.status, 201, made.text);
      const use = (ww) => rawCall(ww.url, '/v1/verify', { method: 'POST', key: ww.rootKey, body: { key: made.body.key, env: 'live', cost: 1 } });
      assert.equal((await use(w)).body.code, 'valid');
      const credits = async (ww) => (await as(ww)(`/v1/keys/${made.body.id}`)).body.credits.remaining;
      assert.equal(await credits(w), 9);
      await w.stop();
      // Only the owner's shared window is damaged: the key's own object still answers.
      assert.equal(damageWindows(dir, 'team'), 1, 'the owner\'s one window');
      w = await startWorker({ persistDir: dir });
      for (let i = 0; i < 3; i++) {
        r = await use(w);
        assert.equal(r.status, 503, r.text);
        assert.equal(r.body.error.code, 'unavailable');
      }
      // Read back: the three refused uses cost the key nothing.
      assert.equal(await credits(w), 9, 'the credits were given back');
      // The owner's limits lifted, the key's own window still holds its 4 remaining uses.
      r = await as(w)('/v1/owners/broken-co/limits', { method: 'PUT', body: { rate_limits: [] } });
      assert.equal(r.status, 200, r.text);
      const codes = [];
      for (let i = 0; i < 5; i++) codes.push((await use(w)).body.code);
      assert.deepEqual(codes, ['valid', 'valid', 'valid', 'valid', 'rate_limited'], 'the own window was given back');
      assert.equal(await credits(w), 5);
    } finally {
      await w.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
