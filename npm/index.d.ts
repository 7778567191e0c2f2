// Types of 'keyward': the core's functions (running in WebAssembly), stores and errors.

import type { Code } from './codes.js';

/** keyward's stable codes (generated at build time from the core's code table). */
export type { Code };

/** A row of the code table. */
export interface CodeInfo {
  code: Code;
  status: number;
  /** Whether a refusal with this code carries a `WWW-Authenticate: Bearer` challenge. */
  challenge: boolean;
  /** The RFC 6750 `error` attribute, if any. */
  bearer_error: 'invalid_request' | 'invalid_token' | 'insufficient_scope' | null;
  message: string;
}

/** The code table, by code. */
export declare const codes: Readonly<Record<Code, Readonly<CodeInfo>>>;

/**
 * A refused or failed API key check. Assert on `code`, never on `message`.
 *
 * @example
 * try { parseKey(input) } catch (e) { if (e instanceof ApiKeyError && e.code === 'bad_checksum') … }
 */
export declare class ApiKeyError extends Error {
  constructor(code: Code, message?: string, options?: { scope?: string; part?: string; cause?: unknown });
  readonly name: 'ApiKeyError';
  readonly code: Code;
  /** The HTTP status that goes with the code. */
  readonly status: number;
  readonly statusCode: number;
  /** Whether the message may be shown to the client (every status below 500). */
  readonly expose: boolean;
  /** The missing scope, for `insufficient_scope`. */
  readonly scope?: string;
  /** For `rate_limited` and `usage_exceeded`: `RateLimit-Policy`, `RateLimit`, `Retry-After`. */
  readonly headers?: Readonly<Record<string, string>>;
  /** The wrong part of a `malformed` key: length, prefix, vendor, environment, secret, checksum. */
  readonly part?: 'length' | 'prefix' | 'vendor' | 'environment' | 'secret' | 'checksum';
}

/**
 * A bad option, thrown when a factory is called, never at request time.
 *
 * @example
 * try { remoteStore() } catch (e) { e.option === 'url' }
 */
export declare class KeywardOptionError extends TypeError {
  readonly name: 'KeywardOptionError';
  readonly code: 'ERR_KEYWARD_OPTION';
  /** The option at fault, e.g. `'store'`, `'url'`, `'scopes'`. */
  readonly option: string;
}

/** RFC 3339 time, as records store them. */
export type Rfc3339 = string;

/** The core's KeyRecord: what is stored about a key (never the key), snake_case as in every language. Generated from the Rust type (record.d.ts). */
export type { KeyRecord } from './record.js';
import type { KeyRecord } from './record.js';

/** A named rate limit. */
export interface RateLimitRule {
  /** `[a-z][a-z0-9_-]{0,31}` */
  name: string;
  /** Units per period, 1 to 10000. */
  limit: number;
  /** `30s`, `1m`, `1h`, `1d` (1 s to 1 day). */
  period: string;
}

/** What one limit said of a counted use. */
export interface RateLimitStatus {
  name: string;
  limit: number;
  /** The period, in seconds. */
  period: number;
  /** Units left in the window. */
  remaining: number;
  /** When the window's oldest counted use falls out (epoch ms). */
  reset: number;
}

/** What `req.apiKey` holds after a successful check: never the raw key. */
export interface ApiKeyInfo {
  readonly id: string;
  readonly owner: string | null;
  readonly scopes: readonly string[];
  readonly env: string | null;
  readonly hint: string | null;
}

/** The core's AuditEvent, as `onUse` receives it (with the response `status`). */
export interface AuditEvent {
  event_id: string;
  key_id: string | null;
  hint: string | null;
  owner: string | null;
  actor: string | null;
  /** `METHOD /path`, without the query string. */
  action: string;
  ip: string | null;
  country: string | null;
  user_agent: string | null;
  time: Rfc3339;
  outcome: Code;
  status: number;
}

/** The outcome of a check. A failed check is a result, not an exception. */
export interface Verdict {
  valid: boolean;
  code: Code;
  message: string;
  /** The missing scope, for `insufficient_scope`. */
  scope?: string;
}

/**
 * Generates a key from the CSPRNG. Show `key` once; store `hash` and `hint`.
 *
 * @example
 * const { key, hash, hint } = createKey({ vendor: 'sk', env: 'live' });
 */
export declare function createKey(options?: { vendor?: string; env?: string }): { key: string; hash: string; hint: string };

/**
 * Parses and checks a key; throws an ApiKeyError `malformed` (with `part`) or `bad_checksum`.
 *
 * @example
 * const { key } = createKey({ env: 'live' });
 * parseKey(key).env // 'live'
 */
export declare function parseKey(key: string): { vendor: string; env: string; hint: string };

/**
 * The lowercase hex SHA-256 of a key: what stores are addressed by. Does not check the format.
 *
 * @example
 * await db.keys.findOne({ hash: hashKey(presented) })
 */
export declare function hashKey(key: string): string;

/**
 * Parses a scope; throws an ApiKeyError `invalid_scope`.
 *
 * @example
 * parseScope('scans:read') // 'scans:read'
 */
export declare function parseScope(scope: string): string;

/**
 * Whether holding `granted` grants `required` (`resource:*` and `admin` included).
 *
 * @example
 * hasScope(['scans:*'], 'scans:read') // true
 */
export declare function hasScope(granted: readonly string[], required: string): boolean;

/**
 * The core's decision for a record (or `null`) in `env` (a name, or `{any: true}` for the
 * record's own; `''` throws) needing every scope of `scopes`. Checks run: unknown →
 * revoked → expired → wrong environment → missing scope. A record with a field keyward
 * does not know (e.g. camelCase `revokedAt`) throws `invalid_request` naming it.
 *
 * @example
 * verify(record, { env: 'live', scopes: ['scans:read'] }).code // 'valid'
 */
export declare function verify(
  record: KeyRecord | null | undefined,
  options: {
    env: string | { any: true }; scopes?: readonly string[]; now?: Date | number;
    /** The client's address, for a record with `allowed_ips` (undefined: unknown, refused). */
    ip?: string | null;
  },
): Verdict;

/**
 * The RFC 6750 `WWW-Authenticate` value for a refusal with `code`.
 *
 * @example
 * res.setHeader('WWW-Authenticate', wwwAuthenticate('unknown_key'))
 */
export declare function wwwAuthenticate(code: Code, options?: { realm?: string; scope?: string }): string;

/** A key check through a store: `key` is what `req.apiKey` would hold. */
export interface StoreVerdict {
  valid: boolean;
  code: Code;
  message: string;
  /** The key found (also for a refused one that was found). */
  key?: ApiKeyInfo;
  /** A refused key that was found without its info (remoteStore, a store of your own): its id. */
  keyId?: string;
  /** A refused key that parsed: its hint (safe to log). */
  hint?: string;
  scope?: string;
  /** For a key with rate limits: each limit's status after this use. */
  ratelimits?: RateLimitStatus[];
  /** For a key with credits: the balance after this use. */
  credits?: { remaining: number };
  /** memoryStore: this use took the balance below `alert_below`, first in its refill period. */
  creditsLow?: true;
  /** For a use refused by a limit or the credits: seconds until a retry can succeed. */
  retryAfter?: number;
  /** For a counted use: `RateLimit-Policy`, `RateLimit` and (refused) `Retry-After`. */
  headers?: Record<string, string>;
}

/**
 * Your own storage: return the record whose `hash` is `hash`, or null. May be async. A
 * throw or rejection answers 503 `unavailable` (fail closed).
 *
 * @example
 * const store: KeyStore = { findByHash: (hash) => db.one('select * from api_keys where hash = $1', [hash]) };
 */
export interface KeyStore {
  findByHash(hash: string): KeyRecord | null | undefined | Promise<KeyRecord | null | undefined>;
}

/** What every store's check takes. */
export interface VerifyOptions {
  /** Required: the environment keys must belong to, or `{ any: true }` (`''` throws). */
  env: string | { any: true };
  /** Every scope the use needs (pass the same array each time: it is parsed once). */
  scopes?: readonly string[];
  now?: Date | number;
  /** Units this use costs against the key's limits and credits, 1 to 1000. Default 1. */
  cost?: number;
  /**
   * The client's address, or a function giving it (read only for a key with
   * `allowed_ips`). Undefined is unknown: such a key is refused `ip_not_allowed`.
   */
  ip?: string | null | (() => string | null | undefined);
}

/**
 * One store interface: memoryStore(), remoteStore() and findByHashStore(yours) each
 * answer these two calls with the same verdicts; the middleware asks any of them alike.
 */
export interface VerifyingStore {
  /** Checks a presented key. */
  verifyKey(key: string, options: VerifyOptions): StoreVerdict | Promise<StoreVerdict>;
  /**
   * Checks a request's credential: its `Authorization` and `X-API-Key` values (undefined
   * when absent, repeated lines joined with ", "), exactly one credential by the core's rule.
   */
  verifyHeaders(authorization: string | undefined, apiKey: string | undefined, options: VerifyOptions): StoreVerdict | Promise<StoreVerdict>;
}

/**
 * A store of your own as a keyward store (the middleware makes it from `{findByHash}`
 * itself): parse, hash, your lookup, the core's decision with the record's restrictions,
 * its rate limits counted in this process. One per store object.
 *
 * @example
 * const keys = findByHashStore({ findByHash: (hash) => db.keys.findOne({ hash }) });
 * const verdict = await keys.verifyKey(key, { env: 'live', scopes: ['scans:read'], ip: req.ip });
 */
export declare function findByHashStore(store: KeyStore): KeyStore & VerifyingStore;

/** Records in memory, inside WebAssembly (tests, small apps). */
export interface MemoryStore extends KeyStore, VerifyingStore {
  /** Adds a record, or replaces the one with the same hash. */
  add(record: KeyRecord): MemoryStore;
  /** Removes the record with this hash. */
  remove(hash: string): boolean;
  findByHash(hash: string): KeyRecord | null;
  readonly size: number;
  /**
   * The whole check in one call into WebAssembly. `env` is required (`''` throws). Pass
   * the same `scopes` array each time.
   */
  verifyKey(key: string, options: VerifyOptions): StoreVerdict;
  verifyHeaders(authorization: string | undefined, apiKey: string | undefined, options: VerifyOptions): StoreVerdict;
}

/** memoryStore's options. */
export interface MemoryStoreOptions {
  /**
   * Keep the SHA-256 of the last keys found (1,024 at most) under a keyed 128-bit
   * SipHash of the key, never the key, so a key seen again is not hashed again (default
   * `true`). Every rule is still decided on each use; `false` hashes every presented key.
   */
  hashMemo?: boolean;
}

/**
 * Records in memory, inside WebAssembly.
 *
 * @example
 * const store = memoryStore([record]);
 */
export declare function memoryStore(records?: readonly KeyRecord[], options?: MemoryStoreOptions): MemoryStore;

/** keyward's Worker as a store, through `POST /v1/verify/header` (the key in a header; `POST /v1/verify` for a Worker without it). */
export interface RemoteStore extends VerifyingStore {
  /**
   * Asks the Worker (or the cache). Rejects with ApiKeyError `unavailable` on a fault,
   * `verifier_refused` when the Worker refuses the token. `scopes` are for requireScope.
   */
  verifyKey(key: string, options: VerifyOptions): Promise<StoreVerdict>;
  verifyHeaders(authorization: string | undefined, apiKey: string | undefined, options: VerifyOptions): Promise<StoreVerdict>;
  /** Forgets cached verdicts. */
  clear(): void;
}

export interface RemoteStoreOptions {
  /** The Worker's base URL. Default: `KEYWARD_URL`. */
  url?: string;
  /** A key holding `keys:verify`. Default: `KEYWARD_TOKEN`. */
  token?: string;
  /** How long a verdict is reused; a revocation shows within this time. Default 5000. */
  cacheTtlMs?: number;
  /** Time allowed per request to the Worker. Default 5000. */
  timeoutMs?: number;
  /** Most cached verdicts. Default 10000. */
  maxEntries?: number;
}

/**
 * Verifies through keyward's Worker, caching verdicts for `cacheTtlMs`.
 *
 * @example
 * const store = remoteStore({ url: process.env.KEYWARD_URL, token: process.env.KEYWARD_TOKEN });
 */
export declare function remoteStore(options?: RemoteStoreOptions): RemoteStore;
