'use strict';
// Where the middleware finds keys: memoryStore (records inside WebAssembly), remoteStore
// (the Worker's POST /v1/verify, cached briefly), or any {findByHash(hash)} of your own.
// Every decision is the core's (through WebAssembly); this file does I/O and caching.
const { wasm, CODE_INFO } = require('./wasm.cjs');
const { ApiKeyError, KeywardOptionError, fromWasm } = require('./errors.cjs');
const {
  millis, codeAt, countedAt, missingAt, slotAt, codeOf, recordTime, unknownFieldsMessage, envArgument,
  requiredScopes, checkCost, recordFound, envHandle, clientAddress, heldScopes, NO_SCOPES, NO_HELD, NO_ALLOWED,
} = require('./core.cjs');

const IP_NOT_ALLOWED = 'ip_not_allowed';

/**
 * After a check whose outcome `o` was decided without the client's address, which costs
 * a read (Express's `req.ip` parses X-Forwarded-For under `trust proxy`): the core asks
 * for it only by refusing `ip_not_allowed`, for a record with allowed networks, and a
 * refused use counts nothing. Then, if `address()` knows the address, `decide(ip)` once
 * more with it. Returns the outcome; `address()` that throws is an unknown address
 * (refused).
 */
function withAddress(o, decide, address) {
  if (address === undefined || codeAt(o) !== IP_NOT_ALLOWED) return o;
  const ip = addressOf(address);
  return ip === undefined ? o : decide(ip);
}

/** What `address()` gives, or undefined when it gives no address or throws (unknown). */
function addressOf(address) {
  try {
    const ip = address();
    return typeof ip === 'string' && ip !== '' ? ip : undefined;
  } catch {
    return undefined;
  }
}


/** What `req.apiKey` holds: never the raw key. */
function info(id, owner, scopes, env, hint) {
  return Object.freeze({ id, owner, scopes: Object.freeze([...scopes]), env, hint });
}

/** `[name, value, name, value]` as an object. */
function headerObject(list) {
  const headers = {};
  for (let i = 0; i < list.length; i += 2) headers[list[i]] = list[i + 1];
  return headers;
}

/**
 * What a counted use came to, from a Check's usage: `ratelimits` (each limit's name,
 * limit, period in seconds, remaining and reset time in epoch ms), `credits` ({remaining}),
 * `retryAfter` (seconds, when refused) and `headers` (RateLimit-Policy, RateLimit,
 * Retry-After) for the response.
 */
function usageOf(check, now) {
  const u = JSON.parse(check.usage);
  const usage = { headers: headerObject(check.headers) };
  if (u.limits.length > 0) {
    usage.ratelimits = u.limits.map((l) => ({
      name: l.name, limit: l.limit, period: l.period_seconds, remaining: l.remaining, reset: now + l.reset_ms,
    }));
  }
  if (u.credits !== null) usage.credits = { remaining: u.credits };
  // This use took the balance below the key's alert_below, first in its refill period.
  if (u.alert_due) usage.creditsLow = true;
  const retry = usage.headers['Retry-After'];
  if (retry !== undefined) usage.retryAfter = Number(retry);
  return usage;
}

/** What a store of one's own says of a record it returned that keyward cannot read. */
const FOUND_SAYS = {
  unknown: (names) => `the store returned a record keyward cannot read: ${unknownFieldsMessage(names)}`,
  time: (field) => `the record's ${field} is not an RFC 3339 time`,
  restrictions: (reason) => `the record's restrictions: ${reason}`,
  record: (reason) => `the store returned a record keyward cannot read (${reason})`,
};

/**
 * The record a lookup found, read (see recordFound): its entry, or null for none. Throws
 * an ApiKeyError `internal` for something that is not a key record (a fault, never a
 * pass): a record with fields keyward does not know (a camelCase `revokedAt` from an ORM
 * would otherwise be ignored, and a revoked key pass), times the core does not read as
 * RFC 3339, allowed networks that are not CIDR blocks, or a record the core cannot read
 * whole.
 */
function readFound(record) {
  if (record === null || record === undefined) return null;
  if (typeof record !== 'object' || typeof record.hash !== 'string' || typeof record.env !== 'string'
    || typeof record.id !== 'string' || !Array.isArray(record.scopes)) {
    throw new ApiKeyError('internal', 'the store returned something that is not a key record');
  }
  const found = recordFound(record, FOUND_SAYS);
  if (typeof found === 'string') throw new ApiKeyError('internal', found);
  return found;
}

/**
 * The use of the key presented in `check`, `found` being the entry of the record its
 * hash found (readFound), in environment `env` (`''`: the key's own), needing every scope
 * of `required`, costing `units`, with the record's restrictions for a use from `address`
 * (the client's address, or a function giving it, read only when the record has allowed
 * networks; see withAddress): the core's use of a key (`use_key`, as for memoryStore),
 * counted in `uses` under the record's rate limits, in one call into WebAssembly. Fills
 * `check`; returns its outcome. Throws an ApiKeyError `internal` for a use the core would
 * charge to credits, whose balance would live nowhere here.
 */
function useFound(uses, check, found, env, required, now, units, address) {
  const rule = envHandle(env);
  const o = useOnce(uses, found.handle, rule, required, now, units, undefined, check);
  // The address is read only when the record's allowed networks ask for it; a refused
  // use counted nothing.
  if (address === undefined || codeAt(o) !== IP_NOT_ALLOWED) return o;
  const ip = addressOf(typeof address === 'function' ? address : () => address);
  return ip === undefined ? o : useOnce(uses, found.handle, rule, required, now, units, ip, check);
}

/** One call of the core's use of a key (see useFound); its refusal to spend credits as an ApiKeyError. */
function useOnce(uses, found, rule, required, now, units, ip, check) {
  const o = uses.useKey(found, rule, required, now, units, ip, check);
  if (codeAt(o) === 'internal') throw new ApiKeyError('internal', check.note);
  return o;
}

/** memoryStore's table: with the memo of found keys' hashes unless `hashMemo: false`. */
function memoTable(options) {
  if (options === null || typeof options !== 'object') throw new KeywardOptionError('options', 'must be an object, e.g. { hashMemo: false }');
  for (const name of Object.keys(options)) {
    if (name !== 'hashMemo') throw new KeywardOptionError(name, 'is not an option of memoryStore');
  }
  const { hashMemo = true } = options;
  if (typeof hashMemo !== 'boolean') throw new KeywardOptionError('hashMemo', 'must be true or false');
  return hashMemo ? new wasm.KeyTable() : wasm.KeyTable.withoutMemo();
}

/**
 * Records kept in memory, inside WebAssembly: for tests and small apps. The whole check
 * (credential, parse, checksum, SHA-256, lookup, decision, scopes) is one call. The
 * SHA-256 of the last 1,024 keys found is kept under a keyed 128-bit SipHash of the key
 * (never the key), so a key seen again is not hashed again; `{ hashMemo: false }` hashes
 * every presented key. Every rule is still decided on each use.
 *
 * @example
 * const store = memoryStore();
 * const { key, hash, hint } = createKey({ env: 'live' });
 * store.add({ id: 'key_0123456789abcdef', hash, hint, name: 'ci', owner: 'team-a',
 *   scopes: ['scans:read'], env: 'live', created_at: new Date().toISOString() });
 */
function memoryStore(records = [], options = {}) {
  const table = memoTable(options);
  const infos = [];
  const out = new wasm.Check();

  const store = {
    /** Adds a record (the core's KeyRecord, snake_case, RFC 3339 times), or replaces the one with the same hash. */
    add(record) {
      let slot;
      try {
        slot = table.add(JSON.stringify(record));
      } catch (e) {
        throw fromWasm(e);
      }
      const r = JSON.parse(table.get(slot));
      infos[slot] = info(r.id, r.owner, r.scopes, r.env, r.hint);
      return store;
    },
    /** Removes the record with this hash; whether there was one. */
    remove(hash) {
      return table.remove(String(hash));
    },
    /** The record with this hash, or null. */
    findByHash(hash) {
      const slot = table.find(String(hash));
      return slot < 0 ? null : JSON.parse(table.get(slot));
    },
    /** How many records. */
    get size() {
      return table.size;
    },
    /**
     * Checks a presented key in one call: `{valid, code, message, key?, scope?}` where
     * `key` is what `req.apiKey` holds (for a refused key that was found too), `hint`
     * the presented key's for one that was not. `env` (required) is an environment name,
     * or `{any: true}` for the key's own. `ip` is the client's address, or a function
     * giving it (read only for a key with `allowed_ips`); undefined is unknown, refused
     * `ip_not_allowed` for such a key. Pass the same `scopes` array each time: it is
     * parsed once.
     */
    verifyKey(key, options) {
      const presented = typeof key === 'string' ? key : '';
      return verdict(options, (wanted, required, at, units, ip) => table.check(presented, wanted, required, at, units, ip, out));
    },
    /**
     * The same for a request's credential headers: the `Authorization` and `X-API-Key`
     * values (undefined when absent, repeated lines joined with ", "), read by the core's
     * rule (exactly one credential) in the same call.
     */
    verifyHeaders(authorization, apiKey, options) {
      return verdict(options, (wanted, required, at, units, ip) => table.checkRequest(authorization, apiKey, wanted, required, at, units, ip, out));
    },
  };

  /** Runs `check` with the options read, the address asked for only when needed; the verdict. */
  /** @param {import('./core.cjs').CheckOptions} options @param {Function} check */
  function verdict({ env, scopes, now, cost = 1, ip } = {}, check) {
    const wanted = envArgument(env);
    const required = requiredScopes(scopes);
    const at = millis(now);
    const units = checkCost(cost);
    const lazy = typeof ip === 'function';
    let o = check(wanted, required, at, units, lazy ? undefined : clientAddress(ip));
    if (lazy) o = withAddress(o, (a) => check(wanted, required, at, units, a), ip);
    const code = codeAt(o);
    const result = { valid: code === 'valid', code, message: CODE_INFO.get(code).message };
    const slot = slotAt(o);
    if (slot >= 0) {
      result.key = infos[slot];
    } else if (code !== 'valid') {
      // A refused credential says why; a key that parsed has a hint safe to log.
      const note = out.note;
      if (note !== undefined) result.message = note;
      if (out.parsed) result.hint = out.hint;
    }
    const missing = missingAt(o);
    if (missing >= 0) {
      result.scope = scopes[missing];
      result.message = wasm.missingScopeMessage(result.scope);
    }
    if (countedAt(o)) Object.assign(result, usageOf(out, at));
    return result;
  }
  for (const r of records) store.add(r);
  return store;
}

/**
 * A store of the app's own, `{findByHash(hash)}` (returning a record or null, or a
 * promise of one), as a keyward store answering `verifyKey` as memoryStore and
 * remoteStore do: the key is parsed and hashed first (junk never reaches the lookup),
 * then looked up, then decided by the core (with the record's restrictions), then
 * counted under the record's rate limits in this process. A lookup that throws or
 * rejects is an ApiKeyError `unavailable`; a record keyward cannot read, `internal`:
 * never a pass. The middleware makes one of these from a `{findByHash}` store itself.
 *
 * @example
 * const store = findByHashStore({ findByHash: (hash) => db.keys.findOne({ hash }) });
 * await store.verifyKey(key, { env: 'live', scopes: ['scans:read'], ip: req.ip });
 */
function findByHashStore(own) {
  if (own === null || typeof own !== 'object' || typeof own.findByHash !== 'function') {
    throw new KeywardOptionError('store', 'must have a findByHash(hash) method');
  }
  // One per store of the app's own: every middleware on it counts in the same windows.
  let store = ownStores.get(own);
  if (store === undefined) {
    store = keywardStoreOf(own);
    ownStores.set(own, store);
  }
  return store;
}
const ownStores = new WeakMap();

function keywardStoreOf(own) {
  const uses = new wasm.OwnUses();
  const out = new wasm.Check();
  const texts = hashTexts(uses);
  const present = keyWriter(uses);

  /** The verdict for the key in `check` given the record found (or none). */
  function decided(check, record, env, scopes, at, units, address) {
    const required = requiredScopes(scopes);
    const entry = readFound(record);
    const found = entry !== null;
    const o = found ? useFound(uses, check, entry, env, required, at, units, address) : check.notFound();
    const result = { valid: false, code: codeAt(o), message: undefined };
    const missing = missingAt(o);
    if (missing >= 0) {
      result.scope = scopes[missing];
      result.message = wasm.missingScopeMessage(result.scope);
    }
    if (countedAt(o)) Object.assign(result, usageOf(check, at));
    result.valid = result.code === 'valid';
    result.message ??= CODE_INFO.get(result.code).message;
    if (result.valid) {
      // Kept with the record's reading while it reads the same: a database returns a new
      // object each time, and requireScope's per-key memo then still applies.
      result.key = entry.info ??= info(record.id, record.owner, record.scopes, record.env, record.hint);
    } else {
      result.hint = check.hint;
      if (found && result.code !== 'unknown_key') result.keyId = record.id;
    }
    return result;
  }

  const store = {
    /** The app's own lookup. */
    findByHash(hash) {
      return own.findByHash(hash);
    },
    /**
     * Checks a presented key: `{valid, code, message, key?, keyId?, hint?, scope?,
     * headers?}`, or a promise of it when the lookup answers later. Options as
     * memoryStore().verifyKey's.
     */
    verifyKey(key, options) {
      return verdict(options, typeof key === 'string' ? key : '', undefined, false);
    },
    /** The same for a request's credential headers, as memoryStore().verifyHeaders. */
    verifyHeaders(authorization, apiKey, options) {
      return verdict(options, authorization, apiKey, true);
    },
  };

  /**
   * Parses and hashes the key (`first`), or the credential of the header values `first`
   * and `second` for a `request`, then looks up and decides; the verdict, or a promise
   * of it.
   */
  /** @param {import('./core.cjs').CheckOptions} options @param {any} first @param {any} second @param {boolean} request */
  function verdict({ env, scopes, now, cost = 1, ip } = {}, first, second, request) {
    const wanted = envArgument(env);
    const at = millis(now);
    const units = checkCost(cost);
    // The client's address, or a function giving it (read only when a record asks).
    const address = typeof ip === 'function' ? ip : clientAddress(ip);
    const given = request ? uses.presentRequestHash(first, second, out) : present(first, out);
    if (given === NOT_PARSED) {
      const code = codeOf(out);
      const result = { valid: false, code, message: out.note ?? CODE_INFO.get(code).message };
      if (out.parsed) result.hint = out.hint;
      return result;
    }
    const hash = texts.text(given);
    let found;
    try {
      found = own.findByHash(hash);
    } catch (cause) {
      throw new ApiKeyError('unavailable', undefined, { cause });
    }
    if (found === null || typeof found !== 'object' || typeof found.then !== 'function') {
      texts.learn(given, out, found, hash);
      return decided(out, found, wanted, scopes, at, units, address);
    }
    // Other requests run while this one waits: it keeps its own outcome.
    const check = out.keep();
    return Promise.resolve(found).then((record) => {
      try {
        texts.learn(given, check, record, hash);
        return decided(check, record, wanted, scopes, at, units, address);
      } finally {
        check.free();
      }
    }, (cause) => {
      check.free();
      throw new ApiKeyError('unavailable', undefined, { cause });
    });
  }
  return store;
}

/** What `OwnUses.presentHash` gives for a hash whose text it wrote, and for a key that did not parse (keyward-wasm's hash_text.rs). */
const WRITTEN = -1;
const NOT_PARSED = -2;

/**
 * The presented hashes' text, what a store of the app's own is looked up by, as
 * `uses.presentHash` gives it (keyward-wasm's `hash_text`): no string is made and hashed
 * anew per check of a key seen before. `text(given)` is the string held under the index
 * `given`, or (WRITTEN) the hex written into WebAssembly's memory, decoded through a view
 * kept on those 64 bytes (made anew when the memory grows, which detaches the old one).
 * `learn(given, check, record, hash)` holds the text `hash` of the hash presented in
 * `check` under the index WebAssembly names for it, when it was written and the lookup
 * found a record of that hash.
 */
function hashTexts(uses) {
  const view = memoryView(uses.hexAt, 64);
  const decoder = new TextDecoder();
  /** @type {string[]} */
  const held = [];
  return {
    /** @param {number} given */
    text(given) {
      return given >= 0 ? held[given] : decoder.decode(view());
    },
    /** @param {number} given @param {any} check @param {any} record @param {string} hash */
    learn(given, check, record, hash) {
      if (given !== WRITTEN || record === null || typeof record !== 'object' || record.hash !== hash) return;
      const i = uses.rememberHash(check);
      // The record's own string: an app's Map holds that very string as its key, mostly,
      // and the lookup then compares no characters.
      if (i >= 0) held[i] = record.hash;
    },
  };
}

/** The bytes of `OwnUses`'s key buffer (keyward-wasm's own.rs KEY_BUFFER). */
const KEY_BUFFER = 128;

/**
 * `present(key, check)`: `uses.presentHash` of a presented string, written as ASCII into
 * WebAssembly's memory (no string crosses by wasm-bindgen's glue, nothing is allocated or
 * freed there; WebAssembly zeroes it after reading); a longer string, or one that is not
 * ASCII (no key either way), crosses as a string.
 */
function keyWriter(uses) {
  const view = memoryView(uses.keyAt, KEY_BUFFER);
  /** @param {string} key @param {any} check */
  return (key, check) => {
    const n = key.length;
    if (n <= KEY_BUFFER) {
      const bytes = view();
      let i = 0;
      for (; i < n; i++) {
        const c = key.charCodeAt(i);
        if (c > 0x7f) break;
        bytes[i] = c;
      }
      if (i === n) return uses.presentWritten(n, check);
      bytes.fill(0, 0, i);
    }
    return uses.presentHash(key, check);
  };
}

/**
 * A function giving a view of the `length` bytes of WebAssembly's memory at `at`, made
 * anew when the memory has grown (which detaches the old view).
 */
function memoryView(at, length) {
  let view = new Uint8Array(0);
  return () => {
    if (view.byteLength === 0) view = new Uint8Array(wasm.wasmMemory().buffer, at, length);
    return view;
  };
}

/**
 * Asks keyward's Worker (`POST {url}/v1/verify/header`, the key in the `Keyward-Key`
 * header and no body, with a token holding `keys:verify`; a Worker without that path is
 * asked `POST {url}/v1/verify` with a JSON body) and caches each verdict by key hash for `cacheTtlMs` (default 5000). Keys with rate
 * limits or credits are never answered from the cache: the Worker counts every use. A revocation
 * becomes visible here within `cacheTtlMs` plus the Worker's own revocation bound.
 * `url` and `token` default to `KEYWARD_URL` and `KEYWARD_TOKEN`; a missing one throws
 * at once. A Worker that fails or cannot be reached answers 503 `unavailable`, and one
 * that refuses the token (401/403: unknown, revoked, no `keys:verify`, or a verifier of
 * another environment) 500 `verifier_refused`: never a pass.
 *
 * @example
 * const store = remoteStore({ url: 'https://keys.example.com', token: process.env.KEYWARD_TOKEN });
 */
function remoteStore({
  // No `process` on Workers and in browsers: pass url and token there.
  url = globalThis.process?.env?.KEYWARD_URL,
  token = globalThis.process?.env?.KEYWARD_TOKEN,
  cacheTtlMs = 5000,
  timeoutMs = 5000,
  maxEntries = 10000,
} = {}) {
  if (url === undefined || url === '') throw new KeywardOptionError('url', 'is missing: pass {url} or set KEYWARD_URL');
  if (token === undefined || token === '') throw new KeywardOptionError('token', 'is missing: pass {token} or set KEYWARD_TOKEN');
  if (typeof token !== 'string') throw new KeywardOptionError('token', 'must be a string');
  let endpoint;
  let headerEndpoint;
  try {
    const base = String(url).endsWith('/') ? String(url) : `${url}/`;
    endpoint = new URL('v1/verify', base);
    headerEndpoint = new URL('v1/verify/header', base);
  } catch {
    throw new KeywardOptionError('url', 'is not a URL');
  }
  if (endpoint.protocol !== 'https:' && endpoint.protocol !== 'http:') throw new KeywardOptionError('url', 'must be http: or https:');
  for (const [name, v] of [['cacheTtlMs', cacheTtlMs], ['timeoutMs', timeoutMs], ['maxEntries', maxEntries]]) {
    if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v)) throw new KeywardOptionError(name, 'must be a non-negative number');
  }
  const authorization = `Bearer ${token}`;
  /** `${hash} ${env}` → {expires, verdict | promise} */
  const cache = new Map();
  const out = new wasm.Check();
  const expiry = new wasm.Check();

  // The body-less form (`/v1/verify/header`: the key in a header, never in the URL) is the
  // Worker's fastest; a Worker older than it answers that path 404, and is then asked in
  // the JSON form from then on.
  let bodyless = true;

  /**
   * The verification request in the form the Worker takes.
   * @returns {[URL, RequestInit]}
   */
  function request(key, env, cost, ip) {
    const init = { method: 'POST', signal: AbortSignal.timeout(timeoutMs) };
    if (bodyless) {
      const target = new URL(headerEndpoint);
      if (env) target.searchParams.set('env', env);
      if (cost !== 1) target.searchParams.set('cost', String(cost));
      const headers = { authorization, 'keyward-key': key, accept: 'application/json' };
      // Whose request it is: the Worker decides a key's allowed networks with it. The end
      // user's address goes in a header, never in the URL (URLs are logged).
      if (ip !== undefined) headers['keyward-context-ip'] = ip;
      return [target, { ...init, headers }];
    }
    const body = { key, scopes: [] };
    if (env) body.env = env;
    if (cost !== 1) body.cost = cost;
    if (ip !== undefined) body.context = { ip };
    return [endpoint, { ...init, headers: { authorization, 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body) }];
  }

  async function ask(key, env, cost, ip) {
    let response;
    try {
      response = await fetch(...request(key, env, cost, ip));
      if (response.status === 404 && bodyless) {
        await response.body?.cancel();
        bodyless = false;
        response = await fetch(...request(key, env, cost, ip));
      }
    } catch (cause) {
      throw new ApiKeyError('unavailable', undefined, { cause });
    }
    let answer;
    try {
      answer = await response.json();
    } catch (cause) {
      throw new ApiKeyError('unavailable', undefined, { cause: { status: response.status, cause } });
    }
    if (response.status === 401 || response.status === 403) {
      // The Worker refused our own token (unknown, revoked, without keys:verify, of
      // another environment than `env`): a configuration error, not an outage.
      const error = answer?.error;
      const said = typeof error?.code === 'string' ? `${error.code}: ${error.message}` : `HTTP ${response.status}`;
      throw new ApiKeyError('verifier_refused', `${endpoint.origin} refused the verifier token (${said}); it needs keys:verify in the environment it verifies`, {
        cause: { status: response.status, error },
      });
    }
    if (response.status !== 200) {
      // 400: our request was refused; 429: the token is throttled; 5xx: a fault.
      throw new ApiKeyError('unavailable', undefined, { cause: { status: response.status, error: answer?.error } });
    }
    if (!answer || typeof answer.valid !== 'boolean' || typeof answer.code !== 'string'
      || !CODE_INFO.has(answer.code) || answer.valid !== (answer.code === 'valid')) {
      throw new ApiKeyError('unavailable', undefined, { cause: { status: 200, error: 'not a verify answer' } });
    }
    const code = answer.code;
    const verdict = { code, message: typeof answer.message === 'string' ? answer.message : CODE_INFO.get(code).message };
    if (code === 'valid') {
      if (!Array.isArray(answer.scopes) || typeof answer.key_id !== 'string') {
        // The root key verifies as valid with no record; it is not for an app's users.
        verdict.code = 'unknown_key';
        verdict.message = CODE_INFO.get('unknown_key').message;
      } else {
        verdict.key = info(answer.key_id, answer.owner ?? null, answer.scopes, answer.env ?? env ?? null, answer.hint ?? null);
        // Read by the core (strict RFC 3339); the core decides again on each cached use.
        verdict.expiresAt = recordTime(answer.expires_at);
        if (verdict.expiresAt === undefined) {
          throw new ApiKeyError('unavailable', undefined, { cause: { status: 200, error: 'not a verify answer: expires_at' } });
        }
      }
    }
    if (answer.key_id !== undefined && verdict.key === undefined) verdict.keyId = answer.key_id;
    // The Worker says the key admits every network: this verdict holds for any address.
    if (code === 'valid' && answer.ip_restricted === false) verdict.anyAddress = true;
    if (Array.isArray(answer.ratelimits) || (answer.credits && typeof answer.credits.remaining === 'number')) {
      verdict.metered = true;
      Object.assign(verdict, remoteUsage(answer));
    }
    return verdict;
  }

  /** The usage the Worker reported, as memoryStore reports it. */
  function remoteUsage(answer) {
    const now = Date.now();
    const usage = {};
    const statuses = [];
    if (Array.isArray(answer.ratelimits)) {
      usage.ratelimits = answer.ratelimits.map((l) => {
        const reset = recordTime(l.reset_at);
        if (reset === undefined || Number.isNaN(reset)) throw new ApiKeyError('unavailable', undefined, { cause: { status: 200, error: 'not a verify answer: reset_at' } });
        statuses.push({ name: l.name, limit: l.limit, period_seconds: l.period, remaining: l.remaining, reset_ms: Math.max(0, reset - now) });
        return { name: l.name, limit: l.limit, period: l.period, remaining: l.remaining, reset };
      });
    }
    if (answer.credits && typeof answer.credits.remaining === 'number') usage.credits = { remaining: answer.credits.remaining };
    if (typeof answer.retry_after === 'number') usage.retryAfter = answer.retry_after;
    try {
      usage.headers = headerObject(wasm.ratelimitHeaders(JSON.stringify(statuses), usage.retryAfter === undefined ? NaN : usage.retryAfter * 1000));
    } catch (cause) {
      throw new ApiKeyError('unavailable', undefined, { cause: { status: 200, error: 'not a verify answer', cause } });
    }
    return usage;
  }

  /** `${hash} ${env}` of keys the Worker counts → until when that is assumed (ms). */
  const metered = new Map();

  function evict(now) {
    for (const [k, entry] of cache) {
      if (cache.size < maxEntries && entry.expires > now) break;
      cache.delete(k);
    }
  }

  /**
   * Verifies a key that parsed locally (`hash` is its SHA-256) for a use from the client
   * address `client` (undefined: unknown): `{code, message, key?}`. Verdicts are cached
   * per address, for the Worker decides a key's allowed networks with it, unless the
   * Worker said the key admits every network (`ip_restricted: false`): then one verdict
   * answers every address. Throws an ApiKeyError `unavailable` when the Worker cannot answer.
   */
  async function verifyParsed(key, hash, env, cost = 1, client = undefined) {
    const now = Date.now();
    // The core's reading of the address (canonical text), or unknown.
    const ip = client === undefined ? undefined : wasm.clientIp(client);
    const anywhere = `${hash} ${env}`;
    const countedUntil = metered.get(anywhere);
    if (countedUntil !== undefined) {
      if (countedUntil > now) return ask(key, env, cost, ip);
      metered.delete(anywhere);
    }
    const known = cache.get(anywhere);
    const id = known !== undefined && known.expires > now ? anywhere : `${anywhere} ${ip ?? ''}`;
    let entry = cache.get(id);
    let mine = false;
    if (!entry || entry.expires <= now) {
      if (entry) cache.delete(id);
      const pending = ask(key, env, cost, ip);
      mine = true;
      entry = { expires: now + cacheTtlMs, verdict: pending };
      if (cacheTtlMs > 0 && maxEntries > 0) {
        evict(now);
        cache.set(id, entry);
        // Concurrent requests share one call; a failure is not cached.
        pending.then((v) => {
          entry.verdict = v;
          // A key that admits every network: the verdict answers every address.
          if (v.anyAddress && !v.metered && id !== anywhere && cache.get(id) === entry) {
            cache.delete(id);
            cache.set(anywhere, entry);
          }
        }, () => { if (cache.get(id) === entry) cache.delete(id); });
      }
    }
    const verdict = await entry.verdict;
    if (verdict.metered) {
      // Each use is counted by the Worker: this answer counted the one that asked, and
      // the others that waited on it are asked again, one by one.
      if (cache.get(id) === entry) cache.delete(id);
      if (metered.size >= maxEntries) metered.clear();
      metered.set(anywhere, now + cacheTtlMs);
      if (!mine) return ask(key, env, cost, ip);
      return verdict;
    }
    if (verdict.code === 'valid' && !Number.isNaN(verdict.expiresAt)) {
      // A verdict kept for cacheTtlMs: the core decides whether the key has expired since.
      const o = wasm.decideRecord(
        verdict.key.env ?? '', NO_HELD, verdict.expiresAt, NaN, NaN, NO_ALLOWED, undefined, '', NO_SCOPES, Date.now(), expiry,
      );
      if (codeAt(o) === 'expired') return { code: 'expired', message: CODE_INFO.get('expired').message, keyId: verdict.key.id };
    }
    return verdict;
  }

  return {
    /**
     * Checks a presented key against the Worker: `{valid, code, message, key?}`. Malformed
     * keys and bad checksums are answered here without a request. `env` (required) and
     * `ip` (the client's address, or a function giving it; sent as `context.ip`) as for
     * `memoryStore().verifyKey`.
     */
    /** @param {string} key @param {import('./core.cjs').CheckOptions} [options] */
    async verifyKey(key, { env, scopes, cost = 1, ip } = {}) {
      const wanted = envArgument(env);
      const required = requiredScopes(scopes);
      checkCost(cost);
      const client = typeof ip === 'function' ? addressOf(ip) : clientAddress(ip);
      const presented = codeAt(out.present(typeof key === 'string' ? key : ''));
      if (presented !== 'valid') {
        return { valid: false, code: presented, message: CODE_INFO.get(presented).message };
      }
      const hint = out.hint;
      const v = await verifyParsed(key, out.hash, wanted, cost, client);
      const result = { valid: v.code === 'valid', code: v.code, message: v.message };
      if (result.valid && required.length > 0) {
        // The Worker was asked for the key; the scopes are the core's check here, as
        // requireScope makes it (the verdict is cached per key, not per scope list).
        const missing = required.firstMissing(heldScopes(v.key.scopes));
        if (missing >= 0) {
          result.valid = false;
          result.code = 'insufficient_scope';
          result.scope = scopes[missing];
          result.message = wasm.missingScopeMessage(result.scope);
        }
      }
      if (v.key) {
        result.key = v.key;
      } else {
        result.hint = hint;
        if (v.keyId) result.keyId = v.keyId;
      }
      for (const f of ['ratelimits', 'credits', 'retryAfter', 'headers']) if (v[f] !== undefined) result[f] = v[f];
      return result;
    },
    /** The same for a request's credential headers, as memoryStore().verifyHeaders. */
    async verifyHeaders(authorization, apiKey, options) {
      const key = wasm.credential(authorization, apiKey, out);
      if (key === undefined) {
        const code = codeOf(out);
        // Checked here as verifyKey checks them, before answering the refusal.
        envArgument(options?.env);
        return { valid: false, code, message: out.note ?? CODE_INFO.get(code).message };
      }
      return this.verifyKey(key, options);
    },
    /** Forgets every cached verdict. */
    clear() {
      cache.clear();
    },
  };
}

module.exports = {
  memoryStore, remoteStore, findByHashStore, info, codeOf, envArgument, requiredScopes, NO_SCOPES,
  checkCost, usageOf, withAddress,
};
