// Types of 'keyward/fetch': the Web-standard check (Request in, verdict and Response out).
import type { ApiKeyError, ApiKeyInfo, AuditEvent, Code, KeyStore, MemoryStore, RemoteStore } from './index.js';

export { ApiKeyError, KeywardOptionError, memoryStore, remoteStore } from './index.js';
export type { ApiKeyInfo, AuditEvent, Code, KeyRecord, KeyStore, MemoryStore, RemoteStore } from './index.js';

export interface CheckOptions {
  /** memoryStore(), remoteStore(), or your own `{findByHash(hash)}` (sync or async). */
  store: KeyStore | MemoryStore | RemoteStore;
  /** Required: the environment keys must belong to, e.g. 'live'; or `{ any: true }`. */
  env: string | { any: true };
  /** Every scope the request needs; a missing one is 403 `insufficient_scope`. */
  scopes?: readonly string[];
  /** Units this request counts against the key's rate limits and credits (1 to 1000). Default 1. */
  cost?: number | ((request: Request) => number);
  /** Receives the usage event (never the raw key). */
  onUse?: (event: AuditEvent) => void | Promise<void>;
  /** Keeps the runtime alive for onUse, e.g. `ctx.waitUntil.bind(ctx)` on Workers. */
  waitUntil?: (promise: Promise<unknown>) => void;
  /** The challenge's realm. Default 'keyward'. */
  realm?: string;
  /**
   * The client's address, checked against a key's `allowed_ips`. Default: on Cloudflare
   * Workers `CF-Connecting-IP`; elsewhere unknown, and a key with `allowed_ips` is
   * refused 403 `ip_not_allowed`. keyward/hono calls it as `clientIp(c.req.raw, c)`.
   */
  clientIp?: (request: Request, context?: any) => string | null | undefined;
}

/** A valid key: send `headers` (RateLimit for keys with limits) with your response. */
export interface CheckPassed {
  valid: true;
  code: 'valid';
  key: ApiKeyInfo;
  headers: Readonly<Record<string, string>>;
}

/** A refusal: send `response` (keyward's JSON error, WWW-Authenticate, RateLimit, Retry-After). */
export interface CheckRefused {
  valid: false;
  code: Exclude<Code, 'valid'>;
  status: number;
  message: string;
  /** The missing scope, for `insufficient_scope`. */
  scope?: string;
  /** The headers of `response`. */
  headers: Readonly<Record<string, string>>;
  /** The answer to send, built when first read. */
  readonly response: Response;
  error: ApiKeyError;
}

export type CheckResult = CheckPassed | CheckRefused;

/**
 * Checks the request's API key (`Authorization: Bearer` or `X-API-Key`, exactly one).
 * Fails closed: a store that throws is 503 `unavailable`.
 *
 * @example
 * const auth = await checkRequest(request, { store, env: 'live', scopes: ['scans:read'] });
 * if (!auth.valid) return auth.response;
 */
export declare function checkRequest(request: Request, options: CheckOptions): Promise<CheckResult>;
