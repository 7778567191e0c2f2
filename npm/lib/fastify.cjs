'use strict';
// keyward/fastify: a Fastify plugin guarding the routes of the context it is registered
// in (request.apiKey), and a requireScope() pre-handler. It asks the store as every
// adapter does (the one store interface, verifyHeaders; verdict.cjs turns the verdict
// into the refusal) and answers with keyward's refusals (JSON error body,
// WWW-Authenticate, RateLimit, Retry-After) through Fastify's own reply.
const { ApiKeyError, KeywardOptionError } = require('./errors.cjs');
const { memoryStore, remoteStore, findByHashStore } = require('./stores.cjs');
const { noteVerdict, noteFault, usageEvent } = require('./verdict.cjs');
const { envArgument, checkCost, scopeRequirement } = require('./core.cjs');
const { headerValues } = require('./node-headers.cjs');
const { refusalAnswer } = require('./web.cjs');

/** Each request's check: who was checked (for requireScope and onUse) and the realm. */
const kState = Symbol('keyward.state');
/** Options Fastify itself reads from register(plugin, options). */
const FASTIFY_OPTIONS = ['prefix', 'logLevel', 'logSerializers'];
const OPTIONS = ['store', 'env', 'getKey', 'onUse', 'cost', 'clientIp', 'realm'];

/** Sends keyward's answer to an ApiKeyError; any other error goes to Fastify's error handler. */
function answer(reply, err, realm) {
  if (!(err instanceof ApiKeyError)) return reply.send(err);
  const a = refusalAnswer(err, realm, err.headers);
  return reply.code(a.status).headers(a.headers).send(a.body);
}

/** `METHOD /path`, without the query string (which may hold secrets). */
function actionOf(request) {
  const url = request.url;
  const q = url.indexOf('?');
  return `${request.method} ${q < 0 ? url : url.slice(0, q)}`;
}

/** The options checked once, at register time. */
function configure(options) {
  if (options === null || typeof options !== 'object') throw new KeywardOptionError('options', 'must be an object with a store and an env');
  for (const name of Object.keys(options)) {
    if (!OPTIONS.includes(name) && !FASTIFY_OPTIONS.includes(name)) throw new KeywardOptionError(name, 'is not an option of keyward/fastify');
  }
  const {
    store, env, getKey, onUse, cost = 1, realm = 'keyward', clientIp = (request) => request.ip,
  } = options;
  if (typeof realm !== 'string' || realm === '') throw new KeywardOptionError('realm', 'must be a non-empty string');
  if (typeof clientIp !== 'function') throw new KeywardOptionError('clientIp', 'must be a function (request) => string | undefined');
  if (typeof cost !== 'function') checkCost(cost);
  if (store === null || typeof store !== 'object') throw new KeywardOptionError('store', 'is required: memoryStore(), remoteStore() or an object with findByHash(hash)');
  // The same rule as everywhere: '' and undefined throw; { any: true } is ''.
  envArgument(env);
  if (getKey !== undefined && typeof getKey !== 'function') throw new KeywardOptionError('getKey', 'must be a function (request) => string | undefined');
  if (onUse !== undefined && typeof onUse !== 'function') throw new KeywardOptionError('onUse', 'must be a function (event) => void');
  // One store interface: a {findByHash} store of the app's own is made one.
  const keys = typeof store.verifyHeaders === 'function' ? store : findByHashStore(store);
  return {
    keys, env, getKey, onUse, cost, realm, clientIp,
  };
}

/** Hands the usage event of `request` (answered with `status`) to onUse; never throws. */
function report(cfg, request, status) {
  const state = request[kState];
  if (state === undefined) return;
  let ip = null;
  try {
    ip = cfg.clientIp(request) ?? null;
  } catch {
    // An address the app cannot tell is unknown.
  }
  try {
    const r = cfg.onUse(usageEvent(state, actionOf(request), ip, request.headers['user-agent'], status));
    if (r && typeof r.catch === 'function') r.catch(() => {});
  } catch {
    // A failing usage hook must not break the response that already went out.
  }
}

/**
 * Checks each request's API key (options: store, env, getKey(request), onUse, cost
 * (a number or cost(request)), clientIp(request) (default: Fastify's `request.ip`, under
 * its `trustProxy` option) and realm) before its route runs, in the context the plugin is
 * registered in and its children. Sets `request.apiKey` (never the raw key) or answers
 * keyward's refusal; a store that fails is 503 `unavailable`, never a pass.
 *
 * @example
 * await app.register(keyward, { store, env: 'live' });
 * app.get('/scans', { preHandler: requireScope('scans:read') }, (request) => request.apiKey);
 */
function keyward(fastify, options, done) {
  let cfg;
  try {
    cfg = configure(options);
  } catch (e) {
    return done(e);
  }
  const {
    keys, env, getKey, cost, realm, clientIp,
  } = cfg;

  function settle(request, reply, state, v, next) {
    const err = noteVerdict(state, v);
    if (err !== undefined) return answer(reply, err, realm);
    request.apiKey = v.key;
    if (v.headers !== undefined) reply.headers(v.headers);
    return next();
  }

  function fault(reply, state, e) {
    return answer(reply, noteFault(state, e), realm);
  }

  function internal(reply, state, e) {
    state.code = 'internal';
    return answer(reply, e, realm);
  }

  if (!fastify.hasRequestDecorator('apiKey')) fastify.decorateRequest('apiKey', null);
  function check(request, reply, next) {
    const state = {
      code: 'missing_key', time: Date.now(), hint: undefined, keyId: undefined, info: undefined, realm,
    };
    request[kState] = state;
    let key;
    if (getKey !== undefined) {
      try {
        key = getKey(request);
      } catch (e) {
        return internal(reply, state, e);
      }
      if (typeof key !== 'string' || key === '') return answer(reply, new ApiKeyError('missing_key'), realm);
    }
    let units = cost;
    if (typeof cost === 'function') {
      try {
        units = checkCost(cost(request), 'cost(request)');
      } catch (e) {
        return internal(reply, state, new ApiKeyError('internal', e.message));
      }
    }
    let v;
    try {
      // The client's address is read only for a key with allowed networks.
      const asked = { env, cost: units, now: state.time, ip: () => clientIp(request) };
      if (key !== undefined) {
        v = keys.verifyKey(key, asked);
      } else {
        const [auth, apiKey] = headerValues(request.raw);
        v = keys.verifyHeaders(auth, apiKey, asked);
      }
    } catch (e) {
      return fault(reply, state, e);
    }
    if (v !== null && typeof v.then === 'function') {
      return v.then((verdict) => settle(request, reply, state, verdict, next), (e) => fault(reply, state, e));
    }
    return settle(request, reply, state, v, next);
  }

  // Returns nothing: Fastify would take a returned reply (a thenable) for an async hook.
  fastify.addHook('onRequest', function keywardCheck(request, reply, next) {
    check(request, reply, next);
  });
  if (cfg.onUse !== undefined) {
    fastify.addHook('onResponse', function keywardUsage(request, reply, next) {
      report(cfg, request, reply.statusCode);
      next();
    });
  }
  return done();
}
// Not encapsulated: the hook guards the context that registers the plugin (what
// fastify-plugin does, without the dependency).
keyward[Symbol.for('skip-override')] = true;
keyward[Symbol.for('fastify.display-name')] = 'keyward';
keyward[Symbol.for('plugin-meta')] = { name: 'keyward', fastify: '>=5' };

/**
 * A pre-handler requiring every scope given: otherwise 403 `insufficient_scope`.
 *
 * @example
 * app.post('/scans', { preHandler: requireScope('scans:trigger') }, handler);
 */
function requireScope(...scopes) {
  const missingIn = scopeRequirement(scopes);
  function check(request, reply, next) {
    const state = request[kState];
    if (state === undefined || state.info === undefined) {
      return answer(reply, new ApiKeyError('internal', 'requireScope() must come after the keyward plugin'), state?.realm ?? 'keyward');
    }
    let refused;
    try {
      refused = missingIn(state.info);
    } catch (e) {
      state.code = 'internal';
      return answer(reply, e, state.realm);
    }
    if (refused === undefined) return next();
    state.code = refused.code;
    return answer(reply, refused, state.realm);
  }
  return function keywardRequireScope(request, reply, next) {
    check(request, reply, next);
  };
}

module.exports = keyward;
module.exports.default = keyward;
module.exports.keyward = keyward;
module.exports.requireScope = requireScope;
module.exports.memoryStore = memoryStore;
module.exports.remoteStore = remoteStore;
module.exports.ApiKeyError = ApiKeyError;
module.exports.KeywardOptionError = KeywardOptionError;
