// Attacks on what a key can do, each performed against the real Worker under wrangler dev,
// with the state read back afterwards to show nothing changed: no key minted, nothing
// revoked or rotated, the origin received nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { call as rawCall, eventually, makeKey, startWorker, alertWebhook, verifiedAlert } from './harness.mjs';
import { load } from '../vectors/replay.mjs';

let worker;
let origin;
let elsewhere;
const hits = [];
const elsewhereHits = [];
const webhook = [];
const reporter = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const MAX_BODY = 4096;

const call = (path, opts) => rawCall(worker.url, path, opts);
const root = (path, opts = {}) => call(path, { key: worker.rootKey, ...opts });

async function create(body, key = worker.rootKey) {
  const r = await call('/v1/keys', { method: 'POST', key, body });
  assert.equal(r.status, 201, r.text);
  return r.body;
}

/** Every key of `owner`, as the root key lists them. */
async function keysOf(owner) {
  const r = await root(`/v1/keys?owner=${encodeURIComponent(owner)}&limit=100`);
  assert.equal(r.status, 200, r.text);
  return r.body.keys;
}

const show = async (id) => (await root(`/v1/keys/${id}`)).body;

/** A raw HTTP request: the path exactly as given, headers as given, body in chunks. */
function raw(path, { method = 'GET', headers = {}, chunks = [] } = {}) {
  return new Promise((resolve, reject) => {
    const { port } = new URL(worker.url);
    // A fresh connection each time: an answer given before the body was read ends its
    // connection's usefulness, and a reused one would carry the rest of that body.
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let body;
        try { body = JSON.parse(text); } catch { body = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, body, text });
      });
    });
    req.on('error', reject);
    for (const c of chunks) req.write(c);
    req.end();
  });
}

/**
 * After an upload refused before its body was read: wrangler dev's local proxy treats the
 * unread upload as a failed runtime and restarts it, answering the very next request with
 * 503 "worker restarted mid-request" (a dev-server artefact; GET requests it retries).
 * Waiting for /healthz lets the next test start on a settled runtime.
 */
const settle = () => eventually(async () => (await call('/healthz')).status === 200, { what: 'the dev runtime' });

function listen(handler) {
  return new Promise((res) => {
    const srv = http.createServer(handler);
    srv.listen(0, '127.0.0.1', () => res(srv));
  });
}

before(async () => {
  elsewhere = await listen((req, res) => { elsewhereHits.push(req.url); res.end('elsewhere'); });
  origin = await listen((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      if (req.url === '/alerts') {
        webhook.push(verifiedAlert(req.headers, body));
        res.writeHead(204).end();
        return;
      }
      hits.push({ method: req.method, url: req.url, headers: req.headers, body });
      if (req.url.startsWith('/moved')) {
        res.writeHead(302, { location: `http://127.0.0.1:${elsewhere.address().port}/stolen` }).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ path: req.url }));
    });
  });
  const o = `http://127.0.0.1:${origin.address().port}`;
  worker = await startWorker({
    vars: {
      ORIGIN_URL: o,
      ...alertWebhook(`${o}/alerts`),
      GATEWAY_MAX_BODY: String(MAX_BODY),
      LEAK_REPORT_PUBLIC_KEYS: JSON.stringify({ 'gh-1': reporter.publicKey.export({ type: 'spki', format: 'pem' }) }),
      ROUTES: JSON.stringify([
        { method: 'GET', path: '/admin*', scope: 'settings:write' },
        { method: 'GET', path: '/Exact', scope: 'settings:write', case: 'sensitive' },
        { method: '*', path: '/*', scope: 'repos:read' },
      ]),
    },
  });
});

after(async () => {
  await worker?.stop();
  origin?.close();
  elsewhere?.close();
});

describe('key management is contained', () => {
  test('a test key cannot mint a live key, nor a key for another owner', async () => {
    const mgr = await create({ name: 'mgr', owner: 'acme', scopes: ['keys:write', 'scans:read'], env: 'test' });
    const before = (await keysOf('acme')).length;
    for (const [body, rule] of /** @type {Array<[any, RegExp]>} */ ([
      [{ name: 'x', scopes: ['scans:read'], env: 'live' }, /own environment/],
      [{ name: 'x', owner: 'victim', scopes: ['scans:read'] }, /own owner/],
    ])) {
      const r = await call('/v1/keys', { method: 'POST', key: mgr.key, body });
      assert.equal(r.status, 403, r.text);
      assert.equal(r.body.error.code, 'forbidden');
      assert.match(r.body.error.message, rule);
    }
    assert.equal((await keysOf('acme')).length, before, 'no key minted');
    assert.equal((await keysOf('victim')).length, 0, 'no key minted for the victim');
    // What it may do: its own owner and environment, by default.
    const child = await create({ name: 'child', scopes: ['scans:read'] }, mgr.key);
    assert.deepEqual([child.owner, child.env], ['acme', 'test']);
  });

  test('an expiring key cannot mint a key that outlives it, nor live forever by rotating', async () => {
    const mgr = await create({ name: 'temp', owner: 'acme', scopes: ['keys:write'], env: 'live', expires_in: 3600 });
    const inherited = await create({ name: 'inherits', scopes: [] }, mgr.key);
    assert.equal(inherited.expires_at, mgr.expires_at, 'inherits the caller\'s expiry');
    const count = (await keysOf('acme')).length;
    const r = await call('/v1/keys', { method: 'POST', key: mgr.key, body: { name: 'forever', scopes: [], expires_in: 7200 } });
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, 'forbidden');
    assert.equal((await keysOf('acme')).length, count, 'no key minted');
    const rotated = await call(`/v1/keys/${mgr.id}/rotate`, { method: 'POST', key: mgr.key, body: { grace_seconds: 60 } });
    assert.equal(rotated.status, 201, rotated.text);
    assert.equal(rotated.body.expires_at, mgr.expires_at, 'the successor keeps its predecessor\'s expiry');
  });

  test('revoke and rotate act only on the caller\'s owner and environment, and held scopes', async () => {
    const mgr = await create({ name: 'mgr2', owner: 'acme', scopes: ['keys:write', 'scans:read'], env: 'live' });
    const admin = await create({ name: 'acme admin', owner: 'acme', scopes: ['admin'], env: 'live' });
    const theirs = await create({ name: 'theirs', owner: 'victim', scopes: ['scans:read'], env: 'live' });
    const testKey = await create({ name: 'acme test', owner: 'acme', scopes: ['scans:read'], env: 'test' });
    const cases = [
      [admin, 'revoke', 'scope_not_held'],
      [admin, 'rotate', 'scope_not_held'],
      [theirs, 'revoke', 'forbidden'],
      [theirs, 'rotate', 'forbidden'],
      [testKey, 'revoke', 'forbidden'],
    ];
    for (const [target, action, code] of cases) {
      const r = await call(`/v1/keys/${target.id}/${action}`, { method: 'POST', key: mgr.key, body: {} });
      assert.equal(r.body.error?.code, code, `${action} ${target.name}: ${r.text}`);
      assert.equal(r.body.key, undefined, 'no secret handed out');
      const after = await show(target.id);
      assert.equal(after.revoked_at, null, `${target.name} not revoked`);
      assert.equal(after.rotated_to, null, `${target.name} not rotated`);
    }
    assert.equal((await keysOf('victim')).length, 1, 'no successor minted');
    // Reading is contained too: another owner's key and another owner's list.
    const reader = await create({ name: 'reader', owner: 'acme', scopes: ['keys:read'], env: 'live' });
    assert.equal((await call(`/v1/keys/${theirs.id}`, { key: reader.key })).body.error.code, 'forbidden');
    assert.equal((await call('/v1/keys?owner=victim', { key: reader.key })).body.error.code, 'forbidden');
    const own = await call('/v1/keys?limit=100', { key: reader.key });
    assert.ok(own.body.keys.length > 0);
    assert.ok(own.body.keys.every((k) => k.owner === 'acme' && k.env === 'live'), 'only its own owner and environment');
    // An admin key is not bounded.
    assert.equal((await call(`/v1/keys/${theirs.id}/revoke`, { method: 'POST', key: admin.key, body: {} })).status, 200);
  });

  test('an owner must be printable ASCII (it travels in a header)', async () => {
    for (const owner of ['caf\u00e9', 'tab\there', 'line\nfeed']) {
      const r = await root('/v1/keys', { method: 'POST', body: { name: 'x', owner, scopes: [], env: 'live' } });
      assert.equal(r.status, 400, owner);
      assert.equal(r.body.error.code, 'invalid_request');
    }
    // Read back: no key has any of those owners (a list by such an owner is itself refused).
    const listed = await root('/v1/keys?owner=caf%C3%A9');
    assert.equal(listed.status, 400);
    const all = await root('/v1/keys?limit=100');
    assert.ok(all.body.keys.every((k) => /^[ -~]+$/.test(k.owner)), 'no key was minted for them');
  });

  test('a bounded audit reader sees its own owner\'s events only', async () => {
    const auditor = await create({ name: 'auditor', owner: 'acme', scopes: ['audit:read'], env: 'live' });
    const theirs = await create({ name: 'theirs2', owner: 'victim', scopes: [], env: 'live' });
    await eventually(async () => (await root(`/v1/audit?key_id=${theirs.id}`)).body.events.length > 0, { what: 'the victim\'s events' });
    const r = await call(`/v1/audit?key_id=${theirs.id}`, { key: auditor.key });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.events, []);
    const all = await call('/v1/audit?limit=1000', { key: auditor.key });
    assert.ok(all.body.events.every((e) => e.owner === 'acme'));
  });

  test('a bounded audit reader reads nothing of its own owner\'s other environments (audit, usage)', async () => {
    const owner = 'acme-envs';
    const auditor = await create({ name: 'auditor', owner, scopes: ['audit:read'], env: 'test' });
    const live = await create({ name: 'live', owner, scopes: [], env: 'live' });
    const mine = await create({ name: 'mine', owner, scopes: [], env: 'test' });
    for (const [k, env] of [[live, 'live'], [mine, 'test']]) {
      const r = await root('/v1/verify', { method: 'POST', body: { key: k.key, env } });
      assert.equal(r.body.code, 'valid', r.text);
    }
    const used = async (id) => (await root(`/v1/audit?key_id=${id}`)).body.events.some((e) => e.action === 'verify');
    await eventually(async () => (await used(live.id)) && used(mine.id), { what: 'both uses in the trail' });
    const trail = (await call('/v1/audit?limit=1000', { key: auditor.key })).body.events;
    assert.ok(trail.some((e) => e.key_id === mine.id), 'its own environment\'s use');
    assert.deepEqual(trail.filter((e) => e.key_id === live.id), [], 'nothing of the live key');
    assert.deepEqual((await call(`/v1/audit?key_id=${live.id}`, { key: auditor.key })).body.events, []);
    const usage = async (query, key) => {
      const r = await call(`/v1/usage?${query}`, { key });
      assert.equal(r.status, 200, r.text);
      return r.body.rows;
    };
    assert.notDeepEqual(await usage(`key_id=${live.id}`, worker.rootKey), [], 'the root key counts the live use');
    assert.deepEqual(await usage(`key_id=${live.id}`, auditor.key), []);
    assert.deepEqual(await usage(`key_id=${live.id}&owner=${owner}`, auditor.key), []);
    assert.notDeepEqual(await usage(`key_id=${mine.id}`, auditor.key), [], 'its own environment\'s use is counted');
  });
});

describe('the gateway matches the path the origin serves', () => {
  let reader;
  let admin;
  before(async () => {
    reader = await create({ name: 'gw reader', owner: 'gw', scopes: ['repos:read'], env: 'live' });
    admin = await create({ name: 'gw admin', owner: 'gw', scopes: ['settings:write', 'repos:read'], env: 'live' });
  });

  test('no spelling of /admin lets a repos:read key through', async () => {
    const before = hits.length;
    for (const path of ['/Admin', '/ADMIN/users', '/%61dmin', '/%41dmin', '//admin', '/admin;x', '/admin%2Fx',
      '/admin%2fx', '/scans/../admin', '/scans/%2e%2e/admin', '/./admin', '/admin%00', '/admin%zz']) {
      const r = await raw(path, { headers: { authorization: `Bearer ${reader.key}` } });
      assert.ok([400, 403].includes(r.status), `${path}: ${r.status} ${r.text}`);
      assert.ok(['invalid_request', 'insufficient_scope'].includes(r.body.error.code), path);
    }
    assert.equal(hits.length, before, 'the origin received nothing');
  });

  test('the origin receives exactly the canonical path that was matched', async () => {
    const r = await raw('/%61dmin/x/./y?q=1', { headers: { authorization: `Bearer ${admin.key}` } });
    assert.equal(r.status, 200, r.text);
    assert.equal(hits.at(-1).url, '/admin/x/y?q=1');
    const sensitive = await raw('/exact', { headers: { authorization: `Bearer ${reader.key}` } });
    assert.equal(sensitive.status, 200, 'a case-sensitive route does not match /exact; the catch-all does');
    const exact = await raw('/Exact', { headers: { authorization: `Bearer ${reader.key}` } });
    assert.equal(exact.body.error.code, 'insufficient_scope');
  });

  test('paths.json over HTTP: what can be sent raw is made canonical or refused', async () => {
    for (const c of load('paths')) {
      // Only what an HTTP client can send as it is (no raw space, backslash or non-ASCII).
      if (!/^\/[\x21-\x5b\x5d-\x7e]*$/.test(c.input) || /\/\.\.?(\/|$)/.test(c.input)) continue;
      const before = hits.length;
      const r = await raw(c.input, { headers: { authorization: `Bearer ${admin.key}` } });
      if (c.error) {
        assert.equal(r.status, 400, `${c.name}: ${r.text}`);
        assert.equal(hits.length, before, c.name);
      } else {
        assert.equal(r.status, 200, `${c.name}: ${r.text}`);
        assert.equal(hits.at(-1).url, c.expect, c.name);
      }
    }
  });

  test('method overrides and any X-Keyward-* header (also spelled with _) are stripped', async () => {
    const r = await raw('/repos', {
      headers: {
        authorization: `Bearer ${reader.key}`,
        'x-http-method-override': 'DELETE',
        'x-method-override': 'DELETE',
        'x-http-method': 'DELETE',
        'x-keyward-owner': 'evil',
        x_keyward_owner: 'evil',
        'x-keyward-scopes': 'admin',
        'x-keyward-anything': 'x',
        'x-trace': 't',
      },
    });
    assert.equal(r.status, 200, r.text);
    const got = hits.at(-1).headers;
    for (const h of Object.keys(got)) {
      assert.ok(!/override|x-http-method/i.test(h), h);
      assert.ok(!/^x[-_]keyward[-_]/i.test(h) || ['x-keyward-key-id', 'x-keyward-owner', 'x-keyward-scopes', 'x-keyward-timestamp', 'x-keyward-signature'].includes(h), h);
    }
    assert.equal(got['x-keyward-owner'], 'gw');
    assert.equal(got['x-keyward-scopes'], 'repos:read');
    assert.equal(got['x-trace'], 't');
  });

  test('an origin redirect goes back to the client, not followed with keyward\'s headers', async () => {
    const r = await raw('/moved', { headers: { authorization: `Bearer ${reader.key}` } });
    assert.equal(r.status, 302);
    assert.match(r.headers.location, /\/stolen$/);
    assert.equal(elsewhereHits.length, 0, 'the redirect target received nothing');
  });

  test('a body over GATEWAY_MAX_BODY is 413 the moment it passes the limit, chunked or not', async () => {
    const before = hits.length;
    const chunk = 'x'.repeat(1024);
    const chunked = await raw('/upload', { method: 'POST', headers: { authorization: `Bearer ${reader.key}` }, chunks: Array(8).fill(chunk) });
    assert.equal(chunked.status, 413, chunked.text);
    assert.equal(chunked.body.error.code, 'payload_too_large');
    await settle();
    const declared = await raw('/upload', { method: 'POST', headers: { authorization: `Bearer ${reader.key}`, 'content-length': String(MAX_BODY + 1) }, chunks: ['x'.repeat(MAX_BODY + 1)] });
    assert.equal(declared.status, 413);
    await settle();
    const ok = await raw('/upload', { method: 'POST', headers: { authorization: `Bearer ${reader.key}` }, chunks: ['x'.repeat(MAX_BODY)] });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(hits.length, before + 1, 'only the body within the limit reached the origin');
    // The management API counts chunked bodies too (64 KiB).
    const big = await raw('/v1/keys', { method: 'POST', headers: { authorization: `Bearer ${worker.rootKey}`, 'content-type': 'application/json' }, chunks: Array(70).fill(chunk) });
    assert.equal(big.status, 413);
    await settle();
  });

  test('the root key is a management credential, not a key of the data plane', async () => {
    const before = hits.length;
    const r = await raw('/repos', { headers: { authorization: `Bearer ${worker.rootKey}` } });
    assert.equal(r.status, 401);
    assert.equal(r.body.error.code, 'unknown_key');
    assert.equal(hits.length, before);
  });
});

describe('environments are checked by default', () => {
  test('a live service verifies live keys; the root key must name the environment', async () => {
    const service = await create({ name: 'svc', owner: 'svc', scopes: ['keys:verify'], env: 'live' });
    const live = await create({ name: 'live', owner: 'svc', scopes: [], env: 'live' });
    const testKey = await create({ name: 'test', owner: 'svc', scopes: [], env: 'test' });
    const as = (key, body) => call('/v1/verify', { method: 'POST', key, body });
    assert.equal((await as(service.key, { key: live.key })).body.code, 'valid');
    assert.equal((await as(service.key, { key: testKey.key })).body.code, 'wrong_environment');
    const r = await as(worker.rootKey, { key: live.key });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'invalid_request');
    assert.equal((await as(worker.rootKey, { key: testKey.key, env: 'test' })).body.code, 'valid');
    assert.equal((await as(service.key, { key: worker.rootKey })).body.code, 'unknown_key', 'the root key is no end user\'s key');
  });
});

describe('audit events are honest and never dropped by size', () => {
  test('context is bounded, and the lifecycle namespace is not a caller\'s to use', async () => {
    const k = await create({ name: 'ctx', owner: 'audit', scopes: [], env: 'live' });
    for (const context of [
      { ip: 'not an ip' }, { ip: '1'.repeat(46) }, { user_agent: 'u'.repeat(513) }, { user_agent: 'a\nb' },
      { action: 'a'.repeat(257) }, { action: 'key.revoke' }, { action: 'key.' }, { action: '' },
    ]) {
      const r = await root('/v1/verify', { method: 'POST', body: { key: k.key, env: 'live', context } });
      assert.equal(r.status, 400, JSON.stringify(context));
      assert.equal(r.body.error.code, 'invalid_request');
    }
    const service = await create({ name: 'svc2', owner: 'audit', scopes: ['keys:verify'], env: 'live' });
    await call('/v1/verify', { method: 'POST', key: service.key, body: { key: k.key, context: { ip: '2001:db8::1', action: 'GET /x' } } });
    const events = await eventually(async () => {
      const e = (await root(`/v1/audit?key_id=${k.id}`)).body.events.filter((x) => x.action === 'GET /x');
      return e.length && e;
    }, { what: 'the service\'s event' });
    assert.equal(events[0].actor, service.id, 'the calling service is the actor');
    assert.equal(events[0].ip, '2001:db8::1');
  });

  test('300 concurrent verifications with maximum-size context all reach D1', async () => {
    const k = await create({ name: 'flood', owner: 'audit', scopes: [], env: 'live' });
    const context = { ip: '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', user_agent: '\u{1F600}'.repeat(512), action: `GET /${'\u{1F600}'.repeat(251)}` };
    const N = 300;
    const answers = await Promise.all(Array.from({ length: N }, () => root('/v1/verify', { method: 'POST', body: { key: k.key, env: 'live', context } })));
    assert.ok(answers.every((a) => a.status === 200 && a.body.code === 'valid'), JSON.stringify(answers.find((a) => a.status !== 200)));
    const stored = await eventually(async () => {
      const n = (await root(`/v1/audit?key_id=${k.id}&limit=1000`)).body.events.filter((e) => e.action === context.action).length;
      return n === N && n;
    }, { ms: 60_000, what: `${N} events in D1` });
    assert.equal(stored, N);
    assert.doesNotMatch(worker.logs(), /audit events were lost/);
  });

  test('the new-IP rule is exact for a key with more IPs than any window, and does not flood', async () => {
    const k = await create({ name: 'busy', owner: 'audit', scopes: [], env: 'live' });
    // 1,200 past uses from 1,200 distinct IPs, a day ago, written as an import would.
    const day = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    worker.d1(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 1199)
      INSERT INTO audit_events (event_id, key_id, hint, owner, action, ip, time, outcome, status)
      SELECT printf('%032x', 9000000 + i), '${k.id}', '${k.hint}', 'audit', 'verify',
        printf('10.%d.%d.1', i / 256, i % 256), '${day}T' || printf('%02d', i % 24) || ':00:00.000Z', 'valid', 200 FROM n`);
    // The 1,200th IP is known: no alert. Then 30 new IPs within the hour: one alert.
    await root('/v1/verify', { method: 'POST', body: { key: k.key, env: 'live', context: { ip: '10.4.175.1' } } });
    for (let i = 0; i < 30; i++) {
      await root('/v1/verify', { method: 'POST', body: { key: k.key, env: 'live', context: { ip: `192.0.2.${i + 1}` } } });
    }
    await eventually(async () => (await root(`/v1/audit?key_id=${k.id}&limit=1000`)).body.events.filter((e) => e.ip?.startsWith('192.0.2.')).length === 30, { what: 'the uses' });
    const alerts = (await root(`/v1/alerts?key_id=${k.id}`)).body.alerts.filter((a) => a.kind === 'new_ip');
    assert.equal(alerts.length, 1, JSON.stringify(alerts));
    assert.match(alerts[0].detail, /192\.0\.2\./, 'the first new IP, not the known one');
    await eventually(() => webhook.some((a) => a.key_id === k.id && a.kind === 'new_ip'), { what: 'the alert at the alert endpoint' });
    assert.equal(webhook.filter((a) => a.key_id === k.id && a.kind === 'new_ip').length, 1, 'posted once');
  });
});

function signed(items) {
  const body = JSON.stringify(items);
  return {
    method: 'POST',
    body,
    headers: {
      'github-public-key-identifier': 'gh-1',
      'github-public-key-signature': sign('sha256', Buffer.from(body), reporter.privateKey).toString('base64'),
    },
  };
}

describe('leak reports', () => {
  test('a leaked root key is recognised, never echoed, and raises a critical alert', async () => {
    const r = await call('/v1/leaks', signed([{ token: worker.rootKey, type: 'keyward_api_key', url: 'https://github.com/o/r/blob/x/.env', source: 'content' }]));
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, [{
      token_hash: createHash('sha256').update(worker.rootKey).digest('hex'),
      token_type: 'keyward_api_key',
      label: 'true_positive',
      revocation: 'replace_root_key',
    }]);
    assert.ok(!r.text.includes(worker.rootKey));
    const alert = await eventually(async () => (await root('/v1/alerts?limit=1000')).body.alerts.find((a) => a.kind === 'root_key_leaked'), { what: 'the alert' });
    assert.equal(alert.severity, 'critical');
    assert.match(alert.detail, /replace it/);
    assert.ok(!JSON.stringify(alert).includes(worker.rootKey));
    await eventually(() => webhook.some((a) => a.kind === 'root_key_leaked'), { what: 'the webhook' });
  });

  test('a signature naming an unknown key is refused before the body is read', async () => {
    // A body over the report limit: read first, it would be 413; checked first, it is 401.
    const headers = { 'github-public-key-identifier': 'nobody', 'github-public-key-signature': 'AAAA', 'content-type': 'application/json' };
    const chunk = 'x'.repeat(64 * 1024);
    const r = await raw('/v1/leaks', { method: 'POST', headers, chunks: Array(17).fill(chunk) });
    assert.equal(r.status, 401, r.text);
    assert.equal(r.body.error.code, 'bad_signature');
    await settle();
    const half = await raw('/v1/leaks', { method: 'POST', headers: { 'github-public-key-identifier': 'gh-1' }, chunks: Array(17).fill(chunk) });
    assert.equal(half.body.error.code, 'bad_signature');
    await settle();
    const known = await raw('/v1/leaks', { method: 'POST', headers: { ...headers, 'github-public-key-identifier': 'gh-1' }, chunks: Array(17).fill(chunk) });
    assert.equal(known.status, 413, 'a known key: the body is read, and refused past the limit');
    await settle();
  });

  test('a 1,000-token report revokes every valid key in it, beyond one request\'s budget', async () => {
    const valid = [];
    for (let i = 0; i < 60; i++) valid.push(await create({ name: `leak-${i}`, owner: 'leaky', scopes: [], env: 'live' }));
    const items = [
      ...valid.map((k) => ({ token: k.key, type: 'keyward_api_key', url: 'https://x/y', source: 'content' })),
      ...Array.from({ length: 940 }, (_, i) => ({ token: i % 2 ? makeKey('sk', 'live') : `junk-${i}`, type: 'keyward_api_key' })),
    ];
    const r = await call('/v1/leaks', signed(items));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.length, 1000);
    const labels = r.body.slice(0, 60);
    assert.ok(labels.every((f) => f.label === 'true_positive'));
    const now = labels.filter((f) => f.revocation === 'revoked').length;
    const queued = labels.filter((f) => f.revocation === 'queued').length;
    assert.equal(now + queued, 60);
    assert.ok(now > 0 && queued > 0, `${now} now, ${queued} queued`);
    assert.ok(r.body.slice(60).every((f) => f.label === 'false_positive'));
    await eventually(async () => {
      const keys = await keysOf('leaky');
      return keys.length === 60 && keys.every((k) => k.revoked_at && k.revocation_reason === 'leaked');
    }, { ms: 60_000, what: 'every leaked key revoked' });
    const alerts = (await root('/v1/alerts?limit=1000')).body.alerts.filter((a) => a.kind === 'leaked' && a.owner === 'leaky');
    assert.equal(alerts.length, 60, 'an alert for each');
  });
});
