// Fastify on Node for bench/runtimes.mjs: the same handler unprotected (/open), behind
// keyward/fastify (the plugin + requireScope, memoryStore; /keyward), and behind a no-op
// onRequest hook + a no-op pre-handler (/layers: what Fastify itself charges for the two
// hooks keyward uses), and the floor of any check by hash (/floor). Prints {port, key} once listening.
import { hash as digest } from 'node:crypto';
import Fastify from 'fastify';
import keyward, { memoryStore, requireScope } from 'keyward/fastify';
import { createKey } from 'keyward';

const { key, hash, hint } = createKey({ env: 'live' });
const store = memoryStore([{
  id: 'key_0123456789abcdef', hash, hint, name: 'bench', owner: 'team-bench',
  scopes: ['scans:read'], env: 'live', created_at: '2026-01-01T00:00:00Z',
}]);
const app = Fastify();
const handler = async () => ({ ok: true });
app.get('/open', handler);
app.register(async (api) => {
  await api.register(keyward, { store, env: 'live' });
  api.get('/keyward', { preHandler: requireScope('scans:read') }, handler);
});
// The floor of any check of a key stored by its hash (an onRequest hook): read the
// bearer token, SHA-256 by Node's crypto.hash (its fastest), a Map lookup, 401 when absent.
const known = new Map([[hash, true]]);
app.register(async (api) => {
  api.addHook('onRequest', (request, reply, next) => {
    const auth = request.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (known.has(digest('sha256', token))) next();
    else reply.code(401).send({ error: { code: 'unknown_key' } });
  });
  api.get('/floor', handler);
});
app.register(async (api) => {
  api.addHook('onRequest', (request, reply, next) => { next(); });
  api.get('/layers', { preHandler: (request, reply, next) => { next(); } }, handler);
});
await app.listen({ port: 0, host: '127.0.0.1' });
console.log(JSON.stringify({ port: app.server.address().port, key }));
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
