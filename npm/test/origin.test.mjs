// keyward/origin: the origin's check of what the gateway signed. The shared vectors
// (tests/vectors/origin_signature.json, which Rust replays too), then forged, altered,
// replayed and stale requests against verifyGatewayRequest (a Web Request and a Node
// IncomingMessage) and against gatewayAuth in a real Express app on a real port. The
// signing in these tests is node:crypto's HMAC, not the package's code. The whole path
// through the real Worker's gateway is tests/e2e/edges.test.mjs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import express from 'express';
import { GatewaySignatureError, gatewayAuth, verifyGatewayRequest } from 'keyward/origin';

const vectors = JSON.parse(readFileSync(new URL('../../tests/vectors/origin_signature.json', import.meta.url), 'utf8'));
const SECRET = 'an-origin-secret-for-these-tests-only-0123456789';

function sign({ method, target, ts, keyId = 'key_0123456789abcdef', owner = 'team-ci', scopes = 'repos:read' }, secret = SECRET) {
  const msg = ['keyward-origin-v1', method.toUpperCase(), target, String(ts), keyId, owner, scopes].join('\n');
  return {
    'x-keyward-key-id': keyId,
    'x-keyward-owner': owner,
    'x-keyward-scopes': scopes,
    'x-keyward-timestamp': String(ts),
    'x-keyward-signature': `v1=${createHmac('sha256', secret).update(msg).digest('hex')}`,
  };
}

const nowS = () => Math.floor(Date.now() / 1000);
const refused = (reason) => (e) => e instanceof GatewaySignatureError && e.code === 'bad_signature' && e.reason === reason && e.status === 401;

describe('the shared vectors', () => {
  for (const c of vectors.cases) {
    test(c.name, async () => {
      const req = new Request(`http://origin.test${c.path_and_query}`, {
        method: c.method.toUpperCase(),
        headers: {
          'x-keyward-key-id': c.key_id,
          'x-keyward-owner': c.owner,
          'x-keyward-scopes': c.scopes,
          'x-keyward-timestamp': String(c.timestamp),
          'x-keyward-signature': c.signature,
        },
      });
      const who = await verifyGatewayRequest(req, { secret: vectors.secret, now: () => c.timestamp * 1000 });
      assert.equal(who.keyId, c.key_id);
      assert.deepEqual(who.scopes, c.scopes.split(' '));
      assert.equal(who.owner, decodeURIComponent(c.owner));
    });
  }
});

describe('verifyGatewayRequest', () => {
  const url = 'http://origin.test/repos/1?full=1';
  const good = () => sign({ method: 'GET', target: '/repos/1?full=1', ts: nowS() });

  test('a request the gateway signed passes, as a Web Request', async () => {
    const who = await verifyGatewayRequest(new Request(url, { headers: good() }), { secret: SECRET });
    assert.deepEqual({ ...who, timestamp: 0 }, { keyId: 'key_0123456789abcdef', owner: 'team-ci', scopes: ['repos:read'], timestamp: 0 });
  });

  test('forged: identity headers without a signature, or signed with another secret', async () => {
    const h = good();
    delete h['x-keyward-signature'];
    await assert.rejects(verifyGatewayRequest(new Request(url, { headers: h }), { secret: SECRET }), refused('missing'));
    const other = sign({ method: 'GET', target: '/repos/1?full=1', ts: nowS() }, 'x'.repeat(40));
    await assert.rejects(verifyGatewayRequest(new Request(url, { headers: other }), { secret: SECRET }), refused('mismatch'));
    const junk = { ...good(), 'x-keyward-signature': 'v1=zz' };
    await assert.rejects(verifyGatewayRequest(new Request(url, { headers: junk }), { secret: SECRET }), refused('malformed'));
  });

  test('altered: another path, query, method, key, owner or scopes under a real signature', async () => {
    const h = good();
    const cases = [
      new Request('http://origin.test/admin', { headers: h }),
      new Request('http://origin.test/repos/1?full=2', { headers: h }),
      new Request('http://origin.test/repos/1', { headers: h }),
      new Request(url, { method: 'DELETE', headers: h }),
      new Request(url, { headers: { ...h, 'x-keyward-key-id': 'key_ffffffffffffffff' } }),
      new Request(url, { headers: { ...h, 'x-keyward-owner': 'victim' } }),
      new Request(url, { headers: { ...h, 'x-keyward-scopes': 'repos:read admin' } }),
      new Request(url, { headers: { ...h, 'x-keyward-timestamp': String(Number(h['x-keyward-timestamp']) + 1) } }),
    ];
    for (const req of cases) {
      await assert.rejects(verifyGatewayRequest(req, { secret: SECRET }), refused('mismatch'), `${req.method} ${req.url}`);
    }
  });

  test('replayed too late, or dated ahead, is stale', async () => {
    const ts = nowS() - 61;
    const old = sign({ method: 'GET', target: '/repos/1?full=1', ts });
    await assert.rejects(verifyGatewayRequest(new Request(url, { headers: old }), { secret: SECRET }), refused('stale'));
    // The same request is good within a longer window, and at the time it was signed.
    await verifyGatewayRequest(new Request(url, { headers: old }), { secret: SECRET, maxAgeSeconds: 120 });
    await verifyGatewayRequest(new Request(url, { headers: old }), { secret: SECRET, now: () => ts * 1000 });
    const ahead = sign({ method: 'GET', target: '/repos/1?full=1', ts: nowS() + 3600 });
    await assert.rejects(verifyGatewayRequest(new Request(url, { headers: ahead }), { secret: SECRET }), refused('stale'));
  });

  test('options are checked: no secret, a short one, a bad window', async () => {
    const req = new Request(url, { headers: good() });
    for (const options of [undefined, {}, { secret: '' }, { secret: 'short' }, { secret: SECRET, maxAgeSeconds: 0 }, { secret: SECRET, maxAgeSeconds: 1.5 }]) {
      await assert.rejects(verifyGatewayRequest(req, options), (e) => e.code === 'ERR_KEYWARD_OPTION', JSON.stringify(options));
    }
    assert.throws(() => gatewayAuth({ secret: '' }), (e) => e.code === 'ERR_KEYWARD_OPTION' && e.option === 'secret');
  });
});

describe('gatewayAuth in a real Express app', () => {
  let server;
  let base;
  const served = [];
  before(async () => {
    const app = express();
    app.use(gatewayAuth({ secret: SECRET }));
    const router = express.Router();
    // Inside a router req.url is rewritten; the check used what arrived.
    router.get('/:id', (req, res) => {
      served.push(req.originalUrl);
      res.json({ gateway: req.gateway });
    });
    app.use('/repos', router);
    app.use((err, req, res, next) => res.status(err.status ?? 500).json({ error: { code: err.code, reason: err.reason } }));
    server = http.createServer(app);
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${server.address().port}`;
  });
  after(() => new Promise((r) => server.close(r)));

  test('signed passes with req.gateway; forged, altered and stale never reach the handler', async () => {
    const ok = await fetch(`${base}/repos/7?x=1`, { headers: sign({ method: 'GET', target: '/repos/7?x=1', ts: nowS(), owner: 'team%20a%2C%20b' }) });
    assert.equal(ok.status, 200);
    const body = await ok.json();
    assert.equal(body.gateway.owner, 'team a, b');
    assert.deepEqual(served, ['/repos/7?x=1']);

    const forged = await fetch(`${base}/repos/7`, { headers: { 'x-keyward-key-id': 'key_x', 'x-keyward-owner': 'evil', 'x-keyward-scopes': 'admin' } });
    assert.equal(forged.status, 401);
    assert.deepEqual(await forged.json(), { error: { code: 'bad_signature', reason: 'missing' } });
    const altered = await fetch(`${base}/repos/8`, { headers: sign({ method: 'GET', target: '/repos/7', ts: nowS() }) });
    assert.equal((await altered.json()).error.reason, 'mismatch');
    const stale = await fetch(`${base}/repos/7`, { headers: sign({ method: 'GET', target: '/repos/7', ts: nowS() - 3600 }) });
    assert.equal((await stale.json()).error.reason, 'stale');
    // A repeated identity header is not what the gateway sends.
    const h = new Headers(sign({ method: 'GET', target: '/repos/7', ts: nowS() }));
    h.append('x-keyward-scopes', 'admin');
    const doubled = await fetch(`${base}/repos/7`, { headers: h });
    assert.equal(doubled.status, 401);
    assert.deepEqual(served, ['/repos/7?x=1'], 'nothing else was served');
  });
});
