// Webhook endpoints against the real Worker under wrangler dev: every delivery a real
// loopback receiver gets is verified with the `standardwebhooks` package (the reference
// library of the specification); retries, owner bounds, redirects and secrets are attacked
// and the state read back. Retries wait 1 s here (KEYWARD_TEST_WEBHOOK_RETRY_SECONDS),
// the schedule itself is the core's (unit-tested).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createRequire } from 'node:module';
import { ALERT_SECRET, alertWebhook, call as rawCall, eventually, sha256, startWorker } from './harness.mjs';

const { Webhook } = createRequire(import.meta.url)('standardwebhooks');

let worker;
let receiver;
/** Every request the receiver got: {path, headers, body}. */
const received = [];
/** Failed answers given so far, by webhook-id (the flaky path fails twice per id). */
const failures = new Map();
/** Every raw key and hash made in this file: none may appear in a delivery or a log. */
const secrets = [];

const call = (path, opts) => rawCall(worker.url, path, opts);
const root = (path, opts = {}) => call(path, { key: worker.rootKey, ...opts });
let hookBase;

async function makeKey(body, key = worker.rootKey) {
  const r = await call('/v1/keys', { method: 'POST', key, body });
  assert.equal(r.status, 201, r.text);
  secrets.push(r.body.key, sha256(r.body.key));
  return r.body;
}

async function makeHook(body, key = worker.rootKey) {
  const r = await call('/v1/webhooks', { method: 'POST', key, body });
  assert.equal(r.status, 201, r.text);
  assert.match(r.body.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
  assert.equal(Buffer.from(r.body.secret.slice(6), 'base64').length, 32);
  return r.body;
}

const at = (path) => received.filter((r) => r.path === path);

/** Verifies a received request with the specification's library; its payload. */
function verified(secret, r) {
  return new Webhook(secret).verify(r.body, {
    'webhook-id': r.headers['webhook-id'],
    'webhook-timestamp': r.headers['webhook-timestamp'],
    'webhook-signature': r.headers['webhook-signature'],
  });
}

before(async () => {
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      received.push({ path: req.url, headers: req.headers, body });
      const id = req.headers['webhook-id'];
      if (req.url === '/flaky' && (failures.get(id) ?? 0) < 2) {
        failures.set(id, (failures.get(id) ?? 0) + 1);
        res.writeHead(500).end('not yet');
      } else if (req.url === '/moved') {
        res.writeHead(302, { location: `${hookBase}/stolen` }).end();
      } else {
        res.writeHead(204).end();
      }
    });
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  hookBase = `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (receiver.address()).port}`;
  worker = await startWorker({
    vars: { ...alertWebhook(`${hookBase}/alert-webhook`), KEYWARD_TEST_WEBHOOK_RETRY_SECONDS: '1' },
  });
});

after(async () => {
  await worker?.stop();
  receiver?.close();
});

describe('webhook endpoints', () => {
  let acmeWriter;
  let acmeReader;
  let otherWriter;
  let acmeHook;
  let allHook;

  test('who may create and manage an endpoint', async () => {
    acmeWriter = await makeKey({ name: 'w', owner: 'acme', scopes: ['keys:write', 'keys:read', 'scans:read'], env: 'live' });
    acmeReader = await makeKey({ name: 'r', owner: 'acme', scopes: ['keys:read'], env: 'live' });
    otherWriter = await makeKey({ name: 'o', owner: 'other', scopes: ['keys:write', 'scans:read'], env: 'live' });

    // A keys:read key cannot create one.
    const refused = await call('/v1/webhooks', { method: 'POST', key: acmeReader.key, body: { url: `${hookBase}/a`, events: ['key.created'] } });
    assert.equal(refused.status, 403, refused.text);
    assert.equal(refused.body.error.code, 'insufficient_scope');
    // A keys:write key cannot create one for another owner.
    const foreign = await call('/v1/webhooks', { method: 'POST', key: acmeWriter.key, body: { url: `${hookBase}/a`, events: ['key.created'], owner: 'other' } });
    assert.equal(foreign.status, 403, foreign.text);
    assert.equal(foreign.body.error.code, 'forbidden');
    // https only, but for loopback where the deployment allows it; known events only.
    for (const body of [
      { url: 'http://example.com/hook', events: ['key.created'] },
      { url: 'ftp://127.0.0.1/hook', events: ['key.created'] },
      { url: 'https://u:p@example.com/hook', events: ['key.created'] },
      { url: `${hookBase}/a`, events: [] },
      { url: `${hookBase}/a`, events: ['key.*'] },
      { url: `${hookBase}/a`, events: ['key.created', 'key.created'] },
      { url: `${hookBase}/a`, events: ['key.created'], extra: 1 },
    ]) {
      const r = await root('/v1/webhooks', { method: 'POST', body });
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
      assert.equal(r.body.error.code, 'invalid_request');
    }
    assert.deepEqual((await root('/v1/webhooks')).body.webhooks, [], 'nothing was created');

    acmeHook = await makeHook({ url: `${hookBase}/a`, events: ['key.created', 'key.revoked', 'key.rotated', 'key.updated'] }, acmeWriter.key);
    assert.equal(acmeHook.webhook.owner, 'acme', 'bounded to its creator\'s owner');
    assert.equal(acmeHook.webhook.env, 'live');
    assert.equal(acmeHook.webhook.state, 'active');
    allHook = await makeHook({ url: `${hookBase}/all`, events: ['key.created', 'key.revoked'] });
    assert.equal(allHook.webhook.owner, null);

    // Another owner's key can neither see nor delete it; a keys:read key cannot list.
    for (const [method, path] of [['GET', ''], ['DELETE', ''], ['GET', '/deliveries']]) {
      const r = await call(`/v1/webhooks/${acmeHook.id}${path}`, { method, key: otherWriter.key });
      assert.equal(r.status, 403, `${method} ${path}: ${r.text}`);
    }
    assert.equal((await call('/v1/webhooks', { key: acmeReader.key })).status, 403);
    const listed = await call('/v1/webhooks', { key: otherWriter.key });
    assert.deepEqual(listed.body.webhooks, [], 'another owner lists none of acme\'s');
    const own = await call('/v1/webhooks', { key: acmeWriter.key });
    assert.deepEqual(own.body.webhooks.map((w) => w.id), [acmeHook.id], 'acme lists its own only');
    const still = await root(`/v1/webhooks/${acmeHook.id}`);
    assert.equal(still.status, 200, 'the endpoint is still there');
    assert.equal(still.body.secret, undefined, 'the secret is shown once');
    assert.equal((await root('/v1/webhooks/wh_nope')).status, 404);
  });

  test('every key event arrives signed; an owner-bounded endpoint gets only its owner\'s', async () => {
    const mine = await makeKey({ name: 'svc', owner: 'acme', scopes: ['scans:read'], env: 'live' });
    const theirs = await makeKey({ name: 'svc', owner: 'other', scopes: ['scans:read'], env: 'live' });
    const revoked = await call(`/v1/keys/${mine.id}/revoke`, { method: 'POST', key: acmeWriter.key, body: { reason: 'leaked' } });
    assert.equal(revoked.status, 200, revoked.text);
    const theirsRevoked = await call(`/v1/keys/${theirs.id}/revoke`, { method: 'POST', key: otherWriter.key, body: { reason: 'done' } });
    assert.equal(theirsRevoked.status, 200);

    // The unbounded endpoint sees both owners' events: both were announced.
    const all = await eventually(() => {
      const got = at('/all').map((r) => verified(allHook.secret, r));
      const ids = got.map((e) => `${e.type}:${e.data.id}`);
      return [`key.created:${theirs.id}`, `key.revoked:${theirs.id}`, `key.revoked:${mine.id}`].every((x) => ids.includes(x)) && got;
    }, { what: 'deliveries to the unbounded endpoint' });
    assert.ok(all.length >= 4);
    const acme = await eventually(() => {
      const got = at('/a').map((r) => verified(acmeHook.secret, r));
      return got.some((e) => e.type === 'key.revoked' && e.data.id === mine.id) && got;
    }, { what: 'deliveries to acme\'s endpoint' });
    for (const e of acme) assert.equal(e.data.owner, 'acme', `acme's endpoint got ${e.type} of ${e.data.owner}`);
    assert.ok(!acme.some((e) => e.data.id === theirs.id), 'never another owner\'s key');
    const revocation = acme.find((e) => e.type === 'key.revoked' && e.data.id === mine.id);
    assert.equal(revocation.data.revocation_reason, 'leaked');
    assert.match(revocation.timestamp, /^\d{4}-\d\d-\d\dT/);

    // A signature with another secret is refused by the same library.
    const forged = at('/a')[0];
    assert.throws(() => verified(allHook.secret, forged));

    // Each delivery's log row, once per attempt.
    const log = await root(`/v1/webhooks/${acmeHook.id}/deliveries`);
    assert.equal(log.status, 200, log.text);
    const ids = at('/a').map((r) => r.headers['webhook-id']);
    assert.deepEqual(new Set(log.body.deliveries.map((d) => d.message_id)), new Set(ids));
    for (const d of log.body.deliveries) {
      assert.equal(d.status, 204);
      assert.equal(d.error, null);
      assert.equal(d.attempt, 1);
    }
  });

  test('a receiver failing twice gets the same event a third time, logged once per attempt', async () => {
    const flaky = await makeHook({ url: `${hookBase}/flaky`, events: ['key.created'], owner: 'flaky' });
    const k = await makeKey({ name: 'f', owner: 'flaky', scopes: ['scans:read'], env: 'live' });
    const three = await eventually(() => {
      const got = at('/flaky');
      return got.length >= 3 && got;
    }, { ms: 30_000, what: 'three attempts' });
    const ids = new Set(three.map((r) => r.headers['webhook-id']));
    assert.equal(ids.size, 1, 'the same webhook-id on every attempt');
    for (const r of three) assert.equal(verified(flaky.secret, r).data.id, k.id);
    const log = await eventually(async () => {
      const r = await root(`/v1/webhooks/${flaky.id}/deliveries`);
      return r.body.deliveries.length >= 3 && r.body.deliveries;
    }, { what: 'three log rows' });
    assert.deepEqual(log.map((d) => d.attempt).sort(), [1, 2, 3]);
    assert.deepEqual(log.map((d) => d.status).sort(), [204, 500, 500]);
    assert.equal(new Set(log.map((d) => d.message_id)).size, 1);
    // Delivered: nothing more comes, and nothing is doubled.
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(at('/flaky').length, 3);
    assert.equal((await root(`/v1/webhooks/${flaky.id}/deliveries`)).body.deliveries.length, 3);
    assert.equal((await root(`/v1/webhooks/${flaky.id}`)).body.state, 'active');
  });

  test('a redirect is never followed; a schedule of failures marks the endpoint failing', async () => {
    const moved = await makeHook({ url: `${hookBase}/moved`, events: ['key.created'], owner: 'moved' });
    await makeKey({ name: 'm', owner: 'moved', scopes: ['scans:read'], env: 'live' });
    const failing = await eventually(async () => {
      const r = await root(`/v1/webhooks/${moved.id}`);
      return r.body.state === 'failing' && r.body;
    }, { ms: 60_000, what: 'the endpoint failing' });
    assert.ok(failing.failing_since);
    const log = (await root(`/v1/webhooks/${moved.id}/deliveries`)).body.deliveries;
    assert.deepEqual(log.map((d) => d.attempt).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8]);
    for (const d of log) {
      assert.equal(d.status, 302);
      assert.match(d.error, /redirect not followed/);
    }
    assert.equal(at('/moved').length, 8);
    assert.equal(at('/stolen').length, 0, 'the redirect target got nothing');
  });

  test('a deleted endpoint gets nothing more', async () => {
    const gone = await makeHook({ url: `${hookBase}/gone`, events: ['key.created'], owner: 'gone' });
    const del = await root(`/v1/webhooks/${gone.id}`, { method: 'DELETE' });
    assert.equal(del.status, 204);
    assert.equal((await root(`/v1/webhooks/${gone.id}`)).status, 404);
    await makeKey({ name: 'g', owner: 'gone', scopes: ['scans:read'], env: 'live' });
    // The unbounded endpoint's delivery of the same event shows the fan-out happened.
    await eventually(() => at('/all').some((r) => JSON.parse(r.body).data.owner === 'gone'), { what: 'the fan-out' });
    assert.equal(at('/gone').length, 0);
  });

  test('alerts are announced: credits.low and alert.raised, to the key\'s owner', async () => {
    const alerts = await makeHook({ url: `${hookBase}/alerts`, events: ['credits.low', 'alert.raised'], owner: 'spender' });
    const k = await makeKey({ name: 's', owner: 'spender', scopes: ['scans:read'], env: 'live', credits: { remaining: 3, alert_below: 2 } });
    for (let i = 0; i < 2; i++) {
      const v = await root('/v1/verify', { method: 'POST', body: { key: k.key, env: 'live' } });
      assert.equal(v.status, 200, v.text);
    }
    const low = await eventually(() => at('/alerts').map((r) => verified(alerts.secret, r)).find((e) => e.type === 'credits.low'),
      { what: 'credits.low' });
    assert.equal(low.data.key_id, k.id);
    assert.equal(low.data.owner, 'spender');
    // A use of a revoked key is a misuse alert.
    assert.equal((await root(`/v1/keys/${k.id}/revoke`, { method: 'POST', body: {} })).status, 200);
    assert.equal((await root('/v1/verify', { method: 'POST', body: { key: k.key, env: 'live' } })).status, 200);
    const raised = await eventually(() => at('/alerts').map((r) => verified(alerts.secret, r)).find((e) => e.type === 'alert.raised'),
      { ms: 30_000, what: 'alert.raised' });
    assert.equal(raised.data.key_id, k.id);
    assert.equal(raised.data.kind, 'revoked_key_used');
  });

  test('a leak report announces key.revoked (leaked) for every key it revokes, the queued ones too', async () => {
    const leaks = await makeHook({ url: `${hookBase}/leaks`, events: ['key.revoked'], owner: 'leaky' });
    const keys = [];
    for (let i = 0; i < 23; i++) keys.push(await makeKey({ name: `l${i}`, owner: 'leaky', scopes: ['scans:read'], env: 'live' }));
    const body = keys.map((k) => ({ token: k.key, type: 'keyward_api_key', url: 'https://github.com/o/r/blob/x/.env', source: 'content' }));
    const r = await root('/v1/leaks', { method: 'POST', body });
    assert.equal(r.status, 200, r.text);
    const queued = r.body.filter((f) => f.revocation === 'queued').length;
    assert.ok(queued > 0, `some revocations go through the queue: ${r.text}`);
    const got = await eventually(() => {
      const events = at('/leaks').map((x) => verified(leaks.secret, x));
      return new Set(events.map((e) => e.data.id)).size >= keys.length && events;
    }, { ms: 30_000, what: 'key.revoked for every leaked key' });
    for (const k of keys) {
      const e = got.filter((x) => x.data.id === k.id);
      assert.equal(e.length, 1, `one event for ${k.id}`);
      assert.equal(e[0].type, 'key.revoked');
      assert.equal(e[0].data.revocation_reason, 'leaked');
      assert.equal(e[0].data.status, 'revoked');
    }
  });

  test('key.expiring: the daily cron announces a key 7 days before its expiry, once across runs', async () => {
    const soonHook = await makeHook({ url: `${hookBase}/expiring`, events: ['key.expiring'], owner: 'expiring' });
    const day = 86_400;
    const soon = await makeKey({ name: 'soon', owner: 'expiring', scopes: ['scans:read'], env: 'live', expires_in: 3 * day });
    const later = await makeKey({ name: 'later', owner: 'expiring', scopes: ['scans:read'], env: 'live', expires_in: 30 * day });
    const gone = await makeKey({ name: 'gone', owner: 'expiring', scopes: ['scans:read'], env: 'live', expires_in: 3 * day });
    assert.equal((await root(`/v1/keys/${gone.id}/revoke`, { method: 'POST', body: {} })).status, 200);
    const cron = async () => {
      const r = await fetch(`${worker.url}/__scheduled?cron=17+3+*+*+*`);
      assert.equal(r.status, 200);
      await r.text();
    };
    await cron();
    await cron();
    const got = await eventually(() => {
      const events = at('/expiring').map((r) => verified(soonHook.secret, r));
      return events.some((e) => e.data.id === soon.id) && events;
    }, { ms: 30_000, what: 'key.expiring for the key expiring in 3 days' });
    const event = got.find((e) => e.data.id === soon.id);
    assert.equal(event.type, 'key.expiring');
    assert.equal(event.data.expires_at, soon.expires_at);
    // A later run, then a marker key announced by a run after it: by the time the marker
    // arrives, the earlier runs' events have too; the first key was announced once.
    await cron();
    const marker = await makeKey({ name: 'marker', owner: 'expiring', scopes: ['scans:read'], env: 'live', expires_in: 6 * day });
    await cron();
    await eventually(() => at('/expiring').some((r) => JSON.parse(r.body).data.id === marker.id), { ms: 30_000, what: 'the marker' });
    const ids = at('/expiring').map((r) => verified(soonHook.secret, r).data.id);
    assert.equal(ids.filter((id) => id === soon.id).length, 1, 'announced once across four runs');
    assert.ok(!ids.includes(later.id), 'a key expiring in 30 days is not announced');
    assert.ok(!ids.includes(gone.id), 'a revoked key is not announced');
    const log = (await root(`/v1/webhooks/${soonHook.id}/deliveries`)).body.deliveries;
    assert.equal(log.length, 2, JSON.stringify(log));
  });

  test('secret rotation: both signatures during the overlap, either secret verifies; only a manager rotates', async () => {
    const hook = await makeHook({ url: `${hookBase}/rotating`, events: ['key.created'] }, acmeWriter.key);
    const path = `/v1/webhooks/${hook.id}/rotate-secret`;
    /** The delivery of a new acme key's key.created to this endpoint. */
    const next = async () => {
      const k = await makeKey({ name: 'r', owner: 'acme', scopes: ['scans:read'], env: 'live' });
      return eventually(() => at('/rotating').find((r) => JSON.parse(r.body).data.id === k.id), { ms: 30_000, what: 'the delivery' });
    };
    // A reader and another owner's writer cannot rotate it; the secret stays the same.
    const reader = await call(path, { method: 'POST', key: acmeReader.key });
    assert.equal(reader.status, 403, reader.text);
    assert.equal(reader.body.error.code, 'insufficient_scope');
    const other = await call(path, { method: 'POST', key: otherWriter.key });
    assert.equal(other.status, 403, other.text);
    assert.equal(other.body.error.code, 'forbidden');
    for (const overlap_seconds of [-1, 7 * 86_400 + 1]) {
      const bad = await call(path, { method: 'POST', key: acmeWriter.key, body: { overlap_seconds } });
      assert.equal(bad.status, 400, bad.text);
      assert.equal(bad.body.error.code, 'invalid_request');
    }
    const before = await next();
    assert.equal(before.headers['webhook-signature'].split(' ').length, 1);
    verified(hook.secret, before);

    const rotated = await call(path, { method: 'POST', key: acmeWriter.key });
    assert.equal(rotated.status, 200, rotated.text);
    assert.match(rotated.body.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    assert.notEqual(rotated.body.secret, hook.secret);
    const overlapEnds = Date.parse(rotated.body.previous_expires_at) - Date.now();
    assert.ok(overlapEnds > 86_000_000 && overlapEnds <= 86_400_000, rotated.body.previous_expires_at);
    assert.equal(JSON.stringify((await root(`/v1/webhooks/${hook.id}`)).body).includes('whsec_'), false, 'shown once');
    const during = await next();
    const signatures = during.headers['webhook-signature'].split(' ');
    assert.equal(signatures.length, 2, 'both secrets sign during the overlap');
    assert.ok(signatures.every((s) => s.startsWith('v1,')));
    assert.equal(verified(hook.secret, during).type, 'key.created', 'a receiver with the old secret verifies');
    assert.equal(verified(rotated.body.secret, during).type, 'key.created', 'a receiver with the new secret verifies');

    // Without overlap, only the newest secret signs: the older ones no longer verify.
    const now = await call(path, { method: 'POST', key: acmeWriter.key, body: { overlap_seconds: 0 } });
    assert.equal(now.status, 200, now.text);
    assert.equal(now.body.previous_expires_at, null);
    const after = await next();
    assert.equal(after.headers['webhook-signature'].split(' ').length, 1);
    verified(now.body.secret, after);
    assert.throws(() => verified(rotated.body.secret, after));
    assert.throws(() => verified(hook.secret, after));
    secrets.push(hook.secret, rotated.body.secret, now.body.secret);
  });

  test('ALERT_WEBHOOK_URL is an endpoint for every alert, signed with ALERT_WEBHOOK_SECRET', async () => {
    const k = await makeKey({ name: 'a', owner: 'alerted', scopes: ['scans:read'], env: 'live' });
    assert.equal((await root(`/v1/keys/${k.id}/revoke`, { method: 'POST', body: {} })).status, 200);
    assert.equal((await root('/v1/verify', { method: 'POST', body: { key: k.key, env: 'live' } })).status, 200);
    const got = await eventually(() => at('/alert-webhook').find((r) => JSON.parse(r.body).data.key_id === k.id),
      { ms: 30_000, what: 'the alert at ALERT_WEBHOOK_URL' });
    const event = verified(ALERT_SECRET, got);
    assert.equal(event.type, 'alert.raised');
    assert.equal(event.data.kind, 'revoked_key_used');
    assert.match(got.headers['webhook-id'], /^msg_[0-9a-f]{32}$/);
    // Key events are not alerts: the alert endpoint receives none.
    assert.ok(!at('/alert-webhook').some((r) => JSON.parse(r.body).type.startsWith('key.')));
    // Another secret does not verify it.
    assert.throws(() => verified(`whsec_${Buffer.alloc(32, 1).toString('base64')}`, got));
  });

  test('ALERT_WEBHOOK_URL without ALERT_WEBHOOK_SECRET does not start: 503 naming what is missing', async () => {
    for (const [vars, said] of /** @type {Array<[Record<string, string>, RegExp]>} */ ([
      [{ ALERT_WEBHOOK_URL: `${hookBase}/alert-webhook`, KEYWARD_WEBHOOK_ALLOW_LOOPBACK_HTTP: 'true' }, /ALERT_WEBHOOK_SECRET is required when ALERT_WEBHOOK_URL is set/],
      [{ ...alertWebhook(`${hookBase}/alert-webhook`), ALERT_WEBHOOK_SECRET: 'not-a-secret' }, /ALERT_WEBHOOK_SECRET must be `whsec_`/],
    ])) {
      const w = await startWorker({ vars, ready: (s) => s === 503 });
      try {
        for (const path of ['/healthz', '/v1/keys']) {
          const r = await rawCall(w.url, path, { key: w.rootKey });
          assert.equal(r.status, 503, path);
          assert.equal(r.body.error.code, 'unavailable');
          assert.match(r.body.error.message, said);
        }
      } finally {
        await w.stop();
      }
    }
  });

  test('no delivery, delivery record or log holds a key or its hash', async () => {
    const rows = JSON.stringify(worker.d1('SELECT * FROM webhook_deliveries'));
    const everything = [JSON.stringify(received), rows, worker.logs()].join('\n');
    assert.ok(secrets.length >= 10);
    for (const s of secrets) assert.ok(!everything.includes(s), 'a key or hash leaked');
    assert.ok(received.length > 10);
  });
});
