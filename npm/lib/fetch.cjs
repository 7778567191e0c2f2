'use strict';
// keyward/fetch: the Web-standard API for Workers, Deno, Bun and any fetch handler.
const { checkRequest } = require('./web.cjs');
const { ApiKeyError, KeywardOptionError } = require('./errors.cjs');
const { memoryStore, remoteStore } = require('./stores.cjs');

module.exports = { checkRequest, memoryStore, remoteStore, ApiKeyError, KeywardOptionError };
