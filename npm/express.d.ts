// Types of 'keyward/express'. `req.apiKey` is typed through declaration merging.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApiKeyInfo, AuditEvent, KeyStore, MemoryStore, RemoteStore } from './index.js';

export { ApiKeyError, KeywardOptionError, memoryStore, remoteStore } from './index.js';
export type { ApiKeyInfo, AuditEvent, KeyRecord, KeyStore, MemoryStore, RemoteStore } from './index.js';

declare global {
  namespace Express {
    interface Request {
      /** Set by apiKeyAuth() on success: never the raw key. */
      apiKey?: ApiKeyInfo;
    }
  }
}

/** A Node/Express middleware. */
export type Middleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;
/** A Node/Express error middleware. */
export type ErrorMiddleware = (err: unknown, req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

export interface ApiKeyAuthOptions {
  /** memoryStore(), remoteStore(), or your own `{findByHash(hash)}`. */
  store: KeyStore | MemoryStore | RemoteStore;
  /**
   * Required: the environment keys must belong to, e.g. 'live'; or `{ any: true }` to
   * accept each key in the environment its own prefix names.
   */
  env: string | { any: true };
  /** Where the key is; default `Authorization: Bearer` or `X-API-Key` (exactly one). */
  getKey?: (req: IncomingMessage) => string | null | undefined;
  /** Where the result goes on `req`. Default 'apiKey'. */
  requestProperty?: string;
  /** Receives the audit event with the response status once the response has finished. */
  onUse?: (event: AuditEvent) => void | Promise<void>;
  /**
   * Units one request counts against the key's rate limits and credits: 1 to 1000, or a
   * function of the request. Default 1. Refused uses answer 429 `rate_limited` or
   * `usage_exceeded` with `RateLimit` and `Retry-After` headers.
   */
  cost?: number | ((req: IncomingMessage) => number);
  /**
   * The client's address, checked against a key's `allowed_ips` (read only for such a
   * key). Default: Express's `req.ip` (under the app's `trust proxy` setting), or the
   * socket's peer on plain node:http. Undefined is unknown: such a key is refused 403
   * `ip_not_allowed`.
   */
  clientIp?: (req: IncomingMessage) => string | null | undefined;
}

/**
 * Checks the request's API key; puts `{id, owner, scopes, env, hint}` on `req.apiKey`, or
 * calls `next(err)` with an ApiKeyError. Fails closed.
 *
 * @example
 * app.use(apiKeyAuth({ store: memoryStore(), env: 'live' }));
 */
export declare function apiKeyAuth(options: ApiKeyAuthOptions): Middleware;

/**
 * Requires every scope given: otherwise 403 `insufficient_scope`.
 *
 * @example
 * app.get('/scans', requireScope('scans:read'), handler);
 */
export declare function requireScope(...scopes: Array<string | readonly string[]>): Middleware;

/**
 * Writes ApiKeyErrors as `{"error": {"code", "message"}}` with their status and the RFC
 * 6750 `WWW-Authenticate` header; passes other errors on.
 *
 * @example
 * app.use(apiKeyErrorHandler());
 */
export declare function apiKeyErrorHandler(options?: { realm?: string }): ErrorMiddleware;
