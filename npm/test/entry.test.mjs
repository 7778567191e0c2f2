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

test('package.json: zero runtime dependencies, sideEffects false, exports with types first', () => {
  assert.equal(pkg.name, 'keyward');
  assert.equal(pkg.dependencies, undefined);
  assert.equal(pkg.peerDependencies, undefined);
  assert.equal(pkg.sideEffects, false);
  for (const sub of ['.', './express']) {
    assert.deepEqual(Object.keys(pkg.exports[sub]), ['types', 'import', 'require'], sub);
  }
});

test('the typings compile with tsc --noEmit (req.apiKey through declaration merging)', () => {
  execFileSync(`${dir}node_modules/.bin/tsc`, ['-p', 'test/types/tsconfig.json'], { cwd: dir, stdio: 'pipe' });
});
