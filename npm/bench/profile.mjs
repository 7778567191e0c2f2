// Where a check's time goes: the verification hot path run under V8's sampling profiler
// (the one `node --cpu-prof` writes), its self time grouped into the steps of the path
// and printed as nanoseconds per check.
//
//   node bench/profile.mjs [memory|own|byhash]   (after npm run build)
//
// memory: memoryStore().verifyKey; own: verify(record) of a lookup by hashKey; byhash: a
// store of your own, findByHashStore({findByHash}).verifyKey (the record as stored).
// PROFILE_TOP=n also prints the n functions with the most self time.
//
// The package's build strips the WebAssembly's function names (wasm-opt --strip-debug),
// so its frames show as one "wasm (names stripped)" step. To see the steps inside, keep
// the names: run wasm-bindgen and wasm-opt -O3 -g (without -g wasm-opt drops the name
// section too) without --strip-debug into pkg/, e.g.
//   wasm-bindgen --target nodejs --no-typescript --out-dir pkg \
//     ../target/wasm32-unknown-unknown/npm/keyward_wasm.wasm
//   ../node_modules/.bin/wasm-opt pkg/keyward_wasm_bg.wasm -o pkg/keyward_wasm_bg.wasm -O3 -g $(cat ../scripts/wasm-opt-features)
// (npm run build puts the package's own build back).
import { Session } from 'node:inspector/promises';
import { createKey, findByHashStore, hashKey, memoryStore, verify } from 'keyward';

const which = process.argv[2] ?? 'memory';
const N = Number(process.env.PROFILE_CHECKS ?? 1_000_000);
const store = memoryStore();
const own = new Map();
const keys = [];
for (let i = 0; i < 1000; i++) {
  const { key, hash, hint } = createKey({ env: 'live' });
  const record = {
    id: `key_${String(i).padStart(16, '0')}`, hash, hint, name: `k${i}`, owner: 'bench',
    scopes: ['repos:read', 'scans:*'], env: 'live', created_at: '2026-01-01T00:00:00Z', expires_at: '2099-01-01T00:00:00Z',
  };
  store.add(record);
  own.set(hash, record);
  keys.push(key);
}
const SCOPES = ['scans:read'];
const byHash = findByHashStore({ findByHash: (h) => own.get(h) ?? null });
const checks = {
  memory: [(key, now) => store.verifyKey(key, { env: 'live', scopes: SCOPES, now }), 'memoryStore().verifyKey(key, {env, scopes})'],
  own: [(key, now) => verify(own.get(hashKey(key)) ?? null, { env: 'live', scopes: SCOPES, now }), 'own store: verify(byHash.get(hashKey(key)), {env, scopes})'],
  byhash: [(key, now) => byHash.verifyKey(key, { env: 'live', scopes: SCOPES, now }), 'own store: findByHashStore({findByHash}).verifyKey(key, {env, scopes})'],
};
if (!(which in checks)) throw new Error(`usage: node bench/profile.mjs [${Object.keys(checks).join('|')}]`);
const [check, title] = checks[which];

/** Steps of the path, by the functions whose self time they hold (first match wins). */
const STEPS = [
  ['SHA-256 of the key (sha2, in WebAssembly)', /sha2::|KeyHash::of|sha256/],
  ['hash to hex and back into JavaScript (own store: hashKey; findByHashStore: hash_text)', /base16ct|getStringFromWasm0|decodeUTF8|^decode |TextDecoder|HashTexts|hash_text/],
  ['strings into WebAssembly (wasm-bindgen: malloc, copy, free)', /passStringToWasm0|getUint8ArrayMemory0|dlmalloc|__rust_alloc|__rust_dealloc|__wbindgen_malloc|__wbindgen_free|memcpy/],
  ['parse and CRC32 checksum', /ApiKeyRef|check_format|crc32|Presented::parse|CharSearcher|memchr|is_base64url|checksum/],
  ['lookup by hash (HashMap, SipHash)', /sip::|hash_one|HashMap|hashbrown|BuildHasher/],
  ['decision: constant-time compare, revoked, expired, env, scopes', /decide|black_box|subtle|first_missing|ScopeSet|Scope::|chrono|from_timestamp|memcmp|grants/],
  ['own store, JS: the record found checked against its reading, held scopes, times', /^read |^unchanged |^readFound |sameItems|heldScopes|unknownFields|recordTime|^verify /],
  ['the rest of the WebAssembly call (outcome, Check, glue)', /keyward_wasm::|keytable_|decideRecord|hashKey|check_|js-to-wasm|wasm-function|multivalue/],
  ['JavaScript: options, result object, loop, GC', /./],
];

const session = new Session();
session.connect();
const now = Date.now();
for (let i = 0; i < N / 10; i++) check(keys[i % 1000], now); // warm up
await session.post('Profiler.enable');
await session.post('Profiler.setSamplingInterval', { interval: 50 });
await session.post('Profiler.start');
const t0 = process.hrtime.bigint();
let valid = 0;
for (let i = 0; i < N; i++) if (check(keys[i % 1000], now).valid) valid++;
const ns = Number(process.hrtime.bigint() - t0) / N;
const { profile } = await session.post('Profiler.stop');
if (valid !== N) throw new Error('a key failed');

const delta = new Map();
for (let i = 0; i < profile.samples.length; i++) {
  delta.set(profile.samples[i], (delta.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
}
const byStep = new Map(STEPS.map(([name]) => [name, 0]));
let total = 0;
let unnamed = 0;
for (const node of profile.nodes) {
  const t = delta.get(node.id) ?? 0;
  const fn = node.callFrame.functionName;
  if (t === 0 || fn === '(idle)' || fn === '(program)' || fn === '(root)') continue;
  total += t;
  if (/^wasm-function\[/.test(fn) || (node.callFrame.url.includes('wasm') && /^\$?func\d+$/.test(fn))) unnamed += t;
  const [step] = STEPS.find(([, re]) => re.test(`${fn} `));
  byStep.set(step, byStep.get(step) + t);
}
console.log(`${title}: ${ns.toFixed(0)} ns per check over ${N} checks, Node ${process.versions.node}`);
if (unnamed / total > 0.2) console.log('(the WebAssembly function names are stripped: see the header of this file)');
for (const [step, t] of byStep) {
  if (t > 0) console.log(`${(ns * t / total).toFixed(0).padStart(6)} ns  ${(100 * t / total).toFixed(0).padStart(3)} %  ${step}`);
}
const top = Number(process.env.PROFILE_TOP ?? 0);
if (top > 0) {
  const byFn = new Map();
  for (const node of profile.nodes) {
    const t = delta.get(node.id) ?? 0;
    const fn = `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.split('/').pop()}:${node.callFrame.lineNumber + 1}`;
    if (t > 0) byFn.set(fn, (byFn.get(fn) ?? 0) + t);
  }
  for (const [fn, t] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${(ns * t / total).toFixed(0).padStart(6)} ns  ${fn}`);
  }
}
