'use strict';
// The core's functions, each one call into the WebAssembly build of keyward-core.
const { wasm, CODE_LIST, CODE_INFO } = require('./wasm.cjs');
const { ApiKeyError, KeywardOptionError, fromWasm } = require('./errors.cjs');

function call(fn, ...args) {
  try {
    return fn(...args);
  } catch (e) {
    throw fromWasm(e);
  }
}

function str(value, name) {
  if (typeof value !== 'string') throw new KeywardOptionError(name, 'must be a string');
  return value;
}

function strings(value, name) {
  if (!Array.isArray(value) || !value.every((s) => typeof s === 'string')) {
    throw new KeywardOptionError(name, 'must be an array of strings');
  }
  return value;
}

function millis(now) {
  if (now === undefined) return Date.now();
  const ms = now instanceof Date ? now.getTime() : now;
  if (typeof ms !== 'number' || !Number.isFinite(ms)) throw new KeywardOptionError('now', 'must be a Date or epoch milliseconds');
  return ms;
}

/**
 * Generates a key from the CSPRNG (Web Crypto through WebAssembly).
 *
 * @example
 * const { key, hash, hint } = createKey({ vendor: 'sk', env: 'live' });
 * // show `key` once; store only `hash` and `hint`
 */
function createKey({ vendor = 'sk', env = 'live' } = {}) {
  return call(wasm.createKey, str(vendor, 'vendor'), str(env, 'env'));
}

/**
 * Parses and checks a key: `{vendor, env, hint}`, or throws an ApiKeyError with code
 * `malformed` (and `part`) or `bad_checksum`.
 *
 * @example
 * const { key } = createKey({ env: 'live' });
 * parseKey(key).env // 'live'
 */
function parseKey(key) {
  if (typeof key !== 'string') throw new ApiKeyError('malformed', undefined, { part: 'length' });
  return call(wasm.parseKey, key);
}

/**
 * The lowercase hex SHA-256 of a key: what a store is addressed by. Does not check the
 * format (use parseKey for that).
 *
 * @example
 * hashKey('abc') // 'ba7816bf…'
 */
function hashKey(key) {
  return wasm.hashKey(str(key, 'key'));
}

/**
 * Parses a scope (`resource:action`, `resource:*` or `admin`); throws an ApiKeyError
 * with code `invalid_scope`.
 *
 * @example
 * parseScope('scans:read') // 'scans:read'
 */
function parseScope(scope) {
  return call(wasm.parseScope, str(scope, 'scope'));
}

/**
 * Whether holding the scopes `granted` grants `required`.
 *
 * @example
 * hasScope(['scans:*'], 'scans:read') // true
 */
function hasScope(granted, required) {
  return call(wasm.hasScope, strings(granted, 'granted'), str(required, 'required'));
}

/** Epoch ms of a record's optional RFC 3339 time; NaN for none. */
function optionalTime(value, field) {
  if (value === null || value === undefined) return NaN;
  const ms = value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) throw new ApiKeyError('invalid_request', `not a keyward key record: '${field}' is not an RFC 3339 time`);
  return ms;
}

const verifyOut = new wasm.Check();

/**
 * The verification decision for a stored record (or `null`: no record) in environment
 * `env` (`''`: the record's own) needing every scope of `scopes` at `now`:
 * `{valid, code, message, scope?}`. A failed check is a result, not an exception. Only
 * the fields the decision needs cross into WebAssembly.
 *
 * @example
 * verify(record, { env: 'live', scopes: ['scans:read'] }) // { valid: true, code: 'valid', ... }
 */
function verify(record, { env, scopes = [], now } = {}) {
  str(env, 'env');
  strings(scopes, 'scopes');
  const required = call(() => new wasm.Scopes(scopes));
  try {
    if (record === null || record === undefined) {
      call(wasm.decideRecord, undefined, [], NaN, NaN, env, required, millis(now), verifyOut);
    } else if (typeof record !== 'object' || typeof record.env !== 'string' || !Array.isArray(record.scopes)) {
      throw new ApiKeyError('invalid_request', 'not a keyward key record: it needs env and scopes');
    } else {
      call(wasm.decideRecord, record.env, record.scopes, optionalTime(record.expires_at, 'expires_at'),
        optionalTime(record.revoked_at, 'revoked_at'), env, required, millis(now), verifyOut);
    }
  } finally {
    required.free();
  }
  const code = CODE_LIST[verifyOut.code].code;
  const result = { valid: code === 'valid', code, message: CODE_INFO.get(code).message };
  if (verifyOut.missing >= 0) {
    result.scope = scopes[verifyOut.missing];
    result.message = wasm.missingScopeMessage(result.scope);
  }
  return result;
}

/**
 * The RFC 6750 `WWW-Authenticate` value for a refusal with `code`.
 *
 * @example
 * wwwAuthenticate('unknown_key') // 'Bearer realm="keyward", error="invalid_token", …'
 */
function wwwAuthenticate(code, { realm = 'keyward', scope } = {}) {
  return call(wasm.wwwAuthenticate, str(realm, 'realm'), str(code, 'code'), scope);
}

/** keyward's code table: code → `{code, status, bearer_error, message}`. */
const codes = Object.freeze(Object.fromEntries(CODE_LIST.map((row) => [row.code, row])));

module.exports = {
  createKey,
  parseKey,
  hashKey,
  parseScope,
  hasScope,
  verify,
  wwwAuthenticate,
  codes,
  millis,
  strings,
  CODE_INFO,
};
