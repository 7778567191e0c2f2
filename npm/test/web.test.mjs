// keyward/fetch, keyward/hono and keyward/fastify on Node, over real HTTP where a
// framework serves: the attacks and faults each must survive (two credentials, a missing
// scope, a store that fails, a rate limit, requireScope alone), read back afterwards.
// The shared vectors run through every runtime in runtimes.test.mjs.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { serve } from '@hono/node-server';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { createKey, memoryStore, remoteStore } from 'keyward';
import { checkRequest } from 'keyward/fetch';
import { HTTPException } from 'hono/http-exception';
import { apiKey, guard, requireScope } from 'keyward/hono';
import keyward, { requireScope as fastifyScope } from 'keyward/fastify';
import express from 'express';
import { apiKeyAuth, apiKeyErrorHandler, requireScope as expressScope } from 'keyward/express';
import { freePort } from '../../tests/e2e/harness.mjs';

let n = 0;
function record(scopes = ['scans:read'], extra = {}) {
  const { key, hash, hint } = createKey({ env: 'live' });
  n += 1;
  const id = `key_${String(n).padStart(16, '0')}`;
  return { key, record: { id, hash, hint, name: 'web', owner: 'team-web', scopes, env: 'live', created_at: '2026-01-01T00:00:00Z', ...extra } };
}
const get = (url, headers = {}) => new Request(url, { headers });
const bearer = (key) => ({ authorization: `Bearer ${key}` });

describe('checkRequest (keyward/fetch)', () => {
  test('a valid key: the key\'s info, never the raw key; a refusal: keyward\'s Response', async () => {
    const a = record();
    const store = memoryStore([a.record]);
    const ok = await checkRequest(get('http://x/', bearer(a.key)), { store, env: 'live' });
    assert.equal(ok.valid, true);
    assert.equal(ok.key.id, a.record.id);
    assert.ok(!JSON.stringify(ok).includes(a.key), 'no raw key in the result');
    const missing = await checkRequest(get('http://x/'), { store, env: 'live' });
    assert.equal(missing.valid, false);
    assert.equal(missing.code, 'missing_key');
    assert.equal(missing.response.status, 401);
    assert.match(missing.response.headers.get('www-authenticate'), /^Bearer realm="keyward"/);
    assert.equal(missing.response.headers.get('cache-control'), 'no-store');
    assert.deepEqual(await missing.response.json(), { error: { code: 'missing_key', message: missing.message } });
  });

  test('two credentials (Authorization and X-API-Key, one of them valid) are refused, not picked from', async () => {
    const a = record();
    const store = memoryStore([a.record]);
    for (const other of [a.key, 'junk', createKey({ env: 'live' }).key]) {
      const r = await checkRequest(get('http://x/', { ...bearer(a.key), 'x-api-key': other }), { store, env: 'live' });
      assert.equal(r.valid, false, other);
      assert.equal(r.status, 400);
    }
    assert.equal(store.verifyKey(a.key, { env: 'live' }).valid, true, 'the key itself still works');
  });

  test('a missing scope is 403 insufficient_scope naming the scope, for every kind of store', async () => {
    const a = record(['scans:read']);
    const stores = [memoryStore([a.record]), { findByHash: (h) => (h === a.record.hash ? a.record : null) },
      { findByHash: async (h) => (h === a.record.hash ? structuredClone(a.record) : null) }];
    for (const store of stores) {
      const r = await checkRequest(get('http://x/', bearer(a.key)), { store, env: 'live', scopes: ['scans:read', 'scans:trigger'] });
      assert.equal(r.code, 'insufficient_scope');
      assert.equal(r.scope, 'scans:trigger');
      assert.equal(r.response.status, 403);
      assert.match(r.response.headers.get('www-authenticate'), /error="insufficient_scope".*scope="scans:trigger"/);
      assert.equal((await checkRequest(get('http://x/', bearer(a.key)), { store, env: 'live', scopes: ['scans:read'] })).valid, true);
    }
  });

  test('a store that fails is 503 unavailable (fail closed), for a throw, a rejection and an unreachable Worker', async () => {
    const a = record();
    const port = await freePort();
    const stores = [
      { findByHash: () => { throw new Error('db down'); } },
      { findByHash: async () => { throw new Error('db down'); } },
      remoteStore({ url: `http://127.0.0.1:${port}`, token: 'x', timeoutMs: 2000 }),
    ];
    for (const store of stores) {
      const r = await checkRequest(get('http://x/', bearer(a.key)), { store, env: 'live' });
      assert.equal(r.valid, false);
      assert.equal(r.code, 'unavailable');
      assert.equal(r.response.status, 503);
      assert.ok(!(await r.response.text()).includes('db down'), 'the fault is not shown to the client');
    }
  });

  test('a store returning something that is not a record of that key is refused', async () => {
    const a = record();
    const b = record();
    const cases = [[{ findByHash: () => b.record }, 'unknown_key'], [{ findByHash: () => ({ hash: a.record.hash }) }, 'internal']];
    for (const [store, code] of cases) {
      const r = await checkRequest(get('http://x/', bearer(a.key)), { store, env: 'live' });
      assert.equal(r.code, code);
    }
  });

  test('rate limits: RateLimit headers on passes, 429 with Retry-After once spent; refused junk counts nothing', async () => {
    const a = record(['scans:read'], { rate_limits: [{ name: 'minute', limit: 2, period: '1m' }] });
    const store = memoryStore([a.record]);
    for (let i = 0; i < 5; i++) {
      assert.equal((await checkRequest(get('http://x/', bearer(`${a.key}x`)), { store, env: 'live' })).valid, false);
    }
    for (let i = 0; i < 2; i++) {
      const ok = await checkRequest(get('http://x/', bearer(a.key)), { store, env: 'live' });
      assert.equal(ok.valid, true, `use ${i + 1}`);
      // The refused junk above counted nothing: 2, then 1 left after each use.
      assert.match(ok.headers.RateLimit, new RegExp(`^"minute";r=${1 - i};t=\\d+$`));
    }
    const spent = await checkRequest(get('http://x/', bearer(a.key)), { store, env: 'live' });
    assert.equal(spent.code, 'rate_limited');
    assert.equal(spent.response.status, 429);
    assert.ok(Number(spent.response.headers.get('retry-after')) > 0);
  });

  test('onUse gets the event through waitUntil, with the outcome and status; a throwing onUse breaks nothing', async () => {
    const a = record();
    const store = memoryStore([a.record]);
    const waited = [];
    const events = [];
    const options = { store, env: 'live', onUse: async (e) => { events.push(e); }, waitUntil: (p) => waited.push(p) };
    await checkRequest(get('http://x/scans?key=secret', bearer(a.key)), options);
    await checkRequest(get('http://x/scans'), options);
    await Promise.all(waited);
    assert.equal(waited.length, 2);
    assert.deepEqual(events.map((e) => [e.outcome, e.status, e.action, e.key_id]), [
      ['valid', 200, 'GET /scans', a.record.id], ['missing_key', 401, 'GET /scans', null]]);
    const r = await checkRequest(get('http://x/', bearer(a.key)), { store, env: 'live', onUse: () => { throw new Error('hook'); } });
    assert.equal(r.valid, true);
  });

  test('bad options are a KeywardOptionError, never a pass', async () => {
    const store = memoryStore();
    for (const options of [undefined, { store }, { env: 'live' }, { store, env: 'live', scopes: ['nope'] }, { store, env: 'live', extra: 1 }, { store: {}, env: 'live' }]) {
      await assert.rejects(checkRequest(get('http://x/'), options), (e) => e.code === 'ERR_KEYWARD_OPTION', JSON.stringify(options));
    }
  });
});

/** Serves a Hono app on Node over real HTTP. */
async function serveHono(app) {
  const port = await freePort();
  const server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' });
  await new Promise((r) => server.once('listening', r));
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
}

describe('keyward/hono over HTTP', () => {
  const a = record(['scans:read'], { rate_limits: [{ name: 'minute', limit: 100, period: '1m' }] });
  const store = memoryStore([a.record]);
  let ran = 0;
  const events = [];
  const app = new Hono();
  app.use('/api/*', apiKey({ store, env: 'live', onUse: (e) => { events.push(e); } }));
  app.get('/api/read', requireScope('scans:read'), (c) => c.json(c.get('apiKey')));
  app.post('/api/trigger', requireScope('scans:trigger'), (c) => { ran += 1; return c.json({ ran }); });
  app.get('/unguarded-scope', requireScope('scans:read'), (c) => c.text('reached'));
  let server;
  after(() => server?.close());

  test('apiKey + requireScope: c.get("apiKey"), RateLimit headers, and the status in onUse', async () => {
    server = await serveHono(app);
    const r = await fetch(`${server.url}/api/read`, { headers: bearer(a.key) });
    assert.equal(r.status, 200);
    assert.equal((await r.json()).id, a.record.id);
    assert.match(r.headers.get('ratelimit'), /^"minute";r=99;t=\d+$/);
    assert.deepEqual(events.at(-1) && [events.at(-1).outcome, events.at(-1).status], ['valid', 200]);
  });

  test('a missing scope is 403 and the handler never runs', async () => {
    const r = await fetch(`${server.url}/api/trigger`, { method: 'POST', headers: bearer(a.key) });
    assert.equal(r.status, 403);
    assert.equal((await r.json()).error.code, 'insufficient_scope');
    assert.match(r.headers.get('www-authenticate'), /scope="scans:trigger"/);
    assert.match(r.headers.get('ratelimit'), /^"minute";r=98;t=\d+$/, 'the counted use is reported');
    assert.equal(ran, 0);
    assert.deepEqual([events.at(-1).outcome, events.at(-1).status], ['insufficient_scope', 403]);
  });

  test('requireScope without apiKey fails closed (500 internal), never a pass', async () => {
    const r = await fetch(`${server.url}/unguarded-scope`, { headers: bearer(a.key) });
    assert.equal(r.status, 500);
    assert.equal((await r.json()).error.code, 'internal');
  });
});

describe('keyward/hono guard() answers exactly as apiKey() middleware', () => {
  const limits = { rate_limits: [{ name: 'minute', limit: 4, period: '1m' }] };
  const a = record(['scans:read'], limits);
  const b = record(['scans:read']);
  const other = record(['scans:read']);
  const records = [a.record, b.record];
  const byHash = (h) => records.find((r) => r.hash === h) ?? null;
  // Each app gets its own store of the same records, so that each counts its own uses.
  const stores = {
    memoryStore: () => memoryStore(records),
    'a synchronous findByHash': () => ({ findByHash: byHash }),
    'an async findByHash': () => ({ findByHash: async (h) => { await null; return structuredClone(byHash(h)); } }),
    'a findByHash that throws': () => ({ findByHash: () => { throw new Error('db down'); } }),
    'a findByHash that rejects': () => ({ findByHash: async () => { throw new Error('db down'); } }),
  };
  const cost = (request) => (request.headers.get('x-cost') === null ? 1 : Number(request.headers.get('x-cost')));
  const asked = [
    ['/read', {}],
    ['/read', { ...bearer(b.key), 'x-api-key': b.key }],
    ['/read', { ...bearer(a.key), 'x-api-key': 'junk' }],
    ['/read', { authorization: 'Bearer' }],
    ['/read', { 'x-api-key': '' }],
    ['/read', bearer(other.key)],
    ['/read', { authorization: `Bearer ${b.key}x` }],
    ['/admin', bearer(b.key)],
    ['/admin', bearer(a.key)],
    ['/read', { 'x-api-key': b.key }],
    ['/read', { ...bearer(a.key), 'x-cost': 'nope' }],
    ['/read', bearer(a.key)],
    ['/async', bearer(a.key)],
    ['/throws', bearer(b.key)],
    ['/teapot', bearer(a.key)],
    ['/read', { ...bearer(a.key), 'x-cost': '2' }],
    ['/read', bearer(a.key)],
    ['/read', bearer(b.key)],
  ];
  /** One Hono app, each route twice: /mw/* behind apiKey({ scopes }), /guard/* in guard(). */
  function makeApp(store) {
    const events = { mw: [], guard: [] };
    const app = new Hono();
    const routes = {
      read: [['scans:read'], (c) => c.json(c.get('apiKey'))],
      admin: [['admin'], (c) => c.json(c.get('apiKey'))],
      async: [['scans:read'], async (c) => { await new Promise((r) => setImmediate(r)); return c.json({ owner: c.get('apiKey').owner }, 201); }],
      throws: [['scans:read'], () => { throw new Error('a route that fails (on purpose: Hono logs it)'); }],
      teapot: [['scans:read'], () => { throw new HTTPException(418, { message: 'short and stout' }); }],
    };
    const mine = { mw: store(), guard: store() };
    for (const [name, [scopes, handler]] of Object.entries(routes)) {
      const options = (which) => ({ store: mine[which], env: 'live', scopes, cost, onUse: (e) => { events[which].push(e); } });
      app.get(`/mw/${name}`, apiKey(options('mw')), handler);
      app.get(`/guard/${name}`, guard(options('guard'), handler));
    }
    return { app, events };
  }
  const seen = async (url, headers) => {
    const r = await fetch(url, { headers });
    const pick = {};
    for (const name of ['www-authenticate', 'ratelimit', 'ratelimit-policy', 'retry-after', 'cache-control', 'content-type']) {
      const v = r.headers.get(name);
      // The seconds left in the window may differ by one between two requests.
      if (v !== null) pick[name] = name === 'retry-after' ? 'seconds' : v.replace(/t=\d+/g, 't=N');
    }
    return { status: r.status, body: await r.text(), headers: pick };
  };

  for (const [kind, store] of Object.entries(stores)) {
    test(`${kind}: every case gives the same status, body, headers and onUse event`, async () => {
      const { app, events } = makeApp(store);
      const server = await serveHono(app);
      try {
        const answers = [];
        for (const [path, headers] of asked) {
          const want = await seen(`${server.url}/mw${path}`, headers);
          const got = await seen(`${server.url}/guard${path}`, headers);
          assert.deepEqual(got, want, `${path} ${JSON.stringify(Object.keys(headers))}`);
          answers.push(got.status === 200 || got.status === 201 ? 'ok' : got.status);
        }
        const strip = (e) => [e.outcome, e.status, e.key_id, e.hint, e.owner, e.action.replace(/ \/(mw|guard)\//, ' /')];
        assert.deepEqual(events.guard.map(strip), events.mw.map(strip));
        assert.equal(events.guard.length, asked.length, 'one event per request');
        if (kind.includes('throws') || kind.includes('rejects')) {
          // Fail closed: a credential that needs the store is 503, never a pass.
          assert.deepEqual(answers, [401, 400, 400, 400, 400, 503, 401, 503, 503, 503, 500, 503, 503, 503, 503, 503, 503, 503]);
        } else {
          // Each case reached what it meant to: a missing scope counts nothing, a cost of 2
          // is refused with 1 use left, a route that throws is Hono's answer.
          assert.deepEqual(answers, [401, 400, 400, 400, 400, 401, 401, 403, 403, 'ok', 500, 'ok', 'ok', 500, 418, 429, 'ok', 'ok']);
        }
      } finally {
        await server.close();
      }
    });
  }

  test('two credentials, junk and a missing scope count nothing: read back through the next use', async () => {
    const { app } = makeApp(stores.memoryStore);
    const server = await serveHono(app);
    try {
      for (const headers of [{ ...bearer(a.key), 'x-api-key': a.key }, { ...bearer(a.key), 'x-api-key': 'junk' }, { authorization: `Bearer ${a.key}x` }]) {
        assert.equal((await fetch(`${server.url}/guard/read`, { headers })).status, 400 + (headers.authorization.endsWith('x') ? 1 : 0));
      }
      assert.equal((await fetch(`${server.url}/guard/admin`, { headers: bearer(a.key) })).status, 403);
      const r = await fetch(`${server.url}/guard/read`, { headers: bearer(a.key) });
      assert.equal(r.status, 200);
      assert.match(r.headers.get('ratelimit'), /^"minute";r=3;t=\d+$/, 'the first counted use of 4');
    } finally {
      await server.close();
    }
  });

  test('with memoryStore and a synchronous handler the answer is synchronous (Hono\'s and @hono/node-server\'s fast path)', async () => {
    const { app } = makeApp(stores.memoryStore);
    const sync = app.fetch(new Request('http://x/guard/read', { headers: bearer(b.key) }));
    assert.ok(sync instanceof Response, 'a Response, not a promise of one');
    assert.equal(sync.status, 200);
    assert.equal((await sync.json()).id, b.record.id);
    const refused = app.fetch(new Request('http://x/guard/read', { headers: { 'x-api-key': '' } }));
    assert.ok(refused instanceof Response);
    assert.equal(refused.status, 400);
    assert.ok(app.fetch(new Request('http://x/mw/read', { headers: bearer(b.key) })) instanceof Promise, 'the middleware is composed');
    const later = makeApp(stores['an async findByHash']).app.fetch(new Request('http://x/guard/read', { headers: bearer(b.key) }));
    assert.ok(later instanceof Promise);
    assert.equal((await later).status, 200);
  });

  test('a handler that answers nothing gets the app\'s not-found answer, as a one-handler route does; onUse sees it', async () => {
    const events = [];
    const app = new Hono();
    app.notFound((c) => c.text('nothing here', 404));
    app.get('/empty', guard({ store: memoryStore(records), env: 'live', onUse: (e) => { events.push(e); } }, () => undefined));
    app.get('/bare', () => undefined);
    const r = await app.request('/empty', { headers: bearer(a.key) });
    assert.deepEqual([r.status, await r.text()], [404, 'nothing here']);
    assert.match(r.headers.get('ratelimit'), /^"minute";r=3;t=\d+$/);
    assert.deepEqual(events.map((e) => [e.outcome, e.status]), [['valid', 404]]);
    const bare = await app.request('/bare');
    assert.deepEqual([bare.status, await bare.text()], [404, 'nothing here']);
  });

  test('guard() without a handler, or with bad options, is a KeywardOptionError when the app is built', () => {
    const store = memoryStore();
    for (const args of [[{ store, env: 'live' }], [{ store, env: 'live' }, 'handler'], [{ store }, () => new Response('x')], [{ store, env: 'live', waitUntil: () => {} }, () => new Response('x')]]) {
      assert.throws(() => guard(...args), (e) => e.code === 'ERR_KEYWARD_OPTION', JSON.stringify(args));
    }
  });
});

describe('keyward/fastify over HTTP', () => {
  const a = record(['scans:read']);
  let failing = false;
  const store = { findByHash: async (h) => { if (failing) throw new Error('db down'); return h === a.record.hash ? a.record : null; } };
  let ran = 0;
  const events = [];
  const app = Fastify();
  app.get('/open', async () => ({ open: true }));
  app.register(async (api) => {
    await api.register(keyward, { store, env: 'live', onUse: (e) => { events.push(e); } });
    api.get('/read', { preHandler: fastifyScope('scans:read') }, async (request) => request.apiKey);
    api.post('/trigger', { preHandler: fastifyScope('scans:trigger') }, async () => { ran += 1; return { ran }; });
  }, { prefix: '/api' });
  after(() => app.close());
  let url;

  test('the plugin guards the context it is registered in, and only that one', async () => {
    await app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${app.server.address().port}`;
    assert.equal((await fetch(`${url}/open`)).status, 200);
    const refused = await fetch(`${url}/api/read`);
    assert.equal(refused.status, 401);
    assert.equal((await refused.json()).error.code, 'missing_key');
    assert.match(refused.headers.get('www-authenticate'), /^Bearer realm="keyward"/);
    const ok = await fetch(`${url}/api/read`, { headers: bearer(a.key) });
    assert.equal(ok.status, 200);
    assert.equal((await ok.json()).id, a.record.id);
  });

  test('a missing scope is 403 with keyward\'s body and the handler never runs', async () => {
    const r = await fetch(`${url}/api/trigger`, { method: 'POST', headers: bearer(a.key) });
    assert.equal(r.status, 403);
    assert.deepEqual(await r.json(), { error: { code: 'insufficient_scope', message: 'This API key does not have the \'scans:trigger\' scope' } });
    assert.equal(ran, 0);
  });

  test('a failing store is 503 unavailable with keyward\'s body, not a pass nor Fastify\'s 500', async () => {
    failing = true;
    try {
      const r = await fetch(`${url}/api/read`, { headers: bearer(a.key) });
      assert.equal(r.status, 503);
      assert.equal((await r.json()).error.code, 'unavailable');
    } finally {
      failing = false;
    }
    assert.ok(events.some((e) => e.outcome === 'unavailable' && e.status === 503));
    assert.ok(events.some((e) => e.outcome === 'valid' && e.status === 200));
  });
});

describe('keyward/fastify answers exactly as keyward/express', () => {
  test('credential edge cases, a missing scope, a rate limit, a cost: the same status, body and headers', async () => {
    const limits = { rate_limits: [{ name: 'minute', limit: 3, period: '1m' }] };
    const a = record(['scans:read'], limits);
    const b = record(['scans:read']);
    const other = record(['scans:read']);
    const listen = (server) => new Promise((resolve) => { server.listen(0, '127.0.0.1', () => resolve(server)); });
    const ex = express();
    ex.use(apiKeyAuth({ store: memoryStore([a.record, b.record]), env: 'live', cost: (req) => (req.headers['x-cost'] ? Number(req.headers['x-cost']) : 1) }));
    ex.get('/read', expressScope('scans:read'), (req, res) => res.json(req.apiKey));
    ex.get('/admin', expressScope('admin'), (req, res) => res.json(req.apiKey));
    ex.use(apiKeyErrorHandler());
    const exServer = await listen(ex.listen(0, '127.0.0.1'));
    const fa = Fastify();
    await fa.register(keyward, { store: memoryStore([a.record, b.record]), env: 'live', cost: (request) => (request.headers['x-cost'] ? Number(request.headers['x-cost']) : 1) });
    fa.get('/read', { preHandler: fastifyScope('scans:read') }, async (request) => request.apiKey);
    fa.get('/admin', { preHandler: fastifyScope('admin') }, async (request) => request.apiKey);
    await fa.listen({ port: 0, host: '127.0.0.1' });
    try {
      const asked = [
        ['/read', {}],
        ['/read', { ...bearer(b.key), 'x-api-key': b.key }],
        ['/read', { authorization: 'Bearer' }],
        ['/read', { 'x-api-key': '' }],
        ['/read', bearer(other.key)],
        ['/read', { authorization: `Bearer ${b.key}x` }],
        ['/admin', bearer(b.key)],
        ['/read', { 'x-api-key': b.key }],
        ['/read', { ...bearer(a.key), 'x-cost': 'nope' }],
        ['/read', bearer(a.key)],
        ['/read', bearer(a.key)],
        ['/read', { ...bearer(a.key), 'x-cost': '2' }],
        ['/read', bearer(a.key)],
      ];
      const seen = async (base, path, headers) => {
        const r = await fetch(`${base}${path}`, { headers });
        const pick = {};
        for (const name of ['www-authenticate', 'ratelimit', 'ratelimit-policy', 'retry-after', 'cache-control', 'content-type']) {
          const v = r.headers.get(name);
          // The seconds left in the window may differ by one between two requests.
          if (v !== null) pick[name] = name === 'retry-after' ? 'seconds' : v.replace(/t=\d+/g, 't=N');
        }
        return { status: r.status, body: await r.json(), headers: pick };
      };
      const codes = [];
      for (const [path, headers] of asked) {
        const want = await seen(`http://127.0.0.1:${exServer.address().port}`, path, headers);
        const got = await seen(`http://127.0.0.1:${fa.server.address().port}`, path, headers);
        assert.deepEqual(got, want, `${path} ${JSON.stringify(Object.keys(headers))}`);
        codes.push(got.body.error?.code ?? 'valid');
      }
      // Each case reached what it meant to (a cost of 2 is refused with 1 use left; 1 passes).
      assert.deepEqual(codes, ['missing_key', 'invalid_request', 'invalid_request', 'invalid_request', 'unknown_key', 'malformed',
        'insufficient_scope', 'valid', 'internal', 'valid', 'valid', 'rate_limited', 'valid']);
    } finally {
      exServer.close();
      await fa.close();
    }
  });
});

describe('keyward/fastify with getKey', () => {
  test('getKey(request) replaces the headers: a key elsewhere is not read, a missing one is 401 missing_key', async () => {
    const a = record();
    const fa = Fastify();
    await fa.register(keyward, { store: memoryStore([a.record]), env: 'live', getKey: (request) => request.headers['x-token'] });
    fa.get('/', async (request) => request.apiKey);
    await fa.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${fa.server.address().port}/`;
    try {
      const ok = await fetch(url, { headers: { 'x-token': a.key } });
      assert.equal(ok.status, 200);
      assert.equal((await ok.json()).id, a.record.id);
      for (const headers of [{}, bearer(a.key), { 'x-token': '' }]) {
        const r = await fetch(url, { headers });
        assert.equal(r.status, 401);
        assert.deepEqual(await r.json(), { error: { code: 'missing_key', message: 'an API key is required' } });
        assert.match(r.headers.get('www-authenticate'), /^Bearer realm="keyward"/);
      }
    } finally {
      await fa.close();
    }
  });
});

describe('keyward/slim', () => {
  test('initialises nothing by itself; init(bytes) makes keyward and checkRequest work', () => {
    const script = `
      import { readFileSync } from 'node:fs';
      import { readFile } from 'node:fs/promises';
      import { createRequire } from 'node:module';
      import * as slim from 'keyward/slim';
      const require = createRequire(import.meta.url);
      const loaded = () => Object.keys(require.cache).filter((f) => f.includes('keyward_wasm'));
      if (slim.createKey !== undefined || loaded().length) throw new Error('initialised before init()');
      const path = require.resolve('keyward/keyward.wasm');
      // As the README writes it: a promise of the bytes.
      await slim.init(readFile(new URL(import.meta.resolve('keyward/keyward.wasm'))));
      await slim.init(readFileSync(path));
      if (loaded().length) throw new Error('the Node loader ran: ' + loaded());
      const { key, hash, hint } = slim.createKey();
      const store = slim.memoryStore([{ id: 'key_0000000000000001', hash, hint, name: 's', owner: 'o', scopes: [], env: 'live', created_at: '2026-01-01T00:00:00Z' }]);
      const r = await slim.checkRequest(new Request('http://x/', { headers: { 'x-api-key': key } }), { store, env: 'live' });
      console.log(r.valid ? 'slim ok' : JSON.stringify(r));
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: new URL('..', import.meta.url), encoding: 'utf8' });
    assert.match(out, /slim ok/);
  });
});
