// Types of 'keyward/hono': `c.get('apiKey')` is typed by the middleware's environment.
import type { MiddlewareHandler } from 'hono';
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
 * Requires every scope given, after apiKey(): otherwise 403 `insufficient_scope`.
 *
 * @example
 * app.get('/api/scans', requireScope('scans:read'), (c) => c.json(c.get('apiKey')));
 */
export declare function requireScope(...scopes: Array<string | readonly string[]>): MiddlewareHandler<ApiKeyEnv>;
