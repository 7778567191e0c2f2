'use strict';
// Express (and plain node:http) middleware: apiKeyAuth, requireScope, apiKeyErrorHandler.
// Only Node's own req/res are used, so it works under Express 4 and 5, Connect and
// node:http alike.
const { wasm, CODE_INFO } = require('./wasm.cjs');
const { ApiKeyError, KeywardOptionError, fromWasm } = require('./errors.cjs');
const { kTable, kRemote, info, memoryStore, remoteStore } = require('./stores.cjs');

/** Per-request state shared by apiKeyAuth, requireScope and the usage hook. */
const kState = Symbol('keyward.state');
const TWO = Symbol('two credentials');

/**
 * The one credential of a request: `Authorization: Bearer <key>` (scheme matched
 * case-insensitively) or `X-API-Key: <key>`; `undefined` for none, TWO for more than one.
 */
function credential(req) {
  const raw = req.rawHeaders;
  let auth;
  let auths = 0;
  let apiKey;
  let apiKeys = 0;
  if (Array.isArray(raw)) {
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i];
      if (name.length === 13 && name.toLowerCase() === 'authorization') {
        auth = raw[i + 1];
        auths++;
      } else if (name.length === 9 && name.toLowerCase() === 'x-api-key') {
        apiKey = raw[i + 1];
        apiKeys++;
      }
    }
  } else {
    auth = req.headers?.authorization;
    apiKey = req.headers?.['x-api-key'];
    auths = auth === undefined ? 0 : 1;
    apiKeys = apiKey === undefined ? 0 : 1;
  }
  let bearer;
  if (auths > 1) return TWO;
  if (auths === 1) {
    const value = String(auth).trim();
    const space = value.indexOf(' ');
    const scheme = space < 0 ? value : value.slice(0, space);
    // Another scheme (Basic, ...) is not an API key: it is not ours to refuse.
    if (scheme.length === 6 && scheme.toLowerCase() === 'bearer') bearer = space < 0 ? '' : value.slice(space + 1).trim();
  }
  // A comma cannot be in a key: it is several X-API-Key values joined by a proxy.
  if (apiKeys > 1 || (bearer !== undefined && apiKeys === 1) || (apiKeys === 1 && String(apiKey).includes(','))) return TWO;
  if (bearer !== undefined) return bearer;
  return apiKeys === 1 ? String(apiKey).trim() : undefined;
}

const hintEnv = (hint) => hint.slice(hint.indexOf('_') + 1, hint.lastIndexOf('_'));

function refusal(code, message, options) {
  return new ApiKeyError(code, message ?? CODE_INFO.get(code).message, options);
}

/** `METHOD /path`, without the query string (which may hold secrets). */
function action(req) {
  const url = req.originalUrl ?? req.url ?? '';
  const q = url.indexOf('?');
  return `${req.method} ${q < 0 ? url : url.slice(0, q)}`;
}

function usageEvent(req, res, state) {
  return {
    event_id: wasm.eventId(),
    key_id: state.keyId ?? null,
    hint: state.hint ?? null,
    owner: state.info?.owner ?? null,
    actor: null,
    action: action(req),
    ip: req.ip ?? req.socket?.remoteAddress ?? null,
    country: null,
    user_agent: req.headers?.['user-agent'] ?? null,
    time: new Date(state.time).toISOString(),
    outcome: state.code,
    status: res.statusCode,
  };
}

/**
 * Checks the request's API key against `store`; puts `{id, owner, scopes, env, hint}` on
 * `req.apiKey` (never the raw key) or calls `next(err)` with an ApiKeyError. Fails
 * closed: a store that throws is a 503 `unavailable`, never a pass.
 *
 * @example
 * app.use(apiKeyAuth({ store: memoryStore(), env: 'live' }));
 */
function apiKeyAuth(options) {
  if (options === null || typeof options !== 'object') throw new KeywardOptionError('options', 'must be an object with a store');
  const { store, env, getKey, requestProperty = 'apiKey', onUse } = options;
  for (const name of Object.keys(options)) {
    if (!['store', 'env', 'getKey', 'requestProperty', 'onUse'].includes(name)) throw new KeywardOptionError(name, 'is not an option of apiKeyAuth');
  }
  if (store === null || typeof store !== 'object') throw new KeywardOptionError('store', 'is required: memoryStore(), remoteStore() or an object with findByHash(hash)');
  const table = store[kTable];
  const remote = store[kRemote];
  if (!table && !remote && typeof store.findByHash !== 'function') throw new KeywardOptionError('store', 'must have a findByHash(hash) method');
  if (env !== undefined && (typeof env !== 'string' || !/^[a-z][a-z0-9]{0,15}$/.test(env))) throw new KeywardOptionError('env', 'must be an environment name like "live"');
  if (getKey !== undefined && typeof getKey !== 'function') throw new KeywardOptionError('getKey', 'must be a function (req) => string | undefined');
  if (typeof requestProperty !== 'string' || requestProperty === '') throw new KeywardOptionError('requestProperty', 'must be a non-empty string');
  if (onUse !== undefined && typeof onUse !== 'function') throw new KeywardOptionError('onUse', 'must be a function (event) => void');
  const wantEnv = env ?? '';

  function track(req, res, state) {
    req[kState] = state;
    if (onUse) {
      res.once('finish', () => {
        try {
          const r = onUse(usageEvent(req, res, state));
          if (r && typeof r.catch === 'function') r.catch(() => {});
        } catch {
          // A failing usage hook must not break the response that already went out.
        }
      });
    }
  }

  function accept(req, state, keyInfo, next) {
    state.code = 'valid';
    state.info = keyInfo;
    state.keyId = keyInfo.id;
    req[requestProperty] = keyInfo;
    next();
  }

  function refuse(state, code, next, message, options) {
    state.code = code;
    next(refusal(code, message, options));
  }

  function fromRecord(req, state, record, hash, next) {
    if (record === null || record === undefined) return refuse(state, 'unknown_key', next);
    let verdict;
    try {
      verdict = wasm.verifyRecord(JSON.stringify(record), wantEnv || hintEnv(state.hint), [], state.time, hash);
    } catch (e) {
      // The store returned something that is not a key record: a fault, not a pass.
      state.code = 'internal';
      return next(new ApiKeyError('internal', undefined, { cause: fromWasm(e) }));
    }
    if (verdict.code !== 'unknown_key') state.keyId = record.id;
    if (!verdict.valid) return refuse(state, verdict.code, next, verdict.message);
    accept(req, state, info(record.id, record.owner, record.scopes, record.env, record.hint), next);
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
      if (typeof key !== 'string' || key === '') key = undefined;
    } else {
      key = credential(req);
    }
    if (key === undefined) return refuse(state, 'missing_key', next);
    if (key === TWO) return refuse(state, 'invalid_request', next, 'exactly one API key is allowed: Authorization: Bearer or X-API-Key');

    if (table) {
      // memoryStore: parse, checksum, hash, lookup and decision in one call.
      const { code, slot } = table.unpack(table.table.check(key, wantEnv, state.time));
      if (slot >= 0) {
        const keyInfo = table.infos[slot];
        state.keyId = keyInfo.id;
        state.hint = keyInfo.hint;
        if (code === 'valid') return accept(req, state, keyInfo, next);
      } else if (code === 'unknown_key') {
        // The key parsed (the core checked it): its hint is safe to log.
        state.hint = key.slice(0, key.indexOf('_', key.indexOf('_') + 1) + 5);
      }
      return refuse(state, code, next);
    }

    const inspected = wasm.inspectKey(key);
    if (inspected.length < 64) {
      // Junk and typos are refused before any storage read.
      return refuse(state, inspected.startsWith('malformed') ? 'malformed' : inspected, next);
    }
    const hash = inspected.slice(0, 64);
    state.hint = inspected.slice(64);

    if (remote) {
      return remote(key, hash, env).then((v) => {
        if (v.keyId) state.keyId = v.keyId;
        if (v.code === 'valid') return accept(req, state, v.key, next);
        refuse(state, v.code, next, v.message);
      }, (e) => {
        state.code = 'unavailable';
        next(e instanceof ApiKeyError ? e : new ApiKeyError('unavailable', undefined, { cause: e }));
      });
    }

    let found;
    try {
      found = store.findByHash(hash);
    } catch (cause) {
      state.code = 'unavailable';
      return next(new ApiKeyError('unavailable', undefined, { cause }));
    }
    if (found && typeof found.then === 'function') {
      return Promise.resolve(found).then(
        (record) => fromRecord(req, state, record, hash, next),
        (cause) => {
          state.code = 'unavailable';
          next(new ApiKeyError('unavailable', undefined, { cause }));
        },
      );
    }
    fromRecord(req, state, found, hash, next);
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
  const list = scopes.flat();
  if (list.length === 0) throw new KeywardOptionError('scopes', 'requireScope needs at least one scope');
  for (const s of list) {
    if (typeof s !== 'string') throw new KeywardOptionError('scopes', 'must be strings');
    try {
      wasm.parseScope(s);
    } catch {
      throw new KeywardOptionError('scopes', `'${s}' is not a scope ('resource:action', 'resource:*' or 'admin')`);
    }
  }
  const required = new wasm.Scopes(list);
  // req.apiKey objects are frozen and reused (memoryStore, remoteStore's cache): each
  // is checked against this list once.
  const memo = new WeakMap();
  return function keywardRequireScope(req, res, next) {
    const state = req[kState];
    if (!state || !state.info) {
      return next(new ApiKeyError('internal', 'requireScope() must come after apiKeyAuth()'));
    }
    let missing = memo.get(state.info);
    if (missing === undefined) {
      try {
        missing = required.firstMissing(state.info.scopes);
      } catch (e) {
        state.code = 'internal';
        return next(new ApiKeyError('internal', undefined, { cause: fromWasm(e) }));
      }
      memo.set(state.info, missing);
    }
    if (missing < 0) return next();
    const scope = list[missing];
    state.code = 'insufficient_scope';
    next(refusal('insufficient_scope', wasm.missingScopeMessage(scope), { scope }));
  };
}

/**
 * Writes ApiKeyErrors as `{"error": {"code", "message"}}` with their status and, for
 * refusals, the RFC 6750 `WWW-Authenticate: Bearer` header. Other errors go on to
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
    if (info.bearer_error !== null || err.status === 401 || err.status === 403) {
      res.setHeader('WWW-Authenticate', wasm.wwwAuthenticate(realm, err.code, err.scope));
    }
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.end(body);
  };
}

module.exports = { apiKeyAuth, requireScope, apiKeyErrorHandler, ApiKeyError, KeywardOptionError, memoryStore, remoteStore };
