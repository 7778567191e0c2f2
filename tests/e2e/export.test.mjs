// The audit export against the real Worker under wrangler dev: newline-delimited JSON,
// bounded by the caller's owner, and OCSF events that validate (tests/ocsf/validate.py,
// jsonschema from the project's .venv); the CLI's `keyward audit export`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, call as rawCall, eventually, sha256, startWorker } from './harness.mjs';

const BIN = join(ROOT, 'target/debug/keyward');
const PYTHON = join(ROOT, '.venv/bin/python');
let worker;
const secrets = [];
const call = (path, opts) => rawCall(worker.url, path, opts);
const root = (path, opts = {}) => call(path, { key: worker.rootKey, ...opts });

async function makeKey(body) {
  const r = await root('/v1/keys', { method: 'POST', body });
  assert.equal(r.status, 201, r.text);
  secrets.push(r.body.key, sha256(r.body.key));
  return r.body;
}

const lines = (text) => text.split('\n').filter(Boolean).map((l) => JSON.parse(l));

before(async () => {
  execFileSync('cargo', ['build', '-q', '-p', 'keyward-cli', '--locked'], { cwd: ROOT, stdio: 'inherit' });
  worker = await startWorker();
});

after(async () => {
  await worker?.stop();
});

describe('GET /v1/audit/export', () => {
  let auditor;
  let used;
  let theirs;

  test('streams every event of the range as NDJSON, oldest first', async () => {
    auditor = await makeKey({ name: 'a', owner: 'acme', scopes: ['audit:read'], env: 'live' });
    used = await makeKey({ name: 'u', owner: 'acme', scopes: ['scans:read'], env: 'live' });
    theirs = await makeKey({ name: 't', owner: 'other', scopes: ['scans:read'], env: 'live' });
    for (const k of [used, theirs]) {
      assert.equal((await root('/v1/verify', { method: 'POST', body: { key: k.key, env: 'live' } })).status, 200);
    }
    assert.equal((await root(`/v1/keys/${used.id}/revoke`, { method: 'POST', body: {} })).status, 200);
    assert.equal((await root('/v1/verify', { method: 'POST', body: { key: used.key, env: 'live' } })).status, 200);
    const all = await eventually(async () => {
      const r = await root('/v1/audit/export');
      const events = lines(r.text);
      return events.filter((e) => e.key_id === used.id).length >= 4 && events.some((e) => e.key_id === theirs.id) && r;
    }, { what: 'the events in D1' });
    assert.equal(all.status, 200);
    assert.equal(all.headers.get('content-type'), 'application/x-ndjson');
    const events = lines(all.text);
    // By the instant, not the text: RFC 3339 leaves out a whole second's fraction, and
    // "…:10Z" sorts after "…:10.334Z" as text.
    const times = events.map((e) => Date.parse(e.time));
    assert.deepEqual(times, [...times].sort((a, b) => a - b), 'oldest first');
    assert.equal(new Set(events.map((e) => e.event_id)).size, events.length, 'none twice');
    const mine = events.filter((e) => e.key_id === used.id).map((e) => `${e.action}:${e.outcome}`);
    for (const x of ['key.create:valid', 'verify:valid', 'key.revoke:valid', 'verify:revoked']) {
      assert.ok(mine.includes(x), `${x} in ${mine}`);
    }
    // A range is a range.
    const later = await root(`/v1/audit/export?since=${encodeURIComponent(new Date(Date.now() + 3600_000).toISOString())}&until=${encodeURIComponent(new Date(Date.now() + 7200_000).toISOString())}`);
    assert.equal(later.status, 200);
    assert.equal(later.text, '');
  });

  test('a bounded key exports its own owner\'s events of its own environment only', async () => {
    // acme's key of another environment, used: its events are in D1 (the root key sees them).
    const testKey = await makeKey({ name: 'tk', owner: 'acme', scopes: ['scans:read'], env: 'test' });
    assert.equal((await root('/v1/verify', { method: 'POST', body: { key: testKey.key, env: 'test' } })).status, 200);
    await eventually(async () => lines((await root('/v1/audit/export')).text).filter((e) => e.key_id === testKey.id).length >= 2,
      { what: 'the test key\'s events in D1' });
    const r = await call('/v1/audit/export', { key: auditor.key });
    assert.equal(r.status, 200, r.text);
    const events = lines(r.text);
    assert.ok(events.some((e) => e.key_id === used.id));
    for (const e of events) {
      assert.equal(e.owner, 'acme', JSON.stringify(e));
      assert.match(e.hint, /^sk_live_/, JSON.stringify(e));
    }
    assert.ok(!events.some((e) => e.key_id === testKey.id), 'never another environment\'s events');
    // And the other way round: acme's test auditor sees its environment's, not live's.
    const testAuditor = await makeKey({ name: 'ta', owner: 'acme', scopes: ['audit:read'], env: 'test' });
    const t = lines((await call('/v1/audit/export?format=ocsf', { key: testAuditor.key })).text);
    assert.ok(t.length >= 2, JSON.stringify(t));
    const raw = lines((await call('/v1/audit/export', { key: testAuditor.key })).text);
    assert.ok(raw.some((e) => e.key_id === testKey.id));
    assert.ok(!raw.some((e) => e.key_id === used.id || e.key_id === auditor.id));
  });

  test('OCSF: uses are Authentication, lifecycle actions Account Change; every event validates', async () => {
    const r = await root('/v1/audit/export?format=ocsf');
    assert.equal(r.status, 200, r.text);
    const events = lines(r.text);
    const check = spawnSync(PYTHON, [join(ROOT, 'tests/ocsf/validate.py')], { input: r.text });
    assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
    const ofKey = events.filter((e) => e.user.uid === used.id);
    const kinds = ofKey.map((e) => `${e.class_uid}/${e.activity_id}/${e.status_id}`);
    for (const x of ['3001/1/1', '3002/1/1', '3001/5/1', '3002/1/2']) assert.ok(kinds.includes(x), `${x} in ${kinds}`);
    for (const e of events) {
      assert.equal(e.metadata.product.name, 'keyward');
      assert.ok(Number.isInteger(e.time));
      assert.ok(e.actor.user.uid);
    }
    assert.ok(events.some((e) => e.src_endpoint?.ip), 'the client address is src_endpoint.ip');
    // Something that is not OCSF is refused by the validator (it can fail).
    const broken = JSON.stringify({ ...events[0], class_uid: 3005 });
    assert.equal(spawnSync(PYTHON, [join(ROOT, 'tests/ocsf/validate.py')], { input: `${broken}\n` }).status, 1);
    for (const s of secrets) assert.ok(!r.text.includes(s), 'no key or hash in the export');
  });

  test('bad queries and missing scopes are refused', async () => {
    const backwards = await root('/v1/audit/export?since=2030-01-02T00:00:00Z&until=2030-01-01T00:00:00Z');
    assert.equal(backwards.status, 200, 'a since after until is an empty range');
    assert.equal(backwards.text, '');
    for (const q of ['format=xml', 'since=yesterday', 'other=1']) {
      const r = await root(`/v1/audit/export?${q}`);
      assert.equal(r.status, 400, `${q}: ${r.text}`);
      assert.equal(r.body.error.code, 'invalid_request');
    }
    const r = await call('/v1/audit/export', { key: used.key });
    assert.equal(r.status, 401, 'a revoked key');
    const reader = await makeKey({ name: 'r', owner: 'acme', scopes: ['scans:read'], env: 'live' });
    const refused = await call('/v1/audit/export', { key: reader.key });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, 'insufficient_scope');
  });

  test('keyward audit export --format ocsf --since 24h', () => {
    const env = { ...process.env, KEYWARD_URL: worker.url, KEYWARD_TOKEN: worker.rootKey };
    const r = spawnSync(BIN, ['audit', 'export', '--format', 'ocsf', '--since', '24h'], { env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const events = lines(r.stdout);
    assert.ok(events.some((e) => e.user.uid === used.id && e.class_uid === 3002));
    const check = spawnSync(PYTHON, [join(ROOT, 'tests/ocsf/validate.py')], { input: r.stdout });
    assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
    const bad = spawnSync(BIN, ['audit', 'export', '--since', 'soon'], { env, encoding: 'utf8' });
    assert.equal(bad.status, 2);
    const refused = spawnSync(BIN, ['audit', 'export'], { env: { ...env, KEYWARD_TOKEN: used.key }, encoding: 'utf8' });
    assert.equal(refused.status, 1, refused.stderr);
  });
});
