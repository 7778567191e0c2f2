// A real Express app on a real loopback port, one request per outcome, through
// apiKeyAuth + requireScope + apiKeyErrorHandler.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import express from 'express';
import express4 from 'express4';
import { createKey, hashKey } from 'keyward';
import {
  ApiKeyError, apiKeyAuth, apiKeyErrorHandler, memoryStore, requireScope,
} from 'keyward/express';

const NOW = Date.now();
const iso = (ms) => new Date(ms).toISOString();
let n = 0;
function record(key, fields = {}) {
  const { hash, hint } = { hash: hashKey(key), hint: key.slice(0, key.indexOf('_', key.indexOf('_') + 1) + 5) };
  n += 1;
  return {
    id: `key_${String(n).padStart(16, '0')}`, hash, hint, name: `k${n}`, owner: 'team-a',
    scopes: ['scans:read'], env: 'live', created_at: iso(NOW - 86_400_000), ...fields,
  };
}

const keys = {
  valid: createKey({ env: 'live' }).key,
  test: createKey({ env: 'test' }).key,
  expired: createKey({ env: 'live' }).key,
  revoked: createKey({ env: 'live' }).key,
  unknown: createKey({ env: 'live' }).key,
  admin: createKey({ env: 'live' }).key,
};
const badChecksum = keys.valid.slice(0, -6) + (keys.valid.at(-6) === 'A' ? 'B' : 'A') + keys.valid.slice(-5);
const records = {
  valid: record(keys.valid),
  test: record(keys.test, { env: 'test' }),
  expired: record(keys.expired, { expires_at: iso(NOW - 1000) }),
  revoked: record(keys.revoked, { revoked_at: iso(NOW - 1000), revoked_by: 'root', revocation_reason: 'leaked' }),
  admin: record(keys.admin, { scopes: ['admin'] }),
};

/** Starts `app` on a free loopback port; returns its base URL and a stop function. */
export function listen(app) {
  app.set('env', 'test'); // Express's own error handler stays quiet
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => {
      resolve({ url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }) });
    });
  });
}

function makeApp(store, options = {}, framework = express) {
  const app = framework();
  app.use(apiKeyAuth({ store, env: 'live', ...options }));
  app.get('/whoami', (req, res) => res.json(req.apiKey));
  app.get('/scans', requireScope('scans:read'), (req, res) => res.json({ scans: [], key: req.apiKey.id }));
  app.post('/settings', requireScope('settings:write'), (req, res) => res.json({ ok: true }));
  app.use(apiKeyErrorHandler());
  return app;
}

async function get(url, headers = {}, method = 'GET') {
  const r = await fetch(url, { method, headers });
  const text = await r.text();
  let body;
  try { body = JSON.parse(text); } catch { body = undefined; }
  return { status: r.status, headers: r.headers, body, text };
}

const bearer = (key) => ({ authorization: `Bearer ${key}` });

/** Waits for `done()` (a hook that runs after the response), failing after 5 s. */
async function until(done) {
  const end = Date.now() + 5000;
  while (!done()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setImmediate(r));
  }
}

/** Every outcome: [name, headers, path, status, code, WWW-Authenticate error (null: none)] */
const outcomes = [
  ['missing', {}, '/scans', 401, 'missing_key', null],
  ['malformed', bearer('sk_live_nope'), '/scans', 401, 'malformed', 'invalid_token'],
  ['bad checksum', bearer(badChecksum), '/scans', 401, 'bad_checksum', 'invalid_token'],
  ['unknown', bearer(keys.unknown), '/scans', 401, 'unknown_key', 'invalid_token'],
  ['wrong environment', bearer(keys.test), '/scans', 401, 'wrong_environment', 'invalid_token'],
  ['expired', bearer(keys.expired), '/scans', 401, 'expired', 'invalid_token'],
  ['revoked', bearer(keys.revoked), '/scans', 401, 'revoked', 'invalid_token'],
  ['insufficient scope', bearer(keys.valid), '/settings', 403, 'insufficient_scope', 'insufficient_scope'],
  ['two credentials at once', { ...bearer(keys.valid), 'x-api-key': keys.valid }, '/scans', 400, 'invalid_request', 'invalid_request'],
];

// The same outcomes through each kind of store.
const stores = {
  'memoryStore()': () => memoryStore(Object.values(records)),
  'a synchronous findByHash store': () => {
    const byHash = new Map(Object.values(records).map((r) => [r.hash, r]));
    return { findByHash: (h) => byHash.get(h) ?? null };
  },
  'an async findByHash store (a database)': () => {
    const byHash = new Map(Object.values(records).map((r) => [r.hash, structuredClone(r)]));
    return { findByHash: async (h) => { await new Promise((r) => setImmediate(r)); return byHash.get(h) ?? null; } };
  },
};

const frameworks = { 'Express 5': express, 'Express 4': express4 };
for (const [frameworkName, framework] of Object.entries(frameworks)) for (const [storeName, makeStore] of Object.entries(stores)) {
  describe(`${frameworkName} with ${storeName}`, () => {
    let server;
    before(async () => { server = await listen(makeApp(makeStore(), {}, framework)); });
    after(() => server.close());

    for (const [name, headers, path, status, code, bearerError] of outcomes) {
      test(`${name}: ${status} ${code}`, async () => {
        const r = await get(server.url + path, headers, path === '/settings' ? 'POST' : 'GET');
        assert.equal(r.status, status, r.text);
        assert.deepEqual(Object.keys(r.body), ['error']);
        assert.equal(r.body.error.code, code);
        assert.equal(typeof r.body.error.message, 'string');
        assert.match(r.headers.get('content-type'), /^application\/json/);
        const challenge = r.headers.get('www-authenticate');
        assert.ok(challenge.startsWith('Bearer realm="keyward"'), challenge);
        if (bearerError === null) assert.ok(!challenge.includes('error='), challenge);
        else assert.ok(challenge.includes(`error="${bearerError}"`), challenge);
        if (code === 'insufficient_scope') {
          assert.equal(r.body.error.message, "This API key does not have 'settings:write' scope".replace("have '", "have the '"));
          assert.ok(challenge.includes('scope="settings:write"'), challenge);
        }
        assert.ok(!r.text.includes(keys.valid) && !r.text.includes(keys.test));
      });
    }

    test('valid: req.apiKey holds id, owner, scopes, env and hint, never the key', async () => {
      const r = await get(`${server.url}/whoami`, bearer(keys.valid));
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.body, { id: records.valid.id, owner: 'team-a', scopes: ['scans:read'], env: 'live', hint: records.valid.hint });
      const scans = await get(`${server.url}/scans`, { 'X-API-Key': keys.valid });
      assert.equal(scans.status, 200, scans.text);
      assert.equal(scans.body.key, records.valid.id);
      const admin = await get(`${server.url}/settings`, bearer(keys.admin), 'POST');
      assert.equal(admin.status, 200, admin.text);
    });
  });
}

describe('credentials', () => {
  let server;
  before(async () => { server = await listen(makeApp(memoryStore([records.valid]))); });
  after(() => server.close());

  test('the Bearer scheme is matched case-insensitively; other schemes are not keys', async () => {
    for (const scheme of ['bearer', 'BEARER', 'BeArEr']) {
      const r = await get(`${server.url}/scans`, { authorization: `${scheme} ${keys.valid}` });
      assert.equal(r.status, 200, scheme);
    }
    const basic = await get(`${server.url}/scans`, { authorization: 'Basic dXNlcjpwYXNz' });
    assert.equal(basic.body.error.code, 'missing_key');
    const both = await get(`${server.url}/scans`, { authorization: 'Basic dXNlcjpwYXNz', 'x-api-key': keys.valid });
    assert.equal(both.status, 200, 'Basic plus one X-API-Key is one credential');
    const empty = await get(`${server.url}/scans`, { authorization: 'Bearer' });
    assert.equal(empty.body.error.code, 'invalid_request', 'the scheme is ours, the token is missing');
  });

  test('two X-API-Key or Authorization headers are two credentials', async () => {
    // Sent as separate header lines (node:http), and joined into one by a client or proxy.
    for (const headers of [{ 'x-api-key': [keys.valid, keys.valid] }, { authorization: [`Bearer ${keys.valid}`, `Bearer ${keys.valid}`] }]) {
      const r = await new Promise((resolve, reject) => {
        http.get(`${server.url}/scans`, { headers }, (res) => {
          let text = '';
          res.on('data', (d) => { text += d; });
          res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(text) }));
        }).on('error', reject);
      });
      assert.equal(r.status, 400, JSON.stringify(headers));
      assert.equal(r.body.error.code, 'invalid_request');
    }
    const joined = new Headers();
    joined.append('x-api-key', keys.valid);
    joined.append('x-api-key', keys.valid);
    const r = await get(`${server.url}/scans`, joined);
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'invalid_request');
  });

  test('getKey and requestProperty', async () => {
    const app = express();
    app.use(apiKeyAuth({ store: memoryStore([records.valid]), env: 'live', getKey: (req) => req.query.key, requestProperty: 'caller' }));
    app.get('/', (req, res) => res.json({ caller: req.caller.id, apiKey: req.apiKey ?? null }));
    app.use(apiKeyErrorHandler());
    const s = await listen(app);
    try {
      const ok = await get(`${s.url}/?key=${keys.valid}`);
      assert.deepEqual(ok.body, { caller: records.valid.id, apiKey: null });
      assert.equal((await get(`${s.url}/`, bearer(keys.valid))).body.error.code, 'missing_key', 'getKey replaces the headers');
    } finally {
      await s.close();
    }
  });

  test('with env { any: true }, a key works in the environment its prefix names', async () => {
    const app = express();
    app.use(apiKeyAuth({ store: memoryStore([records.valid, records.test]), env: { any: true } }));
    app.get('/', (req, res) => res.json(req.apiKey.env));
    app.use(apiKeyErrorHandler());
    const s = await listen(app);
    try {
      assert.equal((await get(`${s.url}/`, bearer(keys.test))).body, 'test');
      assert.equal((await get(`${s.url}/`, bearer(keys.valid))).body, 'live');
    } finally {
      await s.close();
    }
  });
});

describe('onUse', () => {
  test('receives the audit event with the response status after the response, never the raw key', async () => {
    const events = [];
    let finished = 0;
    const app = express();
    app.use((req, res, next) => { res.on('finish', () => { finished += 1; }); next(); });
    app.use(apiKeyAuth({ store: memoryStore(Object.values(records)), env: 'live', onUse: (e) => events.push({ e, finishedBefore: finished }) }));
    app.get('/scans', requireScope('scans:read'), (req, res) => res.status(202).json({}));
    app.get('/boom', () => { throw new Error('handler failed'); });
    app.use(apiKeyErrorHandler());
    const s = await listen(app);
    try {
      await get(`${s.url}/scans?token=secret-in-query`, { ...bearer(keys.valid), 'user-agent': 'test/1' });
      await get(`${s.url}/scans`, bearer(keys.revoked));
      await get(`${s.url}/scans`);
      await get(`${s.url}/boom`, bearer(keys.valid));
      await get(`${s.url}/scans`, bearer(keys.unknown));
      const noScope = memoryStore([record(keys.unknown, { scopes: [] })]);
      assert.equal(noScope.size, 1);
      await until(() => events.length >= 5);
      assert.equal(events.length, 5);
      const [ok, revoked, missing, boom, unknown] = events.map((x) => x.e);
      for (const { e, finishedBefore } of events) {
        assert.equal(finishedBefore > 0, true, 'after the response finished');
        assert.match(e.event_id, /^[0-9a-f]{32}$/);
        assert.ok(!Number.isNaN(Date.parse(e.time)));
        assert.ok(!JSON.stringify(e).includes(keys.valid) && !JSON.stringify(e).includes(keys.revoked), 'no raw key');
        assert.deepEqual(Object.keys(e).sort(), ['action', 'actor', 'country', 'event_id', 'hint', 'ip', 'key_id', 'outcome', 'owner', 'status', 'time', 'user_agent']);
      }
      assert.deepEqual({ ...ok, event_id: 0, time: 0 }, {
        event_id: 0, key_id: records.valid.id, hint: records.valid.hint, owner: 'team-a', actor: null,
        action: 'GET /scans', ip: '127.0.0.1', country: null, user_agent: 'test/1', time: 0, outcome: 'valid', status: 202,
      });
      assert.equal(revoked.outcome, 'revoked');
      assert.equal(revoked.status, 401);
      assert.equal(revoked.key_id, records.revoked.id);
      assert.equal(missing.outcome, 'missing_key');
      assert.equal(missing.key_id, null);
      assert.equal(boom.status, 500);
      assert.equal(unknown.outcome, 'unknown_key');
      assert.equal(unknown.key_id, null);
      assert.equal(unknown.hint, keys.unknown.slice(0, 12), 'the hint of a key that parsed');
    } finally {
      await s.close();
    }
  });

  test('insufficient scope is the outcome when requireScope refuses; a throwing hook breaks nothing', async () => {
    const events = [];
    const app = express();
    app.use(apiKeyAuth({ store: memoryStore([records.valid]), env: 'live', onUse: (e) => { events.push(e); throw new Error('hook failed'); } }));
    app.post('/settings', requireScope('settings:write'), (req, res) => res.end());
    app.use(apiKeyErrorHandler());
    const s = await listen(app);
    try {
      const r = await get(`${s.url}/settings`, bearer(keys.valid), 'POST');
      assert.equal(r.status, 403);
      const again = await get(`${s.url}/settings`, bearer(keys.valid), 'POST');
      assert.equal(again.status, 403);
      await until(() => events.length >= 2);
      assert.equal(events.length, 2);
      assert.equal(events[0].outcome, 'insufficient_scope');
      assert.equal(events[0].status, 403);
    } finally {
      await s.close();
    }
  });
});

describe('fails closed', () => {
  const cases = {
    'a store that throws': { findByHash() { throw new Error('db down'); } },
    'a store that rejects': { findByHash: async () => { throw new Error('db down'); } },
  };
  for (const [name, store] of Object.entries(cases)) {
    test(`${name}: 503 unavailable, never a pass`, async () => {
      let reached = false;
      const app = express();
      app.use(apiKeyAuth({ store, env: 'live' }));
      app.get('/', (req, res) => { reached = true; res.end('in'); });
      app.use(apiKeyErrorHandler());
      const s = await listen(app);
      try {
        const r = await get(`${s.url}/`, bearer(keys.valid));
        assert.equal(r.status, 503);
        assert.equal(r.body.error.code, 'unavailable');
        assert.ok(!r.text.includes('db down'), 'no internal detail in the body');
        assert.equal(r.headers.get('www-authenticate'), null);
        assert.equal(reached, false);
        // Junk is still refused before any storage read.
        assert.equal((await get(`${s.url}/`, bearer('junk'))).body.error.code, 'malformed');
      } finally {
        await s.close();
      }
    });
  }

  test('a store returning something that is not a record: 500 internal, never a pass', async () => {
    const app = express();
    app.use(apiKeyAuth({ store: { findByHash: () => ({ id: 'key_x' }) }, env: 'live' }));
    app.get('/', (req, res) => res.end('in'));
    app.use(apiKeyErrorHandler());
    const s = await listen(app);
    try {
      const r = await get(`${s.url}/`, bearer(keys.valid));
      assert.equal(r.status, 500);
      assert.equal(r.body.error.code, 'internal');
    } finally {
      await s.close();
    }
  });

  test('a record whose hash is not the key\'s is not the key\'s record', async () => {
    const other = records.admin;
    const app = express();
    app.use(apiKeyAuth({ store: { findByHash: () => other }, env: 'live' }));
    app.get('/', (req, res) => res.end('in'));
    app.use(apiKeyErrorHandler());
    const s = await listen(app);
    try {
      assert.equal((await get(`${s.url}/`, bearer(keys.valid))).body.error.code, 'unknown_key');
    } finally {
      await s.close();
    }
  });

  test('requireScope without apiKeyAuth refuses', async () => {
    const app = express();
    app.get('/', requireScope('scans:read'), (req, res) => res.end('in'));
    app.use(apiKeyErrorHandler());
    const s = await listen(app);
    try {
      const r = await get(`${s.url}/`, bearer(keys.valid));
      assert.equal(r.status, 500);
      assert.equal(r.body.error.code, 'internal');
    } finally {
      await s.close();
    }
  });

  test('without the error handler, Express still answers the status of the ApiKeyError', async () => {
    const app = express();
    app.use(apiKeyAuth({ store: memoryStore(), env: 'live' }));
    app.get('/', (req, res) => res.end('in'));
    app.use((err, req, res, next) => { assert.ok(err instanceof ApiKeyError); next(err); });
    const s = await listen(app);
    try {
      const r = await fetch(`${s.url}/`);
      assert.equal(r.status, 401);
      await r.text();
    } finally {
      await s.close();
    }
  });
});

describe('rate limits and credits', () => {
  const get = (base, path, key) => fetch(base + path, { headers: { authorization: `Bearer ${key}` } });

  test('memoryStore counts exactly: 40 requests at once, a limit of 10, then 429 with RateLimit headers', async () => {
    const key = createKey({ env: 'live' }).key;
    const store = memoryStore([record(key, { rate_limits: [{ name: 'burst', limit: 10, period: '1m' }, { name: 'day', limit: 1000, period: '1d' }] })]);
    const srv = await listen(makeApp(store));
    try {
      const answers = await Promise.all(Array.from({ length: 40 }, () => get(srv.url, '/scans', key)));
      assert.equal(answers.filter((r) => r.status === 200).length, 10);
      const refused = answers.filter((r) => r.status !== 200);
      assert.ok(refused.every((r) => r.status === 429));
      assert.equal((await refused[0].json()).error.code, 'rate_limited');
      assert.equal(refused[0].headers.get('ratelimit-policy'), '"burst";q=10;w=60, "day";q=1000;w=86400');
      assert.match(refused[0].headers.get('ratelimit'), /^"burst";r=0;t=(59|60)$/);
      assert.ok(['59', '60'].includes(refused[0].headers.get('retry-after')));
      assert.equal(refused[0].headers.get('www-authenticate'), null, 'a 429 is not an authentication challenge');
      const ok = answers.find((r) => r.status === 200);
      assert.match(ok.headers.get('ratelimit'), /^"burst";r=\d;t=(59|60)$/);
    } finally {
      await srv.close();
    }
  });

  test('credits with a cost per request: spent exactly, the balance kept in the store', async () => {
    const key = createKey({ env: 'live' }).key;
    const rec = record(key, { credits: { remaining: 10 } });
    const store = memoryStore([rec]);
    const app = express();
    app.set('env', 'test');
    app.get('/cheap', apiKeyAuth({ store, env: 'live' }), (req, res) => res.json({}));
    app.get('/dear', apiKeyAuth({ store, env: 'live', cost: (req) => Number(req.query.units) }), (req, res) => res.json({}));
    app.use(apiKeyErrorHandler());
    const srv = await listen(app);
    try {
      const dear = await Promise.all(Array.from({ length: 5 }, () => get(srv.url, '/dear?units=4', key)));
      assert.equal(dear.filter((r) => r.status === 200).length, 2);
      assert.equal(store.findByHash(rec.hash).credits.remaining, 2);
      const over = dear.find((r) => r.status === 429);
      assert.equal((await over.json()).error.code, 'usage_exceeded');
      assert.equal((await get(srv.url, '/cheap', key)).status, 200);
      assert.equal(store.findByHash(rec.hash).credits.remaining, 1);
      for (const units of ['0', '1001', 'x', '1.5']) {
        const bad = await get(srv.url, `/dear?units=${units}`, key);
        assert.equal(bad.status, 500, units);
        assert.equal((await bad.json()).error.code, 'internal');
      }
      assert.equal(store.findByHash(rec.hash).credits.remaining, 1, 'bad costs spent nothing');
    } finally {
      await srv.close();
    }
  });

  test('a store of your own: limits counted in this process; credits refused as a fault, never a pass', async () => {
    const limitedKey = createKey({ env: 'live' }).key;
    const creditKey = createKey({ env: 'live' }).key;
    const rows = new Map([
      [hashKey(limitedKey), record(limitedKey, { rate_limit: { requests: 3, window_seconds: 60 } })],
      [hashKey(creditKey), record(creditKey, { credits: { remaining: 100 } })],
    ]);
    const store = { findByHash: async (hash) => structuredClone(rows.get(hash) ?? null) };
    const srv = await listen(makeApp(store));
    try {
      const answers = await Promise.all(Array.from({ length: 8 }, () => get(srv.url, '/scans', limitedKey)));
      assert.equal(answers.filter((r) => r.status === 200).length, 3, 'the previous format\'s limit, as "default"');
      assert.equal(answers.find((r) => r.status === 429).headers.get('ratelimit-policy'), '"default";q=3;w=60');
      const c = await get(srv.url, '/scans', creditKey);
      assert.equal(c.status, 500);
      assert.equal((await c.json()).error.code, 'internal');
    } finally {
      await srv.close();
    }
  });

  test('verifyKey reports the usage; a bad cost throws at once', () => {
    const key = createKey({ env: 'live' }).key;
    const store = memoryStore([record(key, { rate_limits: [{ name: 'm', limit: 2, period: '1m' }], credits: { remaining: 5, alert_below: 4 } })]);
    const first = store.verifyKey(key, { env: 'live', now: NOW });
    assert.deepEqual(first.ratelimits, [{ name: 'm', limit: 2, period: 60, remaining: 1, reset: NOW + 60_000 }]);
    assert.deepEqual(first.credits, { remaining: 4 });
    assert.equal(first.creditsLow, undefined);
    const second = store.verifyKey(key, { env: 'live', now: NOW + 1 });
    assert.equal(second.creditsLow, true, 'below 4 for the first time');
    const third = store.verifyKey(key, { env: 'live', now: NOW + 2 });
    assert.equal(third.code, 'rate_limited');
    assert.equal(third.retryAfter, 60);
    assert.deepEqual(third.credits, { remaining: 3 }, 'a refused use spends nothing');
    for (const cost of [0, 1001, 1.5, '2']) {
      assert.throws(() => store.verifyKey(key, { env: 'live', cost }), (e) => e.option === 'cost');
      assert.throws(() => apiKeyAuth({ store, env: 'live', cost }), (e) => e.option === 'cost');
    }
  });
});

describe('bad options throw at construction, naming the option', () => {
  const store = memoryStore();
  const cases = [
    [() => apiKeyAuth(), 'options'],
    [() => apiKeyAuth({}), 'store'],
    [() => apiKeyAuth({ store: {} }), 'store'],
    [() => apiKeyAuth({ store: { findByHash: 'no' } }), 'store'],
    [() => apiKeyAuth({ store }), 'env'],
    [() => apiKeyAuth({ store, env: 'LIVE' }), 'env'],
    [() => apiKeyAuth({ store, env: { any: false } }), 'env'],
    [() => apiKeyAuth({ store, env: { any: true, also: 1 } }), 'env'],
    [() => apiKeyAuth({ store, env: 42 }), 'env'],
    [() => apiKeyAuth({ store, env: 'live', getKey: 'header' }), 'getKey'],
    [() => apiKeyAuth({ store, env: 'live', requestProperty: '' }), 'requestProperty'],
    [() => apiKeyAuth({ store, env: 'live', onUse: true }), 'onUse'],
    [() => apiKeyAuth({ store, env: 'live', stor: store }), 'stor'],
    [() => requireScope(), 'scopes'],
    [() => requireScope('Scans:read'), 'scopes'],
    [() => requireScope('scans:read', 7), 'scopes'],
    [() => apiKeyErrorHandler({ realm: '' }), 'realm'],
  ];
  for (const [fn, option] of cases) {
    test(`${option}: ${fn.toString().slice(6, 60)}`, () => {
      assert.throws(fn, (e) => e instanceof TypeError && e.code === 'ERR_KEYWARD_OPTION' && e.option === option);
    });
  }
  test('valid options construct', () => {
    assert.equal(typeof apiKeyAuth({ store, env: 'live', onUse() {}, getKey: () => undefined }), 'function');
    assert.equal(typeof apiKeyAuth({ store, env: { any: true } }), 'function');
    assert.equal(typeof requireScope('scans:read', ['repos:*', 'admin']), 'function');
  });
});
