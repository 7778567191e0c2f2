// remoteStore against the real keyward Worker under `wrangler dev` (tests/e2e/harness.mjs),
// behind a real Express app: every verdict, least-privilege tokens, and a revocation
// becoming visible once the cache TTL has passed.
//
// Needs the built Worker (`make build-worker`; `make test-npm` builds it first). Without
// it, the test is reported as skipped with the reason, never passed silently.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { createKey } from 'keyward';
import { apiKeyAuth, apiKeyErrorHandler, remoteStore, requireScope } from 'keyward/express';

/** The environment each key names (verifyKey's env is required). */
const ANY_ENV = { env: { any: true } };
const harnessPath = fileURLToPath(new URL('../../tests/e2e/harness.mjs', import.meta.url));
const replayPath = fileURLToPath(new URL('../../tests/vectors/replay.mjs', import.meta.url));
const sha256 = (s) => createHash('sha256').update(s).digest('hex');
const builtPath = fileURLToPath(new URL('../../worker/build/index.js', import.meta.url));
const missing = !existsSync(harnessPath) ? `${harnessPath} does not exist yet`
  : !existsSync(builtPath) ? `the Worker is not built (${builtPath}): run 'make build-worker'` : null;
if (missing && process.env.KEYWARD_REQUIRE_WORKER === '1') throw new Error(missing);

const TTL = 1500;

describe('remoteStore against the Worker under wrangler dev', { skip: missing ?? false, timeout: 180_000 }, () => {
  let worker;
  let app;
  let srv;
  let base;
  const k = {};

  async function api(path, { method = 'GET', key = worker.rootKey, body } = {}) {
    const r = await fetch(worker.url + path, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: r.status, body: await r.json() };
  }
  async function create(spec) {
    const r = await api('/v1/keys', { method: 'POST', body: { name: 'npm', owner: 'npm-tests', scopes: [], env: 'live', ...spec } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body;
  }
  const get = async (path, key) => {
    const r = await fetch(base + path, { headers: key ? { authorization: `Bearer ${key}` } : {} });
    return { status: r.status, body: await r.json(), challenge: r.headers.get('www-authenticate') };
  };

  before(async () => {
    const { startWorker } = await import(harnessPath);
    worker = await startWorker();
    // The service's own token holds keys:verify only (least privilege).
    k.verifier = await create({ name: 'verifier', scopes: ['keys:verify'] });
    k.reader = await create({ name: 'reader', scopes: ['scans:read'] });
    k.test = await create({ name: 'test env', scopes: ['scans:read'], env: 'test' });
    k.short = await create({ name: 'short', scopes: ['scans:read'], expires_in: 1 });
    k.revokedEarly = await create({ name: 'revoked early', scopes: ['scans:read'] });
    k.revokeLater = await create({ name: 'revoke later', scopes: ['scans:read'] });
    k.noVerify = await create({ name: 'no verify', scopes: ['scans:read'] });
    assert.equal((await api(`/v1/keys/${k.revokedEarly.id}/revoke`, { method: 'POST', body: { reason: 'test' } })).status, 200);

    app = express();
    app.set('env', 'test');
    app.use(apiKeyAuth({ store: remoteStore({ url: worker.url, token: k.verifier.key, cacheTtlMs: TTL }), env: 'live' }));
    app.get('/scans', requireScope('scans:read'), (req, res) => res.json(req.apiKey));
    app.get('/settings', requireScope('settings:write'), (req, res) => res.json({}));
    app.use(apiKeyErrorHandler());
    await new Promise((r) => { srv = app.listen(0, '127.0.0.1', r); });
    base = `http://127.0.0.1:${srv.address().port}`;
  });

  after(async () => {
    srv?.closeAllConnections();
    srv?.close();
    await worker?.stop();
  });

  test('every outcome through Express, with the Worker deciding', async () => {
    await new Promise((r) => setTimeout(r, 1100)); // let the 1 s key expire
    const ok = await get('/scans', k.reader.key);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual(ok.body, { id: k.reader.id, owner: 'npm-tests', scopes: ['scans:read'], env: 'live', hint: k.reader.hint });
    const live = k.reader.key;
    const cases = [
      [undefined, '/scans', 401, 'missing_key'],
      ['sk_live_nope', '/scans', 401, 'malformed'],
      [live.slice(0, 20) + (live[20] === 'B' ? 'C' : 'B') + live.slice(21), '/scans', 401, 'bad_checksum'],
      [createKey({ env: 'live' }).key, '/scans', 401, 'unknown_key'],
      [k.test.key, '/scans', 401, 'wrong_environment'],
      [k.short.key, '/scans', 401, 'expired'],
      [k.revokedEarly.key, '/scans', 401, 'revoked'],
      [k.reader.key, '/settings', 403, 'insufficient_scope'],
      [worker.rootKey, '/scans', 401, 'unknown_key'], // the root key is not an app user's key
    ];
    for (const [key, path, status, code] of cases) {
      const r = await get(path, key);
      assert.equal(r.status, status, `${code}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, code);
      assert.ok(r.challenge.startsWith('Bearer realm="keyward"'));
    }
  });

  test('the key and the end user\'s address go to the Worker in headers, never in the URL or a body; the verdicts are the JSON form\'s', async () => {
    // A recording proxy in front of the Worker; `jsonOnly` answers the header form's path
    // 404, as a Worker older than it does, so that the store asks in the JSON form.
    const seen = [];
    const proxy = (jsonOnly) => createServer(async (req, res) => {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      const body = Buffer.concat(chunks).toString();
      seen.push({ jsonOnly, method: req.method, url: req.url, key: req.headers['keyward-key'], ip: req.headers['keyward-context-ip'], body });
      if (jsonOnly && req.url.startsWith('/v1/verify/header')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        return res.end('{"error":{"code":"not_found","message":"no such endpoint"}}');
      }
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([n]) => ['authorization', 'keyward-key', 'keyward-context-ip', 'content-type'].includes(n)));
      const r = await fetch(worker.url + req.url, { method: req.method, headers, body: body === '' ? undefined : body });
      res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' });
      res.end(await r.text());
    });
    const servers = [proxy(false), proxy(true)];
    for (const s of servers) await new Promise((r) => s.listen(0, '127.0.0.1', r));
    try {
      const [header, json] = servers.map((s) => remoteStore({ url: `http://127.0.0.1:${s.address().port}`, token: k.verifier.key, cacheTtlMs: 0 }));
      const fenced = await create({ name: 'fenced', scopes: ['scans:read'], allowed_ips: ['192.0.2.0/24'] });
      const paid = [await create({ name: 'paid', scopes: [], credits: { remaining: 3 } }), await create({ name: 'paid', scopes: [], credits: { remaining: 3 } })];
      const cases = [
        [k.reader.key, { env: 'live', scopes: ['scans:read'] }],
        [k.reader.key, { env: 'live', scopes: ['settings:write'] }],
        [k.test.key, { env: 'live' }],
        [k.revokedEarly.key, { env: 'live' }],
        [createKey({ env: 'live' }).key, { env: 'live' }],
        [fenced.key, { env: 'live', ip: '192.0.2.4' }],
        [fenced.key, { env: 'live', ip: '203.0.113.4' }],
      ];
      for (const [key, options] of cases) {
        const viaHeader = await header.verifyKey(key, options);
        const viaJson = await json.verifyKey(key, options);
        assert.deepEqual(viaHeader, viaJson, `${key.slice(0, 12)} ${JSON.stringify(options)}`);
      }
      // A counted key, one of a pair per form: the same counts, the same refusal at the end.
      for (let i = 0; i < 3; i++) {
        const [a, b] = [await header.verifyKey(paid[0].key, { env: 'live', cost: 2 }), await json.verifyKey(paid[1].key, { env: 'live', cost: 2 })];
        const same = (v) => ({ code: v.code, credits: v.credits, owner: v.key?.owner });
        assert.deepEqual(same(a), same(b), JSON.stringify([a, b]));
      }
      const sent = seen.filter((r) => !r.jsonOnly);
      assert.ok(sent.length >= cases.length + 3);
      for (const r of sent) {
        assert.equal(r.method, 'POST');
        assert.match(r.url, /^\/v1\/verify\/header(\?|$)/);
        assert.equal(r.body, '', 'no body');
        assert.ok(typeof r.key === 'string' && r.key.length > 0, 'the key is in the header');
        assert.ok(!decodeURIComponent(r.url).includes(r.key), 'the key is not in the URL');
        assert.ok(!/192\.0\.2\.4|203\.0\.113\.4/.test(decodeURIComponent(r.url)), 'the end user\'s address is not in the URL');
      }
      assert.ok(sent.some((r) => r.url === '/v1/verify/header?env=live' && r.ip === '192.0.2.4'), JSON.stringify(sent.map((r) => [r.url, r.ip])));
      assert.ok(sent.some((r) => r.url === '/v1/verify/header?env=live&cost=2'));
      // The other store asked the header form once, was told 404, and used the JSON form.
      const old = seen.filter((r) => r.jsonOnly);
      assert.equal(old.filter((r) => r.url.startsWith('/v1/verify/header')).length, 1);
      assert.ok(old.slice(1).every((r) => r.url === '/v1/verify' && r.key === undefined && JSON.parse(r.body).key));
    } finally {
      for (const s of servers) { s.closeAllConnections(); s.close(); }
    }
  });

  test('a revocation becomes visible once the cache TTL has passed', async () => {
    assert.equal((await get('/scans', k.revokeLater.key)).status, 200);
    const r = await api(`/v1/keys/${k.revokeLater.id}/revoke`, { method: 'POST', body: { reason: 'left the team' } });
    assert.equal(r.status, 200);
    const cached = await get('/scans', k.revokeLater.key);
    assert.equal(cached.status, 200, 'still cached: revocation shows within cacheTtlMs, not at once');
    await new Promise((res) => setTimeout(res, TTL + 100));
    const after = await get('/scans', k.revokeLater.key);
    assert.equal(after.status, 401);
    assert.equal(after.body.error.code, 'revoked');
  });

  test('checks.json through remoteStore and Express, the Worker deciding', async () => {
    const { envOf, onTheClock, shifted } = await import(replayPath);
    const checks = onTheClock().map((c) => shifted(c));
    // Each case's record, written straight into the Worker's KV under the presented key's hash
    // in the format before the ledger, then adopted by the root key's migration.
    await worker.adoptLegacy(checks.filter((c) => c.input.record).map((c) => ({ key: c.input.key, record: c.input.record })));
    // A keys:verify key verifies its own environment only: one service token per environment.
    const stores = {};
    for (const env of new Set(checks.map(envOf))) {
      const token = env === 'live' ? k.verifier.key : (await create({ name: `verifier ${env}`, scopes: ['keys:verify'], env })).key;
      stores[env] = remoteStore({ url: worker.url, token, cacheTtlMs: 0 });
    }
    const vapp = express();
    vapp.set('env', 'test');
    checks.forEach((c, i) => {
      const chain = [apiKeyAuth({ store: stores[envOf(c)], env: envOf(c) })];
      if (c.input.scopes.length) chain.push(requireScope(c.input.scopes));
      vapp.get(`/checks/${i}`, ...chain, (req, res) => res.json(req.apiKey));
    });
    vapp.use(apiKeyErrorHandler());
    const vsrv = vapp.listen(0, '127.0.0.1');
    await new Promise((r) => vsrv.once('listening', r));
    try {
      for (const [i, c] of checks.entries()) {
        const r = await fetch(`http://127.0.0.1:${vsrv.address().port}/checks/${i}`, { headers: { authorization: `Bearer ${c.input.key}` } });
        const body = await r.json();
        assert.equal(r.status === 200 ? 'valid' : body.error.code, c.expect.code, `${c.name}: ${JSON.stringify(body)}`);
        assert.equal(r.status, c.expect.status, c.name);
        assert.equal(r.headers.has('www-authenticate'), c.expect.challenge, c.name);
        if (c.expect.code === 'valid') assert.equal(body.id, c.input.record.id, c.name);
      }
    } finally {
      vsrv.closeAllConnections();
      vsrv.close();
    }
  });

  test('limits and credits: the Worker counts every use, none answered from the cache; its headers come through', async () => {
    const limited = await create({ name: 'limited', scopes: ['scans:read'], rate_limits: [{ name: 'burst', limit: 5, period: '1m' }] });
    const metered = await create({ name: 'metered', scopes: ['scans:read'], credits: { remaining: 7 } });
    // A long TTL: were verdicts of counted keys cached, far more than 5 would pass.
    const store = remoteStore({ url: worker.url, token: k.verifier.key, cacheTtlMs: 60_000 });
    const lapp = express();
    lapp.set('env', 'test');
    lapp.get('/one', apiKeyAuth({ store, env: 'live' }), (req, res) => res.json({ ok: true }));
    lapp.get('/three', apiKeyAuth({ store, env: 'live', cost: 3 }), (req, res) => res.json({ ok: true }));
    lapp.use(apiKeyErrorHandler());
    const lsrv = lapp.listen(0, '127.0.0.1');
    await new Promise((r) => lsrv.once('listening', r));
    const at = (path, key) => fetch(`http://127.0.0.1:${lsrv.address().port}${path}`, { headers: { authorization: `Bearer ${key}` } });
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, () => at('/one', limited.key)));
      assert.equal(answers.filter((r) => r.status === 200).length, 5);
      const refused = answers.filter((r) => r.status === 429);
      assert.equal(refused.length, 15);
      const body = await refused[0].json();
      assert.equal(body.error.code, 'rate_limited');
      assert.equal(refused[0].headers.get('ratelimit-policy'), '"burst";q=5;w=60');
      assert.match(refused[0].headers.get('ratelimit'), /^"burst";r=0;t=\d+$/);
      assert.ok(Number(refused[0].headers.get('retry-after')) >= 1);
      assert.match(answers.find((r) => r.status === 200).headers.get('ratelimit'), /^"burst";r=[0-4];t=\d+$/);

      // Credits: cost 3 against 7: two uses pass (1 left), the third is usage_exceeded.
      const spent = await Promise.all(Array.from({ length: 4 }, () => at('/three', metered.key)));
      assert.equal(spent.filter((r) => r.status === 200).length, 2);
      const over = spent.find((r) => r.status === 429);
      assert.equal((await over.json()).error.code, 'usage_exceeded');
      const shown = await api(`/v1/keys/${metered.id}`);
      assert.equal(shown.body.credits.remaining, 1, 'the Worker holds the balance');
      assert.equal((await at('/one', metered.key)).status, 200, 'cost 1 still fits');
    } finally {
      lsrv.closeAllConnections();
      lsrv.close();
    }
  });

  test('restrictions: the Worker decides with the client address sent as context.ip; a verdict is cached per address', async () => {
    const fenced = await create({ name: 'fenced', scopes: ['scans:read'], allowed_ips: ['203.0.113.0/24'] });
    const later = await create({ name: 'later', scopes: ['scans:read'], not_before: new Date(Date.now() + 3_600_000).toISOString() });
    // A long TTL: were a verdict shared across addresses, the outside one would pass.
    const store = remoteStore({ url: worker.url, token: k.verifier.key, cacheTtlMs: 60_000 });
    const at = (key, ip) => store.verifyKey(key, { env: 'live', ip });
    assert.equal((await at(fenced.key, '203.0.113.9')).code, 'valid');
    assert.equal((await at(fenced.key, '::ffff:203.0.113.10')).code, 'valid', 'IPv4-mapped IPv6');
    for (const ip of ['198.51.100.1', undefined, 'fe80::1%eth0', 'junk']) {
      assert.equal((await at(fenced.key, ip)).code, 'ip_not_allowed', String(ip));
    }
    assert.equal((await at(fenced.key, '203.0.113.9')).code, 'valid');
    assert.equal((await at(later.key, '203.0.113.9')).code, 'not_yet_valid');
    // Through Express under trust proxy, X-Forwarded-For giving the client.
    const rapp = express();
    rapp.set('env', 'test');
    rapp.set('trust proxy', 'loopback');
    let ran = 0;
    rapp.get('/scans', apiKeyAuth({ store, env: 'live' }), requireScope('scans:read'), (req, res) => { ran += 1; res.json(req.apiKey); });
    rapp.use(apiKeyErrorHandler());
    const rsrv = rapp.listen(0, '127.0.0.1');
    await new Promise((r) => rsrv.once('listening', r));
    const via = async (key, ip) => {
      const r = await fetch(`http://127.0.0.1:${rsrv.address().port}/scans`, { headers: { authorization: `Bearer ${key}`, ...(ip ? { 'x-forwarded-for': ip } : {}) } });
      return { status: r.status, body: await r.json() };
    };
    try {
      assert.equal((await via(fenced.key, '203.0.113.9')).status, 200);
      const outside = await via(fenced.key, '198.51.100.1');
      assert.equal(outside.status, 403);
      assert.equal(outside.body.error.code, 'ip_not_allowed');
      assert.equal((await via(fenced.key)).body.error.code, 'ip_not_allowed', 'the loopback peer is outside');
      const early = await via(later.key, '203.0.113.9');
      assert.equal(early.status, 401);
      assert.equal(early.body.error.code, 'not_yet_valid');
    } finally {
      rsrv.closeAllConnections();
      rsrv.close();
    }
    assert.equal(ran, 1);
  });

  test('a key that admits every network: one verdict answers every address (the Worker asked once); a fenced key is asked per address', async () => {
    const open = await create({ name: 'open', scopes: ['scans:read'] });
    const fenced = await create({ name: 'fenced per address', scopes: ['scans:read'], allowed_ips: ['203.0.113.0/24'] });
    const store = remoteStore({ url: worker.url, token: k.verifier.key, cacheTtlMs: 60_000 });
    // Count the requests the store sends (the real fetch sends each one).
    const realFetch = globalThis.fetch;
    let asked = 0;
    globalThis.fetch = (...args) => { asked += 1; return realFetch(...args); };
    const ips = ['203.0.113.9', '198.51.100.1', undefined, '2001:db8::1', '203.0.113.10'];
    try {
      for (const ip of ips) assert.equal((await store.verifyKey(open.key, { env: 'live', ip })).code, 'valid', String(ip));
      assert.equal(asked, 1, 'the first answer said ip_restricted: false and answered the rest');
      asked = 0;
      const codes = [];
      for (const ip of ips) codes.push((await store.verifyKey(fenced.key, { env: 'live', ip })).code);
      assert.deepEqual(codes, ['valid', 'ip_not_allowed', 'ip_not_allowed', 'ip_not_allowed', 'valid']);
      assert.equal(asked, 5, 'a fenced key\'s verdict holds for its own address only');
      // Asked again, each address is answered from its own verdict.
      asked = 0;
      codes.length = 0;
      for (const ip of ips) codes.push((await store.verifyKey(fenced.key, { env: 'live', ip })).code);
      assert.deepEqual(codes, ['valid', 'ip_not_allowed', 'ip_not_allowed', 'ip_not_allowed', 'valid']);
      assert.equal(asked, 0);
    } finally {
      globalThis.fetch = realFetch;
    }
  });

  test('a key narrowed from every network to some: its one verdict for every address lasts cacheTtlMs, then each address is asked and the outside refused', async () => {
    const open = await create({ name: 'narrowed later', scopes: ['scans:read'] });
    const store = remoteStore({ url: worker.url, token: k.verifier.key, cacheTtlMs: TTL });
    const at = async (ip) => (await store.verifyKey(open.key, { env: 'live', ip })).code;
    assert.equal(await at('198.51.100.1'), 'valid');
    const started = Date.now();
    const r = await api(`/v1/keys/${open.id}`, { method: 'PATCH', body: { allowed_ips: ['203.0.113.0/24'] } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.allowed_ips, ['203.0.113.0/24']);
    // Within cacheTtlMs the verdict that said "every network" still answers (the stated bound).
    if (Date.now() - started < TTL - 200) assert.equal(await at('198.51.100.2'), 'valid', 'cached: narrowing shows within cacheTtlMs');
    // Past cacheTtlMs plus the Worker's bound (1 s by default), the outside is refused and the inside passes.
    await new Promise((res) => setTimeout(res, TTL + 1000 + 200 - (Date.now() - started)));
    assert.equal(await at('198.51.100.1'), 'ip_not_allowed');
    assert.equal(await at(undefined), 'ip_not_allowed', 'an unknown address is outside');
    assert.equal(await at('203.0.113.7'), 'valid');
    assert.equal(await at('198.51.100.2'), 'ip_not_allowed', 'no verdict for every address is kept after the narrowing');
  });

  test('a token the Worker refuses (no keys:verify, unknown, another environment\'s verifier) is 500 verifier_refused, never a pass', async () => {
    const testVerifier = await create({ name: 'verifier test', scopes: ['keys:verify'], env: 'test' });
    const refusals = [
      [k.noVerify.key, ANY_ENV, 403, 'insufficient_scope'],
      [createKey({ env: 'live' }).key, ANY_ENV, 401, 'unknown_key'],
      // A verifier of the test environment asked about a live key: a configuration error.
      [testVerifier.key, { env: 'live' }, 403, 'forbidden'],
    ];
    for (const [token, options, status, said] of refusals) {
      const store = remoteStore({ url: worker.url, token });
      await assert.rejects(store.verifyKey(k.reader.key, options), (e) => e.code === 'verifier_refused' && e.status === 500
        && e.cause.status === status && e.cause.error.code === said && e.message.includes(said) && !e.message.includes(token));
    }
    // Through Express: the client sees the code's own sentence, the route never runs.
    const mapp = express();
    mapp.set('env', 'test');
    let ran = 0;
    mapp.get('/', apiKeyAuth({ store: remoteStore({ url: worker.url, token: testVerifier.key }), env: 'live' }), (req, res) => { ran += 1; res.json({}); });
    mapp.use(apiKeyErrorHandler());
    const msrv = mapp.listen(0, '127.0.0.1');
    await new Promise((r) => msrv.once('listening', r));
    try {
      const r = await fetch(`http://127.0.0.1:${msrv.address().port}/`, { headers: { authorization: `Bearer ${k.reader.key}` } });
      assert.equal(r.status, 500);
      const body = await r.json();
      assert.equal(body.error.code, 'verifier_refused');
      assert.ok(!body.error.message.includes('environment'), 'the configuration is not told to the client');
    } finally {
      msrv.closeAllConnections();
      msrv.close();
    }
    assert.equal(ran, 0);
    // The same store with the test environment is a valid verifier.
    const ok = await remoteStore({ url: worker.url, token: testVerifier.key }).verifyKey(k.test.key, { env: 'test' });
    assert.equal(ok.code, 'valid');
  });
});
