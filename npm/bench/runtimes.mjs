// Benchmark (3): Hono on Node, Fastify on Node and a JavaScript Worker on workerd
// (wrangler dev, loaded on workerd's own socket), each with the same route unprotected, behind keyward (Hono: apiKey +
// requireScope; Fastify: the plugin + requireScope; memoryStore), behind the framework's
// own layers doing nothing (what it charges for any two middleware) and, for Hono, behind
// hono/bearer-auth with a fixed token, with autocannon on loopback, in one run. Routes
// alternate within each round so drift hits all of them; each ratio is the median of the
// rounds' paired ratios (route / unprotected in the same round), as the machine is shared;
// each round starts one route later than the one before.
// Beside requests a second, the server's own CPU time per request (/proc/<pid>/stat around
// each slice; all its threads): what each route costs the server, which other work on the
// machine moves less than it moves throughput.
//
//   node bench/runtimes.mjs      BENCH_DURATION=2 BENCH_CONNECTIONS=10 BENCH_ROUNDS=7
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  guard: 'keyward/hono guard({ scopes }, handler): the route\'s one handler',
  unmemo: 'the same guard(), memoryStore({ hashMemo: false }): every key hashed',
  keyward: 'keyward (apiKey/plugin + requireScope)',
  scoped: 'keyward/hono apiKey({ scopes }) alone: one middleware',
  layers: 'two layers doing nothing',
  floor: 'the floor of a check by hash: read, SHA-256 (the runtime\'s), a Map lookup',
  bearer: 'hono/bearer-auth, fixed token',
};

async function nodeServer(file) {
  const child = spawn(process.execPath, [join(here, file)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = await once(createInterface({ input: child.stdout }), 'line');
  const { port, key } = JSON.parse(line);
  return { url: `http://127.0.0.1:${port}`, key, pid: child.pid, stop: () => child.kill() };
}
const HONO_ROUTES = ['open', 'guard', 'unmemo', 'keyward', 'scoped', 'floor', 'layers', 'bearer'];
const node = async () => ({ ...await nodeServer('hono-node.mjs'), routes: HONO_ROUTES });
const fastify = async () => ({ ...await nodeServer('fastify-node.mjs'), routes: ['open', 'keyward', 'floor', 'layers'] });

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
  return { url: direct, key, pid: listenerOf(new URL(direct).port), routes: HONO_ROUTES, stop: () => { try { process.kill(-child.pid); } catch { /* gone */ } rmSync(dir, { recursive: true, force: true }); } };
}

/** The process listening on loopback `port` (workerd's own socket), from `ss`. */
function listenerOf(port) {
  const line = execFileSync('ss', ['-ltnpH']).toString().split('\n').find((l) => l.includes(`127.0.0.1:${port} `));
  return Number(line?.match(/pid=(\d+),/)?.[1]) || undefined;
}

/** CPU seconds (user + system, all threads) process `pid` has used so far. */
function cpuOf(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}
const TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString()) || 100;

/** One slice of load on `route`: requests a second, and the server's CPU µs per request. */
async function measure(s, route) {
  const options = { url: `${s.url}/${route}`, connections, duration, headers: { authorization: `Bearer ${s.key}` } };
  const before = s.pid ? cpuOf(s.pid) : undefined;
  const r = await autocannon(options);
  const cpu = before === undefined ? NaN : ((cpuOf(s.pid) - before) * 1e6) / r.requests.total;
  if (r.non2xx !== 0 || r.errors !== 0) throw new Error(`${route}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return { rps: r.requests.average, cpu };
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
    const cpu = Object.fromEntries(routes.map((r) => [r, []]));
    for (let i = 0; i < rounds; i++) {
      // Each round starts one route later, so that no route always runs first (after the
      // pause between rounds) or always after the same neighbour.
      for (const route of [...routes.slice(i % routes.length), ...routes.slice(0, i % routes.length)]) {
        const m = await measure(s, route);
        rps[route].push(m.rps);
        cpu[route].push(m.cpu);
      }
    }
    console.log(`${name}: autocannon ${connections} connections x ${duration} s, ${rounds} interleaved rounds; median req/s, median of paired ratios;`
      + ' the server\'s CPU µs per request (median), and unprotected\'s CPU / the route\'s (median of paired ratios)');
    for (const route of routes) {
      const paired = (xs, f) => median(xs.map((v, i) => f(v, i))).toFixed(3);
      const ratio = route === 'open' ? '' : ` ${paired(rps[route], (v, i) => v / rps.open[i])}x`;
      const byCpu = route === 'open' ? '' : ` ${paired(cpu[route], (v, i) => cpu.open[i] / v)}x by CPU`;
      // keyward's routes against the floor of any check by hash, in the same rounds.
      const keyward = ['guard', 'unmemo', 'keyward', 'scoped'].includes(route) && rps.floor;
      const vsFloor = keyward ? `; ${paired(rps[route], (v, i) => v / rps.floor[i])}x the floor, ${paired(cpu[route], (v, i) => cpu.floor[i] / v)}x by CPU` : '';
      console.log(`${median(rps[route]).toFixed(0).padStart(7)} req/s${ratio.padEnd(7)}  ${median(cpu[route]).toFixed(1).padStart(6)} µs CPU${byCpu.padEnd(14)}  ${LABELS[route]}${vsFloor}`);
    }
  } finally {
    s.stop();
  }
}
