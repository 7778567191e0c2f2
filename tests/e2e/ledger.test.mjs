// Revocation that holds everywhere and is never undone: each key's life is decided by its
// chain's Durable Object, and KV, the read index, cannot overrule it. Real Worker under
// wrangler dev, with local Durable Objects (SQLite), KV, Queues and D1.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { call, eventually, makeKey, sha256, startWorker } from './harness.mjs';

const BOUND = 300;
let worker;
let zero;

const as = (w) => ({
  create: async (body) => {
    const r = await call(w.url, '/v1/keys', { method: 'POST', key: w.rootKey, body: { owner: 'ledger', scopes: [], env: 'live', ...body } });
    assert.equal(r.status, 201, r.text);
    return r.body;
  },
  verify: (key) => call(w.url, '/v1/verify', { method: 'POST', key: w.rootKey, body: { key, env: 'live' } }),
  revoke: (id) => call(w.url, `/v1/keys/${id}/revoke`, { method: 'POST', key: w.rootKey, body: { reason: 'test' } }),
  rotate: (id, grace = 0) => call(w.url, `/v1/keys/${id}/rotate`, { method: 'POST', key: w.rootKey, body: { grace_seconds: grace } }),
  show: async (id) => (await call(w.url, `/v1/keys/${id}`, { key: w.rootKey })),
  list: async (owner) => (await call(w.url, `/v1/keys?owner=${owner}&limit=100`, { key: w.rootKey })).body.keys,
});

before(async () => {
  worker = await startWorker({ vars: { KEYWARD_REVOCATION_BOUND_MS: String(BOUND) } });
  zero = await startWorker({ vars: { KEYWARD_REVOCATION_BOUND_MS: '0' } });
});

after(async () => {
  await worker?.stop();
  await zero?.stop();
});

describe('stale KV cannot resurrect a key', () => {
  test('a revoked key whose KV record is put back unrevoked stays revoked: verify, rotate, show', async () => {
    const w = as(worker);
    const k = await w.create({ name: 'victim', owner: 'stale' });
    const rec = `rec:${sha256(k.key)}`;
    const before = worker.kvGet(rec);
    assert.ok(before && JSON.parse(before).revoked_at == null, 'the unrevoked copy, as a lagging location holds it');
    assert.equal((await w.revoke(k.id)).status, 200);
    assert.ok(JSON.parse(worker.kvGet(rec)).revoked_at, 'KV was updated after the ledger');
    // What a lagging location would see: the copy from before the revoke.
    worker.kvPut([{ key: rec, value: before }]);
    assert.equal(JSON.parse(worker.kvGet(rec)).revoked_at, null);
    await new Promise((r) => setTimeout(r, BOUND + 50)); // past the bound: no cached answer left
    const v = await w.verify(k.key);
    assert.equal(v.body.code, 'revoked', v.text);
    const rot = await w.rotate(k.id);
    assert.equal(rot.status, 409, rot.text);
    assert.equal(rot.body.error.code, 'conflict');
    assert.equal(rot.body.key, undefined);
    const shown = await w.show(k.id);
    assert.equal(shown.body.status, 'revoked');
    assert.ok(shown.body.revoked_at);
    const keys = await w.list('stale');
    assert.equal(keys.length, 1, 'no successor was minted');
    assert.equal(keys[0].status, 'revoked', 'the list reads the ledger, not the stale copy');
  });

  test('a forged KV record cannot lengthen a key\'s life or widen its scopes', async () => {
    const w = as(worker);
    const k = await w.create({ name: 'short', owner: 'forged', expires_in: 1, scopes: [] });
    const rec = `rec:${sha256(k.key)}`;
    const forged = { ...JSON.parse(worker.kvGet(rec)), expires_at: null, scopes: ['admin'] };
    worker.kvPut([{ key: rec, value: forged }]);
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await w.verify(k.key)).body.code, 'expired');
    const admin = await call(worker.url, '/v1/keys', { key: k.key });
    assert.notEqual(admin.status, 200, 'not an admin key either');
  });
});

describe('the revocation bound', () => {
  test(`with KEYWARD_REVOCATION_BOUND_MS=0 the first verification after the revoke returns is refused`, async () => {
    const w = as(zero);
    const k = await w.create({ name: 'zero' });
    assert.equal((await w.verify(k.key)).body.code, 'valid');
    const r = await w.revoke(k.id);
    assert.equal(r.status, 200);
    assert.equal((await w.verify(k.key)).body.code, 'revoked');
  });

  test(`with a bound of ${BOUND} ms, every verification that starts more than the bound after the revoke returns is refused`, async () => {
    const w = as(worker);
    const k = await w.create({ name: 'bounded' });
    assert.equal((await w.verify(k.key)).body.code, 'valid');
    await w.revoke(k.id);
    const returned = Date.now();
    const results = [];
    while (Date.now() - returned < BOUND * 3) {
      const started = Date.now();
      results.push({ started, code: (await w.verify(k.key)).body.code });
    }
    const late = results.filter((r) => r.started - returned > BOUND);
    assert.ok(late.length > 0);
    assert.ok(late.every((r) => r.code === 'revoked'), JSON.stringify(late.filter((r) => r.code !== 'revoked')));
  });
});

describe('one outcome under concurrency', () => {
  test('50 concurrent rotations and revocations of one key leave one consistent outcome, never two successors', async () => {
    const w = as(worker);
    const k = await w.create({ name: 'contended', owner: 'race' });
    const calls = Array.from({ length: 50 }, (_, i) => (i % 2 ? w.rotate(k.id, 3600) : w.revoke(k.id)));
    const answers = await Promise.all(calls);
    assert.ok(answers.every((a) => [200, 201, 409].includes(a.status)), JSON.stringify(answers.map((a) => a.status)));
    const minted = answers.filter((a) => a.status === 201);
    assert.ok(minted.length <= 1, `${minted.length} successors minted`);
    const old = (await w.show(k.id)).body;
    assert.equal(old.status, 'revoked', 'at least one revocation landed');
    const chain = (await w.list('race')).filter((x) => x.rotated_from === k.id);
    assert.equal(chain.length, minted.length, 'the list shows exactly the successors handed out');
    if (minted.length === 1) {
      assert.equal(old.rotated_to, minted[0].body.id);
      assert.equal((await w.verify(minted[0].body.key)).body.code, 'valid');
    } else {
      assert.equal(old.rotated_to, null);
    }
  });
});

describe('keys stored before the ledger', () => {
  /** KV entries for a record, as the previous format stored them (no `lineage`). */
  const legacyEntries = (record) => {
    const meta = { hash: record.hash, owner: record.owner, env: record.env };
    return [
      { key: `rec:${record.hash}`, value: record },
      { key: `id:${record.id}`, value: '', metadata: meta },
      { key: `own:${sha256(record.owner).slice(0, 32)}:${record.id}`, value: '', metadata: meta },
    ];
  };
  const migrate = (key = worker.rootKey, cursor) =>
    call(worker.url, `/v1/migrate${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ''}`, { method: 'POST', key });
  /** Every page of the migration, merged. */
  async function migrateAll() {
    const total = { adopted: [], kept: 0, refused: [] };
    let cursor;
    do {
      const r = await migrate(worker.rootKey, cursor);
      assert.equal(r.status, 200, r.text);
      total.adopted.push(...r.body.adopted);
      total.kept += r.body.kept;
      total.refused.push(...r.body.refused);
      cursor = r.body.cursor;
    } while (cursor);
    return total;
  }

  test('a KV record of the previous format is no key until the root key migrates it; then it verifies, rotates and revokes correctly', async () => {
    const w = as(worker);
    const key = makeKey('sk', 'live');
    const hash = sha256(key);
    const id = 'key_Legacy0000000001';
    const record = {
      id, hash, hint: key.slice(0, 12), name: 'legacy', owner: 'old-format', scopes: ['scans:read'], env: 'live',
      created_at: new Date(Date.now() - 86_400_000).toISOString(),
    };
    worker.kvPut(legacyEntries(record));
    assert.equal((await w.verify(key)).body.code, 'unknown_key', 'KV alone brings no key to life');
    assert.equal((await w.show(id)).status, 404);
    const admin = await w.create({ name: 'admin', scopes: ['admin'] });
    const refused = await migrate(admin.key);
    assert.equal(refused.status, 403, 'the root key only, not an admin key');
    assert.equal(refused.body.error.code, 'forbidden');
    assert.equal((await w.verify(key)).body.code, 'unknown_key');
    const first = await migrateAll();
    assert.deepEqual(first.adopted, [id]);
    const again = await migrateAll();
    assert.deepEqual(again.adopted, [], 'idempotent: adopted once');
    const v = await w.verify(key);
    assert.equal(v.body.code, 'valid', v.text);
    assert.equal(v.body.key_id, id);
    const shown = await w.show(id);
    assert.equal(shown.status, 200, shown.text);
    const rot = await w.rotate(id, 3600);
    assert.equal(rot.status, 201, rot.text);
    assert.equal(rot.body.rotated_from, id);
    assert.equal((await w.verify(rot.body.key)).body.code, 'valid');
    assert.equal((await w.verify(key)).body.code, 'valid', 'in its grace period');
    assert.equal((await w.rotate(id)).status, 409, 'rotated once, never twice');
    assert.equal((await w.revoke(id)).status, 200);
    assert.equal((await w.verify(key)).body.code, 'revoked');
    // KV put back to the legacy copy, and migrated again: the ledger keeps it revoked.
    worker.kvPut([{ key: `rec:${hash}`, value: record }]);
    await new Promise((r) => setTimeout(r, BOUND + 50));
    assert.deepEqual((await migrateAll()).adopted, []);
    assert.equal((await w.verify(key)).body.code, 'revoked');
    assert.equal((await w.verify(rot.body.key)).body.code, 'valid', 'the successor is untouched');
  });

  test('a record rewritten in KV without its lineage brings no key, right or life: not on a verification, not on a management call', async () => {
    const w = as(worker);
    const victim = await w.create({ name: 'victim', owner: 'other-owner', scopes: [] });
    const reader = await w.create({ name: 'reader', owner: 'forger', scopes: ['repos:read'] });
    const strip = ({ lineage, ...rest }) => rest;
    // 1. Its own key, as admin under a new id.
    const rec = JSON.parse(worker.kvGet(`rec:${sha256(reader.key)}`));
    worker.kvPut([{ key: `rec:${rec.hash}`, value: { ...strip(rec), id: 'key_Forged0000000001', scopes: ['admin'] } }]);
    // 2. A revoked key, back under a new id.
    const gone = await w.create({ name: 'gone', owner: 'forger' });
    assert.equal((await w.revoke(gone.id)).status, 200);
    const goneRec = JSON.parse(worker.kvGet(`rec:${sha256(gone.key)}`));
    worker.kvPut([{ key: `rec:${goneRec.hash}`, value: { ...strip(goneRec), id: 'key_Forged0000000002', revoked_at: null, revoked_by: null, revocation_reason: null } }]);
    // 3. A revoked rotation successor, under its own id.
    const first = await w.create({ name: 'chain', owner: 'forger' });
    const next = (await w.rotate(first.id, 0)).body;
    assert.equal((await w.revoke(next.id)).status, 200);
    const nextRec = JSON.parse(worker.kvGet(`rec:${sha256(next.key)}`));
    worker.kvPut([{ key: `rec:${nextRec.hash}`, value: { ...strip(nextRec), revoked_at: null, revoked_by: null, revocation_reason: null } }]);
    await new Promise((r) => setTimeout(r, 2100)); // past the isolate's KV cache
    for (const key of [reader.key, gone.key, next.key]) {
      assert.equal((await w.verify(key)).body.code, 'unknown_key');
    }
    const list = await call(worker.url, '/v1/keys?owner=other-owner', { key: reader.key });
    assert.equal(list.status, 401, list.text);
    const mint = await call(worker.url, '/v1/keys', { method: 'POST', key: reader.key, body: { name: 'x', scopes: ['admin'] } });
    assert.equal(mint.status, 401, mint.text);
    assert.equal(mint.body.error.code, 'unknown_key');
    assert.equal((await w.list('forger')).filter((k) => k.scopes.includes('admin')).length, 0, 'no admin key was minted');
    assert.equal((await w.verify(victim.key)).body.code, 'valid');
    // The migration adopts no rotation successor: one without its chain is forged.
    const m = await migrateAll();
    assert.ok(m.refused.includes(next.id), JSON.stringify(m));
    assert.ok(!m.adopted.some((id) => id.startsWith('key_Forged')), 'a record under another id than its index names is not adopted');
    for (const key of [reader.key, gone.key]) {
      assert.equal((await w.verify(key)).body.code, 'unknown_key');
    }
    assert.equal((await w.verify(next.key)).body.code, 'unknown_key');
  });

  test('a KV record of the current format that its ledger never committed is no key', async () => {
    const w = as(worker);
    const key = makeKey('sk', 'live');
    const hash = sha256(key);
    const id = 'key_Orphan0000000001';
    worker.kvPut([{ key: `rec:${hash}`, value: {
      id, hash, hint: key.slice(0, 12), name: 'orphan', owner: 'orphans', scopes: ['admin'], env: 'live',
      created_at: new Date().toISOString(), lineage: id,
    } }]);
    assert.equal((await w.verify(key)).body.code, 'unknown_key');
    const r = await call(worker.url, '/v1/keys', { key });
    assert.equal(r.status, 401);
    assert.equal(r.body.error.code, 'unknown_key');
  });
});
