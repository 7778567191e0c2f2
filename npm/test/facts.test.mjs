// A store of your own is read once per record: its facts are kept inside WebAssembly by
// the record's hash and used while the record reads the same. Attacked as an app would
// change its records: in place (a revocation, an expiry moved, a scope pushed, a Date's
// time set, a camelCase field added), or as a database returning equal copies whose
// values then change. After each change the next check, through real Express over HTTP
// and through verify(), gives the record's new answer, never the kept one.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import { createKey, hashKey, verify } from 'keyward';
import { apiKeyAuth, apiKeyErrorHandler, requireScope } from 'keyward/express';

const NOW = Date.now();
const iso = (ms) => new Date(ms).toISOString();

function listen(app) {
  app.set('env', 'test');
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => {
      resolve({ url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) });
    });
  });
}

function recordOf(key, fields = {}) {
  return {
    id: 'key_00000000000000fa', hash: hashKey(key), hint: key.slice(0, 12), name: 'k', owner: 'team-a',
    scopes: ['scans:read'], env: 'live', created_at: iso(NOW - 86_400_000), ...fields,
  };
}

/** An Express app on a store of one's own: `lookup(hash)` gives the record. */
async function appOn(lookup) {
  const app = express();
  app.get('/scans', apiKeyAuth({ store: { findByHash: lookup }, env: 'live' }), requireScope('scans:read'), (req, res) => res.json({ ok: true }));
  app.get('/admin', apiKeyAuth({ store: { findByHash: lookup }, env: 'live' }), requireScope('admin'), (req, res) => res.json({ ok: true }));
  app.use(apiKeyErrorHandler());
  return listen(app);
}

async function get(url, path, key) {
  const r = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${key}` } });
  const body = await r.json();
  return { status: r.status, code: body.error?.code ?? 'valid', body };
}

describe('a record changed in place is read anew', () => {
  test('revoked, expired, a scope pushed, a Date moved and a camelCase field added: each seen at the next check', async () => {
    const { key } = createKey({ env: 'live' });
    const record = recordOf(key, { expires_at: new Date(NOW + 3_600_000) });
    const server = await appOn((h) => (h === record.hash ? record : null));
    try {
      assert.equal((await get(server.url, '/scans', key)).status, 200);
      assert.equal((await get(server.url, '/admin', key)).code, 'insufficient_scope');
      // The attack on the cache: the same object, changed where it is.
      record.scopes.push('admin');
      assert.equal((await get(server.url, '/admin', key)).status, 200, 'a scope pushed in place is held');
      record.scopes.pop();
      assert.equal((await get(server.url, '/admin', key)).code, 'insufficient_scope', 'and popped, no longer');
      record.expires_at.setTime(NOW - 1000);
      assert.equal((await get(server.url, '/scans', key)).code, 'expired', "a Date's time set in place");
      record.expires_at = iso(NOW + 3_600_000);
      assert.equal((await get(server.url, '/scans', key)).status, 200);
      record.revoked_at = iso(NOW - 1000);
      assert.equal((await get(server.url, '/scans', key)).code, 'revoked', 'a revocation set in place');
      delete record.revoked_at;
      assert.equal((await get(server.url, '/scans', key)).status, 200);
      record.revokedAt = new Date(NOW - 1000);
      const camel = await get(server.url, '/scans', key);
      assert.equal(camel.status, 500, 'a camelCase field added in place is refused, never ignored');
      assert.equal(camel.code, 'internal');
      delete record.revokedAt;
      record.env = 'test';
      assert.equal((await get(server.url, '/scans', key)).code, 'wrong_environment');
    } finally {
      await server.close();
    }
  });

  test('a database returning copies: a copy that differs is read as it is', async () => {
    const { key } = createKey({ env: 'live' });
    const row = recordOf(key);
    const server = await appOn((h) => (h === row.hash ? { ...row, scopes: [...row.scopes] } : null));
    try {
      assert.equal((await get(server.url, '/scans', key)).status, 200);
      assert.equal((await get(server.url, '/scans', key)).status, 200, 'an equal copy');
      row.revoked_at = iso(NOW - 1000);
      assert.equal((await get(server.url, '/scans', key)).code, 'revoked');
      delete row.revoked_at;
      row.allowed_ips = ['203.0.113.0/24'];
      assert.equal((await get(server.url, '/scans', key)).code, 'ip_not_allowed', 'loopback is not in 203.0.113.0/24');
      row.allowed_ips = ['127.0.0.1'];
      assert.equal((await get(server.url, '/scans', key)).status, 200);
      row.scopes = ['repos:read'];
      assert.equal((await get(server.url, '/scans', key)).code, 'insufficient_scope');
    } finally {
      await server.close();
    }
  });

  test('verify(record) on one object changed in place, and on two records of one hash', () => {
    const { key } = createKey({ env: 'live' });
    const record = recordOf(key);
    const opts = { env: 'live', scopes: ['scans:read'] };
    assert.equal(verify(record, opts).code, 'valid');
    record.not_before = iso(NOW + 3_600_000);
    assert.equal(verify(record, opts).code, 'not_yet_valid');
    delete record.not_before;
    record.scopes[0] = 'repos:read';
    assert.equal(verify(record, opts).code, 'insufficient_scope');
    // Two records under one hash, alternating: each gets its own answer.
    const revoked = { ...recordOf(key), revoked_at: iso(NOW - 1000) };
    const live = recordOf(key);
    for (let i = 0; i < 3; i++) {
      assert.equal(verify(revoked, opts).code, 'revoked');
      assert.equal(verify(live, opts).code, 'valid');
    }
    // A record without a hash is decided too (nothing to keep it by).
    const { hash, ...bare } = live;
    assert.equal(verify(bare, opts).code, 'valid');
    assert.equal(verify({ ...bare, revoked_at: iso(NOW) }, opts).code, 'revoked');
  });
});
