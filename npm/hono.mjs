// ESM entry of 'keyward/hono': the same instance as require('keyward/hono').
import hono from './lib/hono.cjs';

export const { apiKey, guard, requireScope, memoryStore, remoteStore, ApiKeyError, KeywardOptionError } = hono;
