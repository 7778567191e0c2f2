// Starts the real keyward Worker under `wrangler dev` (workerd with local KV, Queues and
// D1) on a free loopback port with fresh local state, for end-to-end tests.
import { spawn, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';
import { createRequire } from 'node:module';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const WRANGLER = join(ROOT, 'node_modules/.bin/wrangler');
const BUILT = [join(ROOT, 'worker/build/index.js'), join(ROOT, 'worker/build-edge/index.js')];

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (srv.address());
      srv.close(() => res(port));
    });
  });
}

/** An HTTP server on a free loopback port, answering with `handler`; settles with it. */
export function listen(handler) {
  return new Promise((res) => {
    const srv = http.createServer(handler);
    srv.listen(0, '127.0.0.1', () => res(srv));
  });
}

/**
 * An origin for the gateway and the deployment's alert webhook, on a free loopback port:
 * a request to `/alerts` is an alert, verified (`verifiedAlert`) into `alerts`; any other
 * is recorded in `hits` as {method, url, headers, body} and answered 200 with
 * {origin: true, path}. Returns {server, url, hits, alerts}.
 */
export async function startOrigin() {
  const hits = [];
  const alerts = [];
  const server = await listen((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      if (req.url === '/alerts') {
        alerts.push(verifiedAlert(req.headers, body));
        res.writeHead(204).end();
        return;
      }
      hits.push({ method: req.method, url: req.url, headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ origin: true, path: req.url }));
    });
  });
  return { server, url: `http://127.0.0.1:${server.address().port}`, hits, alerts };
}

/** Creates a key through the Worker at `url` with `key` (201, or it throws); its answer. */
export async function createKey(url, key, body) {
  const r = await call(url, '/v1/keys', { method: 'POST', key, body });
  if (r.status !== 201) throw new Error(`a key could not be created: ${r.status} ${r.text}`);
  return r.body;
}

/** A keyward key in the shared format; fixtures only (the Worker itself parses it). */
export function makeKey(vendor = 'sk', env = 'root') {
  const body = `${vendor}_${env}_${randomBytes(32).toString('base64url')}`;
  const sum = Buffer.alloc(4);
  sum.writeUInt32BE(crc32(body));
  return body + sum.toString('base64url');
}

export const sha256 = (s) => createHash('sha256').update(s).digest('hex');

const { Webhook } = createRequire(import.meta.url)('standardwebhooks');

/** The ALERT_WEBHOOK_SECRET of `alertWebhook`'s settings. */
export const ALERT_SECRET = `whsec_${randomBytes(32).toString('base64')}`;

/** The settings of an alert endpoint at `url` (a loopback http:// URL, allowed as in
 *  `make dev`). */
export const alertWebhook = (url) => ({
  ALERT_WEBHOOK_URL: url,
  ALERT_WEBHOOK_SECRET: ALERT_SECRET,
  KEYWARD_WEBHOOK_ALLOW_LOOPBACK_HTTP: 'true',
});

/** The alert an alert endpoint received (`headers`, raw `body`), verified with the
 *  `standardwebhooks` package against ALERT_SECRET first: throws if it does not verify.
 *  `anyTime`: for a Worker whose clock is shifted on purpose (KEYWARD_TEST_CLOCK_OFFSET_MS),
 *  the signature is checked with the package's own signing, the timestamp's freshness not. */
export function verifiedAlert(headers, body, { anyTime = false } = {}) {
  const hook = new Webhook(ALERT_SECRET);
  if (anyTime) {
    const expected = hook.sign(headers['webhook-id'], new Date(Number(headers['webhook-timestamp']) * 1000), body);
    if (!String(headers['webhook-signature']).split(' ').includes(expected)) throw new Error('the alert does not verify');
    return JSON.parse(body).data;
  }
  const event = hook.verify(body, {
    'webhook-id': headers['webhook-id'],
    'webhook-timestamp': headers['webhook-timestamp'],
    'webhook-signature': headers['webhook-signature'],
  });
  return event.data;
}

/** The ORIGIN_SECRET every test Worker with a gateway gets (unless the test gives one). */
export const ORIGIN_SECRET = `e2e-origin-secret-${randomBytes(16).toString('hex')}`;

/** `toml` with `vars` set in its [vars] table (a var the file has is replaced; `null`: the
 *  file's own, if any). Written into the file rather than given as `--var`: wrangler gives
 *  `--var` to the first of several Workers only. */
function withVars(toml, vars) {
  const lines = [];
  for (const [k, v] of Object.entries(vars)) {
    if (v === null) continue;
    toml = toml.replace(new RegExp(`^${k} = .*\\n`, 'm'), '');
    lines.push(`${k} = ${JSON.stringify(String(v))}`);
  }
  return toml.replace('[vars]\n', `[vars]\n${lines.map((l) => `${l}\n`).join('')}`);
}

/** The project's two Worker configurations (wrangler.toml, the Worker `keyward`, and
 *  wrangler.edge.toml, `keyward-edge`, in front of it) without their [build] step (the tests
 *  build once), with paths made relative to where the copies live and `vars` set in both;
 *  {full, edge}: their paths.
 *  @param {string} dir @param {Record<string, string | null>} vars
 *  @param {{unauthenticatedLimit?: number, edgeConfig?: (toml: string) => string}} [options] */
function testConfig(dir, vars, { unauthenticatedLimit, edgeConfig = (t) => t } = {}) {
  const rel = (p) => relative(dir, join(ROOT, p));
  const write = (source, name) => {
    let toml = readFileSync(join(ROOT, source), 'utf8');
    if (unauthenticatedLimit !== undefined) {
      // The API fuzzer sends thousands of unauthenticated requests on purpose; the limiter
      // itself is tested in limits.test.mjs.
      toml = toml.replace('simple = { limit = 100, period = 60 }', `simple = { limit = ${unauthenticatedLimit}, period = 60 }`);
    }
    toml = toml.replace(/\[build\][\s\S]*?(?=\n\[)/, '');
    toml = toml.replace(/^main = "(worker\/[^"]+)"/m, (_, p) => `main = "${rel(p)}"`);
    toml = toml.replace('migrations_dir = "worker/migrations"', `migrations_dir = "${rel('worker/migrations')}"`);
    toml = toml.replace('directory = "dashboard/dist"', `directory = "${rel('dashboard/dist')}"`);
    const path = join(dir, name);
    writeFileSync(path, withVars(toml, vars));
    return path;
  };
  const full = write('wrangler.toml', 'wrangler.toml');
  const edge = write('wrangler.edge.toml', 'wrangler.edge.toml');
  writeFileSync(edge, edgeConfig(readFileSync(edge, 'utf8')));
  return { full, edge };
}

const quietEnv = {
  ...process.env,
  WRANGLER_SEND_METRICS: 'false',
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
  NO_COLOR: '1',
  FORCE_COLOR: '0',
};

/**
 * Waits for a wrangler dev just spawned: true once `/healthz` answers as `ready` wants,
 * false if wrangler exits first; fails after 90 s.
 * @param {import('node:child_process').ChildProcess} child @param {string} url
 * @param {(status: number) => boolean} ready @param {() => string} output
 */
async function started(child, url, ready, output) {
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) return false;
    try {
      const r = await fetch(`${url}/healthz`);
      if (ready(r.status)) return true;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) {
      stopTree(child);
      throw new Error(`wrangler dev did not answer within 90 s:\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The persisted states whose D1 this process has migrated. */
const migrated = new Set();

/**
 * Starts keyward as it is deployed, under one `wrangler dev`: the edge Worker (`keyward-edge`,
 * the one served on the port) in front of the Worker `keyward`. `vars` are set in both
 * (e.g. ORIGIN_URL, ROUTES).
 * Returns {url, proxyUrl, direct, inspectorPort, rootKey, stop(), logs(), persistDir, d1(sql), ...}.
 * @param {{vars?: Record<string, string | null>, persistDir?: string, ready?: (status: number) => boolean,
 *   unauthenticatedLimit?: number, edgeConfig?: (toml: string) => string}} [options] `edgeConfig`: a
 *   change to the edge Worker's configuration (a test's own deployment mistake).
 */
export async function startWorker({ vars = {}, persistDir, ready = (status) => status === 200, unauthenticatedLimit, edgeConfig } = {}) {
  for (const built of BUILT) {
    if (!existsSync(built)) throw new Error(`the Worker is not built (${built}); run 'make build-worker' first`);
  }
  mkdirSync(join(ROOT, '.wrangler'), { recursive: true });
  const dir = mkdtempSync(join(ROOT, '.wrangler', 'e2e-'));
  const rootKey = makeKey();
  // A gateway needs the secret it signs for the origin with: the tests' own, unless a
  // test gives one (or null: none at all).
  const allVars = { KEYWARD_ROOT_KEY_HASH: sha256(rootKey), ...(vars.ORIGIN_URL ? { ORIGIN_SECRET } : {}), ...vars };
  const { full: config, edge } = testConfig(dir, allVars, { unauthenticatedLimit, edgeConfig });
  const persist = persistDir ?? mkdtempSync(join(tmpdir(), 'keyward-state-'));
  // A state this process already migrated (a Worker restarted on it) is not migrated again:
  // the same migrations, and a second wrangler run saved on every restart.
  if (!migrated.has(persist)) {
    execFileSync(WRANGLER, ['d1', 'migrations', 'apply', 'AUDIT_DB', '--local', '--persist-to', persist, '-c', config], {
      env: { ...quietEnv, CI: 'true' },
      stdio: 'pipe',
    });
    migrated.add(persist);
  }
  // A free port is free when asked, not when wrangler binds it: workerd's own sockets (or
  // another server) can take it in between, and then wrangler exits with "Address already
  // in use". It starts again on other ports (a few times, then fails with its words).
  let child;
  let output;
  let port;
  let inspector;
  let url;
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    inspector = await freePort();
    // The edge Worker first: the one wrangler serves on the port (the other is reached
    // through its service binding, as in a deployment).
    const args = ['dev', '-c', edge, '-c', config, '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspector),
      '--persist-to', persist, '--test-scheduled', '--show-interactive-dev-session=false', '--log-level', process.env.KEYWARD_E2E_LOG_LEVEL ?? 'log'];
    child = spawn(WRANGLER, args, { env: quietEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    url = `http://127.0.0.1:${port}`;
    if (await started(child, url, ready, () => output)) break;
    if (attempt >= 3 || !/Address already in use/.test(output)) {
      throw new Error(`wrangler dev exited (${child.exitCode}):\n${output}`);
    }
  }
  const direct = await directUrl(child.pid);
  if (!direct && process.env.KEYWARD_E2E_VIA_PROXY !== '1') {
    console.warn("e2e: the Worker's own socket was not found; talking through wrangler's dev proxy");
  }
  return {
    url: direct ?? url,
    /** wrangler's dev proxy in front of the Worker (what `make dev` users open). */
    proxyUrl: url,
    /** Whether `url` is the Worker's own socket (not wrangler's dev proxy). */
    direct: Boolean(direct),
    /** wrangler's inspector (Chrome DevTools protocol): CPU profiles of the Worker. */
    inspectorPort: inspector,
    rootKey,
    persistDir: persist,
    logs: () => output,
    /**
     * Writes entries straight into the Worker's local KV, as another location (or a
     * lagging replica) would see them: `[{key, value, metadata?}]`.
     */
    kvPut(entries) {
      const file = join(dir, `kv-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
      writeFileSync(file, JSON.stringify(entries.map((e) => ({
        key: e.key, value: typeof e.value === 'string' ? e.value : JSON.stringify(e.value), ...(e.metadata ? { metadata: e.metadata } : {}),
      }))));
      try {
        secondClient(['kv', 'bulk', 'put', file, '--binding', 'KEYS', '--local', '--persist-to', persist, '-c', config]);
      } finally {
        rmSync(file, { force: true });
      }
    },
    /** Reads one value from the Worker's local KV (`null` when absent). */
    /**
     * Stores `[{key, record}]` as keys of the format before the ledger (the record by the
     * presented key's hash, its id and owner indexes), then has the root key adopt them
     * (POST /v1/migrate, every page): KV alone never brings a key to life.
     */
    async adoptLegacy(pairs) {
      this.kvPut(pairs.flatMap(({ key, record }) => {
        const meta = { hash: sha256(key), owner: record.owner, env: record.env };
        return [
          { key: `rec:${sha256(key)}`, value: record },
          { key: `id:${record.id}`, value: '', metadata: meta },
          { key: `own:${sha256(record.owner).slice(0, 32)}:${record.id}`, value: '', metadata: meta },
        ];
      }));
      let cursor;
      do {
        const r = await call(url, `/v1/migrate${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ''}`, { method: 'POST', key: rootKey });
        if (r.status !== 200) throw new Error(`the migration failed: ${r.status} ${r.text}`);
        cursor = r.body.cursor;
      } while (cursor);
    },
    kvGet(key) {
      const out = secondClient(['kv', 'key', 'get', key, '--binding', 'KEYS', '--local', '--persist-to', persist, '-c', config, '--text']);
      return out === 'Value not found\n' ? null : out;
    },
    /** Runs SQL against the same local D1 the Worker uses (a second client, as an operator would). */
    d1(sql) {
      return JSON.parse(secondClient(['d1', 'execute', 'AUDIT_DB', '--local', '--persist-to', persist,
        '-c', config, '--json', '--command', sql]));
    },
    async stop() {
      // KEYWARD_E2E_LOGS=dir keeps each Worker's output for a look after the run.
      if (process.env.KEYWARD_E2E_LOGS) {
        mkdirSync(process.env.KEYWARD_E2E_LOGS, { recursive: true });
        writeFileSync(join(process.env.KEYWARD_E2E_LOGS, `wrangler-${port}.log`), output);
      }
      stopTree(child);
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Runs wrangler as a second client of the Worker's local state (`--local --persist-to`),
 * as an operator would. The running Worker writes the same SQLite files, so the second
 * client may find them busy for a moment: wrangler then says SQLITE_BUSY, "database is
 * locked", or (for KV, whose local server hides the cause) "KV PUT failed: 500". It tries
 * again a few times, a moment apart, then fails with wrangler's words.
 */
function secondClient(args) {
  for (let attempt = 1; ; attempt++) {
    try {
      return execFileSync(WRANGLER, args, { env: { ...quietEnv, CI: 'true' }, stdio: 'pipe' }).toString();
    } catch (e) {
      const said = `${e.stdout ?? ''}${e.stderr ?? ''}`;
      if (attempt < 6 && /SQLITE_BUSY|database is locked|failed: 500/i.test(said)) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250 * attempt);
        continue;
      }
      throw new Error(`wrangler ${args.slice(0, 3).join(' ')} failed: ${said}`);
    }
  }
}

/**
 * The Worker's own socket in workerd, behind wrangler's dev proxy. The tests talk to it
 * directly: under concurrent load the proxy (wrangler 4.86) loses requests it writes to a
 * keep-alive connection workerd just closed, answering POSTs "Your worker restarted
 * mid-request" (503) and parking GETs until some later request arrives
 * (cloudflare/workers-sdk#14641, #15252). The proxy exists in development only; the
 * socket behind it is the same runtime with the same bindings. `null` (use the proxy)
 * where the processes cannot be read, or with KEYWARD_E2E_VIA_PROXY=1.
 */
export async function directUrl(wranglerPid) {
  if (process.env.KEYWARD_E2E_VIA_PROXY === '1') return null;
  let table;
  let sockets;
  try {
    table = execFileSync('ps', ['-eo', 'pid=,ppid=,args=']).toString();
    sockets = execFileSync('ss', ['-ltnpH']).toString();
  } catch {
    return null;
  }
  const procs = table.split('\n').map((l) => l.trim().match(/^(\d+)\s+(\d+)\s+(.*)$/)).filter(Boolean)
    .map(([, pid, ppid, args]) => ({ pid: Number(pid), ppid: Number(ppid), args }));
  const mine = new Set([wranglerPid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const p of procs) if (mine.has(p.ppid) && !mine.has(p.pid)) { mine.add(p.pid); grew = true; }
  }
  // The runtime is the workerd started with an ephemeral entry socket (the proxy's has the
  // fixed --port).
  const runtime = procs.find((p) => mine.has(p.pid) && /workerd serve/.test(p.args) && /--socket-addr=entry=127\.0\.0\.1:0\b/.test(p.args));
  if (!runtime) return null;
  const ports = sockets.split('\n').filter((l) => l.includes(`pid=${runtime.pid},`))
    .map((l) => l.match(/127\.0\.0\.1:(\d+)/)?.[1]).filter(Boolean);
  for (const port of ports) {
    const candidate = `http://127.0.0.1:${port}`;
    try {
      const r = await fetch(`${candidate}/healthz`, { signal: AbortSignal.timeout(2000) });
      const body = await r.text();
      if ((r.headers.get('content-type') ?? '').startsWith('application/json') && /^\{"(ok|error)"/.test(body)) return candidate;
    } catch { /* the inspector or the debug port */ }
  }
  return null;
}

function stopTree(child) {
  try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
}

/**
 * `fetch`, tried again once when the connection it reused had been closed by the server
 * while idle. The helpers above that drive wrangler (kvPut, kvGet, d1) block the event
 * loop for seconds on a busy machine, so the timer that drops an idle keep-alive socket
 * runs late and the next request can be written to a socket the server already closed:
 * that request never reached the Worker.
 */
async function fetchOnce(url, init) {
  try {
    return await fetch(url, init);
  } catch (e) {
    if (!['UND_ERR_SOCKET', 'ECONNRESET'].includes(e?.cause?.code)) throw e;
    return fetch(url, init);
  }
}

/** A Node `http` response read whole: `{status, body, text}` (`body` its JSON, if it is JSON). */
export function readAnswer(res) {
  return new Promise((resolve, reject) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (d) => { text += d; });
    res.on('end', () => {
      let json;
      try { json = JSON.parse(text); } catch { json = undefined; }
      resolve({ status: res.statusCode, body: json, text });
    });
    res.on('error', reject);
  });
}

/**
 * JSON request helper: returns {status, headers, body}.
 * @param {string} url
 * @param {string} path
 * @param {{method?: string, key?: string, body?: any, headers?: Record<string, string> | Headers}} [options]
 */
export async function call(url, path, { method = 'GET', key, body, headers = {} } = {}) {
  // A Headers object keeps repeated lines; a plain object is copied.
  const h = new Headers(headers);
  if (key !== undefined) h.set('authorization', `Bearer ${key}`);
  let payload;
  if (body !== undefined) {
    payload = typeof body === 'string' ? body : JSON.stringify(body);
    if (!h.has('content-type')) h.set('content-type', 'application/json');
  }
  const r = await fetchOnce(url + path, { method, headers: h, body: payload });
  const text = await r.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: r.status, headers: r.headers, body: json, text };
}

/**
 * Waits until at least `seconds` are left in the current UTC minute. The local failed-attempt
 * limiter (Miniflare's) counts in fixed minutes of the wall clock: a flood that straddles
 * two of them is counted twice over, up to twice the limit; a test that counts what the
 * limit let through starts its flood inside one.
 */
export async function inOneMinute(seconds = 20) {
  while (60 - new Date().getUTCSeconds() < seconds) await new Promise((r) => setTimeout(r, 250));
}

/** Polls `fn` until it returns a truthy value or `ms` pass. */
export async function eventually(fn, { ms = 20_000, every = 250, what = 'condition' } = {}) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last: ${last instanceof Error ? last.stack : JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, every));
  }
}
