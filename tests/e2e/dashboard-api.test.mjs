// The endpoints the dashboard reads, against the real Worker under wrangler dev:
// `GET /v1/me` (who the caller is and what it may do, by the core's rules), `GET
// /v1/usage` (uses per hour or day by outcome, from D1) and the audit trail's `before`
// cursor. Each authorization rule is attacked and the state read back.
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

before(async () => { worker = await startWorker(); }, { timeout: 180_000 });
after(async () => { await worker?.stop(); });

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
    assert.deepEqual(me.can, { create: true, rotate: true, revoke: true, read_keys: true, read_audit: true, set_limits: true });
    assert.deepEqual(me.deployment.environments, ['live', 'test', 'dev', 'staging']);
    const names = me.deployment.scopes.map((s) => s.name);
    for (const s of ['admin', 'keys:read', 'keys:write', 'audit:read', 'scans:read', 'repos:write']) assert.ok(names.includes(s), s);
    assert.equal(me.deployment.scopes.find((s) => s.name === 'scans:read').description, 'Read scan results');
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
    assert.deepEqual(r.body.can, { create: false, rotate: false, revoke: false, read_keys: true, read_audit: false, set_limits: false });
    assert.ok(!JSON.stringify(r.body).includes(reader.key), 'the key is never echoed');

    const writer = await create({ name: 'writer', owner: 'me-team', scopes: ['keys:*', 'audit:read'] });
    r = await call('/v1/me', { key: writer.key });
    assert.deepEqual(r.body.can, { create: true, rotate: true, revoke: true, read_keys: true, read_audit: true, set_limits: false });

    // Bound by its own rate limit: it may rotate and revoke, and creates nothing (the
    // same rule POST /v1/keys applies: shown below).
    const limited = await create({ name: 'limited', owner: 'me-team', scopes: ['keys:write'], rate_limits: [{ name: 'm', limit: 100, period: '1m' }] });
    r = await call('/v1/me', { key: limited.key });
    assert.deepEqual(r.body.can, { create: false, rotate: true, revoke: true, read_keys: false, read_audit: false, set_limits: false });
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
    assert.deepEqual(Object.values(r.body.can), [false, false, false, false, false, false]);
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
