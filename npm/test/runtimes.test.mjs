// Every runtime as a user would meet the package: `npm pack`, the tarball installed
// offline into a fresh app (which finds hono, @hono/node-server, fastify and express, the
// package's pinned dev dependencies, in npm/node_modules above it), then one
// server per runtime, each replaying the shared credential and check vectors over real
// HTTP: Express (CJS, the reference), Hono (apiKey() middleware, and guard() around each
// route's handler) and Fastify on Node (ESM), a JavaScript Worker under `wrangler dev`
// (wrangler's default configuration, and with disallow_eval_during_startup), Bun (a Hono
// app, both ways, and a `bun build --compile` binary run after deleting node_modules),
// Deno without --allow-read, and esbuild bundles (ESM and CJS) run from another
// directory, and a browser bundle in real Chromium. Every answer must be the Express
// app's, and the vectors' code, status and challenge.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import http from 'node:http';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createKey, hashKey } from 'keyward';
import { headerLines, load, onTheClock, shifted } from '../../tests/vectors/replay.mjs';
import { existsSync } from 'node:fs';
import { freePort, sha256, startWorker } from '../../tests/e2e/harness.mjs';
import { launch } from '../../tests/browser/browser.mjs';

const dir = fileURLToPath(new URL('..', import.meta.url));
const ROOT = join(dir, '..');
const bin = (name) => join(dir, 'node_modules/.bin', name);
const WRANGLER = join(ROOT, 'node_modules/.bin/wrangler');
const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
const tmp = mkdtempSync(join(tmpdir(), 'keyward-runtimes-'));
// Under npm/: the frameworks resolve from npm/node_modules, keyward from the app's own.
const app = mkdtempSync(join(dir, '.runtimes-'));
const quiet = { ...process.env, npm_config_update_notifier: 'false', WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', FORCE_COLOR: '0' };

// The vectors, as every app serves them: one route per check case, /credentials in 'live'.
const liveKey = load('parse').find((c) => c.name === 'live key').input;
const liveRecord = {
  id: 'key_0123456789abcdef', hash: hashKey(liveKey), hint: liveKey.slice(0, 12), name: 'vectors',
  owner: 'team-vectors', scopes: ['scans:read'], env: 'live', created_at: '2026-01-01T00:00:00Z',
};
const checks = onTheClock().map((c) => shifted(c));
const spec = {
  records: [liveRecord, ...checks.map((c) => c.input.record).filter(Boolean)],
  // What a database returns for a hash: a case's record is filed under its presented
  // key's hash, even when the record holds another hash (the core must refuse it).
  filed: Object.fromEntries([[liveRecord.hash, liveRecord], ...checks.filter((c) => c.input.record).map((c) => [sha256(c.input.key), c.input.record])]),
  checks: checks.map((c) => ({ env: c.input.env, scopes: c.input.scopes })),
};

/** Every request of the replay: [path, header lines, what the vectors say]. */
const requests = [
  ...load('credentials').map((c) => [`/credentials`, headerLines(c), c]),
  ...checks.map((c, i) => [`/checks/${i}`, [['authorization', `Bearer ${c.input.key}`]], c]),
];

/** GET with header lines sent as separate lines, as a client or proxy may. */
function rawGet(url, lines) {
  return new Promise((resolve, reject) => {
    http.get(url, { headers: ['host', new URL(url).host, ...lines.flat()] }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: JSON.parse(text) }));
    }).on('error', reject);
  });
}

/** The answers of a server: what a client sees of each. */
async function replay(url) {
  const answers = [];
  for (const [path, lines, c] of requests) {
    const r = await rawGet(`${url}${path}`, lines);
    answers.push({
      name: `${path} ${c.name}`, status: r.status, body: r.body,
      challenge: r.headers['www-authenticate'] ?? null,
      type: r.status === 200 ? 'json' : r.headers['content-type'],
      cache: r.status === 200 ? null : r.headers['cache-control'],
    });
  }
  return answers;
}

/** The vectors' own expectations (code, status, challenge) hold for these answers. */
function assertVectors(answers) {
  for (const [i, [, , c]] of requests.entries()) {
    const a = answers[i];
    const code = a.status === 200 ? 'valid' : a.body.error?.code;
    if (c.error) {
      assert.equal(code, c.error.code, a.name);
      assert.ok(a.challenge, `${a.name}: challenged`);
    } else if (c.expect.key !== undefined) {
      assert.equal(code, c.expect.key === liveKey ? 'valid' : 'malformed', a.name);
    } else {
      assert.equal(code, c.expect.code, a.name);
      assert.equal(a.status, c.expect.status, a.name);
      assert.equal(a.challenge !== null, c.expect.challenge, a.name);
      if (c.expect.scope) assert.match(a.challenge, new RegExp(`scope="${c.expect.scope}"`), a.name);
    }
  }
}

const children = [];
function stop(child) {
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    // Already gone.
  }
}
after(() => {
  for (const child of children) stop(child);
  rmSync(tmp, { recursive: true, force: true });
  rmSync(app, { recursive: true, force: true });
});

/** Starts a server and waits until its /events answers. */
async function start(cmd, args, { cwd = app, port, env = {}, timeoutMs = 60_000 } = {}) {
  const child = spawn(cmd, args, { cwd, env: { ...quiet, PORT: String(port), ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  children.push(child);
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${cmd} ${args.join(' ')} exited (${child.exitCode}):\n${output}`);
    try {
      if ((await fetch(`${url}/events`)).status === 200) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`${cmd} did not answer within ${timeoutMs} ms:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, child, output: () => output };
}

/**
 * onUse ran for the credential route (after the response), with no raw key in it. The
 * apps' onUse finishes 20 ms after the response: on workerd only waitUntil keeps it alive
 * (without it the Worker's events stay empty).
 */
async function assertEvents(url) {
  let events = [];
  for (let i = 0; i < 50 && !events.some((e) => e.outcome === 'valid'); i++) {
    await new Promise((r) => setTimeout(r, 50));
    events = await (await fetch(`${url}/events`)).json();
  }
  const valid = events.find((e) => e.outcome === 'valid');
  assert.ok(valid, `a valid use reached onUse: ${JSON.stringify(events)}`);
  assert.equal(valid.key_id, liveRecord.id);
  assert.equal(valid.status, 200);
  assert.equal(valid.action, 'GET /credentials');
  assert.ok(events.some((e) => e.outcome !== 'valid' && e.status >= 400), 'refusals reach onUse');
  assert.ok(!JSON.stringify(events).includes(liveKey.slice(12)), 'no raw key in usage events');
}

let reference;
let packed;
before(() => {
  [{ filename: packed }] = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: dir, env: quiet, encoding: 'utf8' }));
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'runtimes-app', version: '1.0.0', private: true, type: 'module' }));
  for (const f of readdirSync(join(dir, 'test/fixtures/runtimes'))) cpSync(join(dir, 'test/fixtures/runtimes', f), join(app, f));
  writeFileSync(join(app, 'spec.mjs'), `export default ${JSON.stringify(spec)};\n`);
  writeFileSync(join(app, 'spec.cjs'), `module.exports = ${JSON.stringify(spec)};\n`);
  execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', join(tmp, packed)], { cwd: app, env: quiet, stdio: 'pipe' });
  assert.deepEqual(readdirSync(join(app, 'node_modules')).filter((d) => !d.startsWith('.')), ['keyward'], 'zero runtime dependencies');
});

describe('every runtime gives the Worker\'s and Express\'s answers', () => {
  test('Node, CommonJS: Express (the reference)', async () => {
    const s = await start(process.execPath, ['node-express.cjs'], { port: await freePort() });
    reference = await replay(s.url);
    assertVectors(reference);
    await assertEvents(s.url);
    stop(s.child);
  });

  const same = async (s) => {
    assert.ok(reference, 'the Express reference ran first');
    const answers = await replay(s.url);
    assertVectors(answers);
    for (const [i, a] of answers.entries()) assert.deepEqual(a, reference[i], a.name);
    await assertEvents(s.url);
    stop(s.child);
  };

  test('Node, ESM: Hono on @hono/node-server, an async store', async () => {
    await same(await start(process.execPath, ['node-hono.mjs'], { port: await freePort() }));
  });

  test('Node, ESM: Hono with guard() around each route\'s handler, an async store', async () => {
    await same(await start(process.execPath, ['node-hono.mjs'], { port: await freePort(), env: { KEYWARD_HONO: 'guard' } }));
  });

  test('Node, ESM: Fastify, the plugin in each route\'s context', async () => {
    await same(await start(process.execPath, ['node-fastify.mjs'], { port: await freePort() }));
  });

  for (const [name, flags] of [['wrangler\'s default configuration', []], ['disallow_eval_during_startup', ['disallow_eval_during_startup']]]) {
    test(`a JavaScript Worker (Hono) under wrangler dev: ${name}`, async () => {
      const config = join(app, `wrangler-${flags.length}.toml`);
      writeFileSync(config, [
        'name = "keyward-runtimes"', 'main = "worker.mjs"', 'compatibility_date = "2025-09-01"',
        `compatibility_flags = ${JSON.stringify(flags)}`, '',
      ].join('\n'));
      const port = await freePort();
      const args = ['dev', '-c', config, '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(await freePort()),
        '--show-interactive-dev-session=false', '--persist-to', join(tmp, `state-${flags.length}`)];
      const s = await start(WRANGLER, args, { port, timeoutMs: 120_000 });
      // No nodejs_compat: no `process`, and keyward reads none.
      assert.deepEqual(await (await fetch(`${s.url}/no-process`)).json(), { process: 'undefined', thrown: 'KeywardOptionError', option: 'url' });
      await same(s);
    });
  }

  test('Bun: a Hono app', async () => {
    await same(await start(bin('bun'), ['bun.mjs'], { port: await freePort() }));
  });

  test('Bun: a Hono app with guard() around each route\'s handler (memoryStore: the synchronous path)', async () => {
    await same(await start(bin('bun'), ['bun.mjs'], { port: await freePort(), env: { KEYWARD_HONO: 'guard' } }));
  });

  test('Bun: a `bun build --compile` binary, run with node_modules deleted', async () => {
    const elsewhere = join(tmp, 'bun-compile');
    mkdirSync(elsewhere);
    execFileSync(bin('bun'), ['build', '--compile', 'bun.mjs', '--outfile', join(elsewhere, 'server')], { cwd: app, stdio: 'pipe' });
    // The binary runs with no node_modules anywhere: not the app's, not npm/'s.
    rmSync(join(app, 'node_modules'), { recursive: true, force: true });
    try {
      await same(await start(join(elsewhere, 'server'), [], { cwd: elsewhere, port: await freePort() }));
    } finally {
      execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', join(tmp, packed)], { cwd: app, env: quiet, stdio: 'pipe' });
    }
  });

  test('Deno: Deno.serve with keyward/fetch, without --allow-read', async () => {
    const port = await freePort();
    await same(await start(bin('deno'), ['run', `--allow-net=127.0.0.1:${port}`, '--no-prompt', 'deno.mjs', String(port)], { port, env: { DENO_NO_UPDATE_CHECK: '1' } }));
  });

  for (const format of ['esm', 'cjs']) {
    test(`an esbuild bundle (${format}) of the Hono app, run from another directory`, async () => {
      const elsewhere = join(tmp, `bundle-${format}`);
      mkdirSync(elsewhere);
      const out = join(elsewhere, format === 'esm' ? 'server.mjs' : 'server.cjs');
      execFileSync(bin('esbuild'), ['node-hono.mjs', '--bundle', '--platform=node', `--format=${format}`, `--outfile=${out}`, '--log-level=warning'], { cwd: app, stdio: 'pipe' });
      await same(await start(process.execPath, [out], { cwd: elsewhere, port: await freePort() }));
    });
  }

  test('a browser: an esbuild bundle for the browser in real Chromium, checkRequest on the same header lines', async () => {
    const out = join(tmp, 'browser.js');
    execFileSync(bin('esbuild'), ['browser.mjs', '--bundle', '--platform=browser', '--format=esm', `--outfile=${out}`, '--log-level=warning'], { cwd: app, stdio: 'pipe' });
    const browser = await launch();
    try {
      const page = await browser.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.setContent('<!doctype html><title>keyward</title>');
      await page.addScriptTag({ content: readFileSync(out, 'utf8'), type: 'module' });
      await page.waitForFunction(() => typeof window.replay === 'function');
      const answers = await page.evaluate((list) => window.replay(list), requests.map(([path, lines]) => [path, lines]));
      assert.deepEqual(errors, []);
      for (const [i, a] of answers.entries()) {
        const { name, ...expected } = reference[i];
        assert.deepEqual(a, expected, name);
      }
    } finally {
      await browser.close();
    }
  });

  const built = existsSync(join(ROOT, 'worker/build/index.js'));
  if (!built && process.env.KEYWARD_REQUIRE_WORKER === '1') throw new Error('the Worker is not built: run make build-worker');
  test('a JavaScript Worker (Hono) with remoteStore asking keyward\'s Worker: the README\'s example; a Worker that stops is 503', { skip: built ? false : 'the Worker is not built (make build-worker)' }, async () => {
    const keyward = await startWorker();
    try {
      const create = async (body) => {
        const r = await fetch(`${keyward.url}/v1/keys`, {
          method: 'POST', headers: { authorization: `Bearer ${keyward.rootKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ owner: 'team-remote', env: 'live', ...body }),
        });
        assert.equal(r.status, 201);
        return (await r.json()).key;
      };
      const verifier = await create({ name: 'verifier', scopes: ['keys:verify'] });
      const reader = await create({ name: 'reader', scopes: ['scans:read'] });
      const writer = await create({ name: 'writer', scopes: ['scans:trigger'] });
      const unused = await create({ name: 'unused', scopes: ['scans:read'] });
      const config = join(app, 'wrangler-remote.toml');
      writeFileSync(config, 'name = "keyward-remote"\nmain = "worker-remote.mjs"\ncompatibility_date = "2025-09-01"\n');
      const port = await freePort();
      const s = await start(WRANGLER, ['dev', '-c', config, '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(await freePort()),
        '--show-interactive-dev-session=false', '--persist-to', join(tmp, 'state-remote'),
        '--var', `KEYWARD_URL:${keyward.url}`, '--var', `KEYWARD_TOKEN:${verifier}`], { port, timeoutMs: 120_000 });
      const get = async (key) => {
        const r = await fetch(`${s.url}/api/scans`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
        return [r.status, await r.json()];
      };
      assert.deepEqual(await get(reader), [200, { owner: 'team-remote' }]);
      const [status, body] = await get(writer);
      assert.equal(status, 403);
      assert.equal(body.error.code, 'insufficient_scope');
      assert.equal((await get(createKeyLike()))[1].error.code, 'unknown_key');
      assert.equal((await get())[1].error.code, 'missing_key');
      // keyward's Worker goes away: a key not in the cache is refused, never passed.
      await keyward.stop();
      const [down, fault] = await get(unused);
      assert.equal(down, 503);
      assert.equal(fault.error.code, 'unavailable');
      stop(s.child);
    } finally {
      await keyward.stop();
    }
  });
});

/** A well-formed live key that no store knows. */
function createKeyLike() {
  return createKey({ env: 'live' }).key;
}
