// A store of your own (`findByHash`): each use is the core's `use_key`, as memoryStore's
// is. The shared limits vectors replayed through it give memoryStore's whole outcomes;
// credits, whose balance would live nowhere, are a fault that counts nothing; a record
// the database changed is counted as it now reads. Every count is read back through
// later uses, never from the code that made it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createKey, findByHashStore, hashKey, memoryStore } from 'keyward';

const dir = new URL('../../tests/vectors/', import.meta.url);
const load = (name) => JSON.parse(readFileSync(new URL(`${name}.json`, dir)));
const NOW = Date.parse('2026-06-01T00:00:00Z');

/** A new live key and its record with `fields` over the rest. */
function keyWith(fields) {
  const { key, hash, hint } = createKey({ env: 'live' });
  const record = {
    id: `key_${hash.slice(0, 16)}`, hash, hint, name: 'own', owner: 'o', scopes: ['scans:read'], env: 'live',
    created_at: '2026-01-01T00:00:00Z', ...fields,
  };
  return { key, record };
}

/** The kinds of store a record can live in: each answers by the one store interface. */
const kinds = {
  'memoryStore()': (record) => memoryStore([record]),
  'a synchronous findByHash store, a fresh copy per lookup (a database)': (record) => findByHashStore({
    findByHash: (h) => (h === record.hash ? structuredClone(record) : null),
  }),
  'a synchronous findByHash store, the same object each time': (record) => findByHashStore({
    findByHash: (h) => (h === record.hash ? record : null),
  }),
  'an async findByHash store': (record) => findByHashStore({
    findByHash: async (h) => (h === record.hash ? structuredClone(record) : null),
  }),
};

/** What a verdict says of its use, as the vectors say it. */
function outcome(got, now) {
  return {
    code: got.code,
    limits: got.ratelimits?.map((l) => ({ name: l.name, remaining: l.remaining, reset_ms: l.reset - now })),
    retryAfter: got.retryAfter,
    headers: got.headers,
  };
}

describe('limits vectors through every store: the same whole outcomes', () => {
  for (const [kind, make] of Object.entries(kinds)) {
    test(kind, async () => {
      for (const c of load('limits').cases) {
        const { key, record } = keyWith({ rate_limits: c.input.limits });
        const store = make(record);
        const reference = memoryStore([record]);
        for (const [i, step] of c.input.steps.entries()) {
          const want = c.expect[i];
          const now = NOW + step.at_ms;
          const options = { env: 'live', scopes: ['scans:read'], now, cost: step.cost };
          const got = await store.verifyKey(key, options);
          const at = `${c.name} at ${step.at_ms}`;
          assert.equal(got.code, want.allowed ? 'valid' : 'rate_limited', at);
          assert.deepEqual(got.ratelimits.map((l) => ({ name: l.name, remaining: l.remaining, reset_ms: l.reset - now })), want.limits, at);
          const retry = want.allowed || want.retry_after_ms === null ? undefined : Math.max(1, Math.ceil(want.retry_after_ms / 1000));
          assert.equal(got.retryAfter, retry, at);
          // And whole, headers too, as memoryStore answers the same step.
          assert.deepEqual(outcome(got, now), outcome(reference.verifyKey(key, options), now), at);
        }
      }
    });
  }
});

describe('a store of your own cannot spend credits: a fault, never a pass, and nothing counted', () => {
  test('credits vectors: every use of every case is refused internal; the record reads the same', async () => {
    for (const c of load('credits').cases) {
      const { key, record } = keyWith({ credits: c.input.credits });
      const kept = structuredClone(record);
      for (const [kind, make] of Object.entries(kinds).slice(1)) {
        const store = make(record);
        for (const step of c.input.steps) {
          await assert.rejects(async () => store.verifyKey(key, { env: 'live', now: Date.parse(step.now), cost: step.cost }),
            (e) => e.code === 'internal' && /credits/.test(e.message), `${c.name}, ${kind}`);
        }
      }
      assert.deepEqual(record, kept, 'keyward wrote nothing into the app\'s record');
    }
  });

  test('refused for credits, a use is given back whole: the same key without them finds its window untouched', () => {
    const { key, record } = keyWith({ rate_limits: [{ name: 'm', limit: 2, period: '1m' }], credits: { remaining: 100 } });
    let current = record;
    const store = findByHashStore({ findByHash: (h) => (h === record.hash ? structuredClone(current) : null) });
    for (let i = 0; i < 5; i++) {
      assert.throws(() => store.verifyKey(key, { env: 'live', now: NOW + i }), { code: 'internal' });
    }
    // The app moves the balance elsewhere: the same key, limits only.
    const { credits, ...limitsOnly } = record;
    assert.ok(credits);
    current = limitsOnly;
    const first = store.verifyKey(key, { env: 'live', now: NOW + 10 });
    assert.equal(first.code, 'valid');
    assert.deepEqual(first.ratelimits.map((l) => l.remaining), [1], 'none of the five refused uses was counted');
    assert.equal(store.verifyKey(key, { env: 'live', now: NOW + 11 }).code, 'valid');
    assert.equal(store.verifyKey(key, { env: 'live', now: NOW + 12 }).code, 'rate_limited');
  });

  test('a refused decision (revoked, wrong environment, missing scope) is no fault and counts nothing', () => {
    const { key, record } = keyWith({ credits: { remaining: 1 }, revoked_at: '2026-01-02T00:00:00Z' });
    const store = findByHashStore({ findByHash: (h) => (h === record.hash ? record : null) });
    assert.equal(store.verifyKey(key, { env: 'live', now: NOW }).code, 'revoked');
    const live = keyWith({ rate_limits: [{ name: 'm', limit: 1, period: '1m' }] });
    const own = findByHashStore({ findByHash: (h) => (h === live.record.hash ? live.record : null) });
    assert.equal(own.verifyKey(live.key, { env: 'test', now: NOW }).code, 'wrong_environment');
    assert.equal(own.verifyKey(live.key, { env: 'live', scopes: ['keys:write'], now: NOW }).code, 'insufficient_scope');
    assert.equal(own.verifyKey(live.key, { env: 'live', now: NOW }).code, 'valid', 'the refusals left the one use');
    assert.equal(own.verifyKey(live.key, { env: 'live', now: NOW }).code, 'rate_limited');
  });
});

describe('a record the database changed is counted as it now reads (the record is read once, then kept while it reads the same)', () => {
  for (const [how, change] of [
    ['in place', (record, fields) => Object.assign(record, fields)],
    ['as a new copy', (record, fields) => ({ ...structuredClone(record), ...fields })],
  ]) {
    test(how, () => {
      const { key, record } = keyWith({ rate_limits: [{ name: 'm', limit: 5, period: '1m' }] });
      let current = record;
      const store = findByHashStore({ findByHash: (h) => (h === record.hash ? current : null) });
      const use = (i) => store.verifyKey(key, { env: 'live', now: NOW + i });
      assert.equal(use(0).ratelimits[0].remaining, 4);
      assert.equal(use(1).ratelimits[0].remaining, 3);
      // The limit lowered to 2: the two uses counted already fill it.
      current = change(current, { rate_limits: [{ name: 'm', limit: 2, period: '1m' }] });
      const lowered = use(2);
      assert.equal(lowered.code, 'rate_limited');
      assert.equal(lowered.headers['RateLimit-Policy'], '"m";q=2;w=60');
      // A balance given to the record: never counted without it.
      current = change(current, { credits: { remaining: 10 } });
      assert.throws(() => use(3), { code: 'internal' });
      // Limits and balance taken away: the key is counted by nothing.
      current = change(current, { rate_limits: undefined, credits: undefined });
      const free = use(4);
      assert.equal(free.code, 'valid');
      assert.equal(free.ratelimits, undefined);
      assert.equal(free.headers, undefined);
      // Revoked in the database: refused at once, as it reads.
      current = change(current, { revoked_at: '2026-01-02T00:00:00Z' });
      assert.equal(use(5).code, 'revoked');
    });
  }
});

describe("the lookup is asked for the presented key's hash, whole (its text is handed over from WebAssembly's memory, or held from an earlier lookup)", () => {
  test('past the bound of hash texts held (10,000), every key is looked up by its own hash, first and again', () => {
    const records = new Map();
    const keys = [];
    for (let i = 0; i < 10_050; i++) {
      const { key, record } = keyWith({});
      records.set(record.hash, record);
      keys.push(key);
    }
    let asked;
    const store = findByHashStore({ findByHash: (h) => { asked = h; return records.get(h) ?? null; } });
    // Twice over: the second pass finds the first keys' texts replaced by the last ones'.
    for (const pass of [1, 2]) {
      for (const key of keys) {
        const got = store.verifyKey(key, { env: 'live', now: NOW });
        if (got.code !== 'valid' || asked !== hashKey(key)) {
          assert.fail(`pass ${pass}: ${got.code}, asked ${asked} for the key of ${hashKey(key)}`);
        }
      }
    }
    // A key whose record has gone since its text was held: unknown, and asked by its hash.
    const gone = keys[keys.length - 1];
    records.delete(hashKey(gone));
    assert.equal(store.verifyKey(gone, { env: 'live', now: NOW }).code, 'unknown_key');
    assert.equal(asked, hashKey(gone));
  });

  test('junk is refused before any lookup, whichever way it crosses (written as ASCII, or as a string: longer, not ASCII)', () => {
    const { key, record } = keyWith({});
    let asked = 0;
    const store = findByHashStore({ findByHash: (h) => { asked++; return h === record.hash ? record : null; } });
    const junk = ['', key.slice(0, -1), `${key}x`, key.replace(/.$/, 'é'), `é${key}`, key.repeat(2), 'k'.repeat(129), 'k'.repeat(100_000)];
    for (const presented of junk) {
      assert.equal(store.verifyKey(presented, { env: 'live', now: NOW }).code, 'malformed', presented.slice(0, 90));
      assert.equal(store.verifyKey(key, { env: 'live', now: NOW }).code, 'valid', 'the key after it');
    }
    assert.equal(asked, junk.length, 'the key only');
  });

  test("after WebAssembly's memory grew (its old buffer detached), a new key's hash is read whole", () => {
    const first = keyWith({});
    const second = keyWith({});
    const records = new Map([[first.record.hash, first.record], [second.record.hash, second.record]]);
    const asked = [];
    const store = findByHashStore({ findByHash: (h) => { asked.push(h); return records.get(h) ?? null; } });
    assert.equal(store.verifyKey(first.key, { env: 'live', now: NOW }).code, 'valid');
    // 64 MiB through WebAssembly: more than its memory held, so the memory grows.
    hashKey('k'.repeat(64 << 20));
    assert.equal(store.verifyKey(second.key, { env: 'live', now: NOW }).code, 'valid');
    assert.deepEqual(asked, [first.record.hash, second.record.hash]);
  });
});
