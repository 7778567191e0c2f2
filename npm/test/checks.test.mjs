// The shared credential and check vectors (tests/vectors/credentials.json, checks.json)
// through every local store path: memoryStore's table in WebAssembly, a synchronous
// findByHash and an asynchronous one (a database), behind real Express over real HTTP.
// remoteStore replays the same checks against the real Worker in worker.test.mjs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHash } from 'node:crypto';
import express from 'express';
import { codes, findByHashStore, hashKey, memoryStore } from 'keyward';
import { apiKeyAuth, apiKeyErrorHandler, requireScope } from 'keyward/express';
import { envOf, headerLines, load, onTheClock, shifted } from '../../tests/vectors/replay.mjs';

/** GET with header lines sent as separate lines, as a client or proxy may. */
export function rawGet(url, lines) {
  return new Promise((resolve, reject) => {
    // A raw header array gets no Host header of its own.
    http.get(url, { headers: ['host', new URL(url).host, ...lines.flat()] }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: JSON.parse(text) }));
    }).on('error', reject);
  });
}

const liveKey = load('parse').find((c) => c.name === 'live key').input;
const liveRecord = {
  id: 'key_0123456789abcdef', hash: hashKey(liveKey), hint: liveKey.slice(0, 12), name: 'vectors',
  owner: 'team-vectors', scopes: ['scans:read'], env: 'live', created_at: '2026-01-01T00:00:00Z',
};
const checks = onTheClock().map((c) => shifted(c));
const records = [liveRecord, ...checks.map((c) => c.input.record).filter(Boolean)];
// What a database returns for a hash: the record filed under it. A case's record is filed
// under its presented key's hash, even when the record itself holds another hash (the
// constant-time re-check must refuse it).
const sha256 = (s) => createHash('sha256').update(s).digest('hex');
const filed = new Map([[liveRecord.hash, liveRecord], ...checks.filter((c) => c.input.record).map((c) => [sha256(c.input.key), c.input.record])]);

const storeKinds = {
  'memoryStore()': () => memoryStore(records),
  'memoryStore({ hashMemo: false })': () => memoryStore(records, { hashMemo: false }),
  'a synchronous findByHash store': () => ({ findByHash: (h) => filed.get(h) ?? null }),
  'an async findByHash store (a database)': () => ({
    findByHash: async (h) => { await new Promise((r) => setImmediate(r)); return structuredClone(filed.get(h) ?? null); },
  }),
};

/** One route per check case: its environment rule and its required scopes. */
function makeApp(store) {
  const app = express();
  app.set('env', 'test');
  app.get('/credentials', apiKeyAuth({ store, env: 'live' }), (req, res) => res.json(req.apiKey));
  checks.forEach((c, i) => {
    const env = c.input.env ?? { any: true };
    const chain = [apiKeyAuth({ store, env })];
    if (c.input.scopes.length) chain.push(requireScope(c.input.scopes));
    app.get(`/checks/${i}`, ...chain, (req, res) => res.json(req.apiKey));
  });
  app.use(apiKeyErrorHandler());
  return app;
}

for (const [kind, makeStore] of Object.entries(storeKinds)) {
  describe(`vectors through ${kind} and Express`, () => {
    let server;
    let url;
    before(async () => {
      server = makeApp(makeStore()).listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      url = `http://127.0.0.1:${server.address().port}`;
    });
    after(() => { server.closeAllConnections(); server.close(); });

    test('credentials.json: the one credential, or its refusal', async () => {
      for (const c of load('credentials')) {
        const r = await rawGet(`${url}/credentials`, headerLines(c));
        if (c.error) {
          assert.equal(r.body.error?.code, c.error.code, c.name);
          assert.equal(r.status, codes[c.error.code].status, c.name);
          assert.equal(typeof r.headers['www-authenticate'], 'string', `${c.name}: a refused credential is challenged`);
        } else if (c.expect.key === liveKey) {
          assert.equal(r.status, 200, `${c.name}: ${JSON.stringify(r.body)}`);
          assert.equal(r.body.id, liveRecord.id, c.name);
        } else {
          assert.equal(c.expect.key, 'not-a-key', 'the only other credential in the vectors');
          assert.equal(r.body.error?.code, 'malformed', c.name);
        }
      }
    });

    test('checks.json: code, status, challenge and missing scope (each key twice: the second use on its hash kept by the memo)', async () => {
      assert.ok(checks.length >= 20);
      for (const [i, c] of [...checks.entries(), ...checks.entries()]) {
        const r = await rawGet(`${url}/checks/${i}`, [['authorization', `Bearer ${c.input.key}`]]);
        const got = r.status === 200 ? 'valid' : r.body.error?.code;
        assert.equal(got, c.expect.code, `${c.name}: ${JSON.stringify(r.body)}`);
        assert.equal(r.status, c.expect.status, c.name);
        assert.equal('www-authenticate' in r.headers, c.expect.challenge, c.name);
        if (c.expect.scope) {
          assert.match(r.headers['www-authenticate'], new RegExp(`scope="${c.expect.scope}"`), c.name);
          assert.equal(r.body.error.message, `This API key does not have the '${c.expect.scope}' scope`, c.name);
        }
        if (c.expect.code === 'valid') assert.equal(r.body.env, c.input.record.env, c.name);
      }
    });
  });
}

describe('one store interface: every store answers verifyHeaders and verifyKey with the same verdicts', () => {
  const stores = Object.entries(storeKinds).map(([kind, make]) => {
    const made = make();
    return [kind, typeof made.verifyHeaders === 'function' ? made : findByHashStore(made)];
  });
  const joined = (lines) => (lines.length === 0 ? undefined : lines.join(', '));

  test('credentials.json through store.verifyHeaders', async () => {
    for (const [kind, store] of stores) {
      for (const c of load('credentials')) {
        const v = await store.verifyHeaders(joined(c.input.authorization), joined(c.input.x_api_key), { env: 'live' });
        const want = c.error ? c.error.code : c.expect.key === liveKey ? 'valid' : 'malformed';
        assert.equal(v.code, want, `${kind}: ${c.name}`);
        assert.equal(v.valid, want === 'valid');
        if (v.valid) assert.equal(v.key.id, liveRecord.id);
        else assert.equal(typeof v.message, 'string');
      }
    }
  });

  test('checks.json through store.verifyKey, scopes included', async () => {
    for (const [kind, store] of stores) {
      for (const c of checks) {
        const v = await store.verifyKey(c.input.key, { env: c.input.env ?? { any: true }, scopes: c.input.scopes });
        assert.equal(v.code, c.expect.code, `${kind}: ${c.name}`);
        if (c.expect.code === 'valid') assert.deepEqual(Object.keys(v).sort(), ['code', 'key', 'message', 'valid'], kind);
        if (c.expect.scope) assert.equal(v.scope, c.expect.scope, `${kind}: ${c.name}`);
      }
    }
  });

  test('findByHashStore: one per store of your own (its rate-limit windows shared by every middleware on it)', () => {
    const own = { findByHash: () => null };
    assert.equal(findByHashStore(own), findByHashStore(own));
    assert.throws(() => findByHashStore({}), { code: 'ERR_KEYWARD_OPTION' });
  });
});

describe('checks.json through memoryStore().verifyKey, at each case\'s own time', () => {
  test('every case, boundaries included', () => {
    const all = load('checks');
    const store = memoryStore(all.map((c) => c.input.record).filter(Boolean));
    for (const c of all) {
      const v = store.verifyKey(c.input.key, { env: c.input.env ?? { any: true }, scopes: c.input.scopes, now: new Date(c.input.now) });
      assert.equal(v.code, c.expect.code, c.name);
      assert.equal(v.valid, c.expect.code === 'valid', c.name);
      assert.equal(codes[v.code].status, c.expect.status, c.name);
      assert.equal(codes[v.code].challenge, c.expect.challenge, c.name);
      assert.equal(v.scope, c.expect.scope, c.name);
      if (c.expect.code === 'valid') assert.equal(v.key.env, envOf(c), c.name);
    }
  });
});

describe('the environment comes from the parsed key, not from its hint', () => {
  test('a key whose hint holds "_" works in its own environment through your own store', async () => {
    // About 6% of keys have a "_" among the 4 hint characters of their secret.
    let key;
    do key = (await import('keyward')).createKey({ env: 'live' }).key; while (!key.slice(8, 12).includes('_'));
    const record = { id: 'key_00000000000000ff', hash: hashKey(key), hint: key.slice(0, 12), name: 'u', owner: 'o', scopes: [], env: 'live', created_at: '2026-01-01T00:00:00Z' };
    const app = express();
    app.use(apiKeyAuth({ store: { findByHash: (h) => (h === record.hash ? record : null) }, env: { any: true } }));
    app.get('/', (req, res) => res.json(req.apiKey));
    app.use(apiKeyErrorHandler());
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const r = await rawGet(`http://127.0.0.1:${server.address().port}/`, [['authorization', `Bearer ${key}`]]);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.env, 'live');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
