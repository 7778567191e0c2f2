// Every shared vector file of tests/vectors/ against the WebAssembly build, asserting on
// codes, never on message text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import {
  ApiKeyError, codes, createKey, hashKey, hasScope, memoryStore, parseKey, parseScope, verify, wwwAuthenticate,
} from 'keyward';

const dir = new URL('../../tests/vectors/', import.meta.url);
const load = (name) => JSON.parse(readFileSync(new URL(`${name}.json`, dir)));
const input = (i) => (typeof i === 'string' ? i : (i.prefix ?? '') + i.repeat.repeat(i.times));
// credentials and checks are replayed through every store path in checks.test.mjs.
// paths.json is the gateway's (replayed by the core's tests and the Worker's e2e suite).
// origin_signature.json is replayed by keyward/origin's test (origin.test.mjs).
// restrictions.json through every store path in restrictions.test.mjs (remoteStore's in worker.test.mjs).
const covered = new Set([
  'paths', 'parse', 'checksum', 'hash', 'scope_parse', 'scope_grants', 'verify', 'codes', 'credentials', 'checks',
  'limits', 'credits', 'origin_signature', 'restrictions',
]);
// leases.json is the Worker's objects' rule for a hot key (replayed by the core's tests):
// the npm package's stores count in the process and lease nothing.
const notInNpm = new Set(['leases']);

/** A memoryStore holding one live key with `fields` (rate_limits, credits). */
function meteredKey(fields) {
  const { key, hash, hint } = createKey({ env: 'live' });
  const store = memoryStore([{
    id: 'key_0123456789abcdef', hash, hint, name: 'v', owner: 'o', scopes: [], env: 'live',
    created_at: '2026-01-01T00:00:00Z', ...fields,
  }]);
  return { key, store };
}

test('every vector file is covered here', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5));
  assert.ok(files.length > 0);
  for (const f of files) {
    assert.ok(covered.has(f) || notInNpm.has(f), `tests/vectors/${f}.json has no npm test`);
    assert.equal(load(f).version, 1, f);
  }
});

test('limits vectors, through memoryStore: the same admissions, remainders and resets', () => {
  const BASE = Date.parse('2026-06-01T00:00:00Z');
  for (const c of load('limits').cases) {
    const { key, store } = meteredKey({ rate_limits: c.input.limits });
    c.input.steps.forEach((step, i) => {
      const want = c.expect[i];
      const now = BASE + step.at_ms;
      const got = store.verifyKey(key, { env: 'live', now, cost: step.cost });
      const at = `${c.name} at ${step.at_ms}`;
      assert.equal(got.valid, want.allowed, at);
      assert.equal(got.code, want.allowed ? 'valid' : 'rate_limited', at);
      assert.deepEqual(
        got.ratelimits.map((l) => ({ name: l.name, remaining: l.remaining, reset_ms: l.reset - now })),
        want.limits,
        at,
      );
      const retry = want.allowed || want.retry_after_ms === null ? undefined : Math.max(1, Math.ceil(want.retry_after_ms / 1000));
      assert.equal(got.retryAfter, retry, at);
    });
  }
});

test('credits vectors, through memoryStore: the same balances, refills and alerts', () => {
  for (const c of load('credits').cases) {
    const { key, store } = meteredKey({ credits: c.input.credits });
    c.input.steps.forEach((step, i) => {
      const want = c.expect[i];
      const got = store.verifyKey(key, { env: 'live', now: Date.parse(step.now), cost: step.cost });
      const at = `${c.name} at ${step.now}`;
      assert.equal(got.valid, want.allowed, at);
      assert.equal(got.code, want.allowed ? 'valid' : 'usage_exceeded', at);
      assert.equal(got.credits.remaining, want.remaining, at);
      assert.equal(got.creditsLow === true, want.alert_due, at);
    });
  }
});

test('parse vectors', () => {
  for (const c of load('parse').cases) {
    const key = input(c.input);
    if (c.expect) {
      const { hash, ...parts } = c.expect;
      assert.deepEqual({ ...parseKey(key) }, parts, c.name);
      assert.equal(hashKey(key), hash, c.name);
    } else {
      assert.throws(() => parseKey(key), (e) => {
        assert.ok(e instanceof ApiKeyError, c.name);
        assert.equal(e.code, c.error.code, c.name);
        if (c.error.part) assert.equal(e.part, c.error.part, c.name);
        assert.equal(e.status, codes[c.error.code].status, c.name);
        return true;
      });
    }
  }
});

test('checksum vectors, through parse outcomes', () => {
  for (const c of load('checksum').cases) {
    const key = c.input + c.expect;
    const isKeyBody = /^[a-z][a-z0-9]{0,15}_[a-z][a-z0-9]{0,15}_[A-Za-z0-9_-]{43}$/.test(c.input);
    if (isKeyBody) {
      assert.doesNotThrow(() => parseKey(key), c.name);
      // Any other checksum of the right shape is refused as a bad checksum.
      const other = c.expect[0] === 'A' ? `B${c.expect.slice(1)}` : `A${c.expect.slice(1)}`;
      assert.throws(() => parseKey(c.input + other), { code: 'bad_checksum' }, c.name);
    } else {
      // Not a key body (e.g. empty): body + checksum is not a key at all.
      assert.throws(() => parseKey(key), { code: 'malformed' }, c.name);
    }
  }
});

test('hash vectors', () => {
  for (const c of load('hash').cases) assert.equal(hashKey(c.input), c.expect, c.name);
});

test('scope_parse vectors', () => {
  for (const c of load('scope_parse').cases) {
    if (c.error) {
      assert.throws(() => parseScope(input(c.input)), (e) => e instanceof ApiKeyError && e.code === c.error.code, c.name);
    } else {
      assert.equal(parseScope(c.input), c.expect, c.name);
    }
  }
});

test('scope_grants vectors', () => {
  for (const c of load('scope_grants').cases) {
    assert.equal(hasScope(c.input.held, c.input.required), c.expect, c.name);
  }
});

test('verify vectors', () => {
  for (const c of load('verify').cases) {
    const { record, env, scopes, now } = c.input;
    const v = verify(record, { env, scopes, now: new Date(now) });
    assert.equal(v.code, c.expect.code, c.name);
    assert.equal(v.valid, c.expect.code === 'valid', c.name);
    if (v.code === 'insufficient_scope') assert.ok(scopes.includes(v.scope), c.name);
  }
});

test('codes vectors: status, RFC 6750 error and the ApiKeyError built from each', () => {
  const cases = load('codes').cases;
  assert.deepEqual(Object.keys(codes).sort(), cases.map((c) => c.input).sort(), 'the same table');
  for (const c of cases) {
    assert.equal(codes[c.input].status, c.expect.status, c.name);
    assert.equal(codes[c.input].bearer_error, c.expect.bearer_error, c.name);
    assert.equal(codes[c.input].challenge, c.expect.challenge, c.name);
    const e = new ApiKeyError(c.input);
    assert.equal(e.code, c.input);
    assert.equal(e.status, c.expect.status);
    const header = wwwAuthenticate(c.input);
    assert.ok(header.startsWith('Bearer realm="keyward"'), c.name);
    assert.equal(header.includes(`error="${c.expect.bearer_error}"`), c.expect.bearer_error !== null, c.name);
  }
});

test('createKey makes keys that parse, in the format of the vectors', () => {
  const { key, hash, hint } = createKey({ vendor: 'acme9', env: 'staging' });
  assert.match(key, /^acme9_staging_[A-Za-z0-9_-]{49}$/);
  assert.equal(hashKey(key), hash);
  assert.equal(parseKey(key).hint, hint);
  assert.notEqual(createKey().key, createKey().key);
  assert.equal(parseKey(createKey().key).env, 'live');
  assert.throws(() => createKey({ vendor: 'Bad' }), { code: 'invalid_request' });
});

test('verify refuses a record that is not a key record, with a code', () => {
  assert.throws(() => verify({ id: 'nope' }, { env: 'live' }), { code: 'invalid_request' });
  assert.throws(() => verify(null, { env: 'live', scopes: ['NOT A SCOPE'] }), { code: 'invalid_scope' });
  assert.throws(() => verify(null, {}), { code: 'ERR_KEYWARD_OPTION', option: 'env' });
});
