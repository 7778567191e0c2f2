'use strict';
// keyward/hono: apiKey() and requireScope() middleware for Hono, on keyward/fetch's
// rules, so that a Hono app answers as the Worker and keyward/express do. Needs nothing
// from hono at run time (middleware is a function of (c, next)).
const { ApiKeyError, KeywardOptionError } = require('./errors.cjs');
const { memoryStore, remoteStore } = require('./stores.cjs');
const { configure, decide, emit, refused, requiredOf, withScopes } = require('./web.cjs');

/** Per-request state, for requireScope and the usage event. */
const states = new WeakMap();

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
 * Options as checkRequest's; `scopes` here guards every route behind it. onUse gets the
 * event with the response's status, through the Worker's waitUntil where there is one.
 *
 * @example
 * app.use('/api/*', apiKey({ store, env: 'live' }));
 * app.get('/api/scans', requireScope('scans:read'), (c) => c.json(c.get('apiKey')));
 */
function apiKey(options) {
  const cfg = configure(options);
  /** After the verdict: refuse, or run the route and report. */
  function then(c, next, request, state, result) {
    const waitUntil = cfg.onUse ? cfg.waitUntil ?? waitUntilOf(c) : undefined;
    if (!result.valid) {
      emit(cfg, request, state, result.status, waitUntil);
      return result.response;
    }
    c.set('apiKey', result.key);
    states.set(c, { cfg, state });
    const { headers } = result;
    const names = Object.keys(headers);
    if (names.length === 0 && !cfg.onUse) return next();
    return next().then(() => {
      // RateLimit headers on whatever answered, requireScope's refusal included.
      for (const name of names) c.header(name, headers[name]);
      emit(cfg, request, state, c.res.status, waitUntil);
    });
  }
  return function keywardApiKey(c, next) {
    const state = { code: 'missing_key', time: Date.now(), hint: undefined, keyId: undefined, key: undefined };
    const request = c.req.raw;
    let result;
    try {
      result = decide(cfg, request, state);
    } catch (e) {
      return Promise.reject(e);
    }
    // memoryStore and synchronous stores answer without a turn of the event loop.
    if (typeof result.then === 'function') return result.then((r) => then(c, next, request, state, r));
    return then(c, next, request, state, result);
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
  const list = scopes.flat();
  if (list.length === 0) throw new KeywardOptionError('scopes', 'requireScope needs at least one scope');
  const required = requiredOf(list);
  const byRealm = new Map();
  // Keys from memoryStore and remoteStore's cache are the same frozen objects each time:
  // each is checked against this list once.
  const granted = new WeakMap();
  return function keywardRequireScope(c, next) {
    const s = states.get(c);
    if (s === undefined) {
      const fault = new ApiKeyError('internal', 'requireScope() must come after apiKey()');
      return refused({ realm: 'keyward' }, { code: 'internal' }, fault).response;
    }
    const key = s.state.key;
    if (granted.has(key)) return next();
    let cfg = byRealm.get(s.cfg.realm);
    if (cfg === undefined) {
      cfg = { realm: s.cfg.realm, scopes: required };
      byRealm.set(s.cfg.realm, cfg);
    }
    const result = withScopes(cfg, s.state, key, undefined);
    if (!result.valid) return result.response;
    if (Object.isFrozen(key)) granted.set(key, true);
    return next();
  };
}

module.exports = { apiKey, requireScope, memoryStore, remoteStore, ApiKeyError, KeywardOptionError };
