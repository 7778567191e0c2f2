// Decided at the moment of the act: a request can be held open (JSON allows leading white
// space, so a body can be trickled a byte at a time, and workerd hands the Worker the
// request before its body), and a clock can be the caller's. Each test performs the attack
// against the real Worker under wrangler dev, then reads the state back.
//
// The slow attacks (bodies held 5 s and 90 s, a use held across a window) start together
// in `before` and run side by side: the file takes about 90 s, not 90 s per case.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { call as rawCall, createKey, eventually, readAnswer, startOrigin, startWorker, alertWebhook } from './harness.mjs';

let worker;
let origin;
const slow = {};

const call = (path, opts) => rawCall(worker.url, path, opts);
const root = (path, opts = {}) => call(path, { key: worker.rootKey, ...opts });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const create = (body) => createKey(worker.url, worker.rootKey, { scopes: [], env: 'live', ...body });

const verify = (key, extra = {}) => root('/v1/verify', { method: 'POST', body: { key, env: 'live', ...extra } });
const show = async (id) => (await root(`/v1/keys/${id}`)).body;
const keysOf = async (owner) => (await root(`/v1/keys?owner=${encodeURIComponent(owner)}&limit=100`)).body.keys;

/**
 * A request whose body is held open: its headers and the body's first byte (a space, which
 * JSON allows) are sent now, the rest on `finish()`, which settles with
 * {status, body, text}. (workerd hands the Worker the request at once; wrangler dev's
 * proxy passes the answer on only once the body has ended.)
 */
/** @param {string} path @param {{method?: string, key?: string, body?: any}} [options] */
function held(path, { method = 'POST', key, body = {} } = {}) {
  const payload = Buffer.from(` ${JSON.stringify(body)}`);
  const req = http.request(new URL(path, worker.url), {
    method,
    agent: false,
    headers: {
      authorization: `Bearer ${key}`,
      'content-type': 'application/json',
      'content-length': String(payload.length),
    },
  });
  const answer = new Promise((resolve, reject) => {
    req.on('response', (res) => readAnswer(res).then(resolve, reject));
    req.on('error', reject);
  });
  answer.catch(() => {});
  req.flushHeaders();
  req.write(payload.subarray(0, 1));
  return {
    finish() {
      req.end(payload.subarray(1));
      return answer;
    },
  };
}

/** The audit action of an API path: its route's template. */
function template(path) {
  return path
    .replace(/^\/v1\/keys\/key_[A-Za-z0-9]+/, '/v1/keys/{id}')
    .replace(/^\/v1\/owners\/[^/]+/, '/v1/owners/{owner}');
}

/**
 * Each management endpoint and the gateway, as an attack by a key revoked while its request
 * is held open: what the key needs, the request(s), and the state that must not change.
 */
const ATTACKS = {
  async create(owner) {
    const actor = await create({ name: 'actor', owner, scopes: ['keys:write', 'scans:read'] });
    return {
      actor,
      requests: [{ path: '/v1/keys', body: { name: 'minted', scopes: ['scans:read'] } }],
      async unchanged() {
        const keys = await keysOf(owner);
        assert.deepEqual(keys.map((k) => k.id), [actor.id], 'no key was minted');
      },
    };
  },
  async rotate(owner) {
    const actor = await create({ name: 'actor', owner, scopes: ['keys:write'] });
    return {
      actor,
      requests: [{ path: `/v1/keys/${actor.id}/rotate`, body: { grace_seconds: 3600 } }],
      async unchanged() {
        const old = await show(actor.id);
        assert.equal(old.status, 'revoked');
        assert.equal(old.rotated_to, null, 'a revoked key never gains a successor');
        assert.equal((await keysOf(owner)).length, 1, 'no successor was minted');
      },
    };
  },
  async revoke(owner) {
    const actor = await create({ name: 'actor', owner, scopes: ['keys:write', 'scans:read'] });
    const target = await create({ name: 'target', owner, scopes: ['scans:read'] });
    return {
      actor,
      requests: [{ path: `/v1/keys/${target.id}/revoke`, body: { reason: 'held' } }],
      async unchanged() {
        assert.equal((await show(target.id)).status, 'active');
        assert.equal((await verify(target.key)).body.code, 'valid');
      },
    };
  },
  async update(owner) {
    const actor = await create({ name: 'actor', owner, scopes: ['admin'] });
    const target = await create({ name: 'target', owner });
    return {
      actor,
      requests: [{
        method: 'PATCH', path: `/v1/keys/${target.id}`,
        body: { rate_limits: [{ name: 'held', limit: 1, period: '1m' }] },
      }],
      async unchanged() {
        assert.deepEqual((await show(target.id)).rate_limits ?? [], []);
      },
    };
  },
  async credits(owner) {
    const actor = await create({ name: 'actor', owner, scopes: ['admin'] });
    const target = await create({ name: 'target', owner, credits: { remaining: 5 } });
    return {
      actor,
      requests: [{ path: `/v1/keys/${target.id}/credits`, body: { set: 1000 } }],
      async unchanged() {
        assert.equal((await show(target.id)).credits.remaining, 5);
      },
    };
  },
  async ownerLimits(owner) {
    const actor = await create({ name: 'actor', owner, scopes: ['admin'] });
    const path = `/v1/owners/${encodeURIComponent(owner)}/limits`;
    return {
      actor,
      requests: [{ method: 'PUT', path, body: { rate_limits: [{ name: 'held', limit: 1, period: '1m' }] } }],
      async unchanged() {
        assert.deepEqual((await root(path)).body.rate_limits, []);
      },
    };
  },
  async leaks(owner) {
    const actor = await create({ name: 'actor', owner, scopes: ['keys:write'] });
    const target = await create({ name: 'target', owner });
    return {
      actor,
      requests: [{
        path: '/v1/leaks',
        body: [{ token: target.key, type: 'keyward_api_key', url: 'https://example.com/x', source: 'content' }],
      }],
      async unchanged() {
        assert.equal((await verify(target.key)).body.code, 'valid');
      },
    };
  },
  async verify(owner) {
    const actor = await create({ name: 'service', owner, scopes: ['keys:verify'] });
    const target = await create({ name: 'customer', owner: `${owner}-customer`, credits: { remaining: 5 } });
    return {
      actor,
      requests: [{ path: '/v1/verify', body: { key: target.key, cost: 3 } }],
      async unchanged() {
        assert.equal((await show(target.id)).credits.remaining, 5, 'nothing counted or charged');
      },
    };
  },
  async gateway(owner) {
    const actor = await create({ name: 'actor', owner, scopes: ['repos:write'] });
    return {
      actor,
      requests: Array.from({ length: 5 }, (_, i) => ({ path: `/repos/${owner}-${i}`, body: { i } })),
      async unchanged() {
        assert.deepEqual(origin.hits.filter((h) => h.headers['x-keyward-key-id'] === actor.id), [], 'no request reached the origin for the revoked key');
      },
    };
  },
};

/** The audit trail of `keyId`, once `done(events)` holds. */
async function auditOf(keyId, done, what) {
  let events = [];
  await eventually(async () => {
    events = (await root(`/v1/audit?key_id=${keyId}&limit=1000`)).body.events;
    return done(events);
  }, { what });
  return events;
}

/**
 * One attack: the key opens its request(s) and sends a byte of each body; the root key
 * revokes it (and fresh requests of the key are refused); `pace` ms later the bodies end.
 * The audit trail shows each request was let in when it began, before the revocation (its
 * event bears its start time), and refused when its change was to be made.
 */
async function heldPastRevocation(kind, pace) {
  const owner = `held-${kind}-${pace}`;
  const attack = await ATTACKS[kind](owner);
  const open = attack.requests.map((r) => held(r.path, { ...r, key: attack.actor.key }));
  await sleep(1000); // the Worker has the requests (and has authorised them) by now
  const revoked = await root(`/v1/keys/${attack.actor.id}/revoke`, { method: 'POST', body: { reason: 'held open' } });
  assert.equal(revoked.status, 200, revoked.text);
  const revokedAt = Date.parse(revoked.body.revoked_at);
  const fresh = await call('/v1/me', { key: attack.actor.key });
  assert.equal(fresh.status, 401, 'refused on a fresh request');
  assert.equal(fresh.body.error.code, 'revoked');
  await sleep(pace);
  const answers = await Promise.all(open.map((h) => h.finish()));
  for (const a of answers) {
    assert.equal(a.status, 401, `${kind}: ${a.text}`);
    assert.equal(a.body.error.code, 'revoked', kind);
  }
  await attack.unchanged();
  // Each request began before the revocation (so it passed the check at its start) and
  // was refused at its act.
  const actions = attack.requests.map((r) => `${r.method ?? 'POST'} ${r.path.startsWith('/v1/') ? template(r.path) : r.path}`);
  await auditOf(attack.actor.id, (events) => actions.every((action) => events.some((e) =>
    e.action === action && e.outcome === 'revoked' && Date.parse(e.time) < revokedAt)), `${kind}: its refusals, timed before the revocation`);
}

/** Five uses held open across a 10 s window's end, then five fresh ones: 5 admitted, not 10. */
async function usesHeldAcrossTheWindow() {
  const k = await create({ name: 'window', owner: 'clock', rate_limits: [{ name: 'w', limit: 5, period: '10s' }] });
  const open = Array.from({ length: 5 }, () => held('/v1/verify', { key: worker.rootKey, body: { key: k.key, env: 'live' } }));
  await sleep(10_400);
  const answers = await Promise.all([...open.map((h) => h.finish()), ...Array.from({ length: 5 }, () => verify(k.key))]);
  assert.ok(answers.every((a) => a.status === 200), JSON.stringify(answers.map((a) => a.text)));
  return answers.filter((a) => a.body.valid).length;
}

before(async () => {
  origin = await startOrigin();
  const o = origin.url;
  worker = await startWorker({
    vars: {
      ORIGIN_URL: o,
      ...alertWebhook(`${o}/alerts`),
      ROUTES: JSON.stringify([{ method: 'POST', path: '/repos/*', scope: 'repos:write' }]),
      KEYWARD_RATE_LIMITS: JSON.stringify({ staging: [{ name: 'env', limit: 5, period: '1m' }] }),
    },
  });
  const kinds = Object.keys(ATTACKS);
  const start = (pace) => Promise.allSettled(kinds.map((k) => heldPastRevocation(k, pace)))
    .then((r) => Object.fromEntries(kinds.map((k, i) => [k, r[i]])));
  slow.five = start(5_000);
  slow.ninety = start(90_000);
  slow.window = usesHeldAcrossTheWindow().then((v) => ({ value: v }), (e) => ({ error: e }));
}, { timeout: 180_000 });

after(async () => {
  await worker?.stop();
  origin?.server.close();
});

function assertAll(results) {
  const failed = Object.entries(results).filter(([, r]) => r.status === 'rejected');
  assert.deepEqual(failed.map(([k, r]) => `${k}: ${r.reason?.stack ?? r.reason}`), []);
  assert.deepEqual(Object.keys(results).sort(), Object.keys(ATTACKS).sort());
}

describe('a key revoked while its request is held open does nothing after the revocation', () => {
  test('the control: a held request by a live key waits for its body, then acts', async () => {
    const k = await create({ name: 'live', owner: 'control-live', scopes: ['keys:write'] });
    const h = held('/v1/keys', { key: k.key, body: { name: 'made', scopes: [] } });
    await sleep(1000);
    const a = await h.finish();
    assert.equal(a.status, 201, a.text);
    assert.equal(a.body.name, 'made');
  });

  test('bodies held 5 s: create, rotate, revoke, update, credits, owner limits, leaks, verify, the gateway', async () => {
    assertAll(await slow.five);
  });

  test('bodies held 90 s: the same, side by side', async () => {
    assertAll(await slow.ninety);
  });
});

describe('/v1/verify authorises its caller before it reads the body', () => {
  // The Worker files a request's audit events once it has answered; workerd passes the
  // answer on only once the body has ended, so the refusal's event, read back while the
  // body is still held, shows the refusal did not wait for the body.
  for (const [kind, scopes, status, code] of [
    ['a revoked caller', ['keys:verify'], 401, 'revoked'],
    ['a caller without keys:verify', ['keys:read'], 403, 'insufficient_scope'],
  ]) {
    test(`${kind} trickling a body is refused while the body is held; nothing is verified`, async () => {
      const owner = `first-${code}`;
      const service = await create({ name: 'service', owner, scopes });
      if (code === 'revoked') {
        assert.equal((await root(`/v1/keys/${service.id}/revoke`, { method: 'POST' })).status, 200);
      }
      const target = await create({ name: 'customer', owner: `${owner}-customer`, credits: { remaining: 5 } });
      const h = held('/v1/verify', { key: service.key, body: { key: target.key, env: 'live', cost: 3 } });
      await auditOf(service.id, (events) => events.some((e) => e.action === 'POST /v1/verify' && e.outcome === code),
        `${kind}: its refusal in the audit trail while its body is held`);
      assert.equal((await show(target.id)).credits.remaining, 5, 'nothing counted or charged');
      const a = await h.finish();
      assert.equal(a.status, status, a.text);
      assert.equal(a.body.error.code, code);
      assert.equal((await show(target.id)).credits.remaining, 5, 'nothing counted or charged');
      const uses = (await root(`/v1/audit?key_id=${target.id}&limit=1000`)).body.events.filter((e) => !e.action.startsWith('key.'));
      assert.deepEqual(uses, [], 'the customer key was never used');
    });
  }
});

describe('the ledger keeps its own clock', () => {
  test('5 uses a 10 s window, opened at t0 and counted at t0+10.4 s with 5 fresh ones: 5 admitted, not 10', async () => {
    const r = await slow.window;
    if (r.error) throw r.error;
    assert.equal(r.value, 5);
  });
});

describe('a revocation is a fact', () => {
  test('a revoked key is never rotated, never has its limits or credits changed', async () => {
    const k = await create({ name: 'fact', owner: 'fact', credits: { remaining: 3 } });
    assert.equal((await root(`/v1/keys/${k.id}/revoke`, { method: 'POST' })).status, 200);
    const before = await show(k.id);
    for (const [method, path, body] of [
      ['POST', `/v1/keys/${k.id}/rotate`, { grace_seconds: 60 }],
      ['PATCH', `/v1/keys/${k.id}`, { rate_limits: [{ name: 'm', limit: 9, period: '1m' }] }],
      ['POST', `/v1/keys/${k.id}/credits`, { set: 99 }],
    ]) {
      const r = await root(path, { method, body });
      assert.equal(r.status, 409, `${method} ${path}: ${r.text}`);
      assert.equal(r.body.error.code, 'conflict');
    }
    assert.deepEqual(await show(k.id), before);
    assert.equal((await keysOf('fact')).length, 1);
  });
});

describe('an allowance is not multiplied', () => {
  test('a keys:write key under its environment\'s default limits mints no keys', async () => {
    const mgr = await create({ name: 'mgr', owner: 'tenant', env: 'staging', scopes: ['keys:write', 'scans:read'] });
    const me = await call('/v1/me', { key: mgr.key });
    assert.equal(me.body.can.create, false, 'what /v1/me says is what create does');
    for (let i = 0; i < 4; i++) {
      const r = await call('/v1/keys', { method: 'POST', key: mgr.key, body: { name: `m${i}`, scopes: ['scans:read'] } });
      assert.equal(r.status, 403, r.text);
      assert.equal(r.body.error.code, 'forbidden');
    }
    assert.deepEqual((await keysOf('tenant')).map((k) => k.id), [mgr.id]);
    // In an environment without defaults, the same kind of key still creates.
    const live = await create({ name: 'mgr', owner: 'tenant-live', scopes: ['keys:write'] });
    const made = await call('/v1/keys', { method: 'POST', key: live.key, body: { name: 'm', scopes: [] } });
    assert.equal(made.status, 201, made.text);
  });
});

describe('a key stays inside its owner and environment', () => {
  test('POST /v1/leaks with a team-a/test key labels team-b\'s live admin key and leaves it alone', async () => {
    const reporter = await create({ name: 'scanner', owner: 'team-a', env: 'test', scopes: ['keys:write'] });
    const theirs = await create({ name: 'theirs', owner: 'team-b', scopes: ['admin'] });
    const ours = await create({ name: 'ours', owner: 'team-a', env: 'test' });
    const item = (token) => ({ token, type: 'keyward_api_key', url: 'https://example.com/leak', source: 'content' });
    const r = await call('/v1/leaks', { method: 'POST', key: reporter.key, body: [item(theirs.key), item(ours.key)] });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body[0].label, 'true_positive');
    assert.equal(r.body[0].revocation, 'not_permitted');
    assert.equal(r.body[1].revocation, 'revoked', 'its own owner\'s key is revoked');
    const after = await show(theirs.id);
    assert.equal(after.status, 'active');
    assert.equal(after.revoked_at, null);
    assert.equal((await verify(theirs.key)).body.code, 'valid');
    assert.equal((await show(ours.id)).status, 'revoked');
  });

  test('a team-a/test keys:verify key cannot verify, count or charge a team-b/live key', async () => {
    const service = await create({ name: 'svc', owner: 'team-a', env: 'test', scopes: ['keys:verify'] });
    const theirs = await create({ name: 'paid', owner: 'team-b', credits: { remaining: 2000 } });
    const r = await call('/v1/verify', { method: 'POST', key: service.key, body: { key: theirs.key, env: 'live', cost: 1000 } });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.body.error.code, 'forbidden');
    const own = await call('/v1/verify', { method: 'POST', key: service.key, body: { key: theirs.key, cost: 1000 } });
    assert.equal(own.status, 200, own.text);
    assert.equal(own.body.code, 'wrong_environment');
    assert.equal((await show(theirs.id)).credits.remaining, 2000, 'nothing was charged');
    // Its own environment's keys, of any owner, it verifies.
    const customer = await create({ name: 'customer', owner: 'someone', env: 'test' });
    const ok = await call('/v1/verify', { method: 'POST', key: service.key, body: { key: customer.key } });
    assert.equal(ok.body.code, 'valid', ok.text);
  });
});

describe('a use refused after it was counted is given back whole', () => {
  test('the owner\'s limit refuses: the key\'s units, credits and low-credit alert come back', async () => {
    const owner = 'giveback';
    const k = await create({
      name: 'metered', owner, credits: { remaining: 10, alert_below: 10 },
      rate_limits: [{ name: 'own', limit: 3, period: '1h' }],
    });
    const other = await create({ name: 'other', owner });
    const limits = `/v1/owners/${owner}/limits`;
    assert.equal((await root(limits, { method: 'PUT', body: { rate_limits: [{ name: 'team', limit: 1, period: '1h' }] } })).status, 200);
    assert.equal((await verify(other.key)).body.code, 'valid', 'the owner\'s one use');
    for (let i = 0; i < 5; i++) {
      const r = await verify(k.key);
      assert.equal(r.body.code, 'rate_limited', r.text);
    }
    const shown = await show(k.id);
    assert.equal(shown.credits.remaining, 10, 'credits given back');
    assert.equal((await root(limits, { method: 'PUT', body: { rate_limits: [] } })).status, 200);
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await verify(k.key)).body.code);
    assert.deepEqual(codes, ['valid', 'valid', 'valid', 'rate_limited'], 'its own 3 units, all given back');
    assert.equal((await show(k.id)).credits.remaining, 7);
    // The first use that took the balance below 10 was refused and given back: the alert is
    // raised by the first use that counted.
    await eventually(async () => (await root(`/v1/alerts?key_id=${k.id}`)).body.alerts.some((a) => a.kind === 'credits_low'),
      { what: 'a credits_low alert' });
  });
});
