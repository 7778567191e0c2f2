'use strict';
// keyward/fastify: a plugin guarding the routes of the context it is registered in
// (request.apiKey), and a requireScope() pre-handler. It runs keyward/express's
// middleware on Fastify's own Node request and response, so the answers are the same,
// and writes keyward's refusals (JSON error body, WWW-Authenticate, RateLimit) itself.
const { ApiKeyError, KeywardOptionError } = require('./errors.cjs');
const { apiKeyAuth, requireScope: requireScopeMiddleware } = require('./express.cjs');
const { memoryStore, remoteStore } = require('./stores.cjs');
const { refusalAnswer } = require('./web.cjs');

const kRealm = Symbol('keyward.realm');
const kRequest = Symbol('keyward.fastifyRequest');
/** Options Fastify itself reads from register(plugin, options). */
const FASTIFY_OPTIONS = ['prefix', 'logLevel', 'logSerializers'];

function answer(reply, err, realm = 'keyward') {
  if (!(err instanceof ApiKeyError)) return reply.send(err);
  const a = refusalAnswer(err, realm, err.headers);
  return reply.code(a.status).headers(a.headers).send(a.body);
}

/**
 * Checks each request's API key (options as keyward/express's apiKeyAuth: store, env,
 * getKey, onUse, cost, clientIp(request) (default: Fastify's `request.ip`, under its
 * `trustProxy` option); and realm) before its route runs, in the context the plugin is
 * registered in and its children.
 *
 * @example
 * await app.register(keyward, { store, env: 'live' });
 * app.get('/scans', { preHandler: requireScope('scans:read') }, (request) => request.apiKey);
 */
function keyward(fastify, options, done) {
  let middleware;
  let realm;
  try {
    if (options === null || typeof options !== 'object') throw new KeywardOptionError('options', 'must be an object with a store and an env');
    const rest = { ...options };
    for (const name of FASTIFY_OPTIONS) delete rest[name];
    realm = rest.realm ?? 'keyward';
    delete rest.realm;
    if (typeof realm !== 'string' || realm === '') throw new KeywardOptionError('realm', 'must be a non-empty string');
    // The client's address is Fastify's request.ip (under its trustProxy option), or
    // the app's clientIp(request).
    const clientIp = rest.clientIp ?? ((request) => request.ip);
    if (typeof clientIp !== 'function') throw new KeywardOptionError('clientIp', 'must be a function (request) => string | undefined');
    rest.clientIp = (raw) => clientIp(raw[kRequest]);
    middleware = apiKeyAuth(rest);
  } catch (e) {
    return done(e);
  }
  if (!fastify.hasRequestDecorator('apiKey')) fastify.decorateRequest('apiKey', null);
  fastify.addHook('onRequest', (request, reply, next) => {
    request.raw[kRealm] = realm;
    request.raw[kRequest] = request;
    middleware(request.raw, reply.raw, (err) => {
      if (err) return answer(reply, err, realm);
      request.apiKey = request.raw.apiKey;
      next();
    });
  });
  done();
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
  const middleware = requireScopeMiddleware(...scopes);
  return function keywardRequireScope(request, reply, next) {
    middleware(request.raw, reply.raw, (err) => (err ? answer(reply, err, request.raw[kRealm]) : next()));
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
