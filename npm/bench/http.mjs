// Benchmark (2): an Express route behind apiKeyAuth + requireScope (memoryStore of 1,000
// keys) against the same route with no auth, with autocannon on loopback, in one run; and,
// between them, the same Express layers doing nothing ('layers': what Express itself
// charges for an app middleware, a route middleware and an error handler).
//
//   npm run bench   (both benchmarks)     node bench/http.mjs   (this one)
//   BENCH_DURATION=2 BENCH_CONNECTIONS=16 BENCH_ROUNDS=9   (seconds per slice, slices per server)
//
// Each server runs in its own process, all three up at once; each round loads them in
// turn for a short slice (none, layers, auth, none, ...) so that drift on a shared machine
// hits all sides; it reports the median of the per-round ratios (each round's auth
// against its no-auth slice), best against best, and the server's CPU time per request
// (process.cpuUsage).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { previous, withPrevious } from './previous.mjs';

// Short slices, many rounds: on a shared machine the load drifts within seconds, and a
// ratio of two slices taken a second apart is far steadier than one of two long runs.
const duration = Number(process.env.BENCH_DURATION ?? 2);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 16);
const rounds = Number(process.env.BENCH_ROUNDS ?? 9);
const server = new URL('./server.mjs', import.meta.url).pathname;

async function start(mode) {
  const child = spawn(process.execPath, [server, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = await once(createInterface({ input: child.stdout }), 'line');
  const { port, key } = JSON.parse(line);
  const url = `http://127.0.0.1:${port}/scans`;
  const headers = { authorization: `Bearer ${key}` }; // sent to every server alike
  await autocannon({ url, connections, duration: 2, headers }); // warm-up
  return { child, url, headers };
}

async function load(mode, s) {
  const cpu = async () => { const c = await (await fetch(s.url.replace('/scans', '/__cpu'))).json(); return c.user + c.system; };
  const before = await cpu();
  const r = await autocannon({ url: s.url, connections, duration, headers: s.headers });
  const used = (await cpu()) - before;
  if (r.non2xx !== 0 || r.errors !== 0) throw new Error(`${mode}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, total: r.requests.total, cpuUs: used / r.requests.total };
}

const results = { none: [], layers: [], auth: [] };
const servers = {};
try {
  // All three stay up; each round loads them one after the other.
  for (const mode of Object.keys(results)) servers[mode] = await start(mode);
  for (let i = 0; i < rounds; i++) {
    for (const mode of Object.keys(results)) {
      const r = await load(mode, servers[mode]);
      results[mode].push(r);
      console.error(`round ${i + 1} ${mode}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms, server CPU ${r.cpuUs.toFixed(1)} µs/request`);
    }
  }
} finally {
  for (const s of Object.values(servers)) s.child.kill();
}
const best = (xs) => xs.reduce((a, b) => (b.rps > a.rps ? b : a));
const none = best(results.none);
const layers = best(results.layers);
const auth = best(results.auth);
const pairedMedian = (mode) => {
  const ratios = results[mode].map((a, i) => a.rps / results.none[i].rps).sort((a, b) => a - b);
  return [ratios[Math.floor(ratios.length / 2)], ratios];
};
const [median, ratios] = pairedMedian('auth');
const [layersMedian] = pairedMedian('layers');
const cpuMedian = (xs) => xs.map((x) => x.cpuUs).sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const before = previous('http');
const figures = {
  'none req/s': none.rps,
  'auth req/s': auth.rps,
  'auth / none, median of paired rounds': median,
  'layers / none, median of paired rounds': layersMedian,
  'none CPU µs/request': cpuMedian(results.none),
  'layers CPU µs/request': cpuMedian(results.layers),
  'auth CPU µs/request': cpuMedian(results.auth),
};
figures['auth / none, CPU'] = figures['none CPU µs/request'] / figures['auth CPU µs/request'];
const show = (name, digits) => withPrevious(figures[name], before.get(name), digits);
console.log(`express GET /scans, autocannon ${connections} connections x ${duration} s on loopback, ${rounds} alternating rounds, Node ${process.versions.node}`);
console.log(`${show('none req/s', 0)} req/s  p50 ${none.p50} ms  p99 ${none.p99} ms  no auth (best round)`);
console.log(`${layers.rps.toFixed(0)} req/s  p50 ${layers.p50} ms  p99 ${layers.p99} ms  the same Express layers doing nothing (best round)`);
console.log(`${show('auth req/s', 0)} req/s  p50 ${auth.p50} ms  p99 ${auth.p99} ms  apiKeyAuth + requireScope, memoryStore of 1,000 keys (best round)`);
console.log(`server CPU per request (median): ${show('none CPU µs/request', 1)} µs no auth, ${show('layers CPU µs/request', 1)} µs empty layers, ${show('auth CPU µs/request', 1)} µs with auth: ${show('auth / none, CPU', 3)}x the requests per CPU-second`);
console.log(`empty layers / no auth: ${show('layers / none, median of paired rounds', 3)}x median of paired rounds (Express's own cost for three layers)`);
console.log(`auth / no auth: ${show('auth / none, median of paired rounds', 3)}x median of paired rounds (${ratios.map((r) => r.toFixed(3)).join(', ')}), ${(auth.rps / none.rps).toFixed(3)}x best vs best; goal >= 0.95x: ${median >= 0.95 ? 'met' : 'NOT met'}`);
before.save(figures);
