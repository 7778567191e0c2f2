// End-to-end: the real Worker under `wrangler dev` (workerd, local KV, Queues, D1), driven
// over HTTP as a user would. Audit events and alerts go through the real queue consumer.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { call as rawCall, eventually, makeKey, startOrigin, startWorker, alertWebhook } from './harness.mjs';

const vectors = (name) => JSON.parse(readFileSync(new URL(`../vectors/${name}.json`, import.meta.url), 'utf8')).cases;

let worker;
let origin;
// A leak-report signing pair, like GitHub's, made for this run.
const reporter = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const reporterPem = reporter.publicKey.export({ type: 'spki', format: 'pem' });
const seen = { created: new Set(), responses: [] };

// Every response is kept so the final test can check that no raw key leaked into one.
async function call(path, opts = {}) {
  const r = await rawCall(worker.url, path, opts);
  seen.responses.push({ path, method: opts.method ?? 'GET', status: r.status, text: r.text, creating: false });
  return r;
}

async function create(body, key = worker.rootKey) {
  const r = await call('/v1/keys', { method: 'POST', key, body });
  assert.equal(r.status, 201, r.text);
  seen.responses.at(-1).creating = true;
  seen.created.add(r.body.key);
  return r.body;
}

// The root key names the environment (it has none of its own).
const verify = (key, extra = {}) => call('/v1/verify', { method: 'POST', key: worker.rootKey, body: { key, env: 'live', ...extra } });

/**
 * The query of the body-less form for the JSON form's options (`context` flattened).
 * @param {{scopes?: string[], env?: string, cost?: number, context?: Record<string, string>}} [options]
 */
function verifyQuery({ scopes = [], env, cost } = {}) {
  const q = new URLSearchParams();
  for (const s of scopes) q.append('scopes', s);
  for (const [name, v] of Object.entries({ env, cost })) if (v !== undefined) q.set(name, String(v));
  return q.size ? `?${q}` : '';
}

/** The JSON form's `context` as the body-less form's headers (never in the URL). */
const contextHeaders = (context = {}) => Object.fromEntries(Object.entries(context)
  .map(([name, v]) => [`keyward-context-${name.replace('_', '-')}`, String(v)]));

// The body-less form: the key in the Keyward-Key header, the options in the query, the
// end user's request in the Keyward-Context-* headers.
/** @type {(key: string, extra?: {scopes?: string[], env?: string, cost?: number, context?: Record<string, string>}, caller?: string) => Promise<any>} */
const verifyInHeader = (key, extra = {}, caller = worker.rootKey) => call(`/v1/verify/header${verifyQuery({ env: 'live', ...extra })}`, {
  method: 'POST', key: caller, headers: { 'keyward-key': key, ...contextHeaders(extra.context) },
});

before(async () => {
  origin = await startOrigin();
  const o = origin.url;
  worker = await startWorker({
    vars: {
      ORIGIN_URL: o,
      ...alertWebhook(`${o}/alerts`),
      LEAK_REPORT_PUBLIC_KEYS: JSON.stringify({ 'test-key-1': reporterPem }),
      ROUTES: JSON.stringify([
        { method: 'GET', path: '/scans*', scope: 'scans:read' },
        { method: 'POST', path: '/scans', scope: 'scans:trigger' },
      ]),
    },
  });
});

after(async () => {
  await worker?.stop();
  origin?.server.close();
});

describe('health and routing', () => {
  test('healthz answers', async () => {
    const r = await call('/healthz');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { ok: true });
  });

  test('unknown API routes are 404 not_found and wrong methods 405', async () => {
    const nf = await call('/v1/nothing', { key: worker.rootKey });
    assert.equal(nf.status, 404);
    assert.equal(nf.body.error.code, 'not_found');
    for (const [method, path] of [['DELETE', '/v1/keys'], ['GET', '/v1/verify'], ['PUT', '/v1/keys/key_0123456789abcdef'], ['GET', '/v1/keys/key_0123456789abcdef/revoke'], ['POST', '/healthz']]) {
      const r = await call(path, { method, key: worker.rootKey });
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.equal(r.body.error.code, 'method_not_allowed');
    }
  });
});

describe('management API', () => {
  test('create returns the key once; later reads never hold it or its hash', async () => {
    const k = await create({ name: 'ci', owner: 'team-ci', scopes: ['scans:read', 'scans:trigger'], env: 'live', metadata: { ticket: 'SEC-1' } });
    assert.match(k.key, /^sk_live_[A-Za-z0-9_-]{49}$/);
    assert.match(k.id, /^key_[A-Za-z0-9]{16}$/);
    assert.equal(k.hint, k.key.slice(0, 12));
    assert.equal(k.hash, undefined);
    assert.deepEqual(k.scopes, ['scans:read', 'scans:trigger']);
    const shown = await call(`/v1/keys/${k.id}`, { key: worker.rootKey });
    assert.equal(shown.status, 200);
    assert.equal(shown.body.id, k.id);
    assert.equal(shown.body.key, undefined);
    assert.equal(shown.body.hash, undefined);
    assert.deepEqual(shown.body.metadata, { ticket: 'SEC-1' });
  });

  test('creation refuses undeclared scopes, bad scopes, unknown environments and bad fields', async () => {
    const cases = [
      [{ name: 'x', owner: 'o', scopes: ['billing:read'], env: 'live' }, 400, 'undeclared_scope'],
      [{ name: 'x', owner: 'o', scopes: ['Scans:Read'], env: 'live' }, 400, 'invalid_scope'],
      [{ name: 'x', owner: 'o', scopes: ['scans:read'], env: 'prod' }, 400, 'unknown_environment'],
      [{ name: '', owner: 'o', scopes: [], env: 'live' }, 400, 'invalid_request'],
      [{ name: 'x', owner: 'o', scopes: 'scans:read', env: 'live' }, 400, 'invalid_request'],
      [{ name: 'x', owner: 'o', scopes: [], env: 'live', expires_in: -5 }, 400, 'invalid_request'],
      [{ name: 'x', owner: 'o', scopes: [], env: 'live', surprise: 1 }, 400, 'invalid_request'],
      [{ owner: 'o', scopes: [], env: 'live' }, 400, 'invalid_request'],
    ];
    for (const [body, status, code] of cases) {
      const r = await call('/v1/keys', { method: 'POST', key: worker.rootKey, body });
      assert.equal(r.status, status, JSON.stringify(body) + r.text);
      assert.equal(r.body.error.code, code, JSON.stringify(body));
      assert.equal(typeof r.body.error.message, 'string');
    }
  });

  test('a key can only grant the scopes it holds', async () => {
    const manager = await create({ name: 'mgr', owner: 'ops', scopes: ['keys:write', 'scans:*'], env: 'live' });
    const ok = await create({ name: 'child', owner: 'ops', scopes: ['scans:read'], env: 'live' }, manager.key);
    assert.deepEqual(ok.scopes, ['scans:read']);
    const r = await call('/v1/keys', { method: 'POST', key: manager.key, body: { name: 'c', owner: 'ops', scopes: ['repos:read'], env: 'live' } });
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, 'scope_not_held');
    const admin = await call('/v1/keys', { method: 'POST', key: manager.key, body: { name: 'c', owner: 'ops', scopes: ['admin'], env: 'live' } });
    assert.equal(admin.body.error.code, 'scope_not_held');
  });

  test('management calls refuse bad credentials with RFC 6750 challenges', async () => {
    const reader = await create({ name: 'reader', owner: 'ops', scopes: ['keys:read'], env: 'live' });
    const live = vectors('parse').find((c) => c.name === 'live key').input;
    /** @type {Array<[any, number, string, RegExp]>} */
    const cases = [
      [{}, 401, 'missing_key', /^Bearer realm="keyward"$/],
      [{ key: 'not-a-key' }, 401, 'malformed', /error="invalid_token"/],
      [{ key: live.slice(0, -1) + (live.at(-1) === 'B' ? 'C' : 'B') }, 401, 'bad_checksum', /error="invalid_token"/],
      [{ key: makeKey('sk', 'live') }, 401, 'unknown_key', /error="invalid_token"/],
      [{ key: reader.key }, 403, 'insufficient_scope', /error="insufficient_scope".*scope="keys:write"/],
      [{ headers: { authorization: `Basic ${reader.key}` } }, 401, 'missing_key', /^Bearer realm="keyward"$/],
      [{ key: reader.key, headers: { 'x-api-key': reader.key } }, 400, 'invalid_request', /invalid_request/],
    ];
    for (const [opts, status, code, challenge] of cases) {
      const r = await call('/v1/keys', { method: 'POST', body: { name: 'x', owner: 'o', scopes: [], env: 'live' }, ...opts });
      assert.equal(r.status, status, `${code}: ${r.text}`);
      assert.equal(r.body.error.code, code);
      assert.match(r.headers.get('www-authenticate') ?? '', challenge, code);
    }
    const insufficient = await call('/v1/keys', { method: 'POST', key: reader.key, body: { name: 'x', owner: 'o', scopes: [], env: 'live' } });
    assert.equal(insufficient.body.error.message, "This API key does not have the 'keys:write' scope");
    const viaHeader = await call('/v1/keys?limit=1', { headers: { 'x-api-key': reader.key } });
    assert.equal(viaHeader.status, 200, 'X-API-Key works as well as Bearer');
    const lowercase = await call('/v1/keys?limit=1', { headers: { authorization: `bearer ${reader.key}` } });
    assert.equal(lowercase.status, 200, 'the scheme is case-insensitive');
  });

  test('list filters by owner and env and pages with a cursor', async () => {
    const owner = `pager-${Date.now()}`;
    const made = [];
    for (let i = 0; i < 5; i++) made.push((await create({ name: `k${i}`, owner, scopes: [], env: i < 3 ? 'test' : 'dev' })).id);
    const ids = [];
    let cursor = '';
    let pages = 0;
    do {
      const page = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const r = await call(`/v1/keys?owner=${owner}&limit=2${page}`, { key: worker.rootKey });
      assert.equal(r.status, 200, r.text);
      assert.ok(r.body.keys.length <= 2);
      for (const k of r.body.keys) {
        assert.equal(k.owner, owner);
        assert.equal(k.key, undefined);
        assert.equal(k.hash, undefined);
        ids.push(k.id);
      }
      cursor = r.body.cursor;
      pages++;
    } while (cursor && pages < 10);
    assert.deepEqual(ids.sort(), [...made].sort());
    assert.ok(pages >= 3);
    const dev = await call(`/v1/keys?owner=${owner}&env=dev`, { key: worker.rootKey });
    assert.equal(dev.body.keys.length, 2);
    assert.ok(dev.body.keys.every((k) => k.env === 'dev'));
    const bad = await call('/v1/keys?limit=1000', { key: worker.rootKey });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'invalid_request');
    // A cursor this API did not give names no page; the store is not asked.
    for (const forged of ['AAAAAAAAAAAA', 'not-a-cursor', '%C3%BC%C2%86']) {
      for (const path of [`/v1/keys?owner=${owner}&cursor=${forged}`, `/v1/migrate?cursor=${forged}`]) {
        const f = await call(path, { key: worker.rootKey, method: path.startsWith('/v1/migrate') ? 'POST' : 'GET' });
        assert.equal(f.status, 404, path);
        assert.equal(f.body.error.code, 'not_found');
      }
    }
    const empty = await call(`/v1/keys?owner=${owner}&cursor=`, { key: worker.rootKey });
    assert.equal(empty.status, 400, 'a parameter without a value is refused');
  });

  test('show answers 404 for unknown or invalid ids', async () => {
    for (const id of ['key_0000000000000000', 'nope', 'key_%00']) {
      const r = await call(`/v1/keys/${id}`, { key: worker.rootKey });
      assert.equal(r.status, 404, id);
      assert.equal(r.body.error.code, 'not_found');
    }
  });
});

describe('verification', () => {
  test('every verification code through /v1/verify', async () => {
    const k = await create({ name: 'v', owner: 'verify', scopes: ['scans:read'], env: 'live' });
    const short = await create({ name: 'short', owner: 'verify', scopes: [], env: 'live', expires_in: 1 });
    const gone = await create({ name: 'gone', owner: 'verify', scopes: [], env: 'live' });
    await call(`/v1/keys/${gone.id}/revoke`, { method: 'POST', key: worker.rootKey, body: { reason: 'test' } });
    await new Promise((r) => setTimeout(r, 1100));
    const live = vectors('parse').find((c) => c.name === 'live key').input;
    const expectations = [
      [k.key, { scopes: ['scans:read'] }, 'valid'],
      [k.key, { scopes: ['scans:trigger'] }, 'insufficient_scope'],
      [k.key, { env: 'test' }, 'wrong_environment'],
      [short.key, {}, 'expired'],
      [gone.key, {}, 'revoked'],
      [makeKey('sk', 'live'), {}, 'unknown_key'],
      [live.slice(0, 20) + (live[20] === 'B' ? 'C' : 'B') + live.slice(21), {}, 'bad_checksum'],
      ['sk_live_', {}, 'malformed'],
      ['x'.repeat(10_000), {}, 'malformed'],
    ];
    for (const [key, extra, code] of expectations) {
      const r = await verify(key, extra);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.code, code, `${code}: ${r.text}`);
      assert.equal(r.body.valid, code === 'valid');
    }
    const ok = await verify(k.key, { scopes: ['scans:read'] });
    assert.equal(ok.body.key_id, k.id);
    assert.equal(ok.body.owner, 'verify');
    assert.deepEqual(ok.body.scopes, ['scans:read']);
    const missing = await verify(k.key, { scopes: ['scans:trigger'] });
    assert.equal(missing.body.message, "This API key does not have the 'scans:trigger' scope");
  });

  test('every parse vector gets its code from the Worker', async () => {
    for (const c of vectors('parse')) {
      if (typeof c.input !== 'string') continue;
      const r = await verify(c.input);
      assert.equal(r.status, 200, c.name);
      assert.equal(r.body.code, c.error ? c.error.code : 'unknown_key', c.name);
    }
  });

  test('bad verify requests are 4xx with a code, never 5xx', async () => {
    /** @type {Array<[any, number, string]>} */
    const cases = [
      [{ body: '{"key": ' }, 400, 'invalid_request'],
      [{ body: '[]' }, 400, 'invalid_request'],
      [{ body: { key: 42 } }, 400, 'invalid_request'],
      [{ body: { key: 'x', scopes: [1] } }, 400, 'invalid_request'],
      [{ body: { key: 'x', scopes: ['NOT A SCOPE'] } }, 400, 'invalid_scope'],
      [{ body: 'key=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415, 'unsupported_media_type'],
      [{ body: JSON.stringify({ key: 'x'.repeat(200_000) }) }, 413, 'payload_too_large'],
      [{}, 400, 'invalid_request'],
    ];
    for (const [opts, status, code] of cases) {
      const r = await call('/v1/verify', { method: 'POST', key: worker.rootKey, ...opts });
      assert.equal(r.status, status, `${code}: ${r.text}`);
      assert.equal(r.body.error.code, code);
    }
  });
});

describe('verification with the key in a header', () => {
  test('every verification code, the same answer and the same audit event as the JSON form', async () => {
    const k = await create({ name: 'vh', owner: 'verify', scopes: ['scans:read'], env: 'live' });
    const short = await create({ name: 'short-h', owner: 'verify', scopes: [], env: 'live', expires_in: 1 });
    const gone = await create({ name: 'gone-h', owner: 'verify', scopes: [], env: 'live' });
    const fenced = await create({ name: 'fenced-h', owner: 'verify', scopes: [], env: 'live', allowed_ips: ['192.0.2.0/24'] });
    await call(`/v1/keys/${gone.id}/revoke`, { method: 'POST', key: worker.rootKey, body: { reason: 'test' } });
    await new Promise((r) => setTimeout(r, 1100));
    const live = vectors('parse').find((c) => c.name === 'live key').input;
    const expectations = [
      [k.key, { scopes: ['scans:read'], context: { ip: '198.51.100.7', user_agent: 'svc/2' } }, 'valid'],
      [k.key, { scopes: ['scans:read', 'scans:trigger'] }, 'insufficient_scope'],
      [k.key, { env: 'test' }, 'wrong_environment'],
      [short.key, {}, 'expired'],
      [gone.key, {}, 'revoked'],
      [makeKey('sk', 'live'), {}, 'unknown_key'],
      [live.slice(0, 20) + (live[20] === 'B' ? 'C' : 'B') + live.slice(21), {}, 'bad_checksum'],
      ['sk_live_', {}, 'malformed'],
      // An over-long header (within the platform's header limit): the JSON form's verdict.
      ['x'.repeat(60_000), {}, 'malformed'],
      [fenced.key, { context: { ip: '203.0.113.9' } }, 'ip_not_allowed'],
      [fenced.key, { context: { ip: '192.0.2.9' } }, 'valid'],
    ];
    for (const [i, [key, extra, code]] of expectations.entries()) {
      const json = await verify(key, { ...extra, context: { ...extra.context, action: `GET /json/${i}` } });
      const header = await verifyInHeader(key, { ...extra, context: { ...extra.context, action: `GET /header/${i}` } });
      assert.equal(json.body.code, code, `${code}: ${json.text}`);
      assert.equal(header.status, 200, header.text);
      assert.deepEqual(header.body, json.body, `${code}: the same answer`);
      for (const name of ['content-type', 'cache-control', 'x-content-type-options']) assert.equal(header.headers.get(name), json.headers.get(name), name);
    }
    // Counted keys, a pair made alike, one per form: the same counts and the same refusals.
    /** @type {Array<[object, {cost?: number}, string[]]>} */
    const counted = [
      [{ rate_limits: [{ name: 'hour', limit: 2, period: '1h' }] }, {}, ['valid', 'valid', 'rate_limited']],
      [{ credits: { remaining: 5 } }, { cost: 2 }, ['valid', 'valid', 'usage_exceeded']],
    ];
    for (const [spec, extra, codes] of counted) {
      const pair = [];
      for (const form of ['json', 'header']) pair.push(await create({ name: `counted-${form}`, owner: 'verify', scopes: [], env: 'live', ...spec }));
      for (const code of codes) {
        const json = await verify(pair[0].key, extra);
        const header = await verifyInHeader(pair[1].key, extra);
        const comparable = (b) => ({
          ...b, key_id: undefined, hint: undefined, retry_after: b.retry_after > 0,
          ratelimits: b.ratelimits?.map(({ reset_at, ...l }) => l),
        });
        assert.equal(json.body.code, code, json.text);
        assert.deepEqual(comparable(header.body), comparable(json.body), `${code}: ${header.text} ${json.text}`);
      }
    }
    // Each use is logged once, the same event whichever form carried the key.
    const events = await eventually(async () => {
      const e = (await auditFor(k.id)).filter((x) => /^GET \/(json|header)\//.test(x.action));
      return e.length === 6 && e;
    }, { what: "the header form's audit events" });
    const strip = ({ event_id, time, action, ...rest }) => rest;
    for (const i of [0, 1, 2]) {
      const j = events.find((e) => e.action === `GET /json/${i}`);
      const h = events.find((e) => e.action === `GET /header/${i}`);
      assert.ok(j && h, JSON.stringify(events));
      assert.deepEqual(strip(h), strip(j));
      assert.ok(!JSON.stringify(h).includes(k.key));
    }
    assert.equal(events.find((e) => e.action === 'GET /header/0').ip, '198.51.100.7');
  });

  test('a second key, a key in the URL or a bad query is refused, naming what, and nothing is counted', async () => {
    const counted = await create({ name: 'counted-h', owner: 'verify', scopes: [], env: 'live', credits: { remaining: 100 } });
    const remaining = async () => (await call(`/v1/keys/${counted.id}`, { key: worker.rootKey })).body.credits.remaining;
    assert.equal(await remaining(), 100);
    const root = worker.rootKey;
    const inHeader = { 'keyward-key': counted.key };
    const chunked = () => new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode(JSON.stringify({ key: counted.key, env: 'live' }))); c.close(); } });
    /** @type {Array<[string, () => Promise<any>, number, string, RegExp]>} */
    const refusals = [
      ['the header and a JSON body', () => call('/v1/verify/header?env=live', { method: 'POST', key: root, headers: inHeader, body: { key: counted.key, env: 'live' } }), 400, 'invalid_request', /takes no body/],
      ['the header and a text body', () => call('/v1/verify/header?env=live', { method: 'POST', key: root, headers: { ...inHeader, 'content-type': 'text/plain' }, body: 'x' }), 400, 'invalid_request', /takes no body/],
      ['the header and a chunked body', async () => {
        const r = await fetch(`${worker.url}/v1/verify/header?env=live`, { method: 'POST', headers: { authorization: `Bearer ${root}`, ...inHeader }, body: chunked(), .../** @type {any} */ ({ duplex: 'half' }) });
        const text = await r.text();
        seen.responses.push({ path: '/v1/verify/header', method: 'POST', status: r.status, text, creating: false });
        return { status: r.status, body: JSON.parse(text), text };
      }, 400, 'invalid_request', /takes no body/],
      ['the header beside the JSON form\'s body', () => call('/v1/verify', { method: 'POST', key: root, headers: inHeader, body: { key: counted.key, env: 'live' } }), 400, 'invalid_request', /Keyward-Key header belongs to POST \/v1\/verify\/header/],
      ['the key in the query instead of the header', () => call(`/v1/verify/header?env=live&key=${encodeURIComponent(counted.key)}`, { method: 'POST', key: root, headers: { 'keyward-key': 'sk_live_' } }), 400, 'invalid_request', /^'key' may not be in the URL/],
      ['the key in the query with no header', () => call(`/v1/verify/header?key=${encodeURIComponent(counted.key)}&env=live`, { method: 'POST', key: root }), 400, 'invalid_request', /Keyward-Key header .* is required|^'key' may not be in the URL/],
      ['the key in the query of the JSON form', () => call(`/v1/verify?key=${encodeURIComponent(counted.key)}`, { method: 'POST', key: root, body: { key: counted.key, env: 'live' } }), 400, 'invalid_request', /^'key' may not be in the URL/],
      ['the key as a query parameter\'s name', () => call(`/v1/verify/header?env=live&${encodeURIComponent(counted.key)}`, { method: 'POST', key: root, headers: inHeader }), 400, 'invalid_request', /^unknown query parameter/],
      ['a query on the JSON form', () => call('/v1/verify?env=live', { method: 'POST', key: root, body: { key: counted.key, env: 'live' } }), 400, 'invalid_request', /takes no query parameters/],
      ['no header', () => call('/v1/verify/header?env=live', { method: 'POST', key: root }), 400, 'invalid_request', /Keyward-Key header .* is required/],
      ['env twice', () => call('/v1/verify/header?env=live&env=live', { method: 'POST', key: root, headers: inHeader }), 400, 'invalid_request', /^'env' is given twice/],
      ['a bad env', () => call('/v1/verify/header?env=LIVE', { method: 'POST', key: root, headers: inHeader }), 400, 'invalid_request', /^'env' must be/],
      ['cost 0', () => call('/v1/verify/header?env=live&cost=0', { method: 'POST', key: root, headers: inHeader }), 400, 'invalid_request', /^'cost' must be 1 to 1000/],
      ['cost not a number', () => call('/v1/verify/header?env=live&cost=1e3', { method: 'POST', key: root, headers: inHeader }), 400, 'invalid_request', /^'cost' must be a whole number/],
      ['cost empty', () => call('/v1/verify/header?env=live&cost=', { method: 'POST', key: root, headers: inHeader }), 400, 'invalid_request', /^'cost' has no value/],
      ['a bad ip', () => call('/v1/verify/header?env=live', { method: 'POST', key: root, headers: { ...inHeader, 'keyward-context-ip': '300.1.1.1' } }), 400, 'invalid_request', /^'Keyward-Context-Ip' must be an IPv4 or IPv6 address/],
      ['two ips', () => call('/v1/verify/header?env=live', { method: 'POST', key: root, headers: new Headers([['keyward-key', counted.key], ['keyward-context-ip', '192.0.2.1'], ['keyward-context-ip', '192.0.2.2']]) }), 400, 'invalid_request', /^'Keyward-Context-Ip' must be an IPv4 or IPv6 address/],
      ['a user agent past ASCII (the runtime reads header bytes as UTF-8)', () => call('/v1/verify/header?env=live', { method: 'POST', key: root, headers: { ...inHeader, 'keyward-context-user-agent': 'caf\u00e9' } }), 400, 'invalid_request', /^'Keyward-Context-User-Agent' must be printable ASCII/],
      ['an empty user agent', () => call('/v1/verify/header?env=live', { method: 'POST', key: root, headers: { ...inHeader, 'keyward-context-user-agent': '' } }), 400, 'invalid_request', /^'Keyward-Context-User-Agent' has no value/],
      ['a reserved action', () => call('/v1/verify/header?env=live', { method: 'POST', key: root, headers: { ...inHeader, 'keyward-context-action': 'KEY.revoke' } }), 400, 'invalid_request', /^'Keyward-Context-Action' may not start with/],
      ['the end user\'s ip in the URL', () => call('/v1/verify/header?env=live&ip=192.0.2.1', { method: 'POST', key: root, headers: inHeader }), 400, 'invalid_request', /^'ip' goes in the Keyward-Context-Ip header, not the URL/],
      ['the user agent in the URL', () => call('/v1/verify/header?env=live&user_agent=curl', { method: 'POST', key: root, headers: inHeader }), 400, 'invalid_request', /^'user_agent' goes in the Keyward-Context-User-Agent header/],
      ['a context header beside the JSON form\'s body', () => call('/v1/verify', { method: 'POST', key: root, headers: { 'keyward-context-ip': '192.0.2.1' }, body: { key: counted.key, env: 'live' } }), 400, 'invalid_request', /Keyward-Context-\* headers belong to POST \/v1\/verify\/header/],
      ['a bad scope', () => call('/v1/verify/header?env=live&scopes=NOT%20A%20SCOPE', { method: 'POST', key: root, headers: inHeader }), 400, 'invalid_scope', /scope/],
      ['65 scopes', () => call(`/v1/verify/header?env=live${'&scopes=a:b'.repeat(65)}`, { method: 'POST', key: root, headers: inHeader }), 400, 'invalid_request', /^'scopes' may list at most 64/],
      ['an unknown parameter', () => call('/v1/verify/header?env=live&context.ip=192.0.2.1', { method: 'POST', key: root, headers: inHeader }), 400, 'invalid_request', /^unknown query parameter; \/v1\/verify\/header takes scopes, env, cost \(the end user's request in the Keyward-Context-Ip, Keyward-Context-User-Agent, Keyward-Context-Action headers\)$/],
      ['GET', () => call('/v1/verify/header?env=live', { key: root, headers: inHeader }), 405, 'method_not_allowed', /allows POST/],
    ];
    for (const [what, send, status, code, message] of refusals) {
      const r = await send();
      assert.equal(r.status, status, `${what}: ${r.text}`);
      assert.equal(r.body.error.code, code, `${what}: ${r.text}`);
      assert.match(r.body.error.message, message, what);
      assert.ok(!r.text.includes(counted.key), `${what}: the key is not echoed`);
    }
    // A header past the platform's own limit is refused by workerd before the Worker runs.
    const huge = await fetch(`${worker.url}/v1/verify/header?env=live`, { method: 'POST', headers: { authorization: `Bearer ${root}`, 'keyward-key': counted.key + 'x'.repeat(200_000) } });
    assert.equal(huge.status, 431, await huge.text());
    assert.equal(await remaining(), 100, 'nothing was counted');
    // The same key through the header form, accepted: counted once.
    const ok = await verifyInHeader(counted.key);
    assert.equal(ok.body.code, 'valid', ok.text);
    assert.deepEqual(ok.body.credits, { remaining: 99 });
    assert.equal(await remaining(), 99);
  });

  test('a caller without keys:verify, or of another environment, is refused and nothing is counted', async () => {
    const counted = await create({ name: 'counted-h2', owner: 'verify', scopes: [], env: 'live', credits: { remaining: 10 } });
    const remaining = async () => (await call(`/v1/keys/${counted.id}`, { key: worker.rootKey })).body.credits.remaining;
    const reader = await create({ name: 'no-verify', owner: 'verify', scopes: ['keys:read', 'keys:write'], env: 'live' });
    const tester = await create({ name: 'test-verifier', owner: 'verify', scopes: ['keys:verify'], env: 'test' });
    const revokedSvc = await create({ name: 'revoked-verifier', owner: 'verify', scopes: ['keys:verify'], env: 'live' });
    await call(`/v1/keys/${revokedSvc.id}/revoke`, { method: 'POST', key: worker.rootKey, body: { reason: 'test' } });
    const cases = [
      ['no keys:verify', reader.key, { env: 'live' }, 403, 'insufficient_scope'],
      ['a verifier of another environment naming this one', tester.key, { env: 'live' }, 403, 'forbidden'],
      ['a revoked verifier', revokedSvc.key, { env: 'live' }, 401, 'revoked'],
      ['no credential', undefined, { env: 'live' }, 401, 'missing_key'],
      // The end user's key as the caller's own credential: it holds no keys:verify.
      ['the verified key as the caller', counted.key, { env: 'live' }, 403, 'insufficient_scope'],
    ];
    for (const [what, caller, extra, status, code] of cases) {
      const header = await call(`/v1/verify/header${verifyQuery(extra)}`, { method: 'POST', key: caller, headers: { 'keyward-key': counted.key } });
      const json = await call('/v1/verify', { method: 'POST', key: caller, body: { key: counted.key, ...extra } });
      assert.equal(header.status, status, `${what}: ${header.text}`);
      assert.equal(header.body.error.code, code, `${what}: ${header.text}`);
      assert.deepEqual(header.body, json.body, `${what}: as the JSON form`);
      assert.ok(!header.text.includes(counted.key));
    }
    // The verifier of another environment, its own by default: a verdict, not a use.
    const own = await call('/v1/verify/header', { method: 'POST', key: tester.key, headers: { 'keyward-key': counted.key } });
    assert.equal(own.status, 200, own.text);
    assert.equal(own.body.code, 'wrong_environment');
    assert.equal(await remaining(), 10, 'nothing was counted');
  });
});

describe('revocation and rotation', () => {
  test('revocation takes effect on the next request and keeps the record', async () => {
    const k = await create({ name: 'r', owner: 'rev', scopes: [], env: 'live' });
    assert.equal((await verify(k.key)).body.code, 'valid');
    const r = await call(`/v1/keys/${k.id}/revoke`, { method: 'POST', key: worker.rootKey, body: { reason: 'compromised' } });
    assert.equal(r.status, 200, r.text);
    assert.ok(r.body.revoked_at);
    assert.equal(r.body.revoked_by, 'root');
    assert.equal(r.body.revocation_reason, 'compromised');
    assert.equal((await verify(k.key)).body.code, 'revoked');
    const kept = await call(`/v1/keys/${k.id}`, { key: worker.rootKey });
    assert.equal(kept.status, 200);
    assert.equal(kept.body.revocation_reason, 'compromised');
    const again = await call(`/v1/keys/${k.id}/revoke`, { method: 'POST', key: worker.rootKey, body: { reason: 'other' } });
    assert.equal(again.body.revocation_reason, 'compromised', 'the first revocation stands');
    const rotate = await call(`/v1/keys/${k.id}/rotate`, { method: 'POST', key: worker.rootKey, body: { grace_seconds: 0 } });
    assert.equal(rotate.status, 409);
    assert.equal(rotate.body.error.code, 'conflict');
  });

  test('rotation with a grace period keeps both keys working, then only the new one', async () => {
    const old = await create({ name: 'rot', owner: 'rot', scopes: ['scans:read'], env: 'live' });
    const r = await call(`/v1/keys/${old.id}/rotate`, { method: 'POST', key: worker.rootKey, body: { grace_seconds: 2 } });
    assert.equal(r.status, 201, r.text);
    seen.responses.at(-1).creating = true;
    seen.created.add(r.body.key);
    assert.notEqual(r.body.key, old.key);
    assert.equal(r.body.rotated_from, old.id);
    assert.equal(r.body.previous.id, old.id);
    assert.deepEqual(r.body.scopes, ['scans:read']);
    const oldRecord = (await call(`/v1/keys/${old.id}`, { key: worker.rootKey })).body;
    assert.equal(oldRecord.rotated_to, r.body.id);
    assert.equal((await verify(old.key, { scopes: ['scans:read'] })).body.code, 'valid');
    assert.equal((await verify(r.body.key, { scopes: ['scans:read'] })).body.code, 'valid');
    await new Promise((res) => setTimeout(res, 2100));
    assert.equal((await verify(old.key)).body.code, 'expired');
    assert.equal((await verify(r.body.key)).body.code, 'valid');
    const twice = await call(`/v1/keys/${old.id}/rotate`, { method: 'POST', key: worker.rootKey, body: {} });
    assert.equal(twice.status, 409);
  });

  test('rotation without grace ends the old key at once', async () => {
    const old = await create({ name: 'rot0', owner: 'rot', scopes: [], env: 'live' });
    const r = await call(`/v1/keys/${old.id}/rotate`, { method: 'POST', key: worker.rootKey, body: { grace_seconds: 0 } });
    assert.equal(r.status, 201);
    seen.responses.at(-1).creating = true;
    seen.created.add(r.body.key);
    assert.equal((await verify(old.key)).body.code, 'expired');
    assert.equal((await verify(r.body.key)).body.code, 'valid');
    const bad = await call(`/v1/keys/${r.body.id}/rotate`, { method: 'POST', key: worker.rootKey, body: { grace_seconds: 'soon' } });
    assert.equal(bad.status, 400);
  });

  test('an optional body is absent or JSON: anything else (a form feed, text) is refused and nothing changes', async () => {
    const k = await create({ name: 'optional body', owner: 'bodies', scopes: [], env: 'live' });
    for (const path of [`/v1/keys/${k.id}/revoke`, `/v1/keys/${k.id}/rotate`]) {
      for (const body of ['\f', '\v', 'revoke', '\u00a0']) {
        const r = await call(path, { method: 'POST', key: worker.rootKey, body, headers: { 'content-type': 'application/json' } });
        assert.equal(r.status, 400, `${path} ${JSON.stringify(body)}: ${r.text}`);
        assert.equal(r.body.error.code, 'invalid_request');
      }
    }
    const after = await call(`/v1/keys/${k.id}`, { key: worker.rootKey });
    assert.equal(after.body.status, 'active');
    assert.equal(after.body.rotated_to, null);
    // JSON's own white space is no body: the defaults apply.
    const r = await call(`/v1/keys/${k.id}/revoke`, { method: 'POST', key: worker.rootKey, body: ' \r\n\t', headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.revocation_reason, 'unspecified');
  });

  test('a required body that is absent or JSON white space only is refused and nothing changes', async () => {
    const k = await create({ name: 'required body', owner: 'bodies-required', scopes: [], env: 'live' });
    const json = { 'content-type': 'application/json' };
    for (const [method, path] of [['POST', '/v1/keys'], ['PATCH', `/v1/keys/${k.id}`]]) {
      const none = await call(path, { method, key: worker.rootKey, body: '', headers: json });
      assert.equal(none.status, 400, `${method} ${path}: ${none.text}`);
      assert.equal(none.body.error.code, 'invalid_request');
      assert.equal(none.body.error.message, 'a JSON request body is required');
      const blank = await call(path, { method, key: worker.rootKey, body: ' \r\n\t', headers: json });
      assert.equal(blank.status, 400, `${method} ${path}: ${blank.text}`);
      assert.equal(blank.body.error.code, 'invalid_request');
      assert.match(blank.body.error.message, /^the request body is not valid JSON \(line 2, column 1\)$/);
    }
    const listed = await call('/v1/keys?owner=bodies-required', { key: worker.rootKey });
    assert.deepEqual(listed.body.keys.map((key) => key.id), [k.id]);
    const after = await call(`/v1/keys/${k.id}`, { key: worker.rootKey });
    assert.equal(after.body.name, 'required body');
  });
});

describe('gateway', () => {
  test('forwards checked requests without the credential, with the key identity', async () => {
    const k = await create({ name: 'gw', owner: 'gw-owner', scopes: ['scans:read'], env: 'live' });
    const before = origin.hits.length;
    const r = await call('/scans/42?full=1', { key: k.key, headers: { 'x-keyward-owner': 'spoofed', 'x-trace': 't1' } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { origin: true, path: '/scans/42?full=1' });
    assert.equal(origin.hits.length, before + 1);
    const hit = origin.hits.at(-1);
    assert.equal(hit.headers.authorization, undefined);
    assert.equal(hit.headers['x-api-key'], undefined);
    assert.equal(hit.headers['x-keyward-key-id'], k.id);
    assert.equal(hit.headers['x-keyward-owner'], 'gw-owner');
    assert.equal(hit.headers['x-keyward-scopes'], 'scans:read');
    assert.equal(hit.headers['x-trace'], 't1');
    const viaHeader = await call('/scans', { headers: { 'x-api-key': k.key } });
    assert.equal(viaHeader.status, 200);
  });

  test('forwards bodies of scoped writes', async () => {
    const k = await create({ name: 'gw-w', owner: 'gw', scopes: ['scans:trigger'], env: 'live' });
    const r = await call('/scans', { method: 'POST', key: k.key, body: { target: 'repo' } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(JSON.parse(origin.hits.at(-1).body), { target: 'repo' });
  });

  test('refusals follow RFC 6750 and never reach the origin', async () => {
    const k = await create({ name: 'gw2', owner: 'gw', scopes: ['scans:read'], env: 'live' });
    const testKey = await create({ name: 'gw3', owner: 'gw', scopes: ['scans:read'], env: 'test' });
    const revoked = await create({ name: 'gw4', owner: 'gw', scopes: ['scans:read'], env: 'live' });
    await call(`/v1/keys/${revoked.id}/revoke`, { method: 'POST', key: worker.rootKey, body: { reason: 'x' } });
    const before = origin.hits.length;
    /** @type {Array<[any, number, string]>} */
    const cases = [
      [{ path: '/scans' }, 401, 'missing_key'],
      [{ path: '/scans', key: 'x'.repeat(10_000) }, 401, 'malformed'],
      [{ path: '/scans', key: makeKey('sk', 'live') }, 401, 'unknown_key'],
      [{ path: '/scans', key: revoked.key }, 401, 'revoked'],
      [{ path: '/scans', key: testKey.key }, 401, 'wrong_environment'],
      [{ path: '/scans', method: 'POST', key: k.key, body: {} }, 403, 'insufficient_scope'],
      [{ path: '/settings', key: k.key }, 404, 'not_found'],
    ];
    for (const [{ path, ...opts }, status, code] of cases) {
      const r = await call(path, opts);
      assert.equal(r.status, status, `${code}: ${r.text}`);
      assert.equal(r.body.error.code, code);
      if (status === 401 || status === 403 || (status === 400 && code === 'malformed')) {
        assert.match(r.headers.get('www-authenticate'), /^Bearer realm="keyward"/, code);
      }
    }
    const insufficient = await call('/scans', { method: 'POST', key: k.key, body: {} });
    assert.match(insufficient.headers.get('www-authenticate'), /scope="scans:trigger"/);
    assert.equal(origin.hits.length, before, 'no refused request reached the origin');
  });
});

/** @param {any} items @param {{keyId?: string, tamper?: 'body' | 'signature'}} [options] */
function signed(items, { keyId = 'test-key-1', tamper } = {}) {
  const body = JSON.stringify(items);
  const signature = sign('sha256', Buffer.from(body), reporter.privateKey).toString('base64');
  return {
    method: 'POST',
    body: tamper === 'body' ? body.replace('"type"', '"type" ') : body,
    headers: {
      'github-public-key-identifier': keyId,
      'github-public-key-signature': tamper === 'signature' ? signature.slice(0, 10) + (signature[10] === 'A' ? 'B' : 'A') + signature.slice(11) : signature,
    },
  };
}

describe('leak reports', () => {
  test('a signed GitHub report revokes every valid key in it and answers feedback', async () => {
    const k = await create({ name: 'leaky', owner: 'leaks', scopes: [], env: 'live' });
    const unknown = makeKey('sk', 'live');
    const items = [
      { token: k.key, type: 'keyward_api_key', url: 'https://github.com/o/r/blob/abc/app.js#L3', source: 'content' },
      { token: unknown, type: 'keyward_api_key', url: 'https://github.com/o/r/blob/abc/x', source: 'content' },
      { token: 'sk_live_not_a_key', type: 'keyward_api_key', url: 'u', source: 'content' },
    ];
    const r = await call('/v1/leaks', signed(items));
    assert.equal(r.status, 200, r.text);
    const sha = (s) => createHash('sha256').update(s).digest('hex');
    assert.deepEqual(r.body, [
      { token_hash: sha(k.key), token_type: 'keyward_api_key', label: 'true_positive', revocation: 'revoked' },
      { token_hash: sha(unknown), token_type: 'keyward_api_key', label: 'false_positive' },
      { token_hash: sha('sk_live_not_a_key'), token_type: 'keyward_api_key', label: 'false_positive' },
    ]);
    assert.equal((await verify(k.key)).body.code, 'revoked');
    const record = (await call(`/v1/keys/${k.id}`, { key: worker.rootKey })).body;
    assert.equal(record.revocation_reason, 'leaked');
    assert.equal(record.revoked_by, 'github-secret-scanning');
    const alerts = (await call(`/v1/alerts?key_id=${k.id}`, { key: worker.rootKey })).body.alerts;
    const leaked = alerts.find((a) => a.kind === 'leaked');
    assert.match(leaked.detail, /app\.js#L3/);
    assert.ok(!leaked.detail.includes(k.key));
  });

  test('a tampered body or signature, or an unknown signing key, changes nothing', async () => {
    const k = await create({ name: 'safe', owner: 'leaks', scopes: [], env: 'live' });
    const items = [{ token: k.key, type: 'keyward_api_key', url: 'u', source: 'content' }];
    for (const opts of /** @type {Array<{keyId?: string, tamper?: 'body' | 'signature'}>} */ ([{ tamper: 'body' }, { tamper: 'signature' }, { keyId: 'unknown-key' }])) {
      const r = await call('/v1/leaks', signed(items, opts));
      assert.equal(r.status, 401, JSON.stringify(opts) + r.text);
      assert.equal(r.body.error.code, 'bad_signature');
    }
    const half = signed(items);
    delete half.headers['github-public-key-signature'];
    assert.equal((await call('/v1/leaks', half)).body.error.code, 'bad_signature');
    assert.equal((await verify(k.key)).body.code, 'valid', 'nothing was revoked');
  });

  test('a keys:write key may report leaks; others may not', async () => {
    const k = await create({ name: 'found-by-scan', owner: 'leaks', scopes: [], env: 'live' });
    const scanner = await create({ name: 'scanner', owner: 'sec', scopes: ['keys:write'], env: 'live' });
    const reader = await create({ name: 'reader', owner: 'sec', scopes: ['keys:read'], env: 'live' });
    const body = [{ token: k.key, type: 'keyward_api_key', url: 'src/config.js:3:15', source: 'keyward-cli' }];
    assert.equal((await call('/v1/leaks', { method: 'POST', body })).status, 401);
    assert.equal((await call('/v1/leaks', { method: 'POST', key: reader.key, body })).body.error.code, 'insufficient_scope');
    const bad = await call('/v1/leaks', { method: 'POST', key: scanner.key, body: { token: k.key } });
    assert.equal(bad.status, 400);
    assert.equal((await verify(k.key)).body.code, 'valid');
    // Another owner's scanner labels the key and leaves it alone; its own owner's revokes it.
    const other = await call('/v1/leaks', { method: 'POST', key: scanner.key, body });
    assert.equal(other.status, 200, other.text);
    assert.equal(other.body[0].label, 'true_positive');
    assert.equal(other.body[0].revocation, 'not_permitted');
    assert.equal((await verify(k.key)).body.code, 'valid');
    const own = await create({ name: 'scanner', owner: 'leaks', scopes: ['keys:write'], env: 'live' });
    const r = await call('/v1/leaks', { method: 'POST', key: own.key, body });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body[0].label, 'true_positive');
    assert.equal(r.body[0].revocation, 'revoked');
    const record = (await call(`/v1/keys/${k.id}`, { key: worker.rootKey })).body;
    assert.equal(record.revoked_by, own.id);
    assert.equal(record.revocation_reason, 'leaked');
  });
});

async function auditFor(keyId) {
  const r = await call(`/v1/audit?key_id=${keyId}&limit=1000`, { key: worker.rootKey });
  assert.equal(r.status, 200, r.text);
  return r.body.events;
}

describe('audit pipeline', () => {
  test('every verification and management action arrives through the queue', async () => {
    const k = await create({ name: 'aud', owner: 'audit', scopes: ['scans:read'], env: 'live' });
    await verify(k.key, { scopes: ['scans:read'], context: { ip: '198.51.100.9', user_agent: 'svc/1', action: 'GET /scans' } });
    await verify(k.key, { scopes: ['scans:trigger'] });
    await call('/scans', { key: k.key, headers: { 'user-agent': 'gw-client/2' } });
    const events = await eventually(async () => {
      const e = await auditFor(k.id);
      return e.length >= 4 && e;
    }, { what: 'audit events' });
    const byAction = (a) => events.filter((e) => e.action === a);
    assert.equal(byAction('key.create').length, 1);
    assert.equal(byAction('key.create')[0].actor, 'root');
    const fromService = byAction('GET /scans').find((e) => e.ip === '198.51.100.9');
    assert.ok(fromService, JSON.stringify(events));
    assert.equal(fromService.outcome, 'valid');
    assert.equal(fromService.user_agent, 'svc/1');
    assert.ok(events.some((e) => e.outcome === 'insufficient_scope'));
    const gw = events.find((e) => e.user_agent === 'gw-client/2');
    assert.equal(gw.action, 'GET /scans');
    assert.equal(gw.status, 200);
    assert.equal(gw.ip, '127.0.0.1');
    for (const e of events) {
      assert.equal(e.hint, k.hint);
      assert.ok(!JSON.stringify(e).includes(k.key));
    }
    await eventually(async () => (await call(`/v1/keys/${k.id}`, { key: worker.rootKey })).body.last_used_at, { what: 'last_used_at' });
  });

  test('use of a revoked key raises an alert, stored and posted to the webhook', async () => {
    const k = await create({ name: 'stolen', owner: 'audit', scopes: [], env: 'live' });
    await call(`/v1/keys/${k.id}/revoke`, { method: 'POST', key: worker.rootKey, body: { reason: 'leaked' } });
    await call('/scans', { key: k.key });
    const alert = await eventually(async () => {
      const r = await call(`/v1/alerts?key_id=${k.id}`, { key: worker.rootKey });
      return r.body.alerts.find((a) => a.kind === 'revoked_key_used');
    }, { what: 'revoked_key_used alert' });
    assert.equal(alert.hint, k.hint);
    assert.match(alert.detail, /revoked key/);
    const posted = await eventually(() => origin.alerts.find((a) => a.alert_id === alert.alert_id), { what: 'webhook' });
    assert.equal(posted.kind, 'revoked_key_used');
    assert.ok(!JSON.stringify(posted).includes(k.key));
  });

  test('a revoked key of a rotation (counted by its ledger) is still named by its refused uses: logged under it, alerted', async () => {
    const k = await create({ name: 'rotated then stolen', owner: 'audit', scopes: [], env: 'live' });
    const next = await call(`/v1/keys/${k.id}/rotate`, { method: 'POST', key: worker.rootKey, body: { grace_seconds: 3600 } });
    assert.equal(next.status, 201);
    await call(`/v1/keys/${k.id}/revoke`, { method: 'POST', key: worker.rootKey, body: { reason: 'stolen' } });
    const v = await verify(k.key);
    assert.equal(v.body.code, 'revoked');
    assert.equal(v.body.key_id, k.id);
    const alert = await eventually(async () => {
      const r = await call(`/v1/alerts?key_id=${k.id}`, { key: worker.rootKey });
      return r.body.alerts.find((a) => a.kind === 'revoked_key_used');
    }, { what: 'revoked_key_used alert' });
    assert.equal(alert.hint, k.hint);
    const events = await auditFor(k.id);
    assert.ok(events.some((e) => e.action === 'verify' && e.outcome === 'revoked'));
    // The successor is untouched by its predecessor's refused use.
    assert.equal((await verify(next.body.key)).body.valid, true);
  });

  test('a new IP for a seasoned key raises new_ip', async () => {
    const k = await create({ name: 'seasoned', owner: 'audit', scopes: [], env: 'live' });
    for (let i = 0; i < 21; i++) await verify(k.key, { context: { ip: '203.0.113.5' } });
    await eventually(async () => (await auditFor(k.id)).filter((e) => e.action === 'verify').length >= 21, { what: 'history' });
    await verify(k.key, { context: { ip: '192.0.2.77' } });
    const alert = await eventually(async () => {
      const r = await call(`/v1/alerts?key_id=${k.id}`, { key: worker.rootKey });
      return r.body.alerts.find((a) => a.kind === 'new_ip');
    }, { what: 'new_ip alert' });
    assert.match(alert.detail, /192\.0\.2\.77/);
    const r = await call(`/v1/alerts?key_id=${k.id}`, { key: worker.rootKey });
    assert.equal(r.body.alerts.filter((a) => a.kind === 'new_ip').length, 1, 'the known IP raised none');
  });

  test('a burst that reaches the consumer in two batches is still a burst (its first batch does not raise the norm)', async () => {
    const k = await create({ name: 'trickled burst', owner: 'audit', scopes: [], env: 'live' });
    // Both halves must fall in one UTC minute: start early in a minute.
    while (new Date().getUTCSeconds() > 30) await new Promise((r) => setTimeout(r, 500));
    const minute = new Date().toISOString().slice(0, 16);
    await Promise.all(Array.from({ length: 35 }, () => verify(k.key)));
    await eventually(async () => (await auditFor(k.id)).filter((e) => e.action === 'verify').length >= 35, { what: 'the first half stored' });
    assert.equal((await call(`/v1/alerts?key_id=${k.id}`, { key: worker.rootKey })).body.alerts.length, 0, '35 uses are under the floor of 60');
    await Promise.all(Array.from({ length: 35 }, () => verify(k.key)));
    const events = await eventually(async () => {
      const e = (await auditFor(k.id)).filter((x) => x.action === 'verify');
      return e.length >= 70 && e;
    }, { what: 'the second half stored' });
    assert.ok(events.every((e) => e.time.startsWith(minute)), 'the 70 uses fell in one minute');
    const alert = await eventually(async () => {
      const r = await call(`/v1/alerts?key_id=${k.id}`, { key: worker.rootKey });
      return r.body.alerts.find((a) => a.kind === 'burst');
    }, { what: 'a burst alert' });
    assert.equal(alert.hint, k.hint);
  });

  test('the daily check flags admin keys as over-privileged, once per day', async () => {
    const k = await create({ name: 'too-much', owner: 'audit', scopes: ['admin'], env: 'live' });
    for (let i = 0; i < 2; i++) {
      const r = await fetch(`${worker.url}/__scheduled?cron=17+3+*+*+*`);
      assert.equal(r.status, 200);
    }
    const alerts = await eventually(async () => {
      const r = await call(`/v1/alerts?key_id=${k.id}`, { key: worker.rootKey });
      return r.body.alerts.length && r.body.alerts;
    }, { what: 'over_privileged alert' });
    assert.equal(alerts.filter((a) => a.kind === 'over_privileged').length, 1);
    assert.match(alerts[0].detail, /admin/);
  });

  test('a failing consumer batch is retried without loss or duplicates', async () => {
    const k = await create({ name: 'retry', owner: 'audit', scopes: [], env: 'live' });
    await eventually(async () => (await auditFor(k.id)).length === 1, { what: 'create event' });
    // Break the consumer for real: its table disappears while events keep coming.
    worker.d1('ALTER TABLE audit_events RENAME TO audit_events_away');
    try {
      for (let i = 0; i < 5; i++) await verify(k.key, { context: { action: `retry-${i}` } });
      // The batch really failed: the consumer said why, and nothing reached the table.
      await eventually(() => /no such table: audit_events/.test(worker.logs()), { what: 'the consumer failing' });
      const during = worker.d1("SELECT COUNT(*) AS n FROM audit_events_away WHERE action LIKE 'retry-%'");
      assert.equal(during[0].results[0].n, 0);
    } finally {
      worker.d1('ALTER TABLE audit_events_away RENAME TO audit_events');
    }
    // Retried whole (10 times, a second apart); when the table was away longer than that
    // (slow wrangler d1 commands on a busy machine), the dead-letter queue's consumer stores
    // them, retrying every 30 s: either way they arrive, once.
    const events = await eventually(async () => {
      const e = (await auditFor(k.id)).filter((x) => x.action.startsWith('retry-'));
      return e.length >= 5 && e;
    }, { ms: 100_000, what: 'retried events' });
    // Each event once (event_id is the table's key, so a later retry cannot add another).
    assert.deepEqual(events.map((e) => e.action).sort(), ['retry-0', 'retry-1', 'retry-2', 'retry-3', 'retry-4']);
    assert.equal(new Set(events.map((e) => e.event_id)).size, 5);
  });

  test('audit queries validate their parameters', async () => {
    for (const q of ['since=yesterday', 'limit=0', 'limit=x']) {
      const r = await call(`/v1/audit?${q}`, { key: worker.rootKey });
      assert.equal(r.status, 400, q);
      assert.equal(r.body.error.code, 'invalid_request');
    }
    for (const path of ['/v1/audit?key_id=key_short', '/v1/alerts?key_id=Root']) {
      const r = await call(path, { key: worker.rootKey });
      assert.equal(r.status, 400, path);
      assert.equal(r.body.error.code, 'invalid_request');
    }
    // The root key's own events are filed under `root`, and can be asked for by that name
    // (the dashboard's overview names the root key's row so).
    const rootEvents = await eventually(async () => {
      const r = await call('/v1/audit?key_id=root&limit=5', { key: worker.rootKey });
      assert.equal(r.status, 200, r.text);
      return r.body.events.length > 0 && r.body.events;
    }, { what: "the root key's events" });
    assert.ok(rootEvents.every((e) => e.key_id === 'root'), JSON.stringify(rootEvents));
    assert.equal((await call('/v1/alerts?key_id=root', { key: worker.rootKey })).status, 200);
    // A bounded auditor asking for the root key's events gets none of them.
    const auditor = await create({ name: 'bounded-audit', owner: 'audit', scopes: ['audit:read'], env: 'live' });
    const bounded = await call('/v1/audit?key_id=root&limit=1000', { key: auditor.key });
    assert.equal(bounded.status, 200, bounded.text);
    assert.deepEqual(bounded.body.events, []);
    const reader = await create({ name: 'no-audit', owner: 'audit', scopes: ['keys:read'], env: 'live' });
    const r = await call('/v1/alerts', { key: reader.key });
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, 'insufficient_scope');
  });
});

/** Whether `e` says a file is gone: SQLite removes a -shm or -wal file when its last
 * connection closes, its content in the database file by then (read too). */
const vanished = (e) => /** @type {any} */ (e)?.code === 'ENOENT';

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    let isDir;
    try { isDir = statSync(p).isDirectory(); } catch (e) { if (vanished(e)) continue; throw e; }
    if (isDir) yield* files(p);
    else yield p;
  }
}

/** A state file's bytes as text, or '' for one removed since it was listed. */
function stateText(f) {
  try { return readFileSync(f).toString('latin1'); } catch (e) { if (vanished(e)) return ''; throw e; }
}

describe('secrets', () => {
  test('no raw key appears in logs, KV, D1 or any response but the creating one', async () => {
    // Everything queued before this sentinel has been through the consumer once it is stored.
    const sentinel = await create({ name: 'sentinel', owner: 'secrets', scopes: [], env: 'live' });
    await verify(sentinel.key, { context: { action: 'sentinel' } });
    await eventually(async () => (await auditFor(sentinel.id)).some((e) => e.action === 'sentinel'), { what: 'the queue to drain' });
    assert.ok(seen.created.size > 20);
    const keys = [...seen.created, worker.rootKey];
    const logs = worker.logs();
    const stored = [...files(worker.persistDir)].map(stateText);
    assert.ok(stored.length > 0);
    for (const key of keys) {
      assert.ok(!logs.includes(key), 'a raw key is in the logs');
      assert.ok(!stored.some((s) => s.includes(key)), 'a raw key is in local KV or D1 state');
      const holders = seen.responses.filter((r) => r.text.includes(key));
      assert.ok(holders.every((r) => r.creating), `a raw key is in a non-creating response: ${holders.map((h) => h.method + ' ' + h.path)}`);
    }
  });
});

describe('configuration', () => {
  test('a missing root key hash is named on every request, health included', async () => {
    const w = await startWorker({ vars: { KEYWARD_ROOT_KEY_HASH: '' }, ready: () => true });
    try {
      for (const path of ['/healthz', '/v1/keys']) {
        const r = await rawCall(w.url, path);
        assert.equal(r.status, 503, r.text);
        assert.equal(r.body.error.code, 'unavailable');
        assert.match(r.body.error.message, /KEYWARD_ROOT_KEY_HASH is not set/);
      }
      await eventually(() => /KEYWARD_ROOT_KEY_HASH is not set/.test(w.logs()), { ms: 10_000, what: 'the problem in the log' });
    } finally {
      await w.stop();
    }
  });
});
