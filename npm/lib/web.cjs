'use strict';
// The Web-standard check behind keyward/fetch and keyward/hono: a Request in; a verdict,
// and the Response to send when refused, out. It runs keyward/express's own middleware
// (apiKeyAuth, requireScope) on a Node-shaped view of the Request, so the rules, the
// counting and the answers are the same code, not a copy. Reads no `process`, so it runs
// on Workers, Deno, Bun and in browsers.
const { CODE_INFO, wasm } = require('./wasm.cjs');
const { ApiKeyError, KeywardOptionError } = require('./errors.cjs');
const { apiKeyAuth, requireScope } = require('./express.cjs');

const NO_HEADERS = Object.freeze({});
const kRequest = Symbol('keyward.request');
const kClientIp = Symbol('keyward.clientIp');
const kContext = Symbol('keyward.context');

/**
 * The request as keyward/express reads one: the credential headers as raw lines (each
 * the Fetch standard's ", "-joined value, as Node joins repeated lines), the path for
 * the usage event, and the client's address where the platform vouches for it.
 */
class NodeRequest {
  constructor(request, clientIp, context) {
    const h = request.headers;
    const rawHeaders = [];
    const auth = h.get('authorization');
    if (auth !== null) rawHeaders.push('authorization', auth);
    const key = h.get('x-api-key');
    if (key !== null) rawHeaders.push('x-api-key', key);
    this.method = request.method;
    this.rawHeaders = rawHeaders;
    this.apiKey = undefined;
    this[kRequest] = request;
    this[kClientIp] = clientIp;
    this[kContext] = context;
  }

  // Read only for the usage event.
  get url() {
    const u = String(this[kRequest].url);
    const at = u.indexOf('/', u.indexOf('//') + 2);
    return at < 0 ? '/' : u.slice(at);
  }

  get headers() {
    return { 'user-agent': this[kRequest].headers.get('user-agent') ?? undefined };
  }

  // The app's clientIp(request) when given. Else on Workers CF-Connecting-IP: Cloudflare
  // sets it and strips a client's own; elsewhere no header is trusted (unknown).
  get ip() {
    const request = this[kRequest];
    if (this[kClientIp] !== undefined) return this[kClientIp](request, this[kContext]);
    return request.cf ? request.headers.get('cf-connecting-ip') : undefined;
  }
}

/** The response side keyward/express writes to: headers kept, 'finish' run by us. */
class NodeResponse {
  constructor() {
    this.statusCode = 200;
    this.headersSent = false;
    this.headers = undefined;
    this.finished = undefined;
  }

  setHeader(name, value) {
    (this.headers ??= {})[name] = value;
  }

  once(event, listener) {
    if (event === 'finish') (this.finished ??= []).push(listener);
    return this;
  }
}

/** The waitUntil of the request whose usage event is being handed out (synchronously). */
let currentWaitUntil;

/** Runs the usage hook (express's 'finish' listener) with the status that was answered. */
function finish(exchange, status, waitUntil) {
  const { res } = exchange;
  if (res.finished === undefined) return;
  res.statusCode = status;
  currentWaitUntil = waitUntil;
  try {
    for (const listener of res.finished) listener();
  } finally {
    currentWaitUntil = undefined;
  }
}

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
 * Runs a Node-style middleware: `null` when it passed, the error it refused with, or a
 * promise of one of these when the store answers later.
 */
function run(middleware, req, res) {
  let settled = false;
  let outcome;
  let resolve;
  try {
    middleware(req, res, (err) => {
      outcome = err ?? null;
      settled = true;
      if (resolve) resolve(outcome);
    });
  } catch (e) {
    return e;
  }
  if (settled) return outcome;
  return new Promise((r) => { resolve = r; });
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

/** The verdict after the middleware ran: `{result, req, res}`. */
function verdict(cfg, exchange, err) {
  const { req, res } = exchange;
  if (err !== null) {
    // RateLimit headers of a counted use (then refused for a scope) stay on the refusal.
    exchange.result = refused(err, cfg.realm, err?.headers ? { ...res.headers, ...err.headers } : res.headers);
    return exchange;
  }
  exchange.result = { valid: true, code: 'valid', key: req.apiKey, headers: res.headers ?? NO_HEADERS };
  return exchange;
}

/** Runs the route's scope requirement after a pass, then decides. */
function afterAuth(cfg, exchange, err) {
  if (err === null && cfg.scope !== undefined) return verdict(cfg, exchange, run(cfg.scope, exchange.req, exchange.res));
  return verdict(cfg, exchange, err);
}

/**
 * The verdict for `request` under `cfg`: `{result, req, res}`, or a promise of it when
 * the store answers later. `finish(exchange, status)` then hands out the usage event.
 */
function decide(cfg, request, context) {
  if (request === null || typeof request !== 'object' || typeof request.headers?.get !== 'function') {
    throw new KeywardOptionError('request', 'must be a Request (with headers.get)');
  }
  const exchange = { req: new NodeRequest(request, cfg.clientIp, context), res: new NodeResponse(), result: undefined };
  const err = run(cfg.auth, exchange.req, exchange.res);
  if (err !== null && typeof err?.then === 'function') return err.then((e) => afterAuth(cfg, exchange, e));
  return afterAuth(cfg, exchange, err);
}

const OPTIONS = ['store', 'env', 'scopes', 'cost', 'onUse', 'waitUntil', 'realm', 'clientIp'];

/** Checks the options and makes the middleware they describe (once per configuration). */
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
  const auth = apiKeyAuth({
    store,
    env,
    cost: typeof cost === 'function' ? (req) => cost(req[kRequest]) : cost,
    onUse: onUse === undefined ? undefined : withWaitUntil(onUse),
  });
  const scope = scopes === undefined || scopes.length === 0 ? undefined : requireScope(scopes);
  return {
    auth, scope, realm, onUse, clientIp,
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

module.exports = { checkRequest, configure, decide, finish, refusalAnswer, refused, run };
