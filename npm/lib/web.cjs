'use strict';
// The framework-neutral check behind keyward/fetch and keyward/hono: a Request's
// credential headers in; the store's verdict, and the answer to send when refused
// (status, headers, body), out. It asks the store as keyward/express does (the one store
// interface, verifyHeaders), so the rules, the counting and the answers are the same
// code, not a copy. Reads no `process`, so it runs on Workers, Deno, Bun and in browsers.
const { CODE_INFO, wasm } = require('./wasm.cjs');
const { ApiKeyError, KeywardOptionError } = require('./errors.cjs');
const { findByHashStore } = require('./stores.cjs');
const { noteVerdict, noteFault, usageEvent } = require('./verdict.cjs');
const { envArgument, checkCost } = require('./core.cjs');

const NO_HEADERS = Object.freeze({});

/** The waitUntil of the request whose usage event is being handed out (synchronously). */
let currentWaitUntil;

/** The user's onUse, its promise handed to the request's waitUntil; never throws. */
function withWaitUntil(onUse) {
  return (event) => {
    let pending;
    try {
      pending = Promise.resolve(onUse(event)).catch(() => {});
    } catch {
      return;
    }
    if (currentWaitUntil) {
      try {
        currentWaitUntil(pending);
      } catch {
        // No execution context to extend: the promise still runs.
      }
    }
  };
}

/**
 * The client's address: the app's clientIp(request, context) when given; else on Workers
 * CF-Connecting-IP (Cloudflare sets it and strips a client's own); elsewhere unknown.
 */
function addressOf(cfg, request, context) {
  if (cfg.clientIp !== undefined) return cfg.clientIp(request, context);
  return request.cf ? request.headers.get('cf-connecting-ip') ?? undefined : undefined;
}

/** `METHOD /path` of a Request, without the query string (which may hold secrets). */
function actionOf(request) {
  const u = String(request.url);
  const at = u.indexOf('/', u.indexOf('//') + 2);
  const path = at < 0 ? '/' : u.slice(at);
  const q = path.indexOf('?');
  return `${request.method} ${q < 0 ? path : path.slice(0, q)}`;
}

/** Hands the usage event of `exchange` (answered with `status`) to onUse, through waitUntil. */
function finish(exchange, status, waitUntil) {
  const { cfg, state, request, context } = exchange;
  if (cfg.onUse === undefined) return;
  let ip = null;
  try {
    ip = addressOf(cfg, request, context) ?? null;
  } catch {
    // An address the app cannot tell is unknown.
  }
  const event = usageEvent(state, actionOf(request), ip, request.headers.get('user-agent'), status);
  currentWaitUntil = waitUntil;
  try {
    cfg.onUse(event);
  } finally {
    currentWaitUntil = undefined;
  }
}

/**
 * keyward's answer to a refusal: status, headers (JSON body type, no-store, the RFC 6750
 * challenge where the code table says so, RateLimit and Retry-After) and the JSON body.
 */
function refusalAnswer(err, realm = 'keyward', extra = NO_HEADERS) {
  const row = CODE_INFO.get(err.code);
  const headers = { ...extra };
  if (row.challenge) headers['WWW-Authenticate'] = wasm.wwwAuthenticate(realm, err.code, err.scope);
  headers['Content-Type'] = 'application/json; charset=utf-8';
  headers['Cache-Control'] = 'no-store';
  const message = err.expose ? err.message : row.message;
  return { status: err.status, headers, message, body: JSON.stringify({ error: { code: err.code, message } }) };
}

/** A refusal as checkRequest returns it; `response` is built when first read. */
function refused(err, realm, headers) {
  const fault = err instanceof ApiKeyError ? err : new ApiKeyError('internal', undefined, { cause: err });
  const answer = refusalAnswer(fault, realm, headers);
  const result = {
    valid: false, code: fault.code, status: answer.status, message: answer.message, headers: answer.headers, error: fault,
  };
  if (fault.scope !== undefined) result.scope = fault.scope;
  let response;
  Object.defineProperty(result, 'response', {
    enumerable: true,
    get() {
      response ??= new Response(answer.body, { status: answer.status, headers: answer.headers });
      return response;
    },
  });
  return result;
}

/** The exchange after the store's verdict `v`: the result, and the state for the usage event. */
function settle(exchange, v) {
  const err = noteVerdict(exchange.state, v);
  exchange.result = err === undefined
    ? { valid: true, code: 'valid', key: v.key, headers: v.headers ?? NO_HEADERS }
    : refused(err, exchange.cfg.realm, v.headers);
  return exchange;
}

function fault(exchange, e) {
  exchange.result = refused(noteFault(exchange.state, e), exchange.cfg.realm);
  return exchange;
}

/**
 * The verdict for `request` under `cfg` (`context`: the framework's, for clientIp):
 * `{result, state, ...}`, or a promise of it when the store answers later.
 * `finish(exchange, status)` then hands out the usage event.
 */
function decide(cfg, request, context) {
  if (request === null || typeof request !== 'object' || typeof request.headers?.get !== 'function') {
    throw new KeywardOptionError('request', 'must be a Request (with headers.get)');
  }
  const state = { code: 'missing_key', time: Date.now(), hint: undefined, keyId: undefined, info: undefined };
  const exchange = { cfg, state, request, context, result: undefined };
  let units = cfg.cost;
  if (typeof units === 'function') {
    try {
      units = checkCost(cfg.cost(request), 'cost(req)');
    } catch (e) {
      return fault(exchange, new ApiKeyError('internal', e.message));
    }
  }
  const h = request.headers;
  let v;
  try {
    // The client's address is read only for a key with allowed networks.
    v = cfg.keys.verifyHeaders(h.get('authorization') ?? undefined, h.get('x-api-key') ?? undefined, {
      env: cfg.env, scopes: cfg.scopes, cost: units, now: state.time, ip: () => addressOf(cfg, request, context),
    });
  } catch (e) {
    return fault(exchange, e);
  }
  if (v !== null && typeof v.then === 'function') return v.then((x) => settle(exchange, x), (e) => fault(exchange, e));
  return settle(exchange, v);
}

const OPTIONS = ['store', 'env', 'scopes', 'cost', 'onUse', 'waitUntil', 'realm', 'clientIp'];

/** Checks the options once per configuration: the store (as the one interface), env, scopes. */
function configure(options, { perRequest = true } = {}) {
  if (options === null || typeof options !== 'object') throw new KeywardOptionError('options', 'must be an object with a store and an env');
  for (const name of Object.keys(options)) {
    if (!OPTIONS.includes(name) || (!perRequest && name === 'waitUntil')) throw new KeywardOptionError(name, 'is not an option here');
  }
  const {
    store, env, scopes, cost = 1, onUse, waitUntil, realm = 'keyward', clientIp,
  } = options;
  if (clientIp !== undefined && typeof clientIp !== 'function') throw new KeywardOptionError('clientIp', 'must be a function (request) => string | undefined');
  if (waitUntil !== undefined && typeof waitUntil !== 'function') throw new KeywardOptionError('waitUntil', 'must be a function (promise) => void, e.g. ctx.waitUntil.bind(ctx)');
  if (typeof realm !== 'string' || realm === '') throw new KeywardOptionError('realm', 'must be a non-empty string');
  if (onUse !== undefined && typeof onUse !== 'function') throw new KeywardOptionError('onUse', 'must be a function (event) => void');
  if (scopes !== undefined && (!Array.isArray(scopes) || !scopes.every((s) => typeof s === 'string'))) {
    throw new KeywardOptionError('scopes', 'must be an array of strings');
  }
  for (const s of scopes ?? []) {
    try {
      wasm.parseScope(s);
    } catch {
      throw new KeywardOptionError('scopes', `'${s}' is not a scope ('resource:action', 'resource:*' or 'admin')`);
    }
  }
  if (store === null || typeof store !== 'object') throw new KeywardOptionError('store', 'is required: memoryStore(), remoteStore() or an object with findByHash(hash)');
  const keys = typeof store.verifyHeaders === 'function' ? store : findByHashStore(store);
  // The same rule as everywhere: '' and undefined throw; { any: true } is ''.
  envArgument(env);
  if (typeof cost !== 'function') checkCost(cost);
  return {
    keys, env, scopes: scopes === undefined || scopes.length === 0 ? undefined : [...scopes], cost, realm,
    onUse: onUse === undefined ? undefined : withWaitUntil(onUse), clientIp,
  };
}

/**
 * Configurations by store and by what they ask (env, scopes, cost, onUse, realm), so that
 * options written as a literal on every request (with that request's waitUntil) reuse one.
 */
const CONFIGS_MAX = 100;
const byStore = new WeakMap();
const functionIds = new WeakMap();
let nextFunctionId = 0;
function idOf(f) {
  if (typeof f !== 'function') return f;
  let id = functionIds.get(f);
  if (id === undefined) {
    id = `function ${nextFunctionId += 1}`;
    functionIds.set(f, id);
  }
  return id;
}
const byOptions = new WeakMap();
function configOf(options) {
  const known = options !== null && typeof options === 'object' ? byOptions.get(options) : undefined;
  if (known !== undefined) return known;
  const store = options?.store;
  if (store === null || typeof store !== 'object' || Object.keys(options).some((k) => !OPTIONS.includes(k))) return configure(options);
  const {
    env, scopes, cost, onUse, realm, clientIp,
  } = options;
  const signature = JSON.stringify([
    env ?? null, scopes ?? null, idOf(cost) ?? null, idOf(onUse) ?? null, realm ?? null, idOf(clientIp) ?? null,
  ]);
  let configs = byStore.get(store);
  if (configs === undefined) {
    configs = new Map();
    byStore.set(store, configs);
  }
  let cfg = configs.get(signature);
  if (cfg === undefined) {
    cfg = configure(options);
    if (configs.size >= CONFIGS_MAX) configs.clear();
    configs.set(signature, cfg);
  }
  byOptions.set(options, cfg);
  return cfg;
}

/**
 * Checks the request's API key (`Authorization: Bearer` or `X-API-Key`, exactly one)
 * against `store`: `{valid: true, key, headers}` (send `headers`: RateLimit for keys with
 * limits) or `{valid: false, code, status, message, headers, response}` where `response`
 * is keyward's answer to send. Fails closed: a store that throws is a 503 `unavailable`.
 * `onUse` receives the usage event (status 200 for a valid key: checkRequest does not
 * see your response), through `waitUntil` when given. A key's `allowed_ips` are checked
 * against `clientIp(request)` (default: `CF-Connecting-IP` on Cloudflare Workers, else
 * unknown, which such a key is refused for with `ip_not_allowed`).
 *
 * @example
 * export default {
 *   async fetch(request, env, ctx) {
 *     const auth = await checkRequest(request, { store, env: 'live', scopes: ['scans:read'] });
 *     if (!auth.valid) return auth.response;
 *     return Response.json({ owner: auth.key.owner }, { headers: auth.headers });
 *   },
 * };
 */
async function checkRequest(request, options) {
  const cfg = configOf(options);
  const { waitUntil } = options;
  if (waitUntil !== undefined && typeof waitUntil !== 'function') throw new KeywardOptionError('waitUntil', 'must be a function (promise) => void, e.g. ctx.waitUntil.bind(ctx)');
  const exchange = await decide(cfg, request);
  finish(exchange, exchange.result.valid ? 200 : exchange.result.status, waitUntil);
  return exchange.result;
}

module.exports = {
  checkRequest, configure, decide, finish, refusalAnswer, refused, NO_HEADERS,
};
