// ESM entry: the same single instance as require('keyward') (one WebAssembly module,
// one ApiKeyError class), re-exported by name.
import keyward from './lib/index.cjs';

export const {
  createKey, parseKey, hashKey, parseScope, hasScope, verify, wwwAuthenticate, codes,
  ApiKeyError, KeywardOptionError, memoryStore, remoteStore, findByHashStore,
} = keyward;
