// How many uses a second one counted key gets through its Durable Object under wrangler
// dev before its answers slow down: verifications of one key with credits (every use
// asks the key's object: the exact path) at rising concurrency, each step beside an
// uncounted key (the Worker without the object: its answer reused for the revocation
// bound), a hot key with a rate limit alone (10,000 a minute, a fresh key per step: past
// 100 units a second its object answers with leases, spent in the isolate) and two
// counted keys at once (two objects, the load split between them). Every use costs
// COST units (an object's work per use does not depend on it): a key is hot by the units
// its object counted in the last second, and on a loaded 2-core machine one object answers
// fewer than 100 uses a second. Loopback only, the Worker's own socket, a fixed time per
// step, steps alternating.
//   node tests/bench/hot-key.mjs [seconds-per-step]
import autocannon from 'autocannon';
import { call, startWorker } from '../e2e/harness.mjs';

const duration = Number(process.argv[2] ?? 5);
const steps = [1, 4, 16, 64];
const COST = 4;

function run(opts) {
  return new Promise((res, rej) => {
    autocannon({ duration, ...opts }, (err, r) => (err ? rej(err) : res(r)));
  });
}

const w = await startWorker();
try {
  if (!w.direct) throw new Error("the Worker's own socket was not found: this run would measure wrangler's dev proxy");
  const create = async (body) => {
    const r = await call(w.url, '/v1/keys', { method: 'POST', key: w.rootKey, body: { owner: 'bench', env: 'live', ...body } });
    if (r.status !== 201) throw new Error(`bench key: ${r.text}`);
    return r.body.key;
  };
  const service = await create({ name: 'bench-svc', scopes: ['keys:verify'] });
  const verifying = (key) => ({
    url: `${w.url}/v1/verify`,
    method: 'POST',
    headers: { authorization: `Bearer ${service}`, 'content-type': 'application/json' },
    body: JSON.stringify({ key, scopes: ['scans:read'], cost: COST }),
  });
  const counted = () => create({ name: 'hot', scopes: ['scans:read'], credits: { remaining: 1_000_000_000 } });
  const plain = verifying(await create({ name: 'plain', scopes: ['scans:read'] }));
  const hot = verifying(await counted());
  const [a, b] = [verifying(await counted()), verifying(await counted())];
  const leased = async () => verifying(await create({
    name: 'leased', scopes: ['scans:read'], rate_limits: [{ name: 'minute', limit: 10_000, period: '1m' }],
  }));
  await run({ ...hot, connections: 4, duration: 2 });
  await run({ ...plain, connections: 4, duration: 2 });
  const rps = (r) => r.requests.total / ((new Date(r.finish).getTime() - new Date(r.start).getTime()) / 1000);
  const check = (r) => {
    if (r.errors || r.non2xx) throw new Error(`${r.errors} errors, ${r.non2xx} non-2xx responses`);
    if (!r.requests.total) throw new Error('no answer within the step: make the steps longer');
    return r;
  };
  console.log(`workerd under wrangler dev (the Worker's own socket), ${duration} s per step, ${COST} units a use`);
  console.log('| connections | uncounted key: req/s, p50, p99 | one counted key, credits (one object, every use asked): req/s, p50, p99 | one hot key, a rate limit alone (leases): req/s, p50, p99 | two counted keys at once (two objects): req/s in all, p50, p99 |');
  console.log('|---|---|---|---|---|');
  for (const connections of steps) {
    const u = check(await run({ ...plain, connections }));
    const h = check(await run({ ...hot, connections }));
    const l = check(await run({ ...(await leased()), connections }));
    const half = Math.max(1, connections / 2);
    const [x, y] = (await Promise.all([run({ ...a, connections: half }), run({ ...b, connections: half })])).map(check);
    const cell = (r) => `${rps(r).toFixed(0)}, ${r.latency.p50} ms, ${r.latency.p99} ms`;
    console.log(`| ${connections} | ${cell(u)} | ${cell(h)} | ${cell(l)} | ${(rps(x) + rps(y)).toFixed(0)}, ${Math.max(x.latency.p50, y.latency.p50)} ms, ${Math.max(x.latency.p99, y.latency.p99)} ms |`);
  }
} finally {
  await w.stop();
}
