// End-to-end: the `keyward` CLI (crates/keyward-cli) against the real Worker under
// `wrangler dev`: keys create, list, show, rotate, revoke, and `scan --revoke`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, call, eventually, makeKey, sha256, startWorker } from './harness.mjs';

const BIN = join(ROOT, 'target/debug/keyward');
const KEY_SHAPE = /^[a-z][a-z0-9]{0,15}_[a-z][a-z0-9]{0,15}_[A-Za-z0-9_-]{49}$/;

let worker;
const made = []; // every raw key the CLI printed: none may appear where it should not

/** Runs the CLI; returns {code, stdout, stderr}. */
function keyward(args, { env = {}, cwd = ROOT } = {}) {
  const r = spawnSync(BIN, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, KEYWARD_URL: worker.url, KEYWARD_TOKEN: worker.rootKey, ...env },
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function assertNoKeys(text, keys = made) {
  for (const k of keys) assert.ok(!text.includes(k.slice(12)), `output leaks a key: ${text}`);
}

const verify = (key) => call(worker.url, '/v1/verify', { method: 'POST', key: worker.rootKey, body: { key, env: 'live' } });

function create(name, extra = []) {
  const r = keyward(['keys', 'create', '--name', name, '--owner', 'team-cli', '--scope', 'scans:read', '--env', 'live', ...extra]);
  assert.equal(r.code, 0, r.stderr);
  const key = r.stdout.trimEnd();
  made.push(key);
  return { ...r, key };
}

before(async () => {
  execFileSync('cargo', ['build', '-p', 'keyward-cli', '--locked'], { cwd: ROOT, stdio: 'inherit' });
  worker = await startWorker();
}, { timeout: 600_000 });

after(async () => { await worker?.stop(); });

describe('keyward keys', () => {
  let id;

  test('create prints the key alone on stdout; the Worker accepts it', async () => {
    const r = create('ci', ['--expires-in', '30d', '--metadata', '{"team":"cli"}']);
    assert.match(r.key, KEY_SHAPE);
    assert.equal(r.stdout, `${r.key}\n`);
    assert.ok(r.key.startsWith('sk_live_'));
    assertNoKeys(r.stderr);
    const m = r.stderr.match(/created (key_[A-Za-z0-9]+)/);
    assert.ok(m, r.stderr);
    id = m[1];
    const v = await verify(r.key);
    assert.equal(v.status, 200, v.text);
    assert.equal(v.body.valid, true);
    assert.equal(v.body.key_id, id);
  });

  test('create --json puts everything on stdout', () => {
    const r = keyward(['keys', 'create', '--json', '--name', 'json', '--owner', 'team-cli', '--scope', 'scans:read,repos:read', '--env', 'test']);
    assert.equal(r.code, 0, r.stderr);
    const body = JSON.parse(r.stdout);
    made.push(body.key);
    assert.match(body.key, KEY_SHAPE);
    assert.equal(body.env, 'test');
    assert.deepEqual([...body.scopes].sort(), ['repos:read', 'scans:read']);
  });

  test('list and show never print a key', () => {
    const table = keyward(['keys', 'list', '--owner', 'team-cli']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^ID\s+HINT\s+NAME/);
    assert.ok(table.stdout.includes(id), table.stdout);
    assertNoKeys(table.stdout + table.stderr);

    const json = keyward(['keys', 'list', '--json', '--owner', 'team-cli', '--all']);
    assert.equal(json.code, 0, json.stderr);
    const { keys } = JSON.parse(json.stdout);
    assert.ok(keys.length >= 2);
    assert.ok(keys.every((k) => k.owner === 'team-cli' && !('key' in k)));
    assertNoKeys(json.stdout);

    const show = keyward(['keys', 'show', id, '--json']);
    assert.equal(show.code, 0, show.stderr);
    const rec = JSON.parse(show.stdout);
    assert.equal(rec.id, id);
    assert.equal(rec.name, 'ci');
    assert.deepEqual(rec.metadata, { team: 'cli' });
    const human = keyward(['keys', 'show', id]);
    assert.equal(human.code, 0);
    assert.match(human.stdout, /status\s+active/);
    assertNoKeys(show.stdout + human.stdout);
  });

  test('rotate prints the new key alone; both work during the grace period', async () => {
    const old = made[0];
    const r = keyward(['keys', 'rotate', id, '--grace', '1h']);
    assert.equal(r.code, 0, r.stderr);
    const fresh = r.stdout.trimEnd();
    made.push(fresh);
    assert.match(fresh, KEY_SHAPE);
    assert.equal(r.stdout, `${fresh}\n`);
    assert.notEqual(fresh, old);
    assertNoKeys(r.stderr);
    assert.equal((await verify(fresh)).body.valid, true);
    assert.equal((await verify(old)).body.valid, true);
    const newId = r.stderr.match(/rotated to (key_[A-Za-z0-9]+)/)[1];
    const shown = JSON.parse(keyward(['keys', 'show', newId, '--json']).stdout);
    assert.equal(shown.rotated_from, id);
  });

  test('revoke: the key stops working at once', async () => {
    const victim = create('to-revoke');
    const vid = victim.stderr.match(/created (key_[A-Za-z0-9]+)/)[1];
    const r = keyward(['keys', 'revoke', vid, '--reason', 'e2e']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`revoked ${vid}`));
    const v = await verify(victim.key);
    assert.equal(v.body.valid, false);
    assert.equal(v.body.code, 'revoked');
    const rec = JSON.parse(keyward(['keys', 'show', vid, '--json']).stdout);
    assert.equal(rec.revocation_reason, 'e2e');
  });

  test('limits and credits: set at creation, replaced, topped up, shared by an owner; the Worker enforces them', async () => {
    const r = create('metered', ['--rate-limit', 'burst=3/1m', '--rate-limit', '100/1h', '--credits', '5',
      '--refill', '5/day', '--credits-alert-below', '2']);
    const mid = r.stderr.match(/created (key_[A-Za-z0-9]+)/)[1];
    assert.match(r.stderr, /rate_limits\s+burst=3\/1m, default=100\/1h/);
    assert.match(r.stderr, /credits\s+5 \(refill 5\/day, alert below 2\)/);
    const uses = await Promise.all(Array.from({ length: 5 }, () => verify(r.key)));
    assert.equal(uses.filter((u) => u.body.valid).length, 3, 'the Worker counts the limit the CLI set');

    const lim = keyward(['keys', 'limits', mid, '--rate-limit', 'burst=10/1m', '--json']);
    assert.equal(lim.code, 0, lim.stderr);
    assert.deepEqual(JSON.parse(lim.stdout).rate_limits, [{ name: 'burst', limit: 10, period: '1m' }]);
    assert.equal((await verify(r.key)).body.credits.remaining, 1, 'the fourth use, now admitted, spends a credit');
    const add = keyward(['keys', 'credits', mid, '--add', '4']);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /credits\s+5 \(refill 5\/day/);
    const none = keyward(['keys', 'limits', mid, '--json']);
    assert.deepEqual(JSON.parse(none.stdout).rate_limits, [], 'no --rate-limit: none of its own');

    const put = keyward(['keys', 'owner-limits', 'team-cli', '--rate-limit', 'team=50/1m']);
    assert.equal(put.code, 0, put.stderr);
    assert.equal(put.stdout, 'team=50/1m\n');
    const got = keyward(['keys', 'owner-limits', 'team-cli', '--json']);
    assert.deepEqual(JSON.parse(got.stdout), { rate_limits: [{ name: 'team', limit: 50, period: '1m' }] });
    assert.equal(keyward(['keys', 'owner-limits', 'team-cli', '--none']).stdout, '-\n');

    for (const bad of [['--rate-limit', 'Nope=1/1m'], ['--rate-limit', '5/1y'], ['--refill', '5/week']]) {
      const b = keyward(['keys', 'create', '--name', 'x', '--owner', 'o', '--scope', 'scans:read', '--env', 'live', '--credits', '1', ...bad]);
      assert.equal(b.code, 2, `${bad}: ${b.stderr}`);
    }
    const both = keyward(['keys', 'credits', mid, '--set', '1', '--add', '1']);
    assert.equal(both.code, 2);
    assertNoKeys(lim.stdout + add.stdout + put.stdout);
  });

  test('exit codes: 1 refused, 2 configuration, 3 unreachable', () => {
    const missing = keyward(['keys', 'show', 'key_0000000000000000']);
    assert.equal(missing.code, 1, missing.stderr);
    assert.match(missing.stderr, /not_found/);
    assert.equal(missing.stdout, '');
    const badToken = keyward(['keys', 'list'], { env: { KEYWARD_TOKEN: made.at(-1) } });
    assert.equal(badToken.code, 1, badToken.stderr);
    const noToken = keyward(['keys', 'list'], { env: { KEYWARD_TOKEN: '' } });
    assert.equal(noToken.code, 2);
    assert.match(noToken.stderr, /KEYWARD_TOKEN/);
    const down = keyward(['keys', 'list'], { env: { KEYWARD_URL: 'http://127.0.0.1:9' } });
    assert.equal(down.code, 3, down.stderr);
  });
});

describe('keyward keys migrate', () => {
  test('adopts a key stored before the ledger, with the root key only, once', async () => {
    const key = makeKey('sk', 'live');
    const hash = sha256(key);
    const id = 'key_CliLegacy0000001';
    const meta = { hash, owner: 'team-old', env: 'live' };
    worker.kvPut([
      { key: `rec:${hash}`, value: { id, hash, hint: key.slice(0, 12), name: 'old', owner: 'team-old', scopes: [], env: 'live', created_at: new Date().toISOString() } },
      { key: `id:${id}`, value: '', metadata: meta },
    ]);
    assert.equal((await verify(key)).body.code, 'unknown_key', 'not a key before the migration');
    const admin = keyward(['keys', 'create', '--name', 'admin', '--owner', 'team-cli', '--scope', 'admin', '--env', 'live']);
    assert.equal(admin.code, 0, admin.stderr);
    made.push(admin.stdout.trimEnd());
    const refused = keyward(['keys', 'migrate'], { env: { KEYWARD_TOKEN: admin.stdout.trimEnd() } });
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /forbidden/);
    const r = keyward(['keys', 'migrate']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${id}\n`);
    assert.match(r.stderr, /adopted 1/);
    assert.equal((await verify(key)).body.code, 'valid');
    const again = keyward(['keys', 'migrate', '--json']);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout).adopted, []);
  });
});

describe('keyward usage', () => {
  test('a key\'s uses per hour and day by outcome, as a table or JSON', async () => {
    const { key } = create('counted');
    const id = JSON.parse(keyward(['keys', 'list', '--owner', 'team-cli', '--json']).stdout)
      .keys.find((k) => k.name === 'counted').id;
    for (let i = 0; i < 2; i++) assert.equal((await verify(key)).body.code, 'valid');
    const refused = await call(worker.url, '/v1/verify', { method: 'POST', key: worker.rootKey, body: { key, env: 'live', scopes: ['repos:write'] } });
    assert.equal(refused.body.code, 'insufficient_scope');
    const sum = (u) => Object.fromEntries(['valid', 'insufficient_scope'].map((o) => [o, u.rows.filter((r) => r.outcome === o).reduce((n, r) => n + r.uses, 0)]));
    const json = await eventually(() => {
      const r = keyward(['usage', '--key', id, '--json']);
      assert.equal(r.code, 0, r.stderr);
      const u = JSON.parse(r.stdout);
      return sum(u).insufficient_scope === 1 && u;
    }, { what: 'the uses in keyward usage' });
    assert.deepEqual(sum(json), { valid: 2, insufficient_scope: 1 });
    assert.equal(json.bucket, 'hour');
    const table = keyward(['usage', '--key', id, '--bucket', 'day', '--since', '2d']);
    assert.equal(table.code, 0, table.stderr);
    const [head, row] = table.stdout.trim().split('\n');
    assert.deepEqual(head.split(/\s+/), ['START', 'insufficient_scope', 'valid', 'TOTAL']);
    assert.match(row, /^\d{4}-\d\d-\d\dT00:00:00Z\s+1\s+2\s+3$/);
    assert.match(table.stderr, /3 uses per day/);
    assertNoKeys(table.stdout + table.stderr + JSON.stringify(json));
    // Usage errors: neither --key nor --owner (2), a bad --since (2), refused (1).
    assert.equal(keyward(['usage']).code, 2);
    assert.equal(keyward(['usage', '--owner', 'team-cli', '--since', 'soon']).code, 2);
    // Further back than the 1000 buckets counted: answered from the oldest of them.
    const tooOld = keyward(['usage', '--owner', 'team-cli', '--since', '100d', '--json']);
    assert.equal(tooOld.code, 0, tooOld.stderr);
    const oldest = Date.parse(JSON.parse(tooOld.stdout).since);
    assert.ok(Date.now() - oldest <= 1000 * 3_600_000 && Date.now() - oldest >= 998 * 3_600_000, JSON.parse(tooOld.stdout).since);
    const noAudit = keyward(['usage', '--owner', 'team-cli'], { env: { KEYWARD_TOKEN: key } });
    assert.equal(noAudit.code, 1);
    assert.match(noAudit.stderr, /insufficient_scope/);
  });
});

describe('keyward scan --revoke', () => {
  test('a planted key is reported to the Worker and revoked', async () => {
    const leaked = create('leaked').key;
    const dir = mkdtempSync(join(tmpdir(), 'keyward-scan-'));
    try {
      mkdirSync(join(dir, 'config'));
      writeFileSync(join(dir, 'config', 'prod.env'), `# oops\nAPI_KEY=${leaked}\n`);
      writeFileSync(join(dir, 'README.md'), 'nothing here\n');
      // A well-formed key this Worker never issued: reported, nothing to revoke.
      const stranger = makeKey('sk', 'live');
      writeFileSync(join(dir, 'notes.txt'), `old: ${stranger}\n`);
      assert.equal((await verify(leaked)).body.valid, true);

      const r = keyward(['scan', '--revoke', '--json', dir]);
      assert.equal(r.code, 1, r.stderr);
      assertNoKeys(r.stdout + r.stderr, [leaked, stranger]);
      const out = JSON.parse(r.stdout);
      assert.equal(out.findings.length, 2);
      const mine = out.findings.find((f) => f.path.endsWith('prod.env'));
      assert.equal(mine.line, 2);
      assert.equal(mine.column, 9);
      assert.ok(Array.isArray(out.leak_report), r.stdout);
      const label = (f) => out.leak_report.find((x) => x.token_hash === f.key_hash)?.label;
      assert.equal(label(mine), 'true_positive');
      assert.equal(label(out.findings.find((f) => f.path.endsWith('notes.txt'))), 'false_positive');

      const v = await verify(leaked);
      assert.equal(v.body.valid, false);
      assert.equal(v.body.code, 'revoked');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('--revoke without configuration fails before scanning', () => {
    const r = keyward(['scan', '--revoke', ROOT], { env: { KEYWARD_URL: '' } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /KEYWARD_URL/);
  });
});
