// Key restrictions against the real Worker under wrangler dev: allowed client networks
// (the gateway's CF-Connecting-IP, /v1/verify's context.ip, the management API's caller),
// not_before, roles, the lifetime policy, and containment of what a restricted key mints,
// each attack followed by reading the state back.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, call as rawCall, eventually, makeKey, sha256, startWorker } from './harness.mjs';

let worker;
let origin;
const hits = [];

const call = (path, opts) => rawCall(worker.url, path, opts);
const root = (path, opts = {}) => call(path, { key: worker.rootKey, ...opts });
const from = (ip) => (ip === undefined ? {} : { 'cf-connecting-ip': ip });

async function create(body, key = worker.rootKey, headers = {}) {
  const r = await call('/v1/keys', { method: 'POST', key, body, headers });
  assert.equal(r.status, 201, r.text);
  return r.body;
}

async function keysOf(owner) {
  const r = await root(`/v1/keys?owner=${encodeURIComponent(owner)}&limit=100`);
  assert.equal(r.status, 200, r.text);
  return r.body.keys;
}

/** /v1/verify of `key` for a user at `ip` (undefined: no context.ip), by the root key. */
const verify = (key, ip) => root('/v1/verify', {
  method: 'POST',
  body: { key, env: 'live', ...(ip === undefined ? {} : { context: { ip } }) },
});

before(async () => {
  origin = await new Promise((res) => {
    const srv = http.createServer((req, resp) => {
      hits.push(req.url);
      resp.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    srv.listen(0, '127.0.0.1', () => res(srv));
  });
  execFileSync('cargo', ['build', '-p', 'keyward-cli', '--locked'], { cwd: ROOT, stdio: 'inherit' });
  worker = await startWorker({
    vars: {
      ORIGIN_URL: `http://127.0.0.1:${origin.address().port}`,
      ROUTES: JSON.stringify([{ method: '*', path: '/*', scope: 'repos:read' }]),
      KEYWARD_ROLES: JSON.stringify({ reader: ['repos:read', 'scans:read'] }),
      KEYWARD_MAX_LIFETIME: JSON.stringify({ test: '1d' }),
    },
  });
}, { timeout: 600_000 });

after(async () => {
  await worker?.stop();
  origin?.close();
});

describe('allowed client networks', () => {
  test('/v1/verify refuses a use from outside, from an unknown address, and admits mapped IPv6', async () => {
    const k = await create({ name: 'net', owner: 'net', env: 'live', scopes: ['repos:read'], allowed_ips: ['203.0.113.0/24', '2001:db8::/32'] });
    assert.deepEqual(k.allowed_ips, ['203.0.113.0/24', '2001:db8::/32']);
    for (const [ip, code] of [
      ['203.0.113.9', 'valid'],
      ['::ffff:203.0.113.9', 'valid'],
      ['2001:db8:1::5', 'valid'],
      ['198.51.100.1', 'ip_not_allowed'],
      ['2001:db9::1', 'ip_not_allowed'],
      [undefined, 'ip_not_allowed'],
    ]) {
      const r = await verify(k.key, ip);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.code, code, `${ip}: ${r.text}`);
      assert.equal(r.body.valid, code === 'valid');
    }
    // A zone id is no address: the request itself is refused.
    const zoned = await verify(k.key, 'fe80::1%eth0');
    assert.equal(zoned.status, 400, zoned.text);
    assert.equal(zoned.body.error.code, 'invalid_request');
  });

  test('the gateway refuses by CF-Connecting-IP and forwards nothing; the refusal is audited and alerted', async () => {
    const k = await create({ name: 'gw', owner: 'net', env: 'live', scopes: ['repos:read'], allowed_ips: ['203.0.113.9'] });
    const before = hits.length;
    const out = await call('/repos/outside', { key: k.key, headers: from('198.51.100.7') });
    assert.equal(out.status, 403, out.text);
    assert.equal(out.body.error.code, 'ip_not_allowed');
    const unknown = await call('/repos/unknown', { key: k.key });
    assert.equal(unknown.status, 403, unknown.text);
    assert.equal(unknown.body.error.code, 'ip_not_allowed');
    assert.equal(hits.length, before, 'the origin received nothing');
    const inside = await call('/repos/inside', { key: k.key, headers: from('203.0.113.9') });
    assert.equal(inside.status, 200, inside.text);
    assert.deepEqual(hits.slice(before), ['/repos/inside']);
    const alert = await eventually(async () => {
      const r = await root(`/v1/alerts?key_id=${k.id}`);
      return r.body.alerts.find((a) => a.kind === 'ip_not_allowed');
    }, { what: 'the ip_not_allowed alert' });
    assert.equal(alert.severity, 'warning');
    const events = (await root(`/v1/audit?key_id=${k.id}&limit=100`)).body.events;
    const refused = events.filter((e) => e.outcome === 'ip_not_allowed');
    assert.equal(refused.length, 2, JSON.stringify(events));
    assert.ok(refused.some((e) => e.ip === '198.51.100.7'));
  });

  test('a restricted management key is refused from outside, and nothing is minted', async () => {
    const mgr = await create({ name: 'mgr', owner: 'fence', env: 'live', scopes: ['keys:write', 'keys:read'], allowed_ips: ['10.0.0.0/8'] });
    const count = (await keysOf('fence')).length;
    const r = await call('/v1/keys', { method: 'POST', key: mgr.key, body: { name: 'x', scopes: [] }, headers: from('192.0.2.1') });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.body.error.code, 'ip_not_allowed');
    assert.equal(r.body.key, undefined);
    assert.equal((await keysOf('fence')).length, count, 'no key minted');
    const ok = await call('/v1/keys', { method: 'GET', key: mgr.key, headers: from('10.1.2.3') });
    assert.equal(ok.status, 200, ok.text);
  });

  test('bad blocks are refused with invalid_request', async () => {
    for (const allowed_ips of [['fe80::1%eth0'], ['10.0.0.1/8'], ['10.0.0.0/33'], ['nope'], Array.from({ length: 101 }, (_, i) => `10.0.${i}.0/24`)]) {
      const r = await root('/v1/keys', { method: 'POST', body: { name: 'bad', owner: 'badnet', env: 'live', scopes: [], allowed_ips } });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.body.error.code, 'invalid_request');
    }
    assert.equal((await keysOf('badnet')).length, 0, 'no key minted');
  });
});

describe('containment of what a restricted key mints', () => {
  test('a key mints only inside its own networks, and its children inherit them', async () => {
    const mgr = await create({ name: 'mgr', owner: 'contain', env: 'live', scopes: ['keys:write', 'repos:read'], allowed_ips: ['10.0.0.0/16'] });
    const here = from('10.0.0.1');
    const count = (await keysOf('contain')).length;
    for (const allowed_ips of [['10.0.0.0/8'], ['0.0.0.0/0', '::/0'], ['10.0.0.0/16', '192.0.2.1']]) {
      const r = await call('/v1/keys', { method: 'POST', key: mgr.key, body: { name: 'wider', scopes: [], allowed_ips }, headers: here });
      assert.equal(r.status, 403, r.text);
      assert.equal(r.body.error.code, 'forbidden');
      assert.match(r.body.error.message, /allowed_ips/);
    }
    assert.equal((await keysOf('contain')).length, count, 'no key minted');
    const inherited = await create({ name: 'inherits', scopes: ['repos:read'] }, mgr.key, here);
    assert.deepEqual(inherited.allowed_ips, ['10.0.0.0/16']);
    assert.equal((await verify(inherited.key, '192.0.2.1')).body.code, 'ip_not_allowed');
    const narrower = await create({ name: 'narrower', scopes: [], allowed_ips: ['10.0.1.0/24'] }, mgr.key, here);
    assert.deepEqual(narrower.allowed_ips, ['10.0.1.0/24']);
  });

  test('an admin key with networks is contained by them too', async () => {
    const admin = await create({ name: 'admin', owner: 'contain-admin', env: 'live', scopes: ['admin'], allowed_ips: ['10.0.0.0/8'] });
    const r = await call('/v1/keys', { method: 'POST', key: admin.key, body: { name: 'escape', owner: 'anyone', scopes: [] }, headers: from('10.0.0.1') });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(r.body.allowed_ips, ['10.0.0.0/8'], 'an unasked restriction is inherited');
    const wide = await call('/v1/keys', { method: 'POST', key: admin.key, body: { name: 'escape', owner: 'anyone2', scopes: [], allowed_ips: ['0.0.0.0/0'] }, headers: from('10.0.0.1') });
    assert.equal(wide.status, 403, wide.text);
    assert.equal((await keysOf('anyone2')).length, 0, 'no key minted');
  });

  test('a key with not_before mints no key that starts earlier', async () => {
    const start = new Date(Date.now() - 3_600_000).toISOString();
    const mgr = await create({ name: 'mgr', owner: 'time', env: 'live', scopes: ['keys:write'], not_before: start });
    const count = (await keysOf('time')).length;
    const earlier = new Date(Date.now() - 7_200_000).toISOString();
    const r = await call('/v1/keys', { method: 'POST', key: mgr.key, body: { name: 'earlier', scopes: [], not_before: earlier } });
    assert.equal(r.status, 403, r.text);
    assert.match(r.body.error.message, /not_before/);
    assert.equal((await keysOf('time')).length, count, 'no key minted');
    const child = await create({ name: 'child', scopes: [] }, mgr.key);
    assert.equal(Date.parse(child.not_before), Date.parse(start), 'inherits the start');
  });
});

describe('not_before', () => {
  test('a key scheduled to start later is refused until then, everywhere', async () => {
    const later = new Date(Date.now() + 86_400_000).toISOString();
    const k = await create({ name: 'later', owner: 'sched', env: 'live', scopes: ['repos:read', 'keys:read'], not_before: later });
    const v = await verify(k.key);
    assert.equal(v.body.code, 'not_yet_valid');
    assert.equal(v.body.valid, false);
    const before = hits.length;
    const gw = await call('/repos/x', { key: k.key, headers: from('203.0.113.1') });
    assert.equal(gw.status, 401, gw.text);
    assert.equal(gw.body.error.code, 'not_yet_valid');
    assert.match(gw.headers.get('www-authenticate') ?? '', /invalid_token/);
    assert.equal(hits.length, before, 'the origin received nothing');
    const api = await call('/v1/keys', { key: k.key });
    assert.equal(api.status, 401);
    assert.equal(api.body.error.code, 'not_yet_valid');
  });

  test('a not_before at or after the expiry is refused', async () => {
    const r = await root('/v1/keys', { method: 'POST', body: { name: 'empty', owner: 'sched2', env: 'live', scopes: [], expires_in: 60, not_before: new Date(Date.now() + 3_600_000).toISOString() } });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.body.error.code, 'invalid_request');
    assert.equal((await keysOf('sched2')).length, 0);
  });
});

describe('roles and the lifetime policy', () => {
  test('roles give their scopes (frozen at mint), and a key grants a role only if it holds all of it', async () => {
    const k = await create({ name: 'reader', owner: 'roles', env: 'live', scopes: ['keys:read'], roles: ['reader'] });
    assert.deepEqual(k.roles, ['reader']);
    assert.deepEqual(k.scopes, ['keys:read', 'repos:read', 'scans:read']);
    const unknown = await root('/v1/keys', { method: 'POST', body: { name: 'x', owner: 'roles', env: 'live', scopes: [], roles: ['writer'] } });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.error.code, 'invalid_request');
    const half = await create({ name: 'half', owner: 'roles', env: 'live', scopes: ['keys:write', 'repos:read'] });
    const count = (await keysOf('roles')).length;
    const r = await call('/v1/keys', { method: 'POST', key: half.key, body: { name: 'esc', scopes: [], roles: ['reader'] } });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.body.error.code, 'scope_not_held');
    assert.equal((await keysOf('roles')).length, count, 'no key minted');
  });

  test('a test key gets the policy\'s expiry, and a longer one is refused naming the policy', async () => {
    const made = Date.now();
    const k = await create({ name: 'short', owner: 'life', env: 'test', scopes: [] });
    const life = Date.parse(k.expires_at) - made;
    assert.ok(life > 86_000_000 && life <= 86_400_000 + 60_000, k.expires_at);
    const r = await root('/v1/keys', { method: 'POST', body: { name: 'long', owner: 'life', env: 'test', scopes: [], expires_in: 2 * 86_400 } });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.body.error.code, 'invalid_request');
    assert.match(r.body.error.message, /KEYWARD_MAX_LIFETIME/);
    assert.equal((await keysOf('life')).length, 1, 'no second key');
    const live = await create({ name: 'forever', owner: 'life', env: 'live', scopes: [] });
    assert.equal(live.expires_at, null, 'live has no policy here');
  });
});

describe('PATCH /v1/keys/{id}: keys:write narrows, only admin widens', () => {
  const show = async (id) => {
    const r = await root(`/v1/keys/${id}`);
    assert.equal(r.status, 200, r.text);
    const { allowed_ips, not_before, expires_at } = r.body;
    return { allowed_ips, not_before, expires_at };
  };
  const patch = (id, body, key = worker.rootKey, headers = {}) => call(`/v1/keys/${id}`, { method: 'PATCH', key, body, headers });
  const inHours = (h) => new Date(Date.now() + h * 3_600_000).toISOString();

  test('a keys:write key narrows a key it manages; every widening is 403 and nothing changes', async () => {
    const writer = await create({ name: 'w', owner: 'reshape', env: 'live', scopes: ['keys:write', 'repos:read'] });
    const target = await create({ name: 't', owner: 'reshape', env: 'live', scopes: ['repos:read'], allowed_ips: ['10.0.0.0/8'], expires_in: 48 * 3600 });
    const narrowed = await patch(target.id, { allowed_ips: ['10.1.0.0/16'], not_before: inHours(-1), expires_at: inHours(24) }, writer.key);
    assert.equal(narrowed.status, 200, narrowed.text);
    const state = await show(target.id);
    assert.deepEqual(state.allowed_ips, ['10.1.0.0/16']);
    assert.ok(Math.abs(Date.parse(state.expires_at) - Date.parse(inHours(24))) < 60_000, state.expires_at);
    assert.equal((await verify(target.key, '10.2.0.1')).body.code, 'ip_not_allowed', 'the narrowing holds');
    assert.equal((await verify(target.key, '10.1.0.1')).body.code, 'valid');
    for (const wider of [
      { allowed_ips: [] },
      { allowed_ips: ['10.0.0.0/8'] },
      { allowed_ips: ['10.1.0.0/16', '192.0.2.1'] },
      { not_before: null },
      { not_before: inHours(-2) },
      { expires_at: null },
      { expires_at: inHours(30) },
      { allowed_ips: ['10.1.1.0/24'], expires_at: inHours(30) },
    ]) {
      const r = await patch(target.id, wider, writer.key);
      assert.equal(r.status, 403, `${JSON.stringify(wider)}: ${r.text}`);
      assert.equal(r.body.error.code, 'forbidden');
      assert.deepEqual(await show(target.id), state, `${JSON.stringify(wider)} changed nothing`);
    }
    assert.equal((await verify(target.key, '192.0.2.1')).body.code, 'ip_not_allowed');
    // Another owner's key is not the writer's to touch, even to narrow it.
    const other = await create({ name: 'o', owner: 'reshape-other', env: 'live', scopes: ['repos:read'] });
    const r = await patch(other.id, { allowed_ips: ['10.0.0.0/8'] }, writer.key);
    assert.equal(r.status, 403, r.text);
    assert.deepEqual((await show(other.id)).allowed_ips, []);
  });

  test('root widens; an admin key widens only within its own networks; the policy bounds every expiry', async () => {
    const target = await create({ name: 't', owner: 'reshape2', env: 'live', scopes: ['repos:read'], allowed_ips: ['10.1.0.0/16'] });
    const admin = await create({ name: 'a', owner: 'reshape2', env: 'live', scopes: ['admin'], allowed_ips: ['10.0.0.0/8'] });
    const here = from('10.0.0.1');
    const wider = await patch(target.id, { allowed_ips: ['10.0.0.0/8'] }, admin.key, here);
    assert.equal(wider.status, 200, wider.text);
    assert.deepEqual((await show(target.id)).allowed_ips, ['10.0.0.0/8']);
    const escape = await patch(target.id, { allowed_ips: [] }, admin.key, here);
    assert.equal(escape.status, 403, escape.text);
    assert.match(escape.body.error.message, /allowed_ips/);
    assert.deepEqual((await show(target.id)).allowed_ips, ['10.0.0.0/8'], 'unchanged');
    const open = await patch(target.id, { allowed_ips: [] });
    assert.equal(open.status, 200, open.text);
    assert.equal((await verify(target.key, '192.0.2.1')).body.code, 'valid', 'the root key widened it');

    const test = await create({ name: 'short', owner: 'reshape2', env: 'test', scopes: [] });
    const before = await show(test.id);
    for (const expires_at of [null, inHours(49)]) {
      const r = await patch(test.id, { expires_at });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.body.error.code, 'invalid_request');
      assert.match(r.body.error.message, /KEYWARD_MAX_LIFETIME/);
      assert.deepEqual(await show(test.id), before);
    }
    const bad = await patch(test.id, { not_before: before.expires_at });
    assert.equal(bad.status, 400, bad.text);
    assert.deepEqual(await show(test.id), before);
  });
});

describe('rotation within the lifetime policy', () => {
  test('a successor expires within its environment\'s policy, even when its predecessor was made before it', async () => {
    // Keys stored before the policy (adopted from the previous format): one that never
    // expires and one that expires in 30 days; the policy for `test` is 1 day.
    const day = 86_400_000;
    const legacy = [null, new Date(Date.now() + 30 * day).toISOString()].map((expires_at, i) => {
      const key = makeKey('sk', 'test');
      return {
        key,
        record: {
          id: `key_lifetimepolicy${i}0`, hash: sha256(key), hint: key.slice(0, 12), name: `old${i}`,
          owner: 'lifetime', scopes: ['scans:read'], env: 'test', created_at: new Date(Date.now() - day).toISOString(),
          ...(expires_at ? { expires_at } : {}),
        },
      };
    });
    await worker.adoptLegacy(legacy);
    for (const { record } of legacy) {
      const before = Date.now();
      const r = await root(`/v1/keys/${record.id}/rotate`, { method: 'POST', body: { grace_seconds: 60 } });
      assert.equal(r.status, 201, r.text);
      const after = Date.now();
      const shown = await root(`/v1/keys/${r.body.id}`);
      assert.equal(shown.status, 200, shown.text);
      for (const expires_at of [r.body.expires_at, shown.body.expires_at]) {
        const t = Date.parse(expires_at);
        assert.ok(t >= before + day - 1_000 && t <= after + day + 1_000, `${record.name}: ${expires_at}`);
      }
      // Rotating the successor again never reaches past the policy either.
      const again = await root(`/v1/keys/${r.body.id}/rotate`, { method: 'POST', body: { grace_seconds: 0 } });
      assert.equal(again.status, 201, again.text);
      assert.ok(Date.parse(again.body.expires_at) <= Date.now() + day + 1_000, again.body.expires_at);
    }
    // A successor whose predecessor expires sooner keeps that sooner expiry.
    const soon = await create({ name: 'soon', owner: 'lifetime', env: 'test', scopes: [], expires_in: 3600 });
    const r = await root(`/v1/keys/${soon.id}/rotate`, { method: 'POST' });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.body.expires_at, soon.expires_at);
  });
});

describe('the CLI', () => {
  const keyward = (args) => {
    const r = spawnSync(join(ROOT, 'target/debug/keyward'), args, {
      encoding: 'utf8',
      env: { ...process.env, KEYWARD_URL: worker.url, KEYWARD_TOKEN: worker.rootKey },
    });
    if (r.error) throw r.error;
    return r;
  };

  test('keys create --allow-ip --not-before --role, shown by keys show; bad input is refused before any request', async () => {
    const start = '2030-01-01T00:00:00Z';
    const r = keyward(['keys', 'create', '--name', 'cli', '--owner', 'cli', '--env', 'live', '--role', 'reader',
      '--allow-ip', '203.0.113.0/24', '--allow-ip', '2001:db8::1', '--not-before', start]);
    assert.equal(r.status, 0, r.stderr);
    const key = r.stdout.trimEnd();
    const id = r.stderr.match(/created (key_[A-Za-z0-9]+)/)[1];
    const shown = keyward(['keys', 'show', id]);
    assert.equal(shown.status, 0, shown.stderr);
    assert.match(shown.stdout, /roles\s+reader/);
    assert.match(shown.stdout, /allowed_ips\s+203\.0\.113\.0\/24 2001:db8::1\/128/);
    assert.match(shown.stdout, /not_before\s+2030-01-01T00:00:00/);
    assert.ok(!shown.stdout.includes(key.slice(12)), 'the key is not shown');
    assert.equal((await verify(key, '203.0.113.5')).body.code, 'not_yet_valid');
    for (const bad of [['--allow-ip', '10.0.0.1/8'], ['--allow-ip', 'fe80::1%eth0'], ['--not-before', 'tomorrow']]) {
      const before = (await keysOf('cli-bad')).length;
      const b = keyward(['keys', 'create', '--name', 'bad', '--owner', 'cli-bad', '--env', 'live', '--scope', 'scans:read', ...bad]);
      assert.notEqual(b.status, 0, bad.join(' '));
      assert.match(b.stderr, new RegExp(bad[0]));
      assert.equal((await keysOf('cli-bad')).length, before, 'no key minted');
    }
  });

  test('keys restrict: a keys:write token narrows; its widenings fail and change nothing; root widens', async () => {
    const target = await create({ name: 'to-restrict', owner: 'cli-r', env: 'live', scopes: ['scans:read'],
      allowed_ips: ['203.0.113.0/24', '198.51.100.0/24'], expires_in: 86_400 });
    const writer = await create({ name: 'cli-writer', owner: 'cli-r', env: 'live', scopes: ['keys:write', 'keys:read', 'scans:read'] });
    const as = (token, args) => spawnSync(join(ROOT, 'target/debug/keyward'), ['keys', 'restrict', target.id, ...args], {
      encoding: 'utf8', env: { ...process.env, KEYWARD_URL: worker.url, KEYWARD_TOKEN: token },
    });
    const shown = async () => (await root(`/v1/keys/${target.id}`)).body;

    const later = new Date(Date.parse(target.expires_at) - 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z');
    const narrowed = as(writer.key, ['--allow-ip', '203.0.113.0/25', '--expires-at', later, '--json']);
    assert.equal(narrowed.status, 0, narrowed.stderr);
    assert.deepEqual(JSON.parse(narrowed.stdout).allowed_ips, ['203.0.113.0/25']);
    const now = await shown();
    assert.deepEqual(now.allowed_ips, ['203.0.113.0/25']);
    assert.equal(Date.parse(now.expires_at), Date.parse(later));

    // Attack: the same token tries every widening; each is refused and the key reads back as it was.
    for (const widen of [['--any-ip'], ['--allow-ip', '0.0.0.0/0'], ['--never-expires'],
      ['--expires-at', target.expires_at], ['--allow-ip', '203.0.113.0/25,192.0.2.1']]) {
      const r = as(writer.key, widen);
      assert.equal(r.status, 1, `${widen.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /forbidden/, widen.join(' '));
      assert.deepEqual(await shown(), now, `${widen.join(' ')} changed nothing`);
    }
    // Bad input is refused before any request.
    for (const bad of [['--allow-ip', '10.0.0.1/8'], ['--not-before', 'soon'], []]) {
      const r = as(writer.key, bad);
      assert.notEqual(r.status, 0, bad.join(' '));
      assert.deepEqual(await shown(), now);
    }
    // The root key widens.
    const widened = as(worker.rootKey, ['--any-ip', '--no-not-before', '--json']);
    assert.equal(widened.status, 0, widened.stderr);
    assert.deepEqual((await shown()).allowed_ips, []);
  });
});
