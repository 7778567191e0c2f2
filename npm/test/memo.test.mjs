// The hash memo (memoryStore and a store of your own keep the SHA-256 of keys they found
// under a keyed digest of the key): a key seen again is decided on its record as it is at
// that use, through real Express over HTTP. Attacked as a caller would: a key revoked or
// removed after the memo kept it, and keys no store has, presented to fill the memo.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import { createKey, findByHashStore, hashKey } from 'keyward';
import { apiKeyAuth, apiKeyErrorHandler, memoryStore } from 'keyward/express';

function recordOf(key, fields = {}) {
  return {
    id: 'key_00000000000000ab', hash: hashKey(key), hint: key.slice(0, 12), name: 'k', owner: 'team-a',
    scopes: ['scans:read'], env: 'live', created_at: '2026-01-01T00:00:00Z', ...fields,
  };
}

async function withApp(store, run) {
  const app = express();
  app.set('env', 'test');
  app.get('/scans', apiKeyAuth({ store, env: 'live' }), (req, res) => res.json({ id: req.apiKey.id }));
  app.use(apiKeyErrorHandler());
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const url = `http://127.0.0.1:${server.address().port}/scans`;
  const get = async (key) => {
    const r = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
    const body = await r.json();
    return r.status === 200 ? 'valid' : body.error.code;
  };
  try {
    await run(get);
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

describe('the hash memo changes no decision', () => {
  test('memoryStore: a key revoked, then removed, after the memo kept it is refused at once', async () => {
    const { key } = createKey({ env: 'live' });
    const store = memoryStore([recordOf(key)]);
    await withApp(store, async (get) => {
      assert.equal(await get(key), 'valid');
      assert.equal(await get(key), 'valid', 'seen again');
      store.add(recordOf(key, { revoked_at: '2026-01-02T00:00:00Z' }));
      assert.equal(await get(key), 'revoked');
      store.remove(hashKey(key));
      assert.equal(await get(key), 'unknown_key');
      assert.equal(store.size, 0);
    });
  });

  test('a store of your own: each use looks the key up again (a revoked row refuses it)', async () => {
    const { key } = createKey({ env: 'live' });
    const rows = new Map([[hashKey(key), recordOf(key)]]);
    const lookups = [];
    const own = { findByHash: (h) => { lookups.push(h); return rows.get(h) ?? null; } };
    await withApp(own, async (get) => {
      assert.equal(await get(key), 'valid');
      assert.equal(await get(key), 'valid');
      rows.set(hashKey(key), recordOf(key, { revoked_at: '2026-01-02T00:00:00Z' }));
      assert.equal(await get(key), 'revoked');
      rows.delete(hashKey(key));
      assert.equal(await get(key), 'unknown_key');
    });
    assert.deepEqual(lookups, Array(4).fill(hashKey(key)), 'one lookup per use, by the key\'s own hash');
    assert.equal(findByHashStore(own).findByHash(hashKey(key)), null);
  });

  test('thousands of unknown keys with valid checksums neither pass nor change a known key\'s answer', async () => {
    const { key } = createKey({ env: 'live' });
    const store = memoryStore([recordOf(key)]);
    await withApp(store, async (get) => {
      assert.equal(await get(key), 'valid');
    });
    // Past the memo's 1,024 slots, in process (the same store, the same call the middleware makes).
    for (let i = 0; i < 3000; i++) {
      const v = store.verifyKey(createKey({ env: 'live' }).key, { env: 'live' });
      assert.equal(v.code, 'unknown_key');
    }
    assert.equal(store.verifyKey(key, { env: 'live' }).code, 'valid');
    assert.equal(store.size, 1);
  });

  test('memoryStore options are checked: a clear error naming the option', () => {
    const isOption = (name) => (e) => e.code === 'ERR_KEYWARD_OPTION' && e.option === name;
    assert.throws(() => memoryStore([], { hashMemo: 'no' }), isOption('hashMemo'));
    assert.throws(() => memoryStore([], { hashmemo: false }), isOption('hashmemo'));
    assert.throws(() => memoryStore([], null), isOption('options'));
    const { key } = createKey({ env: 'live' });
    const plain = memoryStore([recordOf(key)], { hashMemo: false });
    assert.equal(plain.verifyKey(key, { env: 'live' }).code, 'valid');
    assert.equal(plain.verifyKey(key, { env: 'live' }).code, 'valid');
  });
});
