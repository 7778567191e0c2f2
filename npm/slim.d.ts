// Types of 'keyward/slim': keyward and keyward/fetch once init() has been given the .wasm.
import type * as core from './index.js';
import type * as web from './fetch.js';

/**
 * Initialises keyward from 'keyward/keyward.wasm': a WebAssembly.Module, its bytes, a
 * Response or a promise of one. Call (and await) before using anything else.
 *
 * @example
 * import wasm from 'keyward/keyward.wasm';
 * await init(wasm);
 */
export declare function init(source: WebAssembly.Module | BufferSource | Response | PromiseLike<WebAssembly.Module | BufferSource | Response>): Promise<void>;

export declare const createKey: typeof core.createKey;
export declare const parseKey: typeof core.parseKey;
export declare const hashKey: typeof core.hashKey;
export declare const parseScope: typeof core.parseScope;
export declare const hasScope: typeof core.hasScope;
export declare const verify: typeof core.verify;
export declare const wwwAuthenticate: typeof core.wwwAuthenticate;
export declare const codes: typeof core.codes;
export declare const ApiKeyError: typeof core.ApiKeyError;
export declare const KeywardOptionError: typeof core.KeywardOptionError;
export declare const memoryStore: typeof core.memoryStore;
export declare const remoteStore: typeof core.remoteStore;
export declare const checkRequest: typeof web.checkRequest;
