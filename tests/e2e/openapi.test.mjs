// The OpenAPI document against the real Worker under wrangler dev: it is served without a
// key, validates as OpenAPI 3.1, describes exactly the routes the Worker answers (both
// ways), names the scope each operation really needs, and a TypeScript client generated
// from it (openapi-typescript + openapi-fetch) compiles under tsc and works.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, call, eventually, startWorker } from './harness.mjs';

const VALIDATOR = join(ROOT, '.venv/bin/openapi-spec-validator');
const OUT = join(ROOT, 'target/openapi-client');
let worker;
let doc;

const root = (path, opts = {}) => call(worker.url, path, { key: worker.rootKey, ...opts });

/** Every documented operation: [METHOD, path template, operation]. */
function operations() {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => [method.toUpperCase(), path, op]));
}

before(async () => {
  worker = await startWorker();
  const r = await call(worker.url, '/v1/openapi.json');
  assert.equal(r.status, 200, r.text);
  doc = r.body;
});

after(async () => {
  await worker?.stop();
});

describe('the document', () => {
  test('is served without a key and validates as OpenAPI 3.1', () => {
    assert.equal(doc.openapi, '3.1.0');
    mkdirSync(OUT, { recursive: true });
    const file = join(OUT, 'openapi.json');
    writeFileSync(file, JSON.stringify(doc));
    const out = execFileSync(VALIDATOR, [file], { encoding: 'utf8' });
    assert.match(out, /OK/);
  });

  test('is the committed document, with this deployment\'s environments, scopes and roles filled in', () => {
    const committed = JSON.parse(readFileSync(join(ROOT, 'worker/openapi.json'), 'utf8'));
    const schemas = structuredClone(doc.components.schemas);
    assert.deepEqual(schemas.DeclaredEnvironment.enum, ['live', 'test', 'dev', 'staging']);
    const scopes = schemas.DeclaredScope.enum;
    for (const s of ['admin', 'keys:read', 'keys:*', 'repos:read', 'repos:*', 'scans:trigger', 'settings:write']) {
      assert.ok(scopes.includes(s), s);
    }
    assert.ok(!scopes.includes('billing:read'));
    assert.deepEqual(schemas.DeclaredRole.enum, [], 'no role declared here: none may be granted');
    delete schemas.DeclaredEnvironment.enum;
    delete schemas.DeclaredScope.enum;
    delete schemas.DeclaredRole.enum;
    assert.deepEqual({ ...doc, components: { ...doc.components, schemas } }, committed);
  });

  test('is served with its headers; the static asset it is read from is no route of its own', async () => {
    const r = await call(worker.url, '/v1/openapi.json');
    assert.equal(r.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(r.headers.get('cache-control'), 'public, max-age=60');
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    // The build step puts the committed document among the assets (not in the wasm); the
    // Worker reads it through its binding and never hands that path to a request.
    const asset = await call(worker.url, '/openapi/openapi.json');
    assert.equal(asset.status, 404, asset.text);
    assert.equal(asset.body.error.code, 'not_found');
  });

  test('its error codes are the code table\'s', async () => {
    const codes = JSON.parse(readFileSync(join(ROOT, 'tests/vectors/codes.json'), 'utf8')).cases.map((c) => c.name);
    assert.deepEqual([...doc.components.schemas.Code.enum].sort(), [...codes].sort());
  });
});

describe('the routes the document describes are the routes the Worker answers', () => {
  let id;
  before(async () => {
    const k = await root('/v1/keys', { method: 'POST', body: { name: 'doc', owner: 'doc', env: 'live', scopes: [] } });
    assert.equal(k.status, 201, k.text);
    id = k.body.id;
  });
  const concrete = (path) => path.replace('{id}', id).replace('{owner}', 'doc').replace('{webhook_id}', `wh_${'0'.repeat(32)}`);

  test('every documented operation is answered (not "no such endpoint", not 405)', async () => {
    assert.equal(operations().length, 28);
    for (const [method, path, op] of operations()) {
      const body = op.requestBody ? (op.requestBody.content['application/json'].example ?? {}) : undefined;
      const r = await root(concrete(path), { method, body: method === 'GET' || method === 'HEAD' ? undefined : body });
      assert.notEqual(r.status, 405, `${method} ${path}: ${r.text}`);
      if (r.status === 404) assert.notEqual(r.body?.error?.message, 'no such endpoint', `${method} ${path}`);
      assert.ok(Object.keys(op.responses).includes(String(r.status)), `${method} ${path}: ${r.status} is documented`);
    }
  });

  test('every other method on a documented path is 405 with the documented methods in Allow', async () => {
    const all = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'QUERY'];
    for (const [path, item] of Object.entries(doc.paths)) {
      const documented = Object.keys(item).map((m) => m.toUpperCase());
      for (const method of all.filter((m) => !documented.includes(m))) {
        const r = await root(concrete(path), { method });
        assert.equal(r.status, 405, `${method} ${path}`);
        assert.deepEqual(r.headers.get('allow').split(', ').sort(), [...documented].sort(), `${method} ${path}`);
      }
    }
  });

  test('undocumented paths under /v1 are not routes', async () => {
    for (const path of ['/v1', '/v1/', '/v1/keys/', `/v1/keys/${id}/delete`, '/v1/owners/doc', '/v1/openapi.yaml', '/v1/KEYS']) {
      const r = await root(path);
      assert.equal(r.status, 404, path);
      assert.equal(r.body.error.message, 'no such endpoint', path);
    }
  });

  test('each operation needs exactly the scope it names: a key without it is refused with that scope', async () => {
    const none = await root('/v1/keys', { method: 'POST', body: { name: 'no scopes', owner: 'doc', env: 'live', scopes: [] } });
    const holders = new Map();
    for (const [method, path, op] of operations()) {
      const scope = op['x-keyward-scope'];
      if (!scope) {
        if (op.security.length > 0) {
          // Any valid key: none is 401, a key holding no scope at all is enough.
          const anon = await call(worker.url, concrete(path), { method });
          assert.equal(anon.status, 401, `${method} ${path} needs a key`);
          assert.equal(anon.body.error.code, 'missing_key');
          const r = await call(worker.url, concrete(path), { method, key: none.body.key });
          assert.equal(r.status, 200, `${method} ${path} with any key: ${r.text}`);
          continue;
        }
        const r = await call(worker.url, concrete(path), { method });
        assert.equal(r.status, 200, `${method} ${path} needs no key`);
        continue;
      }
      const noBody = method === 'GET' || method === 'HEAD';
      const r = await call(worker.url, concrete(path), { method, key: none.body.key, body: noBody ? undefined : {} });
      assert.equal(r.status, 403, `${method} ${path}: ${r.text}`);
      assert.equal(r.body.error.code, 'insufficient_scope', `${method} ${path}`);
      assert.match(r.headers.get('www-authenticate'), new RegExp(`scope="${scope}"`), `${method} ${path}`);
      // With the scope (and no more), the scope check passes; admin-only ones are then forbidden.
      if (!holders.has(scope)) {
        const k = await root('/v1/keys', { method: 'POST', body: { name: scope, owner: 'doc', env: 'live', scopes: [scope] } });
        holders.set(scope, k.body.key);
      }
      const body = noBody ? undefined : (op.requestBody?.content['application/json'].example ?? {});
      const w = await call(worker.url, concrete(path), { method, key: holders.get(scope), body });
      assert.notEqual(w.body?.error?.code, 'insufficient_scope', `${method} ${path} with ${scope}: ${w.text}`);
      if (op['x-keyward-admin-only']) {
        assert.equal(w.status, 403, `${method} ${path} is for root or admin`);
        assert.equal(w.body.error.code, 'forbidden');
      }
    }
  });
});

describe('every route authorises its caller first, by the scope the route table declares', () => {
  // A path value that decodes to nothing, a query parameter no route takes and a body that
  // is no JSON: each would be refused on its own (404, 400), so a refusal of the key shows
  // it was decided before any of them was read.
  const junk = (path) => `${path.replace('{id}', 'key_0123456789abcdef').replace('{owner}', '%ZZ')
    .replace('{webhook_id}', `wh_${'0'.repeat(32)}`)}?no_such_parameter=1`;

  test('a key without the scope, and a revoked key with it (or, for /v1/me, any), are refused before the path, query or body are read', async () => {
    const owner = 'authorised-first';
    const none = await root('/v1/keys', { method: 'POST', body: { name: 'none', owner, env: 'live', scopes: [] } });
    const scopes = [...new Set(operations().map(([, , op]) => op['x-keyward-scope']).filter(Boolean))];
    const all = await root('/v1/keys', { method: 'POST', body: { name: 'all', owner, env: 'live', scopes } });
    assert.equal(all.status, 201, all.text);
    assert.equal((await root(`/v1/keys/${all.body.id}/revoke`, { method: 'POST' })).status, 200);
    const actions = [];
    for (const [method, path, op] of operations()) {
      if (op.security.length === 0) continue;
      const scope = op['x-keyward-scope'];
      const body = method === 'GET' || method === 'HEAD' ? undefined : '{';
      if (scope) {
        const r = await call(worker.url, junk(path), { method, key: none.body.key, body });
        assert.equal(r.status, 403, `${method} ${path}: ${r.text}`);
        assert.equal(r.body.error.code, 'insufficient_scope', `${method} ${path}`);
        assert.match(r.headers.get('www-authenticate'), new RegExp(`scope="${scope}"`), `${method} ${path}`);
      }
      const revoked = await call(worker.url, junk(path), { method, key: all.body.key, body });
      assert.equal(revoked.status, 401, `${method} ${path}: ${revoked.text}`);
      assert.equal(revoked.body.error.code, 'revoked', `${method} ${path}`);
      actions.push(`${method} ${path}`);
    }
    assert.equal(actions.length, 25);
    // Each refusal is filed under the route's own action, and nothing of the owner changed.
    await eventually(async () => {
      const events = (await root(`/v1/audit?key_id=${all.body.id}&limit=1000`)).body.events;
      return actions.every((a) => events.some((e) => e.action === a && e.outcome === 'revoked'));
    }, { what: 'every route\'s refusal of the revoked key, under its action' });
    const keys = (await root(`/v1/keys?owner=${owner}&limit=100`)).body.keys;
    assert.deepEqual(keys.map((k) => [k.name, k.status]).sort(), [['all', 'revoked'], ['none', 'active']]);
  });
});

describe('a TypeScript client generated from the document', () => {
  test('openapi-typescript types + openapi-fetch compile under tsc --strict and work against the Worker', async () => {
    mkdirSync(OUT, { recursive: true });
    writeFileSync(join(OUT, 'openapi.json'), JSON.stringify(doc));
    execFileSync(join(ROOT, 'node_modules/.bin/openapi-typescript'), [join(OUT, 'openapi.json'), '-o', join(OUT, 'keyward.d.ts')], { stdio: 'pipe' });
    writeFileSync(join(OUT, 'client.ts'), `
import createClient from 'openapi-fetch';
import type { paths, components } from './keyward.js';

type KeyView = components['schemas']['KeyView'];

export async function run(baseUrl: string, token: string): Promise<{ created: KeyView; valid: boolean; revoked: string }> {
  const api = createClient<paths>({ baseUrl, headers: { authorization: \`Bearer \${token}\` } });
  const made = await api.POST('/v1/keys', { body: { name: 'typed', owner: 'ts', env: 'live', scopes: ['scans:read'] } });
  if (!made.data) throw new Error(JSON.stringify(made.error));
  const { key, ...created } = made.data;
  const checked = await api.POST('/v1/verify', { body: { key, env: 'live', scopes: ['scans:read'] } });
  if (!checked.data) throw new Error(JSON.stringify(checked.error));
  const gone = await api.POST('/v1/keys/{id}/revoke', { params: { path: { id: created.id } }, body: { reason: 'typed client' } });
  if (!gone.data) throw new Error(JSON.stringify(gone.error));
  const missing = await api.GET('/v1/keys/{id}', { params: { path: { id: 'key_0000000000000000' } } });
  if (missing.error?.error.code !== 'not_found') throw new Error('expected not_found');
  return { created, valid: checked.data.valid, revoked: gone.data.status };
}
`);
    writeFileSync(join(OUT, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        strict: true, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext',
        outDir: 'dist', skipLibCheck: false, lib: ['ES2022', 'DOM'],
      },
      files: ['client.ts'],
    }));
    writeFileSync(join(OUT, 'package.json'), JSON.stringify({ type: 'module' }));
    execFileSync(join(ROOT, 'node_modules/.bin/tsc'), ['-p', OUT], { stdio: 'pipe' });
    const { run } = await import(join(OUT, 'dist/client.js'));
    const out = await run(worker.url, worker.rootKey);
    assert.equal(out.created.owner, 'ts');
    assert.deepEqual(out.created.scopes, ['scans:read']);
    assert.equal(out.valid, true);
    assert.equal(out.revoked, 'revoked');
  });
});
