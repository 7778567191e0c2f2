// Load benchmark of the Worker under wrangler dev (loopback only, bounded in time):
// /healthz (the floor: routing and a JSON response) against /v1/verify with a valid key
// (parse, KV read, decision, two audit events queued), in one run.
//   node tests/bench/worker-load.mjs [seconds-per-endpoint]
import autocannon from 'autocannon';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { ROOT, call, startWorker } from '../e2e/harness.mjs';

// A fixed duration, not a request count: autocannon reports completion on its 1-second
// tick, which would round short runs.
const duration = Number(process.argv[2] ?? 5);
// Rounds alternate between the endpoints so that drift on a shared machine hits both;
// each endpoint's figure is its median round.
const rounds = 3;
const connections = 10;

function run(opts) {
  return new Promise((res, rej) => {
    autocannon({ connections, duration, ...opts }, (err, r) => (err ? rej(err) : res(r)));
  });
}

const w = await startWorker();
try {
  const created = await call(w.url, '/v1/keys', {
    method: 'POST', key: w.rootKey, body: { name: 'bench', owner: 'bench', scopes: ['scans:read'], env: 'live' },
  });
  const service = await call(w.url, '/v1/keys', {
    method: 'POST', key: w.rootKey, body: { name: 'bench-svc', owner: 'bench', scopes: ['keys:verify'], env: 'live' },
  });
  const verifyOpts = {
    url: `${w.url}/v1/verify`,
    method: 'POST',
    headers: { authorization: `Bearer ${service.body.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ key: created.body.key, scopes: ['scans:read'] }),
  };
  // Warm both paths (isolate, KV, D1) before measuring.
  await run({ url: `${w.url}/healthz`, duration: 2 });
  await run({ ...verifyOpts, duration: 2 });
  const results = { health: [], verify: [] };
  for (let i = 0; i < rounds; i++) {
    results.health.push(await run({ url: `${w.url}/healthz` }));
    results.verify.push(await run(verifyOpts));
  }
  for (const r of [...results.health, ...results.verify]) {
    if (r.errors || r.non2xx) throw new Error(`${r.url}: ${r.errors} errors, ${r.non2xx} non-2xx responses`);
  }
  const wasm = readFileSync(`${ROOT}/worker/build/index_bg.wasm`);
  const rps = (r) => r.requests.total / ((new Date(r.finish) - new Date(r.start)) / 1000);
  const median = (rs) => [...rs].sort((a, b) => rps(a) - rps(b))[Math.floor(rs.length / 2)];
  const health = median(results.health);
  const verify = median(results.verify);
  const row = (name, r) => `| ${name} | ${rps(r).toFixed(0)} | ${r.latency.p99} ms |`;
  console.log(`wrangler dev, ${rounds} alternating rounds of ${duration} s per endpoint (median shown), ${connections} connections`);
  console.log(`rounds, req/s: healthz ${results.health.map((r) => rps(r).toFixed(0)).join(', ')}; verify ${results.verify.map((r) => rps(r).toFixed(0)).join(', ')}`);
  console.log('| endpoint | req/s | p99 |\n|---|---|---|');
  console.log(row('GET /healthz', health));
  console.log(row('POST /v1/verify (valid key)', verify));
  console.log(`verify / healthz throughput: ${(rps(verify) / rps(health)).toFixed(2)}x (goal >= 0.8x)`);
  console.log(`worker wasm: ${(wasm.length / 1024).toFixed(0)} KiB, ${(gzipSync(wasm, { level: 9 }).length / 1024).toFixed(0)} KiB gzipped (goal <= 250 KB)`);
} finally {
  await w.stop();
}
