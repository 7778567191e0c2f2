'use strict';
// The core's functions, each one call into the WebAssembly build of keyward-core.
const { wasm, CODE_LIST, CODE_INFO } = require('./wasm.cjs');
const { ApiKeyError, KeywardOptionError, fromWasm } = require('./errors.cjs');

/**
 * A check's outcome, as every checking call into WebAssembly returns it, packed in one
 * number (keyward-wasm's `Check::outcome`): code + 256 × counted + 512 × (missing + 1) +
 * 2^25 × (slot + 1). Read without a second call into WebAssembly.
 */
const codeAt = (o) => CODE_LIST[o % 256].code;
const countedAt = (o) => Math.floor(o / 256) % 2 === 1;
const missingAt = (o) => (Math.floor(o / 512) % 65536) - 1;
const slotAt = (o) => Math.floor(o / 33554432) - 1;
/** The code a Check holds (one call into WebAssembly: prefer codeAt of an outcome). */
const codeOf = (check) => CODE_LIST[check.code].code;

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

/** Times read by the core (strict RFC 3339, not Date.parse), by their text. */
const TIMES_MAX = 10000;
const times = new Map();

/**
 * Epoch ms of a record's optional time (an RFC 3339 string, read strictly by the core, or
 * a Date); NaN for none (null or undefined); undefined when it is not a time.
 */
function recordTime(value) {
  if (value === null || value === undefined) return NaN;
  if (typeof value === 'string') {
    let ms = times.get(value);
    if (ms === undefined) {
      try {
        ms = wasm.parseTime(value);
      } catch {
        return undefined;
      }
      // The oldest entry goes first: a flood of distinct times cannot grow the map.
      if (times.size >= TIMES_MAX) times.delete(times.keys().next().value);
      times.set(value, ms);
    }
    return ms;
  }
  if (value instanceof Date && Number.isFinite(value.getTime())) return value.getTime();
  return undefined;
}

/** The fields of a key record (the core's KeyRecord::FIELDS). */
const RECORD_FIELDS = new Set(wasm.recordFields());

/**
 * The fields of `record` that a key record does not have (a camelCase `revokedAt` from an
 * ORM, a typo), or undefined: such a record is refused, never read without them.
 */
function unknownFields(record) {
  let unknown;
  for (const name in record) if (!RECORD_FIELDS.has(name)) (unknown ??= []).push(name);
  return unknown;
}

/** The message that refuses a record with unknown fields, naming them. */
function unknownFieldsMessage(unknown) {
  return `the record has fields keyward does not know: ${unknown.join(', ')} (a key record's fields are snake_case: ${[...RECORD_FIELDS].join(', ')})`;
}

const ENVS_MAX = 256;
/** Environment names the core's rule has accepted. */
const envs = new Set();

/**
 * The `env` option as the core's rule takes it: a name like `'live'`, or `''` for
 * `{any: true}` (the environment each key names). Required: `undefined` and `''` (an
 * environment variable unset, or set but empty) throw, for either would otherwise accept
 * every environment.
 */
function envArgument(env, option = 'env') {
  if (typeof env === 'string') {
    if (envs.has(env)) return env;
    if (env === '') throw new KeywardOptionError(option, 'is empty: name the environment keys must belong to (e.g. "live"), or pass { any: true }');
    if (!wasm.isPrefix(env)) throw new KeywardOptionError(option, 'must be an environment name like "live" ([a-z][a-z0-9]{0,15}), or { any: true }');
    if (envs.size >= ENVS_MAX) envs.clear();
    envs.add(env);
    return env;
  }
  if (env === undefined) throw new KeywardOptionError(option, 'is required: the environment keys must belong to (e.g. "live"), or { any: true } to accept each key in its own');
  if (env !== null && typeof env === 'object' && env.any === true && Object.keys(env).length === 1) return '';
  throw new KeywardOptionError(option, 'must be an environment name like "live", or { any: true }');
}

/**
 * The environment rule `name` (as envArgument gives it) kept inside WebAssembly, so that
 * a check need not copy it in. Used synchronously only: past ENVS_MAX names all go.
 */
const envHandles = new Map();
function envHandle(name) {
  let handle = envHandles.get(name);
  if (handle === undefined) {
    if (envHandles.size >= ENVS_MAX) {
      for (const old of envHandles.values()) old.free();
      envHandles.clear();
    }
    handle = new wasm.Env(name);
    envHandles.set(name, handle);
  }
  return handle;
}

/**
 * Required scopes parsed once per array (and the empty list, shared). Throws a
 * KeywardOptionError for anything but an array of strings (checked once per array).
 */
const NO_SCOPES = new wasm.Scopes([]);
const required = new WeakMap();
function requiredScopes(list) {
  if (list === undefined) return NO_SCOPES;
  // A WeakMap answers undefined for a key that is no object: checked below.
  let c = required.get(list);
  if (c === undefined) {
    strings(list, 'scopes');
    if (list.length === 0) return NO_SCOPES;
    c = call(() => new wasm.Scopes(list));
    required.set(list, c);
  }
  return c;
}

/**
 * Held scope sets parsed once inside WebAssembly, by their text: records from a database
 * are new objects each time, but a deployment has few distinct sets (and an array kept in
 * memory may be changed in place, so its identity is no key). Throws an ApiKeyError
 * `invalid_scope` for a list that is not one.
 *
 * The text is the list joined with "\n", which no scope holds, and an entry is used only
 * for a list of its own length: a list whose strings hold "\n" joins to more separators
 * than its length allows, so two lists share an entry only when they are equal.
 */
const HELD_MAX = 1000;
const held = new Map();
const NO_HELD = new wasm.Held([]);
function heldScopes(scopes) {
  // Strings only: join would turn [['scans:read']] into the text of ['scans:read'].
  for (let i = 0; i < scopes.length; i++) {
    if (typeof scopes[i] !== 'string') throw new ApiKeyError('invalid_scope', 'a scope is a string');
  }
  const text = scopes.join('\n');
  let entry = held.get(text);
  if (entry === undefined || entry.length !== scopes.length) {
    entry = { length: scopes.length, set: call(() => new wasm.Held(scopes)) };
    if (held.size >= HELD_MAX && !held.has(text)) {
      // Held sets are only used synchronously: the oldest can go.
      const [oldest, old] = held.entries().next().value;
      held.delete(oldest);
      old.set.free();
    }
    const replaced = held.get(text);
    if (replaced !== undefined) replaced.set.free();
    held.set(text, entry);
  }
  return entry.set;
}

/**
 * A record's allowed client networks (`allowed_ips`) parsed once inside WebAssembly, by
 * their text (records from a database are new objects each time; a deployment has few
 * distinct lists). `NO_ALLOWED` for none. Throws an ApiKeyError `invalid_request` naming
 * a bad block; undefined when `list` is not an array of strings.
 */
const ALLOWED_MAX = 1000;
const allowedSets = new Map();
const NO_ALLOWED = new wasm.Allowed([]);
function allowedNetworks(list) {
  if (list === undefined || list === null) return NO_ALLOWED;
  if (!Array.isArray(list)) return undefined;
  if (list.length === 0) return NO_ALLOWED;
  for (let i = 0; i < list.length; i++) if (typeof list[i] !== 'string') return undefined;
  // A block holds no ",": the joined text names one list.
  const text = list.join(',');
  let set = allowedSets.get(text);
  if (set === undefined) {
    set = call(() => new wasm.Allowed(list));
    if (allowedSets.size >= ALLOWED_MAX) {
      // Only used synchronously: the oldest can go.
      const [oldest, old] = allowedSets.entries().next().value;
      allowedSets.delete(oldest);
      old.free();
    }
    allowedSets.set(text, set);
  }
  return set;
}

/**
 * A record's allowed networks as the core's calls take them, or a string saying why
 * they cannot be read (`not_before` is read by recordTime).
 */
function recordAllowed(record) {
  const list = record.allowed_ips;
  if (list === undefined) return NO_ALLOWED;
  let allowed;
  try {
    allowed = allowedNetworks(list);
  } catch (e) {
    return e.message;
  }
  return allowed === undefined ? "'allowed_ips' is not a list of CIDR blocks" : allowed;
}

/**
 * Records read into WebAssembly once, kept by the record's hash: an app hands the same
 * record (or a database an equal copy) each time, and its later checks are then one call
 * with nothing of the record read again. An entry is used only for a record as the one it
 * was read from: the same field names in the same order (so a field added in place, a
 * camelCase `revokedAt`, is seen and refused), and the same values of every field the
 * core reads (`fields`, a Date by its time; the scopes and allowed networks item by item;
 * with `counts`, the rate limits and credits by their JSON text). Anything else reads the
 * record anew and replaces the entry; the oldest entry goes first past KEPT_MAX.
 */
const KEPT_MAX = 10000;

/** Whether `list` holds the same items as the snapshot `kept` (undefined: not a list). */
/** Whether a record's value `v` reads as the kept `k` (a Date kept as its epoch ms). */
function is(v, k) {
  return v === k || (v instanceof Date && v.getTime() === k);
}

function sameItems(list, kept) {
  if (kept === undefined) return !Array.isArray(list);
  if (!Array.isArray(list) || list.length !== kept.length) return false;
  for (let i = 0; i < kept.length; i++) if (list[i] !== kept[i]) return false;
  return true;
}

const SHARED_MAX = 1000;
const sharedLists = new Map();
/**
 * `list` (strings, never changed), or an equal one kept already: kept entries of records
 * of the same shape and scopes then share their field names and scope lists, which a
 * check compares, and a check of a thousand records touches a few of them, not a thousand
 * (memory, not work, is what a check of a record held in JavaScript mostly waits for).
 */
function shared(list) {
  const text = JSON.stringify(list);
  const kept = sharedLists.get(text);
  if (kept !== undefined) return kept;
  if (sharedLists.size < SHARED_MAX) sharedLists.set(text, list);
  return list;
}

/** The rate limits and credits of a record as text, or undefined when it has none. */
function countsText(record) {
  const { rate_limits: limits, rate_limit: legacy, credits } = record;
  return limits === undefined && legacy === undefined && credits === undefined ? undefined : JSON.stringify([limits, legacy, credits]);
}

/**
 * A reader of records into WebAssembly (see KEPT_MAX), `fields(record)` listing the values
 * of the fields the core reads (each read by its own name: a name held in a variable makes
 * V8's property lookup generic, several times slower) and `same(record, values)` whether a
 * record's fields still read as those values (the same fields in the same order, without
 * an array made per check: this runs on every check):
 * `read(record, says)` gives the entry kept for it, whose `handle` is what
 * `make(record, times, allowed)` made of it (use
 * it synchronously; the entry may keep more of what the record reads as, while it does),
 * or a string saying why it cannot be read, made by `says`: `{unknown(names),
 * time(field), restrictions(reason), record(reason)}`. `make` returns a string for a
 * record it cannot read. Throws an ApiKeyError `invalid_scope` for held scopes that are
 * not scopes.
 */
function recordReader(fields, same, counts, make) {
  const kept = new Map();

  /** Whether `record` reads as the record `entry` was read from. */
  function unchanged(record, entry) {
    const { names, values } = entry;
    let i = 0;
    for (const name in record) {
      if (name !== names[i]) return false;
      i++;
    }
    if (i !== names.length || !same(record, values)) return false;
    return sameItems(record.scopes, entry.scopes) && sameItems(record.allowed_ips, entry.allowed)
      && (!counts || countsText(record) === entry.counts);
  }

  return function read(record, says) {
    const hash = typeof record.hash === 'string' ? record.hash : undefined;
    const entry = hash === undefined ? undefined : kept.get(hash);
    if (entry !== undefined && unchanged(record, entry)) return entry;
    const unknown = unknownFields(record);
    if (unknown !== undefined) return says.unknown(unknown);
    const times = [];
    for (const field of ['expires_at', 'revoked_at', 'not_before']) {
      const ms = recordTime(record[field]);
      if (ms === undefined) return says.time(field);
      times.push(ms);
    }
    const allowed = recordAllowed(record);
    if (typeof allowed === 'string') return says.restrictions(allowed);
    const handle = make(record, times, allowed);
    if (typeof handle === 'string') return says.record(handle);
    if (hash === undefined) {
      // Nothing to keep it by: freed once the caller is done (it is used synchronously).
      queueMicrotask(() => handle.free());
      return { handle };
    }
    const names = [];
    for (const name in record) names.push(name);
    const values = fields(record).map((v) => (v instanceof Date ? v.getTime() : v));
    const list = (l) => (Array.isArray(l) ? shared([...l]) : undefined);
    // Handles are used synchronously only: one replaced or evicted can be freed now.
    if (entry !== undefined) {
      kept.delete(hash);
      entry.handle.free();
    } else if (kept.size >= KEPT_MAX) {
      const [oldest, old] = kept.entries().next().value;
      kept.delete(oldest);
      old.handle.free();
    }
    const fresh = {
      handle, names: shared(names), values, scopes: list(record.scopes), allowed: list(record.allowed_ips), counts: counts ? countsText(record) : undefined, info: undefined,
    };
    kept.set(hash, fresh);
    return fresh;
  };
}

/**
 * The facts of a key record given to verify() (an object whose `env` is a string and
 * `scopes` an array, checked by the caller) as the core's decision takes them: a
 * wasm.Facts (kept: use it synchronously), or a string saying why they cannot be read.
 */
const readFacts = recordReader((r) => [r.hash, r.env, r.expires_at, r.revoked_at, r.not_before],
  (r, v) => is(r.hash, v[0]) && is(r.env, v[1]) && is(r.expires_at, v[2]) && is(r.revoked_at, v[3]) && is(r.not_before, v[4]),
  false,
  (record, [expires, revoked, notBefore], allowed) => new wasm.Facts(record.env, heldScopes(record.scopes), expires, revoked, notBefore, allowed));
function recordFacts(record, says) {
  const entry = readFacts(record, says);
  return typeof entry === 'string' ? entry : entry.handle;
}

/**
 * A record a store of the app's own found, read whole by the core as memoryStore().add
 * reads one: its entry (`handle` a wasm.Found, kept: use it synchronously; `info` free
 * for the caller's `req.apiKey` of it), or a string saying why it cannot be read. Besides
 * the facts, a use reads the record's id, rotation, rate limits and credits, and its info
 * the owner and hint: a change to any of them reads it anew.
 */
const recordFound = recordReader((r) => [r.hash, r.env, r.expires_at, r.revoked_at, r.not_before, r.id, r.rotated_to, r.owner, r.hint],
  (r, v) => is(r.hash, v[0]) && is(r.env, v[1]) && is(r.expires_at, v[2]) && is(r.revoked_at, v[3]) && is(r.not_before, v[4])
    && is(r.id, v[5]) && is(r.rotated_to, v[6]) && is(r.owner, v[7]) && is(r.hint, v[8]),
  true,
  (record) => {
    try {
      return new wasm.Found(JSON.stringify(record));
    } catch (e) {
      return fromWasm(e).message;
    }
  });

/** The client address option: a string, or null/undefined for unknown. */
function clientAddress(ip, option = 'ip') {
  if (ip === undefined || ip === null) return undefined;
  if (typeof ip !== 'string') throw new KeywardOptionError(option, 'must be the client\'s address as a string (or undefined: unknown)');
  return ip;
}

/**
 * A route's scope requirement (`requireScope(...scopes)`), checked once when it is made:
 * a function of a key's info (`req.apiKey`) giving undefined when every scope is held,
 * else the ApiKeyError `insufficient_scope` naming the first missing one. Throws an
 * ApiKeyError `internal` for no info (no key check ran before it). Key infos are frozen
 * and reused: each is checked against the list once.
 */
function scopeRequirement(scopes) {
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
  const memo = new WeakMap();
  return (keyInfo) => {
    if (keyInfo === undefined || keyInfo === null) throw new ApiKeyError('internal', 'requireScope() must come after the key check');
    let missing = memo.get(keyInfo);
    if (missing === undefined) {
      try {
        missing = required.firstMissing(heldScopes(keyInfo.scopes));
      } catch (e) {
        throw new ApiKeyError('internal', undefined, { cause: fromWasm(e) });
      }
      memo.set(keyInfo, missing);
    }
    if (missing < 0) return undefined;
    const scope = list[missing];
    return new ApiKeyError('insufficient_scope', wasm.missingScopeMessage(scope), { scope });
  };
}

/**
 * The options of a check: the environment rule, the scopes the use needs, its time, its
 * cost and the client's address (or a function giving it).
 * @typedef {{env?: string | {any: true}, scopes?: string[], now?: Date | number, cost?: number,
 *   ip?: string | null | (() => string | undefined)}} CheckOptions
 */

const verifyOut = new wasm.Check();
/** What verify() says of a record it cannot read (after "not a keyward key record: "). */
const VERIFY_SAYS = {
  unknown: (names) => unknownFieldsMessage(names),
  time: (field) => `'${field}' is not an RFC 3339 time`,
  restrictions: (reason) => reason,
  record: (reason) => reason,
};

/**
 * The verification decision for a stored record (or `null`: no record) in environment
 * `env` (a name, or `{any: true}`: the record's own; `''` throws) needing every scope of `scopes` at
 * `now`, for a use from the client address `ip` (undefined: unknown, which a record with
 * `allowed_ips` refuses as `ip_not_allowed`): `{valid, code, message, scope?}`. A failed
 * check is a result, not an exception; a record with fields keyward does not know, or
 * times or networks the core does not read, throws `invalid_request`. Only the fields
 * the decision needs cross into WebAssembly.
 *
 * @example
 * verify(record, { env: 'live', scopes: ['scans:read'], ip: req.ip }) // { valid: true, code: 'valid', ... }
 */
/** @param {any} record @param {CheckOptions} [options] */
function verify(record, { env, scopes = [], now, ip } = {}) {
  const rule = envArgument(env);
  const needed = requiredScopes(scopes);
  const at = millis(now);
  const client = clientAddress(ip);
  let o;
  if (record === null || record === undefined) {
    o = call(wasm.decideRecord, undefined, NO_HELD, NaN, NaN, NaN, NO_ALLOWED, undefined, rule, needed, at, verifyOut);
  } else {
    if (typeof record !== 'object' || typeof record.env !== 'string' || !Array.isArray(record.scopes)) {
      throw new ApiKeyError('invalid_request', 'not a keyward key record: it needs env and scopes');
    }
    const facts = recordFacts(record, VERIFY_SAYS);
    if (typeof facts === 'string') throw new ApiKeyError('invalid_request', `not a keyward key record: ${facts}`);
    o = facts.decide(envHandle(rule), needed, at, client, verifyOut);
    if (codeAt(o) === 'invalid_request') throw new ApiKeyError('invalid_request', 'now must be a valid time');
  }
  const code = codeAt(o);
  const result = { valid: code === 'valid', code, message: CODE_INFO.get(code).message };
  const missing = missingAt(o);
  if (missing >= 0) {
    result.scope = scopes[missing];
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
/** @param {string} code @param {{realm?: string, scope?: string}} [options] */
function wwwAuthenticate(code, { realm = 'keyward', scope } = {}) {
  return call(wasm.wwwAuthenticate, str(realm, 'realm'), str(code, 'code'), scope);
}

/** keyward's code table: code → `{code, status, bearer_error, message}`. */
const codes = Object.freeze(Object.fromEntries(CODE_LIST.map((row) => [row.code, row])));

/** The most units one use may cost (the core's MAX_COST). */
const MAX_COST = wasm.maxCost();

/** Checks a `cost`: a whole number of units, 1 to MAX_COST. */
function checkCost(cost, option = 'cost') {
  if (!Number.isInteger(cost) || cost < 1 || cost > MAX_COST) {
    throw new KeywardOptionError(option, `must be a whole number of units, 1 to ${MAX_COST}`);
  }
  return cost;
}

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
  codeAt,
  countedAt,
  missingAt,
  slotAt,
  codeOf,
  recordTime,
  unknownFields,
  unknownFieldsMessage,
  envArgument,
  requiredScopes,
  heldScopes,
  recordAllowed,
  recordFacts,
  recordFound,
  envHandle,
  clientAddress,
  scopeRequirement,
  NO_SCOPES,
  NO_HELD,
  NO_ALLOWED,
  checkCost,
  call,
};
