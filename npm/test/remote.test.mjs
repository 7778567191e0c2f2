// remoteStore against a real HTTP peer: a node:http server started here that speaks the
// Worker's verification contract, POST /v1/verify/header (the key in the Keyward-Key
// header, options in the query, no body) and POST /v1/verify (a JSON body): token check,
// request check, verdicts as data, faults; and the Express middleware on top of it.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import express from 'express';
import { createKey } from 'keyward';
import { apiKeyAuth, apiKeyErrorHandler, remoteStore, requireScope } from 'keyward/express';

const TOKEN = createKey({ env: 'root' }).key;
/** The environment each key names (verifyKey's env is required). */
const ANY_ENV = { env: { any: true } };
const live = createKey({ env: 'live' }).key;
const gone = createKey({ env: 'live' }).key;
const soon = createKey({ env: 'live' }).key;

// The peer's state, changed by the tests.
// `jsonOnly`: a Worker older than the header form (its path is 404).
const peer = { requests: [], revoked: new Set(), mode: 'ok', soonExpires: null, jsonOnly: false };

function answer(body) {
  if (body.key === live || body.key === gone || body.key === soon) {
    if (peer.revoked.has(body.key)) return { valid: false, code: 'revoked', message: 'the API key has been revoked', key_id: 'key_0000000000000001', hint: body.key.slice(0, 12) };
    if (body.env && body.env !== 'live') return { valid: false, code: 'wrong_environment', message: 'x', key_id: 'key_0000000000000001' };
    return {
      valid: true, code: 'valid', message: 'the API key is valid', key_id: body.key === soon ? 'key_0000000000000003' : 'key_0000000000000001',
      hint: body.key.slice(0, 12), owner: 'team-a', scopes: ['scans:read'], env: 'live',
      ...(body.key === soon && peer.soonExpires ? { expires_at: peer.soonExpires } : {}),
    };
  }
  return { valid: false, code: 'unknown_key', message: 'the API key is not recognised', hint: body.key.slice(0, 12) };
}

let server;
let url;
before(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => { raw += d; });
    req.on('end', () => {
      const send = (status, body) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      let body;
      try { body = JSON.parse(raw); } catch { body = undefined; }
      const at = new URL(req.url, 'http://peer');
      const keyHeader = req.headers['keyward-key'];
      peer.requests.push({
        method: req.method, url: req.url, authorization: req.headers.authorization, contentType: req.headers['content-type'], body,
        ...(keyHeader === undefined ? {} : { keywardKey: keyHeader }),
      });
      const headerForm = at.pathname === '/v1/verify/header' && !peer.jsonOnly;
      if (req.method !== 'POST' || (at.pathname !== '/v1/verify' && !headerForm)) return send(404, { error: { code: 'not_found', message: 'not found' } });
      if (headerForm) {
        // The Worker's rules: the key in the header, no body, known parameters only (the
        // end user's address in its header, never in the URL).
        if (raw !== '' || typeof keyHeader !== 'string' || [...at.searchParams.keys()].some((n) => !['scopes', 'env', 'cost'].includes(n))) {
          return send(400, { error: { code: 'invalid_request', message: 'bad request' } });
        }
        const q = at.searchParams;
        body = { key: keyHeader, scopes: q.getAll('scopes') };
        if (q.has('env')) body.env = q.get('env');
        if (q.has('cost')) body.cost = Number(q.get('cost'));
        const ip = req.headers['keyward-context-ip'];
        if (ip !== undefined) body.context = { ip };
      } else if (at.search !== '' || keyHeader !== undefined) {
        return send(400, { error: { code: 'invalid_request', message: 'bad request' } });
      }
      if (peer.mode === '500') return send(500, { error: { code: 'internal', message: 'internal error' } });
      if (peer.mode === 'html') { res.writeHead(502, { 'content-type': 'text/html' }); return res.end('<h1>Bad gateway</h1>'); }
      if (peer.mode === 'hang') return; // never answers
      if (peer.mode === 'garbage') return send(200, { hello: 'world' });
      if (req.headers.authorization !== `Bearer ${TOKEN}`) return send(401, { error: { code: 'unauthorized', message: 'authentication is required' } });
      if (!body || typeof body.key !== 'string' || !Array.isArray(body.scopes)) return send(400, { error: { code: 'invalid_request', message: 'bad body' } });
      send(200, answer(body));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${server.address().port}`;
});
after(() => { server.closeAllConnections(); server.close(); });
beforeEach(() => { peer.requests = []; peer.revoked.clear(); peer.mode = 'ok'; peer.soonExpires = null; peer.jsonOnly = false; });

describe('remoteStore requests and answers', () => {
  test('POSTs to {url}/v1/verify/header with the bearer token, the key in Keyward-Key, env in the query, no body', async () => {
    const store = remoteStore({ url, token: TOKEN });
    const v = await store.verifyKey(live, { env: 'live' });
    assert.deepEqual(v, {
      valid: true, code: 'valid', message: 'the API key is valid',
      key: { id: 'key_0000000000000001', owner: 'team-a', scopes: ['scans:read'], env: 'live', hint: live.slice(0, 12) },
    });
    assert.equal(peer.requests.length, 1);
    assert.deepEqual(peer.requests[0], {
      method: 'POST', url: '/v1/verify/header?env=live', authorization: `Bearer ${TOKEN}`, contentType: undefined, body: undefined, keywardKey: live,
    });
    // Scopes are checked by the core on the Worker's answer (one request, cached per key).
    const scoped = await store.verifyKey(live, { env: 'live', scopes: ['scans:write'] });
    assert.equal(scoped.code, 'insufficient_scope');
    assert.equal(scoped.scope, 'scans:write');
    assert.equal((await store.verifyKey(live, { env: 'live', scopes: ['scans:read'] })).code, 'valid');
    assert.equal(peer.requests.length, 1);
    // A trailing slash on the URL changes nothing; with env {any: true}, none is sent.
    await remoteStore({ url: `${url}/`, token: TOKEN }).verifyKey(live, ANY_ENV);
    assert.equal(peer.requests[1].url, '/v1/verify/header');
    assert.equal(peer.requests[1].keywardKey, live);
    assert.equal(peer.requests[1].body, undefined);
  });

  test('a Worker without the header form (404): {key, scopes, env} POSTed to {url}/v1/verify, from then on', async () => {
    peer.jsonOnly = true;
    const store = remoteStore({ url, token: TOKEN, cacheTtlMs: 0 });
    assert.equal((await store.verifyKey(live, { env: 'live' })).code, 'valid');
    assert.deepEqual(peer.requests.map((r) => r.url), ['/v1/verify/header?env=live', '/v1/verify']);
    assert.deepEqual(peer.requests[1], {
      method: 'POST', url: '/v1/verify', authorization: `Bearer ${TOKEN}`, contentType: 'application/json', body: { key: live, scopes: [], env: 'live' },
    });
    assert.equal((await store.verifyKey(gone, ANY_ENV)).code, 'valid');
    assert.deepEqual(peer.requests.slice(2).map((r) => [r.url, r.keywardKey, r.body]), [['/v1/verify', undefined, { key: gone, scopes: [] }]]);
  });

  test('failed checks are data; malformed keys never leave the process', async () => {
    const store = remoteStore({ url, token: TOKEN });
    assert.equal((await store.verifyKey(createKey().key, ANY_ENV)).code, 'unknown_key');
    assert.equal((await store.verifyKey(live, { env: 'test' })).code, 'wrong_environment');
    const before = peer.requests.length;
    assert.equal((await store.verifyKey('sk_live_nope', ANY_ENV)).code, 'malformed');
    assert.equal((await store.verifyKey(live.slice(0, -1) + (live.endsWith('A') ? 'B' : 'A'), ANY_ENV)).code, 'bad_checksum');
    assert.equal(peer.requests.length, before);
  });

  test('verdicts are cached by key hash for cacheTtlMs: revocation shows after the TTL', async () => {
    // A TTL with room for a slow first answer on a loaded machine (the entry's time
    // starts when it is asked).
    const store = remoteStore({ url, token: TOKEN, cacheTtlMs: 1500 });
    assert.equal((await store.verifyKey(gone, ANY_ENV)).code, 'valid');
    peer.revoked.add(gone);
    assert.equal((await store.verifyKey(gone, ANY_ENV)).code, 'valid', 'cached within the TTL');
    assert.equal(peer.requests.length, 1);
    await new Promise((r) => setTimeout(r, 1600));
    assert.equal((await store.verifyKey(gone, ANY_ENV)).code, 'revoked', 'visible after the TTL');
    assert.equal(peer.requests.length, 2);
    // Concurrent checks of one key share one request.
    store.clear();
    await Promise.all([store.verifyKey(live, ANY_ENV), store.verifyKey(live, ANY_ENV), store.verifyKey(live, ANY_ENV)]);
    assert.equal(peer.requests.length, 3);
  });

  test('cacheTtlMs: 0 asks every time', async () => {
    const store = remoteStore({ url, token: TOKEN, cacheTtlMs: 0 });
    await store.verifyKey(live, ANY_ENV);
    await store.verifyKey(live, ANY_ENV);
    assert.equal(peer.requests.length, 2);
  });

  test('a cached valid verdict expires with the key', async () => {
    peer.soonExpires = new Date(Date.now() + 1000).toISOString();
    const store = remoteStore({ url, token: TOKEN, cacheTtlMs: 60_000 });
    assert.equal((await store.verifyKey(soon, ANY_ENV)).code, 'valid');
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await store.verifyKey(soon, ANY_ENV)).code, 'expired');
    assert.equal(peer.requests.length, 1);
  });

  test('faults throw ApiKeyError unavailable (503) and are not cached', async () => {
    const cases = [
      ['500', { url, token: TOKEN }],
      ['html', { url, token: TOKEN }],
      ['garbage', { url, token: TOKEN }],
      ['hang', { url, token: TOKEN, timeoutMs: 200 }],
      ['ok', { url: 'http://127.0.0.1:1', token: TOKEN }], // nobody listens
    ];
    for (const [mode, options] of cases) {
      peer.mode = mode;
      const store = remoteStore(options);
      await assert.rejects(store.verifyKey(live, ANY_ENV), (e) => e.code === 'unavailable' && e.status === 503, `${mode} ${options.url}`);
      peer.mode = 'ok';
      if (options.token === TOKEN && options.url === url) assert.equal((await store.verifyKey(live, ANY_ENV)).code, 'valid', `${mode}: the failure was not cached`);
    }
  });

  test('a token the service refuses (401) is 500 verifier_refused, a configuration error; not cached', async () => {
    const store = remoteStore({ url, token: 'sk_root_wrong' });
    const before = peer.requests.length;
    await assert.rejects(store.verifyKey(live, ANY_ENV), (e) => e.code === 'verifier_refused' && e.status === 500 && e.cause.status === 401);
    await assert.rejects(store.verifyKey(live, ANY_ENV), (e) => e.code === 'verifier_refused');
    assert.equal(peer.requests.length, before + 2, 'each use asked again');
  });
});

describe('remoteStore options', () => {
  test('url and token come from KEYWARD_URL and KEYWARD_TOKEN; a missing one is named at construction', async () => {
    const saved = { url: process.env.KEYWARD_URL, token: process.env.KEYWARD_TOKEN };
    try {
      delete process.env.KEYWARD_URL;
      delete process.env.KEYWARD_TOKEN;
      assert.throws(() => remoteStore(), { code: 'ERR_KEYWARD_OPTION', option: 'url' });
      assert.throws(() => remoteStore({ url }), { code: 'ERR_KEYWARD_OPTION', option: 'token' });
      process.env.KEYWARD_URL = url;
      assert.throws(() => remoteStore(), { code: 'ERR_KEYWARD_OPTION', option: 'token' });
      process.env.KEYWARD_TOKEN = TOKEN;
      assert.equal((await remoteStore().verifyKey(live, ANY_ENV)).code, 'valid');
      assert.equal(peer.requests[0].authorization, `Bearer ${TOKEN}`);
    } finally {
      for (const [k, v] of [['KEYWARD_URL', saved.url], ['KEYWARD_TOKEN', saved.token]]) {
        if (v === undefined) delete process.env[k]; else process.env[k] = v;
      }
    }
  });

  test('bad options are named', () => {
    const cases = [
      [{ url: 'not a url', token: 'x' }, 'url'],
      [{ url: 'ftp://example.com', token: 'x' }, 'url'],
      [{ url, token: 42 }, 'token'],
      [{ url, token: 'x', cacheTtlMs: -1 }, 'cacheTtlMs'],
      [{ url, token: 'x', cacheTtlMs: '5s' }, 'cacheTtlMs'],
      [{ url, token: 'x', timeoutMs: Infinity }, 'timeoutMs'],
    ];
    for (const [options, option] of cases) {
      assert.throws(() => remoteStore(options), { code: 'ERR_KEYWARD_OPTION', option }, JSON.stringify(options));
    }
  });
});

describe('Express on remoteStore', () => {
  let app;
  let srv;
  let base;
  before(async () => {
    app = express();
    app.set('env', 'test');
    app.use(apiKeyAuth({ store: remoteStore({ url, token: TOKEN, cacheTtlMs: 200 }), env: 'live' }));
    app.get('/scans', requireScope('scans:read'), (req, res) => res.json(req.apiKey));
    app.get('/settings', requireScope('settings:read'), (req, res) => res.json({}));
    app.use(apiKeyErrorHandler());
    await new Promise((r) => { srv = app.listen(0, '127.0.0.1', r); });
    base = `http://127.0.0.1:${srv.address().port}`;
  });
  after(() => { srv.closeAllConnections(); srv.close(); });

  const get = async (path, key) => {
    const r = await fetch(base + path, { headers: key ? { authorization: `Bearer ${key}` } : {} });
    return { status: r.status, body: await r.json() };
  };

  test('valid, insufficient scope, unknown, and a Worker fault is a 503', async () => {
    const ok = await get('/scans', live);
    assert.equal(ok.status, 200);
    assert.equal(ok.body.id, 'key_0000000000000001');
    const scope = await get('/settings', live);
    assert.equal(scope.status, 403);
    assert.equal(scope.body.error.code, 'insufficient_scope');
    assert.equal((await get('/scans', createKey().key)).body.error.code, 'unknown_key');
    assert.equal((await get('/scans')).body.error.code, 'missing_key');
    peer.mode = '500';
    const down = await get('/scans', createKey().key);
    assert.equal(down.status, 503);
    assert.equal(down.body.error.code, 'unavailable');
  });
});
