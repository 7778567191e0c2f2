'use strict';
const { CODE_INFO } = require('./wasm.cjs');

/**
 * A refused or failed API key check, with a stable `code` (keyward's code table, the same
 * in Rust, the Worker and here) and the HTTP `status` that goes with it.
 *
 * Assert on `code`, never on `message`.
 */
class ApiKeyError extends Error {
  /**
   * @param {string} code a code of the table, e.g. `'unknown_key'`
   * @param {string} [message] defaults to the code's sentence
   * @param {{scope?: string, part?: string, cause?: unknown}} [options]
   */
  constructor(code, message, options = {}) {
    const info = CODE_INFO.get(code) ?? CODE_INFO.get('internal');
    super(message ?? info.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ApiKeyError';
    this.code = info.code;
    this.status = info.status;
    // Express's and http-errors' conventions: the status to answer, and that the
    // message is safe to show (it never holds a key).
    this.statusCode = info.status;
    this.expose = info.status < 500;
    if (options.scope !== undefined) this.scope = options.scope;
    if (options.part !== undefined) this.part = options.part;
  }
}
/**
 * The response headers a refusal carries (RateLimit, Retry-After), set by the adapters.
 * @type {Record<string, string> | undefined}
 */
ApiKeyError.prototype.headers = undefined;

/**
 * A bad option, thrown when a factory is called (never at request time). `option` names
 * it, e.g. `'store'` or `'url'`.
 */
class KeywardOptionError extends TypeError {
  constructor(option, message) {
    super(`keyward: ${option}: ${message}`);
    this.name = 'KeywardOptionError';
    this.code = 'ERR_KEYWARD_OPTION';
    this.option = option;
  }
}

/** Rethrows a `{code, message, part?}` thrown by the WebAssembly as an ApiKeyError. */
function fromWasm(e) {
  if (e && typeof e === 'object' && !(e instanceof Error) && typeof e.code === 'string' && CODE_INFO.has(e.code)) {
    return new ApiKeyError(e.code, e.message, { part: e.part });
  }
  return e;
}

module.exports = { ApiKeyError, KeywardOptionError, fromWasm };
