// One hot rate-limited key, used faster than its object answers: leases (README, "One very
// hot key"). The real Worker under wrangler dev, its objects in local SQLite. wrangler dev
// runs one isolate, so these tests load one isolate with many connections; the core's
// simulation (keyward_core::limits::lease) covers many isolates holding leases at once.
//
// What a lease is seen by here, honestly and without a hook: a use paid from a lease
// answers the limits' statuses its object answered when it granted the lease, so every use
// paid from one lease shows the same `remaining`; a use the object answers shows its own
// count (each one less, while nothing is handed back). So, while no lease ends with units
// left (no hand-back), the admitted uses that share a `remaining` with an earlier one were
// paid from leases.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { call, createKey, eventually, startWorker } from './harness.mjs';

/** The rule's constants, as the README states them (keyward_core::limits::lease). */
const HOT_USES = 100;
const SHARE_PERCENT = 10;
const share = (limit) => Math.floor((limit * SHARE_PERCENT) / 100);

/** A bound longer than a load here takes: no lease ends during it (see above). */
const LONG = 60_000;
/**
 * Units each use of a hot key costs here: a key is hot by the units counted in the last
 * second, so a loaded machine's few dozen uses a second still make it hot.
 */
const COST = 10;
/** The default bound, for revocation under load. */
const BOUND = 1_000;
const CONNECTIONS = 24;

let long;
let bounded;
let zero;

before(async () => {
  [long, bounded, zero] = await Promise.all([
    startWorker({ vars: { KEYWARD_REVOCATION_BOUND_MS: String(LONG) } }),
    startWorker({ vars: { KEYWARD_REVOCATION_BOUND_MS: String(BOUND) } }),
    startWorker({ vars: { KEYWARD_REVOCATION_BOUND_MS: '0' } }),
  ]);
});

after(async () => {
  await Promise.all([long?.stop(), bounded?.stop(), zero?.stop()]);
});

/** A key of the owner `hot` on `w` (the harness's `createKey`: 201 or it throws). */
const create = (w, body) => createKey(w.url, w.rootKey, { owner: 'hot', scopes: ['repos:read'], env: 'live', ...body });

const verify = (w, key, cost = 1) =>
  call(w.url, '/v1/verify', { method: 'POST', key: w.rootKey, body: { key, env: 'live', scopes: ['repos:read'], cost } });

/**
 * `total` uses of `key` over `CONNECTIONS` connections, each waiting for its answer before
 * its next; `during(i)` runs before the i-th use is sent. Every answer, with when its use
 * was sent.
 * @param {any} w
 * @param {string} key
 * @param {number} total
 * @param {{cost?: number, during?: (i: number) => unknown}} [options]
 */
async function load(w, key, total, { cost = 1, during = (_i) => {} } = {}) {
  const answers = [];
  let sent = 0;
  const loop = async () => {
    while (sent < total) {
      const i = sent++;
      await during(i);
      const started = Date.now();
      const r = await verify(w, key, cost);
      answers.push({ i, started, status: r.status, body: r.body, text: r.text });
    }
  };
  const began = Date.now();
  await Promise.all(Array.from({ length: CONNECTIONS }, loop));
  return { answers, ms: Date.now() - began };
}

const valid = (answers) => answers.filter((a) => a.body?.valid);

/** Admitted uses that answered a `remaining` an earlier one answered: paid from a lease. */
function fromLeases(answers) {
  const remaining = valid(answers).map((a) => a.body.ratelimits[0].remaining);
  return remaining.length - new Set(remaining).size;
}

const show = async (w, id) => (await call(w.url, `/v1/keys/${id}`, { key: w.rootKey })).body;

async function auditCounts(w, id, n) {
  let events = [];
  await eventually(async () => {
    const all = [];
    for (const refused of [false, true]) {
      const r = await call(w.url, `/v1/audit?key_id=${id}&limit=1000${refused ? '&refused=true' : ''}`, { key: w.rootKey });
      all.push(...r.body.events);
    }
    events = all.filter((e) => e.action === 'verify');
    return new Set(events.map((e) => e.event_id)).size >= n;
  }, { what: `${n} audit events of ${id}` });
  const by = {};
  for (const e of new Map(events.map((e) => [e.event_id, e])).values()) by[e.outcome] = (by[e.outcome] ?? 0) + 1;
  return by;
}

describe('a hot rate-limited key', () => {
  test(`${CONNECTIONS} connections, 600 uses of ${COST} units of a key limited to 4,000 a minute: at most 4,000 + ${SHARE_PERCENT} %, leases used, every use audited`, async () => {
    const LIMIT = 4000;
    const k = await create(long, { name: 'hot', rate_limits: [{ name: 'minute', limit: LIMIT, period: '1m' }] });
    const { answers, ms } = await load(long, k.key, 600, { cost: COST });
    assert.ok(answers.every((a) => a.status === 200), 'every answer is a verdict, none a fault');
    assert.ok(ms < LONG, `the load (${ms} ms) ended within one bound: no lease ended with units left`);
    const admitted = valid(answers).length * COST;
    assert.ok(admitted <= LIMIT + share(LIMIT), `${admitted} units admitted, more than ${LIMIT} + ${share(LIMIT)}`);
    // Units granted but unused when the load ended are counted, not used (one isolate:
    // every ended lease is handed back on its next ask, so at most the live ones).
    assert.ok(admitted >= LIMIT - share(LIMIT), `${admitted} units admitted, fewer than ${LIMIT} - ${share(LIMIT)}`);
    const refused = answers.filter((a) => !a.body.valid);
    assert.ok(refused.length > 0 && refused.every((a) => a.body.code === 'rate_limited'), 'past the limit: rate_limited');
    const leased = fromLeases(answers) * COST;
    assert.ok(leased > 0, 'some uses were paid from leases');
    assert.ok(leased <= share(LIMIT), `${leased} units paid from leases, more than one bound's share (${share(LIMIT)})`);
    // Every use is in the audit trail, the leased ones too.
    const by = await auditCounts(long, k.id, answers.length);
    assert.equal(by.valid, valid(answers).length);
    assert.equal(by.rate_limited, refused.length);
    // And the key's count read back: nothing more gets through this minute.
    const next = await verify(long, k.key, COST);
    assert.equal(next.body.code, 'rate_limited');
  });

  test('a key used fewer than the hot rate is counted exactly: every use asked', async () => {
    const LIMIT = HOT_USES - 10;
    const k = await create(long, { name: 'warm', rate_limits: [{ name: 'minute', limit: LIMIT, period: '1m' }] });
    const { answers } = await load(long, k.key, 200);
    assert.equal(valid(answers).length, LIMIT);
    assert.equal(fromLeases(answers), 0);
  });

  test('with credits the same load stays exact: the balance read back is the start less what was admitted', async () => {
    const START = 300;
    const k = await create(long, {
      name: 'paid',
      rate_limits: [{ name: 'minute', limit: 2000, period: '1m' }],
      credits: { remaining: START },
    });
    const { answers } = await load(long, k.key, 400);
    assert.ok(answers.every((a) => a.status === 200), 'every answer is a verdict');
    const admitted = valid(answers).length;
    assert.equal(admitted, START);
    assert.equal(fromLeases(answers), 0, 'every use asked its object');
    assert.ok(answers.filter((a) => !a.body.valid).every((a) => a.body.code === 'usage_exceeded'));
    assert.equal((await show(long, k.id)).credits.remaining, START - admitted);
  });

  test('bound 0: no lease, exactly the limit', async () => {
    const LIMIT = 400;
    const k = await create(zero, { name: 'zero', rate_limits: [{ name: 'minute', limit: LIMIT, period: '1m' }] });
    const { answers } = await load(zero, k.key, 600);
    assert.equal(valid(answers).length, LIMIT);
    assert.equal(fromLeases(answers), 0);
    const remaining = valid(answers).map((a) => a.body.ratelimits[0].remaining).sort((x, y) => x - y);
    assert.deepEqual(remaining, Array.from({ length: LIMIT }, (_, i) => i), 'each admitted use saw its own count');
  });
});

describe('a hot key revoked or narrowed under load', () => {
  test(`revoked mid-load: every use sent more than the bound (${BOUND} ms) after the revocation returned is refused`, async () => {
    const k = await create(bounded, { name: 'revoked', rate_limits: [{ name: 'hour', limit: 10000, period: '1h' }] });
    let revoked = null;
    const revokeAt = 150;
    const { answers } = await load(bounded, k.key, 630, { cost: COST, during: async (i) => {
      if (i === revokeAt) {
        const r = await call(bounded.url, `/v1/keys/${k.id}/revoke`, { method: 'POST', key: bounded.rootKey, body: { reason: 'leaked' } });
        assert.equal(r.status, 200, r.text);
        revoked = Date.now();
      }
      // After the revocation, the load is paced (a bounded count across two bounds).
      if (revoked !== null) await new Promise((r) => setTimeout(r, 100));
    } });
    assert.ok(answers.every((a) => a.status === 200), 'every answer is a verdict');
    const before = answers.filter((a) => a.i < revokeAt);
    assert.ok(fromLeases(before) > 0, 'the key was hot and leased before its revocation');
    const late = answers.filter((a) => revoked !== null && a.started - revoked > BOUND);
    assert.ok(late.length > 0, 'uses were sent after the bound');
    assert.deepEqual(late.filter((a) => a.body.code !== 'revoked').map((a) => a.text), [], 'none passed');
    // Read back: revoked, and refused from now on.
    assert.equal((await show(bounded, k.id)).status, 'revoked');
    assert.equal((await verify(bounded, k.key)).body.code, 'revoked');
  });

  test('narrowed mid-load (restricted to a network the uses are not from): no use after the change returned passes on a lease', async () => {
    const k = await create(bounded, { name: 'narrowed', rate_limits: [{ name: 'hour', limit: 10000, period: '1h' }] });
    let narrowed = null;
    const at = 150;
    const { answers } = await load(bounded, k.key, 400, { cost: COST, during: async (i) => {
      if (i === at) {
        const r = await call(bounded.url, `/v1/keys/${k.id}`, { method: 'PATCH', key: bounded.rootKey, body: { allowed_ips: ['10.0.0.0/8'] } });
        assert.equal(r.status, 200, r.text);
        narrowed = Date.now();
      }
    } });
    const before = answers.filter((a) => a.i < at);
    assert.ok(fromLeases(before) > 0, 'the key was hot and leased before the change');
    const after = answers.filter((a) => narrowed !== null && a.started > narrowed);
    assert.ok(after.length > 0);
    assert.deepEqual(after.filter((a) => a.body.code !== 'ip_not_allowed').map((a) => a.text), [], 'none passed');
    assert.deepEqual((await show(bounded, k.id)).allowed_ips, ['10.0.0.0/8']);
  });
});
