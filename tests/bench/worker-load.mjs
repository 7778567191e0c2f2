// Load benchmark of the Worker under wrangler dev (loopback only, bounded request counts):
// /healthz (the floor: routing and a JSON response) against /v1/verify with a valid key
// (parse, KV read, decision, two audit events queued), in one run.
//   node tests/bench/worker-load.mjs [requests-per-endpoint]
import autocannon from 'autocannon';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { ROOT, call, startWorker } from '../e2e/harness.mjs';

const amount = Number(process.argv[2] ?? 5000);
const connections = 10;

function run(opts) {
  return new Promise((res, rej) => {
    autocannon({ connections, amount, ...opts }, (err, r) => (err ? rej(err) : res(r)));
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
  await run({ url: `${w.url}/healthz`, amount: 500 });
  await run({ ...verifyOpts, amount: 500 });
  const health = await run({ url: `${w.url}/healthz` });
  const verify = await run(verifyOpts);
  for (const [name, r] of [['healthz', health], ['verify', verify]]) {
    if (r.errors || r.non2xx) throw new Error(`${name}: ${r.errors} errors, ${r.non2xx} non-2xx responses`);
  }
  const wasm = readFileSync(`${ROOT}/worker/build/index_bg.wasm`);
  const rps = (r) => r.requests.total / r.duration;
  const row = (name, r) => `| ${name} | ${rps(r).toFixed(0)} | ${r.latency.p99} ms |`;
  console.log(`wrangler dev, ${amount} requests per endpoint, ${connections} connections`);
  console.log('| endpoint | req/s | p99 |\n|---|---|---|');
  console.log(row('GET /healthz', health));
  console.log(row('POST /v1/verify (valid key)', verify));
  console.log(`verify / healthz throughput: ${(rps(verify) / rps(health)).toFixed(2)}x (goal >= 0.8x)`);
  console.log(`worker wasm: ${(wasm.length / 1024).toFixed(0)} KiB, ${(gzipSync(wasm, { level: 9 }).length / 1024).toFixed(0)} KiB gzipped (goal <= 250 KB)`);
} finally {
  await w.stop();
}
