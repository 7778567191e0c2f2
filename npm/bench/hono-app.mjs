// The benchmark's Hono app (Node and workerd alike): the same handler unprotected
// (/open), behind keyward/hono's apiKey + requireScope with a memoryStore (/keyward), behind
// guard() (/guard; /unmemo: the same with the hash memo off), the floor of any check by
// hash (/floor: read, SHA-256 by the runtime, a Map lookup), and
// behind hono/bearer-auth comparing a fixed token (/bearer), and behind two middleware
// doing nothing (/layers), and /healthz (how bench/runtimes.mjs finds workerd's socket).
import { Hono } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { apiKey, guard, memoryStore, requireScope } from 'keyward/hono';

/**
 * The floor of any check of a key stored by its hash, as one handler: read the bearer
 * token, SHA-256 it (`hashHex`: the runtime's own, a hex string or a promise of one), look
 * the hash up in a Map, answer 401 when absent. No credential rules, checksum, decision,
 * scopes or limits: what every such check must at least do.
 */
function floorRoute(hashHex, known, handler) {
  return (c) => {
    const auth = c.req.header('authorization') ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    const found = (h) => (known.has(h) ? handler(c) : c.json({ error: { code: 'unknown_key' } }, 401));
    const h = hashHex(token);
    return typeof h === 'string' ? found(h) : h.then(found);
  };
}

export function benchApp({ key, hash, hint }, { hashHex } = {}) {
  const records = [{
    id: 'key_0123456789abcdef', hash, hint, name: 'bench', owner: 'team-bench',
    scopes: ['scans:read'], env: 'live', created_at: '2026-01-01T00:00:00Z',
  }];
  const store = memoryStore(records);
  // The same store hashing every presented key: what the hash memo saves.
  const plain = memoryStore(records, { hashMemo: false });
  const app = new Hono();
  const handler = (c) => c.json({ ok: true });
  app.get('/open', handler);
  // What the e2e harness's directUrl() asks to tell the Worker's own socket from others.
  app.get('/healthz', handler);
  app.get('/keyward', apiKey({ store, env: 'live' }), requireScope('scans:read'), handler);
  app.get('/bearer', bearerAuth({ token: key }), handler);
  // Two middleware doing nothing: what Hono itself charges for apiKey + requireScope's layers.
  const noop = (c, next) => next();
  // The route's scope given to apiKey itself: one middleware instead of two.
  app.get('/scoped', apiKey({ store, env: 'live', scopes: ['scans:read'] }), handler);
  // The same check wrapping the route's one handler: Hono's one-handler path, no compose.
  app.get('/guard', guard({ store, env: 'live', scopes: ['scans:read'] }, handler));
  app.get('/unmemo', guard({ store: plain, env: 'live', scopes: ['scans:read'] }, handler));
  if (hashHex) app.get('/floor', floorRoute(hashHex, new Map([[hash, records[0]]]), handler));
  app.get('/layer', noop, handler);
  app.get('/layers', noop, noop, handler);
  return app;
}
