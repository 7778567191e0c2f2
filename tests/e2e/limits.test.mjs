// Rate limits and credits that are exact under concurrency, counted in each key's Durable
// Object: the real Worker under wrangler dev, its origin a real HTTP server on loopback.
// A use over a rate limit is `rate_limited` (retry later); a use the credits do not cover
// is `usage_exceeded` (until a refill or a top-up); both are 429 through the gateway.
// Every test fires its requests at once and then counts what got through, where it got
// through (the origin's own log), and what the audit trail recorded.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { call as rawCall, eventually, inOneMinute, makeKey, startWorker, alertWebhook, verifiedAlert } from './harness.mjs';

let worker;
let origin;
const hits = [];
const webhook = [];
let ipSeq = 0;
/** A client address of its own for each test (wrangler dev passes CF-Connecting-IP on). */
const freshIp = () => `198.51.100.${++ipSeq}`;

const call = (path, opts) => rawCall(worker.url, path, opts);
const root = (path, opts = {}) => call(path, { key: worker.rootKey, ...opts });

async function create(body, w = worker) {
  const r = await rawCall(w.url, '/v1/keys', {
    method: 'POST',
    key: w.rootKey,
    body: { owner: 'limits', scopes: ['repos:read'], env: 'live', ...body },
  });
  assert.equal(r.status, 201, r.text);
  return r.body;
}

const verify = (key, extra = {}, w = worker) =>
  rawCall(w.url, '/v1/verify', { method: 'POST', key: w.rootKey, body: { key, env: 'live', ...extra } });

/** `n` requests at once; the answers in order. */
const all = (n, fn) => Promise.all(Array.from({ length: n }, (_, i) => fn(i)));

const count = (answers, pred) => answers.filter(pred).length;

/** The audit events of `keyId`, once `n` of them (refused ones if `refused`) are there. */
async function auditOf(keyId, n, refused = false) {
  let events = [];
  await eventually(async () => {
    const r = await root(`/v1/audit?key_id=${keyId}&limit=1000${refused ? '&refused=true' : ''}`);
    events = r.body.events;
    return events.length >= n;
  }, { what: `${n} audit events of ${keyId}` });
  return events;
}

function listen(handler) {
  return new Promise((res) => {
    const srv = http.createServer(handler);
    srv.listen(0, '127.0.0.1', () => res(srv));
  });
}

before(async () => {
  origin = await listen((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      if (req.url === '/alerts') {
        // Part of this file runs the Worker with a shifted clock: its timestamps are not now.
        webhook.push(verifiedAlert(req.headers, body, { anyTime: true }));
        res.writeHead(204).end();
        return;
      }
      hits.push({ url: req.url, key: req.headers['x-keyward-key-id'] });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  const o = `http://127.0.0.1:${origin.address().port}`;
  worker = await startWorker({
    vars: {
      ORIGIN_URL: o,
      ...alertWebhook(`${o}/alerts`),
      ROUTES: JSON.stringify([{ method: '*', path: '/*', scope: 'repos:read' }]),
      KEYWARD_RATE_LIMITS: JSON.stringify({ test: [{ name: 'env', limit: 5, period: '1m' }] }),
    },
  });
});

after(async () => {
  await worker?.stop();
  origin?.close();
});

describe('rate limits are exact under concurrency', () => {
  test('200 verifications at once of a key limited to 50 a minute: exactly 50 valid', async () => {
    const k = await create({ name: 'fifty', rate_limits: [{ name: 'minute', limit: 50, period: '1m' }] });
    const answers = await all(200, () => verify(k.key));
    assert.ok(answers.every((a) => a.status === 200), 'every answer is a verdict, none a fault');
    assert.equal(count(answers, (a) => a.body.valid), 50);
    const refused = answers.filter((a) => !a.body.valid);
    assert.equal(refused.length, 150);
    for (const a of refused) {
      assert.equal(a.body.code, 'rate_limited');
      assert.equal(a.body.ratelimits[0].remaining, 0);
      assert.ok(a.body.retry_after >= 1 && a.body.retry_after <= 60, a.text);
    }
    const remaining = answers.filter((a) => a.body.valid).map((a) => a.body.ratelimits[0].remaining).sort((x, y) => x - y);
    assert.deepEqual(remaining, Array.from({ length: 50 }, (_, i) => i), 'each admitted use saw its own count');
    // The refusals are in the audit trail, and listed as refusals.
    const events = await auditOf(k.id, 150, true);
    assert.equal(count(events, (e) => e.outcome === 'rate_limited'), 150);
    // The burst rule counts refused uses too: 50 valid uses alone are under its floor of 60.
    await eventually(async () => (await root(`/v1/alerts?key_id=${k.id}`)).body.alerts.some((a) => a.kind === 'burst'),
      { what: 'a burst alert for a key hammered past its limit' });
  });

  test('through the gateway: 60 requests at once, a key limited to 20 a minute; the origin sees exactly 20', async () => {
    const k = await create({
      name: 'gateway',
      rate_limits: [{ name: 'burst', limit: 20, period: '1m' }, { name: 'hourly', limit: 1000, period: '1h' }],
    });
    const before = hits.length;
    const answers = await all(60, (i) => call(`/repos/${i}`, { key: k.key }));
    assert.equal(count(answers, (a) => a.status === 200), 20);
    const refused = answers.filter((a) => a.status !== 200);
    assert.equal(refused.length, 40);
    assert.equal(hits.length - before, 20, 'the origin received the admitted requests and nothing else');
    for (const a of refused) {
      assert.equal(a.status, 429);
      assert.equal(a.body.error.code, 'rate_limited');
      assert.match(a.headers.get('ratelimit-policy'), /^"burst";q=20;w=60, "hourly";q=1000;w=3600$/);
      assert.match(a.headers.get('ratelimit'), /^"burst";r=0;t=\d+$/);
      assert.ok(Number(a.headers.get('retry-after')) >= 1);
    }
    const ok = answers.find((a) => a.status === 200);
    assert.match(ok.headers.get('ratelimit'), /^"burst";r=\d+;t=\d+$/, 'admitted answers carry the headers too');
  });

  test('an owner limit is shared by all of the owner\'s keys: 3 keys, 90 uses at once, exactly 30', async () => {
    const put = await root('/v1/owners/shared-co/limits', {
      method: 'PUT',
      body: { rate_limits: [{ name: 'team', limit: 30, period: '1m' }] },
    });
    assert.equal(put.status, 200, put.text);
    assert.deepEqual((await root('/v1/owners/shared-co/limits')).body.rate_limits, [{ name: 'team', limit: 30, period: '1m' }]);
    const keys = await all(3, (i) => create({ name: `member-${i}`, owner: 'shared-co' }));
    const other = await create({ name: 'outsider', owner: 'another-co' });
    const answers = await all(90, (i) => verify(keys[i % 3].key));
    assert.equal(count(answers, (a) => a.body.valid), 30);
    assert.equal(count(answers, (a) => a.body.code === 'rate_limited'), 60);
    assert.equal((await verify(other.key)).body.valid, true, 'another owner is not counted with them');
  });

  test('cost: a use of cost 4 counts 4 against a limit of 10', async () => {
    const k = await create({ name: 'cost', rate_limits: [{ name: 'units', limit: 10, period: '1m' }] });
    const a = await all(5, () => verify(k.key, { cost: 4 }));
    assert.equal(count(a, (x) => x.body.valid), 2);
    assert.equal((await verify(k.key, { cost: 2 })).body.valid, true, 'the 2 units left are still there');
    assert.equal((await verify(k.key, { cost: 1 })).body.code, 'rate_limited');
    for (const cost of [0, 1001, -1, 1.5, '3']) {
      const bad = await verify(k.key, { cost });
      assert.equal(bad.status, 400, `cost ${cost}`);
      assert.equal(bad.body.error.code, 'invalid_request');
    }
  });

  test('environment defaults apply to keys without limits of their own', async () => {
    const plain = await create({ name: 'env-default', env: 'test' });
    const own = await create({ name: 'own-limits', env: 'test', rate_limits: [{ name: 'own', limit: 8, period: '1m' }] });
    const verifyTest = (key) => rawCall(worker.url, '/v1/verify', { method: 'POST', key: worker.rootKey, body: { key, env: 'test' } });
    const a = await all(12, () => verifyTest(plain.key));
    assert.equal(count(a, (x) => x.body.valid), 5);
    assert.equal(a.find((x) => !x.body.valid).body.ratelimits[0].name, 'env');
    const b = await all(12, () => verifyTest(own.key));
    assert.equal(count(b, (x) => x.body.valid), 8);
  });

  test('a key\'s limits can be changed at once, and the count so far still holds', async () => {
    const k = await create({ name: 'patched', rate_limits: [{ name: 'm', limit: 50, period: '1m' }] });
    await all(10, () => verify(k.key));
    const p = await root(`/v1/keys/${k.id}`, { method: 'PATCH', body: { rate_limits: [{ name: 'm', limit: 5, period: '1m' }] } });
    assert.equal(p.status, 200, p.text);
    assert.deepEqual(p.body.rate_limits, [{ name: 'm', limit: 5, period: '1m' }]);
    assert.equal((await verify(k.key)).body.code, 'rate_limited', '10 uses in the window already');
    const lifted = await root(`/v1/keys/${k.id}`, { method: 'PATCH', body: { rate_limits: [] } });
    assert.deepEqual(lifted.body.rate_limits, []);
    assert.equal((await verify(k.key)).body.valid, true);
    const bad = await root(`/v1/keys/${k.id}`, { method: 'PATCH', body: { rate_limits: [{ name: 'Bad Name', limit: 5, period: '1m' }] } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'invalid_request');
  });

  test('a rotated key and its successor share one count', async () => {
    const k = await create({ name: 'rotating', rate_limits: [{ name: 'm', limit: 10, period: '1m' }] });
    await all(6, () => verify(k.key));
    const r = await root(`/v1/keys/${k.id}/rotate`, { method: 'POST', body: { grace_seconds: 600 } });
    assert.equal(r.status, 201, r.text);
    const a = await all(10, (i) => verify(i % 2 ? k.key : r.body.key));
    assert.equal(count(a, (x) => x.body.valid), 4, 'rotation does not reset the window');
  });

  test('a rotated key spends its successor\'s balance: 10 uses at once of both, 6 credits, exactly 6 pass', async () => {
    const k = await create({ name: 'rotating-credits', credits: { remaining: 8 } });
    assert.equal((await verify(k.key)).body.credits.remaining, 7);
    const r = await root(`/v1/keys/${k.id}/rotate`, { method: 'POST', body: { grace_seconds: 600 } });
    assert.equal(r.status, 201, r.text);
    // The balance moved with the rotation: the old key holds none of its own now.
    assert.equal((await verify(k.key)).body.credits.remaining, 6, 'the old key spends the successor\'s balance');
    const a = await all(10, (i) => verify(i % 2 ? k.key : r.body.key));
    assert.equal(count(a, (x) => x.body.valid), 6, 'one balance for both keys, spent once');
    assert.equal(count(a, (x) => x.body.code === 'usage_exceeded'), 4);
    const old = await root(`/v1/keys/${k.id}`);
    const next = await root(`/v1/keys/${r.body.id}`);
    assert.equal(next.body.credits.remaining, 0);
    assert.equal(old.body.credits ?? null, null, 'no second balance appeared on the old key');
  });
});

describe('credits are spent exactly once', () => {
  test('a key with 20 credits, 100 uses at once: exactly 20 valid, and the balance is 0', async () => {
    const k = await create({ name: 'credits', credits: { remaining: 20 } });
    const answers = await all(100, () => verify(k.key));
    assert.equal(count(answers, (a) => a.body.valid), 20);
    assert.equal(count(answers, (a) => a.body.code === 'usage_exceeded'), 80);
    const left = answers.filter((a) => a.body.valid).map((a) => a.body.credits.remaining).sort((x, y) => x - y);
    assert.deepEqual(left, Array.from({ length: 20 }, (_, i) => i));
    assert.equal((await root(`/v1/keys/${k.id}`)).body.credits.remaining, 0);
  });

  test('cost is spent from credits; a use that costs more than is left spends nothing', async () => {
    const k = await create({ name: 'costly', credits: { remaining: 12 } });
    assert.equal((await verify(k.key, { cost: 5 })).body.credits.remaining, 7);
    assert.equal((await verify(k.key, { cost: 5 })).body.credits.remaining, 2);
    assert.equal((await verify(k.key, { cost: 5 })).body.code, 'usage_exceeded');
    assert.equal((await verify(k.key, { cost: 2 })).body.credits.remaining, 0);
  });

  test('a refused use spends no credit: a rate-limited use leaves the balance as it was', async () => {
    const k = await create({ name: 'both', credits: { remaining: 100 }, rate_limits: [{ name: 'm', limit: 3, period: '1m' }] });
    const a = await all(10, () => verify(k.key));
    assert.equal(count(a, (x) => x.body.valid), 3);
    assert.equal((await root(`/v1/keys/${k.id}`)).body.credits.remaining, 97);
  });

  test('credits can be set and added to by an admin; through the gateway none left is 429', async () => {
    const k = await create({ name: 'topped', credits: { remaining: 1 } });
    assert.equal((await call('/repos/x', { key: k.key })).status, 200);
    const empty = await call('/repos/x', { key: k.key });
    assert.equal(empty.status, 429);
    assert.equal(empty.body.error.code, 'usage_exceeded');
    const add = await root(`/v1/keys/${k.id}/credits`, { method: 'POST', body: { add: 2 } });
    assert.equal(add.status, 200, add.text);
    assert.equal(add.body.credits.remaining, 2);
    const set = await root(`/v1/keys/${k.id}/credits`, { method: 'POST', body: { set: 5 } });
    assert.equal(set.body.credits.remaining, 5);
    assert.equal((await call('/repos/x', { key: k.key })).status, 200);
    for (const body of [{}, { set: 1, add: 1 }, { set: -1 }, { add: 1e13 }, { set: 1, extra: 1 }]) {
      const bad = await root(`/v1/keys/${k.id}/credits`, { method: 'POST', body });
      assert.equal(bad.status, 400, JSON.stringify(body));
      assert.equal(bad.body.error.code, 'invalid_request');
    }
    assert.equal((await root(`/v1/keys/${k.id}`)).body.credits.remaining, 4, 'bad requests changed nothing');
  });
});

describe('a key cannot lift its own limits', () => {
  test('a keys:write key can neither lift its own limits or its owner\'s, nor add credits, nor mint an unlimited key', async () => {
    const self = await create({
      name: 'self-serve',
      owner: 'tenant',
      scopes: ['keys:write', 'keys:read', 'repos:read'],
      rate_limits: [{ name: 'm', limit: 1000, period: '1m' }],
      credits: { remaining: 3 },
    });
    const plain = await create({ name: 'plain-writer', owner: 'tenant', scopes: ['keys:write', 'keys:read', 'repos:read'] });
    const put = await root('/v1/owners/tenant/limits', { method: 'PUT', body: { rate_limits: [{ name: 'team', limit: 100, period: '1m' }] } });
    assert.equal(put.status, 200);
    const attempts = [
      ['PATCH', `/v1/keys/${self.id}`, { rate_limits: [] }, self.key],
      ['POST', `/v1/keys/${self.id}/credits`, { set: 1000000 }, self.key],
      ['POST', `/v1/keys/${self.id}/credits`, { add: 1000000 }, plain.key],
      ['PUT', '/v1/owners/tenant/limits', { rate_limits: [] }, self.key],
      ['PUT', '/v1/owners/tenant/limits', { rate_limits: [] }, plain.key],
      ['POST', '/v1/keys', { name: 'escape', scopes: ['repos:read'] }, self.key],
      ['POST', '/v1/keys', { name: 'minted-credits', scopes: ['repos:read'], credits: { remaining: 1000 } }, plain.key],
    ];
    for (const [method, path, body, key] of attempts) {
      const r = await call(path, { method, body, key, headers: { 'CF-Connecting-IP': freshIp() } });
      assert.equal(r.status, 403, `${method} ${path}: ${r.text}`);
      assert.equal(r.body.error.code, 'forbidden');
      assert.equal(r.body.key, undefined);
    }
    // Read back: nothing changed, nothing minted.
    const shown = (await root(`/v1/keys/${self.id}`)).body;
    assert.deepEqual(shown.rate_limits, [{ name: 'm', limit: 1000, period: '1m' }]);
    assert.equal(shown.credits.remaining, 3);
    assert.deepEqual((await root('/v1/owners/tenant/limits')).body.rate_limits, [{ name: 'team', limit: 100, period: '1m' }]);
    const names = (await root('/v1/keys?owner=tenant&limit=100')).body.keys.map((k) => k.name).sort();
    assert.deepEqual(names, ['plain-writer', 'self-serve']);
    // A key with no limits of its own may mint a key with limits (they only restrict).
    const child = await call('/v1/keys', { method: 'POST', key: plain.key, body: { name: 'child', scopes: ['repos:read'], rate_limits: [{ name: 'm', limit: 2, period: '1m' }] } });
    assert.equal(child.status, 201, child.text);
    const c = await all(4, () => verify(child.body.key));
    assert.equal(count(c, (x) => x.body.valid), 2);
  });
});

describe('management calls are not counted', () => {
  test('a limited admin key manages keys past its own limit; its uses of the data plane are counted', async () => {
    const admin = await create({ name: 'limited-admin', owner: 'ops', scopes: ['admin'], rate_limits: [{ name: 'm', limit: 2, period: '1m' }] });
    const reads = await all(6, () => call('/v1/keys?limit=1', { key: admin.key }));
    assert.ok(reads.every((r) => r.status === 200), 'management is authorized, not metered');
    const g = await all(4, () => call('/repos/admin', { key: admin.key }));
    assert.equal(count(g, (r) => r.status === 200), 2);
  });
});

describe('failed attempts are limited per client address', () => {
  test('a flood of unknown keys from one address is cut off; the audit trail stays bounded; others are unaffected', async () => {
    const ip = freshIp();
    const N = 160;
    const answers = [];
    await inOneMinute(40);
    for (let i = 0; i < N; i += 20) {
      answers.push(...await all(20, () => call('/v1/keys', { key: makeKey('sk', 'live'), headers: { 'CF-Connecting-IP': ip } })));
    }
    const unknown = count(answers, (a) => a.status === 401 && a.body.error.code === 'unknown_key');
    const limited = answers.filter((a) => a.status === 429);
    assert.ok(unknown >= 1 && unknown <= 100, `${unknown} looked up (the limiter allows 100 a minute)`);
    assert.equal(unknown + limited.length, N);
    for (const a of limited) {
      assert.equal(a.body.error.code, 'rate_limited');
      assert.ok(Number(a.headers.get('retry-after')) >= 1);
    }
    // The gateway refuses the same address before looking anything up.
    const g = await call('/repos/x', { key: makeKey('sk', 'live'), headers: { 'CF-Connecting-IP': ip } });
    assert.equal(g.status, 429);
    // A good key from another address works.
    const k = await create({ name: 'bystander' });
    assert.equal((await call('/repos/x', { key: k.key, headers: { 'CF-Connecting-IP': freshIp() } })).status, 200);
    // Audit rows: one per looked-up attempt, plus those already past the check when the
    // limit tripped (at most the 20 in flight at once); none for the rest.
    await new Promise((r) => setTimeout(r, 1500));
    const events = (await root('/v1/audit?refused=true&limit=1000')).body.events.filter((e) => e.ip === ip);
    assert.ok(events.length >= unknown && events.length <= unknown + 20, `${events.length} audit rows for ${N} attempts`);
  });
});

describe('refill and credits_low across a UTC day boundary', () => {
  test('the balance is set to the refill at UTC midnight; credits_low is raised once per day', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyward-refill-'));
    const o = `http://127.0.0.1:${origin.address().port}`;
    const noon = new Date();
    noon.setUTCHours(12, 0, 0, 0);
    const today = noon.getTime() - Date.now();
    const vars = (offset) => ({ ...alertWebhook(`${o}/alerts`), KEYWARD_TEST_CLOCK_OFFSET_MS: String(offset) });
    let w = await startWorker({ persistDir: dir, vars: vars(today) });
    try {
      const k = await create({ name: 'daily', credits: { remaining: 10, refill: { amount: 10, interval: 'day' }, alert_below: 3 } }, w);
      const a = await all(12, () => verify(k.key, {}, w));
      assert.equal(count(a, (x) => x.body.valid), 10);
      const alerts = async (ww) => (await rawCall(ww.url, `/v1/alerts?key_id=${k.id}`, { key: ww.rootKey })).body.alerts
        .filter((x) => x.kind === 'credits_low');
      await eventually(async () => (await alerts(w)).length === 1, { what: 'one credits_low alert' });
      // The alert endpoint is delivered through the webhook queue: received before the stop.
      const sent = () => webhook.filter((x) => x.key_id === k.id && x.kind === 'credits_low');
      await eventually(() => sent().length === 1, { what: 'the first alert at the alert endpoint' });
      await w.stop();
      // The next day, same state.
      w = await startWorker({ persistDir: dir, vars: vars(today + 86_400_000) });
      const next = await verify(k.key, {}, w);
      assert.equal(next.body.valid, true, next.text);
      assert.equal(next.body.credits.remaining, 9, 'refilled to 10, then this use');
      const shown = (await rawCall(w.url, `/v1/keys/${k.id}`, { key: w.rootKey })).body;
      assert.equal(shown.credits.remaining, 9);
      const b = await all(12, () => verify(k.key, {}, w));
      assert.equal(count(b, (x) => x.body.valid), 9, 'no more than the refill');
      await eventually(async () => (await alerts(w)).length === 2, { what: 'a second credits_low alert, for the new day' });
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal((await alerts(w)).length, 2, 'once per day, not once per use');
      await eventually(() => sent().length === 2, { what: 'the second alert at the alert endpoint' });
      assert.equal(sent().length, 2, 'the webhook received each alert once');
    } finally {
      await w.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
