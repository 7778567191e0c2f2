// The package as Node and TypeScript see it: CJS and ESM entry points, the express
// subpath, package.json promises, and the typings compiled by tsc.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url)));
const node = (file) => execFileSync(process.execPath, [file], { cwd: dir, encoding: 'utf8' });

test('require("keyward") and require("keyward/express") work (CommonJS)', () => {
  assert.match(node('test/fixtures/smoke.cjs'), /cjs ok/);
});

test('import from "keyward" and "keyward/express" work (ESM), sharing one instance with require', () => {
  assert.match(node('test/fixtures/smoke.mjs'), /esm ok/);
});

test('package.json: zero runtime dependencies, optional framework peers, sideEffects false, exports with types first', () => {
  assert.equal(pkg.name, 'keyward');
  assert.equal(pkg.dependencies, undefined);
  for (const peer of Object.keys(pkg.peerDependencies)) assert.equal(pkg.peerDependenciesMeta[peer].optional, true, peer);
  assert.equal(pkg.sideEffects, false);
  for (const sub of ['.', './express', './fetch', './hono', './fastify', './origin']) {
    assert.deepEqual(Object.keys(pkg.exports[sub]), ['types', 'import', 'require'], sub);
  }
  assert.deepEqual(Object.keys(pkg.exports['./slim']), ['types', 'default']);
  assert.equal(pkg.exports['./keyward.wasm'], './pkg/keyward_wasm_bg.wasm');
  // The loader of each runtime; the order matters (the first that applies wins).
  assert.deepEqual(Object.keys(pkg.imports['#wasm']), ['workerd', 'bun', 'module', 'browser', 'node', 'default']);
});

test('one .wasm: the bytes module holds exactly the .wasm file', async () => {
  const { default: base64 } = await import('../pkg/keyward_wasm_bg.wasm.mjs');
  assert.ok(Buffer.from(base64, 'base64').equals(readFileSync(new URL('../pkg/keyward_wasm_bg.wasm', import.meta.url))));
});

test('the typings compile with tsc --noEmit (req.apiKey through declaration merging)', () => {
  execFileSync(`${dir}node_modules/.bin/tsc`, ['-p', 'test/types/tsconfig.json'], { cwd: dir, stdio: 'pipe' });
});
