// Benchmark (3): Hono on Node, Fastify on Node and a JavaScript Worker on workerd
// (wrangler dev, loaded on workerd's own socket), each with the same route unprotected, behind keyward (Hono: apiKey +
// requireScope; Fastify: the plugin + requireScope; memoryStore), behind the framework's
// own layers doing nothing (what it charges for any two middleware) and, for Hono, behind
// hono/bearer-auth with a fixed token, with autocannon on loopback, in one run. Routes
// alternate within each round so drift hits all of them; each ratio is the median of the
// rounds' paired ratios (route / unprotected in the same round), as the machine is shared.
//
//   node bench/runtimes.mjs      BENCH_DURATION=2 BENCH_CONNECTIONS=10 BENCH_ROUNDS=7
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { createKey } from 'keyward';
import { directUrl, freePort } from '../../tests/e2e/harness.mjs';

const duration = Number(process.env.BENCH_DURATION ?? 2);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 10);
const rounds = Number(process.env.BENCH_ROUNDS ?? 7);
const here = fileURLToPath(new URL('.', import.meta.url));
const WRANGLER = join(here, '../../node_modules/.bin/wrangler');
const LABELS = {
  open: 'unprotected',
  keyward: 'keyward (apiKey/plugin + requireScope)',
  scoped: 'keyward/hono apiKey({ scopes }) alone: one middleware',
  layers: 'two layers doing nothing',
  bearer: 'hono/bearer-auth, fixed token',
};

async function nodeServer(file) {
  const child = spawn(process.execPath, [join(here, file)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = await once(createInterface({ input: child.stdout }), 'line');
  const { port, key } = JSON.parse(line);
  return { url: `http://127.0.0.1:${port}`, key, stop: () => child.kill() };
}
const node = async () => ({ ...await nodeServer('hono-node.mjs'), routes: ['open', 'keyward', 'scoped', 'layers', 'bearer'] });
const fastify = async () => ({ ...await nodeServer('fastify-node.mjs'), routes: ['open', 'keyward', 'layers'] });

async function worker() {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-bench-worker-'));
  const config = join(dir, 'wrangler.toml');
  writeFileSync(config, `name = "keyward-bench"\nmain = "${join(here, 'hono-worker.mjs')}"\ncompatibility_date = "2025-09-01"\n`);
  const { key, hash, hint } = createKey({ env: 'live' });
  const port = await freePort();
  const args = ['dev', '-c', config, '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(await freePort()),
    '--show-interactive-dev-session=false', '--persist-to', join(dir, 'state'),
    '--var', `BENCH_KEY:${key}`, '--var', `BENCH_HASH:${hash}`, '--var', `BENCH_HINT:${hint}`];
  const child = spawn(WRANGLER, args, { cwd: dir, stdio: 'ignore', detached: true, env: { ...process.env, WRANGLER_SEND_METRICS: 'false' } });
  const url = `http://127.0.0.1:${port}`;
  for (const deadline = Date.now() + 120_000; ;) {
    try {
      if ((await fetch(`${url}/open`)).status === 200) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error('wrangler dev did not answer within 120 s');
    await new Promise((r) => setTimeout(r, 250));
  }
  // Loaded through the Worker's own workerd socket, not wrangler's dev proxy in front of it
  // (which caps any route at a few hundred requests a second): the e2e harness's finder.
  const direct = await directUrl(child.pid);
  if (direct === null) throw new Error("the Worker's own workerd socket was not found");
  return { url: direct, key, routes: ['open', 'keyward', 'scoped', 'layers', 'bearer'], stop: () => { try { process.kill(-child.pid); } catch { /* gone */ } rmSync(dir, { recursive: true, force: true }); } };
}

async function measure(s, route) {
  const options = { url: `${s.url}/${route}`, connections, duration, headers: { authorization: `Bearer ${s.key}` } };
  const r = await autocannon(options);
  if (r.non2xx !== 0 || r.errors !== 0) throw new Error(`${route}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return r;
}

const median = (xs) => {
  const a = [...xs].sort((x, y) => x - y);
  return a.length % 2 ? a[a.length >> 1] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
};
const servers = [[`Hono on Node ${process.versions.node}`, node], [`Fastify on Node ${process.versions.node}`, fastify],
  ['a JavaScript Worker (Hono) on workerd (wrangler dev, its own socket)', worker]];
const only = process.env.BENCH_ONLY;
for (const [name, starter] of servers.filter(([n]) => only === undefined || n.toLowerCase().includes(only.toLowerCase()))) {
  const s = await starter();
  const { routes } = s;
  try {
    for (const route of routes) await autocannon({ url: `${s.url}/${route}`, connections, duration: 1, headers: { authorization: `Bearer ${s.key}` } });
    const rps = Object.fromEntries(routes.map((r) => [r, []]));
    for (let i = 0; i < rounds; i++) {
      for (const route of routes) rps[route].push((await measure(s, route)).requests.average);
    }
    console.log(`${name}: autocannon ${connections} connections x ${duration} s, ${rounds} interleaved rounds; median req/s, median of paired ratios`);
    for (const route of routes) {
      const ratio = route === 'open' ? '' : ` (${median(rps[route].map((v, i) => v / rps.open[i])).toFixed(3)}x unprotected)`;
      console.log(`${median(rps[route]).toFixed(0).padStart(7)} req/s  ${LABELS[route]}${ratio}`);
    }
  } finally {
    s.stop();
  }
}
