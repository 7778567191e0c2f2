// Strict inputs, attacked as a careless deployment would be: an environment variable set
// but empty, and a store of your own whose records use field names keyward does not know
// (camelCase, as most JavaScript ORMs produce) or times only Date.parse would read.
// Each attack goes through real Express over HTTP, then reads the state back.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import { createKey, hashKey, remoteStore, verify } from 'keyward';
import { apiKeyAuth, apiKeyErrorHandler, memoryStore } from 'keyward/express';

const NOW = Date.now();
const iso = (ms) => new Date(ms).toISOString();
/** An error naming both camelCase fields (in any order). */
const namesBoth = (e) => /revokedAt/.test(e.message) && /expiresAt/.test(e.message);
const isEnvError = (e) => e instanceof Error && e.code === 'ERR_KEYWARD_OPTION' && e.option === 'env';

/** Starts `app` on a free loopback port; returns its base URL and a stop function. */
function listen(app) {
  app.set('env', 'test'); // Express's own error handler stays quiet
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => {
      resolve({ url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) });
    });
  });
}

function recordOf(key, fields = {}) {
  return {
    id: 'key_00000000000000aa', hash: hashKey(key), hint: key.slice(0, 12), name: 'k', owner: 'team-a',
    scopes: ['scans:read'], env: key.split('_')[1], created_at: iso(NOW - 86_400_000), ...fields,
  };
}

describe("env: '' (set but empty) is refused at setup, as undefined is", () => {
  const testKey = createKey({ env: 'test' }).key;
  const store = memoryStore([recordOf(testKey)]);
  const remote = remoteStore({ url: 'http://127.0.0.1:9', token: 'unused' });

  for (const env of ['', undefined]) {
    const label = JSON.stringify(env) ?? 'undefined';
    test(`apiKeyAuth({env: ${label}}) throws, so no app runs with it`, () => {
      assert.throws(() => apiKeyAuth({ store, env }), isEnvError);
      assert.throws(() => apiKeyAuth({ store: { findByHash: () => null }, env }), isEnvError);
      assert.throws(() => apiKeyAuth({ store: remote, env }), isEnvError);
    });
    test(`memoryStore().verifyKey, remoteStore().verifyKey and verify with env ${label} throw`, async () => {
      assert.throws(() => store.verifyKey(testKey, { env }), isEnvError);
      assert.throws(() => verify(recordOf(testKey), { env }), isEnvError);
      // Refused before any request: the unreachable URL is never asked.
      await assert.rejects(remote.verifyKey(testKey, { env }), isEnvError);
    });
  }

  test('a test key is refused in production, and accepted only where its environment is named', async () => {
    const app = express();
    app.use(apiKeyAuth({ store, env: 'live' }));
    app.get('/', (req, res) => res.json(req.apiKey));
    app.use(apiKeyErrorHandler());
    const { url, close } = await listen(app);
    try {
      const r = await fetch(url, { headers: { authorization: `Bearer ${testKey}` } });
      assert.equal(r.status, 401);
      assert.equal((await r.json()).error.code, 'wrong_environment');
    } finally {
      await close();
    }
    assert.equal(store.verifyKey(testKey, { env: { any: true } }).code, 'valid');
    assert.equal(store.verifyKey(testKey, { env: 'live' }).code, 'wrong_environment');
  });
});

describe('a store of your own with fields keyward does not know is refused, naming them', () => {
  const key = createKey({ env: 'live' }).key;
  // As an ORM returns it: the record revoked and expired, in camelCase.
  const camel = recordOf(key, { revokedAt: iso(NOW - 60_000), expiresAt: iso(NOW - 60_000) });

  async function through(record) {
    let handled = 0;
    const errors = [];
    const app = express();
    app.use(apiKeyAuth({ store: { findByHash: async (h) => (h === record.hash ? { ...record } : null) }, env: 'live' }));
    app.get('/', (req, res) => { handled += 1; res.json(req.apiKey); });
    app.use((err, req, res, next) => { errors.push(err); next(err); });
    app.use(apiKeyErrorHandler());
    const { url, close } = await listen(app);
    try {
      const r = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
      return { status: r.status, body: await r.json(), handled, errors };
    } finally {
      await close();
    }
  }

  test('revokedAt and expiresAt: a 500 internal, never a pass, and the error names both', async () => {
    const r = await through(camel);
    assert.equal(r.status, 500);
    assert.equal(r.body.error.code, 'internal');
    assert.equal(r.handled, 0, 'the route never ran');
    assert.equal(r.errors.length, 1);
    assert.equal(r.errors[0].code, 'internal');
    assert.ok(namesBoth(r.errors[0]), r.errors[0].message);
    assert.doesNotMatch(JSON.stringify(r.body), new RegExp(key), 'the key is in no answer');
  });

  test('the same record in snake_case is refused for what it says (revoked)', async () => {
    const r = await through(recordOf(key, { revoked_at: camel.revokedAt, expires_at: camel.expiresAt }));
    assert.equal(r.status, 401);
    assert.equal(r.body.error.code, 'revoked');
    assert.equal(r.handled, 0);
  });

  test('any unknown field is refused, even one that says nothing of the key', async () => {
    const r = await through(recordOf(key, { updated_at: iso(NOW) }));
    assert.equal(r.status, 500);
    assert.match(r.errors[0].message, /updated_at/);
  });

  test('times are read strictly by the core: what only Date.parse reads is refused', async () => {
    for (const expires of ['2099-01-01', 'Thu, 01 Jan 2099 00:00:00 GMT', '2099-01-01 00:00:00Z', 4102444800000]) {
      const r = await through(recordOf(key, { expires_at: expires }));
      assert.equal(r.status, 500, String(expires));
      assert.match(r.errors[0].message, /expires_at is not an RFC 3339 time/, String(expires));
    }
    const r = await through(recordOf(key, { expires_at: '2099-01-01T00:00:00+02:00' }));
    assert.equal(r.status, 200, 'any RFC 3339 offset is read');
    const past = await through(recordOf(key, { expires_at: new Date(NOW - 1000) }));
    assert.equal(past.body.error.code, 'expired', 'a Date is read as itself');
  });

  test('memoryStore().add and verify(record) refuse the same record with invalid_request', () => {
    const store = memoryStore();
    assert.throws(() => store.add(camel), (e) => e.code === 'invalid_request' && namesBoth(e));
    assert.equal(store.size, 0, 'nothing was added');
    assert.equal(store.verifyKey(key, { env: 'live' }).code, 'unknown_key');
    assert.throws(() => verify(camel, { env: 'live' }), (e) => e.code === 'invalid_request' && namesBoth(e));
    assert.equal(verify(recordOf(key, { revoked_at: camel.revokedAt }), { env: 'live' }).code, 'revoked');
  });
});

describe('held scopes are cached by their text, and only equal lists share an entry', () => {
  test('a list that joins to a cached list\'s text, or holds non-strings, is refused as invalid_scope', () => {
    const key = createKey({ env: 'live' }).key;
    const at = (scopes) => verify(recordOf(key, { scopes }), { env: 'live', scopes: ['repos:read'] });
    assert.equal(at(['scans:read', 'repos:read']).code, 'valid');
    assert.throws(() => at(['scans:read\nrepos:read']), { code: 'invalid_scope' });
    assert.throws(() => at([['repos:read']]), { code: 'invalid_scope' });
    assert.throws(() => at([{ toString: () => 'repos:read' }]), { code: 'invalid_scope' });
    assert.equal(at(['repos:read']).code, 'valid');
    assert.equal(at(['scans:read']).code, 'insufficient_scope');
  });
});
