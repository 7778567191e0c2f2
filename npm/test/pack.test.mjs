// `npm pack`, then an offline install of the tarball into an empty project: the package
// must work there as published, with no build step and nothing else installed.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('..', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'keyward-pack-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const npm = (args, cwd) => execFileSync('npm', args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' } });

test('npm pack holds the WebAssembly, the JS, the typings and nothing else', () => {
  const [info] = JSON.parse(npm(['pack', '--json', '--pack-destination', tmp], dir));
  const files = info.files.map((f) => f.path).sort();
  for (const f of ['package.json', 'index.mjs', 'express.mjs', 'fetch.mjs', 'hono.mjs', 'fastify.mjs', 'slim.mjs', 'index.d.ts', 'express.d.ts',
    'fetch.d.ts', 'hono.d.ts', 'fastify.d.ts', 'slim.d.ts', 'lib/index.cjs', 'lib/express.cjs', 'lib/fetch.cjs', 'lib/hono.cjs', 'lib/fastify.cjs',
    'lib/load-workerd.mjs', 'lib/load-bun.mjs', 'lib/load-bytes.mjs', 'lib/load-node.cjs', 'pkg/keyward_wasm.js', 'pkg/keyward_wasm_bg.wasm', 'pkg/keyward_wasm_bg.wasm.mjs',
    'pkg/web/keyward_wasm.mjs']) {
    assert.ok(files.includes(f), `${f} in ${files.join(', ')}`);
  }
  for (const f of files) assert.ok(!/^(test|bench|scripts|node_modules)\//.test(f), `${f} should not be published`);
  // About 418 kB: the .wasm and its base64 copy for bundlers and Deno (load-bytes.mjs).
  // (memoryStore's use of a key is the core's use_key since: 9.3 kB of the tarball.)
  assert.ok(info.size < 414_000, `tarball is ${info.size} bytes`);
});

test('the tarball installs offline into an empty project and works with no build step', () => {
  const tarball = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
  assert.ok(tarball, 'packed');
  const app = join(tmp, 'app');
  execFileSync('mkdir', ['-p', app]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  npm(['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', join(tmp, tarball)], app);
  const installed = readdirSync(join(app, 'node_modules'));
  assert.deepEqual(installed.filter((d) => !d.startsWith('.')), ['keyward'], 'zero runtime dependencies');
  assert.ok(existsSync(join(app, 'node_modules/keyward/pkg/keyward_wasm_bg.wasm')));
  for (const f of ['smoke.cjs', 'smoke.mjs']) copyFileSync(join(dir, 'test/fixtures', f), join(app, f));
  const run = (f) => execFileSync(process.execPath, [f], { cwd: app, encoding: 'utf8' });
  assert.match(run('smoke.cjs'), /cjs ok/);
  assert.match(run('smoke.mjs'), /esm ok/);
});
