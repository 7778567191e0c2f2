// ESM entry of 'keyward/express': the same instance as require('keyward/express').
import express from './lib/express.cjs';

export const {
  apiKeyAuth, requireScope, apiKeyErrorHandler, ApiKeyError, KeywardOptionError, memoryStore, remoteStore,
} = express;
