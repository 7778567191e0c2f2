// Where guard()'s server CPU goes on Hono on Node: one @hono/node-server process with the
// same handler unprotected and behind each part of keyward's check alone, loaded in turn
// (autocannon, interleaved rounds, each round one route later), the server's CPU per
// request read from /proc/<pid>/stat around each slice. Routes:
//   open      the handler
//   headers   + reading Authorization and X-API-Key (c.req.raw.headers.get)
//   sha       + hashKey() of the presented key: SHA-256 in WebAssembly, which any check does
//   nodesha   + the same SHA-256 by Node's crypto (OpenSSL) instead, for comparison
//   verify    + the store's one WebAssembly call (memoryStore().verifyHeaders), no adapter
//   unmemo    + the same call on memoryStore({ hashMemo: false }): the key hashed every time
//   guard     guard({ scopes }, handler): the whole check, as bench/runtimes.mjs loads it
//   twice     + hashKey() twice in one request, each timed: the first runs cold, the second
//             on what the first brought into the caches
// Each added step is also timed inside the server (process.hrtime around it, median), and
// after the load the same steps are timed again in a loop in the same process: the
// difference is what a step costs between real requests (cold caches) against the loop.
//
//   node bench/hono-cost.mjs      BENCH_DURATION=2 BENCH_CONNECTIONS=10 BENCH_ROUNDS=7
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROUTES = ['open', 'headers', 'sha', 'nodesha', 'verify', 'unmemo', 'guard', 'twice'];

/** The server: prints {port, key}; GET /steps gives the in-server and in-loop step timings. */
async function serveCost() {
  const { serve } = await import('@hono/node-server');
  const { Hono } = await import('hono');
  const { createKey, hashKey } = await import('keyward');
  const { guard, memoryStore } = await import('keyward/hono');
  const { key, hash, hint } = createKey({ env: 'live' });
  const store = memoryStore([{
    id: 'key_0123456789abcdef', hash, hint, name: 'bench', owner: 'team-bench',
    scopes: ['scans:read'], env: 'live', created_at: '2026-01-01T00:00:00Z',
  }]);
  const plain = memoryStore([{
    id: 'key_0123456789abcdef', hash, hint, name: 'bench', owner: 'team-bench',
    scopes: ['scans:read'], env: 'live', created_at: '2026-01-01T00:00:00Z',
  }], { hashMemo: false });
  const scopes = ['scans:read'];
  const handler = (c) => c.json({ ok: true });
  const credential = (h) => (h.get('authorization') ?? '').slice('Bearer '.length);
  const steps = {
    headers: (h) => [h.get('authorization'), h.get('x-api-key')],
    sha: (h) => hashKey(credential(h)),
    nodesha: (h) => createHash('sha256').update(credential(h)).digest('hex'),
    verify: (h) => {
      const v = store.verifyHeaders(h.get('authorization') ?? undefined, h.get('x-api-key') ?? undefined, { env: 'live', scopes });
      if (!v.valid) throw new Error(v.code);
    },
    unmemo: (h) => {
      const v = plain.verifyHeaders(h.get('authorization') ?? undefined, h.get('x-api-key') ?? undefined, { env: 'live', scopes });
      if (!v.valid) throw new Error(v.code);
    },
  };
  const served = Object.fromEntries(Object.keys(steps).map((s) => [s, []]));
  const app = new Hono();
  app.get('/open', handler);
  app.get('/guard', guard({ store, env: 'live', scopes }, handler));
  for (const [name, step] of Object.entries(steps)) {
    app.get(`/${name}`, (c) => {
      const t = process.hrtime.bigint();
      step(c.req.raw.headers);
      served[name].push(Number(process.hrtime.bigint() - t));
      return handler(c);
    });
  }
  const twice = { first: [], second: [] };
  app.get('/twice', (c) => {
    const key = credential(c.req.raw.headers);
    const t0 = process.hrtime.bigint();
    hashKey(key);
    const t1 = process.hrtime.bigint();
    hashKey(key);
    twice.first.push(Number(t1 - t0));
    twice.second.push(Number(process.hrtime.bigint() - t1));
    return handler(c);
  });
  app.get('/steps', (c) => {
    const headers = new Headers({ authorization: `Bearer ${key}` });
    const loop = {};
    for (const [name, step] of Object.entries(steps)) {
      const xs = [];
      for (let i = 0; i < 50_000; i++) {
        const t = process.hrtime.bigint();
        step(headers);
        xs.push(Number(process.hrtime.bigint() - t));
      }
      loop[name] = median(xs);
    }
    const inServer = Object.fromEntries(Object.entries(served).map(([n, xs]) => [n, median(xs)]));
    for (const xs of Object.values(served)) xs.length = 0;
    inServer.twice = `first ${median(twice.first)} ns, second ${median(twice.second)} ns`;
    return c.json({ inServer, loop });
  });
  serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => console.log(JSON.stringify({ port: info.port, key })));
}

function median(xs) {
  const a = [...xs].sort((x, y) => x - y);
  return a.length % 2 ? a[a.length >> 1] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
}

/** CPU seconds (user + system, all threads) process `pid` has used so far. */
function cpuOf(pid, ticks) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticks;
}

async function drive() {
  const { execFileSync } = await import('node:child_process');
  const { default: autocannon } = await import('autocannon');
  const duration = Number(process.env.BENCH_DURATION ?? 2);
  const connections = Number(process.env.BENCH_CONNECTIONS ?? 10);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 7);
  const ticks = Number(execFileSync('getconf', ['CLK_TCK']).toString()) || 100;
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'serve'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [line] = await once(createInterface({ input: child.stdout }), 'line');
    const { port, key } = JSON.parse(line);
    const load = (route, seconds) => autocannon({
      url: `http://127.0.0.1:${port}/${route}`, connections, duration: seconds, headers: { authorization: `Bearer ${key}` },
    });
    for (const route of ROUTES) await load(route, 1);
    const cpu = Object.fromEntries(ROUTES.map((r) => [r, []]));
    const rps = Object.fromEntries(ROUTES.map((r) => [r, []]));
    for (let i = 0; i < rounds; i++) {
      for (const route of [...ROUTES.slice(i % ROUTES.length), ...ROUTES.slice(0, i % ROUTES.length)]) {
        const before = cpuOf(child.pid, ticks);
        const r = await load(route, duration);
        if (r.non2xx !== 0 || r.errors !== 0) throw new Error(`${route}: ${r.non2xx} non-2xx, ${r.errors} errors`);
        cpu[route].push(((cpuOf(child.pid, ticks) - before) * 1e6) / r.requests.total);
        rps[route].push(r.requests.average);
      }
    }
    const { inServer, loop } = await (await fetch(`http://127.0.0.1:${port}/steps`)).json();
    console.log(`Hono on Node ${process.versions.node}, one server, autocannon ${connections} connections x ${duration} s, ${rounds} interleaved rounds;`
      + ' the server\'s CPU µs per request (median), what the route adds to /open (median of paired rounds), and the added step timed inside'
      + ' the server under load and in a loop in the same process (median ns)');
    for (const route of ROUTES) {
      const added = route === 'open' ? '' : `+${median(cpu[route].map((v, i) => v - cpu.open[i])).toFixed(1)} µs`;
      const ratio = route === 'open' ? '' : `${median(cpu[route].map((v, i) => cpu.open[i] / v)).toFixed(3)}x by CPU`;
      const step = route === 'twice' ? `SHA-256 twice in one request, in the server: ${inServer.twice}`
        : inServer[route] === undefined ? '' : `step ${inServer[route]} ns in the server, ${loop[route]} ns in a loop`;
      console.log(`${route.padEnd(8)} ${median(rps[route]).toFixed(0).padStart(7)} req/s ${median(cpu[route]).toFixed(1).padStart(6)} µs CPU ${added.padStart(9)} ${ratio.padStart(14)}  ${step}`);
    }
  } finally {
    child.kill();
  }
}

if (process.argv[2] === 'serve') await serveCost();
else await drive();
