// Types of 'keyward/hono': `c.get('apiKey')` is typed by the middleware's environment.
import type { Handler, Input, MiddlewareHandler } from 'hono';
import type { HandlerResponse } from 'hono/types';
import type { ApiKeyInfo } from './index.js';
import type { CheckOptions } from './fetch.js';

export { ApiKeyError, KeywardOptionError, memoryStore, remoteStore } from './index.js';
export type { ApiKeyInfo, AuditEvent, KeyRecord, KeyStore, MemoryStore, RemoteStore } from './index.js';
export type { CheckOptions } from './fetch.js';

/** The Hono environment apiKey() adds: `c.get('apiKey')`. */
export interface ApiKeyEnv {
  Variables: { apiKey: ApiKeyInfo };
}

/**
 * Checks the request's API key; sets `c.get('apiKey')` or answers keyward's refusal.
 * onUse goes through the Worker's waitUntil by itself.
 *
 * @example
 * app.use('/api/*', apiKey({ store, env: 'live' }));
 */
export declare function apiKey(options: Omit<CheckOptions, 'waitUntil'>): MiddlewareHandler<ApiKeyEnv>;

/**
 * apiKey() around a route's one handler: the same check and answers as
 * `app.get(path, apiKey(options), handler)` (give the route's `scopes` in the options),
 * with Hono calling it directly instead of composing a chain (faster, on Node most).
 * A handler that throws is answered by the app's onError; onUse then reports the status
 * Hono's default handler gives (an HTTPException's, else 500).
 *
 * @example
 * app.get('/api/scans', guard({ store, env: 'live', scopes: ['scans:read'] }, (c) => c.json(c.get('apiKey'))));
 */
export declare function guard<P extends string = any, I extends Input = {}, R extends HandlerResponse<any> = any>(
  options: Omit<CheckOptions, 'waitUntil'>,
  handler: Handler<ApiKeyEnv, P, I, R>,
): Handler<ApiKeyEnv, P, I, R | Response>;

/**
 * Requires every scope given, after apiKey(): otherwise 403 `insufficient_scope`.
 *
 * @example
 * app.get('/api/scans', requireScope('scans:read'), (c) => c.json(c.get('apiKey')));
 */
export declare function requireScope(...scopes: Array<string | readonly string[]>): MiddlewareHandler<ApiKeyEnv>;
