'use strict';
// The Web-standard check behind keyward/fetch and keyward/hono: a Request in; a verdict,
// and the Response to send when refused, out. The rules are keyward/express's: the one
// credential by the core's rule, the store's lookup, the core's decision, then the
// scopes; counting and the answers (JSON error body, WWW-Authenticate, RateLimit,
// Retry-After) are the same. Reads no `process`, so it runs on Workers, Deno, Bun and in
// browsers.
const { wasm, CODE_INFO } = require('./wasm.cjs');
const { ApiKeyError, KeywardOptionError, fromWasm } = require('./errors.cjs');
const {
  kTable, kRemote, info, codeOf, envArgument, decideFound, NO_SCOPES, checkCost, usageOf, meterRecord,
} = require('./stores.cjs');

const NO_HEADERS = Object.freeze({});

/** One outcome shared by the synchronous paths (read before any await). */
const out = new wasm.Check();

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

/** Required scope lists parsed once, by their text (a literal array is new each call). */
const REQUIRED_MAX = 1000;
const requiredByText = new Map();
function requiredOf(scopes) {
  if (scopes === undefined) return { list: [], required: NO_SCOPES };
  if (!Array.isArray(scopes)) throw new KeywardOptionError('scopes', 'must be an array of strings');
  if (scopes.length === 0) return { list: [], required: NO_SCOPES };
  const text = JSON.stringify(scopes);
  let r = requiredByText.get(text);
  if (r === undefined) {
    for (const s of scopes) {
      if (typeof s !== 'string') throw new KeywardOptionError('scopes', 'must be an array of strings');
      try {
        wasm.parseScope(s);
      } catch {
        throw new KeywardOptionError('scopes', `'${s}' is not a scope ('resource:action', 'resource:*' or 'admin')`);
      }
    }
    r = { list: [...scopes], required: new wasm.Scopes(scopes) };
    if (requiredByText.size >= REQUIRED_MAX) requiredByText.clear();
    requiredByText.set(text, r);
  }
  return r;
}

/** Held scope sets parsed once inside WebAssembly, by their text. */
const HELD_MAX = 1000;
const held = new Map();
function heldOf(scopes) {
  const text = JSON.stringify(scopes);
  let h = held.get(text);
  if (h === undefined) {
    h = new wasm.Held(scopes);
    if (held.size >= HELD_MAX) {
      for (const old of held.values()) old.free();
      held.clear();
    }
    held.set(text, h);
  }
  return h;
}

const OPTIONS = ['store', 'env', 'scopes', 'cost', 'onUse', 'waitUntil', 'realm'];

/** Checks the options once; what a check needs. */
function configure(options) {
  if (options === null || typeof options !== 'object') throw new KeywardOptionError('options', 'must be an object with a store and an env');
  for (const name of Object.keys(options)) {
    if (!OPTIONS.includes(name)) throw new KeywardOptionError(name, 'is not an option of checkRequest');
  }
  const { store, env, scopes, cost = 1, onUse, waitUntil, realm = 'keyward' } = options;
  if (store === null || typeof store !== 'object') throw new KeywardOptionError('store', 'is required: memoryStore(), remoteStore() or an object with findByHash(hash)');
  const table = store[kTable];
  const remote = store[kRemote];
  if (!table && !remote && typeof store.findByHash !== 'function') throw new KeywardOptionError('store', 'must have a findByHash(hash) method');
  if (env === undefined) throw new KeywardOptionError('env', 'is required: the environment keys must belong to (e.g. "live"), or { any: true } to accept each key in its own');
  if (typeof cost !== 'function') checkCost(cost);
  if (onUse !== undefined && typeof onUse !== 'function') throw new KeywardOptionError('onUse', 'must be a function (event) => void');
  if (waitUntil !== undefined && typeof waitUntil !== 'function') throw new KeywardOptionError('waitUntil', 'must be a function (promise) => void, e.g. ctx.waitUntil.bind(ctx)');
  if (typeof realm !== 'string' || realm === '') throw new KeywardOptionError('realm', 'must be a non-empty string');
  return { store, table, remote, env: envArgument(env), scopes: requiredOf(scopes), cost, onUse, waitUntil, realm };
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

/** What onUse receives (never the raw key). */
function usageEvent(request, state, status) {
  let path = '';
  try {
    path = new URL(request.url).pathname;
  } catch {
    // A Request always has an absolute URL; an object that only looks like one may not.
  }
  return {
    event_id: wasm.eventId(),
    key_id: state.keyId ?? null,
    hint: state.hint ?? null,
    owner: state.key?.owner ?? null,
    actor: null,
    action: `${request.method} ${path}`,
    // Cloudflare sets this header and strips a client's own; elsewhere it is not trusted.
    ip: request.cf ? request.headers.get('cf-connecting-ip') : null,
    country: request.cf?.country ?? null,
    user_agent: request.headers.get('user-agent'),
    time: new Date(state.time).toISOString(),
    outcome: state.code,
    status,
  };
}

/** Hands the event to onUse, through waitUntil where the runtime has one; never throws. */
function emit(cfg, request, state, status, waitUntil = cfg.waitUntil) {
  if (!cfg.onUse) return;
  let pending;
  try {
    pending = Promise.resolve(cfg.onUse(usageEvent(request, state, status))).catch(() => {});
  } catch {
    return;
  }
  if (waitUntil) {
    try {
      waitUntil(pending);
    } catch {
      // No execution context to extend: the promise still runs.
    }
  }
}

function accepted(state, key, headers) {
  state.code = 'valid';
  state.key = key;
  state.keyId = key.id;
  if (state.hint === undefined) state.hint = key.hint;
  return { valid: true, code: 'valid', key, headers: headers ?? NO_HEADERS };
}

function refused(cfg, state, err, headers) {
  state.code = err.code;
  const answer = refusalAnswer(err, cfg.realm, headers);
  const result = {
    valid: false, code: err.code, status: answer.status, message: answer.message,
    headers: answer.headers, error: err,
  };
  if (err.scope !== undefined) result.scope = err.scope;
  // A getter: the Response is built only for a caller that sends it.
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

function refuse(cfg, state, code, message, headers, scope) {
  return refused(cfg, state, new ApiKeyError(code, message ?? CODE_INFO.get(code).message, { scope }), headers);
}

/** After a valid key: the route's scopes (the core's rule), or insufficient_scope. */
function withScopes(cfg, state, key, headers) {
  const { required, list } = cfg.scopes;
  if (required !== NO_SCOPES) {
    let missing;
    try {
      missing = required.firstMissing(heldOf(key.scopes));
    } catch (e) {
      return refused(cfg, state, new ApiKeyError('internal', undefined, { cause: fromWasm(e) }), headers);
    }
    if (missing >= 0) {
      state.key = key;
      state.keyId = key.id;
      return refuse(cfg, state, 'insufficient_scope', wasm.missingScopeMessage(list[missing]), headers, list[missing]);
    }
  }
  return accepted(state, key, headers);
}

function unavailable(cfg, state, cause) {
  return refused(cfg, state, cause instanceof ApiKeyError && cause.code === 'unavailable' ? cause : new ApiKeyError('unavailable', undefined, { cause }));
}

/** A record from a store of the app's own, decided in `check`. */
function fromRecord(cfg, state, check, record, units) {
  try {
    decideFound(check, record, cfg.env, state.time);
    if (codeOf(check) === 'valid') meterRecord(meterOf(cfg.store), check, record, units, state.time);
  } catch (e) {
    // The store returned something that is not a key record: a fault, not a pass.
    return refused(cfg, state, e instanceof ApiKeyError ? e : new ApiKeyError('internal', undefined, { cause: fromWasm(e) }));
  }
  const code = codeOf(check);
  if (code !== 'unknown_key') state.keyId = record.id;
  const headers = check.metered ? usageOf(check, state.time).headers : undefined;
  if (code !== 'valid') return refuse(cfg, state, code, undefined, headers);
  return withScopes(cfg, state, info(record.id, record.owner, record.scopes, record.env, record.hint), headers);
}

/**
 * The verdict for `request` under `cfg` (a result, or a promise of one for a lookup that
 * awaits). `state` collects what onUse reports.
 */
function decide(cfg, request, state) {
  if (request === null || typeof request !== 'object' || typeof request.headers?.get !== 'function') {
    throw new KeywardOptionError('request', 'must be a Request (with headers.get)');
  }
  let units = cfg.cost;
  if (typeof units === 'function') {
    try {
      units = checkCost(cfg.cost(request), 'cost(request)');
    } catch (e) {
      return refuse(cfg, state, 'internal', e.message);
    }
  }
  // Repeated lines arrive joined with ", " (the Fetch standard), as keyward/express joins them.
  const auth = request.headers.get('authorization') ?? undefined;
  const apiKey = request.headers.get('x-api-key') ?? undefined;
  const { table, remote } = cfg;

  if (table) {
    // memoryStore: credential, parse, checksum, hash, lookup, decision, scopes and
    // counting in one call.
    table.table.checkRequest(auth, apiKey, cfg.env, cfg.scopes.required, state.time, units, out);
    const code = codeOf(out);
    const headers = out.metered ? usageOf(out, state.time).headers : undefined;
    if (out.slot >= 0) {
      const key = table.infos[out.slot];
      state.keyId = key.id;
      state.hint = key.hint;
      state.key = key;
      if (code === 'valid') return accepted(state, key, headers);
    } else if (out.parsed) {
      state.hint = out.hint;
    }
    const scope = out.missing >= 0 ? cfg.scopes.list[out.missing] : undefined;
    const message = scope === undefined ? out.note : wasm.missingScopeMessage(scope);
    return refuse(cfg, state, code, message, headers, scope);
  }

  if (remote) {
    const key = wasm.credential(auth, apiKey, out);
    if (key === undefined) return refuse(cfg, state, codeOf(out), out.note);
    // Junk and typos are refused before any request to the Worker.
    out.present(key);
    const presented = codeOf(out);
    if (presented !== 'valid') return refuse(cfg, state, presented);
    state.hint = out.hint;
    return remote(key, out.hash, cfg.env, units).then((v) => {
      if (v.keyId) state.keyId = v.keyId;
      if (v.code !== 'valid') return refuse(cfg, state, v.code, v.message, v.headers);
      return withScopes(cfg, state, v.key, v.headers);
    }, (e) => unavailable(cfg, state, e));
  }

  // A store of the user's own: the credential parsed and hashed in one call (junk and
  // typos never reach storage), then the lookup, then the decision.
  out.presentRequest(auth, apiKey);
  const presented = codeOf(out);
  if (presented !== 'valid') {
    if (out.parsed) state.hint = out.hint;
    return refuse(cfg, state, presented, out.note);
  }
  state.hint = out.hint;
  let found;
  try {
    found = cfg.store.findByHash(out.hash);
  } catch (cause) {
    return unavailable(cfg, state, cause);
  }
  if (found && typeof found.then === 'function') {
    // Other requests run while this one waits: it keeps its own outcome.
    const check = out.keep();
    return Promise.resolve(found).then(
      (record) => {
        try {
          return fromRecord(cfg, state, check, record, units);
        } finally {
          check.free();
        }
      },
      (cause) => {
        check.free();
        return unavailable(cfg, state, cause);
      },
    );
  }
  return fromRecord(cfg, state, out, found, units);
}

const configs = new WeakMap();
function configOf(options) {
  let cfg = configs.get(options);
  if (cfg === undefined) {
    cfg = configure(options);
    if (options !== null && typeof options === 'object') configs.set(options, cfg);
  }
  return cfg;
}

/**
 * Checks the request's API key (`Authorization: Bearer` or `X-API-Key`, exactly one)
 * against `store`: `{valid: true, key, headers}` (send `headers`: RateLimit for keys with
 * limits) or `{valid: false, code, status, message, headers, response}` where `response`
 * is keyward's answer to send. Fails closed: a store that throws is a 503 `unavailable`.
 * `onUse` receives the usage event (status 200 for a valid key: checkRequest does not
 * see your response), through `waitUntil` when given.
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
  const state = { code: 'missing_key', time: Date.now(), hint: undefined, keyId: undefined, key: undefined };
  const result = await decide(cfg, request, state);
  emit(cfg, request, state, result.valid ? 200 : result.status);
  return result;
}

module.exports = { checkRequest, configure, decide, emit, refusalAnswer, refused, requiredOf, withScopes };
