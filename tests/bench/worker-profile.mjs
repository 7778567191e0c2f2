// Where a verification's time goes in the Worker: V8's sampling CPU profile of workerd
// (through wrangler dev's inspector) while autocannon loads one case on the Worker's own
// socket, loopback only, for a fixed time. Prints the functions with the most self time
// and writes the whole profile to target/worker-<case>.cpuprofile (open it in Chrome's
// DevTools). JavaScript frames (the bindings, the platform's APIs, idle, GC) are named;
// the wasm's own frames appear as `wasm-function[N]`.
//   node tests/bench/worker-profile.mjs [healthz|verify|header|bound0|credits] [seconds]
// (`header`: POST /v1/verify/header, the key in a header and no body, default bound).
import autocannon from 'autocannon';
import { mkdirSync, writeFileSync } from 'node:fs';
import WebSocket from 'ws';
import { ROOT, call, startWorker } from '../e2e/harness.mjs';

const which = process.argv[2] ?? 'verify';
const seconds = Number(process.argv[3] ?? 10);
const cases = {
  healthz: { vars: {} },
  verify: { vars: {}, key: {} },
  header: { vars: {}, key: {}, header: true },
  bound0: { vars: { KEYWARD_REVOCATION_BOUND_MS: '0' }, key: {} },
  credits: { vars: {}, key: { credits: { remaining: 1000000 } } },
};
const chosen = cases[which];
if (!chosen) throw new Error(`no case ${which}: one of ${Object.keys(cases).join(', ')}`);

/** A Chrome DevTools protocol session on wrangler's inspector: `send(method, params)`. */
async function inspect(port) {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
  const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
  await new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); });
  let next = 0;
  const waiting = new Map();
  ws.on('message', (data) => {
    const msg = JSON.parse(data);
    const done = waiting.get(msg.id);
    if (!done) return;
    waiting.delete(msg.id);
    if (msg.error) done.rej(new Error(JSON.stringify(msg.error)));
    else done.res(msg.result);
  });
  return {
    send: (method, params = {}) => new Promise((res, rej) => {
      const id = ++next;
      waiting.set(id, { res, rej });
      ws.send(JSON.stringify({ id, method, params }));
    }),
    close: () => ws.close(),
  };
}

const w = await startWorker({ vars: chosen.vars });
try {
  if (!w.direct) throw new Error("the Worker's own socket was not found");
  let opts = { url: `${w.url}/healthz` };
  if (chosen.key) {
    const create = (body) => call(w.url, '/v1/keys', { method: 'POST', key: w.rootKey, body: { owner: 'bench', env: 'live', ...body } });
    const key = await create({ name: 'bench', scopes: ['scans:read'], ...chosen.key });
    const service = await create({ name: 'bench-svc', scopes: ['keys:verify'] });
    opts = chosen.header ? {
      url: `${w.url}/v1/verify/header?scopes=scans%3Aread`,
      method: 'POST',
      headers: { authorization: `Bearer ${service.body.key}`, 'keyward-key': key.body.key },
    } : {
      url: `${w.url}/v1/verify`,
      method: 'POST',
      headers: { authorization: `Bearer ${service.body.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ key: key.body.key, scopes: ['scans:read'] }),
    };
  }
  const load = (duration) => new Promise((res, rej) => {
    autocannon({ connections: 10, duration, ...opts }, (err, r) => (err ? rej(err) : res(r)));
  });
  await load(2); // warm
  const cdp = await inspect(w.inspectorPort);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  await cdp.send('Profiler.start');
  const r = await load(seconds);
  const { profile } = await cdp.send('Profiler.stop');
  cdp.close();
  mkdirSync(`${ROOT}/target`, { recursive: true });
  writeFileSync(`${ROOT}/target/worker-${which}.cpuprofile`, JSON.stringify(profile));
  // Self time per function (by name and line: the bundle's anonymous functions apart).
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  for (const id of profile.samples) {
    const { functionName, url, lineNumber } = byId.get(id).callFrame;
    const name = `${functionName || '(anonymous)'} ${url ? `${url.split('/').pop()}:${lineNumber + 1}` : ''}`.trim();
    self.set(name, (self.get(name) ?? 0) + 1);
  }
  const total = profile.samples.length;
  console.log(`${which}: ${r.requests.total} requests in ${seconds} s, ${total} samples`);
  for (const [name, n] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
    console.log(`${((100 * n) / total).toFixed(1).padStart(5)} %  ${name}`);
  }
} finally {
  await w.stop();
}
