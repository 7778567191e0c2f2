// The two Workers as deployed: the edge (keyward-edge) answers verification and judges
// every caller's credential itself; the control plane (keyward) is reached only through
// the edge's service binding, and only by a credential the edge accepted.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, call, createKey, eventually, makeKey, startWorker } from './harness.mjs';

/** The edge's binding to the control plane pointed at a Worker that does not run. */
const controlGone = (toml) => toml.replace('service = "keyward"', 'service = "keyward-nowhere"');

describe('the edge in front of the control plane', () => {
  let made;
  let key;
  let persistDir;
  let worker;

  before(async () => {
    // A key made through the whole deployment, then the edge again on the same state with
    // its control plane out of reach (the ledger's objects still run: their class is
    // keyward's, which is up).
    const first = await startWorker();
    persistDir = first.persistDir;
    try {
      made = await createKey(first.url, first.rootKey, { name: 'svc', owner: 'split', scopes: ['keys:read', 'scans:read'], env: 'live' });
      key = made.key;
      await eventually(() => first.d1("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'key.create'")[0].results[0].n === 1, { what: 'the create stored' });
    } finally {
      await first.stop();
    }
    worker = await startWorker({ persistDir, edgeConfig: controlGone });
    // The root key of this run is another: the first run's state, this run's root.
  });
  after(async () => worker && worker.stop());

  const auditRows = (where) => worker.d1(`SELECT action, outcome FROM audit_events WHERE ${where}`)[0].results;

  test('verification is answered at the edge without the control plane', async () => {
    const r = await call(worker.url, '/v1/verify', { method: 'POST', key: worker.rootKey, body: { key, env: 'live', scopes: ['scans:read'] } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.code, 'valid');
    assert.equal(r.body.key_id, made.id);
  });

  test('a refused credential on a control-plane route is answered and logged at the edge; an accepted one is handed over', async () => {
    const junk = makeKey('sk', 'live');
    const cases = [
      ['no credential', undefined, 401, 'missing_key'],
      ['a malformed credential', 'sk_live_nope', 401, 'malformed'],
      ['an unknown key', junk, 401, 'unknown_key'],
      ['a key without keys:write', key, 403, 'insufficient_scope'],
    ];
    for (const [what, credential, status, code] of cases) {
      const r = await call(worker.url, '/v1/keys', { method: 'POST', key: credential, body: { name: 'x', owner: 'split', scopes: ['scans:read'], env: 'live' } });
      assert.equal(r.status, status, `${what}: ${r.text}`);
      assert.equal(r.body.error.code, code, what);
    }
    // Each refusal is in the audit trail, written by the edge (the control plane is out of reach).
    const refused = await eventually(() => {
      const rows = auditRows("action = 'POST /v1/keys' AND outcome != 'valid'");
      return rows.length >= cases.length && rows;
    }, { what: 'the refusals stored' });
    assert.deepEqual(refused.map((r) => r.outcome).sort(), cases.map((c) => c[3]).sort());
    // The accepted credential is handed over, and the unreachable control plane makes it fail:
    // the edge does not act on the control plane's behalf.
    const handed = await call(worker.url, '/v1/keys', { method: 'POST', key: worker.rootKey, body: { name: 'x', owner: 'split', scopes: ['scans:read'], env: 'live' } });
    assert.notEqual(handed.status, 201, handed.text);
    assert.ok(handed.status >= 500, handed.text);
    // Nothing was minted: the key index holds the one key made before, and no create was logged.
    const ids = worker.d1("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'key.create'")[0].results[0].n;
    assert.equal(ids, 1, 'one key was ever created');
  });
});

describe('the edge without its binding to the control plane', () => {
  test('is named on every request, health included', async () => {
    const w = await startWorker({ ready: () => true, edgeConfig: (t) => t.replace(/\[\[services\]\][^[]*/, '') });
    try {
      for (const path of ['/healthz', '/v1/keys']) {
        const r = await call(w.url, path);
        assert.equal(r.status, 503, r.text);
        assert.equal(r.body.error.code, 'unavailable');
        assert.match(r.body.error.message, /the service binding CONTROL is missing/);
      }
    } finally {
      await w.stop();
    }
  });
});

describe('the deployment the configuration describes', () => {
  // What `wrangler deploy` reads: the README's "no public address of its own" and the
  // order of the hand-over are these lines, not a convention.
  const full = readFileSync(join(ROOT, 'wrangler.toml'), 'utf8');
  const edge = readFileSync(join(ROOT, 'wrangler.edge.toml'), 'utf8');

  test('keyward has no public door: no workers.dev address and no route', () => {
    assert.match(full, /^name = "keyward"$/m);
    assert.match(full, /^workers_dev = false$/m);
    assert.doesNotMatch(full, /^\s*routes?\s*=|^\[\[routes\]\]|^route\s*=/m);
  });

  test('the edge reaches it by its service binding, and its objects by their class there', () => {
    assert.match(edge, /^name = "keyward-edge"$/m);
    assert.match(edge, /\[\[services\]\]\s*binding = "CONTROL"\s*service = "keyward"/);
    assert.match(edge, /class_name = "KeyLedger", script_name = "keyward"/);
    assert.match(full, /new_sqlite_classes = \["KeyLedger"\]/);
    assert.doesNotMatch(edge, /new_sqlite_classes/, 'the class is defined once, by keyward');
  });
});
