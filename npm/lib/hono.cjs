'use strict';
// keyward/hono: apiKey() and requireScope() middleware for Hono, on keyward/fetch's
// framework-neutral check, so that a Hono app answers as the Worker and keyward/express
// do. Needs nothing from hono at run time (middleware is a function of (c, next)).
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
 * Checks the request's API key against `store` and sets `c.get('apiKey')` (never the
 * raw key), or answers keyward's refusal (JSON error body, WWW-Authenticate, RateLimit).
 * Options as checkRequest's; `scopes` here guards every route behind it; `clientIp` is
 * called as `clientIp(c.req.raw, c)` (on Node: `(req, c) => getConnInfo(c).remote.address`
 * from `@hono/node-server/conninfo`). onUse gets the event with the response's status,
 * through the Worker's waitUntil where there is one.
 *
 * @example
 * app.use('/api/*', apiKey({ store, env: 'live' }));
 * app.get('/api/scans', requireScope('scans:read'), (c) => c.json(c.get('apiKey')));
 */
function apiKey(options) {
  const cfg = configure(options, { perRequest: false });
  /** After the verdict: refuse, or run the route and report. */
  function then(c, next, exchange) {
    const { result } = exchange;
    const waitUntil = cfg.onUse ? waitUntilOf(c) : undefined;
    if (!result.valid) {
      finish(exchange, result.status, waitUntil);
      return result.response;
    }
    c.set('apiKey', result.key);
    c[kExchange] = exchange;
    const { headers } = result;
    // A key without limits, and no onUse: nothing to add after the route.
    if (headers === NO_HEADERS && !cfg.onUse) return next();
    return next().then(() => {
      // RateLimit headers on whatever answered, requireScope's refusal included.
      for (const name of Object.keys(headers)) c.header(name, headers[name]);
      finish(exchange, c.res.status, waitUntil);
    });
  }
  return function keywardApiKey(c, next) {
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

module.exports = { apiKey, requireScope, memoryStore, remoteStore, ApiKeyError, KeywardOptionError };
