// Builds the WebAssembly half of the package: compiles crates/keyward-wasm for
// wasm32-unknown-unknown in release and runs the pinned wasm-bindgen CLI into pkg/.
//
//   npm run build                    # in npm/
//   WASM_BINDGEN_BIN=... npm run build
//
// The workspace's release profile is tuned for the Worker's size (opt-level "z"); the
// package is built with the same profile at opt-level 3 under its own name ("npm"), so
// the two builds do not invalidate each other's artefacts. wasm-opt (from the repo's
// dev tools, if present) then optimises for speed.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const npmDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const root = resolve(npmDir, '..');
const out = join(npmDir, 'pkg');
const profile = 'npm';
const wasm = join(root, 'target/wasm32-unknown-unknown', profile, 'keyward_wasm.wasm');

function run(cmd, args, opts = {}) {
  console.error(`build: ${cmd} ${args.join(' ')}`);
  execFileSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
}

function which(cmd) {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

// The wasm-bindgen CLI must be the exact version of the crate in Cargo.lock.
const lock = readFileSync(join(root, 'Cargo.lock'), 'utf8');
const locked = /name = "wasm-bindgen"\nversion = "([^"]+)"/.exec(lock)?.[1];
const bindgen = process.env.WASM_BINDGEN_BIN
  ?? [join(process.env.CARGO_HOME ?? join(homedir(), '.cargo'), 'bin/wasm-bindgen')].find(existsSync)
  ?? which('wasm-bindgen');
if (!bindgen) {
  console.error(`build: wasm-bindgen ${locked} not found; run scripts/setup.sh (or set WASM_BINDGEN_BIN)`);
  process.exit(1);
}
const version = execFileSync(bindgen, ['--version'], { encoding: 'utf8' }).trim().split(' ').pop();
if (locked && version !== locked) {
  console.error(`build: ${bindgen} is wasm-bindgen ${version}, Cargo.lock has ${locked}; run scripts/setup.sh`);
  process.exit(1);
}

// Parallelism: cargo's default, or CARGO_BUILD_JOBS (e.g. 1 on a machine shared with other builds).
run('cargo', [
  'build', '--locked', '-p', 'keyward-wasm', '--target', 'wasm32-unknown-unknown',
  '--profile', profile,
  '--config', `profile.${profile}.inherits="release"`,
  '--config', `profile.${profile}.opt-level=3`,
]);

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
run(bindgen, ['--target', 'nodejs', '--no-typescript', '--out-dir', out, wasm]);

const wasmOut = join(out, 'keyward_wasm_bg.wasm');
const wasmOpt = process.env.WASM_OPT_BIN ?? [join(root, 'node_modules/.bin/wasm-opt')].find(existsSync);
if (wasmOpt && existsSync(wasmOpt)) {
  run(wasmOpt, [wasmOut, '-o', wasmOut, '-O3', '--strip-debug', '--strip-producers',
    '--enable-bulk-memory', '--enable-nontrapping-float-to-int', '--enable-sign-ext',
    '--enable-mutable-globals', '--enable-reference-types', '--enable-multivalue']);
} else {
  console.error('build: wasm-opt not found (scripts/setup.sh installs it); skipping that step');
}
console.error(`build: ${wasmOut}: ${statSync(wasmOut).size} bytes`);
