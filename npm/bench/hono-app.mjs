// The benchmark's Hono app (Node and workerd alike): the same handler unprotected
// (/open), behind keyward/hono's apiKey + requireScope with a memoryStore (/keyward), and
// behind hono/bearer-auth comparing a fixed token (/bearer), and behind two middleware
// doing nothing (/layers), and /healthz (how bench/runtimes.mjs finds workerd's socket).
import { Hono } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { apiKey, guard, memoryStore, requireScope } from 'keyward/hono';

export function benchApp({ key, hash, hint }) {
  const store = memoryStore([{
    id: 'key_0123456789abcdef', hash, hint, name: 'bench', owner: 'team-bench',
    scopes: ['scans:read'], env: 'live', created_at: '2026-01-01T00:00:00Z',
  }]);
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
  app.get('/layer', noop, handler);
  app.get('/layers', noop, noop, handler);
  return app;
}
