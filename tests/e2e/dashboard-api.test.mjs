// The endpoints the dashboard reads, against the real Worker under wrangler dev:
// `GET /v1/me` (who the caller is and what it may do, by the core's rules, with the scopes
// and roles it may grant), `GET /v1/keys?status=` (filtered by the server, pages filled),
// a key's standing (`rotatable`, `revocable`, `stale`, `over_privileged`), `GET
// /v1/usage` (uses per hour or day by outcome, from D1) and the audit trail's `before`
// cursor, and `GET /v1/overview` (the deployment at a glance, confined like every read). Each authorization rule is attacked and the state read back.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { call as rawCall, eventually, startWorker } from './harness.mjs';

let worker;
const call = (path, opts) => rawCall(worker.url, path, opts);
const root = (path, opts = {}) => call(path, { key: worker.rootKey, ...opts });

async function create(body, key = worker.rootKey) {
  const r = await call('/v1/keys', { method: 'POST', key, body: { env: 'live', ...body } });
  assert.equal(r.status, 201, r.text);
  return r.body;
}

const verify = (key, extra = {}) =>
  root('/v1/verify', { method: 'POST', body: { key, env: 'live', ...extra } });

/** `GET /v1/usage` as `key`; asserts 200. */
async function usage(query, key = worker.rootKey) {
  const r = await call(`/v1/usage?${query}`, { key });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

/** Uses by outcome, summed over buckets. */
function byOutcome(u) {
  const out = {};
  for (const row of u.rows) out[row.outcome] = (out[row.outcome] ?? 0) + row.uses;
  return out;
}

const ROLES = { reader: ['scans:read', 'repos:read'], writer: ['repos:write', 'scans:read'] };

before(async () => { worker = await startWorker({ vars: { KEYWARD_ROLES: JSON.stringify(ROLES) } }); }, { timeout: 180_000 });
after(async () => { await worker?.stop(); });

// First in the file: the root key's overview lists the 10 most used keys of the whole
// deployment, and the keys below must be among them (no other test has used a key yet).
describe('GET /v1/overview', () => {
  test('uses by hour and outcome, refusals by code, top keys and alerts from D1; attack: a bounded reader sees its own owner and environment only', async () => {
    const a1 = await create({ name: 'ov-a1', owner: 'ov-a', scopes: ['scans:read'] });
    const a2 = await create({ name: 'ov-a2', owner: 'ov-a', scopes: ['scans:read'] });
    const aTest = await create({ name: 'ov-a-test', owner: 'ov-a', env: 'test', scopes: ['scans:read'] });
    const b = await create({ name: 'ov-b', owner: 'ov-b', scopes: ['scans:read'] });
    for (let i = 0; i < 3; i++) assert.equal((await verify(a1.key, { scopes: ['scans:read'] })).body.valid, true);
    assert.equal((await verify(a1.key, { scopes: ['scans:trigger'] })).body.code, 'insufficient_scope');
    assert.equal((await verify(a2.key)).body.valid, true);
    for (let i = 0; i < 5; i++) assert.equal((await verify(aTest.key, { env: 'test' })).body.valid, true);
    for (let i = 0; i < 6; i++) assert.equal((await verify(b.key)).body.valid, true);
    for (const k of [a2, b]) {
      assert.equal((await root(`/v1/keys/${k.id}/revoke`, { method: 'POST' })).status, 200);
      assert.equal((await verify(k.key)).body.code, 'revoked');
    }
    const reader = await create({ name: 'ov-reader', owner: 'ov-a', scopes: ['audit:read'] });
    const top = (o, id) => o.top_keys.find((k) => k.key_id === id);
    // The root key sees every owner and environment: once all of the above is in D1.
    /** @type {any} */
    let all;
    await eventually(async () => {
      const r = await root('/v1/overview');
      assert.equal(r.status, 200, r.text);
      all = r.body;
      return top(all, a1.id)?.uses === 4 && top(all, a2.id)?.uses === 2 && top(all, aTest.id)?.uses === 5 && top(all, b.id)?.uses === 7
        && [a2.id, b.id].every((id) => all.alerts.some((x) => x.key_id === id && x.kind === 'revoked_key_used'));
    }, { what: 'the uses and alerts in D1' });
    assert.equal(all.owner, null);
    assert.equal(all.env, null);
    assert.deepEqual(top(all, a1.id), { key_id: a1.id, root: false, hint: a1.hint, owner: 'ov-a', uses: 4, refused: 1 });
    // The root key's own calls are uses too; it is marked, having no record to link to.
    const rootRow = all.top_keys.find((k) => k.root);
    assert.ok(rootRow, JSON.stringify(all.top_keys));
    assert.equal(rootRow.key_id, null, 'no id: nothing to follow to a key that has no record');
    assert.equal(top(all, b.id).refused, 1);
    for (let i = 1; i < all.top_keys.length; i++) assert.ok(all.top_keys[i - 1].uses >= all.top_keys[i].uses, 'most used first');
    const sum = (rows) => rows.reduce((n, r) => n + r.uses, 0);
    // Refusals by code are the refused rows of the hours, summed.
    const refusedRows = all.uses.filter((r) => r.outcome !== 'valid');
    assert.equal(sum(all.refusals), sum(refusedRows));
    for (const c of all.refusals) assert.equal(c.uses, sum(refusedRows.filter((r) => r.outcome === c.code)), c.code);
    assert.ok(Date.parse(all.until) - Date.parse(all.since) <= 7 * 86_400_000 + 3_600_000);

    // The attack: the bounded reader asks for the overview; nothing of another owner or
    // environment is in it (though the root key's shows it is there).
    const r = await call('/v1/overview', { key: reader.key });
    assert.equal(r.status, 200, r.text);
    const mine = r.body;
    assert.equal(mine.owner, 'ov-a');
    assert.equal(mine.env, 'live');
    const ids = mine.top_keys.map((k) => k.key_id);
    assert.ok(!ids.includes(b.id) && !ids.includes(aTest.id), JSON.stringify(ids));
    for (const k of mine.top_keys) {
      assert.equal(k.owner, 'ov-a');
      assert.ok(k.hint.startsWith('sk_live_'), k.hint);
    }
    assert.deepEqual(top(mine, a1.id), top(all, a1.id));
    assert.deepEqual(top(mine, a2.id), { key_id: a2.id, root: false, hint: a2.hint, owner: 'ov-a', uses: 2, refused: 1 });
    assert.ok(!mine.top_keys.some((k) => k.root), 'the root key is not the bounded reader\'s');
    // Its hours count its own owner's live keys only: a1 and a2 (6 uses), and at most
    // this very call of its own, should the queue deliver it between two reads.
    assert.ok(sum(mine.uses) >= 6 && sum(mine.uses) <= 7, `${sum(mine.uses)} uses`);
    assert.deepEqual(Object.fromEntries(mine.refusals.map((c) => [c.code, c.uses])), { insufficient_scope: 1, revoked: 1 });
    assert.deepEqual(mine.alerts.map((x) => x.key_id), [a2.id]);
    assert.ok(!JSON.stringify(mine).includes('ov-b'));
    // Read back: the other owner's and environment's uses are still there for the root key.
    const again = (await root('/v1/overview')).body;
    assert.equal(top(again, b.id).uses, 7);
    assert.equal(top(again, aTest.id).uses, 5);
  });

  test('a key without audit:read, a query or another method is refused with its code', async () => {
    const reader = await create({ name: 'ov-keys-reader', owner: 'ov-a', scopes: ['keys:read'] });
    const no = await call('/v1/overview', { key: reader.key });
    assert.equal(no.status, 403, no.text);
    assert.equal(no.body.error.code, 'insufficient_scope');
    assert.equal(no.body.uses, undefined);
    const q = await root('/v1/overview?owner=ov-b');
    assert.equal(q.status, 400);
    assert.equal(q.body.error.code, 'invalid_request');
    assert.equal((await call('/v1/overview')).body.error.code, 'missing_key');
    const post = await root('/v1/overview', { method: 'POST' });
    assert.equal(post.status, 405);
  });
});

describe('GET /v1/me', () => {
  test('the root key: no id, admin, may do everything; the deployment\'s scopes and environments', async () => {
    const r = await root('/v1/me');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    const me = r.body;
    assert.equal(me.id, null);
    assert.equal(me.owner, null);
    assert.equal(me.root, true);
    assert.equal(me.bounded, false);
    assert.deepEqual(me.scopes, ['admin']);
    assert.deepEqual(me.can, { create: true, rotate: true, revoke: true, read_keys: true, read_audit: true, set_limits: true, manage_webhooks: true });
    assert.deepEqual(me.deployment.environments, ['live', 'test', 'dev', 'staging']);
    const names = me.deployment.scopes.map((s) => s.name);
    for (const s of ['admin', 'keys:read', 'keys:write', 'audit:read', 'scans:read', 'repos:write']) assert.ok(names.includes(s), s);
    assert.equal(me.deployment.scopes.find((s) => s.name === 'scans:read').description, 'Read scan results');
    // Root grants every declared scope and role.
    assert.deepEqual(me.grantable_scopes, names);
    assert.deepEqual(me.deployment.roles, [{ name: 'reader', scopes: ['repos:read', 'scans:read'] }, { name: 'writer', scopes: ['repos:write', 'scans:read'] }]);
    assert.deepEqual(me.grantable_roles, ['reader', 'writer']);
  });

  test('a key may grant the declared scopes it holds, and the roles whose every scope it holds', async () => {
    const minter = await create({ name: 'minter', owner: 'grant-team', scopes: ['keys:write', 'scans:*', 'repos:read'] });
    const me = (await call('/v1/me', { key: minter.key })).body;
    assert.deepEqual(me.grantable_scopes.sort(), ['keys:write', 'repos:read', 'scans:read', 'scans:trigger']);
    assert.deepEqual(me.grantable_roles, ['reader']);
    // What /v1/me says is what POST /v1/keys does: the role it lists is granted, the one
    // it leaves out refused, and nothing is minted by the refusal.
    const ok = await call('/v1/keys', { method: 'POST', key: minter.key, body: { name: 'r', roles: ['reader'], scopes: [] } });
    assert.equal(ok.status, 201, ok.text);
    assert.deepEqual(ok.body.scopes, ['repos:read', 'scans:read']);
    const before = (await root('/v1/keys?owner=grant-team&limit=100')).body.keys.length;
    for (const body of [{ name: 'w', roles: ['writer'], scopes: [] }, { name: 'w', scopes: ['repos:write'] }]) {
      const no = await call('/v1/keys', { method: 'POST', key: minter.key, body });
      assert.equal(no.status, 403, no.text);
      assert.equal(no.body.error.code, 'scope_not_held');
    }
    assert.equal((await root('/v1/keys?owner=grant-team&limit=100')).body.keys.length, before);
  });

  test('a key: its identity and what its scopes and limits allow, computed by the Worker', async () => {
    const reader = await create({ name: 'reader', owner: 'me-team', scopes: ['keys:read'] });
    let r = await call('/v1/me', { key: reader.key });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.id, reader.id);
    assert.equal(r.body.owner, 'me-team');
    assert.equal(r.body.env, 'live');
    assert.equal(r.body.hint, reader.hint);
    assert.equal(r.body.root, false);
    assert.equal(r.body.bounded, true);
    assert.deepEqual(r.body.can, { create: false, rotate: false, revoke: false, read_keys: true, read_audit: false, set_limits: false, manage_webhooks: false });
    assert.ok(!JSON.stringify(r.body).includes(reader.key), 'the key is never echoed');

    const writer = await create({ name: 'writer', owner: 'me-team', scopes: ['keys:*', 'audit:read'] });
    r = await call('/v1/me', { key: writer.key });
    assert.deepEqual(r.body.can, { create: true, rotate: true, revoke: true, read_keys: true, read_audit: true, set_limits: false, manage_webhooks: true });

    // Bound by its own rate limit: it may rotate and revoke, and creates nothing (the
    // same rule POST /v1/keys applies: shown below).
    const limited = await create({ name: 'limited', owner: 'me-team', scopes: ['keys:write'], rate_limits: [{ name: 'm', limit: 100, period: '1m' }] });
    r = await call('/v1/me', { key: limited.key });
    assert.deepEqual(r.body.can, { create: false, rotate: true, revoke: true, read_keys: false, read_audit: false, set_limits: false, manage_webhooks: true });
    const refused = await call('/v1/keys', { method: 'POST', key: limited.key, body: { name: 'x', scopes: [] } });
    assert.equal(refused.status, 403, refused.text);

    const admin = await create({ name: 'admin', owner: 'ops', scopes: ['admin'] });
    r = await call('/v1/me', { key: admin.key });
    assert.equal(r.body.bounded, false);
    assert.equal(r.body.can.set_limits, true);

    // Any valid key may ask, even one that holds no management scope.
    const verifier = await create({ name: 'verifier', owner: 'me-team', scopes: ['keys:verify'] });
    r = await call('/v1/me', { key: verifier.key });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(Object.values(r.body.can), [false, false, false, false, false, false, false]);
  });

  test('no key, junk, a revoked key or a query: refused with the stable codes', async () => {
    assert.equal((await call('/v1/me')).body.error.code, 'missing_key');
    const junk = await call('/v1/me', { key: 'sk_live_nonsense' });
    assert.equal(junk.body.error.code, 'malformed');
    const k = await create({ name: 'gone', owner: 'me-team', scopes: ['keys:read'] });
    await root(`/v1/keys/${k.id}/revoke`, { method: 'POST' });
    const revoked = await call('/v1/me', { key: k.key });
    assert.equal(revoked.status, 401);
    assert.equal(revoked.body.error.code, 'revoked');
    const q = await root('/v1/me?x=1');
    assert.equal(q.status, 400);
    assert.equal(q.body.error.code, 'invalid_request');
    const post = await root('/v1/me', { method: 'POST' });
    assert.equal(post.body.error.code, 'method_not_allowed');
  });

  test('attack: a keys:read key posting a create is refused and nothing is minted', async () => {
    const reader = await create({ name: 'reader2', owner: 'mint-attack', scopes: ['keys:read'] });
    const before = (await root('/v1/keys?owner=mint-attack&limit=100')).body.keys.map((k) => k.id);
    for (const body of [{ name: 'evil', scopes: ['keys:read'] }, { name: 'evil', scopes: [], owner: 'mint-attack', env: 'live' }]) {
      const r = await call('/v1/keys', { method: 'POST', key: reader.key, body });
      assert.equal(r.status, 403, r.text);
      assert.equal(r.body.error.code, 'insufficient_scope');
      assert.equal(r.body.key, undefined);
    }
    const afterList = (await root('/v1/keys?owner=mint-attack&limit=100')).body.keys.map((k) => k.id);
    assert.deepEqual(afterList, before);
  });
});

describe('GET /v1/keys?status= and a key\'s standing', () => {
  /** Every page of `query` as `key`: asserts each page is 200, at most `limit` long and,
   * unless it is the last, not empty. */
  /** @param {string} query @param {{key?: string, limit?: number}} [options] */
  async function pages(query, { key = worker.rootKey, limit } = {}) {
    const all = [];
    let cursor;
    for (let n = 0; n < 50; n++) {
      const r = await call(`/v1/keys?${query}&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { key });
      assert.equal(r.status, 200, r.text);
      assert.ok(r.body.keys.length <= limit, `page of ${r.body.keys.length} > ${limit}`);
      cursor = r.body.cursor;
      if (cursor) assert.equal(r.body.keys.length, limit, 'a page with a next page is full');
      all.push(...r.body.keys);
      if (!cursor) return all;
    }
    throw new Error('more than 50 pages');
  }
  const ids = (keys) => keys.map((k) => k.id).sort();

  test('each key carries the core\'s standing; filters answer from the server, pages filled', async () => {
    const owner = 'status-team';
    const plain = [];
    for (let i = 0; i < 12; i++) plain.push(await create({ name: `plain-${i}`, owner, scopes: ['scans:read'] }));
    const broad = [await create({ name: 'wild', owner, scopes: ['scans:*'] }), await create({ name: 'admin', owner, scopes: ['admin'] })];
    const revoked = plain.slice(0, 3);
    for (const k of revoked) assert.equal((await root(`/v1/keys/${k.id}/revoke`, { method: 'POST' })).status, 200);
    const rotated = (await root(`/v1/keys/${plain[3].id}/rotate`, { method: 'POST', body: { grace_seconds: 3600 } })).body;
    const short = await create({ name: 'short', owner, scopes: ['scans:read'], expires_in: 1 });
    await eventually(async () => (await root(`/v1/keys/${short.id}`)).body.status === 'expired', { what: 'the key to expire' });

    const show = async (id) => (await root(`/v1/keys/${id}`)).body;
    assert.deepEqual(
      (({ rotatable, revocable, stale, over_privileged }) => ({ rotatable, revocable, stale, over_privileged }))(await show(plain[5].id)),
      { rotatable: true, revocable: true, stale: false, over_privileged: false },
    );
    const wasRotated = await show(plain[3].id);
    assert.equal(wasRotated.status, 'rotating');
    assert.equal(wasRotated.rotatable, false);
    assert.equal(wasRotated.revocable, true);
    assert.equal((await show(revoked[0].id)).revocable, false);
    assert.equal((await show(revoked[0].id)).rotatable, false);
    assert.equal((await show(short.id)).revocable, false);
    assert.equal((await show(broad[0].id)).over_privileged, true);
    assert.equal((await show(broad[1].id)).over_privileged, true);
    // The list carries the same view.
    const listed = await pages(`owner=${owner}`, { limit: 100 });
    assert.equal(listed.length, 12 + 2 + 2);
    assert.equal(listed.find((k) => k.id === broad[1].id).over_privileged, true);

    // Small pages of a filter that few keys pass: no page empty but the last, none
    // missed or doubled (with a page per KV read, most of these would be empty).
    const q = `owner=${owner}`;
    assert.deepEqual(ids(await pages(`${q}&status=over_privileged`, { limit: 1 })), ids(broad));
    assert.deepEqual(ids(await pages(`${q}&status=revoked`, { limit: 2 })), ids(revoked));
    assert.deepEqual(ids(await pages(`${q}&status=expired`, { limit: 1 })), [short.id]);
    const active = [...plain.slice(3), rotated, ...broad];
    assert.deepEqual(ids(await pages(`${q}&status=active`, { limit: 4 })), ids(active));
    assert.deepEqual(await pages(`${q}&status=stale`, { limit: 3 }), [], 'keys made now are not stale');
    // The filters and the view agree, key by key.
    for (const k of listed) {
      assert.equal(k.over_privileged, broad.some((b) => b.id === k.id), k.name);
      assert.equal(k.stale, false, k.name);
    }
  });

  test('a filter that matches nothing in 200 records gives a short page with a cursor, never a false end', async () => {
    // 205 keys of one owner; the one revoked is the last KV lists (KV lists by id), so a
    // page of `status=revoked` reads 200 records that do not match before it can reach it.
    const owner = 'scan-bound';
    const made = [];
    for (let i = 0; i < 205; i += 8) {
      made.push(...await Promise.all(Array.from({ length: Math.min(8, 205 - i) }, (_, j) =>
        create({ name: `bulk-${i + j}`, owner, scopes: ['scans:read'] }))));
    }
    const last = made.map((k) => k.id).sort().at(-1);
    assert.equal((await root(`/v1/keys/${last}/revoke`, { method: 'POST' })).status, 200);

    const q = `/v1/keys?owner=${owner}&status=revoked&limit=1`;
    const first = await root(q);
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(first.body.keys, [], 'the first page stops after 200 records that did not match');
    assert.ok(first.body.cursor, 'and says there is more');
    const second = await root(`${q}&cursor=${encodeURIComponent(first.body.cursor)}`);
    assert.equal(second.status, 200, second.text);
    assert.deepEqual(second.body.keys.map((k) => k.id), [last], 'the next page reaches the revoked key');
    // The list then ends: a cursor past it gives an empty last page, or none was given.
    if (second.body.cursor) {
      const third = await root(`${q}&cursor=${encodeURIComponent(second.body.cursor)}`);
      assert.equal(third.status, 200, third.text);
      assert.deepEqual(third.body.keys, []);
      assert.equal(third.body.cursor, null);
    }
    // Unfiltered, the same pages are full: every key is listed once.
    const all = [];
    let cursor;
    do {
      const r = await root(`/v1/keys?owner=${owner}&limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.equal(r.status, 200, r.text);
      all.push(...r.body.keys.map((k) => k.id));
      cursor = r.body.cursor;
    } while (cursor);
    assert.deepEqual(all.sort(), made.map((k) => k.id).sort());
  });

  test('a bad status is 400 invalid_request, never a 500 or an unfiltered page', async () => {
    for (const bad of ['', 'any', 'Active', 'rotating', 'over-privileged', 'active,revoked', '%00']) {
      const r = await root(`/v1/keys?status=${bad}`);
      assert.equal(r.status, 400, `${bad}: ${r.text}`);
      assert.equal(r.body.error.code, 'invalid_request');
      assert.equal(r.body.keys, undefined);
    }
  });

  test('attack: a bounded key\'s filters never show another owner\'s or environment\'s keys', async () => {
    const mine = [await create({ name: 'mine-wild', owner: 'contain-a', scopes: ['scans:*'] }), await create({ name: 'mine', owner: 'contain-a', scopes: ['scans:read'] })];
    const theirs = [
      await create({ name: 'their-wild', owner: 'contain-b', scopes: ['scans:*'] }),
      await create({ name: 'test-wild', owner: 'contain-a', env: 'test', scopes: ['scans:*'] }),
      await create({ name: 'their-revoked', owner: 'contain-b', scopes: ['scans:read'] }),
    ];
    await root(`/v1/keys/${theirs[2].id}/revoke`, { method: 'POST' });
    const gone = await create({ name: 'mine-revoked', owner: 'contain-a', scopes: ['scans:read'] });
    await root(`/v1/keys/${gone.id}/revoke`, { method: 'POST' });
    const reader = await create({ name: 'contain-reader', owner: 'contain-a', scopes: ['keys:read'] });
    const snapshot = async () => (await Promise.all(theirs.map((k) => root(`/v1/keys/${k.id}`)))).map((r) => ({ ...r.body, last_used_at: null }));
    const before = await snapshot();

    for (const status of ['active', 'revoked', 'expired', 'stale', 'over_privileged']) {
      const seen = await pages(`status=${status}`, { key: reader.key, limit: 1 });
      for (const k of seen) {
        assert.equal(k.owner, 'contain-a', `${status}: ${k.name}`);
        assert.equal(k.env, 'live', `${status}: ${k.name}`);
      }
      if (status === 'over_privileged') assert.deepEqual(ids(seen), [mine[0].id]);
      if (status === 'revoked') assert.deepEqual(ids(seen), [gone.id]);
      // Naming another owner or environment is refused outright, with or without a filter.
      for (const other of ['owner=contain-b', 'env=test', 'owner=contain-b&env=test']) {
        const r = await call(`/v1/keys?${other}&status=${status}`, { key: reader.key });
        assert.equal(r.status, 403, `${other}&status=${status}: ${r.text}`);
        assert.equal(r.body.error.code, 'forbidden');
        assert.equal(r.body.keys, undefined);
      }
    }
    // Read back: the other keys are as they were, and none leaked into any answer above.
    assert.deepEqual(await snapshot(), before);
  });
});

describe('GET /v1/usage', () => {
  let a; // owner usage-a
  let b; // owner usage-b
  let readerB; // audit:read, bounded to usage-b

  before(async () => {
    a = await create({ name: 'a', owner: 'usage-a', scopes: ['scans:read'] });
    b = await create({ name: 'b', owner: 'usage-b', scopes: ['scans:read'] });
    readerB = await create({ name: 'reader-b', owner: 'usage-b', scopes: ['audit:read'] });
    for (let i = 0; i < 3; i++) assert.equal((await verify(a.key, { scopes: ['scans:read'] })).body.code, 'valid');
    assert.equal((await verify(a.key, { scopes: ['repos:write'] })).body.code, 'insufficient_scope');
    assert.equal((await verify(b.key)).body.code, 'valid');
    assert.equal((await root(`/v1/keys/${a.id}/revoke`, { method: 'POST', body: { reason: 'test' } })).status, 200);
    assert.equal((await verify(a.key)).body.code, 'revoked');
    await eventually(async () => byOutcome(await usage(`key_id=${a.id}`)).revoked === 1, { what: 'the uses of a in D1' });
    await eventually(async () => byOutcome(await usage(`key_id=${b.id}`)).valid === 1, { what: 'the use of b in D1' });
  });

  test('uses per hour by outcome; lifecycle actions are not uses', async () => {
    const u = await usage(`key_id=${a.id}`);
    assert.equal(u.bucket, 'hour');
    assert.equal(u.key_id, a.id);
    assert.equal(u.owner, null);
    // Default: the last 7 days, from the start of an hour.
    const since = Date.parse(u.since);
    const until = Date.parse(u.until);
    assert.equal(since % 3_600_000, 0);
    assert.ok(until - since >= 7 * 86_400_000 && until - since < 7 * 86_400_000 + 3_600_000, `${u.since} .. ${u.until}`);
    // Exactly the uses: key.create and key.revoke (also 'valid' in the trail) not counted.
    assert.deepEqual(byOutcome(u), { valid: 3, insufficient_scope: 1, revoked: 1 });
    const events = (await root(`/v1/audit?key_id=${a.id}&limit=1000`)).body.events;
    assert.ok(events.some((e) => e.action === 'key.revoke'), 'the trail holds the revocation');
    for (const row of u.rows) {
      assert.equal(Date.parse(row.start) % 3_600_000, 0, row.start);
      assert.ok(Date.parse(row.start) >= since && Date.parse(row.start) <= until);
    }
    const day = await usage(`key_id=${a.id}&bucket=day`);
    assert.equal(day.bucket, 'day');
    assert.equal(Date.parse(day.since) % 86_400_000, 0);
    assert.deepEqual(byOutcome(day), { valid: 3, insufficient_scope: 1, revoked: 1 });
    // An owner's uses: a's only (b belongs to another owner).
    assert.deepEqual(byOutcome(await usage('owner=usage-a')), { valid: 3, insufficient_scope: 1, revoked: 1 });
  });

  test('attack: a bounded audit reader gets nothing of another owner\'s', async () => {
    // Asking for the other owner by name is refused.
    const asked = await call('/v1/usage?owner=usage-a', { key: readerB.key });
    assert.equal(asked.status, 403, asked.text);
    assert.equal(asked.body.error.code, 'forbidden');
    // Asking for the other owner's key by id answers nothing of it.
    const theirs = await usage(`key_id=${a.id}`, readerB.key);
    assert.equal(theirs.owner, 'usage-b');
    assert.deepEqual(theirs.rows, []);
    // Without a filter: its own owner's uses, exactly.
    const own = await usage('', readerB.key);
    assert.equal(own.owner, 'usage-b');
    const rootView = byOutcome(await usage('owner=usage-b'));
    assert.deepEqual(byOutcome(own), rootView);
    assert.ok(rootView.valid >= 1);
    // And the same in the audit trail it may page through.
    const events = (await call(`/v1/audit?key_id=${a.id}`, { key: readerB.key })).body.events;
    assert.deepEqual(events, []);
    // A key without audit:read reads no usage at all.
    const noAudit = await call('/v1/usage', { key: b.key });
    assert.equal(noAudit.status, 403);
    assert.equal(noAudit.body.error.code, 'insufficient_scope');
  });

  test('bad queries are 400 invalid_request, never a 500', async () => {
    const now = Date.now();
    for (const q of [
      'x=1',
      'bucket=minute',
      'bucket=hour&bucket=day',
      'key_id=not-a-key',
      `since=${encodeURIComponent('yesterday')}`,
      'owner=%07bell',
      `owner=${'o'.repeat(129)}`,
    ]) {
      const r = await root(`/v1/usage?${q}`);
      assert.equal(r.status, 400, `${q}: ${r.text}`);
      assert.equal(r.body.error.code, 'invalid_request', q);
      assert.equal(r.headers.get('cache-control'), 'no-store');
    }
    // At most 1000 buckets are counted: an earlier `since` starts at the oldest of them, a
    // later one at the current bucket, and the answer says where it started.
    const hour = 3_600_000;
    const newest = Math.floor(now / hour) * hour;
    const span = async (q) => {
      const r = await root(`/v1/usage?${q}`);
      assert.equal(r.status, 200, `${q}: ${r.text}`);
      return Date.parse(r.body.since);
    };
    assert.equal(await span(`since=${new Date(now - 990 * hour).toISOString()}`), Math.floor((now - 990 * hour) / hour) * hour);
    const oldest = await span(`since=${new Date(now - 5000 * hour).toISOString()}`);
    assert.ok(oldest === newest - 999 * hour || oldest === newest - 998 * hour, 'the oldest of 1000 hourly buckets (the hour may turn meanwhile)');
    assert.ok((await span('since=2000-01-01T00:00:00Z&bucket=day')) >= now - 1000 * 86_400_000);
    assert.ok((await span(`since=${new Date(now + 86_400_000).toISOString()}`)) >= newest, 'a future since: the current bucket');
  });
});

describe('GET /v1/audit?before=', () => {
  test('pages newest first through the whole trail, none missed or doubled', async () => {
    const k = await create({ name: 'paged', owner: 'paging', scopes: ['scans:read'] });
    // Concurrent uses: several share a millisecond, which the cursor must tell apart.
    await Promise.all(Array.from({ length: 11 }, () => verify(k.key)));
    const all = await eventually(async () => {
      const r = await root(`/v1/audit?key_id=${k.id}&limit=1000`);
      return r.body.events.length === 12 && r.body;
    }, { what: '12 events of the paged key' });
    assert.equal(all.cursor, null, 'a page that is not full has no cursor');
    const seen = [];
    let before = '';
    for (let page = 0; page < 10; page++) {
      const r = await root(`/v1/audit?key_id=${k.id}&limit=5${before ? `&before=${encodeURIComponent(before)}` : ''}`);
      assert.equal(r.status, 200, r.text);
      seen.push(...r.body.events);
      if (!r.body.cursor) break;
      before = r.body.cursor;
    }
    assert.deepEqual(seen.map((e) => e.event_id), all.events.map((e) => e.event_id));
    // A cursor this API did not give (forged, edited, or another page kind's) names no page.
    const edited = `${before.slice(0, -7)}${before.at(-7) === 'A' ? 'B' : 'A'}${before.slice(-6)}`;
    const forged = `${Buffer.from('2026-01-01T00:00:00.000Z~0123456789abcdef').toString('base64url')}AAAAAA`;
    for (const bad of ['junk', '2026-01-01T00:00:00Z~abc', edited, forged]) {
      const r = await root(`/v1/audit?before=${encodeURIComponent(bad)}`);
      assert.equal(r.status, 404, `${bad}: ${r.text}`);
      assert.equal(r.body.error.code, 'not_found');
    }
  });
});
