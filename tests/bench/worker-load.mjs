// Load benchmark of the Worker under wrangler dev (loopback only, bounded in time): the
// floor, /healthz (routing and a JSON response), against /v1/verify for a valid key
// (credential, KV read, the key's ledger, decision, an audit event queued) with the
// default revocation bound (a ledger answer reused for 1 s per isolate) and with bound 0
// (the key's Durable Object asked on every verification), and for keys whose every use is
// counted (rate limits, credits), and the body-less form (`/v1/verify/header`, the key in
// a header) with the default bound, in one run. The load goes to the Worker's own socket in
// workerd (the harness's `startWorker` finds it), not through wrangler's dev proxy, which
// caps throughput and loses requests under load: the run refuses to measure the proxy.
// Beside req/s and latency, each case's figure against healthz's in the same round (the
// rounds alternate, so a busy moment of the machine hits both) and workerd's CPU time per
// request (/proc/<pid>/stat, the queue consumer's included), which other processes' load
// moves less than req/s.
//   node tests/bench/worker-load.mjs [seconds-per-round] [cases, e.g. floor,bound1000]
// (cases: floor, bound1000, header1000, bound0, limits, credits; all by default;
// ROUNDS=n for more rounds than 3).
import autocannon from 'autocannon';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { ROOT, call, startWorker } from '../e2e/harness.mjs';

// A fixed duration, not a request count: autocannon reports completion on its 1-second
// tick, which would round short runs.
const duration = Number(process.argv[2] ?? 5);
const only = process.argv[3]?.split(',');
// Rounds alternate between the cases so that drift on a shared machine hits all; each
// case's figure is its median round.
const rounds = Number(process.env.ROUNDS ?? 3);
const connections = 10;

/** The pid of the process listening on `url`'s loopback port (the Worker's workerd). */
function listenerPid(url) {
  const port = new URL(url).port;
  const line = execFileSync('ss', ['-ltnpH']).toString().split('\n').find((l) => l.includes(`127.0.0.1:${port} `));
  const pid = Number(line?.match(/pid=(\d+),/)?.[1]);
  if (!pid) throw new Error(`no process listens on ${url}`);
  return pid;
}

/** CPU time a process has used, user and system, in clock ticks (/proc/<pid>/stat). */
function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** One autocannon round of `opts`; `cpu`: the ticks the Worker's workerd used meanwhile. */
async function run(opts, pid) {
  const before = pid ? cpuTicks(pid) : 0;
  const r = await new Promise((res, rej) => {
    autocannon({ connections, duration, ...opts }, (err, out) => (err ? rej(err) : res(out)));
  });
  r.cpu = pid ? cpuTicks(pid) - before : 0;
  return r;
}

/**
 * A service key and a key to verify, on worker `w`; the autocannon options.
 * @returns {Promise<{url: string, method?: string, headers?: Record<string, string>, body?: string}>}
 */
async function verifyCase(w, keySpec = {}, form = 'json') {
  const create = (body) => call(w.url, '/v1/keys', { method: 'POST', key: w.rootKey, body: { owner: 'bench', env: 'live', ...body } });
  const key = await create({ name: 'bench', scopes: ['scans:read'], ...keySpec });
  const service = await create({ name: 'bench-svc', scopes: ['keys:verify'] });
  if (key.status !== 201 || service.status !== 201) throw new Error(`bench keys: ${key.text} ${service.text}`);
  const opts = form === 'header'
    // The body-less form: the key in a header, the options in the query.
    ? { url: `${w.url}/v1/verify/header?scopes=scans%3Aread`, method: 'POST', headers: { authorization: `Bearer ${service.body.key}`, 'keyward-key': key.body.key } }
    : {
      url: `${w.url}/v1/verify`,
      method: 'POST',
      headers: { authorization: `Bearer ${service.body.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ key: key.body.key, scopes: ['scans:read'] }),
    };
  // Every case measures a verification that succeeds (a refusal is a 200 too).
  const probe = await fetch(opts.url, { method: opts.method, headers: opts.headers, body: opts.body });
  const verdict = await probe.json();
  if (verdict.code !== 'valid') throw new Error(`${opts.url}: ${JSON.stringify(verdict)}`);
  return opts;
}

const w = await startWorker();
const w0 = await startWorker({ vars: { KEYWARD_REVOCATION_BOUND_MS: '0' } });
try {
  if (!w.direct || !w0.direct) throw new Error("the Worker's own socket was not found: this run would measure wrangler's dev proxy");
  /** @type {Array<[string, string, () => Promise<{url: string, method?: string, headers?: Record<string, string>, body?: string}>]>} */
  const all = [
    ['floor', 'GET /healthz', async () => ({ url: `${w.url}/healthz` })],
    ['bound1000', 'POST /v1/verify, revocation bound 1000 ms (default)', () => verifyCase(w)],
    ['header1000', 'POST /v1/verify/header (the key in a header, no body), bound 1000 ms (default)', () => verifyCase(w, {}, 'header')],
    ['bound0', 'POST /v1/verify, revocation bound 0 (the ledger on every call)', () => verifyCase(w0)],
    // Every use counted in the key's Durable Object (a sliding log per limit, in SQLite).
    ['limits', 'POST /v1/verify, a key with two rate limits (1000/1s, 10000/1m)', () => verifyCase(w, {
      rate_limits: [{ name: 'second', limit: 1000, period: '1s' }, { name: 'minute', limit: 10000, period: '1m' }],
    })],
    ['credits', 'POST /v1/verify, a key with credits', () => verifyCase(w, { credits: { remaining: 1000000 } })],
  ];
  const unknown = only?.filter((id) => !all.some(([known]) => known === id));
  if (unknown?.length) throw new Error(`no such case: ${unknown.join(', ')} (cases: ${all.map(([id]) => id).join(', ')})`);
  // The floor is always measured: every figure is stated against it.
  /** @type {Array<[string, {url: string, method?: string, headers?: Record<string, string>, body?: string}]>} */
  const cases = [];
  for (const [id, name, make] of all) if (id === 'floor' || !only || only.includes(id)) cases.push([name, await make()]);
  for (const [, opts] of cases) await run({ ...opts, duration: 2 }); // warm every path
  const pids = new Map([[w.url, listenerPid(w.url)], [w0.url, listenerPid(w0.url)]]);
  const results = cases.map(() => []);
  for (let i = 0; i < rounds; i++) {
    for (const [j, [, opts]] of cases.entries()) results[j].push(await run(opts, pids.get(new URL(opts.url).origin)));
  }
  for (const r of results.flat()) {
    if (r.errors || r.non2xx) throw new Error(`${r.url}: ${r.errors} errors, ${r.non2xx} non-2xx responses`);
  }
  const rps = (r) => r.requests.total / ((new Date(r.finish).getTime() - new Date(r.start).getTime()) / 1000);
  const median = (rs) => [...rs].sort((a, b) => rps(a) - rps(b))[Math.floor(rs.length / 2)];
  const m0 = median(results[0]);
  const floor = rps(m0);
  // The Worker's CPU time per request (workerd's, the queue consumer's included), by round:
  // a figure other processes' load moves far less than req/s.
  const ticks = Number(execFileSync('getconf', ['CLK_TCK']).toString());
  const cpuPer = (r) => (r.cpu / ticks) * 1e6 / r.requests.total;
  const medianOf = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const floorCpu = medianOf(results[0].map(cpuPer));
  console.log(`workerd under wrangler dev (the Worker's own socket), ${rounds} alternating rounds of ${duration} s per case (median shown), ${connections} connections`);
  console.log('| case | req/s (median) | rounds | p50 | p99 | vs healthz (req/s; p99) | vs healthz in the same round (req/s, median) | workerd CPU per request (median) | healthz\'s CPU per request / this |\n|---|---|---|---|---|---|---|---|---|');
  for (const [j, [name]] of cases.entries()) {
    const m = median(results[j]);
    const cpu = medianOf(results[j].map(cpuPer));
    const paired = medianOf(results[j].map((r, i) => rps(r) / rps(results[0][i])));
    console.log(`| ${name} | ${rps(m).toFixed(0)} | ${results[j].map((r) => rps(r).toFixed(0)).join(', ')} | ${m.latency.p50} ms | ${m.latency.p99} ms | ${(rps(m) / floor).toFixed(2)}x; ${(m.latency.p99 / m0.latency.p99).toFixed(2)}x | ${paired.toFixed(2)}x | ${cpu.toFixed(0)} µs | ${(floorCpu / cpu).toFixed(2)}x |`);
  }
  for (const [name, dir] of [['keyward-edge (measured here)', 'build-edge'], ['keyward', 'build']]) {
    const wasm = readFileSync(`${ROOT}/worker/${dir}/index_bg.wasm`);
    console.log(`${name} wasm: ${wasm.length} bytes, ${gzipSync(wasm, { level: 9 }).length} bytes gzipped`);
  }
} finally {
  await w.stop();
  await w0.stop();
}
