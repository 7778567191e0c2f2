// Hono in process (app.fetch, no sockets): the same handler unprotected, in guard(), behind
// one and two middleware doing nothing, behind apiKey with the scope and behind apiKey +
// requireScope; median ns per request of 7 interleaved rounds, and each route's cost over
// the unprotected one. Steadier than autocannon on a shared machine; shows what Hono
// charges for any two middleware against what keyward adds to them.
//   node bench/hono-steps.mjs      N=100000 (requests per route per round)
import { createKey } from 'keyward';
import { benchApp } from './hono-app.mjs';
const made = createKey({ env: 'live' });
const app = benchApp(made);
const N = Number(process.env.N ?? 100000);
const hdr = { authorization: `Bearer ${made.key}` };
// One Request per route, reused (no body): building Node's Request costs more than any route.
const requests = {};
const req = (route) => { requests[route] ??= new Request(`http://x/${route}`, { headers: hdr }); return requests[route]; };
async function run(route) {
  const t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) { const r = await app.fetch(req(route)); if (r.status !== 200) throw new Error(String(r.status)); }
  return Number(process.hrtime.bigint() - t) / N;
}
const routes = ['open', 'guard', 'layer', 'scoped', 'layers', 'keyward'];
const res = Object.fromEntries(routes.map((r) => [r, []]));
for (let k = 0; k < 7; k++) for (const r of routes) res[r].push(await run(r));
const med = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];
console.log(routes.map((r) => `${r} ${med(res[r]).toFixed(0)} ns`).join(', '));
// What each route adds to the unprotected one, paired by round.
console.log(routes.slice(1).map((r) => `${r} +${med(res[r].map((v, i) => v - res.open[i])).toFixed(0)} ns`).join(', '));
