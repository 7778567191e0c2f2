'use strict';
// Express (and plain node:http) middleware: apiKeyAuth, requireScope, apiKeyErrorHandler.
// Only Node's own req/res are used, so it works under Express 4 and 5, Connect and
// node:http alike.
const { wasm, CODE_INFO } = require('./wasm.cjs');
const { ApiKeyError, KeywardOptionError } = require('./errors.cjs');
const { memoryStore, remoteStore, findByHashStore } = require('./stores.cjs');
const { noteVerdict, noteFault, usageEvent } = require('./verdict.cjs');
const { headerValues } = require('./node-headers.cjs');
const { envArgument, checkCost, scopeRequirement } = require('./core.cjs');

/** Sets a counted use's RateLimit headers on the response. */
function setHeaders(res, headers) {
  if (headers === undefined || res.headersSent) return;
  for (const name of Object.keys(headers)) res.setHeader(name, headers[name]);
}

/** Per-request state shared by apiKeyAuth, requireScope and the usage hook. */
const kState = Symbol('keyward.state');

function refusal(code, message, options, headers) {
  const e = new ApiKeyError(code, message ?? CODE_INFO.get(code).message, options);
  // 429s carry RateLimit and Retry-After; apiKeyErrorHandler writes them.
  if (headers !== undefined) e.headers = headers;
  return e;
}

/**
 * The client's address by default: Express's `req.ip` (which honours the app's `trust
 * proxy` setting: X-Forwarded-For is believed only from proxies it trusts), or on plain
 * node:http the socket's peer. Undefined when unknown.
 */
function defaultClientIp(req) {
  return 'ip' in req ? req.ip : req.socket?.remoteAddress;
}

/** `METHOD /path`, without the query string (which may hold secrets). */
function action(req) {
  const url = req.originalUrl ?? req.url ?? '';
  const q = url.indexOf('?');
  return `${req.method} ${q < 0 ? url : url.slice(0, q)}`;
}

function usageEventOf(req, res, state, clientIp) {
  let ip = null;
  try {
    ip = clientIp(req) ?? null;
  } catch {
    // An address the app cannot tell is unknown.
  }
  return usageEvent(state, action(req), ip, req.headers?.['user-agent'], res.statusCode);
}

/**
 * Checks the request's API key against `store`; puts `{id, owner, scopes, env, hint}` on
 * `req.apiKey` (never the raw key) or calls `next(err)` with an ApiKeyError. Fails
 * closed: a store that throws is a 503 `unavailable`, never a pass. `env` is required:
 * the environment keys must belong to (`'live'`), or `{ any: true }` to accept each key
 * in the environment its prefix names. A key's `allowed_ips` are checked against
 * `clientIp(req)` (default: Express's `req.ip`, under the app's `trust proxy` setting);
 * an unknown address is refused `ip_not_allowed`.
 *
 * @example
 * app.use(apiKeyAuth({ store: memoryStore(), env: 'live' }));
 */
function apiKeyAuth(options) {
  if (options === null || typeof options !== 'object') throw new KeywardOptionError('options', 'must be an object with a store and an env');
  const {
    store, env, getKey, requestProperty = 'apiKey', onUse, cost = 1, clientIp = defaultClientIp,
  } = options;
  for (const name of Object.keys(options)) {
    if (!['store', 'env', 'getKey', 'requestProperty', 'onUse', 'cost', 'clientIp'].includes(name)) throw new KeywardOptionError(name, 'is not an option of apiKeyAuth');
  }
  if (typeof clientIp !== 'function') throw new KeywardOptionError('clientIp', 'must be a function (req) => string | undefined');
  if (typeof cost !== 'function') checkCost(cost);
  const costOf = typeof cost === 'function' ? cost : () => cost;
  if (store === null || typeof store !== 'object') throw new KeywardOptionError('store', 'is required: memoryStore(), remoteStore() or an object with findByHash(hash)');
  // One store interface: memoryStore, remoteStore and any store answering verifyKey
  // are asked as they are; a {findByHash} store of the app's own is made one.
  const keys = typeof store.verifyHeaders === 'function' ? store : findByHashStore(store);
  // The same rule as everywhere: '' and undefined throw; { any: true } is ''.
  envArgument(env);
  if (getKey !== undefined && typeof getKey !== 'function') throw new KeywardOptionError('getKey', 'must be a function (req) => string | undefined');
  if (typeof requestProperty !== 'string' || requestProperty === '') throw new KeywardOptionError('requestProperty', 'must be a non-empty string');
  if (onUse !== undefined && typeof onUse !== 'function') throw new KeywardOptionError('onUse', 'must be a function (event) => void');

  function track(req, res, state) {
    req[kState] = state;
    if (onUse) {
      res.once('finish', () => {
        try {
          const r = onUse(usageEventOf(req, res, state, clientIp));
          if (r && typeof r.catch === 'function') r.catch(() => {});
        } catch {
          // A failing usage hook must not break the response that already went out.
        }
      });
    }
  }

  function refuse(state, code, next, message, options, headers) {
    state.code = code;
    next(refusal(code, message, options, headers));
  }

  /** After the store's verdict `v` (the same shape from every store). */
  function settle(req, res, state, v, next) {
    const refused = noteVerdict(state, v);
    if (refused !== undefined) return next(refused);
    req[requestProperty] = v.key;
    setHeaders(res, v.headers);
    return next();
  }

  function fault(state, next, e) {
    next(noteFault(state, e));
  }

  return function keywardApiKeyAuth(req, res, next) {
    const state = { code: 'missing_key', time: Date.now(), hint: undefined, keyId: undefined, info: undefined };
    track(req, res, state);
    let key;
    if (getKey) {
      try {
        key = getKey(req);
      } catch (e) {
        state.code = 'internal';
        return next(e);
      }
      if (typeof key !== 'string' || key === '') return refuse(state, 'missing_key', next);
    }
    let units = cost;
    if (typeof cost === 'function') {
      try {
        units = checkCost(costOf(req), 'cost(req)');
      } catch (e) {
        state.code = 'internal';
        return next(new ApiKeyError('internal', e.message));
      }
    }
    let v;
    try {
      // The client's address is read only for a key with allowed networks.
      const asked = { env, cost: units, now: state.time, ip: () => clientIp(req) };
      if (key !== undefined) {
        v = keys.verifyKey(key, asked);
      } else {
        const [auth, apiKey] = headerValues(req);
        v = keys.verifyHeaders(auth, apiKey, asked);
      }
    } catch (e) {
      return fault(state, next, e);
    }
    if (v !== null && typeof v.then === 'function') {
      return v.then((verdict) => settle(req, res, state, verdict, next), (e) => fault(state, next, e));
    }
    return settle(req, res, state, v, next);
  };
}

/**
 * Requires every scope given (after apiKeyAuth): otherwise 403 `insufficient_scope`,
 * `This API key does not have the 'scans:read' scope`.
 *
 * @example
 * app.get('/scans', requireScope('scans:read'), handler);
 */
function requireScope(...scopes) {
  const missingIn = scopeRequirement(scopes);
  return function keywardRequireScope(req, res, next) {
    const state = req[kState];
    if (!state || !state.info) {
      return next(new ApiKeyError('internal', 'requireScope() must come after apiKeyAuth()'));
    }
    let refused;
    try {
      refused = missingIn(state.info);
    } catch (e) {
      state.code = 'internal';
      return next(e);
    }
    if (refused === undefined) return next();
    state.code = refused.code;
    next(refused);
  };
}

/**
 * Writes ApiKeyErrors as `{"error": {"code", "message"}}` with their status and, where
 * the code table says so, the RFC 6750 `WWW-Authenticate: Bearer` challenge. Other errors go on to
 * `next(err)`.
 *
 * @example
 * app.use(apiKeyErrorHandler());
 */
function apiKeyErrorHandler({ realm = 'keyward' } = {}) {
  if (typeof realm !== 'string' || realm === '') throw new KeywardOptionError('realm', 'must be a non-empty string');
  // eslint-disable-next-line no-unused-vars
  return function keywardErrorHandler(err, req, res, next) {
    if (!(err instanceof ApiKeyError) || res.headersSent) return next(err);
    const info = CODE_INFO.get(err.code);
    const body = JSON.stringify({ error: { code: err.code, message: err.expose ? err.message : info.message } });
    res.statusCode = err.status;
    if (err.headers) for (const name of Object.keys(err.headers)) res.setHeader(name, err.headers[name]);
    if (info.challenge) res.setHeader('WWW-Authenticate', wasm.wwwAuthenticate(realm, err.code, err.scope));
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.end(body);
  };
}

module.exports = { apiKeyAuth, requireScope, apiKeyErrorHandler, ApiKeyError, KeywardOptionError, memoryStore, remoteStore };
