// A key's restrictions (allowed client networks, not_before) through every npm path, the
// core deciding: the shared vectors (tests/vectors/restrictions.json) through verify(),
// memoryStore().verifyKey, and over real HTTP through Express (memoryStore and a store of
// your own, `trust proxy` with X-Forwarded-For) and Hono (clientIp); then each refusal
// performed as an attacker would (a spoofed X-Forwarded-For, an unknown address, a use
// before not_before), with the state read back to show a refused use spent nothing.
// remoteStore's share (the Worker deciding with context.ip) is in worker.test.mjs.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { createKey, memoryStore, verify } from 'keyward';
import { apiKeyAuth, apiKeyErrorHandler, requireScope } from 'keyward/express';
import { checkRequest } from 'keyward/fetch';
import { apiKey } from 'keyward/hono';
import keyward from 'keyward/fastify';
import { freePort } from '../../tests/e2e/harness.mjs';

const { cases } = JSON.parse(readFileSync(new URL('../../tests/vectors/restrictions.json', import.meta.url)));
/** The cases about a use (a client address at a time), and those about a bad block list. */
const uses = cases.filter((c) => c.input.now !== undefined);
const badBlocks = cases.filter((c) => c.error !== undefined);
const iso = (ms) => new Date(ms).toISOString();

/** A key of environment `env` and its record with `fields`. */
function keyWith(fields = {}, env = 'live') {
  const { key, hash, hint } = createKey({ env });
  const record = {
    id: `key_${hash.slice(0, 16)}`, hash, hint, name: 'r', owner: 'team-a', scopes: ['scans:read'], env,
    created_at: '2026-01-01T00:00:00Z', ...fields,
  };
  return { key, record };
}

/** What a use case's key is (default: a live key holding scans:read) and what its use asks (default: env live, no scope). */
const keyOf = (c) => c.input.key ?? { env: 'live', scopes: ['scans:read'], expires_at: null, revoked_at: null };
const requestOf = (c) => c.input.request ?? { env: 'live', scopes: [] };

/** A use case's key and record, its times moved by `shift` ms (to run on the clock). */
function caseKey(c, shift = 0) {
  const at = (t) => (t === null ? null : iso(Date.parse(t) + shift));
  const k = keyOf(c);
  const fields = { scopes: k.scopes, expires_at: at(k.expires_at), revoked_at: at(k.revoked_at) };
  if (c.input.allowed_ips.length > 0) fields.allowed_ips = c.input.allowed_ips;
  if (c.input.not_before !== null) fields.not_before = at(c.input.not_before);
  return keyWith(fields, k.env);
}

/** Starts a node:http server (Express, Fastify's, Hono's) on loopback; `host` '::' for IPv4-mapped peers. */
async function listen(app, host = '127.0.0.1') {
  if (typeof app.set === 'function') app.set('env', 'test');
  const server = await new Promise((resolve) => { const s = app.listen(0, host, () => resolve(s)); });
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) };
}

async function serveHono(app) {
  const port = await freePort();
  const server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' });
  await new Promise((r) => server.once('listening', r));
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }) };
}

const get = async (url, key, headers = {}) => {
  const r = await fetch(url, { headers: { authorization: `Bearer ${key}`, ...headers } });
  return { status: r.status, body: await r.json(), challenge: r.headers.get('www-authenticate') };
};
const codeOf = (r) => (r.status === 200 ? 'valid' : r.body.error.code);

describe('restrictions.json through every npm path', () => {
  test('the vectors cover a use of each kind and each bad block list', () => {
    assert.ok(uses.length >= 20 && badBlocks.length >= 10);
    for (const code of ['valid', 'ip_not_allowed', 'not_yet_valid', 'revoked', 'expired', 'wrong_environment', 'insufficient_scope']) assert.ok(uses.some((c) => c.expect.code === code), code);
  });

  test('verify(record, {ip}) and memoryStore().verifyKey(key, {ip}), at each case\'s own time', () => {
    for (const c of uses) {
      const { key, record } = caseKey(c);
      const now = Date.parse(c.input.now);
      const ip = c.input.ip ?? undefined;
      const { env, scopes } = requestOf(c);
      assert.equal(verify(record, { env, scopes, now, ip }).code, c.expect.code, `verify: ${c.name}`);
      const got = memoryStore([record]).verifyKey(key, { env, scopes, now, ip });
      assert.equal(got.code, c.expect.code, `memoryStore: ${c.name}`);
      assert.equal(got.valid, c.expect.code === 'valid');
    }
  });

  test('a bad allowed_ips list: memoryStore refuses the record, verify() throws invalid_request', () => {
    for (const c of badBlocks) {
      const { record } = keyWith({ allowed_ips: c.input.allowed_ips });
      assert.throws(() => memoryStore([record]), (e) => e.code === 'invalid_request', c.name);
      assert.throws(() => verify(record, { env: 'live', ip: '10.0.0.1' }), (e) => e.code === 'invalid_request', c.name);
    }
  });

  test('over HTTP: Express under trust proxy (X-Forwarded-For), memoryStore and an async findByHash store', async () => {
    const mem = memoryStore();
    const own = new Map();
    const app = express();
    app.set('trust proxy', 'loopback');
    uses.forEach((c, i) => {
      const { env, scopes } = requestOf(c);
      const then = scopes.length > 0 ? [requireScope(scopes)] : [];
      app.get(`/mem/${i}`, apiKeyAuth({ store: mem, env }), ...then, (req, res) => res.json(req.apiKey));
      app.get(`/own/${i}`, apiKeyAuth({ store: { findByHash: async (h) => own.get(h) ?? null }, env }), ...then, (req, res) => res.json(req.apiKey));
    });
    app.use(apiKeyErrorHandler());
    const { url, close } = await listen(app);
    let replayed = 0;
    try {
      // An unknown address cannot be sent through a proxy header: those cases go through Hono below.
      for (const [i, c] of uses.entries()) {
        if (c.input.ip === null) continue;
        const { key, record } = caseKey(c, Date.now() - Date.parse(c.input.now));
        mem.add(record);
        own.set(record.hash, record);
        for (const path of [`/mem/${i}`, `/own/${i}`]) {
          const r = await get(url + path, key, { 'x-forwarded-for': c.input.ip });
          assert.equal(codeOf(r), c.expect.code, `${path}: ${c.name}`);
          if (r.status === 200) assert.equal(r.body.id, record.id);
        }
        replayed += 1;
      }
    } finally {
      await close();
    }
    assert.ok(replayed >= 25);
  });

  test('over HTTP: Hono on Node with clientIp, every case (an unknown address included)', async () => {
    const mem = memoryStore();
    const app = new Hono();
    // The test's proxy sets x-client-ip; an app trusts only its own proxy's header.
    const clientIp = (request) => request.headers.get('x-client-ip') ?? undefined;
    uses.forEach((c, i) => {
      const { env, scopes } = requestOf(c);
      app.get(`/${i}`, apiKey({ store: mem, env, scopes, clientIp }), (h) => h.json(h.get('apiKey')));
    });
    const { url, close } = await serveHono(app);
    try {
      for (const [i, c] of uses.entries()) {
        const { key, record } = caseKey(c, Date.now() - Date.parse(c.input.now));
        mem.add(record);
        const r = await get(`${url}/${i}`, key, c.input.ip === null ? {} : { 'x-client-ip': c.input.ip });
        assert.equal(codeOf(r), c.expect.code, c.name);
      }
    } finally {
      await close();
    }
  });
});

describe('each refusal, performed over HTTP', () => {
  test('Express: X-Forwarded-For is believed only under trust proxy; a spoofed one is refused', async () => {
    const { key, record } = keyWith({ allowed_ips: ['203.0.113.0/24'] });
    const store = memoryStore([record]);
    let ran = 0;
    const serveWith = (trust) => {
      const app = express();
      if (trust !== undefined) app.set('trust proxy', trust);
      app.get('/', apiKeyAuth({ store, env: 'live' }), (req, res) => { ran += 1; res.json(req.apiKey); });
      app.use(apiKeyErrorHandler());
      return listen(app);
    };
    const direct = await serveWith(undefined);
    try {
      // The attacker's own header, with no proxy trusted: req.ip is the socket's (127.0.0.1).
      const r = await get(direct.url, key, { 'x-forwarded-for': '203.0.113.9' });
      assert.equal(r.status, 403);
      assert.equal(r.body.error.code, 'ip_not_allowed');
      assert.equal(r.challenge, null, 'a 403 for an address carries no Bearer challenge');
    } finally {
      await direct.close();
    }
    assert.equal(ran, 0, 'the route never ran');
    const proxied = await serveWith('loopback');
    try {
      assert.equal((await get(proxied.url, key, { 'x-forwarded-for': '203.0.113.9' })).status, 200);
      assert.equal((await get(proxied.url, key, { 'x-forwarded-for': '::ffff:203.0.113.77' })).status, 200, 'IPv4-mapped IPv6');
      for (const ip of ['198.51.100.1', '203.0.114.1', '::203.0.113.9', 'fe80::1%eth0', 'junk']) {
        assert.equal(codeOf(await get(proxied.url, key, { 'x-forwarded-for': ip })), 'ip_not_allowed', ip);
      }
      // The rightmost address not from a trusted proxy counts: a client cannot prepend one.
      assert.equal(codeOf(await get(proxied.url, key, { 'x-forwarded-for': '203.0.113.9, 198.51.100.1' })), 'ip_not_allowed');
    } finally {
      await proxied.close();
    }
    assert.equal(ran, 2);
  });

  test('Express with getKey and clientIp of its own: the same refusals (memoryStore and a store of your own)', async () => {
    const { key, record } = keyWith({ allowed_ips: ['2001:db8::/32'] });
    const own = { findByHash: (h) => (h === record.hash ? record : null) };
    const app = express();
    const options = { env: 'live', getKey: (req) => req.headers['x-token'], clientIp: (req) => req.headers['x-peer'] };
    app.get('/mem', apiKeyAuth({ store: memoryStore([record]), ...options }), (req, res) => res.json({}));
    app.get('/own', apiKeyAuth({ store: own, ...options }), (req, res) => res.json({}));
    app.use(apiKeyErrorHandler());
    const { url, close } = await listen(app);
    const at = async (path, peer) => {
      const r = await fetch(url + path, { headers: { 'x-token': key, ...(peer ? { 'x-peer': peer } : {}) } });
      return r.status === 200 ? 'valid' : (await r.json()).error.code;
    };
    try {
      for (const path of ['/mem', '/own']) {
        assert.equal(await at(path, '2001:db8::7'), 'valid', path);
        assert.equal(await at(path, '2001:db9::7'), 'ip_not_allowed', path);
        assert.equal(await at(path), 'ip_not_allowed', `${path}: unknown`);
      }
    } finally {
      await close();
    }
  });

  test('Express over IPv6: the socket\'s IPv4-mapped peer (::ffff:127.0.0.1) matches its IPv4 block', async (t) => {
    const { key, record } = keyWith({ allowed_ips: ['127.0.0.0/8'] });
    const other = keyWith({ allowed_ips: ['10.0.0.0/8'] });
    const app = express();
    app.get('/', apiKeyAuth({ store: memoryStore([record, other.record]), env: 'live' }), (req, res) => res.json({ ip: req.ip }));
    app.use(apiKeyErrorHandler());
    let srv;
    try {
      srv = await listen(app, '::');
    } catch {
      t.skip('no IPv6 on this machine');
      return;
    }
    try {
      const r = await get(srv.url, key);
      assert.equal(r.status, 200);
      assert.equal(r.body.ip, '::ffff:127.0.0.1');
      assert.equal(codeOf(await get(srv.url, other.key)), 'ip_not_allowed');
    } finally {
      await srv.close();
    }
  });

  test('refused uses spend nothing: credits (memoryStore) and rate limits (a store of your own) read back', async () => {
    const paid = keyWith({ allowed_ips: ['203.0.113.0/24'], credits: { remaining: 2 } });
    const limited = keyWith({ allowed_ips: ['203.0.113.0/24'], rate_limits: [{ name: 'm', limit: 1, period: '1m' }] });
    const mem = memoryStore([paid.record]);
    const app = express();
    app.set('trust proxy', 'loopback');
    app.get('/mem', apiKeyAuth({ store: mem, env: 'live' }), (req, res) => res.json({}));
    app.get('/own', apiKeyAuth({ store: { findByHash: (h) => (h === limited.record.hash ? limited.record : null) }, env: 'live' }), (req, res) => res.json({}));
    app.use(apiKeyErrorHandler());
    const { url, close } = await listen(app);
    try {
      for (let i = 0; i < 5; i++) {
        assert.equal(codeOf(await get(`${url}/mem`, paid.key, { 'x-forwarded-for': '198.51.100.1' })), 'ip_not_allowed');
        assert.equal(codeOf(await get(`${url}/own`, limited.key, { 'x-forwarded-for': '198.51.100.1' })), 'ip_not_allowed');
      }
      assert.equal(mem.findByHash(paid.record.hash).credits.remaining, 2, 'no credit spent by a refused use');
      const inside = { 'x-forwarded-for': '203.0.113.9' };
      assert.equal((await get(`${url}/mem`, paid.key, inside)).status, 200);
      assert.equal(mem.findByHash(paid.record.hash).credits.remaining, 1);
      assert.equal((await get(`${url}/own`, limited.key, inside)).status, 200, 'the limit of 1 was not taken by refusals');
      assert.equal(codeOf(await get(`${url}/own`, limited.key, inside)), 'rate_limited');
    } finally {
      await close();
    }
  });

  test('not_before: 401 not_yet_valid with the invalid_token challenge, checked before the address', async () => {
    const later = keyWith({ not_before: iso(Date.now() + 3_600_000), allowed_ips: ['203.0.113.0/24'] });
    const own = { findByHash: async (h) => (h === later.record.hash ? { ...later.record } : null) };
    let ran = 0;
    const app = express();
    app.set('trust proxy', 'loopback');
    app.get('/mem', apiKeyAuth({ store: memoryStore([later.record]), env: 'live' }), (req, res) => { ran += 1; res.json({}); });
    app.get('/own', apiKeyAuth({ store: own, env: 'live' }), (req, res) => { ran += 1; res.json({}); });
    app.use(apiKeyErrorHandler());
    const { url, close } = await listen(app);
    try {
      for (const path of ['/mem', '/own']) {
        for (const ip of ['203.0.113.9', '198.51.100.1']) {
          const r = await get(url + path, later.key, { 'x-forwarded-for': ip });
          assert.equal(r.status, 401);
          assert.equal(r.body.error.code, 'not_yet_valid');
          assert.match(r.challenge, /error="invalid_token"/);
        }
      }
    } finally {
      await close();
    }
    assert.equal(ran, 0);
  });

  test('a store of your own whose allowed_ips or not_before cannot be read fails closed (500 internal)', async () => {
    const { key, record } = keyWith();
    let current;
    let ran = 0;
    const app = express();
    app.get('/', apiKeyAuth({ store: { findByHash: () => current }, env: 'live' }), (req, res) => { ran += 1; res.json({}); });
    app.use(apiKeyErrorHandler());
    const { url, close } = await listen(app);
    try {
      for (const fields of [{ allowed_ips: ['10.0.0.1/8'] }, { allowed_ips: '10.0.0.0/8' }, { allowed_ips: [10] }, { not_before: 'tomorrow' }]) {
        current = { ...record, ...fields };
        const r = await get(url, key);
        assert.equal(r.status, 500, JSON.stringify(fields));
        assert.equal(r.body.error.code, 'internal');
      }
    } finally {
      await close();
    }
    assert.equal(ran, 0);
  });

  test('Hono on Node: no clientIp is an unknown address (refused); getConnInfo gives the peer', async () => {
    const restricted = keyWith({ allowed_ips: ['127.0.0.1'] });
    const open = keyWith();
    const store = memoryStore([restricted.record, open.record]);
    const app = new Hono();
    app.use('/unknown/*', apiKey({ store, env: 'live' }));
    app.use('/peer/*', apiKey({ store, env: 'live', clientIp: (request, c) => getConnInfo(c).remote.address }));
    app.get('/*', (c) => c.json(c.get('apiKey')));
    const { url, close } = await serveHono(app);
    try {
      const refused = await get(`${url}/unknown/x`, restricted.key, { 'x-forwarded-for': '127.0.0.1' });
      assert.equal(refused.status, 403);
      assert.equal(refused.body.error.code, 'ip_not_allowed');
      assert.equal((await get(`${url}/unknown/x`, open.key)).status, 200, 'a key without allowed_ips needs no address');
      assert.equal((await get(`${url}/peer/x`, restricted.key)).status, 200);
    } finally {
      await close();
    }
  });

  test('keyward/fetch: checkRequest with clientIp(request); without it off Workers the address is unknown', async () => {
    const { key, record } = keyWith({ allowed_ips: ['2001:db8::/32'] });
    const store = memoryStore([record]);
    const request = (ip) => new Request('http://x/', { headers: { authorization: `Bearer ${key}`, 'x-ip': ip } });
    const clientIp = (r) => r.headers.get('x-ip');
    assert.equal((await checkRequest(request('2001:db8::5'), { store, env: 'live', clientIp })).valid, true);
    const out = await checkRequest(request('2001:db9::5'), { store, env: 'live', clientIp });
    assert.equal(out.code, 'ip_not_allowed');
    assert.equal(out.response.status, 403);
    assert.equal((await out.response.json()).error.code, 'ip_not_allowed');
    assert.equal((await checkRequest(request('2001:db8::5'), { store, env: 'live' })).code, 'ip_not_allowed');
  });

  test('Fastify: request.ip under trustProxy', async () => {
    const { key, record } = keyWith({ allowed_ips: ['203.0.113.0/24'] });
    const app = Fastify({ trustProxy: '127.0.0.1' });
    await app.register(keyward, { store: memoryStore([record]), env: 'live' });
    app.get('/', (request) => request.apiKey);
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${app.server.address().port}`;
    try {
      assert.equal((await get(url, key, { 'x-forwarded-for': '203.0.113.9' })).status, 200);
      const r = await get(url, key, { 'x-forwarded-for': '198.51.100.1' });
      assert.equal(r.status, 403);
      assert.equal(r.body.error.code, 'ip_not_allowed');
      assert.equal(codeOf(await get(url, key)), 'ip_not_allowed', 'the loopback peer is outside');
    } finally {
      await app.close();
    }
  });

});
