'use strict';
// keyward/hono: apiKey() and requireScope() middleware for Hono, and guard() around a
// route's one handler, on keyward/fetch's framework-neutral check, so that a Hono app
// answers as the Worker and keyward/express do. Needs nothing from hono at run time
// (middleware and handlers are functions of (c, next)).
const { ApiKeyError, KeywardOptionError } = require('./errors.cjs');
const { memoryStore, remoteStore } = require('./stores.cjs');
const { scopeRequirement } = require('./core.cjs');
const {
  configure, decide, finish, refused, NO_HEADERS,
} = require('./web.cjs');

/** Each request's exchange, on its context: for requireScope and onUse. */
const kExchange = Symbol('keyward.exchange');

/** The runtime's waitUntil (Workers), or undefined (Node, Bun, Deno). */
function waitUntilOf(c) {
  try {
    const ctx = c.executionCtx;
    return typeof ctx?.waitUntil === 'function' ? ctx.waitUntil.bind(ctx) : undefined;
  } catch {
    // Hono throws when the runtime gave no execution context.
    return undefined;
  }
}

/**
 * The (c, next) function that checks the request's key under `cfg`: answers keyward's
 * refusal (and hands out its usage event), or sets `c.get('apiKey')` and returns
 * `valid(c, next, exchange, waitUntil)`. Synchronous when the store is (memoryStore).
 */
function checking(cfg, valid) {
  function then(c, next, exchange) {
    const { result } = exchange;
    const waitUntil = cfg.onUse ? waitUntilOf(c) : undefined;
    if (!result.valid) {
      finish(exchange, result.status, waitUntil);
      return result.response;
    }
    c.set('apiKey', result.key);
    return valid(c, next, exchange, waitUntil);
  }
  return function keywardCheck(c, next) {
    let exchange;
    try {
      exchange = decide(cfg, c.req.raw, c);
    } catch (e) {
      return Promise.reject(e);
    }
    // memoryStore and synchronous stores answer without a turn of the event loop.
    if (typeof exchange.then === 'function') return exchange.then((x) => then(c, next, x));
    return then(c, next, exchange);
  };
}

/** Whether a valid key's use needs a step after the route: RateLimit headers, or onUse. */
const needsAfter = (cfg, exchange) => exchange.result.headers !== NO_HEADERS || cfg.onUse !== undefined;

/** The RateLimit headers of a counted use, on whatever answers (Hono keeps them for c.res). */
function addHeaders(c, headers) {
  for (const name of Object.keys(headers)) c.header(name, headers[name]);
}

/**
 * Checks the request's API key against `store` and sets `c.get('apiKey')` (never the
 * raw key), or answers keyward's refusal (JSON error body, WWW-Authenticate, RateLimit).
 * Options as checkRequest's; `scopes` here guards every route behind it; `clientIp` is
 * called as `clientIp(c.req.raw, c)` (on Node: `(req, c) => getConnInfo(c).remote.address`
 * from `@hono/node-server/conninfo`). onUse gets the event with the response's status,
 * through the Worker's waitUntil where there is one. For a route's own check,
 * `guard(options, handler)` answers the same and costs Hono less.
 *
 * @example
 * app.use('/api/*', apiKey({ store, env: 'live' }));
 * app.get('/api/scans', requireScope('scans:read'), (c) => c.json(c.get('apiKey')));
 */
function apiKey(options) {
  const cfg = configure(options, { perRequest: false });
  return checking(cfg, (c, next, exchange, waitUntil) => {
    c[kExchange] = exchange;
    // A key without limits, and no onUse: nothing to add after the route.
    if (!needsAfter(cfg, exchange)) return next();
    return next().then(() => {
      // RateLimit headers on whatever answered, requireScope's refusal included.
      addHeaders(c, exchange.result.headers);
      finish(exchange, c.res.status, waitUntil);
    });
  });
}

/** The status Hono's default error handler answers `e` with: an HTTPException's, else 500. */
function errorStatusOf(e) {
  return e !== null && typeof e === 'object' && typeof e.getResponse === 'function' && Number.isInteger(e.status) ? e.status : 500;
}

/**
 * apiKey() around a route's one handler: `app.get(path, guard(options, handler))` checks
 * and answers exactly as `app.get(path, apiKey(options), handler)` (give the route's
 * `scopes` in the options; requireScope's refusal is the same 403), but as the route's
 * only handler Hono calls it directly instead of composing a chain, and with a
 * synchronous store (memoryStore) a synchronous handler's answer stays synchronous,
 * which `@hono/node-server` writes on its fast path. A handler that throws is answered
 * by the app's onError; onUse then reports the status Hono's default handler gives (an
 * HTTPException's, else 500).
 *
 * @example
 * app.get('/api/scans', guard({ store, env: 'live', scopes: ['scans:read'] }, (c) => c.json(c.get('apiKey'))));
 */
function guard(options, handler) {
  if (typeof handler !== 'function') throw new KeywardOptionError('handler', 'must be the route\'s handler, (c) => Response');
  const cfg = configure(options, { perRequest: false });
  // As compose does with a route's answer, then apiKey's step after the route.
  function respond(c, exchange, waitUntil, res) {
    if (res && c.finalized === false) c.res = res;
    addHeaders(c, exchange.result.headers);
    finish(exchange, c.res.status, waitUntil);
    return c.res;
  }
  function answered(c, exchange, waitUntil, res) {
    // No answer from the handler: the app's not-found answer, as Hono gives a route of one handler.
    const answer = !res && c.finalized === false ? c.notFound() : res;
    if (answer !== null && typeof answer === 'object' && typeof answer.then === 'function') {
      return answer.then((r) => respond(c, exchange, waitUntil, r));
    }
    return respond(c, exchange, waitUntil, answer);
  }
  function failed(c, exchange, waitUntil, e) {
    // Into the context's headers, which the error answer Hono builds on it carries.
    if (c.finalized === false) addHeaders(c, exchange.result.headers);
    finish(exchange, errorStatusOf(e), waitUntil);
    throw e;
  }
  return checking(cfg, (c, next, exchange, waitUntil) => {
    if (!needsAfter(cfg, exchange)) return handler(c, next);
    let res;
    try {
      res = handler(c, next);
    } catch (e) {
      return failed(c, exchange, waitUntil, e);
    }
    if (res !== null && typeof res === 'object' && typeof res.then === 'function') {
      return res.then((r) => answered(c, exchange, waitUntil, r), (e) => failed(c, exchange, waitUntil, e));
    }
    return answered(c, exchange, waitUntil, res);
  });
}

/**
 * Requires every scope given, after apiKey(): otherwise 403 `insufficient_scope` with
 * `WWW-Authenticate: Bearer … error="insufficient_scope", scope="…"`.
 *
 * @example
 * app.post('/api/scans', requireScope('scans:trigger'), handler);
 */
function requireScope(...scopes) {
  const missingIn = scopeRequirement(scopes);
  return function keywardRequireScope(c, next) {
    const s = c[kExchange];
    if (s === undefined) return refused(new ApiKeyError('internal', 'requireScope() must come after apiKey()')).response;
    const { state } = s;
    let refusal;
    try {
      refusal = missingIn(state.info);
    } catch (e) {
      state.code = 'internal';
      return refused(e, s.cfg.realm).response;
    }
    if (refusal === undefined) return next();
    state.code = refusal.code;
    return refused(refusal, s.cfg.realm).response;
  };
}

module.exports = {
  apiKey, guard, requireScope, memoryStore, remoteStore, ApiKeyError, KeywardOptionError,
};
