// The Express app that bench/http.mjs loads: GET /scans with or without keyward in front.
//   node bench/server.mjs auth|layers|none   → prints the port, then the key to send
import express from 'express';
import { createKey } from 'keyward';
import { apiKeyAuth, apiKeyErrorHandler, memoryStore, requireScope } from 'keyward/express';

const mode = process.argv[2];
const app = express();
app.set('env', 'production');
app.set('etag', false);
app.disable('x-powered-by');
// CPU time the server has used, read before and after a load run (mounted before any auth).
app.get('/__cpu', (req, res) => res.json(process.cpuUsage()));
let key = createKey({ env: 'live' }).key;
if (mode === 'auth') {
  const store = memoryStore();
  for (let i = 0; i < 1000; i++) {
    const k = createKey({ env: 'live' });
    store.add({ id: `key_${String(i).padStart(16, '0')}`, hash: k.hash, hint: k.hint, name: `k${i}`, owner: 'bench', scopes: ['scans:read'], env: 'live', created_at: '2026-01-01T00:00:00Z' });
    if (i === 500) key = k.key;
  }
  app.use(apiKeyAuth({ store, env: 'live' }));
  app.get('/scans', requireScope('scans:read'), (req, res) => res.json({ scans: [], owner: req.apiKey.owner }));
  app.use(apiKeyErrorHandler());
} else if (mode === 'layers') {
  // The same Express layers as 'auth' (an app-level middleware, a route middleware, an
  // error handler) doing nothing: what Express itself charges for them.
  app.use((req, res, next) => next());
  app.get('/scans', (req, res, next) => next(), (req, res) => res.json({ scans: [], owner: 'bench' }));
  app.use((err, req, res, next) => next(err));
} else if (mode === 'none') {
  app.get('/scans', (req, res) => res.json({ scans: [], owner: 'bench' }));
} else {
  throw new Error('usage: server.mjs auth|layers|none');
}
const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port, key })}\n`);
});
