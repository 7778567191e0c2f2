// Types of 'keyward/fastify' (`export =`, as Fastify's own plugins: a default import in
// ESM and require() in CommonJS both get the plugin). `request.apiKey` is typed through
// declaration merging.
import type { FastifyPluginCallback, FastifyRequest, preHandlerHookHandler } from 'fastify';
import type * as core from './index.js';
import type { ApiKeyAuthOptions } from './express.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the keyward plugin on success: never the raw key. */
    apiKey: core.ApiKeyInfo | null;
  }
}

/**
 * Guards the routes of the context it is registered in.
 *
 * @example
 * await app.register(keyward, { store, env: 'live' });
 */
declare function keyward(...params: Parameters<KeywardPlugin>): ReturnType<KeywardPlugin>;
type KeywardPlugin = FastifyPluginCallback<keyward.KeywardFastifyOptions>;

declare namespace keyward {
  export interface KeywardFastifyOptions extends Omit<ApiKeyAuthOptions, 'requestProperty' | 'clientIp' | 'getKey' | 'cost'> {
    /** Reads the key from the request yourself (instead of `Authorization: Bearer` or `X-API-Key`). */
    getKey?: (request: FastifyRequest) => string | null | undefined;
    /** Units each request uses of the key's limits and credits (default 1), or cost(request). */
    cost?: number | ((request: FastifyRequest) => number);
    /** The challenge's realm. Default 'keyward'. */
    realm?: string;
    /** The client's address for a key's `allowed_ips`. Default: Fastify's `request.ip` (under its `trustProxy`). */
    clientIp?: (request: FastifyRequest) => string | null | undefined;
  }
  export type ApiKeyInfo = core.ApiKeyInfo;
  export type AuditEvent = core.AuditEvent;
  export type KeyRecord = core.KeyRecord;
  export type KeyStore = core.KeyStore;
  /**
   * A pre-handler requiring every scope given: otherwise 403 `insufficient_scope`.
   *
   * @example
   * app.get('/scans', { preHandler: requireScope('scans:read') }, handler);
   */
  export function requireScope(...scopes: Array<string | readonly string[]>): preHandlerHookHandler;
  export const memoryStore: typeof core.memoryStore;
  export const remoteStore: typeof core.remoteStore;
  export const ApiKeyError: typeof core.ApiKeyError;
  export const KeywardOptionError: typeof core.KeywardOptionError;
  const plugin: KeywardPlugin;
  export { plugin as default, plugin as keyward };
}

export = keyward;
