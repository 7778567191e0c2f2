// The ESM side of the typings (the "import" condition).
import { createKey, type ApiKeyInfo } from 'keyward';
import { apiKeyAuth, memoryStore } from 'keyward/express';

const info: ApiKeyInfo | undefined = undefined;
export const handler = apiKeyAuth({ store: memoryStore(), env: createKey().hint.split('_')[1] });
export { info };
