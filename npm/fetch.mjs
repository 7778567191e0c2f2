// ESM entry of 'keyward/fetch': the same instance as require('keyward/fetch').
import web from './lib/fetch.cjs';

export const { checkRequest, memoryStore, remoteStore, ApiKeyError, KeywardOptionError } = web;
