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
  return async function keywardApiKey(c, next) {
    const state = { code: 'missing_key', time: Date.now(), hint: undefined, keyId: undefined, key: undefined };
    const request = c.req.raw;
    const result = await decide(cfg, request, state);
    const waitUntil = cfg.waitUntil ?? waitUntilOf(c);
    if (!result.valid) {
      emit(cfg, request, state, result.status, waitUntil);
      return result.response;
    }
    c.set('apiKey', result.key);
    states.set(c, { cfg, state });
    await next();
    // RateLimit headers on whatever answered, requireScope's refusal included.
    for (const name of Object.keys(result.headers)) c.header(name, result.headers[name]);
    emit(cfg, request, state, c.res.status, waitUntil);
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
  return async function keywardRequireScope(c, next) {
    const s = states.get(c);
    if (s === undefined) {
      const fault = new ApiKeyError('internal', 'requireScope() must come after apiKey()');
      return refused({ realm: 'keyward' }, { code: 'internal' }, fault).response;
    }
    const result = withScopes({ realm: s.cfg.realm, scopes: required }, s.state, s.state.key, undefined);
    if (!result.valid) return result.response;
    await next();
  };
}

module.exports = { apiKey, requireScope, memoryStore, remoteStore, ApiKeyError, KeywardOptionError };
