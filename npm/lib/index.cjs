'use strict';
// keyward: API keys for Node, on the WebAssembly build of keyward's Rust core.
// Middleware lives in 'keyward/express'.
const core = require('./core.cjs');
const { ApiKeyError, KeywardOptionError } = require('./errors.cjs');
const { memoryStore, remoteStore, findByHashStore } = require('./stores.cjs');

module.exports = {
  createKey: core.createKey,
  parseKey: core.parseKey,
  hashKey: core.hashKey,
  parseScope: core.parseScope,
  hasScope: core.hasScope,
  verify: core.verify,
  wwwAuthenticate: core.wwwAuthenticate,
  codes: core.codes,
  ApiKeyError,
  KeywardOptionError,
  memoryStore,
  remoteStore,
  findByHashStore,
};
