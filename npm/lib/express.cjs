'use strict';
// Express (and plain node:http) middleware: apiKeyAuth, requireScope, apiKeyErrorHandler.
// Only Node's own req/res are used, so it works under Express 4 and 5, Connect and
// node:http alike.
const { wasm, CODE_INFO, CODE_LIST } = require('./wasm.cjs');
const { ApiKeyError, KeywardOptionError, fromWasm } = require('./errors.cjs');
const {
  kTable, kRemote, info, memoryStore, remoteStore, decideFound, usageOf, meterRecord, withAddress,
} = require('./stores.cjs');
const {
  codeAt, countedAt, slotAt, codeOf, envArgument, NO_SCOPES, checkCost, heldScopes,
} = require('./core.cjs');

/** The index of `ip_not_allowed` in the code table (an outcome's low byte). */
const IP_NOT_ALLOWED = CODE_LIST.findIndex((row) => row.code === 'ip_not_allowed');

/** Rate-limit windows of records from stores of the app's own, one meter per store. */
const meters = new WeakMap();
function meterOf(store) {
  let m = meters.get(store);
  if (m === undefined) {
    m = new wasm.Meter();
    meters.set(store, m);
  }
  return m;
}

/** Sets a counted use's RateLimit headers on the response. */
function setHeaders(res, headers) {
  if (headers === undefined || res.headersSent) return;
  for (const name of Object.keys(headers)) res.setHeader(name, headers[name]);
}

/** Per-request state shared by apiKeyAuth, requireScope and the usage hook. */
const kState = Symbol('keyward.state');

/**
 * The request's `Authorization` and `X-API-Key` values, each `undefined` when absent and
 * repeated lines joined with ", " as HTTP joins them (node:http keeps only the first
 * Authorization line in `req.headers`, so the raw lines are read). The core decides
 * what they mean.
 */
function headerValues(req) {
  const raw = req.rawHeaders;
  let auth;
  let apiKey;
  if (Array.isArray(raw)) {
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i];
      if (name.length === 13 && name.toLowerCase() === 'authorization') {
        auth = auth === undefined ? raw[i + 1] : `${auth}, ${raw[i + 1]}`;
      } else if (name.length === 9 && name.toLowerCase() === 'x-api-key') {
        apiKey = apiKey === undefined ? raw[i + 1] : `${apiKey}, ${raw[i + 1]}`;
      }
    }
  } else {
    auth = req.headers?.authorization;
    apiKey = req.headers?.['x-api-key'];
  }
  return [auth === undefined ? undefined : String(auth), apiKey === undefined ? undefined : String(apiKey)];
}

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

function usageEvent(req, res, state, clientIp) {
  let ip = null;
  try {
    ip = clientIp(req) ?? null;
  } catch {
    // An address the app cannot tell is unknown.
  }
  return {
    event_id: wasm.eventId(),
    key_id: state.keyId ?? null,
    hint: state.hint ?? null,
    owner: state.info?.owner ?? null,
    actor: null,
    action: action(req),
    ip,
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
  const table = store[kTable];
  const remote = store[kRemote];
  if (!table && !remote && typeof store.findByHash !== 'function') throw new KeywardOptionError('store', 'must have a findByHash(hash) method');
  // The same rule as everywhere: '' and undefined throw; { any: true } is ''.
  const wantEnv = envArgument(env);
  if (getKey !== undefined && typeof getKey !== 'function') throw new KeywardOptionError('getKey', 'must be a function (req) => string | undefined');
  if (typeof requestProperty !== 'string' || requestProperty === '') throw new KeywardOptionError('requestProperty', 'must be a non-empty string');
  if (onUse !== undefined && typeof onUse !== 'function') throw new KeywardOptionError('onUse', 'must be a function (event) => void');
  // Synchronous paths share one outcome; a lookup that awaits gets its own.
  const out = new wasm.Check();

  function track(req, res, state) {
    req[kState] = state;
    if (onUse) {
      res.once('finish', () => {
        try {
          const r = onUse(usageEvent(req, res, state, clientIp));
          if (r && typeof r.catch === 'function') r.catch(() => {});
        } catch {
          // A failing usage hook must not break the response that already went out.
        }
      });
    }
  }

  function accept(req, res, state, keyInfo, next, headers) {
    state.code = 'valid';
    state.info = keyInfo;
    state.keyId = keyInfo.id;
    req[requestProperty] = keyInfo;
    setHeaders(res, headers);
    next();
  }

  function refuse(state, code, next, message, options, headers) {
    state.code = code;
    next(refusal(code, message, options, headers));
  }

  /** After a memoryStore check whose outcome is `o` (and the rest in `out`). */
  function fromTable(req, res, state, o, next) {
    const code = codeAt(o);
    const headers = countedAt(o) ? usageOf(out, state.time).headers : undefined;
    const slot = slotAt(o);
    if (slot >= 0) {
      const keyInfo = table.infos[slot];
      state.keyId = keyInfo.id;
      state.hint = keyInfo.hint;
      if (code === 'valid') return accept(req, res, state, keyInfo, next, headers);
    } else if (out.parsed) {
      // The key parsed (the core checked it): its hint is safe to log.
      state.hint = out.hint;
    }
    return refuse(state, code, next, out.note, undefined, headers);
  }

  /** After the lookup of a presented key in `check` found `record` (or nothing). */
  function fromRecord(req, res, state, check, record, units, next) {
    let o;
    try {
      o = decideFound(check, record, wantEnv, state.time, () => clientIp(req));
      if (codeAt(o) === 'valid') o = meterRecord(meterOf(store), check, record, units, state.time, o);
    } catch (e) {
      // The store returned something that is not a key record: a fault, not a pass.
      state.code = 'internal';
      return next(e instanceof ApiKeyError ? e : new ApiKeyError('internal', undefined, { cause: fromWasm(e) }));
    }
    const code = codeAt(o);
    if (code !== 'unknown_key') state.keyId = record.id;
    const headers = countedAt(o) ? usageOf(check, state.time).headers : undefined;
    if (code !== 'valid') {
      if (state.hint === undefined) state.hint = check.hint;
      return refuse(state, code, next, undefined, undefined, headers);
    }
    accept(req, res, state, infoFor(record), next, headers);
  }

  function unavailable(state, next, cause) {
    state.code = 'unavailable';
    next(cause instanceof ApiKeyError ? cause : new ApiKeyError('unavailable', undefined, { cause }));
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
    if (table) {
      // memoryStore: credential, parse, checksum, hash, lookup, decision and counting in
      // one call.
      let o;
      if (key === undefined) {
        const [auth, apiKey] = headerValues(req);
        o = table.table.checkRequest(auth, apiKey, wantEnv, NO_SCOPES, state.time, units, undefined, out);
        // The address is read only when the key's allowed networks ask for it.
        if (o % 256 === IP_NOT_ALLOWED) {
          o = withAddress(o, (ip) => table.table.checkRequest(auth, apiKey, wantEnv, NO_SCOPES, state.time, units, ip, out), () => clientIp(req));
        }
      } else {
        o = table.table.check(key, wantEnv, NO_SCOPES, state.time, units, undefined, out);
        if (o % 256 === IP_NOT_ALLOWED) {
          o = withAddress(o, (ip) => table.table.check(key, wantEnv, NO_SCOPES, state.time, units, ip, out), () => clientIp(req));
        }
      }
      return fromTable(req, res, state, o, next);
    }
    if (remote) {
      if (key === undefined) {
        const [auth, apiKey] = headerValues(req);
        key = wasm.credential(auth, apiKey, out);
        if (key === undefined) return refuse(state, codeOf(out), next, out.note);
      }
      // Junk and typos are refused before any request to the Worker.
      const presented = codeAt(out.present(key));
      if (presented !== 'valid') return refuse(state, presented, next);
      state.hint = out.hint;
      let ip;
      try {
        ip = clientIp(req) ?? undefined;
      } catch {
        // Unknown: a key with allowed networks is refused.
      }
      return remote(key, out.hash, wantEnv, units, typeof ip === 'string' ? ip : undefined).then((v) => {
        if (v.keyId) state.keyId = v.keyId;
        if (v.code === 'valid') return accept(req, res, state, v.key, next, v.headers);
        refuse(state, v.code, next, v.message, undefined, v.headers);
      }, (e) => unavailable(state, next, e));
    }

    // A store of the user's own: the credential, parsed and hashed in one call (junk and
    // typos are refused before any storage read), then the lookup, then the decision.
    let o;
    if (key === undefined) {
      const [auth, apiKey] = headerValues(req);
      o = out.presentRequest(auth, apiKey);
    } else {
      o = out.present(key);
    }
    const presented = codeAt(o);
    if (presented !== 'valid') {
      if (out.parsed) state.hint = out.hint;
      return refuse(state, presented, next, out.note);
    }
    const hash = out.hash;
    if (onUse) state.hint = out.hint;
    let found;
    try {
      found = store.findByHash(hash);
    } catch (cause) {
      return unavailable(state, next, cause);
    }
    if (found && typeof found.then === 'function') {
      // Other requests run while this one waits: it keeps its own outcome.
      const check = out.keep();
      return Promise.resolve(found).then(
        (record) => {
          try {
            fromRecord(req, res, state, check, record, units, next);
          } finally {
            check.free();
          }
        },
        (cause) => {
          check.free();
          unavailable(state, next, cause);
        },
      );
    }
    fromRecord(req, res, state, out, found, units, next);
  };
}

/**
 * `req.apiKey` for a record of the user's own store, reused while the record's fields are
 * unchanged: a database returns a new object each time, and requireScope's per-key memo
 * then still applies.
 */
const INFOS_MAX = 10000;
const infos = new Map();
function infoFor(record) {
  const cached = infos.get(record.id);
  const scopes = record.scopes;
  if (cached !== undefined && cached.owner === record.owner && cached.env === record.env
    && cached.hint === record.hint && cached.scopes.length === scopes.length
    && cached.scopes.every((s, i) => s === scopes[i])) {
    return cached;
  }
  const fresh = info(record.id, record.owner, scopes, record.env, record.hint);
  if (infos.size >= INFOS_MAX) infos.clear();
  infos.set(record.id, fresh);
  return fresh;
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
        missing = required.firstMissing(heldScopes(state.info.scopes));
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
