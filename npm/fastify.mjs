// ESM entry of 'keyward/fastify': the same instance as require('keyward/fastify').
import keyward from './lib/fastify.cjs';

export default keyward;
export const { requireScope, memoryStore, remoteStore, ApiKeyError, KeywardOptionError } = keyward;
export { keyward };
