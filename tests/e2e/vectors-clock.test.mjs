// The limits and credits vectors through the Worker's Durable Object path over HTTP, at
// exactly the vectors' times: the Worker's clock is frozen by its settings
// (KEYWARD_TEST_CLOCK_AT_MS) at each distinct step time in turn, the Worker started again
// on the same persisted state for each. Each case gets its own key, its limits or credits set
// through the API as a user sets them; each step is a `POST /v1/verify` with the step's
// cost, and the whole answer is compared with the vector's outcome. The same vectors are
// replayed by Rust (the core and `use_key`) and by npm (every store path).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { call, createKey, eventually, readAnswer, startWorker } from './harness.mjs';
import { load } from '../vectors/replay.mjs';

/** The limits vectors' `at_ms` 0: the first instant of the credits vectors too, so the
 *  two share three step times (and restarts). */
const BASE = Date.parse('2026-06-01T10:00:00Z');
const SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 };
/** A period such as `10s` or `1m`, in seconds (what the API's `period` answers). */
const seconds = (period) => Number(period.slice(0, -1)) * SECONDS[period.slice(-1)];
/** `Retry-After` for a retry possible in `ms`: whole seconds rounded up, at least 1. */
const retryAfter = (ms) => (ms === null ? null : Math.max(1, Math.ceil(ms / 1000)));

const cases = [
  ...load('limits').map((c) => ({ kind: 'limits', ...c, times: c.input.steps.map((s) => BASE + s.at_ms) })),
  ...load('credits').map((c) => ({ kind: 'credits', ...c, times: c.input.steps.map((s) => Date.parse(s.now)) })),
];
/** Every distinct step time, in order: one start of the Worker each. */
const times = [...new Set(cases.flatMap((c) => c.times))].sort((a, b) => a - b);
/** The keys are made at the first time, before any step (so each credits case's balance
 *  starts in the refill period its vector names). */
const MADE_AT = times[0];

/** The refill period `t` falls in (`2026-06-01`, `2026-06`), as the vectors name it. */
const period = (refill, t) => new Date(t).toISOString().slice(0, refill?.interval === 'month' ? 7 : 10);

let dir;
let worker;
/** The Worker, on the same state, started again with its clock frozen at `t`. */
async function at(t) {
  await worker?.stop();
  worker = await startWorker({ persistDir: dir, vars: { KEYWARD_TEST_CLOCK_AT_MS: String(t) } });
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'keyward-vectors-clock-'));
});

after(async () => {
  await worker?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The first instant of the refill period after `t`'s: the next UTC midnight, or the
 *  next first of the month. */
function nextRefill(refill, t) {
  const d = new Date(t);
  return refill.interval === 'month'
    ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)
    : Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
}

/** What `POST /v1/verify` must answer at `t` for step `i` of case `c`. */
function expected(c, i, t, key) {
  const e = c.expect[i];
  const refused = c.kind === 'limits' ? 'rate_limited' : 'usage_exceeded';
  const out = { valid: e.allowed, code: e.allowed ? 'valid' : refused, key_id: key.id };
  if (c.kind === 'limits') {
    return {
      ...out,
      ratelimits: e.limits.map((l, n) => ({
        name: l.name,
        limit: c.input.limits[n].limit,
        period: seconds(c.input.limits[n].period),
        remaining: l.remaining,
        reset_ms: l.reset_ms,
      })),
      retry_after: retryAfter(e.retry_after_ms),
      credits: null,
    };
  }
  // A balance that did not cover the use is retried at the next refill (none coming: no
  // Retry-After); the vectors state the balance, this the README's "until the refill".
  const refill = c.input.credits.refill;
  const wait = !e.allowed && refill ? nextRefill(refill, t) - t : null;
  return { ...out, ratelimits: null, retry_after: retryAfter(wait), credits: { remaining: e.remaining } };
}

/** The same fields of the answer, each limit's `reset_at` read as ms after `t`. */
function observed(body, t) {
  return {
    valid: body.valid,
    code: body.code,
    key_id: body.key_id,
    ratelimits: body.ratelimits?.map((l) => ({
      name: l.name,
      limit: l.limit,
      period: l.period,
      remaining: l.remaining,
      reset_ms: Date.parse(l.reset_at) - t,
    })) ?? null,
    retry_after: body.retry_after ?? null,
    credits: body.credits ?? null,
  };
}

describe('limits.json and credits.json through the Durable Object, at the vectors\' times', () => {
  test('every step of every case answers the vector\'s whole outcome', async () => {
    assert.ok(times.length < 40, `${times.length} restarts`);
    await at(MADE_AT);
    const keys = [];
    for (const [n, c] of cases.entries()) {
      const body = { name: `vector-${n}`, owner: 'vectors', env: 'live', scopes: [] };
      if (c.kind === 'limits') body.rate_limits = c.input.limits;
      else {
        const { remaining, refill, alert_below: alertBelow } = c.input.credits;
        body.credits = { remaining, ...(refill ? { refill } : {}), ...(alertBelow !== undefined ? { alert_below: alertBelow } : {}) };
        // The vector's balance belongs to a refill period: the one the key is made in.
        if (c.input.credits.period) assert.equal(period(refill, MADE_AT), c.input.credits.period, c.name);
      }
      const key = await createKey(worker.url, worker.rootKey, body);
      // The key holds what was asked for, as its vector starts.
      if (c.kind === 'credits') assert.equal(key.credits.remaining, c.input.credits.remaining, `${c.name}: the balance as set`);
      else assert.deepEqual(key.rate_limits, c.input.limits, c.name);
      keys.push(key);
    }
    let steps = 0;
    for (const t of times) {
      if (t !== MADE_AT) await at(t);
      for (const [n, c] of cases.entries()) {
        for (const [i, due] of c.times.entries()) {
          if (due !== t) continue;
          // The request names another time (a day later) where a client could: the clock
          // is the settings' alone, so the answer is still the vector's at `t`.
          const r = await call(worker.url, '/v1/verify', {
            method: 'POST', key: worker.rootKey, body: { key: keys[n].key, cost: c.input.steps[i].cost, env: 'live' },
            headers: { date: new Date(t + 86_400_000).toUTCString() },
          });
          assert.equal(r.status, 200, r.text);
          const when = new Date(t).toISOString();
          assert.deepEqual(observed(r.body, t), expected(c, i, t, keys[n]), `${c.kind}: ${c.name}, step ${i} at ${when}`);
          steps++;
        }
      }
      // A credits_low alert is raised by the step that made it due, stamped with its time:
      // seen before this Worker stops.
      for (const [n, c] of cases.entries()) {
        if (c.kind !== 'credits' || !c.times.some((due, i) => due === t && c.expect[i].alert_due)) continue;
        await eventually(async () => (await alerts(keys[n])).some((a) => Date.parse(a.time) === t),
          { what: `${c.name}: credits_low at ${new Date(t).toISOString()}` });
      }
    }
    assert.equal(steps, cases.reduce((sum, c) => sum + c.input.steps.length, 0));
    // alert_due, whole: each key's credits_low alerts are exactly those its vector makes
    // due, at those steps' times (none for a key whose vector makes none due).
    for (const [n, c] of cases.entries()) {
      if (c.kind !== 'credits') continue;
      const raised = (await alerts(keys[n])).map((a) => Date.parse(a.time)).sort((a, b) => a - b);
      const due = c.times.filter((_, i) => c.expect[i].alert_due);
      assert.deepEqual(raised, due, `${c.name}: credits_low alerts`);
    }
  });
});

/** The `credits_low` alerts of `key`. */
async function alerts(key) {
  const r = await call(worker.url, `/v1/alerts?key_id=${key.id}`, { key: worker.rootKey });
  assert.equal(r.status, 200, r.text);
  return r.body.alerts.filter((a) => a.kind === 'credits_low');
}

describe('the frozen clock is set by the settings only, and checked there', () => {
  // Its range is the core's (`Clock::frozen`, unit-tested); here, the start-up check.
  test('KEYWARD_TEST_CLOCK_AT_MS with the offset: every request answers 503 naming both', async () => {
    const vars = { KEYWARD_TEST_CLOCK_AT_MS: String(BASE), KEYWARD_TEST_CLOCK_OFFSET_MS: '0' };
    const w = await startWorker({ vars, ready: (status) => status === 503 });
    try {
      for (const path of ['/healthz', '/v1/keys']) {
        const r = await call(w.url, path, { key: w.rootKey });
        assert.equal(r.status, 503, path);
        assert.equal(r.body.error.code, 'unavailable');
        assert.match(r.body.error.message, /KEYWARD_TEST_CLOCK_OFFSET_MS and KEYWARD_TEST_CLOCK_AT_MS cannot both be set/);
      }
    } finally {
      await w.stop();
    }
  });

  test('a test clock serves loopback only: a deployment\'s request (another host) is refused 503 naming it, and changes nothing', async () => {
    const w = await startWorker({ vars: { KEYWARD_TEST_CLOCK_AT_MS: String(BASE) } });
    try {
      const made = await createKey(w.url, w.rootKey, { name: 'clock-host', owner: 'o', scopes: ['scans:read'], env: 'live' });
      const { port } = new URL(w.url);
      // The attacks as a deployment would receive them, addressed to its own host: mint a
      // key with the root key, revoke one, verify one.
      const asDeployed = [
        ['POST', '/v1/keys', w.rootKey, { name: 'minted', owner: 'o', scopes: ['scans:read'], env: 'live' }],
        ['POST', `/v1/keys/${made.id}/revoke`, w.rootKey, {}],
        ['POST', '/v1/verify', w.rootKey, { key: made.key, env: 'live' }],
        ['GET', '/healthz', undefined, undefined],
      ];
      for (const host of ['api.example.com', `api.example.com:${port}`, '127.0.0.1.example.com', '[::2]']) {
        for (const [method, path, key, body] of asDeployed) {
          const r = await hostCall(port, host, method, path, key, body);
          assert.equal(r.status, 503, `${host} ${method} ${path}: ${r.text}`);
          assert.equal(r.body.error.code, 'unavailable');
          assert.match(r.body.error.message, /a test clock serves only requests to loopback/);
        }
      }
      // Read back over loopback, where the test clock serves: nothing was minted or revoked.
      const list = await call(w.url, '/v1/keys', { key: w.rootKey });
      assert.equal(list.status, 200, list.text);
      assert.deepEqual(list.body.keys.map((k) => k.name), ['clock-host']);
      const v = await call(w.url, '/v1/verify', { method: 'POST', key: w.rootKey, body: { key: made.key, env: 'live' } });
      assert.equal(v.body?.code, 'valid', v.text);
      for (const host of ['localhost', `localhost:${port}`, `127.0.0.1:${port}`]) {
        assert.equal((await hostCall(port, host, 'GET', '/healthz')).status, 200, host);
      }
    } finally {
      await w.stop();
    }
  });
});

/** An HTTP request to the Worker on loopback `port`, addressed (its Host header) to `host`. */
function hostCall(port, host, method, path, key, body) {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers = { host };
  if (key !== undefined) headers.authorization = `Bearer ${key}`;
  if (payload !== undefined) headers['content-type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers }, (res) => readAnswer(res).then(resolve, reject));
    req.on('error', reject);
    req.end(payload);
  });
}
