// Two builds of the package side by side in one process (each with its own WebAssembly
// instance), timed in 15 alternating rounds by the process's CPU time (less moved by other
// work on a shared machine than the wall clock): the median of the paired ratios old/new
// is steady where two separate runs are not.
//
//   node bench/ab.cjs <old package dir> <new package dir>
//
// A package dir holds lib/ and pkg/ as `npm run build` leaves them (copy them aside
// before building the other version).
'use strict';
const setups = {};
const [oldDir, newDir] = process.argv.slice(2);
if (!oldDir || !newDir) throw new Error('usage: node bench/ab.cjs <old package dir> <new package dir>');
for (const [v, dir] of [['old', oldDir], ['new', newDir]]) {
  const { createKey, findByHashStore, hashKey, memoryStore, verify } = require(`${require('node:path').resolve(dir)}/lib/index.cjs`);
  const { apiKeyAuth, requireScope } = require(`${require('node:path').resolve(dir)}/lib/express.cjs`);
  const store = memoryStore(); const own = new Map(); const keys = [];
  for (let i = 0; i < 1000; i++) { const { key, hash, hint } = createKey({ env: 'live' }); const r = { id: `key_${String(i).padStart(16, '0')}`, hash, hint, name: `k${i}`, owner: 'bench', scopes: ['repos:read', 'scans:*'], env: 'live', created_at: '2026-01-01T00:00:00Z', expires_at: '2099-01-01T00:00:00Z' }; store.add(r); own.set(hash, r); keys.push(key); }
  const ownStore = { findByHash: (h) => { const r = own.get(h); return r === undefined ? null : { ...r }; } };
  setups[v] = { store, own, keys, hashKey, verify, byHash: findByHashStore({ findByHash: (h) => own.get(h) ?? null }), scope: requireScope('scans:read'), mem: apiKeyAuth({ store, env: 'live' }), ownMw: apiKeyAuth({ store: ownStore, env: 'live' }) };
}
const SC = ['scans:read']; const res = { once() {} };
const cases = {
  verifyKey: (s, key, now) => s.store.verifyKey(key, { env: 'live', scopes: SC, now }).valid,
  verify: (s, key, now) => s.verify(s.own.get(s.hashKey(key)) ?? null, { env: 'live', scopes: SC, now }).valid,
  byHash: (s, key, now) => s.byHash.verifyKey(key, { env: 'live', scopes: SC, now }).valid,
  mwMemory: (s, key) => { let ok = false; const req = { rawHeaders: ['Host', 'localhost', 'Authorization', `Bearer ${key}`], headers: {}, method: 'GET', url: '/scans' }; s.mem(req, res, (e) => (e ? 0 : s.scope(req, res, (e2) => { ok = !e2; }))); return ok; },
  mwOwn: (s, key) => { let ok = false; const req = { rawHeaders: ['Host', 'localhost', 'Authorization', `Bearer ${key}`], headers: {}, method: 'GET', url: '/scans' }; s.ownMw(req, res, (e) => (e ? 0 : s.scope(req, res, (e2) => { ok = !e2; }))); return ok; },
};
function run(s, fn, n) { const now = Date.now(); let ok = 0; const c0 = process.cpuUsage(); for (let i = 0; i < n; i++) if (fn(s, s.keys[i % 1000], now)) ok++; if (ok !== n) throw new Error("x"); const c = process.cpuUsage(c0); return ((c.user + c.system) * 1000) / n; }
for (const [name, fn] of Object.entries(cases)) {
  run(setups.old, fn, 30000); run(setups.new, fn, 30000);
  const ratios = []; const t = { old: [], new: [] };
  for (let r = 0; r < 15; r++) { const a = run(setups.old, fn, 20000); const b = run(setups.new, fn, 20000); t.old.push(a); t.new.push(b); ratios.push(a / b); }
  const med = (xs) => [...xs].sort((x, y) => x - y)[xs.length >> 1];
  console.log(name.padEnd(10), 'old', (med(t.old) / 1000).toFixed(2), 'µs  new', (med(t.new) / 1000).toFixed(2), 'µs  old/new (median of pairs)', med(ratios).toFixed(2));
}
