// The shared credential and check vectors against the real Worker under wrangler dev,
// over HTTP: the same answers the core gives in Rust and the npm package gives through
// WebAssembly. Each case's record is written straight into the Worker's local KV, in the
// format a key stored before this release has (as an operator's import would).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { call, sha256, startWorker } from './harness.mjs';
import { envOf, headerLines, load, onTheClock, shifted } from '../vectors/replay.mjs';

const liveKey = load('parse').find((c) => c.name === 'live key').input;
const checks = onTheClock().map((c) => shifted(c));
// One gateway route per single-scope case (the gateway serves one environment, live).
const routed = checks.map((c, i) => ({ c, i })).filter(({ c }) => c.input.scopes.length <= 1 && envOf(c) === 'live');

let worker;
let origin;
const hits = [];

before(async () => {
  origin = createServer((req, res) => { hits.push(req.url); res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"origin":true}'); });
  await new Promise((r) => origin.listen(0, '127.0.0.1', r));
  const routes = [
    { method: 'GET', path: '/credentials', scope: 'scans:read' },
    // A case that needs no scope gets one every vector record holds.
    ...routed.map(({ c, i }) => ({ method: 'GET', path: `/checks/${i}`, scope: c.input.scopes[0] ?? 'scans:read' })),
  ];
  worker = await startWorker({
    vars: {
      ORIGIN_URL: `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (origin.address()).port}`,
      ROUTES: JSON.stringify(routes),
    },
  });
  await worker.adoptLegacy([
    {
      key: liveKey,
      record: {
        id: 'key_0123456789abcdef', hash: sha256(liveKey), hint: liveKey.slice(0, 12), name: 'vectors',
        owner: 'team-vectors', scopes: ['scans:read'], env: 'live', created_at: new Date(Date.now() - 86_400_000).toISOString(),
      },
    },
    ...checks.filter((c) => c.input.record).map((c) => ({ key: c.input.key, record: c.input.record })),
  ]);
});

after(async () => {
  await worker?.stop();
  origin?.close();
});

describe('credentials.json over HTTP', () => {
  test('through the gateway: the one credential, or its refusal with a challenge', async () => {
    for (const c of load('credentials')) {
      const headers = new Headers();
      for (const [name, value] of headerLines(c)) headers.append(name, value);
      const before = hits.length;
      const r = await call(worker.url, '/credentials', { headers });
      if (c.error) {
        assert.equal(r.body?.error?.code, c.error.code, `${c.name}: ${r.text}`);
        assert.ok(r.headers.get('www-authenticate')?.startsWith('Bearer realm="keyward"'), c.name);
        assert.equal(hits.length, before, `${c.name}: the origin received nothing`);
      } else if (c.expect.key === liveKey) {
        assert.equal(r.status, 200, `${c.name}: ${r.text}`);
        assert.equal(hits.length, before + 1, c.name);
      } else {
        assert.equal(r.body?.error?.code, 'malformed', c.name);
      }
    }
  });

  test('through a management call: the same refusals', async () => {
    for (const c of load('credentials').filter((x) => x.error)) {
      const headers = new Headers();
      for (const [name, value] of headerLines(c)) headers.append(name, value);
      const r = await call(worker.url, '/v1/keys', { headers });
      assert.equal(r.body?.error?.code, c.error.code, `${c.name}: ${r.text}`);
    }
  });
});

describe('checks.json over HTTP', () => {
  test('through POST /v1/verify: the verdict and the missing scope', async () => {
    assert.ok(checks.length >= 20);
    for (const c of checks) {
      const r = await call(worker.url, '/v1/verify', {
        method: 'POST', key: worker.rootKey, body: { key: c.input.key, scopes: c.input.scopes, env: envOf(c) },
      });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.code, c.expect.code, `${c.name}: ${r.text}`);
      assert.equal(r.body.valid, c.expect.code === 'valid', c.name);
      if (c.expect.scope) assert.equal(r.body.message, `This API key does not have the '${c.expect.scope}' scope`, c.name);
      if (c.expect.code === 'valid') assert.equal(r.body.key_id, c.input.record.id, c.name);
    }
  });

  test('through the gateway: status and challenge too', async () => {
    assert.ok(routed.length >= 15);
    for (const { c, i } of routed) {
      const before = hits.length;
      const r = await call(worker.url, `/checks/${i}`, { key: c.input.key });
      assert.equal(r.status, c.expect.status, `${c.name}: ${r.text}`);
      if (c.expect.code === 'valid') {
        assert.equal(hits.length, before + 1, c.name);
        continue;
      }
      assert.equal(r.body.error.code, c.expect.code, c.name);
      assert.equal(r.headers.has('www-authenticate'), c.expect.challenge, c.name);
      if (c.expect.scope) assert.match(r.headers.get('www-authenticate'), new RegExp(`scope="${c.expect.scope}"`), c.name);
      assert.equal(hits.length, before, `${c.name}: the origin received nothing`);
    }
  });
});
