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
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const npmDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const root = resolve(npmDir, '..');
const out = join(npmDir, 'pkg');
const profile = 'npm';
const targetDir = process.env.CARGO_TARGET_DIR ? resolve(process.env.CARGO_TARGET_DIR) : join(root, 'target');
const wasm = join(targetDir, 'wasm32-unknown-unknown', profile, 'keyward_wasm.wasm');

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
const locked = execFileSync(join(root, 'scripts/versions.sh'), ['wasm-bindgen'], { encoding: 'utf8' }).trim();
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

// WebAssembly SIMD (simd128): sha2 then computes SHA-256's message schedule with vector
// instructions, the largest step of every check (SHA-256 about 15 %, the whole check
// about 8 % faster). Every runtime the package supports has it (Node 16.4+, Bun, Deno,
// workerd, browsers since 2021-23). Added to .cargo/config.toml's flags for the target
// (cargo joins the arrays).
const rustflags = '["-C", "target-feature=+simd128"]';
// Parallelism: cargo's default, or CARGO_BUILD_JOBS (e.g. 1 on a machine shared with other builds).
run('cargo', [
  'build', '--locked', '-p', 'keyward-wasm', '--target', 'wasm32-unknown-unknown',
  '--profile', profile,
  '--config', `profile.${profile}.inherits="release"`,
  '--config', `profile.${profile}.opt-level=3`,
  '--config', `target.wasm32-unknown-unknown.rustflags=${rustflags}`,
]);

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
run(bindgen, ['--target', 'nodejs', '--no-typescript', '--out-dir', out, wasm]);
// The same .wasm with the Web glue (ESM, initSync({module})): what workerd, Deno, Bun,
// bundlers and keyward/slim load. One .wasm for both: the two outputs must be the same
// bytes, and the Web glue points at the one beside the Node glue.
const web = join(out, 'web');
run(bindgen, ['--target', 'web', '--no-typescript', '--out-dir', web, wasm]);
const wasmOut = join(out, 'keyward_wasm_bg.wasm');
if (!readFileSync(wasmOut).equals(readFileSync(join(web, 'keyward_wasm_bg.wasm')))) {
  console.error('build: the nodejs and web targets produced different .wasm files');
  process.exit(1);
}
rmSync(join(web, 'keyward_wasm_bg.wasm'));
const glue = join(web, 'keyward_wasm.js');
const glueText = readFileSync(glue, 'utf8');
const defaultUrl = "new URL('keyward_wasm_bg.wasm', import.meta.url)";
if (!glueText.includes(defaultUrl)) {
  console.error(`build: ${glue} no longer holds ${defaultUrl}`);
  process.exit(1);
}
// .mjs: ESM in a "type": "commonjs" package.
writeFileSync(join(web, 'keyward_wasm.mjs'), glueText.replace(defaultUrl, "new URL('../keyward_wasm_bg.wasm', import.meta.url)"));
rmSync(glue);

const wasmOpt = process.env.WASM_OPT_BIN ?? [join(root, 'node_modules/.bin/wasm-opt')].find(existsSync);
if (wasmOpt && existsSync(wasmOpt)) {
  const features = readFileSync(join(root, 'scripts/wasm-opt-features'), 'utf8').split('\n').filter(Boolean);
  run(wasmOpt, [wasmOut, '-o', wasmOut, '-O3', '--strip-debug', '--strip-producers', ...features, '--enable-simd']);
} else {
  console.error('build: wasm-opt not found (scripts/setup.sh installs it); skipping that step');
}
console.error(`build: ${wasmOut}: ${statSync(wasmOut).size} bytes`);

// The same bytes as a module, for runtimes and bundlers that cannot load a file at run
// time without a permission or a loader of their own (Deno without --allow-read, an
// esbuild bundle run from another directory, a browser bundle).
writeFileSync(join(out, 'keyward_wasm_bg.wasm.mjs'), [
  '// Generated by scripts/build.mjs: keyward_wasm_bg.wasm, base64. Do not edit.',
  `export default ${JSON.stringify(readFileSync(wasmOut).toString('base64'))};`,
  '',
].join('\n'));

// The TypeScript `Code` type, generated from the core's code table so that it cannot drift.
const table = JSON.parse(createRequire(import.meta.url)(join(out, 'keyward_wasm.js')).codeTable());
writeFileSync(join(npmDir, 'codes.d.ts'), [
  '// Generated by scripts/build.mjs from keyward-core\'s code table (Code::ALL). Do not edit.',
  '',
  '/** keyward\'s stable codes, in the core\'s table order. Added, never renamed. */',
  'export type Code =',
  ...table.map((row, i) => `  ${i === 0 ? ' ' : '|'} '${row.code}'${i === table.length - 1 ? ';' : ''}`),
  '',
].join('\n'));
console.error(`build: codes.d.ts: ${table.length} codes`);

// The TypeScript `KeyRecord` type, generated from the core's KeyRecord JSON Schema
// (key-record.schema.json, which keyward-openapi makes and a Rust test keeps current).
const recordSchema = JSON.parse(readFileSync(join(npmDir, 'key-record.schema.json'), 'utf8'));
writeFileSync(join(npmDir, 'record.d.ts'), recordTypes(recordSchema));
console.error(`build: record.d.ts: KeyRecord and ${Object.keys(recordSchema.$defs ?? {}).length} types`);

/** TypeScript declarations for a JSON Schema (the subset schemars writes for KeyRecord). */
function recordTypes(root) {
  const doc = (s, indent) => {
    if (typeof s.description !== 'string') return [];
    // Rust doc links ([`Restrictions`]) read as code.
    const text = s.description.replace(/\[(`[^`]+`)\]/g, '$1').replaceAll('*/', '* /');
    const lines = text.split('\n');
    if (lines.length === 1) return [`${indent}/** ${lines[0]} */`];
    return [`${indent}/**`, ...lines.map((l) => `${indent} *${l === '' ? '' : ` ${l}`}`), `${indent} */`];
  };
  const union = (parts) => [...new Set(parts)].join(' | ');
  const type = (s, indent) => {
    if (s === true || (s && Object.keys(s).length === 0)) return 'unknown';
    if (s.$ref) return s.$ref.split('/').pop();
    if (s.anyOf) return union(s.anyOf.map((x) => type(x, indent)));
    if (s.oneOf) return union(s.oneOf.map((x) => type(x, indent)));
    if (s.const !== undefined) return JSON.stringify(s.const).replaceAll('"', "'");
    if (s.enum) return union(s.enum.map((v) => JSON.stringify(v).replaceAll('"', "'")));
    const kinds = Array.isArray(s.type) ? s.type : [s.type];
    return union(kinds.map((k) => {
      switch (k) {
        case 'string': return 'string';
        case 'integer': case 'number': return 'number';
        case 'boolean': return 'boolean';
        case 'null': return 'null';
        case 'array': {
          const item = type(s.items ?? true, indent);
          return /[ |]/.test(item) ? `Array<${item}>` : `${item}[]`;
        }
        case 'object': return s.properties ? body(s, indent) : 'Record<string, unknown>';
        default: throw new Error(`key-record.schema.json: no TypeScript for ${JSON.stringify(s)}`);
      }
    }));
  };
  const body = (s, indent) => {
    const required = new Set(s.required ?? []);
    const inner = `${indent}  `;
    const fields = Object.entries(s.properties).flatMap(([name, p]) => [
      ...doc(p, inner), `${inner}${name}${required.has(name) ? '' : '?'}: ${type(p, inner)};`,
    ]);
    return ['{', ...fields, `${indent}}`].join('\n');
  };
  const declare = (name, s) => [
    ...doc(s, ''),
    s.type === 'object' && s.properties ? `export interface ${name} ${body(s, '')}` : `export type ${name} = ${type(s, '')};`,
  ].join('\n');
  return [
    '// Generated by scripts/build.mjs from key-record.schema.json (keyward-core\'s KeyRecord). Do not edit.',
    '',
    declare('KeyRecord', root),
    ...Object.entries(root.$defs ?? {}).map(([name, s]) => `\n${declare(name, s)}`),
    '',
  ].join('\n');
}
